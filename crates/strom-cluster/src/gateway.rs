//! The service traits between the JobManager side and the TaskManager side. The embedded cluster
//! implements them with direct calls, the distributed one with gRPC (`rpc`), so the JobMaster and
//! ResourceManager run the same code either way.

use crate::log_files::{LogFile, LogFileError, LogFileInfo};
use crate::process_status::ProcessStatus;
use crate::protocol::{CheckpointAck, JobEvent, JobMasterId, TaskStateUpdate};
use crate::result_buffer::ResultBuffer;
use crate::thread_dump::ThreadInfo;
use crossbeam_channel::Sender;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use strom_common::time::now_millis;
use strom_common::{AttemptId, JobId, VertexId};
use strom_runtime::{TaskDeploymentDescriptor, TaskMetrics, TaskMetricsSnapshot};
use strom_scheduler::execution_graph::ExecutionVertexId;
pub use strom_scheduler::slot_pool::TaskManagerId;

/// Hardware a TaskManager reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hardware {
    pub cpu_cores: usize,
    pub physical_memory: u64,
}

impl Hardware {
    pub fn detect() -> Self {
        let cpu_cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let physical_memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .map(|kb| kb * 1024)
            .unwrap_or(0);
        Self {
            cpu_cores,
            physical_memory,
        }
    }
}

/// What the ResourceManager knows of a registered TaskManager.
#[derive(Debug)]
pub struct TaskManagerInfo {
    pub id: TaskManagerId,
    /// gRPC address (empty for an in-process TaskManager).
    pub rpc_address: String,
    /// host:port of the data port; TaskManagers with the same data address share a process and
    /// exchange data in memory (empty for the embedded cluster).
    pub data_address: String,
    pub slots: u32,
    pub hardware: Hardware,
    pub registered_at: i64,
    last_heartbeat: AtomicI64,
    /// What the TaskManager process uses, from its last heartbeat (None: none yet, or an
    /// in-process TaskManager, which shares this process).
    status: parking_lot::Mutex<Option<ProcessStatus>>,
}

impl TaskManagerInfo {
    pub fn new(
        id: TaskManagerId,
        rpc_address: String,
        data_address: String,
        slots: u32,
        hardware: Hardware,
    ) -> Self {
        let now = now_millis();
        Self {
            id,
            rpc_address,
            data_address,
            slots,
            hardware,
            registered_at: now,
            last_heartbeat: AtomicI64::new(now),
            status: parking_lot::Mutex::new(None),
        }
    }

    pub fn data_port(&self) -> u16 {
        self.data_address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    pub fn last_heartbeat(&self) -> i64 {
        self.last_heartbeat.load(Ordering::Relaxed)
    }

    pub fn record_heartbeat(&self) {
        self.last_heartbeat.store(now_millis(), Ordering::Relaxed);
    }

    pub fn record_status(&self, status: ProcessStatus) {
        *self.status.lock() = Some(status);
    }

    /// What the TaskManager's process uses: from its last heartbeat, or this process now for an
    /// in-process TaskManager (none yet: zeros).
    pub fn process_status(&self) -> ProcessStatus {
        match *self.status.lock() {
            Some(s) => s,
            None if self.rpc_address.is_empty() => ProcessStatus::current(),
            None => ProcessStatus::default(),
        }
    }
}

/// Where a TaskManager sends task state changes and checkpoint answers: the JobMasters
/// (directly in process, over gRPC from a TaskManager process).
pub trait TaskStateListener: Send + Sync {
    fn update_task_state(&self, update: TaskStateUpdate);
    fn acknowledge_checkpoint(&self, ack: CheckpointAck);
    /// Hands a chunk of a collected result to the job's JobMaster (in order with the task's
    /// state updates); `Ok(false)`: its buffer is full, offer it again later.
    fn collect(&self, chunk: ResultChunk) -> Result<bool, String>;
}

/// A chunk of the rows a `collect` sink hands to its JobMaster (see
/// [`strom_runtime::collect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultChunk {
    pub job: JobId,
    pub job_master: JobMasterId,
    /// The sink subtask's attempt number: a newer attempt restarts the result.
    pub attempt_number: u32,
    /// An Arrow IPC stream (empty with `last`).
    pub data: Vec<u8>,
    pub last: bool,
}

