//! The JobManager process (`strom jobmanager`): the Dispatcher and ResourceManager of
//! [`Dispatcher`], plus the gRPC services TaskManager processes call (registration, heartbeats,
//! task state updates) and the monitor that declares silent TaskManagers lost.

use crate::dispatcher::Dispatcher;
use crate::gateway::{Hardware, JobMasterRegistry, ResultChunk, TaskManagerInfo};
use crate::process_status::ProcessStatus;
use crate::protocol::{CheckpointAck, JobMasterId, TaskStateUpdate};
use crate::remote_task_executor::RemoteTaskExecutor;
use crate::resource_manager::ResourceManager;
use crate::rpc::proto::job_master_service_server::{JobMasterService, JobMasterServiceServer};
use crate::rpc::proto::resource_manager_service_server::{
    ResourceManagerService, ResourceManagerServiceServer,
};
use crate::rpc::proto::{
    Ack, HeartbeatResponse, RegisterTaskExecutorRequest, RegisterTaskExecutorResponse,
    TaskExecutionState, TaskExecutorHeartbeat,
};
use crate::rpc::{self, SecretCheck, PROTOCOL_VERSION};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use strom_common::config::{options, ConfigError};
use strom_common::Configuration;
use strom_runtime::ConnectorRegistry;
use strom_scheduler::execution_graph::ExecutionVertexId;
use strom_scheduler::slot_pool::TaskManagerId;
use tonic::{Request, Response, Status};

/// Heartbeat settings (Flink's `heartbeat.interval`, 10 s, and `heartbeat.timeout`, 50 s).
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatConfig {
    pub interval: Duration,
    pub timeout: Duration,
}

impl HeartbeatConfig {
    pub fn from_config(config: &Configuration) -> Result<Self, ConfigError> {
        Ok(Self {
            interval: options::HEARTBEAT_INTERVAL.get(config)?,
            timeout: options::HEARTBEAT_TIMEOUT.get(config)?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobManagerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] strom_common::tls::TlsError),
    #[error(
        "cannot bind the RPC port {addr} (jobmanager.rpc.address / jobmanager.rpc.port): {source}"
    )]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// A running JobManager: its Dispatcher and the address TaskManagers register at.
pub struct JobManager {
    pub dispatcher: Arc<Dispatcher>,
    pub rpc_address: SocketAddr,
}

/// Starts the JobManager's services on the current tokio runtime.
pub async fn start_job_manager(
    config: Configuration,
    connectors: ConnectorRegistry,
) -> Result<JobManager, JobManagerError> {
    let heartbeat = HeartbeatConfig::from_config(&config)?;
    // what earlier runs left in the checkpoint directory, and how to resume it
    let checkpoints = strom_common::checkpointing::CheckpointingOptions::from_config(&config)?;
    let dir = crate::dispatcher::checkpoints_dir(&checkpoints);
    tokio::task::spawn_blocking(move || crate::retained_checkpoints::log_found(&dir));
    let host = options::JOBMANAGER_BIND_HOST
        .get(&config)?
        .or(options::JOBMANAGER_RPC_ADDRESS.get(&config)?)
        .unwrap_or_else(|| "127.0.0.1".to_string());
    let port = options::JOBMANAGER_RPC_PORT.get(&config)?;
    let credentials = rpc::Credentials::from_config(&config)?;
    let registry = Arc::new(JobMasterRegistry::default());
    let rm = Arc::new(ResourceManager::new(registry.clone()));
    let dispatcher = Arc::new(Dispatcher::new(config, rm.clone(), Arc::new(connectors)));
    let addr = format!("{host}:{port}");
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| JobManagerError::Bind {
            addr: addr.clone(),
            source,
        })?;
    let rpc_address = listener
        .local_addr()
        .map_err(|source| JobManagerError::Bind {
            addr: addr.clone(),
            source,
        })?;
    let services = Services {
        rm: rm.clone(),
        registry,
        heartbeat,
        credentials: credentials.clone(),
        resource_manager_id: JobMasterId::random().to_string(),
    };
    let check = SecretCheck::new(credentials.secret, "JobManager");
    let router = tonic::transport::Server::builder()
        .add_service(ResourceManagerServiceServer::with_interceptor(
            services.clone(),
            check.clone(),
        ))
        .add_service(JobMasterServiceServer::with_interceptor(services, check));
    let tls = credentials.tls;
    tokio::spawn(async move {
        if let Err(e) = rpc::serve(router, listener, tls, "the JobManager's RPC").await {
            tracing::error!("the JobManager RPC service stopped: {e}");
        }
    });
    spawn_heartbeat_monitor(&rm, heartbeat);
    tracing::info!("JobManager RPC listening on {rpc_address}");
    Ok(JobManager {
        dispatcher,
        rpc_address,
    })
}

