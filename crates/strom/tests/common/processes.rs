//! Real Strom processes for end-to-end tests: child processes with collected output (killed on
//! drop), a `strom jobmanager` with REST helpers, `strom taskmanager`s.

use super::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Child processes

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Default)]
pub struct LogState {
    lines: Vec<(Stream, String)>,
    /// Reader threads that have seen the end of their pipe (2 = the process closed both).
    closed: u8,
}

#[derive(Default)]
pub struct Log {
    state: Mutex<LogState>,
    changed: Condvar,
}

/// Removes ANSI escape sequences (the log lines on stderr are colored).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// A child process whose stdout and stderr lines are collected into a shared buffer; killed
/// (SIGKILL) on drop.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: Arc<Log>,
    pub exited: Option<ExitStatus>,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        // The tests choose the secret explicitly; never inherit one.
        cmd.env_remove("STROM_CLUSTER_SECRET")
            .env_remove("STROM_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let log = Arc::new(Log::default());
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        fn reader(log: Arc<Log>, stream: Stream, pipe: impl Read + Send + 'static) {
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut st = log.state.lock().unwrap();
                    st.lines.push((stream, strip_ansi(&line)));
                    log.changed.notify_all();
                }
                log.state.lock().unwrap().closed += 1;
                log.changed.notify_all();
            });
        }
        reader(log.clone(), Stream::Stdout, out);
        reader(log.clone(), Stream::Stderr, err);
        Proc {
            name: name.to_string(),
            child,
            log,
            exited: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn text(&self, stream: Stream) -> String {
        let st = self.log.state.lock().unwrap();
        let mut s = String::new();
        for (k, l) in &st.lines {
            if *k == stream {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    pub fn describe(&self) -> String {
        format!(
            "==== {} (pid {}) ====\n--- stdout ---\n{}--- stderr ---\n{}",
            self.name,
            self.pid(),
            tail(&self.text(Stream::Stdout), 3000),
            tail(&self.text(Stream::Stderr), 5000)
        )
    }

    /// The first line (of `stream`, or of either stream when None) containing `pattern`; panics
    /// when none arrives within `timeout` or the process closes its output without one.
    pub fn wait_for_line_in(
        &self,
        stream: Option<Stream>,
        pattern: &str,
        timeout: Duration,
    ) -> String {
        let deadline = Instant::now() + timeout;
        let mut st = self.log.state.lock().unwrap();
        loop {
            if let Some((_, l)) = st
                .lines
                .iter()
                .find(|(k, l)| stream.is_none_or(|s| s == *k) && l.contains(pattern))
            {
                return l.clone();
            }
            let now = Instant::now();
            if st.closed >= 2 || now >= deadline {
                let why = if st.closed >= 2 {
                    "the process closed its output (exited?)".to_string()
                } else {
                    format!("timed out after {:.1} s", timeout.as_secs_f64())
                };
                drop(st);
                panic!(
                    "{}: no line containing '{pattern}' on {stream:?}: {why}\n{}",
                    self.name,
                    self.describe()
                );
            }
            st = self.log.changed.wait_timeout(st, deadline - now).unwrap().0;
        }
    }

    pub fn wait_for_line(&self, pattern: &str, timeout: Duration) -> String {
        self.wait_for_line_in(None, pattern, timeout)
    }

    /// Waits for the process to exit by itself; panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                self.exited = Some(s);
                // let the readers drain the pipes
                let st = self.log.state.lock().unwrap();
                let _ = self
                    .log
                    .changed
                    .wait_timeout_while(st, Duration::from_secs(5), |st| st.closed < 2);
                return s;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} did not exit within {:.1} s\n{}",
                    self.name,
                    timeout.as_secs_f64(),
                    self.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, then reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        self.exited = self.child.wait().ok();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.describe());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JobManager and TaskManagers

pub const HB_FAST: [&str; 2] = ["heartbeat.interval=200ms", "heartbeat.timeout=1s"];

pub struct JobManager {
    pub proc: Proc,
    pub rest_port: u16,
    pub rest_url: String,
    /// HOST:PORT of the RPC endpoint TaskManagers register at.
    pub rpc: String,
}

impl JobManager {
    /// `strom jobmanager -D rest.port=0 [-D jobmanager.rpc.port=0] -D <dynamic>...`.
    pub fn start(dynamic: &[&str]) -> JobManager {
        JobManager::ready(JobManager::spawn(dynamic), Duration::from_secs(30))
    }

    /// [`JobManager::start`]'s process, not waited for.
    pub fn spawn(dynamic: &[&str]) -> Proc {
        JobManager::spawn_cmd(strom(), dynamic)
    }

    /// [`JobManager::spawn`] of a `strom` command of the caller's (on another host).
    pub fn spawn_cmd(mut cmd: Command, dynamic: &[&str]) -> Proc {
        cmd.arg("jobmanager").args(["-D", "rest.port=0"]);
        if !dynamic
            .iter()
            .any(|d| d.starts_with("jobmanager.rpc.port="))
        {
            cmd.args(["-D", "jobmanager.rpc.port=0"]);
        }
        for d in dynamic {
            cmd.args(["-D", d]);
        }
        Proc::spawn("jobmanager", &mut cmd)
    }

    /// The JobManager of `proc` once it says it is ready (within `timeout`).
    pub fn ready(proc: Proc, timeout: Duration) -> JobManager {
        let ready =
            proc.wait_for_line_in(Some(Stream::Stdout), "Strom JobManager ready in", timeout);
        let rest_url = ready
            .split("REST ")
            .nth(1)
            .and_then(|s| s.split([',', ' ']).next())
            .unwrap_or_else(|| panic!("no REST URL in '{ready}'"))
            .to_string();
        let rest_port = rest_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("no REST port in '{ready}'"));
        let rpc = ready
            .split(", RPC ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("no RPC address in '{ready}'"))
            .to_string();
        assert_ne!(rest_port, 0, "{ready}");
        assert!(!rpc.ends_with(":0"), "RPC address '{rpc}' in '{ready}'");
        JobManager {
            proc,
            rest_port,
            rest_url,
            rpc,
        }
    }

    /// The REST endpoint's URL (`https://` with `security.ssl.rest.enabled`).
    pub fn url(&self) -> String {
        self.rest_url.clone()
    }

    pub fn http(&self, method: &str, path: &str) -> Resp {
        http(self.rest_port, method, path, None)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.proc.describe()))
    }

    /// GET that must answer 200 with JSON.
    pub fn get(&self, path: &str) -> Value {
        let r = self.http("GET", path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.json(path)
    }

    pub fn overview(&self) -> Value {
        self.get("/overview")
    }

    pub fn job(&self, id: &str) -> Value {
        self.get(&format!("/jobs/{id}"))
    }

    /// `/jobs/:id/vertices/:vid` of every vertex of the job, in the job's vertex order.
    pub fn vertex_details(&self, id: &str) -> Vec<Value> {
        let job = self.job(id);
        job["vertices"]
            .as_array()
            .unwrap_or_else(|| panic!("/jobs/{id}: no vertices: {job}"))
            .iter()
            .map(|v| {
                let vid = v["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("vertex without id: {v}"));
                self.get(&format!("/jobs/{id}/vertices/{vid}"))
            })
            .collect()
    }

    /// Polls `/jobs/:id` until its state is `state`; panics on another terminal state or after
    /// `timeout`.
    pub fn wait_job_state(&self, id: &str, state: &str, timeout: Duration) -> Value {
        poll(&format!("job {id} to be {state}"), timeout, || {
            let j = self.job(id);
            let s = j["state"].as_str().unwrap_or("").to_string();
            if s == state {
                return Some(j);
            }
            // the exceptions first: CI prints only the head of a long panic message
            assert!(
                !matches!(s.as_str(), "FAILED" | "FINISHED" | "CANCELED"),
                "job {id} is {s}, expected {state}; exceptions: {}\njob: {j}",
                self.get(&format!("/jobs/{id}/exceptions"))
            );
            None
        })
    }

    pub fn taskmanager_ids(&self) -> BTreeSet<String> {
        let v = self.get("/taskmanagers");
        v["taskmanagers"]
            .as_array()
            .unwrap_or_else(|| panic!("/taskmanagers: {v}"))
            .iter()
            .map(|t| t["id"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

/// `strom taskmanager --jobmanager RPC --slots N -D <dynamic>...` (not waited for).
pub fn spawn_taskmanager(name: &str, rpc: &str, slots: u32, dynamic: &[&str]) -> Proc {
    spawn_taskmanager_cmd(strom(), name, rpc, slots, dynamic)
}

/// [`spawn_taskmanager`] of a `strom` command of the caller's (on another host).
pub fn spawn_taskmanager_cmd(
    mut cmd: Command,
    name: &str,
    rpc: &str,
    slots: u32,
    dynamic: &[&str],
) -> Proc {
    cmd.arg("taskmanager")
        .args(["--jobmanager", rpc, "--slots", &slots.to_string()]);
    for d in dynamic {
        cmd.args(["-D", d]);
    }
    Proc::spawn(name, &mut cmd)
}

/// Waits for `TaskManager <id> registered at the JobManager ...` and returns the id.
pub fn registered_id(tm: &Proc, timeout: Duration) -> String {
    let line = tm.wait_for_line_in(
        Some(Stream::Stdout),
        " registered at the JobManager ",
        timeout,
    );
    line.strip_prefix("TaskManager ")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no resource id in '{line}'"))
        .to_string()
}

/// A TaskManager process that has registered; returns it with its resource id.
pub fn start_taskmanager(
    name: &str,
    jm: &JobManager,
    slots: u32,
    dynamic: &[&str],
) -> (Proc, String) {
    let tm = spawn_taskmanager(name, &jm.rpc, slots, dynamic);
    let id = registered_id(&tm, Duration::from_secs(30));
    assert!(
        tm.text(Stream::Stdout)
            .contains(&format!("with {slots} slots")),
        "{}",
        tm.describe()
    );
    (tm, id)
}

/// A TCP port that was free a moment ago (bound and released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Resident set size of a process in bytes (`VmRSS` of /proc/<pid>/status).
pub fn rss_bytes(pid: u32) -> u64 {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let line = text
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap_or_else(|| panic!("no VmRSS in {path}"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad line '{line}'"));
    kb * 1024
}

pub const MB: u64 = 1024 * 1024;
