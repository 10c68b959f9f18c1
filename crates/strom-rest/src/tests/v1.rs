//! Flink's versioned paths: a client that knows only `/v1/...` (as Flink's CLI and Java REST
//! client do) lists, inspects, checkpoints, savepoints, stops and cancels jobs; the root and
//! `/v1` answer alike; the guard and the error answers hold under `/v1` too.

use crate::test_server::http_call;
use crate::test_server::{temp_dir, Server, TOKEN};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// An unbounded job with a keyed exchange, checkpointed every 200 ms.
fn streaming_sql(name: &str) -> String {
    format!(
        "SET 'pipeline.name' = '{name}';\n\
         SET 'execution.checkpointing.interval' = '200 ms';\n\
         CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '2000');\n\
         CREATE TABLE out_t (k BIGINT, c BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO out_t SELECT id % 10, COUNT(*) FROM gen GROUP BY id % 10;\n"
    )
}

/// A client of the `/v1` paths only.
struct V1<'a>(&'a Server);

impl V1<'_> {
    fn call(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        assert!(path.starts_with('/'), "{path}");
        self.0.call(method, &format!("/v1{path}"), body)
    }

    fn get(&self, path: &str) -> Value {
        let (status, v) = self.call("GET", path, "");
        assert_eq!(status, 200, "GET /v1{path}: {v}");
        v
    }

    fn accepted(&self, method: &str, path: &str, body: &str) -> Value {
        let (status, v) = self.call(method, path, body);
        assert_eq!(status, 202, "{method} /v1{path} {body}: {v}");
        v
    }

    fn submit(&self, sql: &str) -> String {
        let req = json!({ "sql": sql, "parallelism": 2 }).to_string();
        let v = self.accepted("POST", "/sql", &req);
        v["jobids"][0].as_str().unwrap().to_string()
    }

    fn status(&self, job: &str) -> String {
        self.get(&format!("/jobs/{job}/status"))["status"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn wait_status(&self, job: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.status(job) != want {
            assert!(Instant::now() < deadline, "job {job} never {want}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_running(&self, job: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let j = self.get(&format!("/jobs/{job}"));
            let vertices = j["vertices"].as_array().unwrap();
            if j["state"] == "RUNNING" && vertices.iter().all(|v| v["status"] == "RUNNING") {
                return;
            }
            assert!(Instant::now() < deadline, "job {job} never RUNNING: {j}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls `/jobs/:id/{ops}/:trigger` until COMPLETED; returns its `operation`.
    fn operation(&self, job: &str, ops: &str, trigger: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.get(&format!("/jobs/{job}/{ops}/{trigger}"));
            match v["status"]["id"].as_str() {
                Some("COMPLETED") => return v["operation"].clone(),
                Some("IN_PROGRESS") => {}
                _ => panic!("/v1/jobs/{job}/{ops}/{trigger}: {v}"),
            }
            assert!(Instant::now() < deadline, "{ops} {trigger} never done");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A savepoint `location` (`file:/...`) is a directory under `dir` that holds files.
fn assert_savepoint_in(location: &Value, dir: &std::path::Path) {
    let loc = location.as_str().unwrap_or_else(|| panic!("{location}"));
    let path = std::path::Path::new(loc.strip_prefix("file:").unwrap_or(loc));
    assert!(path.starts_with(dir), "{loc} is not under {dir:?}");
    let entries = std::fs::read_dir(path)
        .unwrap_or_else(|e| panic!("{loc}: {e}"))
        .count();
    assert!(entries > 0, "{loc} is empty");
}

#[test]
fn a_client_of_the_v1_paths_lists_inspects_savepoints_stops_and_cancels_jobs() {
    let dir = temp_dir("v1-client");
    let checkpoints = dir.join("checkpoints");
    let savepoints = dir.join("savepoints");
    let checkpoints_s = checkpoints.display().to_string();
    let s = Server::start(1, &[("state.checkpoints.dir", checkpoints_s.as_str())]);
    let v1 = V1(&s);
    let a = v1.submit(&streaming_sql("v1-stopped"));
    let b = v1.submit(&streaming_sql("v1-canceled"));
    v1.wait_running(&a);
    v1.wait_running(&b);

    // list: /v1/jobs and /v1/jobs/overview name both jobs, running
    let ids: Vec<&str> = vec![a.as_str(), b.as_str()];
    let jobs = v1.get("/jobs");
    for id in &ids {
        let j = jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == *id)
            .unwrap_or_else(|| panic!("{id} not in /v1/jobs: {jobs}"));
        assert_eq!(j["status"], "RUNNING", "{jobs}");
    }
    let overview = v1.get("/jobs/overview");
    let names: Vec<(&str, &str)> = overview["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["jid"].as_str().unwrap(), j["name"].as_str().unwrap()))
        .collect();
    assert!(names.contains(&(a.as_str(), "v1-stopped")), "{overview}");
    assert!(names.contains(&(b.as_str(), "v1-canceled")), "{overview}");
    assert_eq!(v1.get("/overview")["jobs-running"], 2);

    // inspect: the job, its plan, a vertex, its checkpoints; the same answers at the root
    let job = v1.get(&format!("/jobs/{a}"));
    assert_eq!(
        (&job["jid"], &job["name"]),
        (&json!(a), &json!("v1-stopped"))
    );
    let vertex = job["vertices"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        v1.get(&format!("/jobs/{a}/plan"))["plan"]["jid"],
        json!(a),
        "the plan of job {a}"
    );
    let root = s.get(&format!("/jobs/{a}/vertices/{vertex}"));
    let versioned = v1.get(&format!("/jobs/{a}/vertices/{vertex}"));
    assert_eq!(
        (
            &versioned["id"],
            &versioned["name"],
            &versioned["parallelism"]
        ),
        (&root["id"], &root["name"], &root["parallelism"])
    );
    assert_eq!(v1.get(&format!("/jobs/{a}/config"))["jid"], json!(a));

    // a manual checkpoint
    let t = v1.accepted("POST", &format!("/jobs/{a}/checkpoints"), "{}")["request-id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = v1.operation(&a, "checkpoints", &t)["checkpointId"]
        .as_u64()
        .unwrap();
    assert!(id >= 1);

    // savepoint: the job keeps running, the savepoint is on disk
    let body = json!({ "target-directory": savepoints, "cancel-job": false }).to_string();
    let t = v1.accepted("POST", &format!("/jobs/{a}/savepoints"), &body)["request-id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_savepoint_in(&v1.operation(&a, "savepoints", &t)["location"], &savepoints);
    assert_eq!(v1.status(&a), "RUNNING");

    // stop with a savepoint: FINISHED, as Flink's `flink stop` ends a job
    let body = json!({ "targetDirectory": savepoints, "drain": false }).to_string();
    let t = v1.accepted("POST", &format!("/jobs/{a}/stop"), &body)["request-id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_savepoint_in(&v1.operation(&a, "savepoints", &t)["location"], &savepoints);
    v1.wait_status(&a, "FINISHED");
    let result = v1.get(&format!("/jobs/{a}/execution-result"));
    assert_eq!(
        result["job-execution-result"]["application-status"], "SUCCEEDED",
        "{result}"
    );

    // cancel: PATCH /v1/jobs/:id?mode=cancel, as Flink's REST client sends it
    v1.accepted("PATCH", &format!("/jobs/{b}?mode=cancel"), "");
    v1.wait_status(&b, "CANCELED");
    assert_eq!(v1.get("/overview")["jobs-running"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_v1_paths_keep_the_guard_and_the_error_answers() {
    let s = Server::start(1, &[]);
    let zero = "00000000000000000000000000000000";
    let call =
        |method: &str, path: &str, headers: &str| http_call(s.addr, method, path, headers, "");
    let token = format!("Authorization: Bearer {TOKEN}\r\n");
    for base in ["", "/v1"] {
        // a mutating call needs the token under /v1 as at the root
        let (status, v) = call("PATCH", &format!("{base}/jobs/{zero}?mode=cancel"), "");
        assert_eq!(status, 401, "{base}: {v}");
        let (status, v) = call("PATCH", &format!("{base}/jobs/{zero}?mode=cancel"), &token);
        assert_eq!(status, 404, "{base}: {v}");
        // a malformed id is 400, an unknown path 404, in Flink's shape
        let (status, v) = call("GET", &format!("{base}/jobs/nope"), "");
        assert_eq!(status, 400, "{base}: {v}");
        assert!(v["errors"][0].as_str().unwrap().contains("(jobid)"), "{v}");
        let (status, v) = call("GET", &format!("{base}/nothing/here"), "");
        assert_eq!(status, 404, "{base}: {v}");
        assert!(v["errors"][0].is_string(), "{v}");
    }
    // the Strom-only routes answer at both bases too
    let doc = s.get("/v1/openapi.json");
    assert_eq!(s.get("/openapi.json"), doc);
    let servers: Vec<&str> = doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        servers,
        ["http://127.0.0.1:8081", "http://127.0.0.1:8081/v1"],
        "the document says every path is served at both bases"
    );
    let (status, v) = call("POST", "/sql", "");
    assert_eq!(status, 401, "{v}");
}
