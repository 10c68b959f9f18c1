//! The checkpoint and savepoint endpoints: JSON shapes (field names and JSON types, as Flink 2's
//! answers) of the views over hand-built statistics, and the error answers over HTTP.

mod v1;

use crate::api::checkpoints::views as cv;
use crate::test_server::http_call;
use serde_json::{json, Value};
use std::collections::{BTreeSet, VecDeque};
use std::io::{Read, Write};
use strom_cluster::checkpoint_stats::{
    CheckpointRecord, CheckpointSettingsView, CheckpointStats, CheckpointStatus,
};
use strom_common::{JobType, VertexId};

/// Flink 2.3's `GET /jobs/:id/checkpoints` of a job without checkpoints.
const FLINK_NO_CHECKPOINTS: &str = r#"{"counts":{"restored":0,"total":0,"in_progress":0,"completed":0,"failed":0},"summary":{"checkpointed_size":{"min":0,"max":0,"avg":0,"p50":"NaN","p90":"NaN","p95":"NaN","p99":"NaN","p999":"NaN"},"state_size":{"min":0,"max":0,"avg":0,"p50":"NaN","p90":"NaN","p95":"NaN","p99":"NaN","p999":"NaN"},"end_to_end_duration":{"min":0,"max":0,"avg":0,"p50":"NaN","p90":"NaN","p95":"NaN","p99":"NaN","p999":"NaN"},"alignment_buffered":{"min":0,"max":0,"avg":0,"p50":0.0,"p90":0.0,"p95":0.0,"p99":0.0,"p999":0.0},"processed_data":{"min":0,"max":0,"avg":0,"p50":"NaN","p90":"NaN","p95":"NaN","p99":"NaN","p999":"NaN"},"persisted_data":{"min":0,"max":0,"avg":0,"p50":"NaN","p90":"NaN","p95":"NaN","p99":"NaN","p999":"NaN"}},"latest":{"completed":null,"savepoint":null,"failed":null,"restored":null},"history":[]}"#;

/// A value's shape: field names and JSON types (integer and float told apart), recursively;
/// arrays by the shape of their first element.
pub(crate) fn shape(v: &Value) -> Value {
    match v {
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(n) if n.is_f64() => json!("float"),
        Value::Number(_) => json!("integer"),
        Value::String(_) => json!("string"),
        Value::Array(a) => json!([a.first().map(shape)]),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
    }
}

pub(crate) fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

pub(crate) fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const BASE_FIELDS: &[&str] = &[
    "className",
    "id",
    "status",
    "is_savepoint",
    "savepointFormat",
    "trigger_timestamp",
    "latest_ack_timestamp",
    "checkpointed_size",
    "state_size",
    "end_to_end_duration",
    "alignment_buffered",
    "processed_data",
    "persisted_data",
    "num_subtasks",
    "num_acknowledged_subtasks",
    "checkpoint_type",
    "tasks",
];

const TASK_FIELDS: &[&str] = &[
    "id",
    "status",
    "latest_ack_timestamp",
    "checkpointed_size",
    "state_size",
    "end_to_end_duration",
    "alignment_buffered",
    "processed_data",
    "persisted_data",
    "num_subtasks",
    "num_acknowledged_subtasks",
];

fn with(extra: &[&str], base: &[&str]) -> BTreeSet<String> {
    let mut s = set(base);
    s.extend(extra.iter().map(|x| x.to_string()));
    s
}

fn v(n: u128) -> VertexId {
    VertexId(n)
}

fn record(id: u64, status: CheckpointStatus, savepoint: bool) -> CheckpointRecord {
    CheckpointRecord {
        id,
        status,
        savepoint,
        trigger_timestamp: 1_000 * id as i64,
        latest_ack_timestamp: 1_000 * id as i64 + 40,
        state_size: 100 * id,
        num_subtasks: 3,
        num_acknowledged: 3,
        external_path: None,
        failure_message: None,
        failure_timestamp: None,
        // vertex 0 (parallelism 1), vertex 1 (parallelism 2)
        acks: vec![
            vec![(0, 1_000 * id as i64 + 10, 50 * id)],
            vec![
                (1, 1_000 * id as i64 + 40, 30 * id),
                (0, 1_000 * id as i64 + 20, 20 * id),
            ],
        ],
    }
}

