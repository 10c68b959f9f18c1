//! The exactly-once filesystem sink: rows become visible when their checkpoint is committed,
//! exactly once across failures and restores.

use super::*;
use super::{table, TempDir};
use arrow::array::{Int64Array, RecordBatch};
use std::path::Path;
use std::sync::Arc;
use strom_plan::SqlType;

fn batch(ids: &[i64]) -> RecordBatch {
    RecordBatch::try_from_iter([(
        "id",
        Arc::new(Int64Array::from(ids.to_vec())) as arrow::array::ArrayRef,
    )])
    .expect("batch")
}

fn sub(index: u32, parallelism: u32) -> SubtaskInfo {
    SubtaskInfo { index, parallelism }
}

fn writer(t: &TableSpec, k: u32, p: u32) -> Box<dyn SinkWriter> {
    FileSystemConnector
        .create_exactly_once_writer(t, sub(k, p))
        .expect("writer")
}

/// Names in the directory: (visible, hidden), sorted.
fn names(dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut all: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    all.sort();
    all.into_iter().partition(|n| !n.starts_with('.'))
}

/// The ids in the visible files, as `cat dir/part-*` sees them, sorted; checks that every
/// visible file is a non-empty part file.
fn visible_ids(dir: &Path) -> Vec<i64> {
    let mut ids = Vec::new();
    for name in names(dir).0 {
        assert!(name.starts_with("part-"), "{name}");
        let text = std::fs::read_to_string(dir.join(&name)).expect("read");
        assert!(!text.is_empty(), "empty visible file {name}");
        ids.extend(text.lines().map(|l| l.parse::<i64>().expect("id")));
    }
    ids.sort();
    ids
}

/// The ids our own filesystem source reads from the directory, sorted.
fn source_ids(t: &TableSpec) -> Vec<i64> {
    let mut r = FileSystemConnector
        .create_reader(t, &[0], sub(0, 1), 1000)
        .expect("reader");
    let mut ids = Vec::new();
    while let Some(b) = r.next_batch().expect("batch") {
        ids.extend(
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("ids")
                .values()
                .iter(),
        );
    }
    ids.sort();
    ids
}

