//! Job, vertex, JobManager and cluster endpoints over HTTP on a cluster running real SQL jobs:
//! shapes compared with Flink 2.3's captured answers, values with what was submitted, and the
//! error paths (400, 404) in Flink's shape.

use crate::test_server::{reference, Server, TOKEN};
use crate::tests::{keys, set, shape};
use serde_json::json;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// An embedded cluster of one TaskManager with a secret in its configuration.
fn start(extra: &[(&str, &str)]) -> Server {
    let mut all = vec![("cluster.secret", "very-secret")];
    all.extend_from_slice(extra);
    Server::start(1, &all)
}

fn batch_sql() -> &'static str {
    "SET 'pipeline.name' = 'endpoints-batch';\n\
     CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '500',\n\
     'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '500');\n\
     CREATE TABLE out_t (id BIGINT) WITH ('connector' = 'blackhole');\n\
     INSERT INTO out_t SELECT id FROM gen WHERE id % 2 = 0;\n"
}

/// An unbounded source faster than its sink, a keyed exchange between them (so two tasks): the
/// source is backpressured.
fn streaming_sql() -> &'static str {
    "SET 'pipeline.name' = 'endpoints-stream';\n\
     CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen');\n\
     CREATE TABLE slow (id BIGINT, c BIGINT) WITH ('connector' = 'blackhole', 'sink.rows-per-second' = '2000');\n\
     INSERT INTO slow SELECT id, COUNT(*) FROM gen GROUP BY id;\n"
}

#[test]
fn job_config_and_cluster_config_have_flinks_shapes_and_the_submitted_values() {
    let s = start(&[]);
    let id = s.submit(batch_sql(), 2);
    s.wait_state(&id, "FINISHED");

    let c = s.get(&format!("/jobs/{id}/config"));
    assert_eq!(shape(&c), shape(&reference("job_config.json")), "{c}");
    assert_eq!(c["jid"], id);
    assert_eq!(c["name"], "endpoints-batch");
    assert_eq!(c["execution-config"]["job-parallelism"], 2);
    assert_eq!(c["execution-config"]["object-reuse-mode"], false);

    let jm = s.get("/jobmanager/config");
    let want = reference("jobmanager_config.json");
    assert_eq!(shape(&jm), shape(&want), "{jm}");
    assert_eq!(keys(&jm[0]), keys(&want[0]));
    let value = |k: &str| crate::test_server::config_value(&jm, k);
    assert_eq!(value("taskmanager.numberOfTaskSlots"), Some(json!("4")));
    assert_eq!(value("cluster.secret"), Some(json!("******")));
    assert_eq!(value("rest.auth.token"), Some(json!("******")));
    assert!(!jm.to_string().contains("very-secret"), "{jm}");
    assert!(!jm.to_string().contains(TOKEN), "{jm}");

    // /config advertises the SQL form
    assert_eq!(s.get("/config")["features"]["web-submit"], true);

    s.error("/jobs/00000000000000000000000000000000/config", 404);
    s.error("/jobs/not-a-job/config", 400);
}

