//! JobMaster: runs one job. Its decisions are the sans-IO [`JobCore`]'s (placement, failover,
//! TaskManager loss, stop-with-savepoint, terminal states); the JobMaster is the mailbox around
//! it: it feeds the core the job's events with the time and the cluster's slot pool, and carries
//! out the core's commands (deployments and cancellations at TaskExecutors, checkpointing).

mod checkpointing;
mod edge_descriptors;
mod metrics_sampling;
mod snapshot;

pub use checkpointing::CheckpointSetup;
pub use metrics_sampling::SAMPLE_INTERVAL_MS;
pub use snapshot::{JobSnapshot, JobSnapshots};

use crate::checkpoint_stats::CheckpointStats;
use crate::gateway::TaskStateListener;
use crate::protocol::{JobEvent, JobMasterId, TaskStateUpdate, TriggerError, TriggerRequest};
use crate::resource_manager::ResourceManager;
use checkpointing::{Checkpointing, JobContext};
use crossbeam_channel::{Receiver, Sender};
use edge_descriptors::EdgeDescriptors;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use strom_common::time::now_millis;
use strom_common::{AttemptId, ExecutionState, FailureKind, JobStatus};
use strom_plan::JobGraph;
use strom_runtime::{TaskDeploymentDescriptor, TaskMetrics, TaskMetricsSnapshot};
use strom_scheduler::execution_graph::{ExecutionGraph, ExecutionVertexId};
use strom_scheduler::failover_strategy::FailoverStrategy;
use strom_scheduler::job_core::{JobCommand, JobCore, JobCoreConfig, JobInput};
use strom_scheduler::restart_strategy::RestartStrategy;
use strom_scheduler::slot_pool::{SlotId, SlotPolicy};

/// Failovers kept in a job's exception history.
const EXCEPTION_HISTORY_SIZE: usize = 64;

/// Figures of one task attempt: live counters in process, reported snapshots from a remote one.
#[derive(Clone)]
pub enum TaskMetricsHandle {
    Live(Arc<TaskMetrics>),
    Reported(TaskMetricsSnapshot),
}

/// The job as its JobMaster keeps it, on the JobMaster's thread: the decision core (its
/// ExecutionGraph, exception history, restarts) and the figures around it. Other threads read
/// the [`JobSnapshot`]s published from it.
pub(crate) struct JobState {
    core: JobCore,
    plan: Arc<JobGraph>,
    metrics: HashMap<AttemptId, TaskMetricsHandle>,
    /// Samples of each attempt's figures, for per-second rates.
    rates: HashMap<AttemptId, crate::task_figures::TaskRateMeter>,
    checkpoints: CheckpointStats,
}

impl JobState {
    pub(crate) fn core(&self) -> &JobCore {
        &self.core
    }

    pub(crate) fn graph(&self) -> &ExecutionGraph {
        self.core.graph()
    }

    /// Records a remote attempt's reported figures.
    fn report(&mut self, attempt: AttemptId, m: TaskMetricsSnapshot) {
        if let Some(h @ TaskMetricsHandle::Reported(_)) = self.metrics.get_mut(&attempt) {
            *h = TaskMetricsHandle::Reported(m);
            self.record_sample(attempt, now_millis(), &m);
        }
    }
}

pub struct JobMasterConfig {
    pub slot_timeout_ms: i64,
    pub policy: SlotPolicy,
    pub restart_strategy: RestartStrategy,
    pub failover: FailoverStrategy,
    /// Where the job's `collect` sink hands its rows for the client.
    pub results: Arc<crate::result_buffer::ResultBuffer>,
    /// Streaming jobs: checkpoints and savepoints.
    pub checkpoints: Option<CheckpointSetup>,
}

pub struct JobMaster {
    pub id: JobMasterId,
    state: JobState,
    snapshots: JobSnapshots,
    /// Whether the state changed since the last published snapshot.
    dirty: bool,
    events: Receiver<JobEvent>,
    rm: Arc<ResourceManager>,
    /// The execution rounds below this one are freed on the TaskManagers.
    released_below: u32,
    ckpt: Option<Checkpointing>,
    sampling: metrics_sampling::Sampling,
    /// Called once with the final status.
    on_terminal: Box<dyn FnOnce(JobStatus) + Send>,
}

