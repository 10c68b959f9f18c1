//! A cluster across hosts of the test's own: the JobManager, two TaskManagers and the client each
//! in a network namespace of its own, joined by veth pairs on a bridge (`common::netns`), so that
//! the RPC and the data between TaskManagers cross real network interfaces.
//!
//! q5 runs with checkpoints into the exactly-once file sink, through internal TLS with a cluster
//! secret. One TaskManager's link is cut for longer than the heartbeat timeout: the JobManager
//! loses it, the job fails over to the other TaskManager and restores its latest checkpoint; the
//! link is healed, the TaskManager registers again, and the job finishes with exactly q5's
//! answer. tcpdump on the cut TaskManager's link shows neither the secret nor a row in clear.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::netns::{contains, Net};
use common::processes::*;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const ROWS: u64 = 400_000;

#[test]
fn q5_across_three_hosts_through_tls_survives_a_partition() {
    let net = Net::new(&["jm", "tm1", "tm2", "client"]);
    let tmp = TempDir::new("netns-q5");
    let secret = format!("netns-secret-{}", std::process::id());
    let (jm, tms) = start_cluster(&net, &tmp, &secret);
    let rest = format!("http://{}:{}", net.host("jm").ip, jm.rest_port);
    let capture = net.capture("tm2", tmp.join("tm2.pcap"));

    // q5 from the bids generator, checkpointed, into the exactly-once file sink, at p=4 spread
    // over both TaskManagers (4 slots each), aggregated in one phase so that every row crosses
    // the hash exchange (half of them to the other TaskManager); the client on a host of its own
    let out_dir = tmp.join("out");
    let sql = tmp.join("q5.sql");
    write_text(
        &sql,
        &format!(
            "{}SET 'table.optimizer.agg-phase-strategy' = 'ONE_PHASE';\n{}{}",
            checkpointed_job_settings(&tmp.join("checkpoints"), "300ms"),
            datagen_bid_table(ROWS, 25_000),
            query_with_file_sink("q5", &out_dir)
        ),
    );
    let submitted = run_with_timeout(
        net.strom("client").args(["sql", "-f"]).arg(&sql).args([
            "-p",
            "4",
            "--jobmanager",
            &rest,
            "--detached",
        ]),
        Duration::from_secs(60),
    );
    let id = submitted.assert_success().job_id();
    let completed = |net: &Net| {
        net.get("client", &format!("{rest}/jobs/{id}/checkpoints"))["counts"]["completed"]
            .as_u64()
            .unwrap_or(0)
    };
    poll("four checkpoints", Duration::from_secs(60), || {
        (completed(&net) >= 4).then_some(())
    });

    // tm2 cut off for longer than the heartbeat timeout: the job fails over to tm1's slots
    net.cut("tm2");
    poll("the failover", Duration::from_secs(30), || {
        let ex = net.get("client", &format!("{rest}/jobs/{id}/exceptions"));
        let first = ex["exceptionHistory"]["entries"][0]["stacktrace"].clone();
        first.as_str().map(str::to_string)
    });
    std::thread::sleep(Duration::from_secs(3));
    net.heal("tm2");
    poll("tm2 to register again", Duration::from_secs(30), || {
        let out = tms[1].text(Stream::Stdout);
        (out.matches("registered at the JobManager").count() >= 2).then_some(())
    });
    poll("the job to finish", Duration::from_secs(120), || {
        let job = net.get("client", &format!("{rest}/jobs/{id}"));
        let state = job["state"].as_str().unwrap_or_default().to_string();
        assert!(
            !matches!(state.as_str(), "FAILED" | "CANCELED"),
            "job {id} is {state}: {}",
            net.get("client", &format!("{rest}/jobs/{id}/exceptions"))
        );
        (state == "FINISHED").then_some(())
    });
    assert_same_rows(
        "q5 across three hosts with a partition",
        &read_sink_rows(&out_dir),
        &expected_for_rows("q5", ROWS),
    );
    let restored = net.get("client", &format!("{rest}/jobs/{id}/checkpoints"))["latest"]
        ["restored"]["id"]
        .as_u64()
        .unwrap_or(0);
    assert!(restored > 0, "the job restarted without its checkpoint");

    // the data crossed the interfaces, encrypted
    let pcap = capture.finish();
    for name in ["tm1", "tm2"] {
        let (tx, rx) = net.bytes(name);
        assert!(
            tx > 300_000 && rx > 300_000,
            "{name} sent {tx} and received {rx} bytes"
        );
    }
    assert!(pcap.len() > 100_000, "captured only {} bytes", pcap.len());
    assert!(
        !contains(&pcap, &secret),
        "the secret crossed the link in clear"
    );
    // in clear, the deployments and the data's Arrow schemas name q5's columns
    assert!(!contains(&pcap, "auction"), "clear text on the link");
}

/// The JobManager on host `jm` and a TaskManager of 4 slots on each of `tm1` and `tm2`, through
/// internal TLS (certificates naming every host) with cluster secret `secret`, heartbeats timing
/// out after 3 s.
fn start_cluster(net: &Net, tmp: &TempDir, secret: &str) -> (JobManager, Vec<Proc>) {
    let certs = tmp.join("tls");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/tls-certs.sh");
    let mut make = Command::new("bash");
    make.arg(script).arg(&certs);
    for h in &net.hosts {
        make.arg(format!("IP:{}", h.ip));
    }
    run(&mut make).assert_success();
    let common_conf = vec![
        "security.ssl.internal.enabled=true".to_string(),
        format!(
            "security.ssl.internal.keystore={}",
            certs.join("node.pem").display()
        ),
        format!(
            "security.ssl.internal.truststore={}",
            certs.join("ca.pem").display()
        ),
        format!("cluster.secret={secret}"),
        "heartbeat.interval=500ms".into(),
        "heartbeat.timeout=3s".into(),
    ];
    let jm_ip = net.host("jm").ip.clone();
    let mut jm_conf = common_conf.clone();
    jm_conf.extend([
        format!("jobmanager.bind-host={jm_ip}"),
        format!("jobmanager.rpc.address={jm_ip}"),
        format!("rest.bind-address={jm_ip}"),
    ]);
    let args: Vec<&str> = jm_conf.iter().map(String::as_str).collect();
    let jm = JobManager::ready(
        JobManager::spawn_cmd(net.strom("jm"), &args),
        Duration::from_secs(30),
    );
    assert!(jm.rpc.starts_with(&jm_ip), "{}", jm.rpc);
    let mut tms = Vec::new();
    for name in ["tm1", "tm2"] {
        let tm_ip = net.host(name).ip.clone();
        let mut conf = common_conf.clone();
        conf.extend([
            format!("taskmanager.bind-host={tm_ip}"),
            format!("taskmanager.host={tm_ip}"),
        ]);
        let args: Vec<&str> = conf.iter().map(String::as_str).collect();
        let tm = spawn_taskmanager_cmd(net.strom(name), name, &jm.rpc, 4, &args);
        registered_id(&tm, Duration::from_secs(30));
        tms.push(tm);
    }
    (jm, tms)
}