#[test]
fn accumulators_subtasks_and_times_of_a_finished_job() {
    let s = start(&[]);
    let id = s.submit(batch_sql(), 2);
    let job = s.wait_state(&id, "FINISHED");
    let vertices = job["vertices"].as_array().unwrap();
    let vid = vertices[0]["id"].as_str().unwrap();

    let acc = s.get(&format!("/jobs/{id}/accumulators"));
    assert_eq!(
        acc,
        json!({"job-accumulators": [], "user-task-accumulators": [], "serialized-user-task-accumulators": {}})
    );
    let vacc = s.get(&format!("/jobs/{id}/vertices/{vid}/accumulators"));
    assert_eq!(vacc, json!({"id": vid, "user-accumulators": []}));

    // a subtask as Flink's SubtaskExecutionAttemptDetailsInfo: the fields of a subtask of
    // /jobs/:id/vertices/:vid in the captured answer
    let flink_subtask = &reference("vertex_detail.json")["subtasks"][0];
    let detail = s.get(&format!("/jobs/{id}/vertices/{vid}"));
    for i in 0..2 {
        let st = s.get(&format!("/jobs/{id}/vertices/{vid}/subtasks/{i}"));
        let flink_keys = keys(flink_subtask);
        assert!(keys(&st).is_superset(&flink_keys), "{st}");
        for k in &flink_keys {
            assert_eq!(
                shape(&st[k]).is_object(),
                shape(&flink_subtask[k]).is_object()
            );
            if k != "metrics" && k != "status-duration" {
                assert_eq!(shape(&st[k]), shape(&flink_subtask[k]), "{k}: {st}");
            }
        }
        assert_eq!(keys(&st["metrics"]), keys(&flink_subtask["metrics"]));
        assert_eq!(st["subtask"], i);
        assert_eq!(st["status"], "FINISHED");
        assert_eq!(st["attempt"], 0);
        assert_eq!(st["metrics"], detail["subtasks"][i]["metrics"]);
        let a = s.get(&format!(
            "/jobs/{id}/vertices/{vid}/subtasks/{i}/attempts/0"
        ));
        assert_eq!(a["attempt"], 0);
        assert_eq!(a["start-time"], st["start-time"]);
    }

    let times = s.get(&format!("/jobs/{id}/vertices/{vid}/subtasktimes"));
    assert_eq!(
        keys(&times),
        set(&["id", "name", "now", "subtasks"]),
        "{times}"
    );
    assert_eq!(times["id"], vid);
    assert_eq!(times["name"], vertices[0]["name"]);
    let subs = times["subtasks"].as_array().unwrap();
    assert_eq!(subs.len(), 2);
    for (i, st) in subs.iter().enumerate() {
        assert_eq!(st["subtask"], i);
        assert!(keys(st).is_superset(&set(&["subtask", "host", "duration", "timestamps"])));
        let ts = &st["timestamps"];
        let (created, finished) = (
            ts["CREATED"].as_i64().unwrap(),
            ts["FINISHED"].as_i64().unwrap(),
        );
        assert!(created > 0 && finished >= created, "{st}");
        assert_eq!(ts["FAILED"], 0);
    }

    // error paths in Flink's shape
    let unknown_job = "00000000000000000000000000000000";
    let unknown_vertex = "0123456789abcdef0123456789abcdef";
    for tail in [
        "accumulators",
        "backpressure",
        "watermarks",
        "subtasktimes",
        "subtasks/0",
        "subtasks/0/attempts/0",
    ] {
        s.error(&format!("/jobs/{id}/vertices/not-a-vertex/{tail}"), 400);
        s.error(&format!("/jobs/{id}/vertices/{unknown_vertex}/{tail}"), 404);
        s.error(&format!("/jobs/{unknown_job}/vertices/{vid}/{tail}"), 404);
    }
    s.error(&format!("/jobs/{unknown_job}/accumulators"), 404);
    s.error(&format!("/jobs/{id}/vertices/{vid}/subtasks/2"), 404);
    s.error(&format!("/jobs/{id}/vertices/{vid}/subtasks/99999"), 404);
    s.error(&format!("/jobs/{id}/vertices/{vid}/subtasks/-1"), 400);
    s.error(
        &format!("/jobs/{id}/vertices/{vid}/subtasks/x/attempts/0"),
        400,
    );
    s.error(
        &format!("/jobs/{id}/vertices/{vid}/subtasks/0/attempts/1"),
        404,
    );
    s.error(
        &format!("/jobs/{id}/vertices/{vid}/subtasks/0/attempts/z"),
        400,
    );
}