/// Two completed checkpoints, a completed savepoint, a failed one and one in progress; the job
/// was restored from a savepoint.
fn stats() -> CheckpointStats {
    let mut c1 = record(1, CheckpointStatus::Completed, false);
    c1.external_path = Some("file:/tmp/ckpt/job/chk-1".into());
    let mut c2 = record(2, CheckpointStatus::Completed, false);
    c2.external_path = Some("file:/tmp/ckpt/job/chk-2".into());
    let mut sp = record(3, CheckpointStatus::Completed, true);
    sp.external_path = Some("file:/tmp/sp/savepoint-3-abc".into());
    let mut failed = record(4, CheckpointStatus::Failed, false);
    failed.failure_message = Some("Checkpoint expired before completing.".into());
    failed.failure_timestamp = Some(4_500);
    failed.num_acknowledged = 1;
    failed.acks[1].clear();
    let mut pending = record(5, CheckpointStatus::InProgress, false);
    pending.num_acknowledged = 1;
    pending.acks[1].clear();
    CheckpointStats {
        settings: CheckpointSettingsView {
            enabled: true,
            interval_ms: 1_000,
            timeout_ms: 600_000,
            min_pause_ms: 0,
            max_concurrent: 1,
            num_retained: 1,
            tolerable_failed_checkpoints: 0,
            dir: "/tmp/ckpt/job".into(),
        },
        triggered: 5,
        completed: 3,
        failed: 1,
        in_progress: 1,
        restored: 1,
        history: VecDeque::from(vec![
            pending.clone(),
            failed.clone(),
            sp.clone(),
            c2.clone(),
            c1,
        ]),
        latest_completed: Some(sp.clone()),
        latest_savepoint: Some(sp),
        latest_failed: Some(failed),
        latest_restored: Some((7, 500, "file:/tmp/sp/savepoint-7-def".into(), true)),
        restore_report: Vec::new(),
    }
}

fn vertices() -> Vec<(VertexId, usize)> {
    vec![(v(0xa), 1), (v(0xb), 2)]
}

#[test]
fn no_checkpoints_is_flinks_answer() {
    let flink: Value = serde_json::from_str(FLINK_NO_CHECKPOINTS).unwrap();
    let ours = cv::checkpointing_statistics(&CheckpointStats::default());
    assert_eq!(shape(&ours), shape(&flink));
    assert_eq!(ours, flink);
}

