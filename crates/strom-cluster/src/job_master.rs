//! JobMaster: runs one job. It owns the job's ExecutionGraph, scheduler and restart backoff (all
//! sans-IO), turns their decisions into deployments on TaskExecutors, feeds task state changes
//! back, and restarts the job after failures as its restart strategy allows.

mod checkpointing;
mod metrics_sampling;

pub use checkpointing::{
    checkpoint_event, savepoint_event, CheckpointSetup, SavepointRequest, TriggerRequest,
};
pub use metrics_sampling::SAMPLE_INTERVAL_MS;

use crate::checkpoint_stats::CheckpointStats;
use crate::gateway::{CheckpointAck, JobMasterId, TaskStateListener, TaskStateUpdate};
use crate::resource_manager::ResourceManager;
use checkpointing::Checkpointing;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use strom_common::time::now_millis;
use strom_common::{AttemptId, ExecutionState, FailureKind, JobStatus, JobType};
use strom_plan::{JobGraph, ShipStrategy};
use strom_runtime::exchange::OutputDescriptor;
use strom_runtime::task::RemoteProducer;
use strom_runtime::{InputDescriptor, TaskDeploymentDescriptor, TaskMetrics, TaskMetricsSnapshot};
use strom_scheduler::exception_history::{ExceptionHistory, Failure};
use strom_scheduler::execution_graph::{ExecutionGraph, ExecutionVertexId};
use strom_scheduler::restart_strategy::{RestartBackoff, RestartStrategy};
use strom_scheduler::scheduling_strategy::{Scheduler, SchedulerAction, SchedulingMode};
use strom_scheduler::slot_pool::{SlotId, SlotPolicy, TaskManagerId};

/// Failovers kept in a job's exception history.
const EXCEPTION_HISTORY_SIZE: usize = 64;

/// What reaches a JobMaster.
#[derive(Debug)]
pub enum JobEvent {
    TaskState(TaskStateUpdate),
    /// Live figures of a remote task (heartbeat).
    Metrics(AttemptId, TaskMetricsSnapshot),
    /// Slots were registered or released somewhere in the cluster.
    SlotsChanged,
    /// A TaskManager is gone with its slots and tasks.
    TaskManagerLost(TaskManagerId, String),
    Cancel,
    /// A task acknowledged or declined a checkpoint.
    Checkpoint(CheckpointAck),
    /// Take a checkpoint or a savepoint now (and stop the job after a stop-with-savepoint).
    Trigger(TriggerRequest),
}

/// Figures of one task attempt: live counters in process, reported snapshots from a remote one.
pub enum TaskMetricsHandle {
    Live(Arc<TaskMetrics>),
    Reported(TaskMetricsSnapshot),
}

/// The part of a job other threads read (REST): the ExecutionGraph and live task metrics.
pub struct JobState {
    pub graph: ExecutionGraph,
    pub plan: JobGraph,
    pub metrics: HashMap<AttemptId, TaskMetricsHandle>,
    /// Samples of each attempt's figures, for per-second rates.
    pub rates: HashMap<AttemptId, crate::task_figures::TaskRateMeter>,
    /// The root cause of the latest failover (see [`ExceptionHistory`]).
    pub root_cause: Option<String>,
    pub exceptions: ExceptionHistory,
    pub waiting_for_slots: Option<String>,
    pub restarts: u32,
    pub restart_strategy: String,
    pub checkpoints: CheckpointStats,
}

impl JobState {
    pub fn metrics_of(&self, attempt: AttemptId) -> TaskMetricsSnapshot {
        match self.metrics.get(&attempt) {
            Some(TaskMetricsHandle::Live(m)) => m.snapshot(),
            Some(TaskMetricsHandle::Reported(s)) => *s,
            None => TaskMetricsSnapshot::default(),
        }
    }
}

pub struct JobMasterConfig {
    pub slot_timeout_ms: i64,
    pub policy: SlotPolicy,
    pub restart_strategy: RestartStrategy,
    /// Streaming jobs: checkpoints and savepoints.
    pub checkpoints: Option<CheckpointSetup>,
}

