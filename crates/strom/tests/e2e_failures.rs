//! End-to-end tests of how `strom sql` reports failures: checkpoints that cannot be written fail
//! the job over past `execution.checkpointing.tolerable-failed-checkpoints` (and the CLI counts
//! them); a deterministic error in the data fails a streaming job at once instead of restarting
//! it forever; stderr redirected to a file holds no terminal codes; a killed TaskManager is the
//! root cause of the failover it causes.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::processes::*;
use common::*;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// An unbounded bids datagen table (`bid`) at `rate` rows/s and a blackhole sink `out`.
fn unbounded_bids(rate: u64) -> String {
    format!(
        "CREATE TABLE bid (
  auction   BIGINT,
  bidder    BIGINT,
  price     BIGINT,
  channel   STRING,
  url       STRING,
  date_time TIMESTAMP(3),
  extra     STRING
) WITH (
  'connector' = 'datagen',
  'generator' = 'bids',
  'rows-per-second' = '{rate}'
);
CREATE TABLE out (auction BIGINT, price BIGINT) WITH ('connector' = 'blackhole');
"
    )
}

/// Runs `sql` with `strom sql` (stderr into a file of `tmp`), which must exit 1; returns the
/// `Job ... FAILED in ...` summary line, stdout and stderr.
fn run_failing(sql: &Path, tmp: &TempDir) -> (String, String, String) {
    let err_file = tmp.join("stderr.txt");
    let (code, stdout, stderr) = run_to_file(sql, &err_file, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&stderr).into_owned();
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{err}");
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("Job ") && l.contains(" FAILED in "))
        .unwrap_or_else(|| panic!("no FAILED summary\nstdout:\n{stdout}\nstderr:\n{err}"))
        .to_string();
    (summary, stdout, err)
}

