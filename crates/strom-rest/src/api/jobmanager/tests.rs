//! The process files over HTTP: the environment and thread dumps of the process (a thread the test
//! names is listed), the process's log file served for the JobManager and its TaskManagers (a
//! line the test logged is in it), a TaskManager in another "process" asked over gRPC, and the
//! error answers (404 naming what to set, 503 for a TaskManager that is gone).

use crate::test_server::{runtime, temp_dir, Server};
use crate::tests::{keys, set};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strom_cluster::process_log;

/// A thread named `name` that waits until the returned sender is dropped.
fn named_thread(name: &str) -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (started_tx, started) = std::sync::mpsc::channel::<()>();
    // the name is set by the thread itself as it starts: wait for that
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = started_tx.send(());
            let _ = rx.recv();
        })
        .unwrap();
    started.recv().unwrap();
    tx
}

/// Checks Flink's `ThreadDumpInfo` shape; returns the entry of thread `name`.
fn thread_of(dump: &Value, name: &str) -> Value {
    assert_eq!(keys(dump), set(&["threadInfos"]), "{dump}");
    let infos = dump["threadInfos"].as_array().unwrap();
    assert!(infos.len() > 2, "{dump}");
    for t in infos {
        assert_eq!(
            keys(t),
            set(&["threadName", "stringifiedThreadInfo"]),
            "{t}"
        );
        assert!(t["threadName"].is_string() && t["stringifiedThreadInfo"].is_string());
    }
    infos
        .iter()
        .find(|t| t["threadName"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("thread {name} not in {dump}"))
}

fn taskmanager_ids(s: &Server) -> Vec<String> {
    s.get("/taskmanagers")["taskmanagers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn environment_and_thread_dumps_describe_this_process() {
    let s = Server::start(2, &[]);
    let env = s.get("/jobmanager/environment");
    assert_eq!(keys(&env), set(&["jvm", "classpath"]), "{env}");
    assert_eq!(keys(&env["jvm"]), set(&["version", "arch", "options"]));
    let version = env["jvm"]["version"].as_str().unwrap();
    assert!(
        version.starts_with(&format!("Strom {}", strom_common::STROM_VERSION)),
        "{version}"
    );
    assert_eq!(env["jvm"]["arch"], std::env::consts::ARCH);
    let args: Vec<String> = std::env::args().collect();
    assert_eq!(env["jvm"]["options"], json!(args));
    assert_eq!(env["classpath"], json!([]));

    let _keep = named_thread("probe-thread-7");
    let jm = thread_of(&s.get("/jobmanager/thread-dump"), "probe-thread-7");
    let text = jm["stringifiedThreadInfo"].as_str().unwrap();
    assert!(text.starts_with("\"probe-thread-7\" Id="), "{text}");
    assert!(text.contains(" WAITING\n"), "{text}");
    // the in-process TaskManagers are threads of the same process: the same listing
    let tms = taskmanager_ids(&s);
    assert_eq!(tms.len(), 2);
    for tm in &tms {
        let t = thread_of(
            &s.get(&format!("/taskmanagers/{tm}/thread-dump")),
            "probe-thread-7",
        );
        assert_eq!(t["threadName"], "probe-thread-7");
    }

    for tail in ["thread-dump", "logs", "logs/x.log", "log", "stdout"] {
        let msg = s.error(&format!("/taskmanagers/no-such-tm/{tail}"), 404);
        assert!(
            msg.contains("no-such-tm") && msg.contains("/taskmanagers"),
            "{msg}"
        );
    }
}

#[test]
fn the_process_log_is_served_for_the_jobmanager_and_its_taskmanagers() {
    // logging to stderr only: 404s that say what to set
    let s = Server::start(1, &[]);
    let tm = taskmanager_ids(&s).remove(0);
    let msg = s.error("/jobmanager/log", 404);
    assert!(
        msg.starts_with("The file LOG does not exist on the JobManager")
            && msg.contains("env.log.dir"),
        "{msg}"
    );
    let msg = s.error("/jobmanager/stdout", 404);
    assert!(
        msg.contains("STDOUT") && msg.contains("env.log.dir"),
        "{msg}"
    );
    let msg = s.error(&format!("/taskmanagers/{tm}/log"), 404);
    assert!(
        msg.starts_with("The file LOG does not exist on the TaskExecutor")
            && msg.contains("env.log.dir"),
        "{msg}"
    );
    assert_eq!(
        s.get(&format!("/taskmanagers/{tm}/logs")),
        json!({"logs": []})
    );
    drop(s);

    // the process writes its log into env.log.dir, as `strom standalone -D env.log.dir=...` does
    let dir = temp_dir("process-log");
    process_log::open(&dir, process_log::JOBMANAGER_LOG).unwrap();
    let s = Server::start(1, &[("env.log.dir", dir.to_str().unwrap())]);
    let tm = taskmanager_ids(&s).remove(0);
    process_log::Writer
        .write_all(b"2026-12-02T03:00:00Z INFO a line the test logged\n")
        .unwrap();
    let log = s.text("/jobmanager/log");
    assert!(log.contains("INFO a line the test logged\n"), "{log}");
    // the in-process TaskManager shares the process and its log
    assert_eq!(s.text(&format!("/taskmanagers/{tm}/log")), log);

    // stdout is not redirected: 404 naming the file it would be, until one is there
    let msg = s.error("/jobmanager/stdout", 404);
    assert!(msg.contains("jobmanager.out"), "{msg}");
    s.error(&format!("/taskmanagers/{tm}/stdout"), 404);
    std::fs::write(dir.join("jobmanager.out"), "printed\n").unwrap();
    assert_eq!(s.text("/jobmanager/stdout"), "printed\n");
    assert_eq!(s.text(&format!("/taskmanagers/{tm}/stdout")), "printed\n");

    let logs = s.get(&format!("/taskmanagers/{tm}/logs"));
    assert_eq!(keys(&logs), set(&["logs"]));
    let list = logs["logs"].as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["jobmanager.log", "jobmanager.out"], "{logs}");
    for l in list {
        assert_eq!(keys(l), set(&["name", "size", "mtime"]));
        assert!(
            l["size"].as_u64().unwrap() > 0 && l["mtime"].as_i64().unwrap() > 0,
            "{l}"
        );
    }
    assert_eq!(
        s.text(&format!("/taskmanagers/{tm}/logs/jobmanager.out")),
        "printed\n"
    );
    for bad in ["missing.log", ".hidden", "..%2Fjobmanager.log"] {
        let msg = s.error(&format!("/taskmanagers/{tm}/logs/{bad}"), 404);
        assert!(msg.contains("does not exist on the TaskExecutor"), "{msg}");
    }
    process_log::close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_taskmanager_process_answers_over_grpc_and_a_gone_one_is_a_clear_503() {
    let rt = runtime();
    let mut config = strom_common::Configuration::new();
    config.set("jobmanager.rpc.port", "0");
    config.set("heartbeat.interval", "200 ms");
    config.set("heartbeat.timeout", "60 s");
    config.set("rest.auth.token", crate::test_server::TOKEN);
    let jm = rt
        .block_on(strom_cluster::job_manager_runner::start_job_manager(
            config.clone(),
            strom_connectors::default_registry(),
        ))
        .unwrap();
    let opts = strom_cluster::task_manager_runner::TaskManagerOptions {
        jobmanager: jm.rpc_address.to_string(),
        slots: 1,
    };
    rt.spawn(strom_cluster::task_manager_runner::run_task_manager(
        config,
        opts,
        strom_connectors::default_registry(),
        std::future::pending(),
    ));
    let s = Server::serve_on(rt, jm.dispatcher);
    let deadline = Instant::now() + Duration::from_secs(30);
    let tm = loop {
        if let Some(tm) = taskmanager_ids(&s).pop() {
            break tm;
        }
        assert!(
            Instant::now() < deadline,
            "the TaskManager never registered"
        );
        std::thread::sleep(Duration::from_millis(50));
    };

    let _keep = named_thread("grpc-probe-42");
    let t = thread_of(
        &s.get(&format!("/taskmanagers/{tm}/thread-dump")),
        "grpc-probe-42",
    );
    assert!(
        t["stringifiedThreadInfo"]
            .as_str()
            .unwrap()
            .starts_with("\"grpc-probe-42\" Id="),
        "{t}"
    );
    // the TaskManager's file answers travel as gRPC statuses: NOT_FOUND stays a 404
    let msg = s.error(&format!("/taskmanagers/{tm}/log"), 404);
    assert!(
        msg.contains("TaskExecutor") && msg.contains("env.log.dir"),
        "{msg}"
    );
    assert_eq!(
        s.get(&format!("/taskmanagers/{tm}/logs")),
        json!({"logs": []})
    );

    // a TaskManager whose process is gone (nothing listens at its address)
    let _in_runtime = s.rt.enter();
    let gone = strom_cluster::remote_task_executor::RemoteTaskExecutor::new(
        strom_cluster::gateway::TaskManagerInfo::new(
            strom_cluster::gateway::TaskManagerId("gone-tm".into()),
            "127.0.0.1:1".into(),
            "127.0.0.1:2".into(),
            1,
            strom_cluster::gateway::Hardware::detect(),
        ),
        (&Default::default(), "test-rm"),
        Duration::from_secs(2),
        s.rt.handle().clone(),
        s.dispatcher.rm.job_masters.clone(),
    )
    .unwrap();
    s.dispatcher.rm.register(Arc::new(gone));
    for tail in ["thread-dump", "logs", "log"] {
        let msg = s.error(&format!("/taskmanagers/gone-tm/{tail}"), 503);
        assert!(
            msg.contains("TaskManager gone-tm") && msg.contains("did not answer"),
            "{msg}"
        );
    }
}
