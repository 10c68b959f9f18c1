//! The TaskManager process (`strom taskmanager --jobmanager HOST:PORT`): a data port for the
//! network shuffle, a gRPC service the JobManager deploys to, registration with the
//! ResourceManager (retried with backoff), heartbeats, and task state updates to the JobMasters.

use crate::cluster::short_random_id;
use crate::gateway::{Hardware, ResultChunk, TaskStateListener};
use crate::job_manager_runner::HeartbeatConfig;
use crate::protocol::{CheckpointAck, TaskStateUpdate};
use crate::rpc::proto::job_master_service_client::JobMasterServiceClient;
use crate::rpc::proto::resource_manager_service_client::ResourceManagerServiceClient;
use crate::rpc::proto::task_executor_service_server::{
    TaskExecutorService, TaskExecutorServiceServer,
};
use crate::rpc::proto::{
    Ack, CancelTaskRequest, CheckpointAcknowledgement, CollectRequest, FileListRequest,
    FileListResponse, FileRequest, FileResponse, JobMasterHeartbeat, LogFileInfo,
    NotifyCheckpointCompleteRequest, RegisterTaskExecutorRequest, ReleaseJobRequest,
    ReleaseResultsRequest, SubmitTaskRequest, TaskExecutionState, TaskExecutorHeartbeat,
    TaskExecutorReport, TaskMetricsReport, ThreadDumpRequest, ThreadDumpResponse,
    TriggerCheckpointRequest,
};
use crate::rpc::{self, AuthChannel, SecretAttach, SecretCheck, PROTOCOL_VERSION};
use crate::task_executor::TaskExecutor;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strom_common::config::{options, ConfigError};
use strom_common::Configuration;
use strom_runtime::batch_memory::BatchMemory;
use strom_runtime::exchange::LocalShuffle;
use strom_runtime::network::NetworkEnvironment;
use strom_runtime::{ConnectorRegistry, TaskDeploymentDescriptor};
use strom_scheduler::execution_graph::ExecutionVertexId;
use tokio::sync::mpsc;
use tonic::{Code, Request, Response, Status};

#[derive(Debug, thiserror::Error)]
pub enum TaskManagerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] strom_common::tls::TlsError),
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("the JobManager at {jobmanager} refused this TaskManager: {message}")]
    Refused { jobmanager: String, message: String },
    #[error("bad JobManager address {0}: expected HOST:PORT")]
    BadAddress(String),
}

pub struct TaskManagerOptions {
    pub jobmanager: String,
    pub slots: u32,
}

