//! TaskExecutor: the TaskManager side. Runs deployed tasks on their own threads and reports their
//! state transitions to the JobMaster that deployed them, through a [`TaskStateListener`].

use crate::checkpoint_storage::{CheckpointStorage, StorageError};
use crate::gateway::{
    Answer, ResultChunk, TaskExecutorGateway, TaskManagerInfo, TaskManagerQueryError,
    TaskStateListener,
};
use crate::log_files::{LogFile, LogFileError, LogFileInfo};
use crate::protocol::{CheckpointAck, JobMasterId, TaskStateUpdate};
use crate::thread_dump::ThreadInfo;
use crossbeam_channel::Sender;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use strom_common::{AttemptId, DeclineKind, ExecutionState, FailureKind, JobId, VertexId};
use strom_runtime::batch_memory::BatchMemory;
use strom_runtime::collect::ResultCollector;
use strom_runtime::connector::FINAL_CHECKPOINT;
use strom_runtime::error::catch_panic;
use strom_runtime::exchange::LocalShuffle;
use strom_runtime::task::{CheckpointListener, CheckpointTrigger};
use strom_runtime::task_state::{
    decode_task_state, encode_task_state, RestoredState, StateFileError, TaskRestore,
};
use strom_runtime::{
    run_task, ConnectorRegistry, TaskContext, TaskDeploymentDescriptor, TaskError, TaskMetrics,
    TaskMetricsSnapshot,
};
use strom_scheduler::execution_graph::ExecutionVertexId;

struct RunningTask {
    job: JobId,
    cancel: Arc<AtomicBool>,
    metrics: Arc<TaskMetrics>,
    /// Source tasks of a job with checkpoints: where triggers go.
    triggers: Option<Sender<CheckpointTrigger>>,
    /// Completed checkpoints (sinks commit).
    notifications: Option<Sender<u64>>,
}

/// Writes a task's snapshots to the checkpoint directory off the task's thread, then
/// acknowledges; declines go straight to the JobMaster.
struct TaskCheckpointListener {
    /// The job's checkpoint directory, or why it cannot be opened here (then every snapshot
    /// with state is declined, which the JobMaster counts as a failed checkpoint).
    storage: Result<CheckpointStorage, StorageError>,
    file: String,
    ack: CheckpointAck,
    listener: Arc<dyn TaskStateListener>,
}

/// A task's line to its JobMaster for the rows of a `collect` sink.
struct TaskResultCollector {
    listener: Arc<dyn TaskStateListener>,
    job: JobId,
    job_master: JobMasterId,
    attempt_number: u32,
}

impl ResultCollector for TaskResultCollector {
    fn offer(&self, data: Vec<u8>, last: bool) -> Result<bool, String> {
        self.listener.collect(ResultChunk {
            job: self.job,
            job_master: self.job_master,
            attempt_number: self.attempt_number,
            data,
            last,
        })
    }
}

impl CheckpointListener for TaskCheckpointListener {
    fn acknowledge(&self, id: u64, states: Vec<Option<Vec<u8>>>) {
        let mut ack = CheckpointAck {
            checkpoint_id: id,
            ..self.ack.clone()
        };
        if id == FINAL_CHECKPOINT || states.iter().all(Option::is_none) {
            self.listener.acknowledge_checkpoint(ack);
            return;
        }
        let storage = match &self.storage {
            Ok(s) => s.clone(),
            Err(e) => {
                return self.decline(
                    id,
                    DeclineKind::Failed,
                    format!("cannot write the task's state: {e}"),
                )
            }
        };
        let listener = self.listener.clone();
        let rel = format!("chk-{id}/{}", self.file);
        let file = self.file.clone();
        let spawned = std::thread::Builder::new()
            .name("checkpoint-upload".into())
            .spawn(move || {
                let bytes = encode_task_state(&states);
                ack.size = bytes.len() as u64;
                match storage.put(&rel, bytes) {
                    Ok(()) => ack.handle = Some(file),
                    Err(e) => {
                        ack.declined = Some(format!("cannot write the task's state: {e}"));
                        ack.decline_kind = DeclineKind::Failed;
                    }
                }
                listener.acknowledge_checkpoint(ack);
            });
        if let Err(e) = spawned {
            self.decline(
                id,
                DeclineKind::Failed,
                format!("cannot start the state upload: {e}"),
            );
        }
    }

    fn decline(&self, id: u64, kind: DeclineKind, reason: String) {
        self.listener.acknowledge_checkpoint(CheckpointAck {
            checkpoint_id: id,
            declined: Some(reason),
            decline_kind: kind,
            ..self.ack.clone()
        });
    }
}

