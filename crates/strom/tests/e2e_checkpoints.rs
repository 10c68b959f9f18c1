//! End-to-end tests of fault tolerance with real processes on loopback: q5 from a file source into
//! the exactly-once filesystem sink with 100 ms checkpoints on 1 JobManager + 2 TaskManagers,
//! while a harness kills a random TaskManager with SIGKILL five times (starting a replacement
//! each time); the committed output must equal the independently computed answer row for row.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::duckdb::duckdb_rows;
use common::processes::*;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// `strom sql -f FILE -p P --jobmanager URL --detached` with `BID_PATH`; returns the job id.
fn submit(jm: &JobManager, sql: &Path, p: u32, bids: &Path, extra: &[&str]) -> String {
    submit_output(jm, sql, p, bids, extra).job_id()
}

/// `strom <args> DIR -m URL` (`savepoint JOB` or `stop JOB --savepoint`): must succeed; returns
/// the savepoint's path it printed, and all it printed.
fn savepoint_with(jm: &JobManager, args: &[&str], dir: &Path) -> (String, String) {
    let out = run_with_timeout(
        strom().args(args).arg(dir).args(["-m", &jm.url()]),
        Duration::from_secs(60),
    );
    assert_eq!(out.code, Some(0), "strom {args:?}: {}", out.describe());
    let path = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Savepoint completed. Path: "))
        .unwrap_or_else(|| panic!("no savepoint path: {}", out.describe()))
        .trim()
        .to_string();
    (path, out.stdout)
}

/// [`submit`], returning what the client printed.
fn submit_output(jm: &JobManager, sql: &Path, p: u32, bids: &Path, extra: &[&str]) -> Output {
    let out = run_with_timeout(
        strom()
            .arg("sql")
            .arg("-f")
            .arg(sql)
            .args([
                "-p",
                &p.to_string(),
                "--jobmanager",
                &jm.url(),
                "--detached",
            ])
            .args(extra)
            .env("BID_PATH", bids),
        Duration::from_secs(60),
    );
    if out.code != Some(0) {
        panic!(
            "the submission failed\n{}\n{}",
            out.describe(),
            jm.proc.describe()
        );
    }
    out
}

/// The bench q5 over the bid file into a CSV filesystem sink, with checkpoints every
/// `interval` and a restart strategy that outlasts the kills.
fn q5_with_checkpoints(out: &Path, ckpt_dir: &Path, interval: &str) -> String {
    format!(
        "{}SET 'state.checkpoints.num-retained' = '2';
{}
{}",
        checkpointed_job_settings(ckpt_dir, interval),
        read_text(&bench_sql("bid_source.sql")),
        query_with_file_sink("q5", out)
    )
}

fn checkpoints(jm: &JobManager, id: &str) -> Value {
    jm.get(&format!("/jobs/{id}/checkpoints"))
}

fn completed_checkpoints(jm: &JobManager, id: &str) -> u64 {
    checkpoints(jm, id)["counts"]["completed"]
        .as_u64()
        .unwrap_or(0)
}

/// A small deterministic generator for kill times (the seed is printed to reproduce a run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below.max(1)
    }
}

const ROWS: u64 = 4_000_000;
const KILLS: usize = 5;

