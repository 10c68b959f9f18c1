//! The decisions of one job, sans-IO (Flink's `DefaultScheduler` beside its `JobMaster`): the one
//! owner of the job's [`ExecutionGraph`], its [`Scheduler`], its restart backoff and its
//! exception history. It decides task placement, failover, TaskManager loss,
//! stop-with-savepoint, cancellation and the job's terminal state.
//!
//! [`JobCore::on`] takes one [`JobInput`] (with the time, and the slot pool the scheduler
//! allocates from) and returns the [`JobCommand`]s the JobMaster carries out: deployments,
//! cancellations at TaskManagers, and what checkpointing must hear of. It never blocks, spawns
//! or reads a clock; randomness (the restart backoff's jitter) comes from a seeded generator.

use crate::exception_history::{ExceptionHistory, Failure};
use crate::execution_graph::{ExecutionGraph, ExecutionVertexId};
use crate::failover_strategy::FailoverStrategy;
use crate::job_slot_pool::{JobSlotPool, ResourceManagerGateway, SlotProvider};
use crate::restart_strategy::{RestartBackoff, RestartStrategy};
use crate::scheduling_strategy::{Scheduler, SchedulerAction, SchedulingMode};
use crate::slot_pool::{SlotId, SlotPolicy, TaskManagerId};
use std::collections::{BTreeSet, HashSet};
use strom_common::{AttemptId, ExecutionState, FailureKind, JobStatus, JobType, VertexId};
use strom_plan::ResultType;

/// How a job is run.
#[derive(Debug, Clone)]
pub struct JobCoreConfig {
    /// How long a deployment that cannot fit may wait for slots (`slot.request.timeout`).
    pub slot_timeout_ms: i64,
    pub policy: SlotPolicy,
    pub restart_strategy: RestartStrategy,
    /// What a failure restarts (`region` applies to batch jobs; a streaming job restarts whole
    /// from its latest checkpoint).
    pub failover: FailoverStrategy,
    /// Failovers kept in the exception history.
    pub exception_history_size: usize,
    /// Seed of the restart backoff's jitter.
    pub seed: u64,
}

/// What happens to a job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobInput {
    /// The job starts (once).
    Start,
    /// Slots were added to or removed from the pool.
    SlotsChanged,
    /// A TaskManager reports a state of a task attempt.
    TaskState {
        id: ExecutionVertexId,
        attempt: AttemptId,
        state: ExecutionState,
        error: Option<String>,
        kind: FailureKind,
    },
    /// A TaskManager is gone with its slots and tasks (its slots already left the pool).
    TaskManagerLost {
        task_manager: TaskManagerId,
        reason: String,
    },
    /// Cancel the job.
    Cancel,
    /// This JobManager lost its leadership (high availability): the job's tasks are canceled
    /// and it ends SUSPENDED, only locally terminal, for the next leader to resume it.
    Suspend,
    /// Time passed: slot timeouts, and a restart whose backoff is over.
    Tick,
    /// A failure of the job as a whole, no task of its own (checkpoints failing past the
    /// tolerable number, a stop-with-savepoint that failed): the job fails over.
    JobFailure(String),
    /// A stop-with-savepoint completed and these attempts were told to stop: they end FINISHED
    /// whatever they report, and the job ends FINISHED once every task is gone.
    Stop { attempts: Vec<AttemptId> },
}

/// What the JobMaster must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum JobCommand {
    /// Deploy these subtasks into these slots; the graph already records each placement and the
    /// attempt as DEPLOYING. A deployment that cannot reach its TaskManager is reported back as
    /// a FAILED task state.
    Deploy(Vec<(ExecutionVertexId, SlotId)>),
    /// Cancel this attempt at the TaskManager of `slot` (the graph records it CANCELING). When
    /// that TaskManager is gone, report the attempt CANCELED.
    CancelTask {
        id: ExecutionVertexId,
        attempt: AttemptId,
        slot: SlotId,
    },
    /// Slots went back to the pool: jobs waiting for slots may take them.
    SlotsReleased,
    /// A task finished: checkpoints in flight cannot complete without it; the final commit may
    /// be due.
    TaskFinished(ExecutionVertexId),
    /// A task failed or was lost: checkpoints in flight abort.
    TaskFailed(ExecutionVertexId),
    /// Region failover: these subtasks (whole pipelined regions) start new attempts in round
    /// `round`, the rest of the job goes on (the `Deploy` of those that can run follows).
    RestartTasks {
        tasks: Vec<ExecutionVertexId>,
        round: u32,
    },
    /// Every consumer of this vertex's BLOCKING results finished: free them on every
    /// TaskManager (a region that needs them again reruns the vertex).
    ReleaseResults(VertexId),
    /// The job restarts in a new execution round: free the exchanges of `previous_round` and
    /// choose the checkpoint the new attempts restore from (before the `Deploy` that follows).
    Restart { previous_round: u32 },
}

