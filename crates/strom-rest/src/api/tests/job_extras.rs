//! Vertex, subtask and job-JobManager endpoints over HTTP, two TaskManagers running a real SQL
//! job: a vertex's TaskManagers with the records their subtasks moved, subtask accumulators and
//! metrics, the job's JobManager config and environment, the log URLs, and the 400/404 paths.

use crate::test_server::{batch_sql, reference, Server};
use crate::tests::{keys, set};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const UNKNOWN_JOB: &str = "00000000000000000000000000000000";
const UNKNOWN_VERTEX: &str = "0123456789abcdef0123456789abcdef";

fn num(v: &Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
#[allow(clippy::too_many_lines)]
fn a_vertex_s_taskmanagers_carry_the_records_their_subtasks_moved() {
    let s = Server::start(2, &[]);
    let id = s.submit(batch_sql(), 4);
    let job = s.wait_state(&id, "FINISHED");
    let vertices = job["vertices"].as_array().unwrap();
    assert_eq!(vertices.len(), 2, "{job}");
    let tms: Vec<String> = s.get("/taskmanagers")["taskmanagers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let flink = reference("vertex_detail.json");
    let flink_metrics = keys(&flink["subtasks"][0]["metrics"]);
    let flink_summary = keys(&flink["aggregated"]["metrics"]["write-records"]);
    let mut written = Vec::new();
    let mut read = Vec::new();
    for v in vertices {
        let vid = v["id"].as_str().unwrap();
        let detail = s.get(&format!("/jobs/{id}/vertices/{vid}"));
        let info = s.get(&format!("/jobs/{id}/vertices/{vid}/taskmanagers"));
        assert_eq!(
            keys(&info),
            set(&["id", "name", "now", "taskmanagers"]),
            "{info}"
        );
        assert_eq!(info["id"], vid);
        assert_eq!(info["name"], detail["name"]);
        assert!(info["now"].as_i64().unwrap() > 0);
        // the subtasks of the vertex detail, by TaskManager
        let mut by_tm: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for st in detail["subtasks"].as_array().unwrap() {
            by_tm
                .entry(st["taskmanager-id"].as_str().unwrap().to_string())
                .or_default()
                .push(st);
        }
        let rows = info["taskmanagers"].as_array().unwrap();
        assert_eq!(rows.len(), by_tm.len(), "{info}");
        let (mut w, mut r) = (0, 0);
        for row in rows {
            assert_eq!(
                keys(row),
                set(&[
                    "endpoint",
                    "status",
                    "start-time",
                    "end-time",
                    "duration",
                    "metrics",
                    "status-counts",
                    "taskmanager-id",
                    "aggregated"
                ]),
                "{row}"
            );
            let tm = row["taskmanager-id"].as_str().unwrap();
            assert!(tms.iter().any(|t| t == tm), "{tm} not in {tms:?}");
            let subs = &by_tm[tm];
            assert_eq!(row["status"], "FINISHED");
            assert_eq!(row["endpoint"], subs[0]["endpoint"]);
            assert_eq!(keys(&row["metrics"]), flink_metrics);
            assert!(row["metrics"]["accumulated-busy-time"].is_f64());
            assert!(row["metrics"]["write-records"].is_u64());
            assert_eq!(row["metrics"]["read-records-complete"], true);
            for figure in ["read-records", "write-records", "read-bytes", "write-bytes"] {
                let sum: i64 = subs.iter().map(|st| num(&st["metrics"][figure])).sum();
                assert_eq!(num(&row["metrics"][figure]), sum, "{figure}: {row}");
                let agg = &row["aggregated"]["metrics"][figure];
                assert_eq!(keys(agg), flink_summary, "{agg}");
                assert_eq!(num(&agg["sum"]), sum);
            }
            assert_eq!(
                keys(&row["aggregated"]),
                set(&["metrics", "status-duration"])
            );
            assert_eq!(
                keys(&row["aggregated"]["metrics"]),
                keys(&flink["aggregated"]["metrics"])
            );
            assert_eq!(
                keys(&row["aggregated"]["status-duration"]),
                keys(&flink["aggregated"]["status-duration"])
            );
            let counts = &row["status-counts"];
            assert_eq!(counts["FINISHED"], subs.len(), "{counts}");
            assert_eq!(counts["RUNNING"], 0);
            assert!(counts["RECONCILING"].is_u64());
            let (start, end) = (num(&row["start-time"]), num(&row["end-time"]));
            let first = subs.iter().map(|st| num(&st["start-time"])).min().unwrap();
            let last = subs.iter().map(|st| num(&st["end-time"])).max().unwrap();
            assert_eq!((start, end), (first, last), "{row}");
            assert_eq!(num(&row["duration"]), end - start);
            w += num(&row["metrics"]["write-records"]);
            r += num(&row["metrics"]["read-records"]);
        }
        written.push(w);
        read.push(r);
    }
    // the source wrote the 250 even ids, the aggregate read them all
    assert_eq!(
        (written[0], read[1]),
        (250, 250),
        "written {written:?}, read {read:?}"
    );
}

#[test]
#[allow(clippy::too_many_lines)]
fn subtask_accumulators_metrics_config_environment_and_log_urls() {
    let s = Server::start(2, &[("cluster.secret", "very-secret")]);
    let id = s.submit(batch_sql(), 2);
    let job = s.wait_state(&id, "FINISHED");
    let source = job["vertices"][0]["id"].as_str().unwrap().to_string();
    let detail = s.get(&format!("/jobs/{id}/vertices/{source}"));

    let acc = s.get(&format!(
        "/jobs/{id}/vertices/{source}/subtasks/accumulators"
    ));
    assert_eq!(keys(&acc), set(&["id", "parallelism", "subtasks"]), "{acc}");
    assert_eq!(acc["id"], source);
    assert_eq!(acc["parallelism"], 2);
    for (i, st) in acc["subtasks"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            keys(st),
            set(&["subtask", "attempt", "endpoint", "user-accumulators"])
        );
        assert_eq!(st["subtask"], i);
        assert_eq!(st["attempt"], 0);
        assert_eq!(st["endpoint"], detail["subtasks"][i]["endpoint"]);
        assert_eq!(st["user-accumulators"], json!([]));
        let a = s.get(&format!(
            "/jobs/{id}/vertices/{source}/subtasks/{i}/attempts/0/accumulators"
        ));
        assert_eq!(
            keys(&a),
            set(&["subtask", "attempt", "id", "user-accumulators"])
        );
        assert_eq!(
            (a["subtask"].clone(), a["attempt"].clone()),
            (json!(i), json!(0))
        );
        assert!(!a["id"].as_str().unwrap().is_empty());
    }

    // one subtask's metrics: the ids, then values as strings that add up to the vertex's
    let list = s.get(&format!("/jobs/{id}/vertices/{source}/subtasks/0/metrics"));
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"numRecordsOut"), "{list}");
    let mut out = 0;
    for i in 0..2 {
        let got = s.get(&format!(
            "/jobs/{id}/vertices/{source}/subtasks/{i}/metrics?get=numRecordsOut,no-such-metric"
        ));
        let got = got.as_array().unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(keys(&got[0]), set(&["id", "value"]));
        assert_eq!(got[0]["id"], "numRecordsOut");
        out += got[0]["value"].as_str().unwrap().parse::<i64>().unwrap();
    }
    assert_eq!(out, 250);

    // the configuration the job runs with: the cluster's and its SET statements, secrets hidden
    let conf = s.get(&format!("/jobs/{id}/jobmanager/config"));
    let flink = reference("jobmanager_config.json");
    assert_eq!(keys(&conf[0]), keys(&flink[0]));
    let value = |k: &str| crate::test_server::config_value(&conf, k);
    assert_eq!(value("taskmanager.numberOfTaskSlots"), Some(json!("4")));
    assert_eq!(value("pipeline.name"), Some(json!("extras-batch")));
    assert_eq!(value("cluster.secret"), Some(json!("******")));
    assert_eq!(value("extras.password"), Some(json!("******")));
    assert!(!conf.to_string().contains("hunter2") && !conf.to_string().contains("very-secret"));

    assert_eq!(
        s.get(&format!("/jobs/{id}/jobmanager/environment")),
        s.get("/jobmanager/environment")
    );
    let url = s.get(&format!("/jobs/{id}/jobmanager/log-url"));
    assert_eq!(url, json!({"url": "http://localhost/jobmanager/log"}));
    let tm = detail["subtasks"][0]["taskmanager-id"].as_str().unwrap();
    let url = s.get(&format!("/jobs/{id}/taskmanagers/{tm}/log-url"));
    assert_eq!(
        url,
        json!({"url": format!("http://localhost/taskmanagers/{tm}/log")})
    );

    // error paths in Flink's shape
    for tail in [
        "taskmanagers",
        "subtasks/accumulators",
        "subtasks/0/metrics",
        "subtasks/0/attempts/0/accumulators",
    ] {
        s.error(&format!("/jobs/{id}/vertices/not-a-vertex/{tail}"), 400);
        s.error(&format!("/jobs/{id}/vertices/{UNKNOWN_VERTEX}/{tail}"), 404);
        s.error(
            &format!("/jobs/{UNKNOWN_JOB}/vertices/{source}/{tail}"),
            404,
        );
        s.error(&format!("/jobs/nope/vertices/{source}/{tail}"), 400);
    }
    s.error(
        &format!("/jobs/{id}/vertices/{source}/subtasks/2/metrics"),
        404,
    );
    s.error(
        &format!("/jobs/{id}/vertices/{source}/subtasks/-1/metrics"),
        400,
    );
    s.error(
        &format!("/jobs/{id}/vertices/{source}/subtasks/0/attempts/1/accumulators"),
        404,
    );
    s.error(
        &format!("/jobs/{id}/vertices/{source}/subtasks/5/attempts/0/accumulators"),
        404,
    );
    s.error(
        &format!("/jobs/{id}/vertices/{source}/subtasks/0/attempts/x/accumulators"),
        400,
    );
    for tail in [
        "jobmanager/config",
        "jobmanager/environment",
        "jobmanager/log-url",
    ] {
        s.error(&format!("/jobs/{UNKNOWN_JOB}/{tail}"), 404);
        s.error(&format!("/jobs/not-a-job/{tail}"), 400);
    }
    s.error(&format!("/jobs/{id}/taskmanagers/no-such-tm/log-url"), 404);
    s.error(
        &format!("/jobs/{UNKNOWN_JOB}/taskmanagers/{tm}/log-url"),
        404,
    );
}
