//! A TaskManager in another process as the JobManager sees it: the [`TaskExecutorGateway`] over
//! gRPC, and the JobManager -> TaskManager heartbeat that also collects its tasks' figures.

use crate::gateway::{
    Answer, JobMasterRegistry, TaskExecutorGateway, TaskManagerInfo, TaskManagerQueryError,
    TaskStateListener,
};
use crate::log_files::{LogFile, LogFileError, LogFileInfo};
use crate::protocol::{JobMasterId, TaskStateUpdate};
use crate::resource_manager::ResourceManager;
use crate::rpc::proto::task_executor_service_client::TaskExecutorServiceClient;
use crate::rpc::proto::{
    CancelTaskRequest, FileListRequest, JobMasterHeartbeat, NotifyCheckpointCompleteRequest,
    ReleaseJobRequest, ReleaseResultsRequest, SubmitTaskRequest, ThreadDumpRequest,
    TriggerCheckpointRequest,
};
use crate::rpc::{AuthChannel, SecretAttach};
use crate::thread_dump::ThreadInfo;
use std::sync::{Arc, Weak};
use std::time::Duration;
use strom_common::{AttemptId, ExecutionState, FailureKind, JobId, VertexId};
use strom_runtime::{TaskDeploymentDescriptor, TaskMetrics};
use strom_scheduler::execution_graph::ExecutionVertexId;
use tokio::runtime::Handle;

pub struct RemoteTaskExecutor {
    info: TaskManagerInfo,
    client: TaskExecutorServiceClient<AuthChannel>,
    handle: Handle,
    registry: Arc<JobMasterRegistry>,
    /// Told when the TaskManager's process is certainly gone (its port refuses connections),
    /// so that jobs need not wait for the heartbeat timeout.
    rm: std::sync::OnceLock<Weak<ResourceManager>>,
}

/// Whether a call failed because nothing listens at the TaskManager's address any more.
fn refused(status: &tonic::Status) -> bool {
    use std::error::Error;
    let mut source: Option<&dyn Error> = Some(status);
    while let Some(e) = source {
        if e.to_string().contains("Connection refused") {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        source = e.source();
    }
    status.message().contains("Connection refused")
}

impl RemoteTaskExecutor {
    pub fn new(
        info: TaskManagerInfo,
        (credentials, resource_manager): (&crate::rpc::Credentials, &str),
        rpc_timeout: Duration,
        handle: Handle,
        registry: Arc<JobMasterRegistry>,
    ) -> Result<Self, tonic::transport::Error> {
        let channel =
            crate::rpc::channel(&info.rpc_address, rpc_timeout, credentials.tls.as_ref())?;
        // files come whole up to log_files::MAX_FILE_BYTES, beyond tonic's 4 MiB default
        let client = TaskExecutorServiceClient::with_interceptor(
            channel,
            SecretAttach::new(credentials.secret.as_deref())
                .from_resource_manager(resource_manager),
        )
        .max_decoding_message_size(crate::log_files::MAX_FILE_BYTES as usize + (1 << 20));
        Ok(Self {
            info,
            client,
            handle,
            registry,
            rm: std::sync::OnceLock::new(),
        })
    }

    /// Heartbeats this TaskManager every `interval` while it stays registered; each answer
    /// refreshes its liveness and carries its running tasks' figures to their JobMasters.
    pub fn start_heartbeats(self: &Arc<Self>, rm: Weak<ResourceManager>, interval: Duration) {
        let _ = self.rm.set(rm.clone());
        let me = Arc::downgrade(self);
        self.handle.spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (Some(te), Some(rm)) = (me.upgrade(), rm.upgrade()) else {
                    return;
                };
                // stop when this TaskManager left the ResourceManager
                if rm.task_executor(&te.info.id).is_none() {
                    return;
                }
                let mut client = te.client.clone();
                let req = JobMasterHeartbeat {
                    job_id: String::new(),
                    job_master_id: String::new(),
                };
                match client.heartbeat_from_job_manager(req).await {
                    Ok(report) => {
                        te.info.record_heartbeat();
                        let reports = report
                            .into_inner()
                            .tasks
                            .into_iter()
                            .filter_map(|t| {
                                let attempt: AttemptId = t.attempt_id.parse().ok()?;
                                let job: JobId = t.job_id.parse().ok()?;
                                let m = serde_json::from_slice(&t.metrics_json).ok()?;
                                Some((job, attempt, m))
                            })
                            .collect();
                        te.registry.deliver_metrics(reports);
                    }
                    Err(e) => tracing::debug!(
                        "heartbeat to TaskManager {} failed: {}",
                        te.info.id,
                        e.message()
                    ),
                }
            }
        });
    }
}

impl RemoteTaskExecutor {
    /// Runs a call on the JobManager's runtime; a failed call is a clear error naming the
    /// TaskManager (NOT_FOUND: the file error the TaskManager gave).
    fn ask<T: Send + 'static>(
        &self,
        call: impl std::future::Future<Output = Result<T, tonic::Status>> + Send + 'static,
    ) -> Answer<T> {
        let tm = format!("{} ({})", self.info.id, self.info.rpc_address);
        let running = self.handle.spawn(call);
        Box::pin(async move {
            let unavailable = |reason: String| TaskManagerQueryError::Unavailable {
                task_manager: tm.clone(),
                reason,
            };
            match running.await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(s)) if s.code() == tonic::Code::NotFound => {
                    Err(LogFileError::NotFound(s.message().to_string()).into())
                }
                Ok(Err(s)) => Err(unavailable(if refused(&s) {
                    "its process is gone (connection refused)".into()
                } else {
                    s.message().to_string()
                })),
                Err(e) => Err(unavailable(e.to_string())),
            }
        })
    }
}

