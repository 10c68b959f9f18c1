//! End-to-end tests of the distributed cluster: a `strom jobmanager` process and `strom
//! taskmanager` processes on loopback, driven by the `strom sql` client and the REST API.
//!
//! Covered: a q5 answer over two TaskManager processes; a TaskManager started before its
//! JobManager; a TaskManager killed with SIGKILL under a running job (restart strategy); a job
//! whose only TaskManager dies and that waits for a new one; backpressure of a slow sink across
//! processes (bounded memory, bounded producer); the cluster secret.
//!
//! Every process is owned by a [`Proc`] guard that kills it on drop (also when a test panics) and
//! prints the tail of its output when the test fails.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::processes::*;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client

// ---------------------------------------------------------------------------------------------
// Jobs

const RESTART_FIXED_DELAY: &str = "SET 'restart-strategy.type' = 'fixed-delay';
SET 'restart-strategy.fixed-delay.attempts' = '3';
SET 'restart-strategy.fixed-delay.delay' = '500 ms';
";

/// The bench q5 (sink replaced by a CSV filesystem sink into `out`) over a bids datagen source of
/// `rows` rows at `rate` rows/s in total, with a fixed-delay restart strategy.
fn datagen_q5_sql(rows: u64, rate: u64, out: &Path) -> String {
    format!(
        "{RESTART_FIXED_DELAY}{}{}",
        datagen_bid_table(rows, rate),
        query_with_file_sink("q5", out)
    )
}

/// `strom sql -f FILE -p P --jobmanager URL --detached`; returns the job id.
fn submit_detached(jm: &JobManager, sql: &Path, p: u32) -> String {
    let out = run_with_timeout(
        strom().arg("sql").arg("-f").arg(sql).args([
            "-p",
            &p.to_string(),
            "--jobmanager",
            &jm.url(),
            "--detached",
        ]),
        Duration::from_secs(60),
    );
    if out.code != Some(0) {
        panic!(
            "the submission failed\n{}\n{}",
            out.describe(),
            jm.proc.describe()
        );
    }
    out.job_id()
}

/// Rows the sources have read so far (`strom-records.in` of `/jobs/:id`).
fn rows_read(job: &Value) -> u64 {
    job["strom-records"]["in"].as_u64().unwrap_or(0)
}

fn subtasks(vertex: &Value) -> &Vec<Value> {
    vertex["subtasks"]
        .as_array()
        .unwrap_or_else(|| panic!("vertex detail without subtasks: {vertex}"))
}

fn is_source(vertex: &Value) -> bool {
    vertex["name"]
        .as_str()
        .is_some_and(|n| n.starts_with("Source:"))
}

