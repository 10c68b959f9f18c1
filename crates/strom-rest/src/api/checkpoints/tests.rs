//! Flink's manual checkpoint trigger over HTTP against an embedded cluster:
//! `POST /jobs/:id/checkpoints` then `GET /jobs/:id/checkpoints/:triggerid` until COMPLETED with
//! the checkpoint's id, which `/jobs/:id/checkpoints` then counts as a completed checkpoint; the
//! error paths (400, 404) in Flink's shape; batch and ended jobs refused.

use crate::test_server::{batch_sql, temp_dir, Server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ZERO_ID: &str = "00000000000000000000000000000000";
const UNKNOWN_TRIGGER: &str = "ffffffffffffffffffffffffffffffff";

/// An unbounded job whose periodic checkpoints are an hour apart: after the first (taken as the
/// job starts) only manual ones happen during the test.
fn streaming_sql() -> &'static str {
    "SET 'pipeline.name' = 'manual-checkpoints';\n\
     SET 'execution.checkpointing.interval' = '1 h';\n\
     CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '2000');\n\
     CREATE TABLE out_t (id BIGINT, c BIGINT) WITH ('connector' = 'blackhole');\n\
     INSERT INTO out_t SELECT id % 100, COUNT(*) FROM gen GROUP BY id % 100;\n"
}

/// Asserts a `method path body` answers `status` with Flink's `{"errors": [one message]}`.
fn error(s: &Server, method: &str, path: &str, body: &str, status: u16) -> String {
    let (got, answer) = s.call(method, path, body);
    assert_eq!(got, status, "{method} {path} {body}: {answer}");
    let errors = answer["errors"].as_array().unwrap_or_else(|| {
        panic!("{method} {path}: not Flink's error shape: {answer}");
    });
    assert_eq!(errors.len(), 1, "{answer}");
    errors[0].as_str().unwrap().to_string()
}

fn trigger(s: &Server, job: &str, body: &str) -> String {
    let (status, answer) = s.call("POST", &format!("/jobs/{job}/checkpoints"), body);
    assert_eq!(status, 202, "POST /jobs/{job}/checkpoints {body}: {answer}");
    answer["request-id"].as_str().unwrap().to_string()
}