#[test]
#[allow(clippy::too_many_lines)]
fn q5_exactly_once_while_taskmanagers_are_killed() {
    let expected = expected_for_rows("q5", ROWS);
    let bids = gen_bids_of(ROWS);
    let jm = JobManager::start(&HB_FAST);
    let mut tms: Vec<(Option<Proc>, String)> = Vec::new();
    let mut started = 0;
    for _ in 0..2 {
        started += 1;
        let (p, id) = start_taskmanager(&format!("taskmanager-{started}"), &jm, 2, &HB_FAST);
        tms.push((Some(p), id));
    }
    let tmp = TempDir::new("ckpt-kill");
    let out_dir = tmp.join("out");
    let sql = tmp.join("job.sql");
    write_text(
        &sql,
        &q5_with_checkpoints(&out_dir, &tmp.join("checkpoints"), "100ms"),
    );
    let seed = std::env::var("STROM_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("kill schedule seed: {seed} (STROM_KILL_SEED={seed} repeats it)");
    let mut rng = Lcg(seed);
    let id = submit(&jm, &sql, 2, &bids, &[]);

    let mut kills = 0;
    let mut restored_from = Vec::new();
    while kills < KILLS {
        // RUNNING again, with a checkpoint completed since the last kill
        let before = completed_checkpoints(&jm, &id);
        let state = poll(
            "the job to run and complete a checkpoint",
            Duration::from_secs(120),
            || {
                let j = jm.job(&id);
                let s = j["state"].as_str().unwrap_or("").to_string();
                if matches!(s.as_str(), "FAILED" | "CANCELED") {
                    panic!(
                        "the job is {s}: {j}\nexceptions: {}",
                        jm.get(&format!("/jobs/{id}/exceptions"))
                    );
                }
                if s == "FINISHED" {
                    return Some(s);
                }
                (s == "RUNNING" && completed_checkpoints(&jm, &id) > before).then_some(s)
            },
        );
        if state == "FINISHED" {
            break;
        }
        // then a random moment within the next checkpoint intervals
        std::thread::sleep(Duration::from_millis(rng.next(300)));
        let k = rng.next(tms.len() as u64) as usize;
        let (mut victim, victim_id) = (tms[k].0.take().expect("alive"), tms[k].1.clone());
        victim.kill9();
        kills += 1;
        let ck = checkpoints(&jm, &id);
        eprintln!(
            "kill {kills}: TaskManager {victim_id} (latest completed checkpoint {})",
            ck["latest"]["completed"]["id"]
        );
        restored_from.push(ck["latest"]["completed"]["id"].as_u64().unwrap_or(0));
        started += 1;
        let (p, nid) = start_taskmanager(&format!("taskmanager-{started}"), &jm, 2, &HB_FAST);
        tms[k] = (Some(p), nid);
    }
    let done = jm.wait_job_state(&id, "FINISHED", Duration::from_secs(300));
    assert_eq!(
        kills, KILLS,
        "the job finished after {kills} kills: make it longer (more rows) so that every kill lands"
    );
    let rows = read_sink_rows(&out_dir);
    assert_same_rows(
        "q5 exactly once after 5 TaskManager kills",
        &rows,
        &expected,
    );
    // the killed attempts' in-progress files were removed when the next attempts restored
    let hidden: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "files left behind: {hidden:?}");
    let ck = checkpoints(&jm, &id);
    assert!(
        ck["counts"]["restored"].as_u64().unwrap_or(0) >= 1,
        "no restore counted: {ck}"
    );
    let ex = jm.get(&format!("/jobs/{id}/exceptions"));
    let entries = ex["exceptionHistory"]["entries"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    assert!(
        entries >= KILLS,
        "{entries} failures recorded for {KILLS} kills: {ex}"
    );
    eprintln!(
        "finished after {KILLS} kills; restored from checkpoints {restored_from:?}; job: {}",
        done["duration"]
    );
}

/// Checkpoints complete on an embedded cluster and /checkpoints shows them; the output is exact.
#[test]
fn checkpoints_complete_and_the_answer_is_exact() {
    let rows = 1_000_000;
    let expected = expected_for_rows("q5", rows);
    let bids = gen_bids_of(rows);
    let jm = JobManager::start(&["taskmanager.numberOfTaskSlots=2"]);
    let tmp = TempDir::new("ckpt-embedded");
    let out_dir = tmp.join("out");
    let sql = tmp.join("job.sql");
    write_text(
        &sql,
        &q5_with_checkpoints(&out_dir, &tmp.join("checkpoints"), "50ms"),
    );
    let (_tm, _) = start_taskmanager("taskmanager-1", &jm, 2, &[]);
    let id = submit(&jm, &sql, 2, &bids, &[]);
    let started = Instant::now();
    jm.wait_job_state(&id, "FINISHED", Duration::from_secs(120));
    let ck = checkpoints(&jm, &id);
    eprintln!(
        "{:.1} s; checkpoints: {}",
        started.elapsed().as_secs_f64(),
        ck["counts"]
    );
    assert_same_rows("q5 with checkpoints", &read_sink_rows(&out_dir), &expected);
    assert!(ck["counts"]["completed"].as_u64().unwrap_or(0) >= 1, "{ck}");
    let latest = &ck["latest"]["completed"];
    assert!(latest["state_size"].as_u64().unwrap_or(0) > 0, "{ck}");
    let cid = latest["id"].as_u64().unwrap();
    let detail = jm.get(&format!("/jobs/{id}/checkpoints/details/{cid}"));
    assert_eq!(detail["status"], "COMPLETED", "{detail}");
    // a finished job's checkpoints are deleted (Flink's NO_EXTERNALIZED_CHECKPOINTS)
    let job_dir = tmp.join("checkpoints").join(&id);
    poll(
        "the checkpoints to be deleted",
        Duration::from_secs(10),
        || (!job_dir.exists()).then_some(()),
    );
}

/// q5 over a rate-limited datagen source of the benchmark's bids into the exactly-once
/// filesystem sink, with checkpoints.
fn q5_datagen_sql(rows: u64, rate: u64, out: &Path, ckpt_dir: &Path) -> String {
    format!(
        "SET 'execution.checkpointing.interval' = '200ms';
SET 'state.checkpoints.dir' = '{}';
{}{}",
        ckpt_dir.display(),
        datagen_bid_table(rows, rate),
        query_with_file_sink("q5", out)
    )
}

/// Stop-with-savepoint mid-stream (`strom stop --savepoint`), resume at another parallelism
/// (`strom sql --from-savepoint`): the output of both runs together is exact.
#[test]
fn stop_with_savepoint_and_resume_at_another_parallelism() {
    const ROWS: u64 = 300_000;
    let expected = expected_for_rows("q5", ROWS);
    let jm = JobManager::start(&HB_FAST);
    let (_tm1, _) = start_taskmanager("taskmanager-1", &jm, 2, &HB_FAST);
    let (_tm2, _) = start_taskmanager("taskmanager-2", &jm, 2, &HB_FAST);
    let tmp = TempDir::new("ckpt-savepoint");
    let out_dir = tmp.join("out");
    let sql = tmp.join("job.sql");
    write_text(
        &sql,
        &q5_datagen_sql(ROWS, 60_000, &out_dir, &tmp.join("checkpoints")),
    );
    let bids = gen_bids_of(ROWS);
    let id = submit(&jm, &sql, 2, &bids, &[]);
    poll(
        "a checkpoint of the first run",
        Duration::from_secs(60),
        || {
            (jm.job(&id)["state"] == "RUNNING" && completed_checkpoints(&jm, &id) >= 2)
                .then_some(())
        },
    );
    let savepoints = tmp.join("savepoints");
    let (path, _) = savepoint_with(&jm, &["stop", &id, "--savepoint"], &savepoints);
    let first = jm.wait_job_state(&id, "FINISHED", Duration::from_secs(30));
    let read_first = first["strom-records"]["in"].as_u64().unwrap_or(0);
    assert!(
        read_first > 0 && read_first < ROWS,
        "the first run read {read_first} of {ROWS} rows: the stop did not land mid-stream"
    );
    assert!(Path::new(&path).join("_metadata").is_file(), "{path}");

    // resume at parallelism 1 from the savepoint
    let out = submit_output(&jm, &sql, 1, &bids, &["--from-savepoint", &path]);
    // before it runs, the client says which operators get state
    assert!(
        out.stdout
            .contains(&format!("Restoring the job's state from {path}:"))
            && out.stdout.contains(
                "GlobalWindowAggregate: state restored from 2 subtask(s) (parallelism 2 -> 1)"
            )
            && out
                .stdout
                .contains("Source: bid: state restored from 2 subtask(s)"),
        "{}",
        out.describe()
    );
    let resumed = out.job_id();
    let done = jm.wait_job_state(&resumed, "FINISHED", Duration::from_secs(120));
    let ck = checkpoints(&jm, &resumed);
    assert_eq!(ck["latest"]["restored"]["is_savepoint"], true, "{ck}");
    let read_second = done["strom-records"]["in"].as_u64().unwrap_or(0);
    assert_eq!(
        read_first + read_second,
        ROWS,
        "rows read before the savepoint + after it"
    );
    assert_same_rows(
        "q5 stopped with a savepoint at p=2 and resumed at p=1",
        &read_sink_rows(&out_dir),
        &expected,
    );
}

/// `kill -9` of a JobManager without high availability mid-job: the JobManager started in its
/// place says in its log which checkpoint the job retained and how to resume it; resumed from
/// there, the committed output of both runs together is exact.
#[test]
fn a_restarted_jobmanager_names_the_retained_checkpoint_to_resume_from() {
    const ROWS: u64 = 300_000;
    let tmp = TempDir::new("ckpt-jm-restart");
    let (out_dir, ckpts) = (tmp.join("out"), tmp.join("checkpoints"));
    let dir = format!("state.checkpoints.dir={}", ckpts.display());
    let conf = [HB_FAST[0], HB_FAST[1], dir.as_str()];
    let mut jm = JobManager::start(&conf);
    let (mut tm, _) = start_taskmanager("taskmanager-1", &jm, 2, &HB_FAST);
    let sql = tmp.join("job.sql");
    write_text(&sql, &q5_datagen_sql(ROWS, 60_000, &out_dir, &ckpts));
    let bids = gen_bids_of(ROWS);
    let id = submit(&jm, &sql, 2, &bids, &[]);
    poll("two checkpoints", Duration::from_secs(60), || {
        (jm.job(&id)["state"] == "RUNNING" && completed_checkpoints(&jm, &id) >= 2).then_some(())
    });
    jm.proc.kill9();
    tm.kill9();
    let jm = JobManager::start(&conf);
    let line = jm
        .proc
        .wait_for_line(&format!("job {id}: checkpoint"), Duration::from_secs(30));
    let path = line
        .split("--from-savepoint ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no path to resume from in '{line}'"))
        .to_string();
    assert!(Path::new(&path).join("_metadata").is_file(), "{line}");
    let (_tm, _) = start_taskmanager("taskmanager-2", &jm, 2, &HB_FAST);
    let out = submit_output(&jm, &sql, 2, &bids, &["--from-savepoint", &path]);
    jm.wait_job_state(&out.job_id(), "FINISHED", Duration::from_secs(120));
    assert_same_rows(
        "q5 resumed from the checkpoint a killed JobManager retained",
        &read_sink_rows(&out_dir),
        &expected_for_rows("q5", ROWS),
    );
}

