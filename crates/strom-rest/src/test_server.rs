//! A REST server over an embedded cluster for the endpoint tests: SQL submission, waiting for
//! states, and Flink's error shape checked on every error answer.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strom_cluster::Dispatcher;

pub(crate) const TOKEN: &str = "t0ken-for-the-tests";

pub(crate) struct Server {
    pub addr: std::net::SocketAddr,
    pub dispatcher: Arc<Dispatcher>,
    pub rt: tokio::runtime::Runtime,
    /// `serve()` (returns after `DELETE /cluster`).
    pub served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// An embedded cluster of `taskmanagers` TaskManagers with 4 slots each, `extra` config.
    pub fn start(taskmanagers: u32, extra: &[(&str, &str)]) -> Self {
        let mut config = strom_common::Configuration::new();
        config.set(strom_common::config::keys::NUM_TASK_SLOTS, "4");
        config.set("rest.auth.token", TOKEN);
        for (k, v) in extra {
            config.set(*k, *v);
        }
        let d = strom_cluster::start_embedded(
            config,
            taskmanagers,
            strom_connectors::default_registry(),
        )
        .unwrap();
        Self::serve(d)
    }

    /// Serves the REST API of `d` on a free loopback port.
    pub fn serve(d: Arc<Dispatcher>) -> Self {
        Self::serve_on(runtime(), d)
    }

    /// Serves the REST API of `d` on `rt`.
    pub fn serve_on(rt: tokio::runtime::Runtime, d: Arc<Dispatcher>) -> Self {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let served = rt.spawn(crate::serve(
            crate::RestListener::new(listener, None),
            d.clone(),
            std::future::pending(),
        ));
        Self {
            addr,
            dispatcher: d,
            rt,
            served: Some(served),
        }
    }

    /// (status, body as JSON, or as a string when it is not JSON).
    pub fn call(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let headers =
            format!("Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n");
        http_call(self.addr, method, path, &headers, body)
    }

    pub fn get(&self, path: &str) -> Value {
        let (status, body) = self.call("GET", path, "");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// A text answer (a log file).
    pub fn text(&self, path: &str) -> String {
        match self.get(path) {
            Value::String(s) => s,
            other => other.to_string(),
        }
    }

    /// Asserts an error answer of `status` in Flink's shape; returns its message.
    pub fn error(&self, path: &str, status: u16) -> String {
        let (got, body) = self.call("GET", path, "");
        assert_eq!(got, status, "GET {path}: {body}");
        let errors = body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("GET {path}: not Flink's error shape: {body}"));
        assert_eq!(errors.len(), 1, "{body}");
        errors[0]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_string()
    }

    pub fn submit(&self, sql: &str, parallelism: u32) -> String {
        let req = json!({ "sql": sql, "parallelism": parallelism });
        let (status, answer) = self.call("POST", "/v1/sql", &req.to_string());
        assert_eq!(status, 202, "{answer}");
        answer["jobids"][0].as_str().unwrap().to_string()
    }

    /// Waits until the job and all its vertices are `want`.
    pub fn wait_state(&self, id: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let job = self.get(&format!("/jobs/{id}"));
            let state = job["state"].as_str().unwrap().to_string();
            let all = job["vertices"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v["status"] == want);
            if state == want && all {
                return job;
            }
            assert!(
                !(state == "FAILED" || (state == "CANCELED" && want != "CANCELED")),
                "job {id} ended {job}"
            );
            assert!(Instant::now() < deadline, "job {id} never {want}: {job}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A captured Flink 2.3 answer, from the shared directory (`STROM_SHARED_DIR`, as `.ci/run`
/// sets it, else the checkout's sibling `shared/`).
pub(crate) fn reference(name: &str) -> Value {
    let shared = std::env::var_os("STROM_SHARED_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        std::path::PathBuf::from,
    );
    let p = shared.join("reference/flink-rest").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p:?}: {e}")))
        .unwrap()
}

/// A batch job of two vertices: 500 rows, the even ids (250 rows) through a keyed exchange
/// into a GROUP BY and a blackhole.
pub(crate) fn batch_sql() -> &'static str {
    "SET 'pipeline.name' = 'extras-batch';\n\
     SET 'execution.runtime-mode' = 'batch';\n\
     SET 'extras.password' = 'hunter2';\n\
     CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '500',\n\
     'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '500');\n\
     CREATE TABLE out_t (id BIGINT, c BIGINT) WITH ('connector' = 'blackhole');\n\
     INSERT INTO out_t SELECT id, COUNT(*) FROM gen WHERE id % 2 = 0 GROUP BY id;\n"
}

/// A fresh empty directory under the temp dir.
pub(crate) fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("strom-rest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The value of `key` in a Flink configuration answer (`[{"key", "value"}]`).
pub(crate) fn config_value(config: &Value, key: &str) -> Option<Value> {
    config
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == key)
        .map(|e| e["value"].clone())
}

/// (status, body as JSON, or as a string when it is not JSON) of one HTTP/1.1 request to `addr`;
/// `headers` are extra header lines, each ending in CRLF.
pub(crate) fn http_call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP answer");
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    (status, body)
}