/// Sum of a subtask metric over the subtasks of a vertex detail.
fn metric_sum(vertex: &Value, metric: &str) -> u64 {
    subtasks(vertex)
        .iter()
        .map(|s| s["metrics"][metric].as_u64().unwrap_or(0))
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Tests

/// q5 at -p 4 over the generated bids file on 2 TaskManager processes of 2 slots each.
#[test]
fn q5_over_two_taskmanager_processes() {
    let expected = expected_for("q5");
    let bid_path = gen_bids();
    let jm = JobManager::start(&[]);
    let (_tm1, id1) = start_taskmanager("taskmanager-1", &jm, 2, &[]);
    let (_tm2, id2) = start_taskmanager("taskmanager-2", &jm, 2, &[]);
    assert_ne!(id1, id2, "two TaskManagers registered under one id");

    let ov = jm.overview();
    assert_eq!(ov["taskmanagers"], 2, "/overview: {ov}");
    assert_eq!(ov["slots-total"], 4, "/overview: {ov}");
    assert_eq!(ov["slots-available"], 4, "/overview: {ov}");
    let tms = jm.get("/taskmanagers");
    let list = tms["taskmanagers"].as_array().expect("taskmanagers array");
    assert_eq!(list.len(), 2, "/taskmanagers: {tms}");
    for tm in list {
        assert_eq!(tm["slotsNumber"], 2, "{tm}");
        assert!(tm["dataPort"].as_u64().is_some_and(|p| p > 0), "{tm}");
        assert!(
            tm["hardware"]["cpuCores"].as_u64().is_some_and(|c| c > 0),
            "{tm}"
        );
        let id = tm["id"].as_str().unwrap_or("");
        let one = jm.get(&format!("/taskmanagers/{id}"));
        assert_eq!(one["id"], id, "/taskmanagers/{id}: {one}");
    }
    assert_eq!(
        jm.taskmanager_ids(),
        BTreeSet::from([id1.clone(), id2.clone()]),
        "/taskmanagers: {tms}"
    );

    let tmp = TempDir::new("dist-q5");
    let out_dir = tmp.join("out");
    let sink_sql = tmp.join("q5.sql");
    write_text(&sink_sql, &query_with_file_sink("q5", &out_dir));
    let out = run_with_timeout(
        strom()
            .arg("sql")
            .arg("-f")
            .arg(bench_sql("bid_source.sql"))
            .arg("-f")
            .arg(&sink_sql)
            .args(["-p", "4", "--jobmanager", &jm.url()])
            .env("BID_PATH", &bid_path),
        Duration::from_secs(60),
    );
    if out.code != Some(0) {
        panic!("q5 on the distributed cluster failed\n{}", out.describe());
    }
    let id = out.job_id();
    let (read, wrote) = out.finished_line(&id);
    assert_same_rows(
        "q5 on 2 TaskManager processes, p=4",
        &read_sink_rows(&out_dir),
        expected,
    );
    assert_eq!(read, BID_ROWS, "{}", out.describe());
    assert_eq!(wrote, expected.len() as u64, "{}", out.describe());

    // Where the subtasks ran.
    let details = jm.vertex_details(&id);
    assert!(!details.is_empty());
    let mut all = BTreeSet::new();
    for v in &details {
        let subs = subtasks(v);
        let on: BTreeSet<String> = subs
            .iter()
            .map(|s| {
                assert_eq!(s["status"], "FINISHED", "subtask of a FINISHED job: {s}");
                assert_eq!(s["attempt"], 0, "a restart in a job without failures: {s}");
                s["taskmanager-id"].as_str().unwrap_or("<none>").to_string()
            })
            .collect();
        if v["parallelism"] == 4 {
            assert_eq!(subs.len(), 4, "{v}");
            // 4 subtasks of one vertex need the 4 slots of both TaskManagers.
            assert_eq!(
                on,
                BTreeSet::from([id1.clone(), id2.clone()]),
                "the subtasks of a p=4 vertex did not run on both TaskManagers: {v}"
            );
        }
        all.extend(on);
    }
    assert_eq!(
        all,
        BTreeSet::from([id1.clone(), id2.clone()]),
        "the job's subtasks did not run on both TaskManagers"
    );
    poll(
        "the 4 slots to be free again",
        Duration::from_secs(10),
        || (jm.overview()["slots-available"] == 4).then_some(()),
    );
}

/// A TaskManager started before its JobManager retries until the JobManager is up.
#[test]
fn taskmanager_started_first_waits_for_the_jobmanager() {
    let port = free_port();
    let rpc = format!("127.0.0.1:{port}");
    let tm = spawn_taskmanager("taskmanager (started first)", &rpc, 2, &[]);
    let warn = tm.wait_for_line("registration attempt", Duration::from_secs(10));
    assert!(
        tm.text(Stream::Stderr).contains(&warn),
        "the retry warning is not on stderr\n{}",
        tm.describe()
    );
    assert!(
        warn.contains("failed") && warn.contains("retrying in"),
        "unexpected warning: {warn}"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        !tm.text(Stream::Stdout)
            .contains("registered at the JobManager"),
        "registered while no JobManager was running\n{}",
        tm.describe()
    );
    let port_opt = format!("jobmanager.rpc.port={port}");
    let jm = JobManager::start(&[&port_opt]);
    assert_eq!(
        jm.rpc, rpc,
        "the JobManager did not take the given RPC port"
    );
    let id = registered_id(&tm, Duration::from_secs(20));
    let line = tm.wait_for_line_in(
        Some(Stream::Stdout),
        "registered at the JobManager",
        Duration::ZERO,
    );
    assert!(
        line.contains(&rpc) && line.contains("with 2 slots"),
        "{line}"
    );
    let attempts = tm
        .text(Stream::Stderr)
        .lines()
        .filter(|l| l.contains("registration attempt"))
        .count();
    assert!(
        attempts >= 2,
        "expected several failed attempts\n{}",
        tm.describe()
    );
    let ov = jm.overview();
    assert_eq!(ov["taskmanagers"], 1, "/overview: {ov}");
    assert_eq!(ov["slots-total"], 2, "/overview: {ov}");
    assert_eq!(jm.taskmanager_ids(), BTreeSet::from([id]));
}

const KILL_ROWS: u64 = 400_000;
const KILL_RATE: u64 = 50_000;

/// SIGKILL of a TaskManager under a running job: the job restarts on the remaining one and
/// finishes with the right answer.
#[test]
fn kill_a_taskmanager_and_the_job_restarts() {
    let expected = expected_for_rows("q5", KILL_ROWS);
    let jm = JobManager::start(&HB_FAST);
    let (tm1, id1) = start_taskmanager("taskmanager-1", &jm, 2, &HB_FAST);
    let (tm2, id2) = start_taskmanager("taskmanager-2", &jm, 2, &HB_FAST);
    let mut tms = [(Some(tm1), id1.clone()), (Some(tm2), id2.clone())];

    let tmp = TempDir::new("dist-kill");
    let out_dir = tmp.join("out");
    let sql = tmp.join("job.sql");
    write_text(&sql, &datagen_q5_sql(KILL_ROWS, KILL_RATE, &out_dir));
    let id = submit_detached(&jm, &sql, 2);

    // RUNNING with records flowing.
    poll(
        "the job to run and read rows",
        Duration::from_secs(30),
        || {
            let j = jm.job(&id);
            assert!(
                !matches!(
                    j["state"].as_str(),
                    Some("FAILED" | "FINISHED" | "CANCELED")
                ),
                "the job ended early: {j}"
            );
            (j["state"] == "RUNNING" && rows_read(&j) > 0).then_some(())
        },
    );
    let details = jm.vertex_details(&id);
    let source = details
        .iter()
        .find(|v| is_source(v))
        .unwrap_or_else(|| panic!("no source vertex: {details:?}"));
    let victim = subtasks(source)[0]["taskmanager-id"]
        .as_str()
        .unwrap_or_else(|| panic!("source subtask 0 has no TaskManager: {source}"))
        .to_string();
    let k = tms
        .iter()
        .position(|(_, id)| *id == victim)
        .unwrap_or_else(|| panic!("source subtask 0 runs on {victim}, not on {id1} or {id2}"));
    let before = rows_read(&jm.job(&id));
    assert!(
        before < KILL_ROWS,
        "the job read all rows before the kill; nothing is tested"
    );
    let mut killed = tms[k].0.take().expect("the victim");
    killed.kill9();
    let survivor = tms[1 - k].1.clone();
    eprintln!("killed TaskManager {victim} after {before} rows read");

    let done = jm.wait_job_state(&id, "FINISHED", Duration::from_secs(60));
    assert_same_rows(
        "q5 over datagen after a TaskManager was killed",
        &read_sink_rows(&out_dir),
        &expected,
    );
    assert_eq!(rows_read(&done), KILL_ROWS, "/jobs/{id}: {done}");

    let details = jm.vertex_details(&id);
    for v in &details {
        for s in subtasks(v) {
            let attempt = s["attempt"].as_u64().unwrap_or(0);
            assert!(attempt >= 1, "a subtask was not restarted: {s}");
            assert_eq!(s["status"], "FINISHED", "{s}");
            assert_eq!(
                s["taskmanager-id"],
                survivor.as_str(),
                "a restarted subtask is not on the surviving TaskManager: {s}"
            );
            let prior = s["strom-prior-attempts"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0);
            assert_eq!(prior as u64, attempt, "prior attempts of {s}");
        }
    }
    assert!(
        details.iter().any(|v| subtasks(v).iter().any(|s| {
            s["strom-prior-attempts"]
                .as_array()
                .is_some_and(|p| p.iter().any(|a| a["taskmanager-id"] == victim.as_str()))
        })),
        "no prior attempt ran on the killed TaskManager {victim}: {details:?}"
    );
    let ex = jm.get(&format!("/jobs/{id}/exceptions"));
    let entries = ex["exceptionHistory"]["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("/exceptions: {ex}"));
    assert!(
        entries.iter().any(|e| e["stacktrace"]
            .as_str()
            .is_some_and(|s| s.contains(&victim))),
        "no exception names the killed TaskManager {victim}: {ex}"
    );
    poll(
        "the JobManager to count 1 TaskManager",
        Duration::from_secs(10),
        || (jm.overview()["taskmanagers"] == 1).then_some(()),
    );
    let ov = jm.overview();
    assert_eq!(ov["slots-total"], 2, "/overview: {ov}");
    assert_eq!(jm.taskmanager_ids(), BTreeSet::from([survivor]));
}

/// The only TaskManager dies: the job waits for slots and finishes on a new TaskManager process.
#[test]
fn lost_slots_wait_for_a_new_taskmanager() {
    let expected = expected_for_rows("q5", KILL_ROWS);
    let jm = JobManager::start(&HB_FAST);
    let (mut tm, old_id) = start_taskmanager("taskmanager-1", &jm, 2, &HB_FAST);

    let tmp = TempDir::new("dist-lost");
    let out_dir = tmp.join("out");
    let sql = tmp.join("job.sql");
    write_text(&sql, &datagen_q5_sql(KILL_ROWS, KILL_RATE, &out_dir));
    let id = submit_detached(&jm, &sql, 2);
    poll(
        "the job to run and read rows",
        Duration::from_secs(30),
        || {
            let j = jm.job(&id);
            assert!(
                !matches!(
                    j["state"].as_str(),
                    Some("FAILED" | "FINISHED" | "CANCELED")
                ),
                "the job ended early: {j}"
            );
            (j["state"] == "RUNNING" && rows_read(&j) > 0).then_some(())
        },
    );
    assert!(rows_read(&jm.job(&id)) < KILL_ROWS);
    tm.kill9();

    poll(
        "the JobManager to count 0 TaskManagers",
        Duration::from_secs(15),
        || (jm.overview()["taskmanagers"] == 0).then_some(()),
    );
    // The restart finds no slot and waits (longer than the restart delay) instead of failing.
    let waiting = poll("the job to wait for slots", Duration::from_secs(10), || {
        let j = jm.job(&id);
        assert!(
            !matches!(
                j["state"].as_str(),
                Some("FAILED" | "FINISHED" | "CANCELED")
            ),
            "the job ended without TaskManagers: {j}\nexceptions: {}",
            jm.get(&format!("/jobs/{id}/exceptions"))
        );
        j["strom-waiting-for-slots"].as_str().map(str::to_string)
    });
    std::thread::sleep(Duration::from_millis(1500));
    let j = jm.job(&id);
    assert!(
        matches!(
            j["state"].as_str(),
            Some("RUNNING" | "RESTARTING" | "CREATED")
        ),
        "the job without slots is {}: {j}",
        j["state"]
    );
    eprintln!("while waiting: {waiting}");

    let (_tm_new, new_id) = start_taskmanager("taskmanager-2 (new)", &jm, 2, &HB_FAST);
    assert_ne!(
        new_id, old_id,
        "the new TaskManager reuses the killed one's resource id"
    );
    let done = jm.wait_job_state(&id, "FINISHED", Duration::from_secs(60));
    assert_same_rows(
        "q5 over datagen finished on a new TaskManager",
        &read_sink_rows(&out_dir),
        &expected,
    );
    assert_eq!(rows_read(&done), KILL_ROWS, "/jobs/{id}: {done}");
    for v in jm.vertex_details(&id) {
        for s in subtasks(&v) {
            assert_eq!(s["status"], "FINISHED", "{s}");
            assert_eq!(
                s["taskmanager-id"],
                new_id.as_str(),
                "a subtask did not finish on the new TaskManager: {s}"
            );
            assert!(s["attempt"].as_u64().unwrap_or(0) >= 1, "{s}");
        }
    }
    assert_eq!(jm.taskmanager_ids(), BTreeSet::from([new_id]));
}

const BACKPRESSURE_JOB: &str = "CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  date_time TIMESTAMP(3), extra STRING
) WITH ('connector' = 'datagen', 'generator' = 'bids', 'number-of-rows' = '50000000');
CREATE TABLE slow_sink (auction BIGINT, price BIGINT, extra STRING) WITH (
  'connector' = 'blackhole',
  'sink.parallelism' = '1',
  'sink.rows-per-second' = '20000'
);
INSERT INTO slow_sink SELECT auction, price, extra FROM bid;
";

const SINK_RATE: u64 = 20_000;

/// A fast source (p=2, on 2 TaskManager processes) into a slow sink (p=1): the producer is held
/// back by credits instead of buffering; memory stays bounded; the job can be canceled.
#[test]
#[allow(clippy::too_many_lines)]
fn slow_sink_backpressures_across_processes() {
    // Fresh metrics (they come with the JobManager's heartbeats), a lenient timeout.
    let hb = ["heartbeat.interval=200ms", "heartbeat.timeout=5s"];
    let jm = JobManager::start(&hb);
    let (tm1, id1) = start_taskmanager("taskmanager-1", &jm, 1, &hb);
    let (tm2, id2) = start_taskmanager("taskmanager-2", &jm, 1, &hb);
    let tmp = TempDir::new("dist-backpressure");
    let sql = tmp.join("job.sql");
    write_text(&sql, BACKPRESSURE_JOB);
    let submitted = Instant::now();
    let id = submit_detached(&jm, &sql, 2);
    poll(
        "the slow sink to receive rows",
        Duration::from_secs(30),
        || {
            let j = jm.job(&id);
            assert!(
                !matches!(
                    j["state"].as_str(),
                    Some("FAILED" | "FINISHED" | "CANCELED")
                ),
                "the job ended: {j}"
            );
            let d = jm.vertex_details(&id);
            let sink = d.iter().find(|v| !is_source(v))?;
            (j["state"] == "RUNNING" && metric_sum(sink, "read-records") > 0).then_some(())
        },
    );
    let details = jm.vertex_details(&id);
    let source = details
        .iter()
        .find(|v| is_source(v))
        .expect("source vertex");
    let sink = details.iter().find(|v| !is_source(v)).expect("sink vertex");
    assert_eq!(source["parallelism"], 2, "{source}");
    assert_eq!(sink["parallelism"], 1, "{sink}");
    let source_tms: BTreeSet<String> = subtasks(source)
        .iter()
        .map(|s| s["taskmanager-id"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        source_tms,
        BTreeSet::from([id1.clone(), id2.clone()]),
        "the 2 source subtasks should run on the 2 one-slot TaskManagers: {source}"
    );

    // Let it run, then sample twice.
    let settle = Duration::from_secs(4);
    if let Some(left) = settle.checked_sub(submitted.elapsed()) {
        std::thread::sleep(left);
    }
    let sample = |label: &str| {
        let d = jm.vertex_details(&id);
        let src = d.iter().find(|v| is_source(v)).expect("source vertex");
        let snk = d.iter().find(|v| !is_source(v)).expect("sink vertex");
        let job = jm.job(&id);
        let produced = rows_read(&job).max(metric_sum(src, "write-records"));
        let consumed = metric_sum(snk, "read-records");
        let elapsed = submitted.elapsed().as_secs_f64();
        let rss = [rss_bytes(tm1.pid()), rss_bytes(tm2.pid())];
        eprintln!(
            "{label} at {elapsed:.2} s: produced {produced}, sink read {consumed}, RSS {} MB / {} MB",
            rss[0] / MB,
            rss[1] / MB
        );
        assert_eq!(job["state"], "RUNNING", "{job}");
        (produced, consumed, elapsed, rss)
    };
    let (p1, c1, e1, rss1) = sample("sample 1");
    std::thread::sleep(Duration::from_millis(1500));
    let (p2, c2, e2, rss2) = sample("sample 2");

    for (i, (a, b)) in rss1.iter().zip(&rss2).enumerate() {
        assert!(
            *a < 400 * MB && *b < 400 * MB,
            "TaskManager {} uses too much memory: {} MB then {} MB",
            i + 1,
            a / MB,
            b / MB
        );
        assert!(
            *b < *a + 50 * MB,
            "the RSS of TaskManager {} grows: {} MB -> {} MB in 1.5 s",
            i + 1,
            a / MB,
            b / MB
        );
    }
    for (p, c, e) in [(p1, c1, e1), (p2, c2, e2)] {
        let bound = (SINK_RATE as f64 * e) as u64 + 1_000_000;
        assert!(
            p < bound,
            "the source produced {p} rows in {e:.2} s, more than the slow sink's rate allows \
             ({bound}): the producer is not held back"
        );
        assert!(
            p >= c,
            "the sink read {c} rows, more than the source produced ({p})"
        );
        assert!(
            c <= (SINK_RATE as f64 * e) as u64 + 50_000,
            "the sink read {c} rows in {e:.2} s, faster than 'sink.rows-per-second'"
        );
    }
    assert!(c2 > c1, "the sink did not progress: {c1} -> {c2}");

    // Cancel: the blocked producers must let go.
    let cancel = Instant::now();
    let r = jm.http("PATCH", &format!("/jobs/{id}?mode=cancel"));
    assert_eq!(r.status, 202, "PATCH /jobs/{id}?mode=cancel: {}", r.body);
    let j = jm.wait_job_state(&id, "CANCELED", Duration::from_secs(30));
    let took = cancel.elapsed().as_secs_f64();
    eprintln!("CANCELED {took:.2} s after the cancel request");
    // a backpressured task checks for cancellation between elements, not only when idle: it must
    // not first drain its backlog (~7 s at this sink rate before that was fixed); one slow batch
    // takes 0.4 s, so 5 s is a wide margin
    assert!(
        took < 5.0,
        "cancelling took {took:.2} s: the slow sink drained its backlog first"
    );
    for v in j["vertices"].as_array().expect("vertices") {
        assert_eq!(v["status"], "CANCELED", "{v}");
    }
    poll(
        "the 2 slots to be free again",
        Duration::from_secs(10),
        || (jm.overview()["slots-available"] == 2).then_some(()),
    );
    let ov = jm.overview();
    assert_eq!(ov["jobs-cancelled"], 1, "{ov}");
    assert_eq!(ov["jobs-running"], 0, "{ov}");
}

/// The cluster secret: a TaskManager with a wrong or no secret is refused and exits; one with
/// the right secret registers.
#[test]
fn wrong_secret_is_refused() {
    let jm = JobManager::start(&["cluster.secret=right"]);

    let mut wrong = spawn_taskmanager(
        "taskmanager (wrong secret)",
        &jm.rpc,
        2,
        &["cluster.secret=wrong"],
    );
    let status = wrong.wait_exit(Duration::from_secs(15));
    assert!(
        !status.success(),
        "a TaskManager with a wrong secret exited with {status}"
    );
    assert_eq!(status.code(), Some(1), "{}", wrong.describe());
    let err = wrong.text(Stream::Stderr);
    assert!(
        err.contains("refused this TaskManager") && err.contains("wrong cluster secret"),
        "stderr does not say the secret was wrong\n{}",
        wrong.describe()
    );
    assert!(!wrong
        .text(Stream::Stdout)
        .contains("registered at the JobManager"));

    let mut none = spawn_taskmanager("taskmanager (no secret)", &jm.rpc, 2, &[]);
    let status = none.wait_exit(Duration::from_secs(15));
    assert!(
        !status.success(),
        "a TaskManager without a secret exited with {status}"
    );
    let err = none.text(Stream::Stderr);
    assert!(
        err.contains("refused this TaskManager") && err.contains("secret"),
        "stderr does not say the secret is missing\n{}",
        none.describe()
    );

    let (_right, id) = start_taskmanager(
        "taskmanager (right secret)",
        &jm,
        2,
        &["cluster.secret=right"],
    );
    let ov = jm.overview();
    assert_eq!(ov["taskmanagers"], 1, "/overview: {ov}");
    assert_eq!(ov["slots-total"], 2, "/overview: {ov}");
    assert_eq!(jm.taskmanager_ids(), BTreeSet::from([id]));
}