/// `strom stop --drain` mid-stream: event time advances to the end before the savepoint, so
/// every window of the rows read fires; at p=1 the rows read are the generator's first rows,
/// and the output is exactly q5 over them (without --drain, the open windows would stay in the
/// savepoint).
#[test]
fn stop_with_drain_fires_every_window_of_the_rows_read() {
    const ROWS: u64 = 300_000;
    let jm = JobManager::start(&HB_FAST);
    let (_tm, _) = start_taskmanager("taskmanager-1", &jm, 2, &HB_FAST);
    let tmp = TempDir::new("ckpt-drain");
    let out_dir = tmp.join("out");
    let sql = tmp.join("job.sql");
    write_text(
        &sql,
        &q5_datagen_sql(ROWS, 60_000, &out_dir, &tmp.join("checkpoints")),
    );
    let bids = gen_bids_of(ROWS);
    let id = submit(&jm, &sql, 1, &bids, &[]);
    poll("a checkpoint", Duration::from_secs(60), || {
        (jm.job(&id)["state"] == "RUNNING" && completed_checkpoints(&jm, &id) >= 2).then_some(())
    });
    let (_, printed) = savepoint_with(
        &jm,
        &["stop", &id, "--drain", "--savepoint"],
        &tmp.join("savepoints"),
    );
    assert!(printed.contains("Draining job"), "{printed}");
    let done = jm.wait_job_state(&id, "FINISHED", Duration::from_secs(30));
    let read = done["strom-records"]["in"].as_u64().unwrap_or(0);
    assert!(
        read > 0 && read < ROWS,
        "the job read {read} of {ROWS} rows: the stop did not land mid-stream"
    );
    assert_same_rows(
        &format!("q5 drained after {read} rows"),
        &read_sink_rows(&out_dir),
        &expected_for_rows("q5", read),
    );
}