#[test]
fn rows_become_visible_when_their_checkpoint_commits() {
    let dir = TempDir::new("eo-sink");
    let t = table(&[("id", SqlType::BigInt)], dir.path(), &[]);
    let mut w = writer(&t, 0, 1);
    // nothing written: nothing to prepare, no file at all
    assert_eq!(w.prepare_commit(1).expect("prepare"), None);
    assert_eq!(names(dir.path()), (vec![], vec![]));
    w.write(&batch(&[1, 2])).expect("write");
    w.write(&batch(&[])).expect("empty batch");
    w.write(&batch(&[3])).expect("write");
    let s1 = w.prepare_commit(1).expect("prepare").expect("state");
    w.write(&batch(&[4, 5])).expect("write");
    let s2 = w.prepare_commit(2).expect("prepare").expect("state");
    w.write(&batch(&[6])).expect("write");
    // nothing is visible before a commit; the in-progress and prepared files are hidden
    assert_eq!(visible_ids(dir.path()), Vec::<i64>::new());
    assert_eq!(source_ids(&t), Vec::<i64>::new());
    assert_eq!(names(dir.path()).1.len(), 3);
    // the state of checkpoint 2 lists the files of checkpoints 1 and 2 (neither committed)
    let v: serde_json::Value = serde_json::from_slice(&s2).expect("JSON");
    let files = v["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["checkpoint"], 1);
    assert_eq!(files[1]["checkpoint"], 2);
    for f in files {
        let hidden = Path::new(f["hidden"].as_str().expect("hidden"));
        let fin = Path::new(f["final"].as_str().expect("final"));
        assert_eq!(hidden.parent(), Some(dir.path()));
        assert_eq!(fin.parent(), Some(dir.path()));
        let hidden_name = hidden.file_name().expect("name").to_string_lossy();
        assert!(hidden_name.starts_with(".part-0-") && hidden_name.ends_with(".csv.inprogress"));
        let final_name = fin.file_name().expect("name").to_string_lossy();
        assert!(final_name.starts_with(&format!("part-0-{}-", f["checkpoint"])));
        assert!(final_name.ends_with(".csv"));
    }
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&s1).expect("JSON")["files"][0],
        files[0]
    );
    // checkpoint 1 completes: only its rows are visible, for cat and for our source
    w.commit(1).expect("commit");
    assert_eq!(visible_ids(dir.path()), vec![1, 2, 3]);
    assert_eq!(source_ids(&t), vec![1, 2, 3]);
    // idempotent
    w.commit(1).expect("commit again");
    assert_eq!(visible_ids(dir.path()), vec![1, 2, 3]);

    // crash: the writer is gone; checkpoint 2 completed but was not committed by it
    drop(w);
    let mut w = writer(&t, 0, 1);
    w.restore(std::slice::from_ref(&s2)).expect("restore");
    assert_eq!(visible_ids(dir.path()), vec![1, 2, 3, 4, 5]);
    assert!(
        names(dir.path()).1.is_empty(),
        "the crashed attempt's in-progress file (row 6) is removed"
    );
    // restoring again (another attempt) changes nothing
    w.restore(std::slice::from_ref(&s2)).expect("restore again");
    assert_eq!(visible_ids(dir.path()), vec![1, 2, 3, 4, 5]);
    // the rows after checkpoint 2 (6) are written again by the new attempt
    w.write(&batch(&[6, 7])).expect("write");
    w.finish().expect("finish");
    assert!(w.write(&batch(&[8])).is_err(), "no write after finish");
    assert_eq!(visible_ids(dir.path()), vec![1, 2, 3, 4, 5]);
    let end = w.prepare_commit(u64::MAX).expect("prepare").expect("state");
    let v: serde_json::Value = serde_json::from_slice(&end).expect("JSON");
    let fin = v["files"][0]["final"].as_str().expect("final");
    assert!(fin.contains("part-0-end-"), "{fin}");
    assert_eq!(visible_ids(dir.path()), vec![1, 2, 3, 4, 5]);
    w.commit(u64::MAX).expect("final commit");
    w.commit(u64::MAX).expect("final commit again");
    assert_eq!(visible_ids(dir.path()), vec![1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(source_ids(&t), vec![1, 2, 3, 4, 5, 6, 7]);
    // the crashed attempt's row 6 never became visible, and its file was removed at the restore
    let (visible, hidden) = names(dir.path());
    assert_eq!(visible.len(), 3);
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn end_of_input_with_nothing_written_makes_no_file() {
    let dir = TempDir::new("eo-empty");
    let t = table(&[("id", SqlType::BigInt)], dir.path(), &[]);
    let mut w = writer(&t, 0, 1);
    w.finish().expect("finish");
    assert_eq!(w.prepare_commit(u64::MAX).expect("prepare"), None);
    w.commit(u64::MAX).expect("commit");
    assert_eq!(names(dir.path()), (vec![], vec![]));
}

#[test]
fn prepared_but_uncommitted_files_wait_for_a_later_checkpoint() {
    let dir = TempDir::new("eo-later");
    let t = table(&[("id", SqlType::BigInt)], dir.path(), &[]);
    let mut w = writer(&t, 0, 1);
    w.write(&batch(&[1])).expect("write");
    w.prepare_commit(3).expect("prepare");
    // checkpoint 3 aborted; 4 completes and commits 3's files too
    w.write(&batch(&[2])).expect("write");
    w.prepare_commit(4).expect("prepare");
    w.write(&batch(&[3])).expect("write");
    w.finish().expect("finish");
    let end = w.prepare_commit(u64::MAX).expect("prepare").expect("state");
    let v: serde_json::Value = serde_json::from_slice(&end).expect("JSON");
    assert_eq!(v["files"].as_array().expect("files").len(), 3);
    w.commit(4).expect("commit");
    assert_eq!(visible_ids(dir.path()), vec![1, 2]);
    w.commit(u64::MAX).expect("commit");
    assert_eq!(visible_ids(dir.path()), vec![1, 2, 3]);
    // final names are unique: two writers of the same subtask never share one
    let mut w2 = writer(&t, 0, 1);
    w2.write(&batch(&[9])).expect("write");
    w2.prepare_commit(4).expect("prepare");
    w2.commit(4).expect("commit");
    assert_eq!(visible_ids(dir.path()), vec![1, 2, 3, 9]);
}

#[test]
fn restore_at_another_parallelism_commits_every_state_once() {
    let dir = TempDir::new("eo-rescale");
    let t = table(
        &[("id", SqlType::BigInt)],
        dir.path(),
        &[("format", "json")],
    );
    // three subtasks prepare checkpoint 5 and crash before committing
    let mut states = Vec::new();
    for k in 0..3 {
        let mut w = writer(&t, k, 3);
        w.write(&batch(&[k as i64 * 10, k as i64 * 10 + 1]))
            .expect("write");
        states.push(w.prepare_commit(5).expect("prepare").expect("state"));
        w.write(&batch(&[99])).expect("after the checkpoint");
    }
    assert!(names(dir.path()).0.is_empty());
    // two subtasks now: subtask i commits states j with j % 2 == i
    let mut w0 = writer(&t, 0, 2);
    w0.restore(&states).expect("restore");
    let ids = |dir: &Path| {
        let mut ids: Vec<i64> = names(dir)
            .0
            .iter()
            .flat_map(|n| {
                assert!(n.ends_with(".json"), "{n}");
                std::fs::read_to_string(dir.join(n))
                    .expect("read")
                    .lines()
                    .map(|l| {
                        serde_json::from_str::<serde_json::Value>(l).expect("JSON")["id"]
                            .as_i64()
                            .expect("id")
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(dir.path()), vec![0, 1, 20, 21]);
    let mut w1 = writer(&t, 1, 2);
    w1.restore(&states).expect("restore");
    assert_eq!(ids(dir.path()), vec![0, 1, 10, 11, 20, 21]);
    // a wrong state is a clear error
    let e = w1
        .restore(&[b"{}".to_vec(), b"{}".to_vec()])
        .expect_err("bad state")
        .to_string();
    assert!(
        e.contains(&dir.path().display().to_string()) && e.contains("without restoring"),
        "{e}"
    );
}

#[test]
fn a_prepared_file_removed_behind_the_sinks_back_fails_the_commit() {
    let dir = TempDir::new("eo-gone");
    let t = table(&[("id", SqlType::BigInt)], dir.path(), &[]);
    let mut w = writer(&t, 0, 1);
    w.write(&batch(&[1])).expect("write");
    let state = w.prepare_commit(1).expect("prepare").expect("state");
    let v: serde_json::Value = serde_json::from_slice(&state).expect("JSON");
    let hidden = v["files"][0]["hidden"]
        .as_str()
        .expect("hidden")
        .to_string();
    std::fs::remove_file(&hidden).expect("remove");
    let e = w.commit(1).expect_err("lost").to_string();
    assert!(e.contains(&hidden) && e.contains("lost"), "{e}");
    // a restore only warns: the files may have been cleaned up since an old checkpoint
    writer(&t, 0, 1).restore(&[state]).expect("restore");
}

#[test]
fn the_at_least_once_writer_is_unchanged() {
    let dir = TempDir::new("alo-sink");
    let t = table(&[("id", SqlType::BigInt)], dir.path(), &[]);
    let mut w = FileSystemConnector
        .create_writer(&t, sub(0, 1))
        .expect("writer");
    w.write(&batch(&[1, 2])).expect("write");
    assert_eq!(w.prepare_commit(1).expect("prepare"), None);
    w.finish().expect("finish");
    assert_eq!(
        names(dir.path()),
        (vec!["part-0-0.csv".to_string()], vec![])
    );
}
