//! What a JobManager finds at its start in `state.checkpoints.dir`: the checkpoints earlier
//! runs left there (a failed job's, a canceled job's retained on cancellation, and those of a
//! JobManager that was killed mid-job). Without high availability the JobManager does not
//! resume them itself; it says in its log which it found (the latest readable checkpoint of
//! each job) and how to resume one.

use crate::checkpoint_metadata::CheckpointMetadata;
use crate::checkpoint_storage::CheckpointStorage;

/// A job's latest readable retained checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Retained {
    pub job: String,
    pub checkpoint: u64,
    /// Where it is (what `--from-savepoint` takes).
    pub location: String,
    /// When it completed (epoch ms).
    pub timestamp: i64,
}

/// The latest readable checkpoint (`chk-<n>` with a `_metadata` that reads back) of every job
/// directory under `dir`, by job.
pub fn find(dir: &CheckpointStorage) -> Vec<Retained> {
    dir.list("")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|job| latest(&dir.child(&job), &job))
        .collect()
}

/// The latest readable checkpoint in `job_dir`, the checkpoint directory of job `job`.
fn latest(job_dir: &CheckpointStorage, job: &str) -> Option<Retained> {
    let mut ids: Vec<u64> = job_dir
        .list("")
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.strip_prefix("chk-")?.parse().ok())
        .collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.into_iter().find_map(|id| {
        let chk = job_dir.child(&format!("chk-{id}"));
        let meta = CheckpointMetadata::read(&chk).ok()?;
        Some(Retained {
            job: job.to_string(),
            checkpoint: id,
            location: chk.location(""),
            timestamp: meta.timestamp,
        })
    })
}

/// Says in the log what [`find`] finds under `dir` (a `state.checkpoints.dir` location).
pub fn log_found(dir: &str) {
    let Ok(storage) = CheckpointStorage::open(dir) else {
        return;
    };
    let found = find(&storage);
    if found.is_empty() {
        return;
    }
    tracing::warn!(
        "found retained checkpoints of {} earlier job(s) in {dir}; a JobManager without high availability does not resume jobs by itself",
        found.len()
    );
    for r in found {
        tracing::warn!(
            "  job {}: checkpoint {} (completed at {} ms since the epoch); resume it by submitting the job again from it: `strom sql --jobmanager <this REST address> --from-savepoint {} -f <its script>` or `strom run --from-savepoint {} <its JobGraph>`",
            r.job,
            r.checkpoint,
            r.timestamp,
            r.location,
            r.location
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(job: &str, id: u64) -> Vec<u8> {
        serde_json::to_vec(&CheckpointMetadata {
            version: crate::checkpoint_metadata::VERSION,
            checkpoint_id: id,
            job_id: job.into(),
            timestamp: 1000 + id as i64,
            savepoint: false,
            vertices: vec![],
        })
        .unwrap()
    }

    /// Per job the latest checkpoint whose metadata reads back: a half-written newer one (no
    /// metadata) and a corrupt one are passed over; a job without any is not listed.
    #[test]
    fn the_latest_readable_checkpoint_of_each_job() {
        let tmp = std::env::temp_dir().join(format!("strom-retained-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let dir = CheckpointStorage::open(&tmp.display().to_string()).unwrap();
        dir.put("a/chk-2/_metadata", metadata("a", 2)).unwrap();
        dir.put("a/chk-10/_metadata", metadata("a", 10)).unwrap();
        dir.put("a/chk-11/state-0", vec![1]).unwrap();
        dir.put("b/chk-3/_metadata", metadata("b", 3)).unwrap();
        dir.put("b/chk-4/_metadata", b"{not json".to_vec()).unwrap();
        dir.put("c/chk-1/state-0", vec![1]).unwrap();
        dir.put("c/notes", vec![1]).unwrap();
        let found: Vec<(String, u64, i64)> = find(&dir)
            .into_iter()
            .map(|r| (r.job, r.checkpoint, r.timestamp))
            .collect();
        assert_eq!(found, [("a".into(), 10, 1010), ("b".into(), 3, 1003)]);
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