/// Why the state a task resumes from cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The checkpoint's directory cannot be opened.
    #[error(transparent)]
    Open(StorageError),
    /// A state file cannot be read.
    #[error("cannot restore: {0}")]
    Read(#[source] StorageError),
    /// A state file is not a valid one.
    #[error(
        "cannot restore: {location} is corrupt ({source}); restore from another checkpoint or savepoint"
    )]
    Corrupt {
        location: String,
        source: StateFileError,
    },
}

/// Reads the state files a task resumes from; the error names the file and what is wrong.
fn load_restore(r: &TaskRestore) -> Result<RestoredState, RestoreError> {
    let storage = CheckpointStorage::open(&r.dir).map_err(RestoreError::Open)?;
    RestoredState::load(r, |f| {
        let bytes = storage.get(f).map_err(RestoreError::Read)?;
        decode_task_state(&bytes).map_err(|source| RestoreError::Corrupt {
            location: storage.location(f),
            source,
        })
    })
}

/// The task runner of one TaskManager (in process or in a TaskManager process).
pub struct TaskExecutor {
    shuffle: LocalShuffle,
    network: Option<Arc<strom_runtime::network::NetworkEnvironment>>,
    connectors: Arc<ConnectorRegistry>,
    running: Mutex<HashMap<AttemptId, RunningTask>>,
    batch_memory: BatchMemory,
}

impl TaskExecutor {
    pub fn new(
        shuffle: LocalShuffle,
        network: Option<Arc<strom_runtime::network::NetworkEnvironment>>,
        connectors: Arc<ConnectorRegistry>,
    ) -> Self {
        Self {
            shuffle,
            network,
            connectors,
            running: Mutex::new(HashMap::new()),
            batch_memory: BatchMemory::default(),
        }
    }

    /// What each batch task may use (its slot's share of the managed memory).
    pub fn with_batch_memory(mut self, memory: BatchMemory) -> Self {
        self.batch_memory = memory;
        self
    }

    /// Deploys a task: it reports INITIALIZING, RUNNING and its terminal state to `listener`.
    /// Returns the task's live metrics.
    pub fn submit_task(
        self: &Arc<Self>,
        tdd: TaskDeploymentDescriptor,
        id: ExecutionVertexId,
        job_master: JobMasterId,
        listener: Arc<dyn TaskStateListener>,
    ) -> Arc<TaskMetrics> {
        let cancel = Arc::new(AtomicBool::new(false));
        let metrics = Arc::new(TaskMetrics::default());
        let ctx = self.register(&tdd, id, job_master, &listener, &cancel, &metrics);
        let name = format!(
            "{} ({}/{})",
            tdd.vertex_name,
            tdd.subtask + 1,
            tdd.parallelism
        );
        let job = tdd.job_id;
        let attempt = tdd.attempt_id;
        let send = {
            let listener = listener.clone();
            let metrics = metrics.clone();
            move |state: ExecutionState, error: Option<String>, kind: FailureKind| {
                listener.update_task_state(TaskStateUpdate {
                    job,
                    job_master,
                    id,
                    attempt,
                    state,
                    error,
                    kind,
                    metrics: state.is_terminal().then(|| metrics.snapshot()),
                })
            }
        };
        let thread_name = format!(
            "task-{}-{}",
            tdd.vertex.to_string().get(..8).unwrap_or(""),
            tdd.subtask
        );
        // a deep stack: operators plan and evaluate expressions recursively, as deep as the
        // SQL planner accepts (strom_sql::depth)
        let me = self.clone();
        let spawn = std::thread::Builder::new()
            .name(thread_name)
            .stack_size(strom_plan::expr_codec::DEEP_STACK_BYTES)
            .spawn({
                let send = send.clone();
                move || me.run_attempt(tdd, ctx, name, cancel, send)
            });
        if let Err(e) = spawn {
            self.running.lock().remove(&attempt);
            send(
                ExecutionState::Failed,
                Some(format!("cannot start a task thread: {e}")),
                FailureKind::Recoverable,
            );
        }
        metrics
    }