/// Polls the trigger until COMPLETED; returns the answer.
fn wait_done(s: &Server, job: &str, trigger: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = s.get(&format!("/jobs/{job}/checkpoints/{trigger}"));
        match v["status"]["id"].as_str() {
            Some("COMPLETED") => return v,
            Some("IN_PROGRESS") => assert_eq!(v, json!({"status": {"id": "IN_PROGRESS"}})),
            _ => panic!("checkpoint trigger {trigger}: {v}"),
        }
        assert!(
            Instant::now() < deadline,
            "trigger {trigger} never completed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The checkpoint id of a completed trigger.
fn checkpoint_id(s: &Server, job: &str, trigger: &str) -> u64 {
    let v = wait_done(s, job, trigger);
    let keys: Vec<&String> = v["operation"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["checkpointId"], "{v}");
    v["operation"]["checkpointId"]
        .as_u64()
        .unwrap_or_else(|| panic!("{v}"))
}

/// `/jobs/:id/checkpoints` once no checkpoint is in flight and at least `completed` completed.
fn settled(s: &Server, job: &str, completed: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = s.get(&format!("/jobs/{job}/checkpoints"));
        if c["counts"]["in_progress"] == 0 && c["counts"]["completed"].as_u64() >= Some(completed) {
            return c;
        }
        assert!(Instant::now() < deadline, "checkpoints never settled: {c}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[allow(clippy::too_many_lines)]
fn a_manual_checkpoint_completes_and_counts_as_a_checkpoint() {
    let dir = temp_dir("manual-checkpoints");
    let dir_s = dir.display().to_string();
    let s = Server::start(1, &[("state.checkpoints.dir", dir_s.as_str())]);
    let job = s.submit(streaming_sql(), 2);
    s.wait_state(&job, "RUNNING");
    let before = settled(&s, &job, 1);
    let counts = |c: &Value, k: &str| c["counts"][k].as_u64().unwrap();

    // no body: CONFIGURED
    let t1 = trigger(&s, &job, "");
    assert_eq!(t1.len(), 32, "{t1}");
    let id1 = checkpoint_id(&s, &job, &t1);
    let after = settled(&s, &job, counts(&before, "completed") + 1);
    assert_eq!(
        counts(&after, "completed"),
        counts(&before, "completed") + 1
    );
    assert_eq!(counts(&after, "total"), counts(&before, "total") + 1);
    assert_eq!(counts(&after, "failed"), 0, "{after}");
    assert_eq!(after["latest"]["completed"]["id"], id1, "{after}");
    let rec = after["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id1)
        .unwrap_or_else(|| panic!("checkpoint {id1} not in the history: {after}"))
        .clone();
    // as Flink shows a manual checkpoint: a checkpoint like the periodic ones
    assert_eq!(rec["status"], "COMPLETED", "{rec}");
    assert_eq!(rec["checkpoint_type"], "CHECKPOINT", "{rec}");
    assert_eq!(rec["is_savepoint"], false, "{rec}");
    assert!(
        rec["external_path"].as_str().unwrap().contains(&dir_s),
        "{rec}"
    );
    s.get(&format!("/jobs/{job}/checkpoints/details/{id1}"));
    // the status stays readable
    assert_eq!(checkpoint_id(&s, &job, &t1), id1);

    // FULL with a trigger id of one's own; the same id again starts nothing new
    let given = "0123456789abcdef0123456789abcdef";
    let body = json!({"checkpointType": "FULL", "triggerId": given}).to_string();
    assert_eq!(trigger(&s, &job, &body), given);
    let id2 = checkpoint_id(&s, &job, given);
    assert!(id2 > id1, "{id2} after {id1}");
    assert_eq!(trigger(&s, &job, &body), given);
    assert_eq!(checkpoint_id(&s, &job, given), id2);
    // INCREMENTAL is accepted (as Flink on a backend without incremental snapshots): a full one
    let t3 = trigger(&s, &job, r#"{"checkpointType": "INCREMENTAL"}"#);
    let id3 = checkpoint_id(&s, &job, &t3);
    let t4 = trigger(&s, &job, r#"{"checkpointType": "CONFIGURED"}"#);
    let id4 = checkpoint_id(&s, &job, &t4);
    assert!(id2 < id3 && id3 < id4, "{id2} {id3} {id4}");
    let last = settled(&s, &job, counts(&before, "completed") + 4);
    assert_eq!(counts(&last, "completed"), counts(&before, "completed") + 4);
    assert_eq!(counts(&last, "total"), counts(&before, "total") + 4);
    assert_eq!(last["latest"]["completed"]["id"], id4);
    // the periodic schedule is untouched (the next one is due in an hour)
    assert_eq!(
        s.get(&format!("/jobs/{job}/checkpoints/config"))["interval"],
        3_600_000
    );

    // the error paths
    let post = format!("/jobs/{job}/checkpoints");
    for body in [
        "{bad",
        r#"{"checkpointType": "DELTA"}"#,
        r#"{"checkpointType": 1}"#,
        r#"{"target-directory": "/tmp"}"#,
        // serde alone read a two-element array as the two optional fields: it was 202
        "[null, null]",
        "null",
    ] {
        let msg = error(&s, "POST", &post, body, 400);
        assert!(
            msg.contains("CheckpointTriggerRequestBody"),
            "{body}: {msg}"
        );
    }
    let msg = error(&s, "POST", &post, r#"{"triggerId": "xyz"}"#, 400);
    assert!(msg.contains("triggerId"), "{msg}");
    error(&s, "POST", "/jobs/not-a-job/checkpoints", "", 400);
    let msg = error(&s, "POST", &format!("/jobs/{ZERO_ID}/checkpoints"), "", 404);
    assert!(msg.contains("not found"), "{msg}");
    error(
        &s,
        "GET",
        &format!("/jobs/{job}/checkpoints/not-a-trigger"),
        "",
        400,
    );
    let msg = error(
        &s,
        "GET",
        &format!("/jobs/{job}/checkpoints/{UNKNOWN_TRIGGER}"),
        "",
        404,
    );
    assert!(
        msg.contains("There is no checkpoint operation with triggerId"),
        "{msg}"
    );
    error(
        &s,
        "GET",
        &format!("/jobs/{ZERO_ID}/checkpoints/{UNKNOWN_TRIGGER}"),
        "",
        404,
    );
    // a checkpoint trigger is no savepoint trigger (one store each, as in Flink)
    error(&s, "GET", &format!("/jobs/{job}/savepoints/{t1}"), "", 404);

    // a job that ended takes no checkpoint
    let (status, _) = s.call("PATCH", &format!("/jobs/{job}?mode=cancel"), "");
    assert_eq!(status, 202);
    s.wait_state(&job, "CANCELED");
    let msg = error(&s, "POST", &post, "", 400);
    assert!(msg.contains("CANCELED"), "{msg}");
    // its earlier triggers still answer
    assert_eq!(checkpoint_id(&s, &job, &t1), id1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_batch_job_takes_no_manual_checkpoint() {
    let s = Server::start(1, &[]);
    let job = s.submit(batch_sql(), 1);
    // running or finished: refused as Flink refuses it ("is not a streaming job")
    let msg = error(&s, "POST", &format!("/jobs/{job}/checkpoints"), "", 400);
    assert!(
        msg.contains(&format!("Job {job} is not a streaming job.")),
        "{msg}"
    );
    s.wait_state(&job, "FINISHED");
    let msg = error(
        &s,
        "POST",
        &format!("/jobs/{job}/checkpoints"),
        r#"{"checkpointType": "FULL"}"#,
        400,
    );
    assert!(msg.contains("not a streaming job"), "{msg}");
    error(
        &s,
        "GET",
        &format!("/jobs/{job}/checkpoints/{UNKNOWN_TRIGGER}"),
        "",
        404,
    );
}

#[test]
fn a_streaming_job_without_periodic_checkpoints_takes_a_manual_one() {
    let dir = temp_dir("manual-checkpoints-only");
    let dir_s = dir.display().to_string();
    let s = Server::start(1, &[("state.checkpoints.dir", dir_s.as_str())]);
    let sql = streaming_sql().replace("SET 'execution.checkpointing.interval' = '1 h';\n", "");
    let job = s.submit(&sql, 1);
    s.wait_state(&job, "RUNNING");
    let before = s.get(&format!("/jobs/{job}/checkpoints"));
    assert_eq!(before["counts"]["total"], 0, "{before}");
    let t = trigger(&s, &job, r#"{"checkpointType": "FULL"}"#);
    let id = checkpoint_id(&s, &job, &t);
    let after = settled(&s, &job, 1);
    assert_eq!(after["counts"]["completed"], 1, "{after}");
    assert_eq!(after["latest"]["completed"]["id"], id, "{after}");
    let _ = std::fs::remove_dir_all(&dir);
}