/// `strom sql -f <sql>` (embedded) with stderr written to `stderr_file`; returns (exit code,
/// stdout, the bytes of stderr).
fn run_to_file(
    sql: &Path,
    stderr_file: &Path,
    timeout: Duration,
) -> (Option<i32>, String, Vec<u8>) {
    let file = std::fs::File::create(stderr_file).expect("the stderr file");
    let mut child = strom()
        .arg("sql")
        .arg("-f")
        .arg(sql)
        .env_remove("STROM_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(file))
        .spawn()
        .expect("strom sql starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let started = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s.code();
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let err = std::fs::read(stderr_file).unwrap_or_default();
            panic!(
                "strom sql still runs after {timeout:?} (restarting forever?)\n--- stderr ---\n{}",
                tail(&String::from_utf8_lossy(&err), 4000)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = reader.join().expect("stdout reader");
    (
        code,
        stdout,
        std::fs::read(stderr_file).expect("the stderr file"),
    )
}

fn assert_no_terminal_codes(what: &str, bytes: &[u8]) {
    assert!(
        !bytes.contains(&0x1b),
        "{what} holds ESC bytes (terminal codes) though it is no terminal:\n{}",
        String::from_utf8_lossy(bytes)
    );
}

/// A checkpoint directory where nothing can be written (the base exists; nothing can be created
/// under it, also for root): every checkpoint fails. With Flink's default (0 tolerated) the
/// first failure fails the job over; with `none` as restart strategy it ends FAILED, the root
/// cause names the exceeded threshold and why the checkpoint failed, and the summary counts the
/// failed checkpoint. With 2 tolerated, the third failure does it. Stderr, redirected to a file,
/// has no terminal codes (no colours, no line redraws).
#[test]
fn checkpoints_that_cannot_be_written_fail_the_job_and_the_cli_counts_them() {
    let tmp = TempDir::new("ckpt-unwritable");
    for (tolerable, failed) in [(None, 1), (Some(2), 3)] {
        let sql = tmp.join("job.sql");
        let tolerate = tolerable
            .map(|n| {
                format!("SET 'execution.checkpointing.tolerable-failed-checkpoints' = '{n}';\n")
            })
            .unwrap_or_default();
        write_text(
            &sql,
            &format!(
                "SET 'execution.checkpointing.interval' = '300ms';
SET 'state.checkpoints.dir' = '/proc';
SET 'restart-strategy.type' = 'none';
{tolerate}{}INSERT INTO out SELECT auction, price FROM bid;
",
                unbounded_bids(2_000)
            ),
        );
        let (summary, stdout, err) = run_failing(&sql, &tmp);
        assert!(
            summary.ends_with(&format!("; checkpoints: 0 completed, {failed} failed")),
            "{summary}"
        );
        let cause = err
            .lines()
            .find_map(|l| l.strip_prefix("Root cause: "))
            .unwrap_or_else(|| panic!("no root cause\n{err}"));
        let n = tolerable.unwrap_or(0);
        assert!(
            cause.starts_with(&format!(
                "Exceeded checkpoint tolerable failure threshold \
                 (execution.checkpointing.tolerable-failed-checkpoints = {n}): checkpoint {failed} failed: "
            )) && cause.contains("/proc/"),
            "{cause}"
        );
        // the progress line is there, as plain lines
        assert!(err.contains(" rows in, "), "no progress line:\n{err}");
        assert_no_terminal_codes("stderr", err.as_bytes());
        assert_no_terminal_codes("stdout", stdout.as_bytes());
    }

    // a directory that cannot even be created (its parent is a regular file) is refused at
    // submission, naming it
    let file = tmp.join("a-file");
    write_text(&file, "not a directory");
    let sql = tmp.join("refused.sql");
    write_text(
        &sql,
        &format!(
            "SET 'execution.checkpointing.interval' = '300ms';
SET 'state.checkpoints.dir' = '{}/checkpoints';
{}INSERT INTO out SELECT auction, price FROM bid;
",
            file.display(),
            unbounded_bids(2_000)
        ),
    );
    let out = run_with_timeout(strom().arg("sql").arg("-f").arg(&sql), CMD_TIMEOUT);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("The job was rejected")
            && out
                .stderr
                .contains(&format!("{}/checkpoints", file.display())),
        "{}",
        out.describe()
    );
}

/// A streaming job whose expression fails on every row (CAST of a channel name to INT), with
/// checkpoints on (Flink's default restart strategy then: exponential delay, unlimited) ends
/// FAILED at once with the cause naming the operator, instead of restarting forever without
/// output.
#[test]
fn a_deterministic_error_fails_a_streaming_job_instead_of_restarting_forever() {
    let tmp = TempDir::new("deterministic-error");
    let sql = tmp.join("job.sql");
    write_text(
        &sql,
        &format!(
            "SET 'execution.checkpointing.interval' = '1s';
SET 'state.checkpoints.dir' = '{}';
{}INSERT INTO out SELECT auction, CAST(channel AS BIGINT) FROM bid;
",
            tmp.join("checkpoints").display(),
            unbounded_bids(1_000)
        ),
    );
    let (summary, _, err) = run_failing(&sql, &tmp);
    assert!(!summary.contains("restart"), "it restarted: {summary}");
    let cause = err
        .lines()
        .find_map(|l| l.strip_prefix("Root cause: "))
        .unwrap_or_else(|| panic!("no root cause\n{err}"));
    assert!(
        cause.contains("expression evaluation failed in Calc")
            && ["Google", "Facebook", "Baidu", "Apple"]
                .iter()
                .any(|c| cause.contains(c)),
        "{cause}"
    );
    assert_no_terminal_codes("stderr", err.as_bytes());
}

/// A TaskManager process killed under a job spread over two: the job (no restarts) fails, and
/// its root cause, in the exception history and from `strom sql`, is the lost TaskManager, not
/// the broken data connections its peers noticed first.
#[test]
fn a_killed_taskmanager_is_the_root_cause_of_the_failure() {
    let jm = JobManager::start(&HB_FAST);
    let (tm1, id1) = start_taskmanager("taskmanager-1", &jm, 1, &HB_FAST);
    let (tm2, id2) = start_taskmanager("taskmanager-2", &jm, 1, &HB_FAST);
    let mut tms = [(Some(tm1), id1), (Some(tm2), id2)];
    let tmp = TempDir::new("tm-root-cause");
    let sql = tmp.join("job.sql");
    // p=2 over 1-slot TaskManagers: each holds one subtask of every vertex, and the hash
    // exchange of the aggregation connects them
    write_text(
        &sql,
        &format!(
            "SET 'restart-strategy.type' = 'none';
{}CREATE TABLE counts (auction BIGINT, n BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO counts SELECT auction, COUNT(*) FROM bid GROUP BY auction;
",
            unbounded_bids(5_000)
        ),
    );
    let mut cli = Proc::spawn(
        "strom sql",
        strom()
            .arg("sql")
            .arg("-f")
            .arg(&sql)
            .args(["-p", "2", "--jobmanager", &jm.url()]),
    );
    let line = cli.wait_for_line_in(
        Some(Stream::Stdout),
        "Job has been submitted with JobID ",
        Duration::from_secs(30),
    );
    let id = line.trim().rsplit(' ').next().unwrap_or("").to_string();
    poll(
        "the job to run and read rows",
        Duration::from_secs(30),
        || {
            let j = jm.job(&id);
            (j["state"] == "RUNNING" && j["strom-records"]["in"].as_u64().unwrap_or(0) > 0)
                .then_some(())
        },
    );
    let (victim_proc, victim) = &mut tms[0];
    victim_proc.take().expect("the victim").kill9();
    let victim = victim.clone();

    let status = cli.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{}", cli.describe());
    let err = cli.text(Stream::Stderr);
    let cause = err
        .lines()
        .find_map(|l| l.strip_prefix("Root cause: "))
        .unwrap_or_else(|| panic!("no root cause\n{}", cli.describe()));
    assert!(
        cause.contains(&format!("TaskManager with id {victim}"))
            && cause.contains("is no longer reachable"),
        "{cause}"
    );
    let ex = jm.get(&format!("/jobs/{id}/exceptions"));
    let entries = ex["exceptionHistory"]["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("/exceptions: {ex}"));
    assert_eq!(entries.len(), 1, "one failover: {ex}");
    let root = &entries[0];
    assert!(
        root["stacktrace"]
            .as_str()
            .is_some_and(|s| s.contains(&format!("TaskManager with id {victim}"))),
        "the root exception does not name the killed TaskManager {victim}: {ex}"
    );
    assert_eq!(root["taskManagerId"], victim.as_str(), "{ex}");
}
