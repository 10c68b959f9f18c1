//! High availability of the JobManager with a real etcd (started by the test on loopback): the
//! JobManagers of a cluster elect one leader, the others stand by; a leader frozen (SIGSTOP)
//! past its lease is replaced and, resumed, finds itself deposed and exits; a leader killed
//! (SIGKILL) is replaced; TaskManagers follow each new leader (they find it in etcd), and jobs
//! submitted to it run with the right answer.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::etcd::Etcd;
use common::processes::*;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// A batch job on the leader `jm`: 1,000 ids counted by `id % 10` into CSV files.
fn count_job(jm: &JobManager, tmp: &TempDir, tag: &str) {
    let out = tmp.join(&format!("out-{tag}"));
    let sql = tmp.join(&format!("{tag}.sql"));
    write_text(
        &sql,
        &format!(
            "SET 'execution.runtime-mode' = 'batch';
CREATE TABLE s (id BIGINT) WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence',
  'fields.id.start' = '0', 'fields.id.end' = '999');
CREATE TABLE o (k BIGINT, n BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO o SELECT id % 10, COUNT(*) FROM s GROUP BY id % 10;",
            out.display()
        ),
    );
    run_with_timeout(
        strom()
            .args(["sql", "-f"])
            .arg(&sql)
            .args(["-p", "2", "--jobmanager", &jm.url()]),
        Duration::from_secs(60),
    )
    .assert_success();
    // by hand: ten keys of a hundred ids each
    let want: Vec<String> = (0..10).map(|k| format!("{k},100")).collect();
    assert_same_rows(tag, &read_sink_rows(&out), &want);
}

/// The status line and headers of `GET path` at `addr` (HOST:PORT).
fn http_head(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut c) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out.split("\r\n\r\n").next().unwrap_or("").to_string()
}

fn signal(p: &Proc, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &p.pid().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {}", p.pid());
}

/// The fencing token a leader printed in its ready line.
fn token(jm: &JobManager) -> i64 {
    let line = jm
        .proc
        .wait_for_line("fencing token", Duration::from_secs(1));
    line.split("fencing token ")
        .nth(1)
        .and_then(|s| s.trim_end_matches(')').trim().parse().ok())
        .unwrap_or_else(|| panic!("no token in '{line}'"))
}

#[test]
fn a_standby_takes_over_from_a_frozen_and_from_a_killed_leader() {
    let etcd = Etcd::start();
    let tmp = TempDir::new("ha");
    let conf = etcd.ha_conf("e2e", 2);
    let with = |extra: &[&str]| -> Vec<String> {
        let mut c = conf.clone();
        c.extend(extra.iter().map(|s| s.to_string()));
        c
    };
    // heartbeats that time out only after 30 s: the TaskManager follows each new leader
    // because it sees it in etcd
    let hb = ["heartbeat.interval=200ms", "heartbeat.timeout=30s"];
    let jm_conf: Vec<String> = with(&hb);
    let jm_args: Vec<&str> = jm_conf.iter().map(String::as_str).collect();
    let a = JobManager::start(&jm_args);
    let b = JobManager::spawn(&jm_args);
    b.wait_for_line("stands by", Duration::from_secs(30));
    // the standby's REST sends every request to the leader
    let line = b.wait_for_line("redirects to the leader", Duration::from_secs(1));
    let standby_rest = line
        .split("REST http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_string();
    let head = poll("the standby's redirect", Duration::from_secs(10), || {
        let head = http_head(&standby_rest, "/jobs/overview?x=1");
        head.starts_with("HTTP/1.1 307").then_some(head)
    });
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("location: {}/jobs/overview?x=1", a.url())),
        "{head}"
    );
    // the TaskManager is given no JobManager address: it finds the leader in etcd
    let tm_conf = with(&hb);
    let tm_args: Vec<&str> = tm_conf.iter().map(String::as_str).collect();
    let tm = spawn_taskmanager("taskmanager", "127.0.0.1:1", 2, &tm_args);
    tm.wait_for_line(
        &format!("registered at the JobManager {}", a.rpc),
        Duration::from_secs(30),
    );
    count_job(&a, &tmp, "first-leader");
    // REST (and the Web UI) say who leads
    let leader = &a.overview()["strom-leader"];
    assert_eq!(leader["rpc"], a.rpc.as_str(), "{leader}");
    assert_eq!(leader["fencing-token"], token(&a), "{leader}");
    // the CLI finds the leader from an etcd:// address
    let listed = run_with_timeout(
        strom().args([
            "list",
            "--jobmanager",
            &format!("etcd://127.0.0.1:{}/e2e", etcd.port),
        ]),
        Duration::from_secs(30),
    );
    assert!(
        listed.assert_success().stdout.contains("FINISHED"),
        "{}",
        listed.describe()
    );
    // the leader renews its lease: past the lease's time the standby still stands by
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !b.text(Stream::Stdout).contains("Strom JobManager ready"),
        "{}",
        b.describe()
    );

    // frozen past its lease, the leader is replaced; resumed, it finds out and exits
    signal(&a.proc, "-STOP");
    let frozen = Instant::now();
    let b = JobManager::ready(b, Duration::from_secs(30));
    let takeover = frozen.elapsed();
    assert!(token(&b) > token(&a), "a new fencing token");
    let mut a = a;
    signal(&a.proc, "-CONT");
    let status = a.proc.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(3), "{}", a.proc.describe());
    assert!(
        a.proc
            .text(Stream::Stderr)
            .contains("is no longer the leader"),
        "{}",
        a.proc.describe()
    );
    tm.wait_for_line(
        &format!("registered at the JobManager {}", b.rpc),
        Duration::from_secs(10),
    );
    count_job(&b, &tmp, "second-leader");

    // killed, the leader is replaced by the next standby
    let c = JobManager::spawn(&jm_args);
    c.wait_for_line("stands by", Duration::from_secs(30));
    let mut b = b;
    b.proc.kill9();
    let killed = Instant::now();
    let c = JobManager::ready(c, Duration::from_secs(30));
    let takeover2 = killed.elapsed();
    tm.wait_for_line(
        &format!("registered at the JobManager {}", c.rpc),
        Duration::from_secs(10),
    );
    count_job(&c, &tmp, "third-leader");
    eprintln!("takeover after a freeze: {takeover:?}; after a kill: {takeover2:?} (lease 2 s)");
    assert!(takeover2 < Duration::from_secs(10), "{takeover2:?}");
}