/// A region failover waiting for its subtasks to stop and its backoff to pass.
#[derive(Debug, Clone)]
struct RegionalRestart {
    tasks: BTreeSet<ExecutionVertexId>,
    at: i64,
}

/// The decision state of one job.
pub struct JobCore {
    graph: ExecutionGraph,
    scheduler: Scheduler,
    config: JobCoreConfig,
    backoff: RestartBackoff,
    /// While RESTARTING: when the new attempt may start.
    restart_at: Option<i64>,
    /// A region failover under way (the job stays RUNNING): its subtasks are canceled, then
    /// start again once all are terminal and the backoff passed.
    regional: Option<RegionalRestart>,
    /// TaskManagers lost: the BLOCKING results of tasks that finished on them are gone.
    lost_task_managers: HashSet<TaskManagerId>,
    /// Vertices whose BLOCKING results were freed (all their consumers finished).
    released_results: HashSet<VertexId>,
    /// The execution round: incremented on every restart.
    round: u32,
    restarts: u32,
    /// Stop-with-savepoint: the job ends FINISHED once its tasks are gone.
    stopping: bool,
    /// The attempts told to stop after a stop-with-savepoint: they end FINISHED (as in Flink,
    /// where the sources finish after the savepoint), not CANCELED or FAILED.
    stopped: HashSet<AttemptId>,
    exceptions: ExceptionHistory,
    /// The root cause of the latest failover.
    root_cause: Option<String>,
    waiting_for_slots: Option<String>,
    rng: u64,
    slots: JobSlotPool,
    out: Vec<JobCommand>,
}

impl JobCore {
    pub fn new(graph: ExecutionGraph, config: JobCoreConfig) -> Self {
        let scheduler = Self::scheduler_for(&graph, config.policy);
        Self {
            scheduler,
            backoff: config.restart_strategy.backoff(),
            exceptions: ExceptionHistory::new(config.exception_history_size),
            rng: config.seed,
            config,
            graph,
            restart_at: None,
            regional: None,
            lost_task_managers: HashSet::new(),
            released_results: HashSet::new(),
            round: 0,
            restarts: 0,
            stopping: false,
            stopped: HashSet::new(),
            root_cause: None,
            waiting_for_slots: None,
            slots: JobSlotPool::default(),
            out: Vec::new(),
        }
    }

    fn scheduler_for(graph: &ExecutionGraph, policy: SlotPolicy) -> Scheduler {
        Scheduler::new(graph, SchedulingMode::for_job_type(graph.job_type), policy)
    }

    pub fn graph(&self) -> &ExecutionGraph {
        &self.graph
    }

    pub fn status(&self) -> JobStatus {
        self.graph.status()
    }