    /// Registers a task about to run, with its checkpoint channels (a source gets triggers;
    /// every task of a job with checkpoints gets completions and a listener that writes its
    /// snapshots), and answers the context it runs in.
    fn register(
        &self,
        tdd: &TaskDeploymentDescriptor,
        id: ExecutionVertexId,
        job_master: JobMasterId,
        listener: &Arc<dyn TaskStateListener>,
        cancel: &Arc<AtomicBool>,
        metrics: &Arc<TaskMetrics>,
    ) -> TaskContext {
        let is_source = matches!(
            tdd.operators.first(),
            Some(strom_plan::OperatorSpec::Source(_))
        );
        // a directory that cannot be opened fails the checkpoints (they are declined), so
        // that the job learns of it and fails over past the tolerable failures
        let storage = tdd.checkpoint_dir.as_deref().map(|dir| {
            CheckpointStorage::open(dir).inspect_err(|e| {
                tracing::warn!("checkpoints of this task will fail: {e}");
            })
        });
        let (trigger_tx, trigger_rx) = match (&storage, is_source) {
            (Some(_), true) => {
                let (tx, rx) = crossbeam_channel::unbounded();
                (Some(tx), Some(rx))
            }
            _ => (None, None),
        };
        let (note_tx, note_rx) = match &storage {
            Some(_) => {
                let (tx, rx) = crossbeam_channel::unbounded();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        self.running.lock().insert(
            tdd.attempt_id,
            RunningTask {
                job: tdd.job_id,
                cancel: cancel.clone(),
                metrics: metrics.clone(),
                triggers: trigger_tx,
                notifications: note_tx,
            },
        );
        let checkpoints = storage.map(|storage| {
            Arc::new(TaskCheckpointListener {
                storage,
                file: format!("{}-{}.state", tdd.vertex, tdd.subtask),
                ack: CheckpointAck {
                    job: tdd.job_id,
                    job_master,
                    id,
                    attempt: tdd.attempt_id,
                    checkpoint_id: 0,
                    handle: None,
                    size: 0,
                    declined: None,
                    decline_kind: DeclineKind::Failed,
                },
                listener: listener.clone(),
            }) as Arc<dyn CheckpointListener>
        });
        TaskContext {
            shuffle: self.shuffle.clone(),
            network: self.network.clone(),
            connectors: self.connectors.clone(),
            cancel: cancel.clone(),
            metrics: metrics.clone(),
            checkpoints,
            checkpoint_triggers: trigger_rx,
            checkpoint_notifications: note_rx,
            restored: None,
            batch_memory: self.batch_memory.clone(),
            collect: Some(Arc::new(TaskResultCollector {
                listener: listener.clone(),
                job: tdd.job_id,
                job_master,
                attempt_number: tdd.attempt_number,
            })),
        }
    }

    /// The task's thread: loads the state it restores, runs it, and reports how it ended.
    fn run_attempt(
        &self,
        tdd: TaskDeploymentDescriptor,
        mut ctx: TaskContext,
        name: String,
        cancel: Arc<AtomicBool>,
        send: impl Fn(ExecutionState, Option<String>, FailureKind),
    ) {
        let attempt = tdd.attempt_id;
        let ok = FailureKind::Recoverable;
        send(ExecutionState::Initializing, None, ok);
        send(ExecutionState::Running, None, ok);
        let _span = tracing::info_span!("task", job = %tdd.job_id, task = %name, attempt = tdd.attempt_number).entered();
        // operators and sources name themselves when they panic (TaskError::Panic);
        // this catches what panics around them
        let result = catch_panic(
            || "the task".into(),
            || {
                if let Some(r) = &tdd.restore {
                    let restored = load_restore(r).map_err(|e| TaskError::Restore(Box::new(e)))?;
                    ctx.restored = Some(Arc::new(restored));
                }
                run_task(&tdd, &ctx)
            },
        );
        self.running.lock().remove(&attempt);
        match result {
            Ok(()) => send(ExecutionState::Finished, None, ok),
            Err(TaskError::Canceled) => send(ExecutionState::Canceled, None, ok),
            Err(_) if cancel.load(Ordering::Relaxed) => send(ExecutionState::Canceled, None, ok),
            Err(e) => {
                if matches!(e, TaskError::Panic { .. }) {
                    tracing::error!("task {name} failed: {e}");
                } else {
                    tracing::warn!("task {name} failed: {e}");
                }
                send(
                    ExecutionState::Failed,
                    Some(format!("{name}: {e}")),
                    e.kind(),
                )
            }
        }
    }

    /// Asks a running task to stop; it reports CANCELED when it has.
    pub fn cancel_task(&self, attempt: AttemptId) {
        if let Some(t) = self.running.lock().get(&attempt) {
            t.cancel.store(true, Ordering::Relaxed);
        }
    }

    pub fn trigger_checkpoint(&self, attempt: AttemptId, trigger: CheckpointTrigger) {
        if let Some(tx) = self
            .running
            .lock()
            .get(&attempt)
            .and_then(|t| t.triggers.as_ref())
        {
            let _ = tx.send(trigger);
        }
    }

    pub fn notify_checkpoint_complete(&self, attempt: AttemptId, id: u64) {
        if let Some(tx) = self
            .running
            .lock()
            .get(&attempt)
            .and_then(|t| t.notifications.as_ref())
        {
            let _ = tx.send(id);
        }
    }

    /// Cancels every task (of one job, or all): the JobManager was lost.
    pub fn cancel_all(&self, job: Option<JobId>) -> usize {
        let running = self.running.lock();
        let mut n = 0;
        for t in running.values().filter(|t| job.is_none_or(|j| t.job == j)) {
            t.cancel.store(true, Ordering::Relaxed);
            n += 1;
        }
        n
    }

    pub fn running_tasks(&self) -> usize {
        self.running.lock().len()
    }

    /// Live figures of the running tasks, for heartbeats.
    pub fn metrics_report(&self) -> Vec<(JobId, AttemptId, TaskMetricsSnapshot)> {
        self.running
            .lock()
            .iter()
            .map(|(a, t)| (t.job, *a, t.metrics.snapshot()))
            .collect()
    }

    pub fn release_job(&self, job: JobId, round: u32) {
        self.shuffle.release(job, round);
        if let Some(n) = &self.network {
            n.release(job, round);
        }
    }

    pub fn release_results(&self, job: JobId, producer: VertexId) {
        self.shuffle.release_results(job, producer);
    }

    /// The files in this process's log directory (`env.log.dir`).
    pub fn file_list(&self) -> Vec<LogFileInfo> {
        let files = crate::process_log::current();
        crate::log_files::list(files.as_ref().map(|f| f.dir.as_path()))
    }

    /// One of this process's log files.
    pub fn file(&self, which: &LogFile) -> Result<Vec<u8>, LogFileError> {
        crate::log_files::read(
            crate::process_log::current().as_ref(),
            which,
            "TaskExecutor",
        )
    }

    /// The threads of this process.
    pub fn thread_dump(&self) -> Vec<ThreadInfo> {
        crate::thread_dump::threads()
    }
}

/// Runs `f` off the async threads (it reads files or `/proc`).
fn blocking<T: Send + 'static>(
    tm: &TaskManagerInfo,
    f: impl FnOnce() -> Result<T, TaskManagerQueryError> + Send + 'static,
) -> Answer<T> {
    let task_manager = tm.id.to_string();
    Box::pin(async move {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| TaskManagerQueryError::Unavailable {
                task_manager,
                reason: e.to_string(),
            })?
    })
}

