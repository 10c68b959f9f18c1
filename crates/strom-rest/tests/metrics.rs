//! Metrics over HTTP against an embedded cluster running real jobs: the Prometheus exposition
//! parsed by a real parser (`prometheus-parse`), the time split and utilisation checked against
//! what the job must have cost (a sink paced to a known rate) and against the cluster's own REST
//! answers, and Flink's metric query endpoints in Flink's shapes.
#![allow(clippy::unwrap_used)] // a test may unwrap

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strom_cluster::Dispatcher;
use strom_common::Configuration;

struct Server {
    addr: std::net::SocketAddr,
    d: Arc<Dispatcher>,
    _rt: tokio::runtime::Runtime,
}

impl Server {
    fn start(slots: u32) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut config = Configuration::new();
        config.set("taskmanager.numberOfTaskSlots", slots.to_string());
        let d =
            strom_cluster::start_embedded(config, 1, strom_connectors::default_registry()).unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let d2 = d.clone();
        rt.spawn(async move {
            let _ = axum::serve(listener, strom_rest::router(d2)).await;
        });
        Self { addr, d, _rt: rt }
    }

    fn get_text(&self, path: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP answer");
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_string())
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = self.get_text(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    fn submit(&self, sql: &str, parallelism: u32) -> String {
        let mut config = Configuration::new();
        config.set("parallelism.default", parallelism.to_string());
        let compiled = strom_sql::compile_script(sql, &config).unwrap();
        let graph = compiled.jobs.into_iter().next().expect("one INSERT");
        self.d.submit(graph).unwrap().to_string()
    }

    fn wait_status(&self, job: &str, want: &str) {
        let t = Instant::now();
        loop {
            let s = self.get(&format!("/jobs/{job}/status"));
            if s["status"] == want {
                return;
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "job {job} never reached {want}: {s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn now_ms() -> i64 {
    strom_common::time::now_millis()
}

/// A sink paced to 1000 rows/s writing 3000 rows: its single task is busy (in the sink's write,
/// which is I/O) at least 3 s. The time split, the vertex figures and the cluster utilisation
/// must agree with that and with one another.
#[test]
fn utilisation_and_time_split_match_a_paced_sink() {
    let srv = Server::start(2);
    let job = srv.submit(
        "CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '3000');
         CREATE TABLE snk (id BIGINT) WITH ('connector' = 'blackhole', 'sink.rows-per-second' = '1000');
         INSERT INTO snk SELECT id FROM src;",
        1,
    );
    srv.wait_status(&job, "FINISHED");
    let detail = srv.get(&format!("/jobs/{job}"));
    let vertices = detail["vertices"].as_array().unwrap();
    assert_eq!(vertices.len(), 1, "one chain: {detail}");
    let vid = vertices[0]["id"].as_str().unwrap();
    let v = srv.get(&format!("/jobs/{job}/vertices/{vid}"));
    let sub = &v["subtasks"][0];
    let t = &sub["strom-time"];
    let ms = |k: &str| t[k].as_u64().unwrap_or_else(|| panic!("{k} in {t}"));
    let (busy, cpu, io, idle, bp) = (
        ms("busy-ms"),
        ms("cpu-ms"),
        ms("io-ms"),
        ms("idle-ms"),
        ms("backpressured-ms"),
    );
    // the sink slept until 3000 rows / 1000 rows/s after its first row: at least 3 s of I/O
    assert!(io >= 2_999, "io {io} ms < the pacing's 3000 ms: {t}");
    assert_eq!(busy, cpu + io, "busy = CPU + I/O: {t}");
    // Flink's figure is the same busy time
    assert_eq!(
        sub["metrics"]["accumulated-busy-time"].as_f64(),
        Some(busy as f64)
    );
    // the phases never exceed the task's life (ms rounding: a few ms)
    let duration = sub["duration"].as_i64().unwrap() as u64;
    assert!(
        busy + idle + bp <= duration + 5,
        "busy {busy} + idle {idle} + backpressured {bp} > duration {duration}"
    );
    // a finished task has no rates
    assert_eq!(t["busyTimeMsPerSecond"].as_f64(), Some(0.0));

    // the utilisation: the JobMaster reports the final figures as the job ends
    let deadline = Instant::now() + Duration::from_secs(30);
    let (before, u, after) = loop {
        let before = now_ms();
        let o = srv.get("/overview");
        let after = now_ms();
        let u = o["utilisation"].clone();
        let reported = u["since-start-busy-ms"].as_f64().unwrap();
        if reported + 10.0 >= busy as f64 || Instant::now() > deadline {
            // every Flink field is still there, with its type
            for k in [
                "taskmanagers",
                "slots-total",
                "slots-available",
                "jobs-running",
                "jobs-finished",
                "jobs-cancelled",
                "jobs-failed",
            ] {
                assert!(o[k].is_u64(), "{k} in {o}");
            }
            assert!(o["flink-version"].is_string() && o["flink-commit"].is_string());
            break (before, u, after);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let f = |k: &str| u[k].as_f64().unwrap_or_else(|| panic!("{k} in {u}"));
    let (ubusy, uslot) = (f("since-start-busy-ms"), f("since-start-slot-ms"));
    // busy reported to the cluster = the task's busy time (sampled per second; per-tick
    // rounding may lose a few ms)
    assert!(
        (ubusy - busy as f64).abs() <= 10.0 + busy as f64 * 0.01,
        "utilisation busy {ubusy} vs task busy {busy}"
    );
    // slot time = 2 slots × the wall time since the cluster started, by the test's own clock
    // (the slots count from the TaskManager's registration, a few ms after the start, tens of
    // ms on a loaded machine: a suite run saw 11 ms)
    let started = u["started"].as_i64().unwrap();
    let lo = 2.0 * (before - started) as f64 - 50.0;
    let hi = 2.0 * (after - started) as f64 + 5.0;
    assert!(
        (lo..=hi).contains(&uslot),
        "slot time {uslot} not in [{lo}, {hi}]"
    );
    // U = Σ busy / (slots × wall), since start and over the last minute (the cluster is younger)
    assert!((f("since-start") - ubusy / uslot).abs() < 1e-9, "{u}");
    assert!((0.0..=1.0).contains(&f("since-start")));
    let (wbusy, wslot) = (f("last-minute-busy-ms"), f("last-minute-slot-ms"));
    assert!((f("last-minute") - wbusy / wslot).abs() < 1e-9, "{u}");
    if after - started < 55_000 {
        assert!((wbusy - ubusy).abs() < 1.0, "{u}");
    }
}

/// Prometheus text of a running job, parsed by `prometheus-parse`: Flink's names, scopes and
/// HELP texts, low-cardinality labels, figures consistent with the REST answers.
#[test]
#[allow(clippy::too_many_lines)]
fn prometheus_exposition_parses_with_flinks_names() {
    let srv = Server::start(2);
    let job = srv.submit(
        "CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '2000');
         CREATE TABLE snk (id BIGINT) WITH ('connector' = 'blackhole');
         INSERT INTO snk SELECT id FROM src;",
        2,
    );
    srv.wait_status(&job, "RUNNING");
    // until the rate meters have samples over a whole window
    let deadline = Instant::now() + Duration::from_secs(60);
    let (text, scrape) = loop {
        let (status, text) = srv.get_text("/metrics");
        assert_eq!(status, 200);
        let lines: Vec<std::io::Result<String>> = text.lines().map(|l| Ok(l.to_string())).collect();
        let scrape = prometheus_parse::Scrape::parse(lines.into_iter())
            .unwrap_or_else(|e| panic!("unparsable exposition: {e}\n{text}"));
        let idle: Vec<f64> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == "flink_taskmanager_job_task_idleTimeMsPerSecond")
            .map(|s| value(&s.value))
            .collect();
        // the rate window (5 s) wholly inside the tasks' run, so no setup time is in it
        let uptime: Vec<f64> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == "flink_jobmanager_job_uptime")
            .map(|s| value(&s.value))
            .collect();
        if idle.len() == 2 && idle.iter().all(|v| *v > 0.0) && uptime.iter().any(|u| *u >= 7_000.0)
        {
            break (text, scrape);
        }
        assert!(Instant::now() < deadline, "no rates after 60 s:\n{text}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let one = |name: &str| {
        let v = values(&scrape, name);
        assert_eq!(v.len(), 1, "{name}:\n{text}");
        v[0]
    };
    assert_eq!(one("flink_jobmanager_taskSlotsTotal"), 2.0);
    assert_eq!(one("flink_jobmanager_taskSlotsAvailable"), 0.0);
    assert_eq!(one("flink_jobmanager_numRunningJobs"), 1.0);
    assert_eq!(one("flink_jobmanager_numRegisteredTaskManagers"), 1.0);
    let u = one("flink_jobmanager_utilisationSinceStart");
    assert!((0.0..=1.0).contains(&u), "{u}");
    for name in [
        "flink_jobmanager_job_lastCheckpointDuration",
        "flink_jobmanager_job_numberOfCompletedCheckpoints",
        "flink_jobmanager_job_numberOfFailedCheckpoints",
        "flink_jobmanager_job_numRestarts",
        "flink_jobmanager_job_uptime",
    ] {
        one(name);
    }
    assert_eq!(one("flink_jobmanager_job_lastCheckpointDuration"), -1.0);
    let task_metrics = [
        "numRecordsIn",
        "numRecordsOut",
        "numRecordsInPerSecond",
        "numRecordsOutPerSecond",
        "busyTimeMsPerSecond",
        "backPressuredTimeMsPerSecond",
        "idleTimeMsPerSecond",
        "ioTimeMsPerSecond",
        "cpuTimeMsPerSecond",
        "accumulateBusyTimeMs",
        "accumulateIdleTimeMs",
        "accumulateBackPressuredTimeMs",
        "currentInputWatermark",
    ];
    let labels: BTreeSet<&str> = [
        "job_id",
        "job_name",
        "task_id",
        "task_name",
        "subtask_index",
        "tm_id",
    ]
    .into_iter()
    .collect();
    for m in task_metrics {
        let name = format!("flink_taskmanager_job_task_{m}");
        let samples: Vec<_> = scrape.samples.iter().filter(|s| s.metric == name).collect();
        assert_eq!(samples.len(), 2, "{name}: one per subtask\n{text}");
        let subtasks: BTreeSet<String> = samples
            .iter()
            .map(|s| s.labels.get("subtask_index").unwrap().to_string())
            .collect();
        assert_eq!(subtasks, ["0", "1"].iter().map(|s| s.to_string()).collect());
        for s in &samples {
            let got: BTreeSet<&str> = s.labels.keys().map(|k| k.as_str()).collect();
            assert_eq!(got, labels, "{name}");
            assert_eq!(s.labels.get("job_id"), Some(job.as_str()));
        }
        assert_eq!(
            scrape.docs.get(&name).map(String::as_str),
            Some(format!("{m} (scope: taskmanager_job_task)").as_str())
        );
    }
    values(
        &scrape,
        "flink_taskmanager_job_task_operator_numLateRecordsDropped",
    );
    assert!(
        !text.contains("attempt"),
        "no attempt ids in labels:\n{text}"
    );
    // per subtask: the phases cover its time (each sampled rate within a second per second),
    // and a source throttled to 1000 rows/s per subtask mostly waits
    let by_subtask = |m: &str| -> HashMap<String, f64> {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == format!("flink_taskmanager_job_task_{m}"))
            .map(|s| {
                (
                    s.labels.get("subtask_index").unwrap().to_string(),
                    value(&s.value),
                )
            })
            .collect()
    };
    let (busy, idle, bp) = (
        by_subtask("busyTimeMsPerSecond"),
        by_subtask("idleTimeMsPerSecond"),
        by_subtask("backPressuredTimeMsPerSecond"),
    );
    let (cpu, io) = (
        by_subtask("cpuTimeMsPerSecond"),
        by_subtask("ioTimeMsPerSecond"),
    );
    for s in ["0", "1"] {
        let total = busy[s] + idle[s] + bp[s];
        assert!(
            (800.0..=1050.0).contains(&total),
            "subtask {s}: busy {} + idle {} + backpressured {} = {total} ms/s",
            busy[s],
            idle[s],
            bp[s]
        );
        assert!(
            idle[s] > busy[s],
            "subtask {s} waits for its rows to be due"
        );
        assert!((busy[s] - (cpu[s] + io[s])).abs() < 5.0, "busy = CPU + I/O");
    }
    let rows: f64 = by_subtask("numRecordsOutPerSecond").values().sum();
    assert!(
        rows > 0.0 && rows <= 2000.0 * 1.3,
        "{rows} rows/s at a 2000 rows/s limit"
    );

    // the REST metric endpoints have the same names
    let vid = srv.get(&format!("/jobs/{job}"))["vertices"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ids = srv.get(&format!("/jobs/{job}/vertices/{vid}/subtasks/metrics"));
    let ids: BTreeSet<&str> = ids
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    for m in task_metrics {
        assert!(ids.contains(m), "{m} in /subtasks/metrics");
    }
    let agg = srv.get(&format!(
        "/jobs/{job}/vertices/{vid}/subtasks/metrics?get=idleTimeMsPerSecond&agg=max"
    ));
    assert_eq!(agg[0]["id"], "idleTimeMsPerSecond");
    assert!(agg[0]["max"].as_f64().unwrap() > 0.0, "{agg}");
    let per = srv.get(&format!(
        "/jobs/{job}/vertices/{vid}/metrics?get=0.busyTimeMsPerSecond,1.accumulateIdleTimeMs"
    ));
    assert_eq!(per.as_array().unwrap().len(), 2, "{per}");
    for x in per.as_array().unwrap() {
        let v: f64 = x["value"].as_str().unwrap().parse().unwrap();
        assert!(v >= 0.0);
    }
    let vd = srv.get(&format!("/jobs/{job}/vertices/{vid}"));
    let st = &vd["strom-time"];
    for k in [
        "busyTimeMsPerSecond",
        "idleTimeMsPerSecond",
        "cpuTimeMsPerSecond",
        "ioTimeMsPerSecond",
    ] {
        assert!(st[k].is_f64(), "{k} in {st}");
    }
    let _ = srv.d.cancel(job.parse().unwrap());
    srv.wait_status(&job, "CANCELED");
    // a canceled job's tasks leave the exposition
    let (_, text) = srv.get_text("/metrics");
    assert!(
        !text.contains("flink_taskmanager_job_task_numRecordsIn{"),
        "{text}"
    );
}

/// `/jobmanager/metrics`, `/jobs/metrics`, `/taskmanagers/metrics` in Flink's shapes, with the
/// names Flink's captured answers use, and their error answers.
#[test]
fn metric_query_endpoints_answer_in_flinks_shapes() {
    let srv = Server::start(2);
    let flink: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/reference/flink-rest/jobmanager_metrics_list.json"
        ))
        .unwrap_or_else(|_| r#"[{"id":"taskSlotsAvailable"},{"id":"taskSlotsTotal"},{"id":"numRegisteredTaskManagers"},{"id":"numRunningJobs"}]"#.into()),
    )
    .unwrap();
    let flink_ids: BTreeSet<String> = flink
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    let ours = srv.get("/jobmanager/metrics");
    let ours: BTreeSet<String> = ours
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    for m in [
        "taskSlotsAvailable",
        "taskSlotsTotal",
        "numRegisteredTaskManagers",
        "numRunningJobs",
    ] {
        assert!(flink_ids.contains(m) && ours.contains(m), "{m}");
    }
    let got = srv.get("/jobmanager/metrics?get=numRunningJobs,taskSlotsTotal");
    assert_eq!(
        got,
        serde_json::json!([{"id": "numRunningJobs", "value": "0"}, {"id": "taskSlotsTotal", "value": "2"}])
    );
    let job = srv.submit(
        "CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');
         CREATE TABLE snk (id BIGINT) WITH ('connector' = 'blackhole');
         INSERT INTO snk SELECT id FROM src;",
        1,
    );
    srv.wait_status(&job, "FINISHED");
    let jm = srv.get(&format!("/jobs/{job}/metrics?get=numRestarts"));
    assert_eq!(jm, serde_json::json!([{"id": "numRestarts", "value": "0"}]));
    let jobs = srv.get("/jobs/metrics?get=numRestarts");
    let o = jobs[0].as_object().unwrap();
    let keys: BTreeSet<&str> = o.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["avg", "id", "max", "min", "skew", "sum"]
            .into_iter()
            .collect()
    );
    assert_eq!(jobs[0]["sum"].as_f64(), Some(0.0));
    let tms = srv.get("/taskmanagers/metrics?get=taskSlotsTotal&agg=sum,max");
    assert_eq!(
        tms,
        serde_json::json!([{"id": "taskSlotsTotal", "sum": 2.0, "max": 2.0}])
    );
    let tm = srv.get("/taskmanagers")["taskmanagers"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let one = srv.get(&format!(
        "/taskmanagers/{tm}/metrics?get=taskSlotsAvailable"
    ));
    assert_eq!(
        one,
        serde_json::json!([{"id": "taskSlotsAvailable", "value": "2"}])
    );
    for (path, status) in [
        ("/jobs/metrics?jobs=nothex", 400),
        ("/jobs/metrics?get=numRestarts&agg=median", 400),
        ("/taskmanagers/metrics?taskmanagers=nobody", 404),
        ("/taskmanagers/nobody/metrics", 404),
        ("/jobs/00000000000000000000000000000000/metrics", 404),
    ] {
        let (got, body) = srv.get_text(path);
        assert_eq!(got, status, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["errors"][0].is_string(),
            "{path}: Flink's error shape: {body}"
        );
    }
}

fn value(v: &prometheus_parse::Value) -> f64 {
    match v {
        prometheus_parse::Value::Gauge(x)
        | prometheus_parse::Value::Counter(x)
        | prometheus_parse::Value::Untyped(x) => *x,
        other => panic!("not a single value: {other:?}"),
    }
}

fn values(scrape: &prometheus_parse::Scrape, name: &str) -> Vec<f64> {
    let v: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .map(|s| value(&s.value))
        .collect();
    assert!(!v.is_empty(), "no {name} in the exposition");
    v
}