impl TaskExecutorGateway for RemoteTaskExecutor {
    fn info(&self) -> &TaskManagerInfo {
        &self.info
    }

    fn submit_task(
        &self,
        tdd: TaskDeploymentDescriptor,
        id: ExecutionVertexId,
        job_master: JobMasterId,
    ) -> Option<Arc<TaskMetrics>> {
        let fail = {
            let registry = self.registry.clone();
            let (job, attempt) = (tdd.job_id, tdd.attempt_id);
            let tm = self.info.id.clone();
            move |why: String, kind: FailureKind| {
                registry.update_task_state(TaskStateUpdate {
                    job,
                    job_master,
                    id,
                    attempt,
                    state: ExecutionState::Failed,
                    error: Some(format!("cannot deploy to TaskManager {tm}: {why}")),
                    kind,
                    metrics: None,
                })
            }
        };
        let tdd_json = match serde_json::to_vec(&tdd) {
            Ok(j) => j,
            Err(e) => {
                fail(e.to_string(), FailureKind::NonRecoverable);
                return None;
            }
        };
        let req = SubmitTaskRequest {
            job_master_id: job_master.to_string(),
            tdd_json,
            vertex_id: id.vertex.to_string(),
            subtask: id.subtask,
        };
        let mut client = self.client.clone();
        self.handle.spawn(async move {
            if let Err(e) = client.submit_task(req).await {
                let kind = if refused(&e) {
                    FailureKind::TaskManagerLost
                } else {
                    FailureKind::Recoverable
                };
                fail(e.message().to_string(), kind);
            }
        });
        None
    }

    fn cancel_task(&self, attempt: AttemptId, job_master: JobMasterId) {
        let mut client = self.client.clone();
        let req = CancelTaskRequest {
            job_master_id: job_master.to_string(),
            attempt_id: attempt.to_string(),
        };
        let tm = self.info.id.clone();
        let rm = self.rm.get().cloned();
        self.handle.spawn(async move {
            if let Err(e) = client.cancel_task(req).await {
                tracing::debug!("cancel of {attempt} on {tm} failed: {}", e.message());
                // the process is gone: its tasks are gone with it (Flink learns this from the
                // lost connection too, not only from the heartbeat timeout)
                if refused(&e) {
                    if let Some(rm) = rm.and_then(|w| w.upgrade()) {
                        rm.task_manager_lost(&tm, "its process is gone (connection refused)");
                    }
                }
            }
        });
    }

    fn trigger_checkpoint(
        &self,
        attempt: AttemptId,
        job_master: JobMasterId,
        trigger: strom_runtime::task::CheckpointTrigger,
    ) {
        let mut client = self.client.clone();
        let id = trigger.id;
        let req = TriggerCheckpointRequest {
            job_master_id: job_master.to_string(),
            attempt_id: attempt.to_string(),
            checkpoint_id: id,
            timestamp: trigger.timestamp,
            stop_sources: trigger.stop,
            drain_sources: trigger.drain,
        };
        self.handle.spawn(async move {
            // a lost trigger fails the checkpoint by its timeout
            if let Err(e) = client.trigger_checkpoint(req).await {
                tracing::debug!(
                    "checkpoint {id} trigger for {attempt} failed: {}",
                    e.message()
                );
            }
        });
    }

    fn notify_checkpoint_complete(
        &self,
        attempt: AttemptId,
        job_master: JobMasterId,
        id: u64,
        then_cancel: bool,
    ) {
        let mut client = self.client.clone();
        let req = NotifyCheckpointCompleteRequest {
            job_master_id: job_master.to_string(),
            attempt_id: attempt.to_string(),
            checkpoint_id: id,
            then_cancel,
        };
        self.handle.spawn(async move {
            // a lost notification is caught up by the next one (commits cover earlier checkpoints)
            if let Err(e) = client.notify_checkpoint_complete(req).await {
                tracing::debug!(
                    "checkpoint {id} notification for {attempt} failed: {}",
                    e.message()
                );
            }
        });
    }

    fn release_job(&self, job: JobId, round: u32) {
        let mut client = self.client.clone();
        let req = ReleaseJobRequest {
            job_id: job.to_string(),
            round,
        };
        self.handle.spawn(async move {
            let _ = client.release_job(req).await;
        });
    }

    fn release_results(&self, job: JobId, producer: VertexId) {
        let mut client = self.client.clone();
        let req = ReleaseResultsRequest {
            job_id: job.to_string(),
            producer: producer.to_string(),
        };
        self.handle.spawn(async move {
            let _ = client.release_results(req).await;
        });
    }

    fn file_list(&self) -> Answer<Vec<LogFileInfo>> {
        let mut client = self.client.clone();
        self.ask(async move {
            let r = client.request_file_list(FileListRequest {}).await?;
            Ok(r.into_inner()
                .files
                .into_iter()
                .map(|f| LogFileInfo {
                    name: f.name,
                    size: f.size,
                    mtime: f.mtime,
                })
                .collect())
        })
    }

    fn file(&self, which: LogFile) -> Answer<Vec<u8>> {
        let mut client = self.client.clone();
        let req = crate::rpc::file_request(&which);
        self.ask(async move { Ok(client.request_file(req).await?.into_inner().content) })
    }

    fn thread_dump(&self) -> Answer<Vec<ThreadInfo>> {
        let mut client = self.client.clone();
        self.ask(async move {
            let r = client.request_thread_dump(ThreadDumpRequest {}).await?;
            Ok(r.into_inner().threads.into_iter().map(Into::into).collect())
        })
    }
}