/// An in-process TaskManager as the JobManager sees it.
pub struct LocalTaskExecutor {
    pub info: TaskManagerInfo,
    pub executor: Arc<TaskExecutor>,
    pub listener: Arc<dyn TaskStateListener>,
}

impl TaskExecutorGateway for LocalTaskExecutor {
    fn info(&self) -> &TaskManagerInfo {
        &self.info
    }

    fn submit_task(
        &self,
        tdd: TaskDeploymentDescriptor,
        id: ExecutionVertexId,
        job_master: JobMasterId,
    ) -> Option<Arc<TaskMetrics>> {
        Some(
            self.executor
                .submit_task(tdd, id, job_master, self.listener.clone()),
        )
    }

    fn cancel_task(&self, attempt: AttemptId, _job_master: JobMasterId) {
        self.executor.cancel_task(attempt);
    }

    fn trigger_checkpoint(&self, attempt: AttemptId, _jm: JobMasterId, trigger: CheckpointTrigger) {
        self.executor.trigger_checkpoint(attempt, trigger);
    }

    fn notify_checkpoint_complete(
        &self,
        attempt: AttemptId,
        _jm: JobMasterId,
        id: u64,
        then_cancel: bool,
    ) {
        self.executor.notify_checkpoint_complete(attempt, id);
        if then_cancel {
            self.executor.cancel_task(attempt);
        }
    }

    fn release_job(&self, job: JobId, round: u32) {
        self.executor.release_job(job, round);
    }

    fn release_results(&self, job: JobId, producer: VertexId) {
        self.executor.release_results(job, producer);
    }

    fn file_list(&self) -> Answer<Vec<LogFileInfo>> {
        let ex = self.executor.clone();
        blocking(&self.info, move || Ok(ex.file_list()))
    }

    fn file(&self, which: LogFile) -> Answer<Vec<u8>> {
        let ex = self.executor.clone();
        blocking(&self.info, move || Ok(ex.file(&which)?))
    }

    fn thread_dump(&self) -> Answer<Vec<ThreadInfo>> {
        let ex = self.executor.clone();
        blocking(&self.info, move || Ok(ex.thread_dump()))
    }
}