#[test]
fn history_entries_have_flinks_fields() {
    let s = stats();
    let out = cv::checkpointing_statistics(&s);
    // the summary keeps the reference's shape, numbers where there are completed checkpoints
    let flink: Value = serde_json::from_str(FLINK_NO_CHECKPOINTS).unwrap();
    assert_eq!(keys(&out), keys(&flink));
    assert_eq!(keys(&out["summary"]), keys(&flink["summary"]));
    for (k, summary) in out["summary"].as_object().unwrap() {
        assert_eq!(keys(summary), keys(&flink["summary"][k]), "summary {k}");
        for p in ["min", "max", "avg"] {
            assert!(summary[p].is_i64(), "summary {k}.{p}: {}", summary[p]);
        }
        for p in ["p50", "p90", "p95", "p99", "p999"] {
            assert!(summary[p].is_f64(), "summary {k}.{p}: {}", summary[p]);
        }
    }
    assert_eq!(out["summary"]["state_size"]["min"], json!(100));
    assert_eq!(out["summary"]["state_size"]["max"], json!(300));
    assert_eq!(out["summary"]["state_size"]["avg"], json!(200));
    assert_eq!(out["summary"]["end_to_end_duration"]["p50"], json!(40.0));
    assert_eq!(
        out["counts"],
        json!({"restored": 1, "total": 5, "in_progress": 1, "completed": 3, "failed": 1})
    );

    let history = out["history"].as_array().unwrap();
    let ids: Vec<u64> = history.iter().map(|h| h["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![5, 4, 3, 2, 1], "newest first");
    let pending = &history[0];
    assert_eq!(keys(pending), set(BASE_FIELDS));
    assert_eq!(pending["className"], ".PendingCheckpointStatistics");
    assert_eq!(pending["status"], "IN_PROGRESS");
    let failed = &history[1];
    assert_eq!(
        keys(failed),
        with(&["failure_timestamp", "failure_message"], BASE_FIELDS)
    );
    assert_eq!(failed["className"], ".FailedCheckpointStatistics");
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["failure_timestamp"], json!(4_500));
    assert_eq!(
        failed["failure_message"],
        "Checkpoint expired before completing."
    );
    let savepoint = &history[2];
    assert_eq!(
        keys(savepoint),
        with(&["external_path", "discarded"], BASE_FIELDS)
    );
    assert_eq!(savepoint["className"], ".CompletedCheckpointStatistics");
    assert_eq!(savepoint["is_savepoint"], true);
    assert_eq!(savepoint["savepointFormat"], "CANONICAL");
    assert_eq!(savepoint["checkpoint_type"], "SAVEPOINT");
    assert_eq!(savepoint["discarded"], false);
    let c2 = &history[3];
    assert_eq!(c2["checkpoint_type"], "CHECKPOINT");
    assert_eq!(c2["savepointFormat"], Value::Null);
    assert_eq!(c2["external_path"], "file:/tmp/ckpt/job/chk-2");
    // one checkpoint retained: the savepoint (3) subsumed checkpoint 2
    assert_eq!(c2["discarded"], true);
    // JSON types of every field of a completed entry
    assert_eq!(
        shape(c2),
        json!({
            "className": "string", "id": "integer", "status": "string", "is_savepoint": "bool",
            "savepointFormat": "null", "trigger_timestamp": "integer",
            "latest_ack_timestamp": "integer", "checkpointed_size": "integer",
            "state_size": "integer", "end_to_end_duration": "integer",
            "alignment_buffered": "integer", "processed_data": "integer",
            "persisted_data": "integer", "num_subtasks": "integer",
            "num_acknowledged_subtasks": "integer", "checkpoint_type": "string", "tasks": {},
            "external_path": "string", "discarded": "bool",
        })
    );
    assert_eq!(c2["end_to_end_duration"], json!(40));
    // history and latest entries carry no per-task figures (as Flink's)
    assert!(history.iter().all(|h| h["tasks"] == json!({})));

    let latest = &out["latest"];
    assert_eq!(
        keys(latest),
        set(&["completed", "savepoint", "failed", "restored"])
    );
    assert_eq!(latest["completed"]["id"], json!(3));
    assert_eq!(
        latest["savepoint"]["external_path"],
        "file:/tmp/sp/savepoint-3-abc"
    );
    assert_eq!(latest["failed"]["id"], json!(4));
    assert_eq!(
        shape(&latest["restored"]),
        json!({"id": "integer", "restore_timestamp": "integer", "is_savepoint": "bool", "external_path": "string"})
    );
    assert_eq!(latest["restored"]["id"], json!(7));
}

#[test]
fn details_have_per_vertex_figures() {
    let s = stats();
    let d = cv::checkpoint_details(&s, &vertices(), 2).unwrap();
    assert_eq!(keys(&d), with(&["external_path", "discarded"], BASE_FIELDS));
    let tasks = d["tasks"].as_object().unwrap();
    assert_eq!(
        tasks.keys().cloned().collect::<BTreeSet<_>>(),
        set(&[
            "0000000000000000000000000000000a",
            "0000000000000000000000000000000b"
        ])
    );
    let t = &d["tasks"]["0000000000000000000000000000000b"];
    assert_eq!(keys(t), set(TASK_FIELDS));
    assert!(TASK_FIELDS
        .iter()
        .filter(|f| **f != "status")
        .all(|f| t[*f].is_i64()));
    assert_eq!(t["num_subtasks"], json!(2));
    assert_eq!(t["num_acknowledged_subtasks"], json!(2));
    assert_eq!(t["state_size"], json!(100));
    assert_eq!(t["latest_ack_timestamp"], json!(2_040));
    assert_eq!(t["end_to_end_duration"], json!(40));
    assert_eq!(t["status"], "COMPLETED");

    // a vertex nobody acknowledged yet
    let p = cv::checkpoint_details(&s, &vertices(), 5).unwrap();
    let t = &p["tasks"]["0000000000000000000000000000000b"];
    assert_eq!(t["num_acknowledged_subtasks"], json!(0));
    assert_eq!(t["latest_ack_timestamp"], json!(-1));

    assert_eq!(
        cv::checkpoint_details(&s, &vertices(), 99),
        Err(cv::DetailError::UnknownCheckpoint(99))
    );
}

#[test]
fn subtask_details_have_flinks_fields() {
    let s = stats();
    let d = cv::task_checkpoint_details(&s, &vertices(), 2, v(0xb)).unwrap();
    assert_eq!(keys(&d), with(&["summary", "subtasks"], TASK_FIELDS));
    assert_eq!(
        keys(&d["summary"]),
        set(&[
            "checkpointed_size",
            "state_size",
            "end_to_end_duration",
            "checkpoint_duration",
            "alignment",
            "start_delay"
        ])
    );
    assert_eq!(
        keys(&d["summary"]["checkpoint_duration"]),
        set(&["sync", "async"])
    );
    assert_eq!(
        keys(&d["summary"]["alignment"]),
        set(&["buffered", "processed", "persisted", "duration"])
    );
    assert_eq!(d["summary"]["state_size"]["min"], json!(40));
    assert_eq!(d["summary"]["state_size"]["max"], json!(60));
    let subtasks = d["subtasks"].as_array().unwrap();
    assert_eq!(subtasks.len(), 2);
    assert_eq!(subtasks[0]["index"], json!(0));
    assert_eq!(subtasks[0]["ack_timestamp"], json!(2_020));
    assert_eq!(subtasks[0]["state_size"], json!(40));
    assert_eq!(
        shape(&subtasks[1]),
        json!({
            "className": "string", "index": "integer", "status": "string",
            "ack_timestamp": "integer", "end_to_end_duration": "integer",
            "state_size": "integer", "checkpointed_size": "integer",
            "checkpoint": {"sync": "integer", "async": "integer"},
            "alignment": {"buffered": "integer", "processed": "integer", "persisted": "integer", "duration": "integer"},
            "start_delay": "integer", "unaligned_checkpoint": "bool", "aborted": "bool",
        })
    );
    assert_eq!(subtasks[1]["status"], "completed");
    assert_eq!(subtasks[1]["end_to_end_duration"], json!(40));

    // nothing acknowledged: every subtask pending, NaN percentiles
    let p = cv::task_checkpoint_details(&s, &vertices(), 5, v(0xb)).unwrap();
    let subtasks = p["subtasks"].as_array().unwrap();
    assert_eq!(
        subtasks[1],
        json!({"className": ".PendingSubtaskCheckpointStatistics", "index": 1, "status": "pending_or_failed"})
    );
    assert_eq!(p["summary"]["state_size"]["p50"], "NaN");

    assert_eq!(
        cv::task_checkpoint_details(&s, &vertices(), 2, v(0xc)),
        Err(cv::DetailError::UnknownVertex(v(0xc)))
    );
    assert_eq!(
        cv::task_checkpoint_details(&s, &vertices(), 42, v(0xb)),
        Err(cv::DetailError::UnknownCheckpoint(42))
    );
}

#[test]
fn config_has_flinks_fields() {
    let s = stats();
    let c = cv::checkpoint_config(&s, JobType::Streaming).unwrap();
    assert_eq!(
        shape(&c),
        json!({
            "mode": "string", "interval": "integer", "timeout": "integer", "min_pause": "integer",
            "max_concurrent": "integer",
            "externalization": {"enabled": "bool", "delete_on_cancellation": "bool"},
            "state_backend": "string", "checkpoint_storage": "string",
            "unaligned_checkpoints": "bool", "tolerable_failed_checkpoints": "integer",
            "aligned_checkpoint_timeout": "integer", "checkpoints_after_tasks_finish": "bool",
            "state_changelog_enabled": "bool",
            "changelog_periodic_materialization_interval": "integer",
            "changelog_storage": "string", "job_type": "string",
        })
    );
    assert_eq!(c["mode"], "exactly_once");
    assert_eq!(c["interval"], json!(1_000));
    assert_eq!(c["timeout"], json!(600_000));
    assert_eq!(c["job_type"], "STREAMING");
    // savepoints only: Flink shows Long.MAX_VALUE
    let mut off = stats();
    off.settings.enabled = false;
    let c = cv::checkpoint_config(&off, JobType::Streaming).unwrap();
    assert_eq!(c["interval"], json!(i64::MAX));
    assert_eq!(cv::checkpoint_config(&s, JobType::Batch), None);
}

#[test]
fn savepoint_status_shapes() {
    assert_eq!(
        crate::operation_status(None),
        json!({"status": {"id": "IN_PROGRESS"}})
    );
    assert_eq!(
        crate::operation_status(Some(Ok("file:/tmp/sp/savepoint-1".into()))),
        json!({"status": {"id": "COMPLETED"}, "operation": {"location": "file:/tmp/sp/savepoint-1"}})
    );
    let failed =
        crate::operation_status(Some(Err(strom_cluster::protocol::TriggerError::Aborted {
            what: "savepoint",
            reason: "expired".into(),
        })));
    assert_eq!(failed["status"]["id"], "COMPLETED");
    assert_eq!(
        keys(&failed["operation"]["failure-cause"]),
        set(&["class", "stack-trace", "serialized-throwable"])
    );
    assert_eq!(
        failed["operation"]["failure-cause"]["stack-trace"],
        "the savepoint failed: expired"
    );
}

/// A REST server over an embedded cluster without jobs, for the error answers.
struct Server(crate::test_server::Server);

impl Server {
    fn start() -> Self {
        let d = strom_cluster::start_embedded(
            strom_common::Configuration::new(),
            1,
            Default::default(),
        )
        .unwrap();
        Self(crate::test_server::Server::serve(d))
    }

    /// (status, body as JSON) of a request.
    fn call(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        http_call(
            self.0.addr,
            method,
            path,
            "Content-Type: application/json\r\n",
            body,
        )
    }

    /// Expects a Flink error answer with `status`, whose message contains `needle`.
    fn expect_error(&self, method: &str, path: &str, body: &str, status: u16, needle: &str) {
        let (got, answer) = self.call(method, path, body);
        assert_eq!(got, status, "{method} {path} {body}: {answer}");
        let errors = answer["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path}: not Flink's error shape: {answer}"));
        assert_eq!(errors.len(), 1);
        let msg = errors[0].as_str().unwrap();
        assert!(
            msg.contains(needle),
            "{method} {path} {body}: '{msg}' lacks '{needle}'"
        );
    }
}