/// Why a TaskManager could not answer a question about its process (files, threads).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskManagerQueryError {
    #[error(transparent)]
    File(#[from] LogFileError),
    #[error("TaskManager {task_manager} did not answer: {reason}")]
    Unavailable {
        task_manager: String,
        reason: String,
    },
}

/// The answer of a TaskManager to a question, when it arrives.
pub type Answer<T> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<T, TaskManagerQueryError>> + Send + 'static>,
>;

/// The JobManager's calls into one TaskManager.
pub trait TaskExecutorGateway: Send + Sync {
    fn info(&self) -> &TaskManagerInfo;
    /// Deploys a task. An in-process TaskManager returns the task's live metrics; a remote one
    /// reports them with heartbeats. A deployment that fails reaches the JobMaster as a FAILED
    /// task state.
    fn submit_task(
        &self,
        tdd: TaskDeploymentDescriptor,
        id: ExecutionVertexId,
        job_master: JobMasterId,
    ) -> Option<Arc<TaskMetrics>>;
    fn cancel_task(&self, attempt: AttemptId, job_master: JobMasterId);
    /// Asks a source task to take checkpoint `id` (it injects the barrier).
    fn trigger_checkpoint(
        &self,
        attempt: AttemptId,
        job_master: JobMasterId,
        trigger: strom_runtime::task::CheckpointTrigger,
    );
    /// Tells a task that checkpoint `id` completed (sinks commit); `then_cancel`: and to stop
    /// right after (stop-with-savepoint), in that order.
    fn notify_checkpoint_complete(
        &self,
        attempt: AttemptId,
        job_master: JobMasterId,
        id: u64,
        then_cancel: bool,
    );
    /// Frees the exchanges and stored results of a job round (job end or restart).
    fn release_job(&self, job: JobId, round: u32);
    /// Frees the stored BLOCKING results of `producer` (every round): their consumers finished.
    fn release_results(&self, job: JobId, producer: VertexId);
    /// The files in the TaskManager process's log directory.
    fn file_list(&self) -> Answer<Vec<LogFileInfo>>;
    /// One of the TaskManager process's log files, as bytes.
    fn file(&self, which: LogFile) -> Answer<Vec<u8>>;
    /// The threads of the TaskManager's process.
    fn thread_dump(&self) -> Answer<Vec<ThreadInfo>>;
}

/// The running JobMasters of this JobManager by job, with their fencing tokens.
#[derive(Default)]
pub struct JobMasterRegistry {
    masters: RwLock<HashMap<JobId, (JobMasterId, Sender<JobEvent>)>>,
    /// The result each job's `collect` sink fills.
    results: RwLock<HashMap<JobId, Arc<ResultBuffer>>>,
}

/// A task update was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UpdateRefused {
    #[error("job {0} has no running JobMaster here")]
    UnknownJob(JobId),
    #[error("stale JobMaster id {given} for job {job}: the job's JobMaster is now {current}")]
    StaleJobMaster {
        job: JobId,
        given: JobMasterId,
        current: JobMasterId,
    },
}

impl JobMasterRegistry {
    pub fn register(
        &self,
        job: JobId,
        id: JobMasterId,
        events: Sender<JobEvent>,
        results: Arc<ResultBuffer>,
    ) {
        self.masters.write().insert(job, (id, events));
        self.results.write().insert(job, results);
    }

    pub fn unregister(&self, job: JobId) {
        self.masters.write().remove(&job);
        self.results.write().remove(&job);
    }

    /// Sends an event to every JobMaster (slot changes, TaskManager loss).
    pub fn broadcast(&self, event: impl Fn() -> JobEvent) {
        for (_, tx) in self.masters.read().values() {
            let _ = tx.send(event());
        }
    }

    /// The events of job `job`'s JobMaster, if `given` is its fencing token.
    fn route(&self, job: JobId, given: JobMasterId) -> Result<Sender<JobEvent>, UpdateRefused> {
        let masters = self.masters.read();
        let (current, tx) = masters.get(&job).ok_or(UpdateRefused::UnknownJob(job))?;
        if *current != given {
            return Err(UpdateRefused::StaleJobMaster {
                job,
                given,
                current: *current,
            });
        }
        Ok(tx.clone())
    }

