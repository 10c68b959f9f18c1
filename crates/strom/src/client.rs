//! REST client commands.

use anyhow::{bail, Context, Result};
use serde_json::Value;

pub struct Rest {
    base: String,
    agent: ureq::Agent,
    /// `STROM_REST_TOKEN`: sent as `Authorization: Bearer ...` with every mutating call, for a
    /// cluster with `rest.auth.token`.
    token: Option<String>,
}

/// The environment variable the client reads the REST token from.
pub const TOKEN_ENV: &str = "STROM_REST_TOKEN";

impl Rest {
    pub fn new(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        let base = if base.starts_with("http://") || base.starts_with("https://") {
            base.to_string()
        } else {
            format!("http://{base}")
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into();
        let token = std::env::var(TOKEN_ENV)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        Self { base, agent, token }
    }

    fn auth<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => req.header("Authorization", format!("Bearer {t}")),
            None => req,
        }
    }

    fn check(&self, status: u16, body: Value, what: &str) -> Result<Value> {
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let msg = body["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_else(|| body.to_string());
        if status == 401 && self.token.is_none() {
            bail!("{what} failed (HTTP 401): {msg}; set {TOKEN_ENV} to the cluster's token")
        }
        bail!("{what} failed (HTTP {status}): {msg}")
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut resp = self.agent.get(&url).call().with_context(|| {
            format!("cannot reach the cluster at {}; is it running?", self.base)
        })?;
        let status = resp.status().as_u16();
        let body: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        self.check(status, body, &format!("GET {path}"))
    }

    pub fn patch(&self, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut resp = self
            .auth(self.agent.patch(&url))
            .send_empty()
            .with_context(|| format!("cannot reach the cluster at {}", self.base))?;
        let status = resp.status().as_u16();
        let body: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        self.check(status, body, &format!("PATCH {path}"))
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut resp = self
            .auth(self.agent.post(&url))
            .send_json(body)
            .with_context(|| {
                format!("cannot reach the cluster at {}; is it running?", self.base)
            })?;
        let status = resp.status().as_u16();
        let body: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        self.check(status, body, &format!("POST {path}"))
    }

    pub fn submit(&self, graph: &strom_plan::JobGraph) -> Result<String> {
        let url = format!("{}/jobs", self.base);
        let mut resp = self
            .auth(self.agent.post(&url))
            .send_json(graph)
            .with_context(|| {
                format!("cannot reach the cluster at {}; is it running?", self.base)
            })?;
        let status = resp.status().as_u16();
        let body: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        let body = self.check(status, body, "job submission")?;
        if let Some(path) = body["strom-restore"]["path"].as_str() {
            println!("Restoring the job's state from {path}:");
            for line in body["strom-restore"]["operators"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                println!("  {line}");
            }
        }
        body["jobid"]
            .as_str()
            .map(str::to_string)
            .context("the cluster answered without a job id")
    }
}

fn fmt_time(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    let secs = ms / 1000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!("{h:02}:{m:02}:{s:02}")
}

pub fn list(rest: &Rest) -> Result<i32> {
    let v = rest.get("/jobs/overview")?;
    let jobs = v["jobs"].as_array().cloned().unwrap_or_default();
    if jobs.is_empty() {
        println!("No jobs.");
        return Ok(0);
    }
    println!(
        "{:<32}  {:<10}  {:>10}  {:<8}  name",
        "job id", "state", "duration", "started"
    );
    for j in jobs {
        println!(
            "{:<32}  {:<10}  {:>8} ms  {:<8}  {}",
            j["jid"].as_str().unwrap_or(""),
            j["state"].as_str().unwrap_or(""),
            j["duration"].as_i64().unwrap_or(0),
            fmt_time(j["start-time"].as_i64().unwrap_or(0)),
            j["name"].as_str().unwrap_or("")
        );
    }
    Ok(0)
}

pub fn info(rest: &Rest, id: &str) -> Result<i32> {
    let v = rest.get(&format!("/jobs/{id}"))?;
    println!(
        "Job {} ({})",
        v["jid"].as_str().unwrap_or(id),
        v["name"].as_str().unwrap_or("")
    );
    println!(
        "  state: {}   type: {}   duration: {} ms",
        v["state"].as_str().unwrap_or(""),
        v["job-type"].as_str().unwrap_or(""),
        v["duration"]
    );
    if let Some(c) = v["strom-root-cause"].as_str() {
        println!("  root cause: {c}");
    }
    println!("  vertices:");
    for vx in v["vertices"].as_array().cloned().unwrap_or_default() {
        println!(
            "    {}  p={}  {}  read {} / wrote {} records  ({})",
            vx["id"].as_str().unwrap_or(""),
            vx["parallelism"],
            vx["status"].as_str().unwrap_or(""),
            vx["metrics"]["read-records"],
            vx["metrics"]["write-records"],
            vx["name"].as_str().unwrap_or("")
        );
    }
    Ok(0)
}

pub fn cancel(rest: &Rest, id: &str) -> Result<i32> {
    rest.patch(&format!("/jobs/{id}?mode=cancel"))?;
    println!("Cancellation of job {id} requested.");
    Ok(0)
}