/// Declares TaskManagers lost when neither direction of their heartbeat succeeded for
/// `heartbeat.timeout`.
fn spawn_heartbeat_monitor(rm: &Arc<ResourceManager>, hb: HeartbeatConfig) {
    let rm = Arc::downgrade(rm);
    let period = (hb.interval / 2).clamp(Duration::from_millis(20), Duration::from_secs(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let Some(rm) = rm.upgrade() else { return };
            for (id, age) in rm.overdue(hb.timeout.as_millis() as i64) {
                rm.task_manager_lost(
                    &id,
                    &format!(
                        "no heartbeat for {age} ms (heartbeat.timeout is {} ms)",
                        hb.timeout.as_millis()
                    ),
                );
            }
        }
    });
}

#[derive(Clone)]
struct Services {
    rm: Arc<ResourceManager>,
    registry: Arc<JobMasterRegistry>,
    heartbeat: HeartbeatConfig,
    credentials: rpc::Credentials,
    resource_manager_id: String,
}

impl Services {
    /// The answer to a registration that succeeded.
    fn registered(&self) -> RegisterTaskExecutorResponse {
        RegisterTaskExecutorResponse {
            resource_manager_id: self.resource_manager_id.clone(),
            heartbeat_interval_ms: self.heartbeat.interval.as_millis() as i64,
            heartbeat_timeout_ms: self.heartbeat.timeout.as_millis() as i64,
        }
    }
}

#[tonic::async_trait]
impl ResourceManagerService for Services {
    async fn register_task_executor(
        &self,
        request: Request<RegisterTaskExecutorRequest>,
    ) -> Result<Response<RegisterTaskExecutorResponse>, Status> {
        let peer = request.remote_addr();
        let r = request.into_inner();
        if r.protocol_version != PROTOCOL_VERSION {
            tracing::warn!(
                "refused TaskManager {} ({}): protocol version {} (this JobManager speaks {PROTOCOL_VERSION})",
                r.resource_id,
                r.rpc_address,
                r.protocol_version
            );
            return Err(Status::failed_precondition(format!(
                "TaskManager speaks protocol version {} but this JobManager speaks {PROTOCOL_VERSION}: run the same Strom version on every process",
                r.protocol_version
            )));
        }
        if r.resource_id.is_empty() || r.rpc_address.is_empty() || r.slots == 0 {
            return Err(Status::invalid_argument(
                "registration needs a resource id, an RPC address and at least one slot",
            ));
        }
        let id = TaskManagerId(r.resource_id.clone());
        if let Some(known) = self.rm.task_executor(&id) {
            let info = known.info();
            if info.rpc_address == r.rpc_address
                && info.data_address == r.data_address
                && info.slots == r.slots
            {
                // the same registration again: its answer was lost (a timeout, a cut link)
                return Ok(Response::new(self.registered()));
            }
            return Err(Status::already_exists(format!(
                "TaskManager {} is already registered",
                r.resource_id
            )));
        }
        let hw = r.hardware.unwrap_or_default();
        let info = TaskManagerInfo::new(
            id,
            r.rpc_address,
            r.data_address,
            r.slots,
            Hardware {
                cpu_cores: hw.cpu_cores as usize,
                physical_memory: hw.physical_memory,
            },
        );
        let te = Arc::new(
            RemoteTaskExecutor::new(
                info,
                (&self.credentials, &self.resource_manager_id),
                self.heartbeat.timeout.max(Duration::from_secs(1)),
                tokio::runtime::Handle::current(),
                self.registry.clone(),
            )
            .map_err(|e| Status::invalid_argument(format!("bad TaskManager address: {e}")))?,
        );
        tracing::debug!("registration from {peer:?}");
        // the JobManager's heartbeat also fetches the task figures REST shows: at least every second
        te.start_heartbeats(
            Arc::downgrade(&self.rm),
            self.heartbeat.interval.min(Duration::from_secs(1)),
        );
        self.rm.register(te);
        Ok(Response::new(self.registered()))
    }