    pub fn round(&self) -> u32 {
        self.round
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    pub fn exceptions(&self) -> &ExceptionHistory {
        &self.exceptions
    }

    /// The root cause of the latest failover (or of the job's failure).
    pub fn root_cause(&self) -> Option<&str> {
        self.root_cause.as_deref()
    }

    /// Why the job waits, while a deployment waits for slots.
    pub fn waiting_for_slots(&self) -> Option<&str> {
        self.waiting_for_slots.as_deref()
    }

    pub fn restart_strategy(&self) -> &RestartStrategy {
        &self.config.restart_strategy
    }

    /// Keeps a note beside the failures (e.g. a checkpoint that could not be restored).
    pub fn note(&mut self, note: Failure) {
        self.exceptions.note(note);
    }

    /// The slots the job holds.
    pub fn slots(&self) -> &JobSlotPool {
        &self.slots
    }

    /// Feeds one input; returns what to carry out, in order. Slots come from and go back to the
    /// ResourceManager through the job's own slot pool.
    pub fn on(
        &mut self,
        input: JobInput,
        now: i64,
        rm: &mut dyn ResourceManagerGateway,
    ) -> Vec<JobCommand> {
        let status = self.graph.status();
        if status.is_globally_terminal() || status == JobStatus::Suspended {
            // nothing more happens to a job that ended or was suspended here
            return Vec::new();
        }
        if let JobInput::TaskManagerLost { task_manager, .. } = &input {
            self.slots.task_manager_lost(task_manager);
        }
        let mut slots = std::mem::take(&mut self.slots);
        self.decide(input, now, &mut slots.with(rm));
        self.slots = slots;
        std::mem::take(&mut self.out)
    }

    fn decide(&mut self, input: JobInput, now: i64, pool: &mut dyn SlotProvider) {
        match input {
            JobInput::Start => {
                self.transition_job(JobStatus::Running, now);
                let actions = self.scheduler.start(pool);
                self.handle(actions, now, pool);
            }
            JobInput::SlotsChanged => {
                let actions = self.scheduler.on_slots_changed(pool);
                self.handle(actions, now, pool);
            }
            JobInput::TaskState {
                id,
                attempt,
                state,
                error,
                kind,
            } => self.on_task_state(id, attempt, state, error, kind, now, pool),
            JobInput::TaskManagerLost {
                task_manager,
                reason,
            } => self.on_task_manager_lost(&task_manager, reason, now, pool),
            JobInput::Cancel => self.cancel(now, pool),
            JobInput::Suspend => self.suspend(now),
            JobInput::Tick => {
                let actions = self
                    .scheduler
                    .on_timeout_check(now, self.config.slot_timeout_ms);
                self.handle(actions, now, pool);
                self.check_all_terminal(now, pool);
            }
            JobInput::JobFailure(message) => self.on_failure(
                Failure {
                    timestamp: now,
                    message,
                    task: None,
                    task_manager: None,
                    kind: FailureKind::Recoverable,
                },
                None,
                pool,
            ),
            JobInput::Stop { attempts } => {
                tracing::info!("stopping the job after its savepoint");
                self.stopping = true;
                self.stopped.extend(attempts);
                // the tasks that were not running (none, after a complete checkpoint) are canceled
                self.cancel_tasks(now);
                self.check_all_terminal(now, pool);
            }
        }
    }

    fn transition_job(&mut self, to: JobStatus, now: i64) {
        if let Err(e) = self.graph.transition_job(to, now) {
            tracing::debug!("job transition to {to} ignored: {e}");
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_task_state(
        &mut self,
        id: ExecutionVertexId,
        attempt: AttemptId,
        state: ExecutionState,
        error: Option<String>,
        kind: FailureKind,
        now: i64,
        pool: &mut dyn SlotProvider,
    ) {
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
        if let Err(e) = self
            .graph
            .transition_task(id, attempt, state, now, error.clone())
        {
            tracing::debug!("task update ignored: {e}");
            return;
        }
        match state {
            ExecutionState::Finished => {
                let actions = self.scheduler.on_task_finished(id, pool);
                self.handle(actions, now, pool);
                self.out.push(JobCommand::TaskFinished(id));
                self.release_consumed_results(id.vertex);
            }
            ExecutionState::Failed => {
                self.out.push(JobCommand::TaskFailed(id));
                let actions = self.scheduler.on_task_stopped(id, pool);
                self.handle(actions, now, pool);
                let (task, task_manager) = self.describe_task(id);
                self.on_failure(
                    Failure {
                        timestamp: now,
                        message: error.unwrap_or_else(|| "task failed".into()),
                        task,
                        task_manager,
                        kind,
                    },
                    Some(&[id]),
                    pool,
                );
            }
            ExecutionState::Canceled => {
                let actions = self.scheduler.on_task_stopped(id, pool);
                self.handle(actions, now, pool);
            }
            _ => {}
        }
        self.check_all_terminal(now, pool);
    }

    /// "name (subtask/parallelism)" of a subtask, and the TaskManager it runs on.
    fn describe_task(&self, id: ExecutionVertexId) -> (Option<String>, Option<String>) {
        let Some(v) = self.graph.job_vertex(id.vertex) else {
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

    fn on_task_manager_lost(
        &mut self,
        tm: &TaskManagerId,
        reason: String,
        now: i64,
        pool: &mut dyn SlotProvider,
    ) {
        let on_tm: Vec<(ExecutionVertexId, AttemptId, ExecutionState)> = self
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
            .map(|ev| (ev.id, ev.current.attempt_id, ev.current.state))
            .collect();
        self.lost_task_managers.insert(tm.clone());
        if on_tm.is_empty() {
            // no task of the job runs there, but results it still needs may have been stored
            // there: their regions run again
            if self.uses_regions()
                && self.graph.status() == JobStatus::Running
                && !self.tasks_to_restart(&[]).is_empty()
            {
                self.on_failure(
                    Failure {
                        timestamp: now,
                        message: reason,
                        task: None,
                        task_manager: Some(tm.to_string()),
                        kind: FailureKind::TaskManagerLost,
                    },
                    Some(&[]),
                    pool,
                );
                self.check_all_terminal(now, pool);
            }
            return;
        }
        let mut lost = Vec::new();
        for (id, attempt, state) in on_tm {
            let to = if state == ExecutionState::Canceling {
                ExecutionState::Canceled
            } else {
                ExecutionState::Failed
            };
            let _ = self
                .graph
                .transition_task(id, attempt, to, now, Some(reason.clone()));
            lost.push(id);
        }
        for id in &lost {
            self.out.push(JobCommand::TaskFailed(*id));
        }
        for id in &lost {
            let actions = self.scheduler.on_task_stopped(*id, pool);
            self.handle(actions, now, pool);
        }
        let (task, _) = self.describe_task(lost[0]);
        self.on_failure(
            Failure {
                timestamp: now,
                message: reason,
                task,
                task_manager: Some(tm.to_string()),
                kind: FailureKind::TaskManagerLost,
            },
            Some(&lost),
            pool,
        );
        self.check_all_terminal(now, pool);
    }

    /// A failure: it starts a failover or joins the one in progress (where it may become the
    /// root cause, see [`ExceptionHistory`]). A new failover restarts the job if the restart
    /// strategy allows and none of its failures is certain to happen again; else the job
    /// fails. A failure certain to happen again that joins a failover waiting to restart turns
    /// it into the job's failure.
    ///
    /// `failed`: the subtasks that failed (`None`: the job as a whole failed). With the `region`
    /// failover strategy a batch job restarts only the pipelined regions these touch, and stays
    /// RUNNING meanwhile.
    fn on_failure(
        &mut self,
        failure: Failure,
        failed: Option<&[ExecutionVertexId]>,
        pool: &mut dyn SlotProvider,
    ) {
        let now = failure.timestamp;
        let status = self.graph.status();
        // a subtask of a region failover under way failing (e.g. as its peers are canceled)
        // joins that failover
        let joins_regional = self.regional.as_ref().is_some_and(|r| {
            failed.is_some_and(|f| !f.is_empty() && f.iter().all(|id| r.tasks.contains(id)))
        });
        let starts = matches!(status, JobStatus::Running | JobStatus::Created) && !joins_regional;
        if starts {
            self.exceptions.close();
        }
        self.exceptions.record(failure);
        let cause = self
            .exceptions
            .root()
            .map(|r| r.message.clone())
            .unwrap_or_default();
        self.root_cause = Some(cause.clone());
        let suppressed = self.exceptions.suppresses_restarts();
        if !starts {
            if suppressed && status == JobStatus::Restarting && self.restart_at.take().is_some() {
                tracing::warn!(
                    "job failing instead of restarting: {cause} (this failure happens again on \
                     every attempt)"
                );
            }
            if suppressed && joins_regional {
                self.fail(cause, now, pool);
            }
            return;
        }
        if suppressed {
            tracing::warn!(
                "not restarting the job: the failure happens again on every attempt: {cause}"
            );
            self.fail(cause, now, pool);
            return;
        }
        let jitter = self.next_jitter();
        self.backoff.notify_failure(now, jitter);
        if self.backoff.can_restart() {
            let delay = self.backoff.backoff_ms();
            if let Some(failed) = failed.filter(|_| self.uses_regions()) {
                self.restart_regions_later(failed, now, delay, &cause);
                return;
            }
            tracing::warn!("job failed ({cause}); restarting in {delay} ms");
            self.transition_job(JobStatus::Restarting, now);
            self.restart_at = Some(now + delay);
            self.cancel_tasks(now);
        } else {
            self.fail(cause, now, pool);
        }
    }

    /// A uniform number in [0, 1) (splitmix64).
    fn next_jitter(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn handle(&mut self, actions: Vec<SchedulerAction>, now: i64, pool: &mut dyn SlotProvider) {
        for a in actions {
            match a {
                SchedulerAction::Deploy(list) => self.deploy(list, now),
                SchedulerAction::WaitingForSlots {
                    needed,
                    available,
                    total,
                } => {
                    let msg = format!(
                        "waiting for slots: the job needs {needed} slots, {available} of \
                         {total} are free"
                    );
                    tracing::info!("{msg}");
                    self.waiting_for_slots = Some(msg);
                }
                // the scheduler already returned them to the pool: tell waiting jobs
                SchedulerAction::ReleaseSlots(_) => self.out.push(JobCommand::SlotsReleased),
                SchedulerAction::JobFinished => self.transition_job(JobStatus::Finished, now),
                SchedulerAction::FailJob { reason } => self.fail(reason, now, pool),
            }
        }
    }

    /// Records every placement (so that the deployments see where their peers run) and the
    /// attempts as DEPLOYING.
    fn deploy(&mut self, list: Vec<(ExecutionVertexId, SlotId)>, now: i64) {
        self.waiting_for_slots = None;
        for (id, slot) in &list {
            let Some(attempt) = self.graph.current_attempt(*id) else {
                continue;
            };
            if let Some(ev) = self.graph.execution_vertex_mut(*id) {
                ev.current.round = self.round;
            }
            let _ = self.graph.set_slot(*id, attempt, Some(slot.clone()));
            for to in [ExecutionState::Scheduled, ExecutionState::Deploying] {
                let _ = self.graph.transition_task(*id, attempt, to, now, None);
            }
        }
        self.out.push(JobCommand::Deploy(list));
    }

    /// Cancels every task that is not terminal yet: those not deployed at once, the others at
    /// their TaskManagers.
    fn cancel_tasks(&mut self, now: i64) {
        // slots that arrive now deploy nothing (a job canceled while waiting for slots)
        self.scheduler.stop_deploying();
        self.regional = None;
        self.cancel_where(now, |_| true);
    }

    /// Cancels the deployed tasks among `ids` that are not terminal yet, at their TaskManagers
    /// (those not deployed stay as they are, to be deployed by the scheduler later).
    fn cancel_these(&mut self, ids: &BTreeSet<ExecutionVertexId>, now: i64) {
        self.cancel_where(now, |ev| {
            ids.contains(&ev.id) && ev.current.state != ExecutionState::Created
        });
    }

    fn cancel_where(
        &mut self,
        now: i64,
        which: impl Fn(&crate::execution_graph::ExecutionVertex) -> bool,
    ) {
        let mut to_cancel = Vec::new();
        for v in &self.graph.vertices {
            for ev in v.subtasks.iter().filter(|ev| which(ev)) {
                let e = &ev.current;
                match e.state {
                    s if s.is_terminal() => {}
                    // already stopping after a stop-with-savepoint
                    _ if self.stopped.contains(&e.attempt_id) => {}
                    _ => to_cancel.push((ev.id, e.attempt_id, e.slot.clone())),
                }
            }
        }
        for (id, attempt, slot) in to_cancel {
            let state = self
                .graph
                .execution_vertex(id)
                .map(|ev| ev.current.state)
                .unwrap_or(ExecutionState::Created);
            match slot {
                Some(slot)
                    if !matches!(state, ExecutionState::Created | ExecutionState::Scheduled) =>
                {
                    let _ = self.graph.transition_task(
                        id,
                        attempt,
                        ExecutionState::Canceling,
                        now,
                        None,
                    );
                    self.out.push(JobCommand::CancelTask { id, attempt, slot });
                }
                _ => {
                    let _ = self.graph.transition_task(
                        id,
                        attempt,
                        ExecutionState::Canceled,
                        now,
                        None,
                    );
                }
            }
        }
    }

    /// Cancels every task and ends SUSPENDED at once (the tasks' last reports go unheard:
    /// another JobManager leads now).
    fn suspend(&mut self, now: i64) {
        self.restart_at = None;
        self.cancel_tasks(now);
        self.transition_job(JobStatus::Suspended, now);
    }

    fn cancel(&mut self, now: i64, pool: &mut dyn SlotProvider) {
        if self.graph.status() == JobStatus::Cancelling {
            return;
        }
        self.restart_at = None;
        self.transition_job(JobStatus::Cancelling, now);
        self.cancel_tasks(now);
        self.check_all_terminal(now, pool);
    }

    /// The job fails (no restart): `cause` is its root cause unless a failover in progress has
    /// one.
    fn fail(&mut self, cause: String, now: i64, pool: &mut dyn SlotProvider) {
        tracing::warn!("job failing: {cause}");
        if !self.exceptions.is_open() {
            self.exceptions.record(Failure {
                timestamp: now,
                message: cause,
                task: None,
                task_manager: None,
                kind: FailureKind::NonRecoverable,
            });
        }
        self.root_cause = self.exceptions.root().map(|r| r.message.clone());
        self.transition_job(JobStatus::Failing, now);
        self.cancel_tasks(now);
        self.check_all_terminal(now, pool);
    }

    /// When every task is terminal: a FAILING or CANCELLING job reaches FAILED or CANCELED and its
    /// slots go back to the pool; a RESTARTING job starts its next attempt once its backoff passed.
    fn check_all_terminal(&mut self, now: i64, pool: &mut dyn SlotProvider) {
        self.check_regional_restart(now, pool);
        let all_terminal = self
            .graph
            .vertices
            .iter()
            .all(|v| v.subtasks.iter().all(|e| e.current.state.is_terminal()));
        if !all_terminal {
            return;
        }
        let target = match self.graph.status() {
            JobStatus::Running if self.stopping => JobStatus::Finished,
            JobStatus::Failing => JobStatus::Failed,
            JobStatus::Cancelling => JobStatus::Canceled,
            // a failure certain to happen again joined the failover: no restart
            JobStatus::Restarting if self.exceptions.suppresses_restarts() => JobStatus::Failed,
            JobStatus::Restarting => {
                if self.restart_at.is_some_and(|t| now >= t) {
                    self.restart(now, pool);
                }
                return;
            }
            _ => return,
        };
        self.scheduler.on_cancel(pool);
        self.out.push(JobCommand::SlotsReleased);
        self.transition_job(target, now);
    }

    /// Whether a failure restarts pipelined regions rather than the job: batch jobs with the
    /// `region` failover strategy (a streaming job's regions would have to restore part of a
    /// checkpoint; they restart whole).
    fn uses_regions(&self) -> bool {
        self.config.failover == FailoverStrategy::Region
            && self.graph.job_type == JobType::Batch
            && !self.stopping
    }

    /// The subtasks the `region` strategy restarts when `failed` failed: their regions, the
    /// regions that produce lost results a restarted or waiting region needs, and the
    /// unfinished regions consuming a restarted one's results.
    fn tasks_to_restart(&self, failed: &[ExecutionVertexId]) -> Vec<ExecutionVertexId> {
        let graph = &self.graph;
        let lost_tms = &self.lost_task_managers;
        let released = &self.released_results;
        let lost = |id: ExecutionVertexId| {
            let stored = graph
                .edges
                .iter()
                .any(|e| e.source == id.vertex && e.result_type == ResultType::Blocking);
            stored
                && (released.contains(&id.vertex)
                    || graph
                        .execution_vertex(id)
                        .and_then(|ev| ev.current.slot.as_ref())
                        .is_some_and(|s| lost_tms.contains(&s.task_manager)))
        };
        self.scheduler.tasks_to_restart(failed, &lost)
    }

    /// Once every subtask of `vertex` finished: frees the BLOCKING results of its producers
    /// whose consumers have all finished.
    fn release_consumed_results(&mut self, vertex: VertexId) {
        let g = &self.graph;
        let all_finished = |v: VertexId| {
            g.job_vertex(v).is_some_and(|jv| {
                jv.subtasks
                    .iter()
                    .all(|s| s.current.state == ExecutionState::Finished)
            })
        };
        let blocking = |e: &&strom_plan::JobEdge| e.result_type == ResultType::Blocking;
        let producers: Vec<VertexId> = g
            .edges
            .iter()
            .filter(blocking)
            .filter(|e| e.target == vertex)
            .map(|e| e.source)
            .collect();
        if producers.is_empty() || !all_finished(vertex) {
            return;
        }
        let done: Vec<VertexId> = producers
            .into_iter()
            .filter(|p| !self.released_results.contains(p))
            .filter(|p| {
                g.edges
                    .iter()
                    .filter(blocking)
                    .filter(|e| e.source == *p)
                    .all(|e| all_finished(e.target))
            })
            .collect();
        for p in done {
            self.released_results.insert(p);
            self.out.push(JobCommand::ReleaseResults(p));
        }
    }

    /// Region failover: cancels the regions `failed` touch (joining a failover under way) and
    /// restarts them at `at` once they all stopped.
    fn restart_regions_later(
        &mut self,
        failed: &[ExecutionVertexId],
        now: i64,
        delay: i64,
        cause: &str,
    ) {
        let tasks = self.tasks_to_restart(failed);
        tracing::warn!(
            "task failed ({cause}); restarting {} subtasks of its pipelined regions in {delay} ms",
            tasks.len()
        );
        let at = now + delay;
        let r = self.regional.get_or_insert(RegionalRestart {
            tasks: BTreeSet::new(),
            at,
        });
        r.tasks.extend(tasks);
        r.at = r.at.max(at);
        let ids = r.tasks.clone();
        self.cancel_these(&ids, now);
    }

    /// Starts the region failover once its subtasks are all terminal (or never deployed) and
    /// its backoff passed: new attempts in a new execution round, deployed by the scheduler as
    /// their inputs allow.
    fn check_regional_restart(&mut self, now: i64, pool: &mut dyn SlotProvider) {
        let Some(r) = &self.regional else { return };
        if self.graph.status() != JobStatus::Running || now < r.at {
            return;
        }
        let stopped = r.tasks.iter().all(|id| {
            self.graph.execution_vertex(*id).is_none_or(|ev| {
                ev.current.state.is_terminal() || ev.current.state == ExecutionState::Created
            })
        });
        if !stopped {
            return;
        }
        let Some(r) = self.regional.take() else {
            return;
        };
        let tasks: Vec<ExecutionVertexId> = r.tasks.into_iter().collect();
        self.round += 1;
        // attempts that never ran keep theirs
        let ran: Vec<ExecutionVertexId> = tasks
            .iter()
            .copied()
            .filter(|id| {
                self.graph
                    .execution_vertex(*id)
                    .is_some_and(|ev| ev.current.state != ExecutionState::Created)
            })
            .collect();
        self.graph.reset_for_restart(&ran, now);
        for id in &ran {
            self.released_results.remove(&id.vertex);
        }
        self.restarts += 1;
        self.exceptions.close();
        tracing::info!(
            "restarting {} subtasks of the job's pipelined regions (attempt round {})",
            ran.len(),
            self.round
        );
        self.out.push(JobCommand::RestartTasks {
            tasks: tasks.clone(),
            round: self.round,
        });
        let actions = self.scheduler.restart_tasks(&tasks, pool);
        self.handle(actions, now, pool);
    }

    /// Starts the next attempt of every subtask in a new execution round.
    fn restart(&mut self, now: i64, pool: &mut dyn SlotProvider) {
        self.restart_at = None;
        self.stopped.clear();
        self.scheduler.on_cancel(pool);
        self.out.push(JobCommand::Restart {
            previous_round: self.round,
        });
        self.round += 1;
        let ids: Vec<ExecutionVertexId> = self.graph.execution_vertex_ids().collect();
        self.graph.reset_for_restart(&ids, now);
        self.released_results.clear();
        self.restarts += 1;
        // the failover is over: the next failure starts another one
        self.exceptions.close();
        self.scheduler = Self::scheduler_for(&self.graph, self.config.policy);
        tracing::info!("restarting the job (attempt round {})", self.round);
        self.transition_job(JobStatus::Running, now);
        self.out.push(JobCommand::SlotsReleased);
        let actions = self.scheduler.start(pool);
        self.handle(actions, now, pool);
    }
}

#[cfg(test)]
mod tests;
