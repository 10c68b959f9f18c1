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
use crate::job_slot_pool::{JobSlotPool, ResourceManagerGateway, SlotProvider};
use crate::restart_strategy::{RestartBackoff, RestartStrategy};
use crate::scheduling_strategy::{Scheduler, SchedulerAction, SchedulingMode};
use crate::slot_pool::{SlotId, SlotPolicy, TaskManagerId};
use std::collections::HashSet;
use strom_common::{AttemptId, ExecutionState, FailureKind, JobStatus};

/// How a job is run.
#[derive(Debug, Clone)]
pub struct JobCoreConfig {
    /// How long a deployment that cannot fit may wait for slots (`slot.request.timeout`).
    pub slot_timeout_ms: i64,
    pub policy: SlotPolicy,
    pub restart_strategy: RestartStrategy,
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
    /// The job restarts in a new execution round: free the exchanges of `previous_round` and
    /// choose the checkpoint the new attempts restore from (before the `Deploy` that follows).
    Restart { previous_round: u32 },
}

/// The decision state of one job.
pub struct JobCore {
    graph: ExecutionGraph,
    scheduler: Scheduler,
    config: JobCoreConfig,
    backoff: RestartBackoff,
    /// While RESTARTING: when the new attempt may start.
    restart_at: Option<i64>,
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
        if self.graph.status().is_globally_terminal() {
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
            }
            ExecutionState::Failed => {
                self.out.push(JobCommand::TaskFailed(id));
                let actions = self.scheduler.on_task_failed(id, pool);
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
                    pool,
                );
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
        if on_tm.is_empty() {
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
            let actions = self.scheduler.on_task_failed(*id, pool);
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
            pool,
        );
        self.check_all_terminal(now, pool);
    }

    /// A failure: it starts a failover or joins the one in progress (where it may become the
    /// root cause, see [`ExceptionHistory`]). A new failover restarts the job if the restart
    /// strategy allows and none of its failures is certain to happen again; else the job
    /// fails. A failure certain to happen again that joins a failover waiting to restart turns
    /// it into the job's failure.
    fn on_failure(&mut self, failure: Failure, pool: &mut dyn SlotProvider) {
        let now = failure.timestamp;
        let status = self.graph.status();
        let starts = matches!(status, JobStatus::Running | JobStatus::Created);
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
        let mut to_cancel = Vec::new();
        for v in &self.graph.vertices {
            for ev in &v.subtasks {
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
