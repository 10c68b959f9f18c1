//! REST client commands.

use anyhow::{bail, Context, Result};
use serde_json::Value;

pub struct Rest {
    /// The cluster's REST address (the leader's, followed when it changes).
    base: std::sync::Mutex<String>,
    /// A highly available cluster: where its leader is found.
    ha: Option<strom_cluster::ha::EtcdConfig>,
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
        Self {
            base: std::sync::Mutex::new(base),
            ha: None,
            agent,
            token,
        }
    }

    /// The client of a highly available cluster: the REST address of its leader, found in
    /// etcd, and of each leader after it when one goes.
    pub fn of_leader(ha: strom_cluster::ha::EtcdConfig) -> Result<Self> {
        Ok(Self::new(&leader_rest(&ha)?).following(ha))
    }

    /// This client follows the leader of highly available cluster `ha` when it changes.
    pub fn following(mut self, ha: strom_cluster::ha::EtcdConfig) -> Self {
        self.ha = Some(ha);
        self
    }

    fn base(&self) -> String {
        self.base.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// With high availability, once the leader asked did not answer: whether another leader
    /// serves within a minute (then it is asked from now on). The record of a leader that is
    /// gone stays in etcd until its lease runs out.
    fn follow_leader(&self) -> bool {
        let Some(ha) = &self.ha else {
            return false;
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let Ok(leader) = leader_rest(ha) else {
                return false;
            };
            let Ok(mut base) = self.base.lock() else {
                return false;
            };
            if *base != leader {
                eprintln!("following the new leader of the cluster at {leader}");
                *base = leader;
                return true;
            }
            drop(base);
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        false
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
        let mut resp = loop {
            let base = self.base();
            match self.agent.get(&format!("{base}{path}")).call() {
                Ok(r) => break r,
                Err(_) if self.follow_leader() => continue,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot reach the cluster at {base}; is it running?")
                    })
                }
            }
        };
        let status = resp.status().as_u16();
        let body: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        self.check(status, body, &format!("GET {path}"))
    }

    pub fn patch(&self, path: &str) -> Result<Value> {
        let base = self.base();
        let url = format!("{base}{path}");
        let mut resp = self
            .auth(self.agent.patch(&url))
            .send_empty()
            .with_context(|| format!("cannot reach the cluster at {base}"))?;
        let status = resp.status().as_u16();
        let body: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        self.check(status, body, &format!("PATCH {path}"))
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let base = self.base();
        let url = format!("{base}{path}");
        let mut resp = self
            .auth(self.agent.post(&url))
            .send_json(body)
            .with_context(|| format!("cannot reach the cluster at {base}; is it running?"))?;
        let status = resp.status().as_u16();
        let body: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        self.check(status, body, &format!("POST {path}"))
    }

    pub fn submit(&self, graph: &strom_plan::JobGraph) -> Result<String> {
        let base = self.base();
        let url = format!("{base}/jobs");
        let mut resp = self
            .auth(self.agent.post(&url))
            .send_json(graph)
            .with_context(|| format!("cannot reach the cluster at {base}; is it running?"))?;
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

/// The REST address of the cluster's leader, found in etcd (waits up to a minute for one that
/// serves).
fn leader_rest(ha: &strom_cluster::ha::EtcdConfig) -> Result<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let found = rt.block_on(async {
        tokio::time::timeout(
            std::time::Duration::from_secs(60),
            strom_cluster::ha::etcd::serving_leader(ha),
        )
        .await
    });
    match found {
        Ok(leader) => Ok(leader.rest),
        Err(_) => bail!(
            "no leader of the cluster '{}' in etcd ({}) for a minute",
            ha.cluster_id,
            ha.endpoints.join(",")
        ),
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