/// A script of q5 from the bids generator (`rows` at 40,000 rows/s) into the exactly-once
/// file sink, checkpointed every 200 ms: its path and the sink's directory.
fn q5_script(tmp: &TempDir, rows: u64) -> (std::path::PathBuf, std::path::PathBuf) {
    let out_dir = tmp.join("out");
    let sql = tmp.join("q5.sql");
    write_text(
        &sql,
        &format!(
            "SET 'execution.checkpointing.interval' = '200ms';
SET 'state.checkpoints.dir' = '{}';
{}{}",
            tmp.join("checkpoints").display(),
            datagen_bid_table(rows, 40_000),
            query_with_file_sink("q5", &out_dir)
        ),
    );
    (sql, out_dir)
}

/// A TaskManager of 4 slots given no JobManager (it finds the leader in etcd), once it has
/// registered at `leader`.
fn taskmanager_of(leader: &JobManager, args: &[&str]) -> Proc {
    let tm = spawn_taskmanager("taskmanager", "127.0.0.1:1", 4, args);
    tm.wait_for_line(
        &format!("registered at the JobManager {}", leader.rpc),
        Duration::from_secs(30),
    );
    tm
}

/// Completed checkpoints of job `id` on `jm`, and the one it restored from (0: none).
fn checkpoint_counts(jm: &JobManager, id: &str) -> (u64, u64) {
    let ck = jm.get(&format!("/jobs/{id}/checkpoints"));
    (
        ck["counts"]["completed"].as_u64().unwrap_or(0),
        ck["latest"]["restored"]["id"].as_u64().unwrap_or(0),
    )
}