/// A savepoint of another query: refused with the operators that would lose state, accepted with
/// --allow-non-restored-state; a missing savepoint names the file.
#[test]
fn restore_errors_name_the_file_and_the_operators() {
    let jm = JobManager::start(&HB_FAST);
    let (_tm, _) = start_taskmanager("taskmanager-1", &jm, 2, &HB_FAST);
    let tmp = TempDir::new("ckpt-restore-errors");
    let sql = tmp.join("job.sql");
    write_text(
        &sql,
        &q5_datagen_sql(200_000, 50_000, &tmp.join("out"), &tmp.join("checkpoints")),
    );
    let bids = gen_bids_of(200_000);
    let missing = tmp.join("no-such-savepoint");
    let out = run_with_timeout(
        strom()
            .arg("sql")
            .arg("-f")
            .arg(&sql)
            .args(["--jobmanager", &jm.url(), "--detached", "-s"])
            .arg(&missing)
            .env("BID_PATH", &bids),
        Duration::from_secs(60),
    );
    assert_ne!(out.code, Some(0), "{}", out.describe());
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains(&format!("{}/_metadata does not exist", missing.display())),
        "{}",
        out.describe()
    );
    // a savepoint of q5, restored into q0 (a stateless query: q5's aggregate has no taker)
    let id = submit(&jm, &sql, 1, &bids, &[]);
    poll("a checkpoint", Duration::from_secs(60), || {
        (completed_checkpoints(&jm, &id) >= 1).then_some(())
    });
    let (path, _) = savepoint_with(&jm, &["savepoint", &id], &tmp.join("savepoints"));
    let _ = jm.http("PATCH", &format!("/jobs/{id}"));
    let q0 = tmp.join("q0.sql");
    write_text(
        &q0,
        &q5_datagen_sql(200_000, 50_000, &tmp.join("out0"), &tmp.join("checkpoints")).replace(
            &query_with_file_sink("q5", &tmp.join("out0")),
            &query_with_file_sink("q0", &tmp.join("out0")),
        ),
    );
    let refused = run_with_timeout(
        strom()
            .arg("sql")
            .arg("-f")
            .arg(&q0)
            .args(["--jobmanager", &jm.url(), "--detached", "-s", &path])
            .env("BID_PATH", &bids),
        Duration::from_secs(60),
    );
    assert_ne!(refused.code, Some(0), "{}", refused.describe());
    let text = format!("{}{}", refused.stdout, refused.stderr);
    assert!(
        text.contains("has state for operators this job does not have")
            && text.contains("--allow-non-restored-state"),
        "{}",
        refused.describe()
    );
    let allowed = submit(
        &jm,
        &q0,
        1,
        &bids,
        &["-s", &path, "--allow-non-restored-state"],
    );
    jm.wait_job_state(&allowed, "RUNNING", Duration::from_secs(30));
    let _ = jm.http("PATCH", &format!("/jobs/{allowed}"));
}