const JOB: &str = "0123456789abcdef0123456789abcdef";
const TRIGGER: &str = "fedcba9876543210fedcba9876543210";

#[test]
fn unknown_job_is_404() {
    let s = Server::start();
    let vid = "0000000000000000000000000000000a";
    for (method, path, body) in [
        ("GET", format!("/jobs/{JOB}/checkpoints"), ""),
        ("GET", format!("/jobs/{JOB}/checkpoints/config"), ""),
        ("GET", format!("/jobs/{JOB}/checkpoints/details/1"), ""),
        (
            "GET",
            format!("/jobs/{JOB}/checkpoints/details/1/subtasks/{vid}"),
            "",
        ),
        ("POST", format!("/jobs/{JOB}/savepoints"), "{}"),
        ("POST", format!("/jobs/{JOB}/savepoints"), ""),
        (
            "POST",
            format!("/jobs/{JOB}/savepoints"),
            r#"{"target-directory": "/tmp/sp", "cancel-job": true}"#,
        ),
        (
            "POST",
            format!("/jobs/{JOB}/stop"),
            r#"{"targetDirectory": "/tmp/sp", "drain": false}"#,
        ),
        ("GET", format!("/jobs/{JOB}/savepoints/{TRIGGER}"), ""),
    ] {
        s.expect_error(method, &path, body, 404, &format!("Job {JOB} not found"));
    }
}

