//! TLS between the cluster's processes and on REST (`security.ssl.internal.*`,
//! `security.ssl.rest.*`), with the certificates `scripts/tls-certs.sh` makes, as README tells.
//!
//! A JobManager and two TaskManager processes on loopback run a GROUP BY whose rows cross the
//! data plane between the TaskManagers, submitted by `strom sql` over HTTPS with a client
//! certificate; tcpdump captures loopback meanwhile. In clear, the capture holds the rows and the
//! cluster secret (so the check can fail); through TLS it holds neither, and the answer is the
//! same. TaskManagers without a certificate the cluster's CA signed, or without TLS, are refused.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::netns::{contains, Capture};
use common::processes::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The PEM files of `scripts/tls-certs.sh DIR`: (keystore, truststore).
fn certificates(dir: &Path) -> (PathBuf, PathBuf) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/tls-certs.sh");
    run(Command::new("bash").arg(script).arg(dir)).assert_success();
    (dir.join("node.pem"), dir.join("ca.pem"))
}

/// The settings of internal TLS.
fn internal_conf(keystore: &Path, truststore: &Path) -> Vec<String> {
    let (k, t) = (keystore.display(), truststore.display());
    vec![
        "security.ssl.internal.enabled=true".into(),
        format!("security.ssl.internal.keystore={k}"),
        format!("security.ssl.internal.truststore={t}"),
    ]
}

/// The settings of a process of a TLS cluster: internal TLS and mutual TLS on REST.
fn tls_conf(keystore: &Path, truststore: &Path) -> Vec<String> {
    let (k, t) = (keystore.display(), truststore.display());
    let mut conf = internal_conf(keystore, truststore);
    conf.extend([
        "security.ssl.rest.enabled=true".into(),
        "security.ssl.rest.authentication-enabled=true".into(),
        format!("security.ssl.rest.keystore={k}"),
        format!("security.ssl.rest.truststore={t}"),
    ]);
    conf
}

const GROUPS: u64 = 13;
const ROWS: u64 = 20_000;

/// A CSV of (id, name) whose names carry `marker`; the expected GROUP BY answer, by hand.
fn input(dir: &Path, marker: &str) -> (PathBuf, Vec<String>) {
    let path = dir.join("in.csv");
    let mut text = String::new();
    let mut sums = vec![(0u64, 0u64); GROUPS as usize];
    for id in 0..ROWS {
        let g = (id * 7919) % GROUPS;
        text.push_str(&format!("{id},{marker}-{g}\n"));
        sums[g as usize].0 += 1;
        sums[g as usize].1 += id;
    }
    write_text(&path, &text);
    let mut expected: Vec<String> = sums
        .iter()
        .enumerate()
        .map(|(g, (n, s))| format!("{marker}-{g},{n},{s}"))
        .collect();
    expected.sort();
    (path, expected)
}