/// Runs a TaskManager until `shutdown` resolves or the JobManager refuses it.
pub async fn run_task_manager(
    config: Configuration,
    opts: TaskManagerOptions,
    connectors: ConnectorRegistry,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), TaskManagerError> {
    let heartbeat = HeartbeatConfig::from_config(&config)?;
    let bind = options::TASKMANAGER_BIND_HOST.get(&config)?;
    let host = options::TASKMANAGER_HOST
        .get(&config)?
        .unwrap_or_else(|| bind.clone());
    let credentials = rpc::Credentials::from_config(&config)?;
    let secret = credentials.secret.clone();
    let shuffle = LocalShuffle::new();
    let data_port = options::TASKMANAGER_DATA_PORT.get(&config)?;
    let network = NetworkEnvironment::start(
        &bind,
        data_port,
        (secret.clone(), credentials.tls.clone()),
        shuffle.clone(),
    )
    .map_err(|source| TaskManagerError::Bind {
        what: "the data port (taskmanager.data.port)",
        addr: format!("{bind}:{data_port}"),
        source,
    })?;
    let data_address = format!("{host}:{}", network.local_addr().port());
    let executor = Arc::new(
        TaskExecutor::new(shuffle, Some(network), Arc::new(connectors))
            .with_batch_memory(BatchMemory::from_config(&config)?),
    );
    let rpc_port = options::TASKMANAGER_RPC_PORT.get(&config)?;
    let listener = tokio::net::TcpListener::bind((bind.as_str(), rpc_port))
        .await
        .map_err(|source| TaskManagerError::Bind {
            what: "the RPC port (taskmanager.rpc.port)",
            addr: format!("{bind}:{rpc_port}"),
            source,
        })?;
    let rpc_address = format!(
        "{host}:{}",
        listener.local_addr().map(|a| a.port()).unwrap_or(rpc_port)
    );
    name_log_file(listener.local_addr().map(|a| a.port()).unwrap_or(rpc_port));
    let timeout = heartbeat.timeout.max(Duration::from_secs(1));
    // with high availability the JobManager is whoever leads, found in etcd
    let mut leader_now = match crate::ha::HaMode::from_config(&config)? {
        crate::ha::HaMode::Etcd(e) => Some(crate::ha::etcd::follow_leader(&e)),
        crate::ha::HaMode::None => None,
    };
    let (jobmanager, leader_token) = match leader_now.as_mut() {
        Some(rx) => {
            let leader = crate::ha::etcd::serving(rx).await;
            (leader.rpc, leader.token)
        }
        None => (opts.jobmanager.clone(), 0),
    };
    let channel = rpc::channel(&jobmanager, timeout, credentials.tls.as_ref())
        .map_err(|_| TaskManagerError::BadAddress(jobmanager.clone()))?;
    let attach = SecretAttach::new(secret.as_deref());
    let (updates_tx, updates_rx) = mpsc::unbounded_channel();
    let listener_to_jm: Arc<dyn TaskStateListener> = Arc::new(UpdateQueue(updates_tx));
    let (job_masters, job_master) = tokio::sync::watch::channel(
        JobMasterServiceClient::with_interceptor(channel.clone(), attach.clone()),
    );
    tokio::spawn(send_updates(job_master, updates_rx, heartbeat.timeout));
    let registered_at = Arc::new(parking_lot::Mutex::new(String::new()));
    let service = TaskExecutorServer {
        executor: executor.clone(),
        listener: listener_to_jm,
        registered_at: registered_at.clone(),
    };
    spawn_rpc_service(
        service,
        listener,
        rpc::Credentials {
            secret,
            tls: credentials.tls.clone(),
        },
    );
    let rm = ResourceManagerServiceClient::with_interceptor(channel, attach.clone());
    let session = Session {
        rm,
        job_masters,
        attach,
        tls: credentials.tls,
        leader_now,
        leader_token,
        registered_at,
        jobmanager,
        rpc_address,
        data_address,
        slots: opts.slots.max(1),
        executor,
        heartbeat,
    };
    tokio::select! {
        r = session.run() => r,
        _ = shutdown => {
            tracing::info!("TaskManager shutting down");
            Ok(())
        }
    }
}

/// Serves the TaskExecutor's RPC on `listener`, to callers with `credentials`.
fn spawn_rpc_service(
    service: TaskExecutorServer,
    listener: tokio::net::TcpListener,
    credentials: rpc::Credentials,
) {
    let router = tonic::transport::Server::builder().add_service(
        TaskExecutorServiceServer::with_interceptor(
            service,
            SecretCheck::new(credentials.secret, "TaskManager"),
        ),
    );
    tokio::spawn(async move {
        let r = rpc::serve(router, listener, credentials.tls, "the TaskManager's RPC").await;
        if let Err(e) = r {
            tracing::error!("the TaskManager RPC service stopped: {e}");
        }
    });
}

/// Names the process's log file after its RPC port (`taskmanager-<port>.log` in env.log.dir).
fn name_log_file(port: u16) {
    match crate::process_log::name_pending(&format!("taskmanager-{port}.log")) {
        Ok(true) => tracing::info!(
            "logging to {}",
            crate::process_log::current()
                .map(|f| f.log_path().display().to_string())
                .unwrap_or_default()
        ),
        Ok(false) => {}
        Err(e) => tracing::warn!("cannot open the log file in env.log.dir: {e}"),
    }
}

struct Session {
    rm: ResourceManagerServiceClient<AuthChannel>,
    /// Where task updates go (the JobManager registered at).
    job_masters: tokio::sync::watch::Sender<JobMasterServiceClient<AuthChannel>>,
    attach: SecretAttach,
    /// The internal TLS of the connections to the JobManager.
    tls: Option<Arc<strom_common::tls::Tls>>,
    /// The ResourceManager registered at: calls of any other are refused.
    registered_at: Arc<parking_lot::Mutex<String>>,
    /// High availability: the leader's record as etcd has it, looked at before each
    /// registration and while registered, so that a new leader is followed as soon as it
    /// serves (not only once the old one's heartbeats time out).
    leader_now: Option<tokio::sync::watch::Receiver<crate::ha::LeaderRecord>>,
    /// The fencing token of the leader followed.
    leader_token: i64,
    jobmanager: String,
    rpc_address: String,
    data_address: String,
    slots: u32,
    executor: Arc<TaskExecutor>,
    heartbeat: HeartbeatConfig,
}