#[test]
fn backpressure_and_watermarks_of_a_running_job() {
    let s = start(&[]);
    let id = s.submit(streaming_sql(), 2);
    let job = s.wait_state(&id, "RUNNING");
    let vertices = job["vertices"].as_array().unwrap().clone();
    let source = vertices[0]["id"].as_str().unwrap();

    for v in &vertices {
        let vid = v["id"].as_str().unwrap();
        let w = s.get(&format!("/jobs/{id}/vertices/{vid}/watermarks"));
        let w = w.as_array().unwrap();
        assert_eq!(w.len() as u64, v["parallelism"].as_u64().unwrap());
        assert_eq!(w[0]["id"], "0.currentInputWatermark");
        let ms: i64 = w[0]["value"].as_str().unwrap().parse().unwrap();
        // a job without watermarks shows Long.MIN_VALUE, as Flink does
        assert_eq!(ms, i64::MIN);
    }

    // the source waits on the 2000 rows/s sink: backpressured once the rates have samples
    let deadline = Instant::now() + Duration::from_secs(30);
    let bp = loop {
        let bp = s.get(&format!("/jobs/{id}/vertices/{source}/backpressure"));
        if bp["backpressure-level"] == "high" {
            break bp;
        }
        assert!(
            Instant::now() < deadline,
            "never backpressured: {bp} {vertices:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        keys(&bp),
        set(&["status", "backpressure-level", "end-timestamp", "subtasks"])
    );
    assert_eq!(bp["status"], "ok");
    assert_eq!(bp["backpressure-level"], "high");
    assert!(bp["end-timestamp"].as_i64().unwrap() > 0);
    assert_eq!(bp["subtasks"].as_array().unwrap().len(), 2);
    let sub = bp["subtasks"]
        .as_array()
        .unwrap()
        .iter()
        .max_by(|a, b| {
            a["ratio"]
                .as_f64()
                .partial_cmp(&b["ratio"].as_f64())
                .unwrap()
        })
        .unwrap();
    assert_eq!(
        keys(sub),
        set(&[
            "subtask",
            "attempt-number",
            "backpressure-level",
            "ratio",
            "idleRatio",
            "busyRatio"
        ])
    );
    assert_eq!(sub["backpressure-level"], "high");
    assert!(sub["ratio"].as_f64().unwrap() > 0.5, "{sub}");
    assert_eq!(sub["attempt-number"], 0);
    for r in ["ratio", "idleRatio", "busyRatio"] {
        let x = sub[r].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&x), "{r}: {sub}");
    }

    let st = s.get(&format!("/jobs/{id}/vertices/{source}/subtasks/0"));
    assert_eq!(st["status"], "RUNNING");
    assert_eq!(st["end-time"], -1);

    let (status, _) = s.call("PATCH", &format!("/jobs/{id}?mode=cancel"), "");
    assert_eq!(status, 202);
    s.wait_state(&id, "CANCELED");
}

#[test]
fn logs_list_the_log_directory_and_serve_its_files() {
    // without env.log.dir the process logs to stderr only: nothing to list
    let s = start(&[]);
    assert_eq!(s.get("/jobmanager/logs"), json!({"logs": []}));
    s.error("/jobmanager/logs/jobmanager.log", 404);
    drop(s);

    let dir = std::env::temp_dir().join(format!("strom-rest-logs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("jobmanager.log"), "line one\nline two\n").unwrap();
    let s = start(&[("env.log.dir", dir.to_str().unwrap())]);
    let logs = s.get("/jobmanager/logs");
    let list = logs["logs"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{logs}");
    assert_eq!(keys(&list[0]), set(&["name", "size", "mtime"]));
    assert_eq!(list[0]["name"], "jobmanager.log");
    assert_eq!(list[0]["size"], 18);
    assert!(list[0]["mtime"].as_i64().unwrap() > 0);
    assert_eq!(
        s.get("/jobmanager/logs/jobmanager.log"),
        json!("line one\nline two\n")
    );
    s.error("/jobmanager/logs/other.log", 404);
    s.error("/jobmanager/logs/..%2Fetc%2Fpasswd", 404);
    s.error("/jobmanager/logs/.hidden", 404);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn delete_cluster_cancels_the_running_jobs_answers_202_and_stops_the_server() {
    let mut s = start(&[]);
    let running = s.submit(streaming_sql(), 1);
    s.wait_state(&running, "RUNNING");
    let finished = s.submit(batch_sql(), 1);
    s.wait_state(&finished, "FINISHED");
    let (status, body) = s.call("DELETE", "/cluster", "");
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, json!({}));
    let served = s.served.take().unwrap();
    let ended = s.rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), served)
            .await
            .map(|r| r.unwrap().is_ok())
    });
    assert_eq!(
        ended,
        Ok(true),
        "serve() did not return after DELETE /cluster"
    );
    assert!(std::net::TcpStream::connect(s.addr).is_err());
    // the running job was canceled before the server stopped; the finished one stays FINISHED
    let status = |id: &str| s.dispatcher.status(id.parse().unwrap()).unwrap();
    assert_eq!(status(&running), strom_common::JobStatus::Canceled);
    assert_eq!(status(&finished), strom_common::JobStatus::Finished);
}

#[test]
fn delete_cluster_needs_the_token() {
    let s = start(&[]);
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    write!(
        c,
        "DELETE /cluster HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 401"), "{out}");
    // still serving
    s.get("/overview");
}
