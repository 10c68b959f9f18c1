//! End-to-end test of `strom standalone` and its REST API (Flink's shapes), driven by a minimal
//! HTTP/1.1 client over `std::net::TcpStream` and by the `strom` client commands: a q5 job with
//! a checked answer, `list`/`info`, error statuses, and cancelling an unbounded job.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The cluster process

/// A `strom standalone` child process; killed on drop, also when the test panics.
struct Cluster {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl Cluster {
    fn start(taskmanagers: u32, slots: u32) -> Self {
        let mut child = strom()
            .args([
                "standalone",
                "--taskmanagers",
                &taskmanagers.to_string(),
                "--slots",
                &slots.to_string(),
                "-D",
                "rest.port=0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start strom standalone");
        let stdout = child.stdout.take().expect("stdout");
        let stderr_pipe = child.stderr.take().expect("stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                    let mut s = stderr.lock().unwrap();
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        }
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            // Keeps draining stdout after the ready line so the child never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // From here on the guard owns the child: a panic below kills it.
        let mut cluster = Cluster {
            child,
            port: 0,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        let ready = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("Strom standalone cluster ready in") => break line,
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "strom standalone printed no ready line within 60 s (or exited: {:?})\nstdout: {seen:?}\nstderr: {}",
                    cluster.child.try_wait(),
                    cluster.stderr()
                ),
            }
        };
        let url = ready
            .split("REST http://")
            .nth(1)
            .and_then(|s| s.split([',', ' ']).next())
            .unwrap_or_else(|| panic!("no REST address in '{ready}'"));
        cluster.port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in '{ready}'"));
        assert_ne!(cluster.port, 0, "the ready line names port 0: '{ready}'");
        assert!(
            ready.contains(&format!(
                "{taskmanagers} TaskManager(s), {} slots",
                taskmanagers * slots
            )),
            "ready line: '{ready}'"
        );
        cluster
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn stderr(&self) -> String {
        tail(&self.stderr.lock().unwrap(), 4000)
    }

