//! JobMaster: runs one job. It owns the job's ExecutionGraph and scheduler (both sans-IO), turns
//! their decisions into deployments on TaskExecutors, and feeds task state changes back.

use crate::resource_manager::ResourceManager;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use strom_common::time::now_millis;
use strom_common::{AttemptId, ExecutionState, JobStatus, JobType};
use strom_plan::{JobGraph, ShipStrategy};
use strom_runtime::exchange::{LocalShuffle, OutputDescriptor};
use strom_runtime::{InputDescriptor, TaskDeploymentDescriptor, TaskMetrics, TaskMetricsSnapshot};
use strom_scheduler::execution_graph::{ExecutionGraph, ExecutionVertexId};
use strom_scheduler::scheduling_strategy::{Scheduler, SchedulerAction, SchedulingMode};
use strom_scheduler::slot_pool::SlotPolicy;

/// What reaches a JobMaster.
#[derive(Debug)]
pub enum JobEvent {
    TaskState {
        id: ExecutionVertexId,
        attempt: AttemptId,
        state: ExecutionState,
        error: Option<String>,
    },
    /// Slots were registered or released somewhere in the cluster.
    SlotsChanged,
    Cancel,
}

/// The part of a job other threads read (REST): the ExecutionGraph and live task metrics.
pub struct JobState {
    pub graph: ExecutionGraph,
    pub plan: JobGraph,
    pub metrics: HashMap<AttemptId, Arc<TaskMetrics>>,
    pub root_cause: Option<String>,
    pub waiting_for_slots: Option<String>,
}

impl JobState {
    pub fn metrics_of(&self, attempt: AttemptId) -> TaskMetricsSnapshot {
        self.metrics
            .get(&attempt)
            .map(|m| m.snapshot())
            .unwrap_or_default()
    }
}

pub struct JobMasterConfig {
    pub slot_timeout_ms: i64,
    pub policy: SlotPolicy,
}

pub struct JobMaster {
    pub state: Arc<Mutex<JobState>>,
    events: Receiver<JobEvent>,
    sender: Sender<JobEvent>,
    rm: Arc<ResourceManager>,
    shuffle: LocalShuffle,
    scheduler: Scheduler,
    config: JobMasterConfig,
    round: u32,
    /// Called once with the final status.
    on_terminal: Box<dyn FnOnce(JobStatus) + Send>,
}