impl JobMaster {
    pub fn new(
        graph: ExecutionGraph,
        plan: JobGraph,
        rm: Arc<ResourceManager>,
        config: JobMasterConfig,
        events: (Sender<JobEvent>, Receiver<JobEvent>),
        on_terminal: Box<dyn FnOnce(JobStatus) + Send>,
    ) -> Self {
        let id = JobMasterId::random();
        rm.job_masters
            .register(graph.job_id, id, events.0, config.results.clone());
        let periodic = config.checkpoints.as_ref().and_then(|c| c.periodic.clone());
        let ckpt = config.checkpoints.map(|setup| {
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
        let core = JobCore::new(
            graph,
            JobCoreConfig {
                slot_timeout_ms: config.slot_timeout_ms,
                policy: config.policy,
                restart_strategy: config.restart_strategy,
                failover: config.failover,
                exception_history_size: EXCEPTION_HISTORY_SIZE,
                seed: rand::random(),
            },
        );
        let state = JobState {
            core,
            plan: Arc::new(plan),
            metrics: HashMap::new(),
            rates: HashMap::new(),
            checkpoints,
        };
        Self {
            id,
            snapshots: JobSnapshots::new(JobSnapshot::of(&state)),
            state,
            dirty: false,
            events: events.1,
            rm,
            released_below: 0,
            ckpt,
            sampling: Default::default(),
            on_terminal,
        }
    }

    /// Where this job's snapshots are published.
    pub fn snapshots(&self) -> JobSnapshots {
        self.snapshots.clone()
    }

    /// Runs the job to a terminal state on the calling thread.
    pub fn run(mut self) {
        let job = self.state.graph().job_id;
        let _span = tracing::info_span!("job", %job).entered();
        self.feed(JobInput::Start);
        let mut ticks = 0u32;
        while !self.status().is_globally_terminal() {
            let timeout = if self.ckpt.is_some() { 20 } else { 100 };
            match self.events.recv_timeout(Duration::from_millis(timeout)) {
                Ok(ev) => {
                    self.on_event(ev);
                    // what queued meanwhile, before publishing once
                    while let Ok(ev) = self.events.try_recv() {
                        self.on_event(ev);
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    self.feed(JobInput::Tick);
                    // time alone moves the job too (restart delays, slot timeouts)
                    ticks += 1;
                    self.dirty |= ticks.is_multiple_of(5);
                }
                Err(_) => break,
            }
            self.with_checkpointing(|c, cx| c.tick(cx));
            self.sample_metrics(false);
            self.publish();
        }
        self.sample_metrics(true);
        self.dirty = true;
        self.publish();
        self.rm.job_masters.unregister(job);
        let round = self.state.core.round();
        self.release_rounds(round);
        let status = self.status();
        tracing::info!("job {job} reached {status}");
        if let Some(c) = &self.ckpt {
            c.job_ended(status);
        }
        (self.on_terminal)(status);
    }

    fn status(&self) -> JobStatus {
        self.state.core.status()
    }

    /// Publishes a snapshot of the job if it changed since the last one.
    fn publish(&mut self) {
        if std::mem::take(&mut self.dirty) {
            self.snapshots.publish(JobSnapshot::of(&self.state));
        }
    }

    /// Feeds the core one input and carries out its commands.
    fn feed(&mut self, input: JobInput) {
        let tick = matches!(input, JobInput::Tick);
        let commands = self
            .state
            .core
            .on(input, now_millis(), &mut self.rm.gateway());
        self.dirty |= !tick || !commands.is_empty();
        for c in commands {
            self.carry_out(c);
        }
    }

    fn carry_out(&mut self, command: JobCommand) {
        match command {
            JobCommand::Deploy(list) => self.deploy(list),
            JobCommand::CancelTask { id, attempt, slot } => {
                match self.rm.task_executor(&slot.task_manager) {
                    Some(te) => te.cancel_task(attempt, self.id),
                    // its TaskManager is gone with it
                    None => self.feed(JobInput::TaskState {
                        id,
                        attempt,
                        state: ExecutionState::Canceled,
                        error: None,
                        kind: FailureKind::Recoverable,
                    }),
                }
            }
            JobCommand::SlotsReleased => self.rm.notify_slots_changed(),
            JobCommand::TaskFinished(id) => {
                self.with_checkpointing(|c, cx| c.task_finished(id, cx))
            }
            JobCommand::TaskFailed(id) => self.with_checkpointing(|c, cx| c.task_failed(id, cx)),
            JobCommand::Restart { previous_round } => {
                self.release_rounds(previous_round);
                self.with_checkpointing(|c, cx| c.choose_restore_point(cx));
            }
            // the attempts of earlier rounds are gone; their exchanges go at the job's end
            JobCommand::RestartTasks { tasks, round } => {
                tracing::info!("{} subtasks restart in round {round}", tasks.len())
            }
            JobCommand::ReleaseResults(producer) => {
                let job = self.state.graph().job_id;
                for te in self.rm.task_executors() {
                    te.release_results(job, producer);
                }
            }
        }
    }

    fn on_event(&mut self, ev: JobEvent) {
        match ev {
            JobEvent::SlotsChanged => self.feed(JobInput::SlotsChanged),
            JobEvent::Cancel => self.feed(JobInput::Cancel),
            JobEvent::Suspend => self.feed(JobInput::Suspend),
            JobEvent::Metrics(attempt, m) => {
                let st = &mut self.state;
                // a heartbeat's figures taken before the task ended can arrive after its final
                // ones (sent with its terminal state): those stand
                let running = st
                    .graph()
                    .vertices
                    .iter()
                    .flat_map(|v| v.subtasks.iter())
                    .any(|ev| ev.current.attempt_id == attempt && !ev.current.state.is_terminal());
                if running {
                    st.report(attempt, m);
                }
            }
            JobEvent::TaskManagerLost(task_manager, reason) => {
                self.feed(JobInput::TaskManagerLost {
                    task_manager,
                    reason,
                })
            }
            JobEvent::TaskState(u) => self.on_task_state(u),
            JobEvent::Checkpoint(ack) => self.with_checkpointing(|c, cx| c.on_ack(ack, cx)),
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
        if let Some(m) = metrics {
            // final figures of the current attempt (sent with its terminal state)
            let st = &mut self.state;
            if st.graph().current_attempt(id) == Some(attempt) {
                st.report(attempt, m);
            }
        }
        self.feed(JobInput::TaskState {
            id,
            attempt,
            state,
            error,
            kind,
        });
    }

    /// Runs `f` on the job's checkpointing (streaming jobs) and feeds the core what it decided.
    fn with_checkpointing(&mut self, f: impl FnOnce(&mut Checkpointing, &mut JobContext)) {
        let Some(c) = self.ckpt.as_mut() else { return };
        let mut cx = JobContext {
            state: &mut self.state,
            rm: &self.rm,
            job_master: self.id,
        };
        f(c, &mut cx);
        self.dirty = true;
        for input in c.take_inputs() {
            self.feed(input);
        }
    }

    /// A checkpoint or savepoint asked for (REST, CLI): streaming jobs only.
    fn trigger_requested(&mut self, req: TriggerRequest) {
        if self.ckpt.is_none() {
            req.reply(Err(TriggerError::BatchJob { what: req.what() }));
            return;
        }
        self.with_checkpointing(|c, cx| c.trigger_requested(req, cx));
    }

    /// Builds each subtask's deployment descriptor (its inputs and outputs, local or remote, and
    /// the state it restores) and submits it to its TaskManager.
    fn deploy(&mut self, list: Vec<(ExecutionVertexId, SlotId)>) {
        let st = &self.state;
        let mut submissions = Vec::new();
        for (id, slot) in list {
            let g = st.core.graph();
            let Some(ejv) = g.job_vertex(id.vertex) else {
                continue;
            };
            let ev = &ejv.subtasks[id.subtask as usize];
            let edges = EdgeDescriptors {
                graph: g,
                rm: &self.rm,
            };
            let here = edges.data_address(Some(&slot));
            let vertex_pos = g.vertex_position(id.vertex).unwrap_or(usize::MAX);
            let tdd = TaskDeploymentDescriptor {
                checkpointing: self.ckpt.as_ref().is_some_and(|c| c.exactly_once()),
                checkpoint_dir: self.ckpt.as_ref().map(|c| c.dir()),
                max_parallelism: ejv.vertex.max_parallelism,
                restore: self.ckpt.as_ref().and_then(|c| c.restore_for(vertex_pos)),
                job_id: g.job_id,
                round: ev.current.round,
                vertex: id.vertex,
                vertex_name: ejv.vertex.name.clone(),
                subtask: id.subtask,
                parallelism: ejv.vertex.parallelism,
                attempt_id: ev.current.attempt_id,
                attempt_number: ev.current.attempt_number,
                operators: ejv.vertex.operators.clone(),
                inputs: edges.inputs(id, &here),
                outputs: edges.outputs(id, &here),
            };
            submissions.push((slot, tdd, id));
        }
        for (slot, tdd, id) in submissions {
            self.submit(slot, tdd, id);
        }
    }

    /// Submits one task to the TaskManager of its slot; one that is gone fails the task.
    fn submit(&mut self, slot: SlotId, tdd: TaskDeploymentDescriptor, id: ExecutionVertexId) {
        let attempt = tdd.attempt_id;
        match self.rm.task_executor(&slot.task_manager) {
            Some(te) => {
                let handle = match te.submit_task(tdd, id, self.id) {
                    Some(m) => TaskMetricsHandle::Live(m),
                    None => TaskMetricsHandle::Reported(TaskMetricsSnapshot::default()),
                };
                self.state.metrics.insert(attempt, handle);
            }
            None => {
                let job = self.state.core.graph().job_id;
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

    /// Frees the exchanges of the rounds up to `last` not freed yet on every TaskManager (a
    /// region failover starts a round without ending the earlier ones).
    fn release_rounds(&mut self, last: u32) {
        let job = self.state.graph().job_id;
        for round in self.released_below..=last {
            for te in self.rm.task_executors() {
                te.release_job(job, round);
            }
        }
        self.released_below = self.released_below.max(last + 1);
    }
}
