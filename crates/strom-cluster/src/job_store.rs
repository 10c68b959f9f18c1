//! What a highly available cluster keeps of its jobs (the interface; `ha::job_store` keeps it
//! in etcd): the Dispatcher puts and removes jobs, the JobMaster's checkpointing takes
//! checkpoint ids and records completed checkpoints.

use strom_common::{JobId, JobStatus};
use strom_plan::JobGraph;

/// Where a highly available cluster's leader keeps the jobs it runs (see
/// [`crate::ha::job_store`]): a job is put when it is submitted and removed, with its final
/// status, when it ends.
pub trait JobStore: Send + Sync {
    fn put(&self, graph: &JobGraph) -> Result<(), String>;
    fn remove(&self, id: JobId, status: JobStatus) -> Result<(), String>;
    /// Checkpoint `id` of `job` is about to be triggered: the id is taken here first, so that
    /// a later leader never uses it again (Flink's `CheckpointIDCounter`). An error: this
    /// JobManager may no longer take ids (it was deposed), and the checkpoint is not triggered.
    fn checkpoint_id(&self, job: JobId, id: u64) -> Result<(), String>;
    /// Checkpoint `id` of `job` completed at `location`: the checkpoint a new leader resumes
    /// the job from (Flink's `CompletedCheckpointStore`). An error: it does not count as
    /// completed.
    fn checkpoint_completed(&self, job: JobId, id: u64, location: &str) -> Result<(), String>;
}

/// The job configuration key a new leader gives a recovered job its first checkpoint id by
/// (past every id the leaders before it took).
pub const NEXT_CHECKPOINT_ID_KEY: &str = "strom.ha.next-checkpoint-id";