    async fn heartbeat(
        &self,
        request: Request<TaskExecutorHeartbeat>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        let r = request.into_inner();
        let known = r.resource_manager_id == self.resource_manager_id
            && match self.rm.task_executor(&TaskManagerId(r.resource_id)) {
                Some(te) => {
                    te.info().record_heartbeat();
                    te.info().record_status(ProcessStatus {
                        rss_bytes: r.rss_bytes,
                        peak_rss_bytes: r.peak_rss_bytes,
                        cpu_time_ms: r.cpu_time_ms,
                        threads: r.threads,
                        free_memory_bytes: r.free_memory_bytes,
                    });
                    true
                }
                None => false,
            };
        Ok(Response::new(HeartbeatResponse { known }))
    }
}

#[tonic::async_trait]
impl JobMasterService for Services {
    async fn update_task_execution_state(
        &self,
        request: Request<TaskExecutionState>,
    ) -> Result<Response<Ack>, Status> {
        let r = request.into_inner();
        let bad = |what: &str| Status::invalid_argument(format!("bad {what} in task update"));
        let update = TaskStateUpdate {
            job: r.job_id.parse().map_err(|_| bad("job id"))?,
            job_master: r.job_master_id.parse().map_err(|_| bad("JobMaster id"))?,
            id: ExecutionVertexId::new(
                r.vertex_id.parse().map_err(|_| bad("vertex id"))?,
                r.subtask,
            ),
            attempt: r.attempt_id.parse().map_err(|_| bad("attempt id"))?,
            state: rpc::execution_state(&r.state).ok_or_else(|| bad("state"))?,
            error: (!r.error.is_empty()).then_some(r.error),
            kind: strom_common::FailureKind::parse(&r.failure_kind),
            metrics: serde_json::from_slice(&r.metrics_json).ok(),
        };
        self.registry
            .deliver(update)
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(Response::new(Ack {}))
    }

    async fn acknowledge_checkpoint(
        &self,
        request: Request<rpc::proto::CheckpointAcknowledgement>,
    ) -> Result<Response<Ack>, Status> {
        let r = request.into_inner();
        let bad = |what: &str| Status::invalid_argument(format!("bad {what} in checkpoint answer"));
        let ack = CheckpointAck {
            job: r.job_id.parse().map_err(|_| bad("job id"))?,
            job_master: r.job_master_id.parse().map_err(|_| bad("JobMaster id"))?,
            id: ExecutionVertexId::new(
                r.vertex_id.parse().map_err(|_| bad("vertex id"))?,
                r.subtask,
            ),
            attempt: r.attempt_id.parse().map_err(|_| bad("attempt id"))?,
            checkpoint_id: r.checkpoint_id,
            handle: (!r.handle.is_empty()).then_some(r.handle),
            size: r.size,
            declined: (!r.declined.is_empty()).then_some(r.declined),
            decline_kind: strom_common::DeclineKind::parse(&r.decline_kind),
        };
        self.registry
            .deliver_checkpoint(ack)
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(Response::new(Ack {}))
    }

    async fn collect_results(
        &self,
        request: Request<rpc::proto::CollectRequest>,
    ) -> Result<Response<rpc::proto::CollectReply>, Status> {
        let r = request.into_inner();
        let bad = |what: &str| Status::invalid_argument(format!("bad {what} in collected rows"));
        let chunk = ResultChunk {
            job: r.job_id.parse().map_err(|_| bad("job id"))?,
            job_master: r.job_master_id.parse().map_err(|_| bad("JobMaster id"))?,
            attempt_number: r.attempt_number,
            data: r.data,
            last: r.last,
        };
        let accepted = self
            .registry
            .deliver_results(chunk)
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(Response::new(rpc::proto::CollectReply { accepted }))
    }
}