pub struct JobMaster {
    pub id: JobMasterId,
    pub state: Arc<Mutex<JobState>>,
    events: Receiver<JobEvent>,
    rm: Arc<ResourceManager>,
    scheduler: Scheduler,
    config: JobMasterConfig,
    backoff: RestartBackoff,
    /// While RESTARTING: when the new attempt may start.
    restart_at: Option<i64>,
    round: u32,
    ckpt: Option<Checkpointing>,
    /// Stop-with-savepoint: the job ends FINISHED once its tasks are gone.
    stopping: bool,
    /// The attempts told to stop after a stop-with-savepoint: they end FINISHED (as in Flink,
    /// where the sources finish after the savepoint), not CANCELED or FAILED, when their
    /// TaskManager reports them gone.
    stopped: std::collections::HashSet<AttemptId>,
    sampling: metrics_sampling::Sampling,
    /// Called once with the final status.
    on_terminal: Box<dyn FnOnce(JobStatus) + Send>,
}

impl JobMaster {
    pub fn new(
        graph: ExecutionGraph,
        plan: JobGraph,
        rm: Arc<ResourceManager>,
        mut config: JobMasterConfig,
        events: (Sender<JobEvent>, Receiver<JobEvent>),
        on_terminal: Box<dyn FnOnce(JobStatus) + Send>,
    ) -> Self {
        let scheduler = Scheduler::new(&graph, Self::mode(&graph), config.policy);
        let id = JobMasterId::random();
        rm.job_masters.register(graph.job_id, id, events.0);
        let periodic = config.checkpoints.as_ref().and_then(|c| c.periodic.clone());
        let ckpt = config.checkpoints.take().map(|setup| {
            let tasks = graph
                .vertices
                .iter()
                .enumerate()
                .flat_map(|(p, v)| (0..v.parallelism()).map(move |s| (p as u32, s)))
                .collect();
            Checkpointing::new(setup, tasks)
        });
        let mut checkpoints = CheckpointStats::default();
        if let Some(c) = &ckpt {
            checkpoints.settings = c.settings(periodic.as_ref());
            if let Some(r) = &c.restore {
                checkpoints.latest_restored =
                    Some((r.checkpoint_id, now_millis(), r.dir.clone(), true));
                checkpoints.restored = 1;
                checkpoints.restore_report = r.report.clone();
            }
        }
        let state = Arc::new(Mutex::new(JobState {
            graph,
            plan,
            metrics: HashMap::new(),
            rates: HashMap::new(),
            root_cause: None,
            exceptions: ExceptionHistory::new(EXCEPTION_HISTORY_SIZE),
            waiting_for_slots: None,
            restarts: 0,
            restart_strategy: config.restart_strategy.describe(),
            checkpoints,
        }));
        Self {
            id,
            state,
            events: events.1,
            rm,
            scheduler,
            backoff: config.restart_strategy.backoff(),
            config,
            restart_at: None,
            round: 0,
            ckpt,
            stopping: false,
            stopped: Default::default(),
            sampling: Default::default(),
            on_terminal,
        }
    }

    fn mode(graph: &ExecutionGraph) -> SchedulingMode {
        match graph.job_type {
            JobType::Streaming => SchedulingMode::Eager,
            JobType::Batch => SchedulingMode::Lazy,
        }
    }