    fn http(&self, method: &str, path: &str, body: Option<&str>) -> Resp {
        http(self.port, method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\ncluster stderr:\n{}", self.stderr()))
    }

    /// GET that must answer 200 with JSON.
    fn get_ok(&self, path: &str) -> Value {
        let r = self.http("GET", path, None);
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.json(path)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------

const UNBOUNDED_JOB: &str = "CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  date_time TIMESTAMP(3), extra STRING
) WITH ('connector' = 'datagen', 'generator' = 'bids', 'rows-per-second' = '1000');
CREATE TABLE sink_bh (auction BIGINT, price BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO sink_bh SELECT auction, price FROM bid;
";

#[test]
#[allow(clippy::too_many_lines)]
fn standalone_cluster_rest_jobs_and_cancel() {
    // The reference first: it runs `strom gen-bids` and should not count against the cluster.
    let expected = expected_for("q5");
    let bid_path = gen_bids();
    let cluster = Cluster::start(2, 2);
    let jm = cluster.url();

    // --- cluster shape
    let ov = cluster.get_ok("/overview");
    assert_eq!(ov["taskmanagers"], 2, "/overview: {ov}");
    assert_eq!(ov["slots-total"], 4, "/overview: {ov}");
    assert_eq!(ov["slots-available"], 4, "/overview: {ov}");
    assert_eq!(ov["jobs-running"], 0, "/overview: {ov}");
    let tms = cluster.get_ok("/taskmanagers");
    let list = tms["taskmanagers"]
        .as_array()
        .unwrap_or_else(|| panic!("/taskmanagers: no array: {tms}"));
    assert_eq!(list.len(), 2, "/taskmanagers: {tms}");
    for tm in list {
        assert_eq!(tm["slotsNumber"], 2, "/taskmanagers entry: {tm}");
        assert!(tm["id"].is_string(), "/taskmanagers entry without id: {tm}");
    }
    assert_ne!(
        list[0]["id"], list[1]["id"],
        "two TaskManagers with one id: {tms}"
    );
    let jobs = cluster.get_ok("/jobs");
    assert_eq!(
        jobs["jobs"].as_array().map(Vec::len),
        Some(0),
        "/jobs before any job: {jobs}"
    );

    // --- q5 on the cluster, p=2, answer checked against the reference
    let tmp = TempDir::new("cluster");
    let out_dir = tmp.join("out");
    let sink_sql = tmp.join("q5.sql");
    write_text(&sink_sql, &query_with_file_sink("q5", &out_dir));
    let out = run(strom()
        .arg("sql")
        .arg("-f")
        .arg(bench_sql("bid_source.sql"))
        .arg("-f")
        .arg(&sink_sql)
        .args(["--jobmanager", &jm, "-p", "2"])
        .env("BID_PATH", &bid_path));
    if out.code != Some(0) {
        panic!(
            "q5 on the cluster failed\n{}\ncluster stderr:\n{}",
            out.describe(),
            cluster.stderr()
        );
    }
    let id = out.job_id();
    let (read, wrote) = out.finished_line(&id);
    assert_same_rows(
        "q5 on the standalone cluster, p=2",
        &read_sink_rows(&out_dir),
        expected,
    );
    assert_eq!(
        read,
        BID_ROWS,
        "rows read reported by the FINISHED line\n{}",
        out.describe()
    );
    assert_eq!(
        wrote,
        expected.len() as u64,
        "rows written reported by the FINISHED line\n{}",
        out.describe()
    );

    // --- the client commands
    let l = run(strom().args(["list", "--jobmanager", &jm]));
    l.assert_success();
    assert!(
        l.stdout
            .lines()
            .any(|line| line.contains(&id) && line.contains("FINISHED")),
        "`strom list` does not show {id} FINISHED\n{}",
        l.describe()
    );
    let i = run(strom().args(["info", &id, "--jobmanager", &jm]));
    i.assert_success();
    assert!(
        i.stdout.contains(&id) && i.stdout.contains("FINISHED"),
        "`strom info`\n{}",
        i.describe()
    );

    // --- REST views of the finished job
    let d = cluster.get_ok(&format!("/jobs/{id}"));
    assert_eq!(d["jid"], id.as_str(), "/jobs/{id}: {d}");
    assert_eq!(d["state"], "FINISHED", "/jobs/{id}: {d}");
    let vertices = d["vertices"]
        .as_array()
        .unwrap_or_else(|| panic!("/jobs/{id}: no vertices: {d}"));
    assert!(!vertices.is_empty(), "/jobs/{id}: empty vertices");
    for v in vertices {
        assert_eq!(v["status"], "FINISHED", "vertex of a FINISHED job: {v}");
        assert!(
            v["id"].is_string() && v["name"].is_string(),
            "vertex without id/name: {v}"
        );
        let p = v["parallelism"].as_u64().unwrap_or(0);
        assert!(
            (1..=2).contains(&p),
            "vertex parallelism {p} with -p 2: {v}"
        );
    }
    assert!(
        vertices.iter().any(|v| v["parallelism"] == 2),
        "no vertex runs with parallelism 2: {d}"
    );
    let st = cluster.get_ok(&format!("/jobs/{id}/status"));
    assert_eq!(
        st,
        serde_json::json!({"status": "FINISHED"}),
        "/jobs/{id}/status"
    );
    let plan = cluster.get_ok(&format!("/jobs/{id}/plan"));
    let nodes = plan["plan"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("/jobs/{id}/plan: no plan.nodes: {plan}"));
    assert!(!nodes.is_empty(), "/jobs/{id}/plan: no nodes: {plan}");
    assert_eq!(plan["plan"]["jid"], id.as_str(), "/jobs/{id}/plan: {plan}");
    let jo = cluster.get_ok("/jobs/overview");
    let entry = jo["jobs"]
        .as_array()
        .and_then(|a| a.iter().find(|j| j["jid"] == id.as_str()))
        .unwrap_or_else(|| panic!("/jobs/overview lacks {id}: {jo}"));
    assert_eq!(entry["state"], "FINISHED", "/jobs/overview entry: {entry}");
    let jobs = cluster.get_ok("/jobs");
    assert!(
        jobs["jobs"].as_array().is_some_and(|a| a
            .iter()
            .any(|j| j["id"] == id.as_str() && j["status"] == "FINISHED")),
        "/jobs lacks {id} FINISHED: {jobs}"
    );

    // --- errors
    cluster
        .http("GET", "/jobs/doesnotexist", None)
        .assert_error(400, "GET /jobs/doesnotexist");
    cluster
        .http("GET", "/jobs/00000000000000000000000000000000", None)
        .assert_error(404, "GET /jobs/<unknown id>");
    cluster
        .http("GET", "/jobs/00000000000000000000000000000000/status", None)
        .assert_error(404, "GET /jobs/<unknown id>/status");
    cluster
        .http("GET", "/nosuchpath", None)
        .assert_error(404, "GET /nosuchpath");
    cluster
        .http("POST", "/jobs", Some("{bad"))
        .assert_error(400, "POST /jobs {bad");

    // --- cancel an unbounded job
    let unbounded = tmp.join("unbounded.sql");
    write_text(&unbounded, UNBOUNDED_JOB);
    let sub =
        run(strom()
            .arg("sql")
            .arg("-f")
            .arg(&unbounded)
            .args(["--jobmanager", &jm, "--detached"]));
    sub.assert_success();
    let uid = sub.job_id();
    assert_ne!(uid, id);
    poll(
        "the unbounded job to be RUNNING",
        Duration::from_secs(30),
        || {
            let s = cluster.get_ok(&format!("/jobs/{uid}/status"));
            assert!(
                !matches!(
                    s["status"].as_str(),
                    Some("FAILED" | "FINISHED" | "CANCELED")
                ),
                "the unbounded job ended by itself: {s}"
            );
            (s["status"] == "RUNNING").then_some(())
        },
    );
    let r = cluster.http("PATCH", &format!("/jobs/{uid}?mode=cancel"), None);
    assert_eq!(r.status, 202, "PATCH /jobs/{uid}?mode=cancel: {}", r.body);
    assert_eq!(
        r.json("cancel response"),
        serde_json::json!({}),
        "cancel response body"
    );
    poll("the job to be CANCELED", Duration::from_secs(30), || {
        let s = cluster.get_ok(&format!("/jobs/{uid}/status"));
        (s["status"] == "CANCELED").then_some(())
    });
    let d = cluster.get_ok(&format!("/jobs/{uid}"));
    assert_eq!(d["state"], "CANCELED", "/jobs/{uid}: {d}");
    // The slots come back.
    poll(
        "all 4 slots free after the cancel",
        Duration::from_secs(10),
        || {
            let ov = cluster.get_ok("/overview");
            (ov["slots-available"] == 4).then_some(())
        },
    );
    let bad = run(strom().args([
        "cancel",
        "00000000000000000000000000000000",
        "--jobmanager",
        &jm,
    ]));
    assert!(
        bad.code.is_some() && bad.code != Some(0),
        "`strom cancel` of an unknown job must fail\n{}",
        bad.describe()
    );

    // --- the cluster is still up
    let ov = cluster.get_ok("/overview");
    assert_eq!(ov["taskmanagers"], 2, "/overview at the end: {ov}");
    assert_eq!(ov["jobs-running"], 0, "/overview at the end: {ov}");
    assert_eq!(ov["jobs-finished"], 1, "/overview at the end: {ov}");
    assert_eq!(ov["jobs-cancelled"], 1, "/overview at the end: {ov}");
    assert_eq!(ov["jobs-failed"], 0, "/overview at the end: {ov}");
    drop(cluster);
}

#[test]
fn http_client_parses_chunked_and_plain_responses() {
    let r = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "{}"));
    let r = parse_response(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n").unwrap();
    assert_eq!((r.status, r.body.as_str()), (404, "{\"a\":1}"));
}

/// `rest.auth.token`: submitting without the token is refused (401, with what to do), reads need
/// none, and the client sends `STROM_REST_TOKEN` with its mutating calls.
#[test]
fn a_cluster_with_a_rest_token_refuses_calls_without_it() {
    let cluster = Standalone::start_with(2, &["rest.auth.token=t0ken-e2e"]);
    let dir = TempDir::new("rest-token");
    let sql = dir.join("job.sql");
    write_text(
        &sql,
        "CREATE TABLE g (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '100');
CREATE TABLE b (id BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO b SELECT id FROM g;
",
    );
    let submit = |token: Option<&str>| {
        let mut cmd = strom();
        cmd.args([
            "sql",
            "-f",
            sql.to_str().unwrap(),
            "--jobmanager",
            &cluster.rest,
            "--detached",
        ])
        .env_remove("STROM_REST_TOKEN");
        if let Some(t) = token {
            cmd.env("STROM_REST_TOKEN", t);
        }
        run_with_timeout(&mut cmd, Duration::from_secs(60))
    };
    let refused = submit(None);
    assert_ne!(refused.code, Some(0), "{}", refused.describe());
    let text = format!("{}{}", refused.stdout, refused.stderr);
    assert!(
        text.contains("HTTP 401") && text.contains("STROM_REST_TOKEN"),
        "{}",
        refused.describe()
    );
    assert_eq!(cluster.get_json("/jobs")["jobs"], serde_json::json!([]));
    let wrong = submit(Some("nope"));
    assert_ne!(wrong.code, Some(0), "{}", wrong.describe());
    let ok = submit(Some("t0ken-e2e"));
    ok.assert_success();
    let id = ok.job_id();
    cluster.wait_for_state(&id, "RUNNING", Duration::from_secs(30));
    let cancel = run_with_timeout(
        strom()
            .args(["cancel", &id, "--jobmanager", &cluster.rest])
            .env("STROM_REST_TOKEN", "t0ken-e2e"),
        Duration::from_secs(30),
    );
    cancel.assert_success();
    cluster.wait_for_state(&id, "CANCELED", Duration::from_secs(30));
}