/// Runs the GROUP BY on a JobManager and two TaskManagers with `conf`, with tcpdump on
/// loopback; the capture.
fn run_cluster(tag: &str, conf: &[String]) -> Vec<u8> {
    let tmp = TempDir::new(tag);
    let marker = format!("cleartext-row-{tag}-{}", std::process::id());
    let (csv, expected) = input(tmp.path(), &marker);
    let capture = Capture::tcpdump(Command::new("tcpdump"), "lo", tmp.join("lo.pcap"));
    let conf: Vec<&str> = conf.iter().map(String::as_str).collect();
    let jm = JobManager::start(&conf);
    let (_tm1, _) = start_taskmanager("taskmanager-1", &jm, 2, &conf);
    let (_tm2, _) = start_taskmanager("taskmanager-2", &jm, 2, &conf);
    let out_dir = tmp.join("out");
    let sql = tmp.join("job.sql");
    write_text(
        &sql,
        &format!(
            "SET 'execution.runtime-mode' = 'batch';
CREATE TABLE t (id BIGINT, name STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
CREATE TABLE o (name STRING, n BIGINT, s BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO o SELECT name, COUNT(*), SUM(id) FROM t GROUP BY name;
",
            csv.display(),
            out_dir.display()
        ),
    );
    let mut cmd = strom();
    cmd.arg("sql")
        .arg("-f")
        .arg(&sql)
        .args(["-p", "4", "--jobmanager", &jm.url()]);
    // the client needs only the REST settings (it never sees the secret)
    for c in conf.iter().filter(|c| c.starts_with("security.ssl.rest.")) {
        cmd.args(["-D", c]);
    }
    let out = run_with_timeout(&mut cmd, Duration::from_secs(90));
    if out.code != Some(0) {
        panic!("the job failed\n{}\n{}", out.describe(), jm.proc.describe());
    }
    assert_same_rows(tag, &read_sink_rows(&out_dir), &expected);
    let pcap = capture.finish();
    assert!(
        contains(&pcap, &marker) != tls_on(&conf),
        "{tag}: the capture {} the rows in clear",
        if tls_on(&conf) {
            "shows"
        } else {
            "does not show"
        }
    );
    pcap
}

fn tls_on(conf: &[&str]) -> bool {
    conf.contains(&"security.ssl.internal.enabled=true")
}

#[test]
fn tls_hides_rows_and_secret_and_refuses_strangers() {
    let tmp = TempDir::new("tls-certs");
    let (keystore, truststore) = certificates(&tmp.join("cluster"));
    let secret = format!("cluster-secret-{}", std::process::id());
    let secret_conf = format!("cluster.secret={secret}");

    // in clear: the rows and the secret are on the wire (the check below can fail)
    let plain = run_cluster("clear", std::slice::from_ref(&secret_conf));
    assert!(
        contains(&plain, &secret),
        "the plain data plane's handshake should show the secret"
    );

    // through TLS: the same answer, neither rows nor secret on the wire
    let mut conf = tls_conf(&keystore, &truststore);
    conf.push(secret_conf.clone());
    let pcap = run_cluster("tls", &conf);
    assert!(!contains(&pcap, &secret), "the secret travelled in clear");

    // refused: a TaskManager whose certificate another CA signed, and one without TLS (REST
    // in clear here, so that the test can ask the JobManager)
    let mut conf = internal_conf(&keystore, &truststore);
    conf.push(secret_conf.clone());
    let conf_refs: Vec<&str> = conf.iter().map(String::as_str).collect();
    let jm = JobManager::start(&conf_refs);
    let (stranger_key, stranger_trust) = certificates(&tmp.join("stranger"));
    let mut stranger_conf = internal_conf(&stranger_key, &stranger_trust);
    stranger_conf.push(secret_conf.clone());
    let plain_conf = [secret_conf.clone()];
    let refusals = || {
        jm.proc
            .text(Stream::Stderr)
            .matches("refused a connection to the JobManager's RPC")
            .count()
    };
    for (name, c) in [
        ("taskmanager (other CA)", &stranger_conf[..]),
        ("taskmanager (no TLS)", &plain_conf[..]),
    ] {
        let before = refusals();
        let c: Vec<&str> = c.iter().map(String::as_str).collect();
        let tm = spawn_taskmanager(name, &jm.rpc, 2, &c);
        poll(
            &format!("the JobManager to refuse the {name}"),
            Duration::from_secs(20),
            || (refusals() > before).then_some(()),
        );
        if name.contains("other CA") {
            // and the TaskManager says why it cannot register
            poll(
                "the TaskManager to report the failed handshake",
                Duration::from_secs(20),
                || {
                    tm.text(Stream::Stderr)
                        .contains("TLS handshake")
                        .then_some(())
                },
            );
        }
        std::thread::sleep(Duration::from_secs(1));
        assert!(
            !tm.text(Stream::Stdout)
                .contains("registered at the JobManager"),
            "{}",
            tm.describe()
        );
    }
    assert_eq!(jm.overview()["taskmanagers"], 0);
    // the JobManager still takes its own
    let (_tm, id) = start_taskmanager("taskmanager (cluster CA)", &jm, 2, &conf_refs);
    assert_eq!(jm.taskmanager_ids(), [id].into_iter().collect());
}