    /// Delivers a task update to its JobMaster if the fencing token matches.
    pub fn deliver(&self, u: TaskStateUpdate) -> Result<(), UpdateRefused> {
        let _ = self
            .route(u.job, u.job_master)?
            .send(JobEvent::TaskState(u));
        Ok(())
    }

    /// A checkpoint answer, if the fencing token matches.
    pub fn deliver_checkpoint(&self, ack: CheckpointAck) -> Result<(), UpdateRefused> {
        let _ = self
            .route(ack.job, ack.job_master)?
            .send(JobEvent::Checkpoint(ack));
        Ok(())
    }

    /// A chunk of a collected result, if the fencing token matches: whether it was taken.
    pub fn deliver_results(&self, c: ResultChunk) -> Result<bool, UpdateRefused> {
        self.route(c.job, c.job_master)?;
        let buffer = self
            .results
            .read()
            .get(&c.job)
            .cloned()
            .ok_or(UpdateRefused::UnknownJob(c.job))?;
        Ok(buffer.offer(c.attempt_number, c.data, c.last))
    }

    /// Remote task metrics from a heartbeat.
    pub fn deliver_metrics(&self, reports: Vec<(JobId, AttemptId, TaskMetricsSnapshot)>) {
        let masters = self.masters.read();
        for (job, attempt, m) in reports {
            if let Some((_, tx)) = masters.get(&job) {
                let _ = tx.send(JobEvent::Metrics(attempt, m));
            }
        }
    }
}

impl TaskStateListener for JobMasterRegistry {
    fn update_task_state(&self, update: TaskStateUpdate) {
        if let Err(e) = self.deliver(update) {
            tracing::debug!("task update refused: {e}");
        }
    }

    fn acknowledge_checkpoint(&self, ack: CheckpointAck) {
        if let Err(e) = self.deliver_checkpoint(ack) {
            tracing::debug!("checkpoint answer refused: {e}");
        }
    }

    fn collect(&self, chunk: ResultChunk) -> Result<bool, String> {
        self.deliver_results(chunk).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_common::{ExecutionState, FailureKind};

    fn update(job: JobId, jm: JobMasterId) -> TaskStateUpdate {
        TaskStateUpdate {
            job,
            job_master: jm,
            id: ExecutionVertexId::new(strom_common::VertexId(1), 0),
            attempt: AttemptId(3),
            state: ExecutionState::Running,
            error: None,
            kind: FailureKind::Recoverable,
            metrics: None,
        }
    }

    #[test]
    fn updates_are_fenced_by_job_master_id() {
        let r = JobMasterRegistry::default();
        let (tx, rx) = crossbeam_channel::unbounded();
        let job = JobId(5);
        let old = JobMasterId(1);
        let new = JobMasterId(2);
        assert_eq!(
            r.deliver(update(job, old)),
            Err(UpdateRefused::UnknownJob(job))
        );
        let results = Arc::new(ResultBuffer::default());
        r.register(job, new, tx, results.clone());
        assert_eq!(
            r.deliver(update(job, old)),
            Err(UpdateRefused::StaleJobMaster {
                job,
                given: old,
                current: new
            })
        );
        assert!(rx.try_recv().is_err(), "a stale update must not arrive");
        assert_eq!(r.deliver(update(job, new)), Ok(()));
        assert!(matches!(rx.try_recv(), Ok(JobEvent::TaskState(_))));
        // collected rows are fenced the same way
        let chunk = |job_master| ResultChunk {
            job,
            job_master,
            attempt_number: 0,
            data: vec![1],
            last: false,
        };
        assert!(r.deliver_results(chunk(old)).is_err());
        assert_eq!(r.deliver_results(chunk(new)), Ok(true));
        assert_eq!(results.fetch(0, usize::MAX).chunks.len(), 1);
        r.unregister(job);
        assert_eq!(
            r.deliver(update(job, new)),
            Err(UpdateRefused::UnknownJob(job))
        );
    }

    #[test]
    fn job_master_ids_round_trip() {
        let id = JobMasterId::random();
        assert_eq!(id.to_string().parse::<JobMasterId>().unwrap(), id);
    }
}