/// The latest checkpoint's metadata is corrupt when a TaskManager dies: the job restores from the
/// previous retained checkpoint, says so in its exception history, and the answer stays exact.
#[test]
fn an_unreadable_latest_checkpoint_falls_back_to_the_previous_one() {
    const ROWS: u64 = 300_000;
    let expected = expected_for_rows("q5", ROWS);
    let jm = JobManager::start(&HB_FAST);
    let (mut tm1, _) = start_taskmanager("taskmanager-1", &jm, 2, &HB_FAST);
    let (_tm2, _) = start_taskmanager("taskmanager-2", &jm, 2, &HB_FAST);
    let tmp = TempDir::new("ckpt-fallback");
    let out_dir = tmp.join("out");
    let ckpt_dir = tmp.join("checkpoints");
    let sql = tmp.join("job.sql");
    write_text(
        &sql,
        &q5_datagen_sql(ROWS, 30_000, &out_dir, &ckpt_dir)
            .replace("'200ms'", "'2s'")
            .replace(
                "SET 'state.checkpoints.dir'",
                "SET 'state.checkpoints.num-retained' = '2';
SET 'restart-strategy.type' = 'fixed-delay';
SET 'restart-strategy.fixed-delay.attempts' = '5';
SET 'restart-strategy.fixed-delay.delay' = '100 ms';
SET 'state.checkpoints.dir'",
            ),
    );
    let id = submit(&jm, &sql, 2, &gen_bids_of(ROWS), &[]);
    // right after the second checkpoint completed (the next one is 2 s away)
    let latest = poll("two checkpoints", Duration::from_secs(60), || {
        let ck = checkpoints(&jm, &id);
        (ck["counts"]["completed"].as_u64().unwrap_or(0) >= 2)
            .then(|| ck["latest"]["completed"]["id"].as_u64().unwrap())
    });
    let metadata = ckpt_dir
        .join(&id)
        .join(format!("chk-{latest}"))
        .join("_metadata");
    std::fs::write(&metadata, b"{ not json").unwrap();
    tm1.kill9();
    let done = jm.wait_job_state(&id, "FINISHED", Duration::from_secs(120));
    let ck = checkpoints(&jm, &id);
    let restored = ck["latest"]["restored"]["id"].as_u64().unwrap_or(0);
    assert!(
        restored < latest && restored > 0,
        "restored from {restored}, the corrupt one is {latest}: {ck}"
    );
    let ex = jm.get(&format!("/jobs/{id}/exceptions")).to_string();
    assert!(
        ex.contains(&format!("checkpoint {latest} cannot be restored"))
            && ex.contains(&format!("chk-{latest}/_metadata is corrupt")),
        "{ex}"
    );
    assert!(
        done["strom-records"]["in"].as_u64().unwrap_or(0) > 0,
        "{done}"
    );
    assert_same_rows(
        "q5 restored from the previous checkpoint",
        &read_sink_rows(&out_dir),
        &expected,
    );
}

