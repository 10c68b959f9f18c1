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
    /// The client of the cluster at `base`, with the settings of `conf/config.yaml`.
    pub fn new(base: &str) -> Result<Self> {
        Self::connect(Some(base), &crate::conf::load(&[])?)?.context("no cluster address given")
    }

    /// The client of the cluster `target` names: a REST address, or
    /// `etcd://HOST:PORT[,HOST:PORT...]/CLUSTER-ID` for the leader of a highly available
    /// cluster; without `target`, the leader `config`'s high-availability settings name, else
    /// None (no cluster: the caller runs an embedded one).
    pub fn connect(
        target: Option<&str>,
        config: &strom_common::Configuration,
    ) -> Result<Option<Self>> {
        use strom_cluster::ha::HaMode;
        let mut config = config.clone();
        if let Some(etcd) = target.and_then(|t| t.strip_prefix("etcd://")) {
            let (endpoints, cluster) = etcd.split_once('/').unwrap_or((etcd, "default"));
            config.set(strom_common::config::options::HA_TYPE.key, "etcd");
            config.set(
                strom_common::config::options::HA_ETCD_ENDPOINTS.key,
                endpoints,
            );
            config.set(strom_common::config::options::HA_CLUSTER_ID.key, cluster);
            let HaMode::Etcd(ha) = HaMode::from_config(&config)? else {
                bail!("'{}' names no etcd", target.unwrap_or_default());
            };
            return Ok(Some(Self::of_leader(ha, &config)?));
        }
        Ok(match (target, HaMode::from_config(&config)?) {
            (Some(url), HaMode::Etcd(ha)) => Some(Self::with_config(url, &config)?.following(ha)),
            (Some(url), HaMode::None) => Some(Self::with_config(url, &config)?),
            (None, HaMode::Etcd(ha)) => Some(Self::of_leader(ha, &config)?),
            (None, HaMode::None) => None,
        })
    }

    /// The client of the cluster at `base` (`HOST:PORT` or a URL). With
    /// `security.ssl.rest.enabled` it speaks HTTPS, trusting `security.ssl.rest.truststore`
    /// (and presenting `security.ssl.rest.keystore` when the cluster authenticates clients).
    pub fn with_config(base: &str, config: &strom_common::Configuration) -> Result<Self> {
        let files = strom_common::tls::RestClientFiles::read(config)?;
        let scheme = if files.is_some() { "https" } else { "http" };
        let base = base.trim_end_matches('/');
        let authority = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .unwrap_or(base);
        let base = format!("{scheme}://{authority}");
        let mut agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(30)));
        if let Some(files) = files {
            agent = agent.tls_config(tls_config(files)?);
        }
        let token = std::env::var(TOKEN_ENV)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        Ok(Self {
            base: std::sync::Mutex::new(base),
            ha: None,
            agent: agent.build().into(),
            token,
        })
    }

    /// The client of a highly available cluster: the REST address of its leader, found in
    /// etcd, and of each leader after it when one goes.
    pub fn of_leader(
        ha: strom_cluster::ha::EtcdConfig,
        config: &strom_common::Configuration,
    ) -> Result<Self> {
        Ok(Self::with_config(&leader_rest(&ha)?, config)?.following(ha))
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

/// ureq's TLS settings for a cluster's REST endpoint.
fn tls_config(files: strom_common::tls::RestClientFiles) -> Result<ureq::tls::TlsConfig> {
    use base64::Engine;
    use strom_common::tls::rustls::pki_types::PrivateKeyDer;
    use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
    let der = |c: &strom_common::tls::rustls::pki_types::CertificateDer<'_>| {
        Certificate::from_der(c.as_ref()).to_owned()
    };
    let roots = files.roots.iter().map(der).collect::<Vec<_>>();
    let client_cert = match files.identity {
        None => None,
        Some(id) => {
            // ureq reads a key of a kind it is told only from PEM
            let label = match &id.key {
                PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
                PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
                _ => "PRIVATE KEY",
            };
            let body = base64::engine::general_purpose::STANDARD.encode(id.key.secret_der());
            let pem = format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n");
            let key =
                PrivateKey::from_pem(pem.as_bytes()).context("the REST keystore's private key")?;
            let chain = id.chain.iter().map(der).collect::<Vec<_>>();
            Some(ClientCert::new_with_certs(&chain, key))
        }
    };
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::Specific(std::sync::Arc::new(roots)))
        .client_cert(client_cert)
        .unversioned_rustls_crypto_provider(strom_common::tls::provider())
        .build())
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