#[test]
fn bad_parameters_are_400() {
    let s = Server::start();
    s.expect_error("GET", "/jobs/nope/checkpoints", "", 400, "(jobid)");
    s.expect_error(
        "GET",
        &format!("/jobs/{JOB}/checkpoints/details/abc"),
        "",
        400,
        "(checkpointid) from value \"abc\"",
    );
    s.expect_error(
        "GET",
        &format!("/jobs/{JOB}/checkpoints/details/-1"),
        "",
        400,
        "(checkpointid)",
    );
    s.expect_error(
        "GET",
        &format!("/jobs/{JOB}/checkpoints/details/1/subtasks/xyz"),
        "",
        400,
        "(vertexid)",
    );
    s.expect_error(
        "GET",
        &format!("/jobs/{JOB}/savepoints/not-a-trigger"),
        "",
        400,
        "(triggerid)",
    );
}

#[test]
fn bad_savepoint_bodies_are_400() {
    let s = Server::start();
    let sp = format!("/jobs/{JOB}/savepoints");
    let stop = format!("/jobs/{JOB}/stop");
    for (path, body, needle) in [
        (&sp, "{not json", "SavepointTriggerRequestBody"),
        (
            &sp,
            r#"{"cancel-job": "yes"}"#,
            "SavepointTriggerRequestBody",
        ),
        (
            &sp,
            r#"{"target-directory": 5}"#,
            "SavepointTriggerRequestBody",
        ),
        (&sp, r#"{"targetDirectory": "/tmp"}"#, "unknown field"),
        (&sp, r#"[]"#, "SavepointTriggerRequestBody"),
        (&sp, r#"{"target-directory": " "}"#, "is empty"),
        (&sp, r#"{"formatType": "NATIVE"}"#, "CANONICAL"),
        (
            &sp,
            r#"{"triggerId": "short"}"#,
            "triggerId \"short\" is not 32 hexadecimal",
        ),
        (&stop, r#"{"drain": "no"}"#, "StopWithSavepointRequestBody"),
        (&stop, r#"{"target-directory": "/tmp"}"#, "unknown field"),
    ] {
        s.expect_error("POST", path, body, 400, needle);
    }
}

/// Every route that reads a body, as (method, path) under both bases.
fn body_routes() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for base in ["", "/v1"] {
        for path in [
            "/jobs".to_string(),
            format!("/jobs/{JOB}/savepoints"),
            format!("/jobs/{JOB}/stop"),
            format!("/jobs/{JOB}/checkpoints"),
            "/sql".to_string(),
        ] {
            out.push(("POST", format!("{base}{path}")));
        }
    }
    out
}

#[test]
fn json_bodies_of_the_wrong_shape_are_400_before_anything_runs() {
    let s = Server::start();
    for (method, path) in body_routes() {
        // serde alone reads [null, null] as a struct of two optional fields: it was 202 (a
        // checkpoint of a real job) or 404 (of this unknown one)
        for (body, kind) in [
            ("[null, null]", "an array"),
            ("[]", "an array"),
            ("null", "null"),
            ("\"{}\"", "a string"),
            ("7", "a number"),
            ("true", "a boolean"),
        ] {
            s.expect_error(
                method,
                &path,
                body,
                400,
                &format!("the body is {kind}, not a JSON object"),
            );
        }
        s.expect_error(
            method,
            &path,
            "{bad",
            400,
            "Request did not match expected format",
        );
    }
    // what each expects is named
    for (path, what) in [
        ("/jobs".to_string(), "JobGraph"),
        (
            format!("/jobs/{JOB}/savepoints"),
            "SavepointTriggerRequestBody",
        ),
        (format!("/jobs/{JOB}/stop"), "StopWithSavepointRequestBody"),
        (
            format!("/jobs/{JOB}/checkpoints"),
            "CheckpointTriggerRequestBody",
        ),
        ("/v1/sql".to_string(), "SqlRequest"),
    ] {
        s.expect_error("POST", &path, "[null, null]", 400, what);
    }
    // a JobGraph must be one: an empty body is no JobGraph (the triggers read it as {})
    s.expect_error("POST", "/jobs", "", 400, "the body is empty");
    assert_eq!(
        s.call("GET", "/jobs", "").1["jobs"],
        json!([]),
        "nothing ran"
    );
}

/// (status, body) of a chunked request (no Content-Length) whose chunks have the given sizes.
fn chunked_call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    chunks: &[usize],
) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    for n in chunks {
        // a JSON-ish body: it starts as an object, so only its size can refuse it
        let mut chunk = vec![b' '; *n];
        chunk[0] = b'{';
        write!(s, "{n:x}\r\n").unwrap();
        // the server may answer (and close) before the last chunk
        if s.write_all(&chunk).is_err() || s.write_all(b"\r\n").is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out);
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP answer");
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    (status, body)
}

#[test]
fn bodies_past_the_limit_are_413_on_every_route_chunked_or_not() {
    let mut config = strom_common::Configuration::new();
    config.set(crate::guard::MAX_CONTENT_LENGTH, "1000");
    let d = strom_cluster::start_embedded(config, 1, Default::default()).unwrap();
    let s = Server(crate::test_server::Server::serve(d));
    for (method, path) in body_routes() {
        // chunked: POST /jobs was 400 "Failed to buffer the request body"
        for chunks in [vec![1500], vec![600, 600], vec![1, 1000]] {
            let (status, v) = chunked_call(s.0.addr, method, &path, &chunks);
            assert_eq!(status, 413, "{method} {path} chunked {chunks:?}: {v}");
            let msg = v["errors"][0].as_str().unwrap_or_else(|| panic!("{v}"));
            assert!(
                msg.contains("'rest.server.max-content-length' = 1000"),
                "{msg}"
            );
        }
        // with a length given
        let big = format!("{{{}}}", " ".repeat(1000));
        s.expect_error(method, &path, &big, 413, "Request Entity Too Large");
        // within the limit, chunked: read whole, then judged by its content (400 or 404)
        let (status, v) = chunked_call(s.0.addr, method, &path, &[500, 400]);
        assert!(
            status == 400 || status == 404,
            "{method} {path} within the limit: {status} {v}"
        );
    }
}

#[test]
fn a_method_a_path_lacks_is_405_on_a_token_cluster_too() {
    // crate::test_server::Server has rest.auth.token set
    let s = crate::test_server::Server::start(1, &[]);
    for (method, path) in [
        ("PUT", "/jobs/overview"),
        ("DELETE", "/jobs"),
        ("POST", "/overview"),
        ("PATCH", "/v1/jobs/overview"),
        ("DELETE", &format!("/jobs/{JOB}/savepoints")),
        ("PUT", "/v1/sql"),
    ] {
        let (status, v) = http_call(s.addr, method, path, "", "");
        assert_eq!(status, 405, "{method} {path} without a token: {v}");
        let msg = v["errors"][0].as_str().unwrap_or_else(|| panic!("{v}"));
        assert!(
            msg.contains(&format!("Method {method} is not allowed")),
            "{msg}"
        );
    }
    // the methods a path has still need the token
    let (status, v) = http_call(s.addr, "POST", "/jobs", "", "{}");
    assert_eq!(status, 401, "{v}");
}

#[test]
fn the_openapi_document_is_served() {
    let s = Server::start();
    let (status, doc) = s.call("GET", "/v1/openapi.json", "");
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["openapi"], "3.0.3");
    assert_eq!(
        doc["paths"]["/overview"]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"]["properties"]["slots-total"]["type"],
        "integer",
        "the schema is Flink's /overview answer"
    );
    // the document generated from the routes is the checked-in one
    let checked_in: serde_json::Value =
        serde_json::from_str(include_str!("../../openapi.json")).unwrap();
    assert_eq!(doc, checked_in);
}