/// The new stateful operators of streaming SQL through failures and a rescale, on a real
/// cluster: a window Top-N (WindowRank) and a regular join with a state TTL (the changelog
/// join's state) over a paced datagen source, into two exactly-once filesystem sinks of one
/// statement set, at parallelism 1. Each TaskManager is killed with SIGKILL once while it runs
/// (a replacement started each time), then the job is stopped with a savepoint and resumed at
/// parallelism 3. Both sinks hold DuckDB's answers, no row lost, none twice.
#[test]
#[allow(clippy::too_many_lines)]
fn window_top_n_and_a_ttl_join_survive_kills_and_a_savepoint_at_parallelism_three() {
    // 12 s of rows at 25,000 rows/s: the kills and the stop land mid-stream, also on a loaded
    // machine
    const ROWS: u64 = 300_000;
    let jm = JobManager::start(&HB_FAST);
    let mut tms: Vec<Option<Proc>> = (0..2)
        .map(|i| Some(start_taskmanager(&format!("taskmanager-{i}"), &jm, 2, &HB_FAST).0))
        .collect();
    let tmp = TempDir::new("ckpt-new-operators");
    let (top_dir, join_dir) = (tmp.join("top"), tmp.join("join"));
    let sql = tmp.join("job.sql");
    write_text(
        &sql,
        &format!(
            "{}{}
CREATE TABLE top_t (ws TIMESTAMP(3), price BIGINT, rn BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
CREATE TABLE join_t (auction BIGINT, bidder BIGINT, p1 BIGINT, p2 BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
EXECUTE STATEMENT SET BEGIN
INSERT INTO top_t SELECT window_start, price, rn FROM (SELECT *, ROW_NUMBER() OVER
  (PARTITION BY window_start, window_end ORDER BY price DESC) AS rn
  FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND))) WHERE rn <= 3;
INSERT INTO join_t SELECT /*+ STATE_TTL('a' = '1 h', 'b' = '1 h') */ a.auction, a.bidder, a.price, b.price
  FROM bid a JOIN bid b ON a.auction = b.auction AND a.bidder = b.bidder AND a.price < b.price;
END;
",
            checkpointed_job_settings(&tmp.join("checkpoints"), "200ms"),
            datagen_bid_table(ROWS, 25_000),
            top_dir.display(),
            join_dir.display()
        ),
    );
    let bids = gen_bids_of(ROWS);
    let id = submit(&jm, &sql, 1, &bids, &[]);
    for (kill, tm) in tms.iter_mut().enumerate() {
        let before = completed_checkpoints(&jm, &id);
        poll(
            "the job to run and complete a checkpoint",
            Duration::from_secs(120),
            || {
                let s = jm.job(&id)["state"].as_str().unwrap_or("").to_string();
                assert!(
                    !matches!(s.as_str(), "FAILED" | "CANCELED" | "FINISHED"),
                    "the job is {s} before kill {kill}"
                );
                (s == "RUNNING" && completed_checkpoints(&jm, &id) > before).then_some(())
            },
        );
        tm.take().expect("alive").kill9();
        *tm = Some(start_taskmanager(&format!("taskmanager-r{kill}"), &jm, 2, &HB_FAST).0);
    }
    // the killed TaskManagers are gone from the cluster before the stop: a resumed job deployed
    // to one still listed fails its deployment, and then waits past this test's timeout (a
    // scheduler bug seen here, left for the scale issue)
    poll(
        "the JobManager to drop the killed TaskManagers",
        Duration::from_secs(60),
        || {
            let tms = jm.get("/taskmanagers")["taskmanagers"]
                .as_array()
                .map_or(0, |a| a.len());
            (tms == 2).then_some(())
        },
    );
    let before = completed_checkpoints(&jm, &id);
    poll(
        "a checkpoint after the kills",
        Duration::from_secs(120),
        || {
            let state = jm.job(&id)["state"].as_str().unwrap_or("").to_string();
            assert_ne!(
                state, "FINISHED",
                "the job ended before the savepoint: give it more rows"
            );
            (state == "RUNNING" && completed_checkpoints(&jm, &id) > before).then_some(())
        },
    );
    let (path, _) = savepoint_with(&jm, &["stop", &id, "--savepoint"], &tmp.join("savepoints"));
    let first = jm.wait_job_state(&id, "FINISHED", Duration::from_secs(60));
    let read_first = first["strom-records"]["in"].as_u64().unwrap_or(0);
    assert!(
        read_first < 2 * ROWS,
        "the first run read all {read_first} rows of both scans: the stop did not land mid-stream"
    );
    let out = submit_output(&jm, &sql, 3, &bids, &["--from-savepoint", &path]);
    assert!(
        out.stdout
            .contains("WindowRank: state restored from 1 subtask(s) (parallelism 1 -> 3)")
            && out
                .stdout
                .contains("Join: state restored from 1 subtask(s) (parallelism 1 -> 3)"),
        "{}",
        out.describe()
    );
    jm.wait_job_state(&out.job_id(), "FINISHED", Duration::from_secs(180));
    let top = duckdb_rows(
        &bids,
        "SELECT strftime(ws, '%Y-%m-%d %H:%M:%S.%g'), price, rn FROM (SELECT ws, price, \
         ROW_NUMBER() OVER (PARTITION BY ws ORDER BY price DESC) AS rn FROM \
         (SELECT time_bucket(INTERVAL 2 SECOND, date_time) AS ws, price FROM bid)) WHERE rn <= 3",
    );
    assert_same_rows("window Top-N", &read_sink_rows(&top_dir), &top);
    let join = duckdb_rows(
        &bids,
        "SELECT a.auction, a.bidder, a.price, b.price FROM bid a JOIN bid b \
         ON a.auction = b.auction AND a.bidder = b.bidder AND a.price < b.price",
    );
    assert!(!join.is_empty());
    assert_same_rows("regular join with a TTL", &read_sink_rows(&join_dir), &join);
}