/// `kill -9` of the leader while a streaming job with checkpoints runs (q5 from the bids
/// generator into the exactly-once file sink), five times in a row, each new leader too: each
/// standby takes over, finds the job in the job store and resumes it from its latest checkpoint
/// under the same id; the job finishes with exactly q5's answer. A finished job is in the job
/// result store: the leader after it does not run it again.
#[test]
fn five_leaders_killed_in_a_row_and_the_job_gives_the_exact_answer() {
    const ROWS: u64 = 500_000;
    const KILLS: usize = 5;
    let etcd = Etcd::start();
    let tmp = TempDir::new("ha-jobs");
    let mut conf = etcd.ha_conf("jobs", 2);
    conf.extend(HB_FAST.iter().map(|s| s.to_string()));
    let args: Vec<&str> = conf.iter().map(String::as_str).collect();
    let mut leader = JobManager::start(&args);
    let _tm = taskmanager_of(&leader, &args);
    let (sql, out_dir) = q5_script(&tmp, ROWS);
    let bids = gen_bids_of(ROWS);
    // an attached client given no JobManager: it finds the leader in etcd, and follows each
    let mut client_cmd = strom();
    client_cmd
        .args(["sql", "-f"])
        .arg(&sql)
        .args(["-p", "2"])
        .env("BID_PATH", &bids);
    for c in &conf {
        client_cmd.args(["-D", c]);
    }
    let mut client = Proc::spawn("client", &mut client_cmd);
    let line = client.wait_for_line("Job has been submitted with JobID", Duration::from_secs(60));
    let id = line.rsplit(' ').next().unwrap().trim().to_string();
    let mut failovers = Vec::new();
    for kill in 0..KILLS {
        // a checkpoint of this leader's run of the job, then the next leader waits
        let (_, restored) = checkpoint_counts(&leader, &id);
        poll("a checkpoint of this run", Duration::from_secs(60), || {
            let (done, _) = checkpoint_counts(&leader, &id);
            (leader.job(&id)["state"] == "RUNNING" && done > restored).then_some(())
        });
        let next = JobManager::spawn(&args);
        next.wait_for_line("stands by", Duration::from_secs(30));
        leader.proc.kill9();
        let killed = Instant::now();
        let next = JobManager::ready(next, Duration::from_secs(30));
        next.proc.wait_for_line(
            &format!("resumed 1 job(s) of the leaders before: {id}"),
            Duration::from_secs(5),
        );
        poll("the job running again", Duration::from_secs(30), || {
            (next.job(&id)["state"] == "RUNNING").then_some(())
        });
        failovers.push(killed.elapsed());
        let (_, restored) = checkpoint_counts(&next, &id);
        assert!(
            restored > 0,
            "kill {kill}: the job did not restore a checkpoint"
        );
        leader = next;
    }
    eprintln!("kill -9 to the job RUNNING again (lease 2 s): {failovers:?}");
    leader.wait_job_state(&id, "FINISHED", Duration::from_secs(120));
    assert!(
        client.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        client.describe()
    );
    assert!(
        client
            .text(Stream::Stdout)
            .contains(&format!("Job {id} FINISHED")),
        "{}",
        client.describe()
    );
    assert_same_rows(
        "q5 across five failovers of the JobManager",
        &read_sink_rows(&out_dir),
        &expected_for_rows("q5", ROWS),
    );
    // the next leader finds the job ended and leaves it
    let next = JobManager::spawn(&args);
    next.wait_for_line("stands by", Duration::from_secs(30));
    leader.proc.kill9();
    let next = JobManager::ready(next, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !next.proc.text(Stream::Stdout).contains("resumed"),
        "{}",
        next.proc.describe()
    );
    assert_eq!(next.overview()["jobs-running"], 0, "{}", next.overview());
}

/// etcd unavailable (frozen with SIGSTOP) for longer than the lease while a job runs: the
/// leader cannot renew its lease and steps down before the lease runs out (its job SUSPENDED,
/// its tasks canceled, its process exits); when etcd is back the
/// standby, which kept campaigning, leads and resumes the job, which gives q5's exact answer.
#[test]
fn etcd_away_for_longer_than_the_lease_and_the_cluster_resumes_when_it_is_back() {
    const ROWS: u64 = 300_000;
    let etcd = Etcd::start();
    let tmp = TempDir::new("ha-etcd-away");
    let mut conf = etcd.ha_conf("away", 2);
    conf.extend(HB_FAST.iter().map(|s| s.to_string()));
    let args: Vec<&str> = conf.iter().map(String::as_str).collect();
    let mut leader = JobManager::start(&args);
    let standby = JobManager::spawn(&args);
    standby.wait_for_line("stands by", Duration::from_secs(30));
    let _tm = taskmanager_of(&leader, &args);
    let (sql, out_dir) = q5_script(&tmp, ROWS);
    let bids = gen_bids_of(ROWS);
    let submitted = run_with_timeout(
        strom()
            .args(["sql", "-f"])
            .arg(&sql)
            .args(["-p", "2", "--jobmanager", &leader.url(), "--detached"])
            .env("BID_PATH", &bids),
        Duration::from_secs(60),
    );
    let id = submitted.assert_success().job_id();
    poll("a checkpoint", Duration::from_secs(60), || {
        (checkpoint_counts(&leader, &id).0 >= 2).then_some(())
    });
    signal(&etcd.proc, "-STOP");
    let status = leader.proc.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(3), "{}", leader.proc.describe());
    // it stepped down within its lease, its job SUSPENDED and its tasks canceled
    assert!(
        leader
            .proc
            .text(Stream::Stderr)
            .contains("suspended 1 job(s) and canceled their tasks"),
        "{}",
        leader.proc.describe()
    );
    signal(&etcd.proc, "-CONT");
    let next = JobManager::ready(standby, Duration::from_secs(60));
    next.proc.wait_for_line(
        &format!("resumed 1 job(s) of the leaders before: {id}"),
        Duration::from_secs(5),
    );
    next.wait_job_state(&id, "FINISHED", Duration::from_secs(40));
    assert_same_rows(
        "q5 across an absence of etcd",
        &read_sink_rows(&out_dir),
        &expected_for_rows("q5", ROWS),
    );
}