impl JobMaster {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        graph: ExecutionGraph,
        plan: JobGraph,
        rm: Arc<ResourceManager>,
        shuffle: LocalShuffle,
        config: JobMasterConfig,
        events: (Sender<JobEvent>, Receiver<JobEvent>),
        on_terminal: Box<dyn FnOnce(JobStatus) + Send>,
    ) -> Self {
        let mode = match graph.job_type {
            JobType::Streaming => SchedulingMode::Eager,
            JobType::Batch => SchedulingMode::Lazy,
        };
        let scheduler = Scheduler::new(&graph, mode, config.policy);
        let state = Arc::new(Mutex::new(JobState {
            graph,
            plan,
            metrics: HashMap::new(),
            root_cause: None,
            waiting_for_slots: None,
        }));
        Self {
            state,
            events: events.1,
            sender: events.0,
            rm,
            shuffle,
            scheduler,
            config,
            round: 0,
            on_terminal,
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
            match self.events.recv_timeout(Duration::from_millis(200)) {
                Ok(ev) => self.on_event(ev),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    let actions = self
                        .scheduler
                        .on_timeout_check(now_millis(), self.config.slot_timeout_ms);
                    self.handle(actions);
                }
                Err(_) => break,
            }
        }
        self.shuffle.release(job, self.round);
        let status = self.state.lock().graph.status();
        tracing::info!("job {job} reached {status}");
        (self.on_terminal)(status);
    }

    fn transition_job(&self, to: JobStatus) {
        let mut st = self.state.lock();
        if let Err(e) = st.graph.transition_job(to, now_millis()) {
            tracing::debug!("job transition to {to} ignored: {e}");
        }
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
            JobEvent::TaskState {
                id,
                attempt,
                state,
                error,
            } => {
                let status = {
                    let mut st = self.state.lock();
                    if let Err(e) =
                        st.graph
                            .transition_task(id, attempt, state, now_millis(), error.clone())
                    {
                        tracing::debug!("task update ignored: {e}");
                        return;
                    }
                    st.graph.status()
                };
                match state {
                    ExecutionState::Finished => {
                        let actions = {
                            let mut pool = self.rm.pool.lock();
                            self.scheduler.on_task_finished(id, &mut pool)
                        };
                        self.handle(actions);
                    }
                    ExecutionState::Failed
                        if status == JobStatus::Running || status == JobStatus::Created =>
                    {
                        let cause = error.unwrap_or_else(|| "task failed".into());
                        self.state.lock().root_cause.get_or_insert(cause.clone());
                        let actions = {
                            let mut pool = self.rm.pool.lock();
                            self.scheduler.on_task_failed(id, &mut pool)
                        };
                        self.handle(actions);
                        if !matches!(
                            self.state.lock().graph.status(),
                            JobStatus::Failing | JobStatus::Failed
                        ) {
                            self.fail(cause);
                        }
                    }
                    _ => {}
                }
                self.check_all_terminal();
            }
        }
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

    fn deploy(&mut self, list: Vec<(ExecutionVertexId, strom_scheduler::slot_pool::SlotId)>) {
        let mut st = self.state.lock();
        st.waiting_for_slots = None;
        let mut submissions = Vec::new();
        for (id, slot) in list {
            let now = now_millis();
            let (tdd, attempt) = {
                let g = &st.graph;
                let Some(ejv) = g.job_vertex(id.vertex) else {
                    continue;
                };
                let ev = &ejv.subtasks[id.subtask as usize];
                let attempt = ev.current.attempt_id;
                let inputs = g
                    .edges
                    .iter()
                    .filter(|e| e.target == id.vertex)
                    .map(|e| InputDescriptor {
                        producer: e.source,
                        producer_parallelism: g
                            .job_vertex(e.source)
                            .map(|v| v.parallelism())
                            .unwrap_or(1),
                        input_index: e.input_index,
                        result_type: e.result_type,
                        forward: e.ship_strategy == ShipStrategy::Forward,
                    })
                    .collect();
                let outputs = g
                    .edges
                    .iter()
                    .filter(|e| e.source == id.vertex)
                    .map(|e| OutputDescriptor {
                        consumer: e.target,
                        consumer_parallelism: g
                            .job_vertex(e.target)
                            .map(|v| v.parallelism())
                            .unwrap_or(1),
                        input_index: e.input_index,
                        ship_strategy: e.ship_strategy.clone(),
                        result_type: e.result_type,
                    })
                    .collect();
                let tdd = TaskDeploymentDescriptor {
                    job_id: g.job_id,
                    round: self.round,
                    vertex: id.vertex,
                    vertex_name: ejv.vertex.name.clone(),
                    subtask: id.subtask,
                    parallelism: ejv.vertex.parallelism,
                    attempt_id: attempt,
                    attempt_number: ev.current.attempt_number,
                    operators: ejv.vertex.operators.clone(),
                    inputs,
                    outputs,
                };
                (tdd, attempt)
            };
            let _ = st.graph.set_slot(id, attempt, Some(slot.clone()));
            let _ = st
                .graph
                .transition_task(id, attempt, ExecutionState::Scheduled, now, None);
            let _ = st
                .graph
                .transition_task(id, attempt, ExecutionState::Deploying, now, None);
            submissions.push((slot, tdd, id, attempt));
        }
        for (slot, tdd, id, attempt) in submissions {
            match self.rm.task_executor(&slot.task_manager) {
                Some(te) => {
                    let m = te.submit_task(tdd, id, self.sender.clone());
                    st.metrics.insert(attempt, m);
                }
                None => {
                    let _ = self.sender.send(JobEvent::TaskState {
                        id,
                        attempt,
                        state: ExecutionState::Failed,
                        error: Some(format!("TaskManager {} is gone", slot.task_manager)),
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
                    ExecutionState::Created | ExecutionState::Scheduled => {
                        to_cancel.push((ev.id, e.attempt_id, None))
                    }
                    _ => to_cancel.push((ev.id, e.attempt_id, e.slot.clone())),
                }
            }
        }
        for (id, attempt, slot) in to_cancel {
            match slot {
                None => {
                    let _ =
                        st.graph
                            .transition_task(id, attempt, ExecutionState::Canceled, now, None);
                }
                Some(slot) => {
                    let _ =
                        st.graph
                            .transition_task(id, attempt, ExecutionState::Canceling, now, None);
                    if let Some(te) = self.rm.task_executor(&slot.task_manager) {
                        te.cancel_task(attempt);
                    }
                }
            }
        }
    }

    fn cancel(&mut self) {
        let status = self.state.lock().graph.status();
        if status.is_globally_terminal() || status == JobStatus::Cancelling {
            return;
        }
        self.transition_job(JobStatus::Cancelling);
        self.cancel_tasks();
        self.check_all_terminal();
    }

    fn fail(&mut self, cause: String) {
        tracing::warn!("job failing: {cause}");
        {
            let mut st = self.state.lock();
            if st.root_cause.is_none() {
                st.root_cause = Some(cause);
            }
        }
        self.transition_job(JobStatus::Failing);
        self.cancel_tasks();
        self.check_all_terminal();
    }

    /// When every task is terminal, a FAILING or CANCELLING job reaches FAILED or CANCELED and its
    /// slots go back to the pool.
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
            JobStatus::Failing => JobStatus::Failed,
            JobStatus::Cancelling => JobStatus::Canceled,
            _ => return,
        };
        let _released = {
            let mut pool = self.rm.pool.lock();
            self.scheduler.on_cancel(&mut pool)
        };
        self.rm.notify_slots_changed();
        self.transition_job(target);
    }
}
