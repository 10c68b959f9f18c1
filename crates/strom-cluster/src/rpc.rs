//! The gRPC transport of the control plane (`proto/strom.proto`): generated messages and
//! services, the protocol version, the cluster secret on every call, and conversions.

use std::sync::Arc;
use std::time::Duration;
use strom_common::config::keys;
use strom_common::tls::Tls;
use strom_common::{Configuration, ExecutionState};
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

#[allow(clippy::all, missing_docs)]
pub mod proto {
    #![allow(clippy::too_many_lines)] // generated
    tonic::include_proto!("strom.v1");
}

/// Version of the JobManager <-> TaskManager protocol. Processes of different versions refuse
/// each other with a message naming both.
pub const PROTOCOL_VERSION: u32 = 1;

/// The secret every TaskManager and RPC caller must present: `cluster.secret`, else the
/// `STROM_CLUSTER_SECRET` environment variable; none when neither is set (or empty).
pub fn cluster_secret(config: &Configuration) -> Option<String> {
    config
        .get(keys::CLUSTER_SECRET)
        .map(str::to_string)
        .or_else(|| std::env::var("STROM_CLUSTER_SECRET").ok())
        .filter(|s| !s.is_empty())
}

/// Server side: refuses calls without the configured secret (and logs them).
#[derive(Clone)]
pub struct SecretCheck {
    expected: Option<Arc<str>>,
    service: &'static str,
}

impl SecretCheck {
    pub fn new(secret: Option<String>, service: &'static str) -> Self {
        Self {
            expected: secret.map(Into::into),
            service,
        }
    }
}

impl tonic::service::Interceptor for SecretCheck {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else {
            return Ok(req);
        };
        let given = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) {
            return Ok(req);
        }
        let peer = req
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "an unknown peer".into());
        tracing::warn!(
            "refused a {} call from {peer}: {} cluster secret",
            self.service,
            if given.is_some() { "wrong" } else { "missing" }
        );
        Err(Status::unauthenticated(format!(
            "{} cluster secret: start this process with the cluster's secret (cluster.secret or STROM_CLUSTER_SECRET)",
            if given.is_some() { "wrong" } else { "missing" }
        )))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The metadata key a JobManager's calls to a TaskManager name their ResourceManager by.
pub const RESOURCE_MANAGER_KEY: &str = "strom-resource-manager";

/// Client side: attaches the secret to every call (and, for a JobManager's calls to a
/// TaskManager, the id of the ResourceManager it registered at, see [`RESOURCE_MANAGER_KEY`]).
#[derive(Clone)]
pub struct SecretAttach {
    secret: Option<MetadataValue<tonic::metadata::Ascii>>,
    resource_manager: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl SecretAttach {
    pub fn new(secret: Option<&str>) -> Self {
        Self {
            secret: secret.and_then(|s| format!("Bearer {s}").parse().ok()),
            resource_manager: None,
        }
    }

    /// Calls that say they come from ResourceManager `id`.
    pub fn from_resource_manager(mut self, id: &str) -> Self {
        self.resource_manager = id.parse().ok();
        self
    }
}

impl tonic::service::Interceptor for SecretAttach {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.secret {
            req.metadata_mut().insert("authorization", v.clone());
        }
        if let Some(v) = &self.resource_manager {
            req.metadata_mut().insert(RESOURCE_MANAGER_KEY, v.clone());
        }
        Ok(req)
    }
}

pub type AuthChannel = InterceptedService<Channel, SecretAttach>;

/// How this process is admitted by its peers and admits them: the cluster secret and the
/// internal TLS (`security.ssl.internal.*`).
#[derive(Clone, Default)]
pub struct Credentials {
    pub secret: Option<String>,
    pub tls: Option<Arc<Tls>>,
}

impl Credentials {
    pub fn from_config(config: &Configuration) -> Result<Self, strom_common::tls::TlsError> {
        let credentials = Self {
            secret: cluster_secret(config),
            tls: strom_common::tls::internal(config)?,
        };
        if credentials.secret.is_some() && credentials.tls.is_none() {
            tracing::info!(
                "the cluster secret travels in clear between processes: set security.ssl.internal.enabled to encrypt it"
            );
        }
        Ok(credentials)
    }
}

/// A lazily connecting channel to `addr` (host:port) with bounded timeouts, through TLS when
/// `tls` is Some.
pub fn channel(
    addr: &str,
    timeout: Duration,
    tls: Option<&Arc<Tls>>,
) -> Result<Channel, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(timeout)
        .timeout(timeout)
        .tcp_nodelay(true);
    Ok(match tls {
        None => endpoint.connect_lazy(),
        Some(tls) => endpoint.connect_with_connector_lazy(crate::tls::Connector {
            config: tls.client.clone(),
            addr: addr.to_string(),
            timeout,
        }),
    })
}

/// Serves `router`'s services on `listener` (`what` names them in the log), through TLS when
/// `tls` is Some.
pub async fn serve(
    router: tonic::transport::server::Router,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<Tls>>,
    what: &'static str,
) -> Result<(), tonic::transport::Error> {
    match tls {
        None => {
            let incoming =
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            router.serve_with_incoming(incoming).await
        }
        Some(tls) => {
            router
                .serve_with_incoming(crate::tls::incoming(listener, tls.server.clone(), what))
                .await
        }
    }
}

/// A failed call's message with the causes behind it (a transport error says only "transport
/// error"; the refused connection or the failed TLS handshake is in its sources).
pub fn status_text(status: &Status) -> String {
    let mut text = status.message().to_string();
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        let cause = e.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = e.source();
    }
    text
}

pub fn execution_state(name: &str) -> Option<ExecutionState> {
    ExecutionState::ALL
        .iter()
        .copied()
        .find(|s| s.as_str() == name)
}

/// The request for one of a TaskManager's files.
pub fn file_request(which: &crate::log_files::LogFile) -> proto::FileRequest {
    use crate::log_files::LogFile;
    let (kind, name) = match which {
        LogFile::Log => ("LOG", String::new()),
        LogFile::Stdout => ("STDOUT", String::new()),
        LogFile::Named(n) => ("NAMED", n.clone()),
    };
    proto::FileRequest {
        kind: kind.into(),
        name,
    }
}

/// The file a request asks for.
pub fn requested_file(r: proto::FileRequest) -> Result<crate::log_files::LogFile, Status> {
    use crate::log_files::LogFile;
    match r.kind.as_str() {
        "LOG" => Ok(LogFile::Log),
        "STDOUT" => Ok(LogFile::Stdout),
        "NAMED" => Ok(LogFile::Named(r.name)),
        k => Err(Status::invalid_argument(format!(
            "bad file kind '{k}': expected LOG, STDOUT or NAMED"
        ))),
    }
}

impl From<crate::thread_dump::ThreadInfo> for proto::ThreadInfoMessage {
    fn from(t: crate::thread_dump::ThreadInfo) -> Self {
        Self {
            name: t.name,
            tid: t.tid,
            state: t.state.to_string(),
            user_ticks: t.user_ticks,
            system_ticks: t.system_ticks,
        }
    }
}

impl From<proto::ThreadInfoMessage> for crate::thread_dump::ThreadInfo {
    fn from(t: proto::ThreadInfoMessage) -> Self {
        Self {
            name: t.name,
            tid: t.tid,
            state: t.state.chars().next().unwrap_or('?'),
            user_ticks: t.user_ticks,
            system_ticks: t.system_ticks,
        }
    }
}