    /// Runs the job to a terminal state on the calling thread.
    pub fn run(mut self) {
        let job = self.state.lock().graph.job_id;
        let _span = tracing::info_span!("job", %job).entered();
        self.transition_job(JobStatus::Running);
        let actions = {
            let mut pool = self.rm.pool.lock();
            self.scheduler.start(&mut pool)
        };
        self.handle(actions);
        while !self.state.lock().graph.status().is_globally_terminal() {
            let timeout = if self.ckpt.is_some() { 20 } else { 100 };
            match self.events.recv_timeout(Duration::from_millis(timeout)) {
                Ok(ev) => self.on_event(ev),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    let actions = self
                        .scheduler
                        .on_timeout_check(now_millis(), self.config.slot_timeout_ms);
                    self.handle(actions);
                    self.check_all_terminal();
                }
                Err(_) => break,
            }
            self.checkpoint_tick();
            self.sample_metrics(false);
        }
        self.sample_metrics(true);
        self.rm.job_masters.unregister(job);
        self.release_round();
        let status = self.state.lock().graph.status();
        tracing::info!("job {job} reached {status}");
        self.discard_checkpoints(status);
        (self.on_terminal)(status);
    }

    fn transition_job(&self, to: JobStatus) {
        let mut st = self.state.lock();
        if let Err(e) = st.graph.transition_job(to, now_millis()) {
            tracing::debug!("job transition to {to} ignored: {e}");
        }
    }

    fn status(&self) -> JobStatus {
        self.state.lock().graph.status()
    }

    fn on_event(&mut self, ev: JobEvent) {
        match ev {
            JobEvent::SlotsChanged => {
                let actions = {
                    let mut pool = self.rm.pool.lock();
                    self.scheduler.on_slots_changed(&mut pool)
                };
                self.handle(actions);
            }
            JobEvent::Cancel => self.cancel(),
            JobEvent::Metrics(attempt, m) => {
                let mut st = self.state.lock();
                // a heartbeat's figures taken before the task ended can arrive after its final
                // ones (sent with its terminal state): those stand
                let running = st
                    .graph
                    .vertices
                    .iter()
                    .flat_map(|v| v.subtasks.iter())
                    .any(|ev| ev.current.attempt_id == attempt && !ev.current.state.is_terminal());
                if !running {
                    return;
                }
                if let Some(h @ TaskMetricsHandle::Reported(_)) = st.metrics.get_mut(&attempt) {
                    *h = TaskMetricsHandle::Reported(m);
                    st.record_sample(attempt, now_millis(), &m);
                }
            }
            JobEvent::TaskManagerLost(tm, reason) => self.on_task_manager_lost(&tm, reason),
            JobEvent::TaskState(u) => self.on_task_state(u),
            JobEvent::Checkpoint(ack) => self.on_checkpoint_ack(ack),
            JobEvent::Trigger(req) => self.trigger_requested(req),
        }
    }

    fn on_task_state(&mut self, u: TaskStateUpdate) {
        let TaskStateUpdate {
            id,
            attempt,
            state,
            error,
            kind,
            metrics,
            ..
        } = u;
        // a task told to stop after a stop-with-savepoint ends FINISHED, also when it saw its
        // upstream or downstream stop first (a failure) before its own stop arrived
        let state = match state {
            ExecutionState::Canceled | ExecutionState::Failed if self.stopped.remove(&attempt) => {
                if state == ExecutionState::Failed {
                    tracing::debug!("a stopped task ended with an error: {error:?}");
                }
                ExecutionState::Finished
            }
            s => s,
        };
        {
            let mut st = self.state.lock();
            if let Err(e) =
                st.graph
                    .transition_task(id, attempt, state, now_millis(), error.clone())
            {
                tracing::debug!("task update ignored: {e}");
                return;
            }
            if let Some(m) = metrics {
                if let Some(h @ TaskMetricsHandle::Reported(_)) = st.metrics.get_mut(&attempt) {
                    *h = TaskMetricsHandle::Reported(m);
                    st.record_sample(attempt, now_millis(), &m);
                }
            }
        }
        match state {
            ExecutionState::Finished => {
                let actions = {
                    let mut pool = self.rm.pool.lock();
                    self.scheduler.on_task_finished(id, &mut pool)
                };
                self.handle(actions);
                self.checkpoint_task_finished(id);
            }
            ExecutionState::Failed => {
                self.checkpoint_task_failed(id);
                let actions = {
                    let mut pool = self.rm.pool.lock();
                    self.scheduler.on_task_failed(id, &mut pool)
                };
                // whether the job fails or restarts is decided here, not by the scheduler
                self.handle(
                    actions
                        .into_iter()
                        .filter(|a| !matches!(a, SchedulerAction::FailJob { .. }))
                        .collect(),
                );
                let (task, task_manager) = self.describe_task(id);
                self.on_failure(Failure {
                    timestamp: now_millis(),
                    message: error.unwrap_or_else(|| "task failed".into()),
                    task,
                    task_manager,
                    kind,
                });
            }
            _ => {}
        }
        self.check_all_terminal();
    }

    fn describe_task(&self, id: ExecutionVertexId) -> (Option<String>, Option<String>) {
        let st = self.state.lock();
        let Some(v) = st.graph.job_vertex(id.vertex) else {
            return (None, None);
        };
        let task = format!("{} ({}/{})", v.vertex.name, id.subtask + 1, v.parallelism());
        let tm = v.subtasks[id.subtask as usize]
            .current
            .slot
            .as_ref()
            .map(|s| s.task_manager.to_string());
        (Some(task), tm)
    }

    fn on_task_manager_lost(&mut self, tm: &TaskManagerId, reason: String) {
        let now = now_millis();
        let mut lost = Vec::new();
        {
            let mut st = self.state.lock();
            let on_tm: Vec<(ExecutionVertexId, AttemptId)> = st
                .graph
                .vertices
                .iter()
                .flat_map(|v| v.subtasks.iter())
                .filter(|ev| !ev.current.state.is_terminal())
                .filter(|ev| {
                    ev.current
                        .slot
                        .as_ref()
                        .is_some_and(|s| &s.task_manager == tm)
                })
                .map(|ev| (ev.id, ev.current.attempt_id))
                .collect();
            for (id, attempt) in on_tm {
                let to = if st
                    .graph
                    .execution_vertex(id)
                    .is_some_and(|ev| ev.current.state == ExecutionState::Canceling)
                {
                    ExecutionState::Canceled
                } else {
                    ExecutionState::Failed
                };
                let _ = st
                    .graph
                    .transition_task(id, attempt, to, now, Some(reason.clone()));
                lost.push(id);
            }
        }
        if lost.is_empty() {
            return;
        }
        for id in &lost {
            self.checkpoint_task_failed(*id);
        }
        for id in &lost {
            let actions = {
                let mut pool = self.rm.pool.lock();
                self.scheduler.on_task_failed(*id, &mut pool)
            };
            self.handle(
                actions
                    .into_iter()
                    .filter(|a| !matches!(a, SchedulerAction::FailJob { .. }))
                    .collect(),
            );
        }
        let (task, _) = self.describe_task(lost[0]);
        self.on_failure(Failure {
            timestamp: now,
            message: reason,
            task,
            task_manager: Some(tm.to_string()),
            kind: FailureKind::TaskManagerLost,
        });
        self.check_all_terminal();
    }

    /// A failure: it starts a failover or joins the one in progress (where it may become the
    /// root cause, see [`ExceptionHistory`]). A new failover restarts the job if the restart
    /// strategy allows and none of its failures is certain to happen again; else the job
    /// fails. A failure certain to happen again that joins a failover waiting to restart turns
    /// it into the job's failure.
    fn on_failure(&mut self, failure: Failure) {
        let now = failure.timestamp;
        let status = self.status();
        let starts = matches!(status, JobStatus::Running | JobStatus::Created);
        let (cause, suppressed) = {
            let mut st = self.state.lock();
            if starts {
                st.exceptions.close();
            }
            st.exceptions.record(failure);
            let cause = st
                .exceptions
                .root()
                .map(|r| r.message.clone())
                .unwrap_or_default();
            st.root_cause = Some(cause.clone());
            (cause, st.exceptions.suppresses_restarts())
        };
        if !starts {
            if suppressed && status == JobStatus::Restarting && self.restart_at.take().is_some() {
                tracing::warn!(
                    "job failing instead of restarting: {cause} (this failure happens again on \
                     every attempt)"
                );
            }
            return;
        }
        if suppressed {
            tracing::warn!(
                "not restarting the job: the failure happens again on every attempt: {cause}"
            );
            self.fail(cause);
            return;
        }
        self.backoff.notify_failure(now, rand::random::<f64>());
        if self.backoff.can_restart() {
            let delay = self.backoff.backoff_ms();
            tracing::warn!("job failed ({cause}); restarting in {delay} ms");
            self.transition_job(JobStatus::Restarting);
            self.restart_at = Some(now + delay);
            self.cancel_tasks();
        } else {
            self.fail(cause);
        }
    }

    /// A failure of the job as a whole (no task of its own): it fails over.
    fn job_failure(&mut self, message: String) {
        self.on_failure(Failure {
            timestamp: now_millis(),
            message,
            task: None,
            task_manager: None,
            kind: FailureKind::Recoverable,
        });
    }

    fn handle(&mut self, actions: Vec<SchedulerAction>) {
        for a in actions {
            match a {
                SchedulerAction::Deploy(list) => self.deploy(list),
                SchedulerAction::WaitingForSlots {
                    needed,
                    available,
                    total,
                } => {
                    let msg = format!("waiting for slots: the job needs {needed} slots, {available} of {total} are free");
                    tracing::info!("{msg}");
                    self.state.lock().waiting_for_slots = Some(msg);
                }
                SchedulerAction::ReleaseSlots(_) => {
                    // the scheduler already returned them to the pool: tell waiting jobs
                    self.rm.notify_slots_changed();
                }
                SchedulerAction::JobFinished => {
                    self.transition_job(JobStatus::Finished);
                }
                SchedulerAction::FailJob { reason } => self.fail(reason),
            }
        }
    }

    /// The data address of the TaskManager holding `slot` ("" in process or unknown).
    fn data_address(&self, slot: Option<&SlotId>) -> String {
        slot.and_then(|s| self.rm.task_executor(&s.task_manager))
            .map(|te| te.info().data_address.clone())
            .unwrap_or_default()
    }

    fn deploy(&mut self, list: Vec<(ExecutionVertexId, SlotId)>) {
        let mut st = self.state.lock();
        st.waiting_for_slots = None;
        let now = now_millis();
        // first record every placement, so that descriptors see where their peers run
        for (id, slot) in &list {
            let Some(attempt) = st.graph.current_attempt(*id) else {
                continue;
            };
            let _ = st.graph.set_slot(*id, attempt, Some(slot.clone()));
            let _ = st
                .graph
                .transition_task(*id, attempt, ExecutionState::Scheduled, now, None);
            let _ = st
                .graph
                .transition_task(*id, attempt, ExecutionState::Deploying, now, None);
        }
        let mut submissions = Vec::new();
        for (id, slot) in list {
            let g = &st.graph;
            let Some(ejv) = g.job_vertex(id.vertex) else {
                continue;
            };
            let ev = &ejv.subtasks[id.subtask as usize];
            let here = self.data_address(Some(&slot));
            let slot_of = |v, s: u32| {
                g.job_vertex(v)
                    .and_then(|jv| jv.subtasks.get(s as usize))
                    .and_then(|e| e.current.slot.clone())
            };
            let inputs = g
                .edges
                .iter()
                .filter(|e| e.target == id.vertex)
                .map(|e| {
                    let producer_parallelism =
                        g.job_vertex(e.source).map(|v| v.parallelism()).unwrap_or(1);
                    let forward = e.ship_strategy == ShipStrategy::Forward;
                    let producers = if forward {
                        id.subtask..id.subtask + 1
                    } else {
                        0..producer_parallelism
                    };
                    let remote_producers = producers
                        .filter_map(|p| {
                            let addr = self.data_address(slot_of(e.source, p).as_ref());
                            (addr != here).then_some(RemoteProducer {
                                subtask: p,
                                data_address: addr,
                            })
                        })
                        .collect();
                    InputDescriptor {
                        producer: e.source,
                        producer_parallelism,
                        input_index: e.input_index,
                        result_type: e.result_type,
                        forward,
                        remote_producers,
                    }
                })
                .collect();
            let outputs = g
                .edges
                .iter()
                .filter(|e| e.source == id.vertex)
                .map(|e| {
                    let consumer_parallelism =
                        g.job_vertex(e.target).map(|v| v.parallelism()).unwrap_or(1);
                    let consumers = if e.ship_strategy == ShipStrategy::Forward {
                        id.subtask..id.subtask + 1
                    } else {
                        0..consumer_parallelism
                    };
                    let remote_consumers = match e.result_type {
                        // stored results are fetched by the consumers wherever they run
                        strom_plan::ResultType::Blocking => Vec::new(),
                        strom_plan::ResultType::Pipelined => consumers
                            .filter(|c| self.data_address(slot_of(e.target, *c).as_ref()) != here)
                            .collect(),
                    };
                    OutputDescriptor {
                        max_parallelism: g
                            .job_vertex(e.target)
                            .map(|v| v.vertex.max_parallelism)
                            .unwrap_or(128),
                        consumer: e.target,
                        consumer_parallelism,
                        input_index: e.input_index,
                        ship_strategy: e.ship_strategy.clone(),
                        result_type: e.result_type,
                        remote_consumers,
                    }
                })
                .collect();
            let vertex_pos = g.vertex_position(id.vertex).unwrap_or(usize::MAX);
            let tdd = TaskDeploymentDescriptor {
                checkpointing: self.ckpt.as_ref().is_some_and(|c| c.exactly_once()),
                checkpoint_dir: self.ckpt.as_ref().map(|c| c.dir()),
                max_parallelism: ejv.vertex.max_parallelism,
                restore: self.restore_for(vertex_pos),
                job_id: g.job_id,
                round: self.round,
                vertex: id.vertex,
                vertex_name: ejv.vertex.name.clone(),
                subtask: id.subtask,
                parallelism: ejv.vertex.parallelism,
                attempt_id: ev.current.attempt_id,
                attempt_number: ev.current.attempt_number,
                operators: ejv.vertex.operators.clone(),
                inputs,
                outputs,
            };
            submissions.push((slot, tdd, id));
        }
        for (slot, tdd, id) in submissions {
            let attempt = tdd.attempt_id;
            match self.rm.task_executor(&slot.task_manager) {
                Some(te) => {
                    let handle = match te.submit_task(tdd, id, self.id) {
                        Some(m) => TaskMetricsHandle::Live(m),
                        None => TaskMetricsHandle::Reported(TaskMetricsSnapshot::default()),
                    };
                    st.metrics.insert(attempt, handle);
                }
                None => {
                    let job = st.graph.job_id;
                    self.rm.job_masters.update_task_state(TaskStateUpdate {
                        job,
                        job_master: self.id,
                        id,
                        attempt,
                        state: ExecutionState::Failed,
                        error: Some(format!("TaskManager {} is gone", slot.task_manager)),
                        kind: FailureKind::TaskManagerLost,
                        metrics: None,
                    });
                }
            }
        }
    }

    /// Cancels every task that is not terminal yet.
    fn cancel_tasks(&self) {
        let mut st = self.state.lock();
        let now = now_millis();
        let mut to_cancel = Vec::new();
        for v in &st.graph.vertices {
            for ev in &v.subtasks {
                let e = &ev.current;
                match e.state {
                    s if s.is_terminal() => {}
                    // already stopping after a stop-with-savepoint
                    _ if self.stopped.contains(&e.attempt_id) => {}
                    ExecutionState::Created | ExecutionState::Scheduled => {
                        to_cancel.push((ev.id, e.attempt_id, None))
                    }
                    _ => to_cancel.push((ev.id, e.attempt_id, e.slot.clone())),
                }
            }
        }
        for (id, attempt, slot) in to_cancel {
            let te = slot
                .as_ref()
                .and_then(|s| self.rm.task_executor(&s.task_manager));
            match te {
                None => {
                    let _ =
                        st.graph
                            .transition_task(id, attempt, ExecutionState::Canceled, now, None);
                }
                Some(te) => {
                    let _ =
                        st.graph
                            .transition_task(id, attempt, ExecutionState::Canceling, now, None);
                    te.cancel_task(attempt, self.id);
                }
            }
        }
    }

    fn cancel(&mut self) {
        let status = self.status();
        if status.is_globally_terminal() || status == JobStatus::Cancelling {
            return;
        }
        self.restart_at = None;
        self.transition_job(JobStatus::Cancelling);
        self.cancel_tasks();
        self.check_all_terminal();
    }

    /// The job fails (no restart): `cause` is its root cause unless a failover in progress has
    /// one.
    fn fail(&mut self, cause: String) {
        tracing::warn!("job failing: {cause}");
        {
            let mut st = self.state.lock();
            if !st.exceptions.is_open() {
                st.exceptions.record(Failure {
                    timestamp: now_millis(),
                    message: cause,
                    task: None,
                    task_manager: None,
                    kind: FailureKind::NonRecoverable,
                });
            }
            st.root_cause = st.exceptions.root().map(|r| r.message.clone());
        }
        self.transition_job(JobStatus::Failing);
        self.cancel_tasks();
        self.check_all_terminal();
    }

    /// Frees this round's exchanges on every TaskManager.
    fn release_round(&self) {
        let job = self.state.lock().graph.job_id;
        for te in self.rm.task_executors() {
            te.release_job(job, self.round);
        }
    }

    /// When every task is terminal: a FAILING or CANCELLING job reaches FAILED or CANCELED and its
    /// slots go back to the pool; a RESTARTING job starts its next attempt once its backoff passed.
    fn check_all_terminal(&mut self) {
        let (status, all_terminal) = {
            let st = self.state.lock();
            let all = st
                .graph
                .vertices
                .iter()
                .all(|v| v.subtasks.iter().all(|e| e.current.state.is_terminal()));
            (st.graph.status(), all)
        };
        if !all_terminal {
            return;
        }
        let target = match status {
            JobStatus::Running if self.stopping => JobStatus::Finished,
            JobStatus::Failing => JobStatus::Failed,
            JobStatus::Cancelling => JobStatus::Canceled,
            // a failure certain to happen again joined the failover: no restart
            JobStatus::Restarting if self.state.lock().exceptions.suppresses_restarts() => {
                JobStatus::Failed
            }
            JobStatus::Restarting => {
                if self.restart_at.is_some_and(|t| now_millis() >= t) {
                    self.restart();
                }
                return;
            }
            _ => return,
        };
        let _released = {
            let mut pool = self.rm.pool.lock();
            self.scheduler.on_cancel(&mut pool)
        };
        self.rm.notify_slots_changed();
        self.transition_job(target);
    }

    /// Starts the next attempt of every subtask in a new execution round.
    fn restart(&mut self) {
        self.restart_at = None;
        self.stopped.clear();
        {
            let mut pool = self.rm.pool.lock();
            self.scheduler.on_cancel(&mut pool);
        }
        self.release_round();
        self.round += 1;
        self.choose_restore_point();
        let now = now_millis();
        {
            let mut st = self.state.lock();
            let ids: Vec<ExecutionVertexId> = st.graph.execution_vertex_ids().collect();
            st.graph.reset_for_restart(&ids, now);
            st.restarts += 1;
            // the failover is over: the next failure starts another one
            st.exceptions.close();
            self.scheduler = Scheduler::new(&st.graph, Self::mode(&st.graph), self.config.policy);
        }
        tracing::info!("restarting the job (attempt round {})", self.round);
        self.transition_job(JobStatus::Running);
        self.rm.notify_slots_changed();
        let actions = {
            let mut pool = self.rm.pool.lock();
            self.scheduler.start(&mut pool)
        };
        self.handle(actions);
    }
}