impl Session {
    /// Registers, heartbeats, and registers again (under a new resource id) whenever the
    /// ResourceManager forgets this TaskManager or stops answering.
    async fn run(mut self) -> Result<(), TaskManagerError> {
        loop {
            self.follow_leader().await?;
            let resource_id = format!("{}-{}", self.rpc_address, short_random_id());
            // while registering, the calls of the JobManager registered at are taken (it
            // deploys as soon as it has the slots, before its answer is read here)
            self.registered_at.lock().clear();
            let rm_id = self.register(&resource_id).await?;
            *self.registered_at.lock() = rm_id.clone();
            println!(
                "TaskManager {resource_id} registered at the JobManager {} with {} slots (data port {})",
                self.jobmanager, self.slots, self.data_address
            );
            self.heartbeats(&resource_id, &rm_id).await;
            let n = self.executor.cancel_all(None);
            if n > 0 {
                tracing::warn!("canceled {n} tasks: the JobManager lost this TaskManager");
                // their slots are offered again once the tasks are gone (as Flink frees a
                // slot when its task ends), so the next deployment never meets them
                let since = Instant::now();
                while self.executor.running_tasks() > 0 && since.elapsed() < Duration::from_secs(30)
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// With high availability: talks to the JobManager that leads now.
    async fn follow_leader(&mut self) -> Result<(), TaskManagerError> {
        let Some(leader_now) = self.leader_now.as_mut() else {
            return Ok(());
        };
        let leader = crate::ha::etcd::serving(leader_now).await;
        if leader.rpc == self.jobmanager {
            return Ok(());
        }
        self.leader_token = leader.token;
        tracing::info!(
            "following the new leader {} at {} (was {})",
            leader.name,
            leader.rpc,
            self.jobmanager
        );
        let timeout = self.heartbeat.timeout.max(Duration::from_secs(1));
        let channel = rpc::channel(&leader.rpc, timeout, self.tls.as_ref())
            .map_err(|_| TaskManagerError::BadAddress(leader.rpc.clone()))?;
        self.rm =
            ResourceManagerServiceClient::with_interceptor(channel.clone(), self.attach.clone());
        self.job_masters
            .send_replace(JobMasterServiceClient::with_interceptor(
                channel,
                self.attach.clone(),
            ));
        self.jobmanager = leader.rpc;
        Ok(())
    }

    async fn register(&mut self, resource_id: &str) -> Result<String, TaskManagerError> {
        let hw = Hardware::detect();
        let mut delay = Duration::from_millis(100);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let req = RegisterTaskExecutorRequest {
                protocol_version: PROTOCOL_VERSION,
                resource_id: resource_id.to_string(),
                rpc_address: self.rpc_address.clone(),
                data_address: self.data_address.clone(),
                slots: self.slots,
                hardware: Some(crate::rpc::proto::Hardware {
                    cpu_cores: hw.cpu_cores as u32,
                    physical_memory: hw.physical_memory,
                }),
            };
            match self.rm.register_task_executor(req).await {
                Ok(r) => return Ok(r.into_inner().resource_manager_id),
                Err(s)
                    if matches!(
                        s.code(),
                        Code::Unauthenticated
                            | Code::PermissionDenied
                            | Code::FailedPrecondition
                            | Code::InvalidArgument
                    ) =>
                {
                    return Err(TaskManagerError::Refused {
                        jobmanager: self.jobmanager.clone(),
                        message: s.message().to_string(),
                    })
                }
                Err(s) => {
                    tracing::warn!(
                        "registration attempt {attempt} at the JobManager {} failed ({}); retrying in {} ms",
                        self.jobmanager,
                        rpc::status_text(&s),
                        delay.as_millis()
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    // the leader may have changed meanwhile
                    self.follow_leader().await?;
                }
            }
        }
    }

    /// Returns when the ResourceManager no longer knows this TaskManager or has not answered for
    /// `heartbeat.timeout`.
    async fn heartbeats(&mut self, resource_id: &str, rm_id: &str) {
        let mut tick = tokio::time::interval(self.heartbeat.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_ok = Instant::now();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = leader_moved(&mut self.leader_now, self.leader_token) => {
                    tracing::warn!(
                        "another JobManager leads the cluster now; registering with it"
                    );
                    return;
                }
            }
            let p = crate::process_status::ProcessStatus::current();
            let req = TaskExecutorHeartbeat {
                resource_id: resource_id.to_string(),
                resource_manager_id: rm_id.to_string(),
                running_tasks: self.executor.running_tasks() as u32,
                rss_bytes: p.rss_bytes,
                peak_rss_bytes: p.peak_rss_bytes,
                cpu_time_ms: p.cpu_time_ms,
                threads: p.threads,
                free_memory_bytes: p.free_memory_bytes,
            };
            match self.rm.heartbeat(req).await {
                Ok(r) if r.get_ref().known => last_ok = Instant::now(),
                Ok(_) => {
                    tracing::warn!(
                        "the ResourceManager no longer knows this TaskManager; registering again"
                    );
                    return;
                }
                Err(s) => {
                    if last_ok.elapsed() > self.heartbeat.timeout {
                        tracing::warn!(
                            "no heartbeat answer from the JobManager {} for {} ms ({}); registering again",
                            self.jobmanager,
                            last_ok.elapsed().as_millis(),
                            s.message()
                        );
                        return;
                    }
                }
            }
        }
    }
}

/// Resolves when the leader's record names a later leader than the one of fencing token
/// `token`, and it serves (never without high availability).
async fn leader_moved(
    leader: &mut Option<tokio::sync::watch::Receiver<crate::ha::LeaderRecord>>,
    token: i64,
) {
    let Some(rx) = leader else {
        return std::future::pending().await;
    };
    loop {
        {
            let r = rx.borrow_and_update();
            if r.serving() && r.token > token {
                return;
            }
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// What a TaskManager tells JobMasters.
enum Report {
    State(TaskStateUpdate),
    Checkpoint(CheckpointAck),
    Collect(ResultChunk, crossbeam_channel::Sender<Result<bool, String>>),
}

/// Task state changes and checkpoint answers leave in order through one queue.
struct UpdateQueue(mpsc::UnboundedSender<Report>);

impl TaskStateListener for UpdateQueue {
    fn update_task_state(&self, update: TaskStateUpdate) {
        let _ = self.0.send(Report::State(update));
    }

    fn acknowledge_checkpoint(&self, ack: CheckpointAck) {
        let _ = self.0.send(Report::Checkpoint(ack));
    }

    /// Called on the task's own thread (which may drive a batch stage's runtime), which waits
    /// for the JobMaster's answer.
    fn collect(&self, chunk: ResultChunk) -> Result<bool, String> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.0
            .send(Report::Collect(chunk, tx))
            .map_err(|_| "the TaskManager is shutting down".to_string())?;
        rx.recv()
            .map_err(|_| "the TaskManager is shutting down".to_string())?
    }
}

fn ack_message(a: CheckpointAck) -> CheckpointAcknowledgement {
    CheckpointAcknowledgement {
        job_id: a.job.to_string(),
        job_master_id: a.job_master.to_string(),
        attempt_id: a.attempt.to_string(),
        vertex_id: a.id.vertex.to_string(),
        subtask: a.id.subtask,
        checkpoint_id: a.checkpoint_id,
        handle: a.handle.unwrap_or_default(),
        size: a.size,
        declined: a.declined.unwrap_or_default(),
        decline_kind: a.decline_kind.as_str().to_string(),
    }
}

async fn send_updates(
    clients: tokio::sync::watch::Receiver<JobMasterServiceClient<AuthChannel>>,
    mut rx: mpsc::UnboundedReceiver<Report>,
    give_up_after: Duration,
) {
    while let Some(report) = rx.recv().await {
        let mut client = clients.borrow().clone();
        let u = match report {
            Report::State(u) => u,
            Report::Checkpoint(a) => {
                // one try: a lost answer fails the checkpoint by its timeout, nothing else
                if let Err(s) = client.acknowledge_checkpoint(ack_message(a)).await {
                    tracing::debug!("checkpoint answer not delivered: {}", s.message());
                }
                continue;
            }
            Report::Collect(c, reply) => {
                let req = CollectRequest {
                    job_id: c.job.to_string(),
                    job_master_id: c.job_master.to_string(),
                    attempt_number: c.attempt_number,
                    data: c.data,
                    last: c.last,
                };
                let answer = client
                    .collect_results(req)
                    .await
                    .map(|r| r.into_inner().accepted)
                    .map_err(|s| s.message().to_string());
                let _ = reply.send(answer);
                continue;
            }
        };
        let req = TaskExecutionState {
            job_id: u.job.to_string(),
            job_master_id: u.job_master.to_string(),
            attempt_id: u.attempt.to_string(),
            vertex_id: u.id.vertex.to_string(),
            subtask: u.id.subtask,
            state: u.state.as_str().to_string(),
            error: u.error.clone().unwrap_or_default(),
            failure_kind: u.kind.as_str().to_string(),
            metrics_json: u
                .metrics
                .map(|m| serde_json::to_vec(&m).unwrap_or_default())
                .unwrap_or_default(),
            resource_id: String::new(),
        };
        let started = Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            match client.update_task_execution_state(req.clone()).await {
                Ok(_) => break,
                Err(s) if s.code() == Code::FailedPrecondition => {
                    tracing::info!("task update refused: {}", s.message());
                    break;
                }
                Err(s) if started.elapsed() > give_up_after => {
                    tracing::warn!(
                        "dropped the {} update of {}: {}",
                        u.state,
                        u.attempt,
                        s.message()
                    );
                    break;
                }
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

fn parse_attempt(s: &str) -> Result<strom_common::AttemptId, Status> {
    s.parse()
        .map_err(|_| Status::invalid_argument(format!("bad attempt id '{s}'")))
}

struct TaskExecutorServer {
    executor: Arc<TaskExecutor>,
    listener: Arc<dyn TaskStateListener>,
    /// The ResourceManager this TaskManager is registered at (empty before the first
    /// registration).
    registered_at: Arc<parking_lot::Mutex<String>>,
}

impl TaskExecutorServer {
    /// Refuses a call from a JobManager other than the one this TaskManager is registered at
    /// (a leader that was replaced and does not know it yet): its deployments, checkpoints and
    /// commits must not land.
    fn check_sender<T>(&self, request: &Request<T>, what: &str) -> Result<(), Status> {
        let Some(sender) = request
            .metadata()
            .get(crate::rpc::RESOURCE_MANAGER_KEY)
            .and_then(|v| v.to_str().ok())
        else {
            return Ok(());
        };
        let current = self.registered_at.lock();
        if current.is_empty() || *current == sender {
            return Ok(());
        }
        tracing::warn!(
            "refused {what} from the ResourceManager {sender}: this TaskManager is registered at {current} now"
        );
        Err(Status::failed_precondition(format!(
            "this TaskManager is registered at another JobManager now ({what} refused)"
        )))
    }
}

#[tonic::async_trait]
impl TaskExecutorService for TaskExecutorServer {
    async fn submit_task(
        &self,
        request: Request<SubmitTaskRequest>,
    ) -> Result<Response<Ack>, Status> {
        self.check_sender(&request, "a task deployment")?;
        let r = request.into_inner();
        let tdd: TaskDeploymentDescriptor = serde_json::from_slice(&r.tdd_json).map_err(|e| {
            Status::invalid_argument(format!("bad task deployment descriptor: {e}"))
        })?;
        let job_master = r
            .job_master_id
            .parse()
            .map_err(|_| Status::invalid_argument("bad JobMaster id"))?;
        let id = ExecutionVertexId::new(tdd.vertex, tdd.subtask);
        self.executor
            .submit_task(tdd, id, job_master, self.listener.clone());
        Ok(Response::new(Ack {}))
    }

    async fn cancel_task(
        &self,
        request: Request<CancelTaskRequest>,
    ) -> Result<Response<Ack>, Status> {
        self.check_sender(&request, "a cancellation")?;
        let attempt = parse_attempt(&request.into_inner().attempt_id)?;
        self.executor.cancel_task(attempt);
        Ok(Response::new(Ack {}))
    }

    async fn heartbeat_from_job_manager(
        &self,
        request: Request<JobMasterHeartbeat>,
    ) -> Result<Response<TaskExecutorReport>, Status> {
        self.check_sender(&request, "a heartbeat")?;
        let tasks = self
            .executor
            .metrics_report()
            .into_iter()
            .map(|(job, attempt, m)| TaskMetricsReport {
                attempt_id: attempt.to_string(),
                metrics_json: serde_json::to_vec(&m).unwrap_or_default(),
                job_id: job.to_string(),
            })
            .collect();
        Ok(Response::new(TaskExecutorReport { tasks }))
    }

    async fn trigger_checkpoint(
        &self,
        request: Request<TriggerCheckpointRequest>,
    ) -> Result<Response<Ack>, Status> {
        self.check_sender(&request, "a checkpoint")?;
        let r = request.into_inner();
        let attempt = parse_attempt(&r.attempt_id)?;
        self.executor.trigger_checkpoint(
            attempt,
            strom_runtime::task::CheckpointTrigger {
                id: r.checkpoint_id,
                timestamp: r.timestamp,
                stop: r.stop_sources,
                drain: r.drain_sources,
            },
        );
        Ok(Response::new(Ack {}))
    }

    async fn notify_checkpoint_complete(
        &self,
        request: Request<NotifyCheckpointCompleteRequest>,
    ) -> Result<Response<Ack>, Status> {
        self.check_sender(&request, "a checkpoint commit")?;
        let r = request.into_inner();
        let attempt = parse_attempt(&r.attempt_id)?;
        self.executor
            .notify_checkpoint_complete(attempt, r.checkpoint_id);
        if r.then_cancel {
            self.executor.cancel_task(attempt);
        }
        Ok(Response::new(Ack {}))
    }

    async fn release_job(
        &self,
        request: Request<ReleaseJobRequest>,
    ) -> Result<Response<Ack>, Status> {
        self.check_sender(&request, "a job release")?;
        let r = request.into_inner();
        let job = r
            .job_id
            .parse()
            .map_err(|_| Status::invalid_argument("bad job id"))?;
        self.executor.release_job(job, r.round);
        Ok(Response::new(Ack {}))
    }

    async fn release_results(
        &self,
        request: Request<ReleaseResultsRequest>,
    ) -> Result<Response<Ack>, Status> {
        self.check_sender(&request, "a release of results")?;
        let r = request.into_inner();
        let job = r
            .job_id
            .parse()
            .map_err(|_| Status::invalid_argument("bad job id"))?;
        let producer = r
            .producer
            .parse()
            .map_err(|_| Status::invalid_argument("bad vertex id"))?;
        self.executor.release_results(job, producer);
        Ok(Response::new(Ack {}))
    }

    async fn request_file_list(
        &self,
        _request: Request<FileListRequest>,
    ) -> Result<Response<FileListResponse>, Status> {
        let ex = self.executor.clone();
        let files = tokio::task::spawn_blocking(move || ex.file_list())
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .into_iter()
            .map(|f| LogFileInfo {
                name: f.name,
                size: f.size,
                mtime: f.mtime,
            })
            .collect();
        Ok(Response::new(FileListResponse { files }))
    }

    async fn request_file(
        &self,
        request: Request<FileRequest>,
    ) -> Result<Response<FileResponse>, Status> {
        let which = rpc::requested_file(request.into_inner())?;
        let ex = self.executor.clone();
        let content = tokio::task::spawn_blocking(move || ex.file(&which))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| match e {
                crate::log_files::LogFileError::NotFound(m) => Status::not_found(m),
                e => Status::internal(e.to_string()),
            })?;
        Ok(Response::new(FileResponse { content }))
    }

    async fn request_thread_dump(
        &self,
        _request: Request<ThreadDumpRequest>,
    ) -> Result<Response<ThreadDumpResponse>, Status> {
        let ex = self.executor.clone();
        let threads = tokio::task::spawn_blocking(move || ex.thread_dump())
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Response::new(ThreadDumpResponse { threads }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nobody;
    impl TaskStateListener for Nobody {
        fn update_task_state(&self, _: TaskStateUpdate) {}
        fn acknowledge_checkpoint(&self, _: CheckpointAck) {}
        fn collect(&self, _: ResultChunk) -> Result<bool, String> {
            Ok(true)
        }
    }

    /// Calls of a JobManager the TaskManager is no longer registered at are refused; calls
    /// that name no ResourceManager (an embedded cluster's) and calls before the first
    /// registration are not.
    #[test]
    fn calls_of_a_replaced_jobmanager_are_refused() {
        let server = TaskExecutorServer {
            executor: Arc::new(TaskExecutor::new(
                LocalShuffle::new(),
                None,
                Arc::new(ConnectorRegistry::new()),
            )),
            listener: Arc::new(Nobody),
            registered_at: Arc::new(parking_lot::Mutex::new(String::new())),
        };
        let from = |rm: Option<&str>| {
            let mut r = Request::new(());
            if let Some(rm) = rm {
                r.metadata_mut()
                    .insert(crate::rpc::RESOURCE_MANAGER_KEY, rm.parse().unwrap());
            }
            server.check_sender(&r, "a heartbeat")
        };
        assert!(from(Some("old")).is_ok(), "before any registration");
        *server.registered_at.lock() = "new".into();
        assert!(from(Some("new")).is_ok());
        assert!(from(None).is_ok());
        let refused = from(Some("old")).unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition);
        assert!(
            refused.message().contains("another JobManager"),
            "{refused:?}"
        );
    }
}
