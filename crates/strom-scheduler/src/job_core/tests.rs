//! Unit and property tests of the JobCore, driven by a simulated cluster: TaskManagers that
//! run, finish, fail and cancel tasks, that are lost and added, with cancels, job failures,
//! stop-with-savepoint and time, in random interleavings.

use super::*;
use crate::slot_pool::SlotPool;
use crate::testkit::{calc, graph, job_graph, source};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::HashSet;
use strom_common::{JobId, JobType, VertexId};
use strom_plan::{JobGraph, ResultType, ShipStrategy};

fn config(restart_strategy: RestartStrategy) -> JobCoreConfig {
    JobCoreConfig {
        slot_timeout_ms: 5_000,
        policy: SlotPolicy::Spread,
        restart_strategy,
        failover: FailoverStrategy::Region,
        exception_history_size: 16,
        seed: 7,
    }
}

/// A JobCore over `g` and a simulated cluster.
struct Sim {
    core: JobCore,
    pool: SlotPool,
    now: i64,
    next_tm: usize,
    lost: HashSet<TaskManagerId>,
    /// Attempts canceled at a TaskManager that has not reported them CANCELED yet.
    canceling: Vec<(ExecutionVertexId, AttemptId, TaskManagerId)>,
    /// Inputs the JobMaster feeds itself (slot changes it announced).
    queued: Vec<JobInput>,
    terminal: Option<JobStatus>,
    deployments: usize,
    /// Vertices whose BLOCKING results the core freed (until they run again).
    released: HashSet<VertexId>,
}

impl Sim {
    fn new(g: JobGraph, strategy: RestartStrategy, tms: usize, slots: u32) -> Self {
        let graph = ExecutionGraph::new(JobId(1), g, 0).unwrap();
        let mut sim = Self {
            core: JobCore::new(graph, config(strategy)),
            pool: SlotPool::new(),
            now: 0,
            next_tm: 0,
            lost: HashSet::new(),
            canceling: Vec::new(),
            queued: Vec::new(),
            terminal: None,
            deployments: 0,
            released: HashSet::new(),
        };
        for _ in 0..tms {
            let tm = sim.new_tm();
            sim.pool.register_task_manager(tm, slots);
        }
        sim
    }

    fn new_tm(&mut self) -> TaskManagerId {
        self.next_tm += 1;
        TaskManagerId(format!("tm-{}", self.next_tm))
    }

    /// Feeds one input (and what it leads to), checking the invariants after each.
    fn feed(&mut self, input: JobInput) -> Result<(), TestCaseError> {
        self.queued.push(input);
        while !self.queued.is_empty() {
            let input = self.queued.remove(0);
            let commands = self.core.on(input.clone(), self.now, &mut self.pool);
            if let Some(t) = self.terminal {
                prop_assert!(commands.is_empty(), "commands after {t}: {commands:?}");
            }
            for c in commands {
                self.carry_out(c)?;
            }
            self.check()?;
        }
        Ok(())
    }

    fn carry_out(&mut self, c: JobCommand) -> Result<(), TestCaseError> {
        match c {
            JobCommand::Deploy(list) => {
                let c_list = list.clone();
                for (id, slot) in list {
                    prop_assert!(
                        !self.lost.contains(&slot.task_manager),
                        "{id} deployed to the lost {}",
                        slot.task_manager
                    );
                    let ev = self.core.graph().execution_vertex(id).unwrap();
                    prop_assert_eq!(ev.current.state, ExecutionState::Deploying);
                    prop_assert_eq!(ev.current.slot.as_ref(), Some(&slot));
                    prop_assert_eq!(ev.current.round, self.core.round());
                    self.check_inputs_available(id, &c_list)?;
                    self.deployments += 1;
                }
                for (id, _) in &c_list {
                    self.released.remove(&id.vertex);
                }
            }
            JobCommand::CancelTask { id, attempt, slot } => {
                if self.lost.contains(&slot.task_manager) {
                    // as the JobMaster does: its TaskManager is gone with it
                    self.queued
                        .push(task_state(id, attempt, ExecutionState::Canceled));
                } else {
                    self.canceling.push((id, attempt, slot.task_manager));
                }
            }
            JobCommand::SlotsReleased => self.queued.push(JobInput::SlotsChanged),
            JobCommand::Restart { previous_round } => {
                prop_assert_eq!(previous_round + 1, self.core.round());
            }
            JobCommand::RestartTasks { tasks, round } => {
                prop_assert_eq!(round, self.core.round());
                prop_assert!(!tasks.is_empty());
                prop_assert_eq!(self.core.status(), JobStatus::Running);
            }
            JobCommand::ReleaseResults(v) => {
                prop_assert!(self.released.insert(v), "{} released twice", v);
            }
            JobCommand::TaskFinished(_) | JobCommand::TaskFailed(_) => {}
        }
        Ok(())
    }

    /// A deployed subtask finds the BLOCKING results it reads: every producer it reads finished,
    /// on a TaskManager still there, and its results were not freed (producers deployed with it,
    /// in its own region, aside).
    fn check_inputs_available(
        &self,
        id: ExecutionVertexId,
        with: &[(ExecutionVertexId, SlotId)],
    ) -> Result<(), TestCaseError> {
        let g = self.core.graph();
        for e in g.edges.iter().filter(|e| e.target == id.vertex) {
            if e.result_type != ResultType::Blocking {
                continue;
            }
            if with.iter().any(|(w, _)| w.vertex == e.source) {
                continue;
            }
            prop_assert!(
                !self.released.contains(&e.source),
                "{} deployed after the results of {} were freed",
                id,
                e.source
            );
            let producers = g.job_vertex(e.source).unwrap();
            for p in &producers.subtasks {
                if e.ship_strategy == ShipStrategy::Forward && p.id.subtask != id.subtask {
                    continue;
                }
                prop_assert_eq!(
                    p.current.state,
                    ExecutionState::Finished,
                    "{} deployed before its producer {}",
                    id,
                    p.id
                );
                let tm = &p.current.slot.as_ref().unwrap().task_manager;
                prop_assert!(
                    !self.lost.contains(tm),
                    "{} reads {} from the lost {}",
                    id,
                    p.id,
                    tm
                );
            }
        }
        Ok(())
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        let status = self.core.status();
        match self.terminal {
            Some(t) => prop_assert_eq!(status, t, "a terminal job changed its status"),
            None if status.is_globally_terminal() => {
                self.terminal = Some(status);
                let g = self.core.graph();
                for ev in g.vertices.iter().flat_map(|v| v.subtasks.iter()) {
                    prop_assert!(
                        ev.current.state.is_terminal(),
                        "{status} with {} {}",
                        ev.id,
                        ev.current.state
                    );
                    if status == JobStatus::Finished {
                        prop_assert_eq!(ev.current.state, ExecutionState::Finished);
                    }
                }
                prop_assert_eq!(
                    self.pool.allocated_slots(),
                    0,
                    "slots held after {}",
                    status
                );
            }
            None => {}
        }
        // the job's own pool holds exactly what the cluster gave it (the only job here)
        prop_assert_eq!(self.core.slots().len(), self.pool.allocated_slots());
        for s in self.core.slots().held() {
            prop_assert!(self.pool.is_allocated(s), "{} held but not allocated", s);
        }
        if let RestartStrategy::FixedDelay { attempts, .. } = self.core.restart_strategy() {
            prop_assert!(
                self.core.restarts() <= *attempts,
                "restarted past the strategy"
            );
        }
        if matches!(self.core.restart_strategy(), RestartStrategy::None) {
            prop_assert_eq!(self.core.restarts(), 0);
        }
        Ok(())
    }

    /// Attempts that run somewhere (deployed, not terminal, not being canceled), in order.
    fn live(&self) -> Vec<(ExecutionVertexId, AttemptId, ExecutionState)> {
        self.core
            .graph()
            .vertices
            .iter()
            .flat_map(|v| v.subtasks.iter())
            .filter(|ev| {
                matches!(
                    ev.current.state,
                    ExecutionState::Deploying
                        | ExecutionState::Initializing
                        | ExecutionState::Running
                )
            })
            .map(|ev| (ev.id, ev.current.attempt_id, ev.current.state))
            .collect()
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Advance(pick, fail) => {
                let live = self.live();
                if live.is_empty() {
                    return Ok(());
                }
                let (id, attempt, state) = live[pick % live.len()];
                let to = match (fail, state) {
                    (Some(kind), _) => {
                        return self.feed(JobInput::TaskState {
                            id,
                            attempt,
                            state: ExecutionState::Failed,
                            error: Some("boom".into()),
                            kind,
                        })
                    }
                    (None, ExecutionState::Deploying) => ExecutionState::Initializing,
                    (None, ExecutionState::Initializing) => ExecutionState::Running,
                    (None, _) => ExecutionState::Finished,
                };
                self.feed(task_state(id, attempt, to))
            }
            Op::AckCancel(pick) => {
                if self.canceling.is_empty() {
                    return Ok(());
                }
                let (id, attempt, _) = self.canceling.remove(pick % self.canceling.len());
                self.feed(task_state(id, attempt, ExecutionState::Canceled))
            }
            Op::LoseTaskManager(pick) => {
                let tms: Vec<TaskManagerId> = (1..=self.next_tm)
                    .map(|i| TaskManagerId(format!("tm-{i}")))
                    .filter(|t| !self.lost.contains(t))
                    .collect();
                if tms.is_empty() {
                    return Ok(());
                }
                let tm = tms[pick % tms.len()].clone();
                self.lose(tm)
            }
            Op::AddTaskManager(slots) => {
                let tm = self.new_tm();
                self.pool.register_task_manager(tm, slots);
                self.feed(JobInput::SlotsChanged)
            }
            Op::Cancel => self.feed(JobInput::Cancel),
            Op::Tick(ms) => {
                self.now += ms;
                self.feed(JobInput::Tick)
            }
            Op::JobFailure => self.feed(JobInput::JobFailure("checkpoints failed".into())),
            Op::Stop => {
                // a stop-with-savepoint completes only while every task runs
                let live = self.live();
                let all_running = self.core.status() == JobStatus::Running
                    && live.len() == self.core.graph().execution_vertex_ids().count()
                    && live.iter().all(|l| l.2 == ExecutionState::Running);
                if !all_running {
                    return Ok(());
                }
                let attempts = live.into_iter().map(|l| l.1).collect();
                self.feed(JobInput::Stop { attempts })
            }
        }
    }

    /// The first live task fails with `error` of `kind`.
    fn fail_first(&mut self, error: &str, kind: FailureKind) {
        let (id, attempt, _) = self.live()[0];
        self.feed(JobInput::TaskState {
            id,
            attempt,
            state: ExecutionState::Failed,
            error: Some(error.into()),
            kind,
        })
        .unwrap();
    }

    /// Every cancel sent so far is reported done.
    fn ack_cancels(&mut self) {
        while let Some((id, attempt, _)) = self.canceling.pop() {
            self.feed(task_state(id, attempt, ExecutionState::Canceled))
                .unwrap();
        }
    }

    fn lose(&mut self, tm: TaskManagerId) -> Result<(), TestCaseError> {
        self.pool.unregister_task_manager(&tm);
        self.lost.insert(tm.clone());
        self.canceling.retain(|c| c.2 != tm);
        self.feed(JobInput::TaskManagerLost {
            task_manager: tm,
            reason: "lost".into(),
        })
    }

    /// Lets the cluster run without faults until the job is terminal: cancels are acknowledged,
    /// tasks run to their end, slots are plenty, time passes.
    fn drain(&mut self) -> Result<JobStatus, TestCaseError> {
        let tm = self.new_tm();
        self.pool.register_task_manager(tm, 64);
        self.feed(JobInput::SlotsChanged)?;
        for _ in 0..500 {
            if let Some(t) = self.terminal {
                return Ok(t);
            }
            while let Some((id, attempt, _)) = self.canceling.pop() {
                self.feed(task_state(id, attempt, ExecutionState::Canceled))?;
            }
            for (id, attempt, state) in self.live() {
                let to = match state {
                    ExecutionState::Deploying => ExecutionState::Initializing,
                    ExecutionState::Initializing => ExecutionState::Running,
                    _ => ExecutionState::Finished,
                };
                self.feed(task_state(id, attempt, to))?;
            }
            self.now += 10_000;
            self.feed(JobInput::Tick)?;
        }
        prop_assert!(false, "the job did not end: {}", self.core.status());
        unreachable!()
    }
}

fn task_state(id: ExecutionVertexId, attempt: AttemptId, state: ExecutionState) -> JobInput {
    JobInput::TaskState {
        id,
        attempt,
        state,
        error: None,
        kind: FailureKind::Recoverable,
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// The picked live task moves on (or fails, with this kind).
    Advance(usize, Option<FailureKind>),
    AckCancel(usize),
    LoseTaskManager(usize),
    AddTaskManager(u32),
    Cancel,
    Tick(i64),
    JobFailure,
    Stop,
}

fn op() -> impl Strategy<Value = Op> {
    let kind = prop::sample::select(vec![
        FailureKind::Recoverable,
        FailureKind::NonRecoverable,
        FailureKind::PeerLost,
        FailureKind::TaskManagerLost,
    ]);
    prop_oneof![
        8 => (any::<usize>(), prop::option::weighted(0.15, kind)).prop_map(|(p, k)| Op::Advance(p, k)),
        3 => any::<usize>().prop_map(Op::AckCancel),
        1 => any::<usize>().prop_map(Op::LoseTaskManager),
        1 => (1u32..5).prop_map(Op::AddTaskManager),
        1 => Just(Op::Cancel),
        2 => (0i64..3_000).prop_map(Op::Tick),
        1 => Just(Op::JobFailure),
        1 => Just(Op::Stop),
    ]
}

fn strategy() -> impl Strategy<Value = RestartStrategy> {
    prop_oneof![
        Just(RestartStrategy::None),
        (0u32..4, 0i64..2_000)
            .prop_map(|(attempts, delay_ms)| RestartStrategy::FixedDelay { attempts, delay_ms }),
        Just(RestartStrategy::DEFAULT_EXPONENTIAL_DELAY),
    ]
}

/// A random graph as a streaming job (all edges pipelined) or a batch job.
fn job(g: JobGraph, streaming: bool) -> JobGraph {
    let mut g = crate::chain(&g);
    if streaming {
        g.job_type = JobType::Streaming;
        for e in &mut g.edges {
            e.result_type = ResultType::Pipelined;
        }
    }
    g
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Whatever happens, the job ends in exactly one terminal state (with every task terminal
    /// and no slot held), never deploys to a lost TaskManager, and never restarts past its
    /// strategy.
    #[test]
    fn any_interleaving_ends_in_one_terminal_state(
        g in graph(),
        streaming in any::<bool>(),
        strategy in strategy(),
        tms in 0usize..4,
        slots in 1u32..5,
        ops in prop::collection::vec(op(), 0..80),
    ) {
        let mut sim = Sim::new(job(g, streaming), strategy, tms, slots);
        sim.feed(JobInput::Start)?;
        for op in &ops {
            sim.step(op)?;
        }
        let end = sim.drain()?;
        // the status stays put: more inputs change nothing
        sim.feed(JobInput::Cancel)?;
        sim.feed(JobInput::Tick)?;
        prop_assert_eq!(sim.core.status(), end);
    }

    /// Without faults, a job runs to FINISHED on enough slots.
    #[test]
    fn without_faults_a_job_finishes(g in graph(), streaming in any::<bool>()) {
        let mut sim = Sim::new(job(g, streaming), RestartStrategy::None, 0, 1);
        sim.feed(JobInput::Start)?;
        prop_assert_eq!(sim.drain()?, JobStatus::Finished);
        prop_assert_eq!(sim.core.restarts(), 0);
    }
}

/// source(2) => sink(2), streaming.
fn pipeline() -> JobGraph {
    let mut g = job_graph(
        vec![source(1, "src", 2), calc(2, "sink", 2)],
        vec![(1, 2, ShipStrategy::Rebalance, ResultType::Pipelined)],
    );
    g.job_type = JobType::Streaming;
    g
}

fn run_all(sim: &mut Sim) {
    for (id, attempt, _) in sim.live() {
        sim.feed(task_state(id, attempt, ExecutionState::Initializing))
            .unwrap();
        sim.feed(task_state(id, attempt, ExecutionState::Running))
            .unwrap();
    }
}

#[test]
fn a_failure_restarts_the_job_after_its_delay_in_a_new_round() {
    let strategy = RestartStrategy::FixedDelay {
        attempts: 1,
        delay_ms: 1_000,
    };
    let mut sim = Sim::new(pipeline(), strategy, 1, 2);
    sim.feed(JobInput::Start).unwrap();
    assert_eq!(sim.deployments, 4);
    run_all(&mut sim);
    sim.fail_first("boom", FailureKind::Recoverable);
    assert_eq!(sim.core.status(), JobStatus::Restarting);
    assert_eq!(sim.canceling.len(), 3, "the other tasks are canceled");
    assert_eq!(sim.core.root_cause(), Some("boom"));
    sim.ack_cancels();
    // the delay is not over yet
    sim.now += 999;
    sim.feed(JobInput::Tick).unwrap();
    assert_eq!(sim.core.round(), 0);
    sim.now += 1;
    sim.feed(JobInput::Tick).unwrap();
    assert_eq!(sim.core.round(), 1);
    assert_eq!(sim.core.restarts(), 1);
    assert_eq!(sim.core.status(), JobStatus::Running);
    assert_eq!(sim.deployments, 8);
    // a second failure: the strategy's one attempt is used up
    run_all(&mut sim);
    sim.fail_first("again", FailureKind::Recoverable);
    assert_eq!(sim.core.status(), JobStatus::Failing);
    sim.ack_cancels();
    assert_eq!(sim.core.status(), JobStatus::Failed);
    assert_eq!(sim.pool.allocated_slots(), 0);
}

#[test]
fn a_failure_certain_to_happen_again_fails_the_job_at_once() {
    let mut sim = Sim::new(pipeline(), RestartStrategy::DEFAULT_EXPONENTIAL_DELAY, 1, 2);
    sim.feed(JobInput::Start).unwrap();
    run_all(&mut sim);
    sim.fail_first("bad row", FailureKind::NonRecoverable);
    assert_eq!(sim.core.status(), JobStatus::Failing);
    assert_eq!(sim.core.root_cause(), Some("bad row"));
}

#[test]
fn a_lost_task_manager_is_the_root_cause_and_its_tasks_fail() {
    let strategy = RestartStrategy::FixedDelay {
        attempts: 3,
        delay_ms: 0,
    };
    let mut sim = Sim::new(pipeline(), strategy, 2, 1);
    sim.feed(JobInput::Start).unwrap();
    run_all(&mut sim);
    // a neighbour sees its peer go first
    sim.fail_first("the consumer task ended", FailureKind::PeerLost);
    sim.lose(TaskManagerId("tm-2".into())).unwrap();
    assert_eq!(
        sim.core.root_cause(),
        Some("lost"),
        "the lost TaskManager outranks the symptom"
    );
    let entry = sim.core.exceptions().entries().last().unwrap();
    assert_eq!(entry.root.task_manager.as_deref(), Some("tm-2"));
}

#[test]
fn stop_with_savepoint_ends_finished_whatever_the_stopped_tasks_report() {
    let mut sim = Sim::new(pipeline(), RestartStrategy::None, 1, 2);
    sim.feed(JobInput::Start).unwrap();
    run_all(&mut sim);
    let live = sim.live();
    let attempts = live.iter().map(|l| l.1).collect();
    sim.feed(JobInput::Stop { attempts }).unwrap();
    assert_eq!(sim.core.status(), JobStatus::Running);
    for (i, (id, attempt, _)) in live.into_iter().enumerate() {
        let state = match i % 3 {
            0 => ExecutionState::Finished,
            1 => ExecutionState::Canceled,
            _ => ExecutionState::Failed,
        };
        sim.feed(task_state(id, attempt, state)).unwrap();
    }
    assert_eq!(sim.core.status(), JobStatus::Finished);
}

#[test]
fn cancel_cancels_deployed_tasks_at_their_task_managers_and_ends_canceled() {
    let mut sim = Sim::new(pipeline(), RestartStrategy::None, 1, 2);
    sim.feed(JobInput::Start).unwrap();
    sim.feed(JobInput::Cancel).unwrap();
    assert_eq!(sim.core.status(), JobStatus::Cancelling);
    assert_eq!(sim.canceling.len(), 4);
    sim.ack_cancels();
    assert_eq!(sim.core.status(), JobStatus::Canceled);
    assert_eq!(sim.pool.allocated_slots(), 0);
}

#[test]
fn suspend_cancels_the_tasks_and_ends_suspended_at_once_and_for_good() {
    let mut sim = Sim::new(pipeline(), RestartStrategy::None, 1, 2);
    sim.feed(JobInput::Start).unwrap();
    sim.feed(JobInput::Suspend).unwrap();
    assert_eq!(sim.core.status(), JobStatus::Suspended);
    assert_eq!(sim.canceling.len(), 4);
    // the next leader resumes the job: nothing here redeploys or ends it for good
    let deployed = sim.deployments;
    let (id, attempt, _) = sim.canceling[0].clone();
    sim.feed(task_state(id, attempt, ExecutionState::Failed))
        .unwrap();
    sim.feed(JobInput::SlotsChanged).unwrap();
    sim.now += 60_000;
    sim.feed(JobInput::Tick).unwrap();
    sim.feed(JobInput::Cancel).unwrap();
    assert_eq!(sim.core.status(), JobStatus::Suspended);
    assert_eq!(sim.deployments, deployed);
}

#[test]
fn a_job_without_enough_slots_waits_then_times_out() {
    let mut sim = Sim::new(pipeline(), RestartStrategy::None, 1, 1);
    sim.feed(JobInput::Start).unwrap();
    assert!(sim.core.waiting_for_slots().is_some());
    sim.feed(JobInput::Tick).unwrap();
    sim.now += 5_000;
    sim.feed(JobInput::Tick).unwrap();
    assert_eq!(sim.core.status(), JobStatus::Failed);
    assert!(sim
        .core
        .root_cause()
        .unwrap()
        .contains("Could not acquire the minimum required resources"));
}

#[test]
fn a_job_canceled_while_waiting_for_slots_deploys_nothing_when_they_come() {
    let mut g = job_graph(vec![source(1, "src", 3)], vec![]);
    g.job_type = JobType::Batch;
    let mut sim = Sim::new(g, RestartStrategy::None, 1, 1);
    sim.feed(JobInput::Start).unwrap();
    assert_eq!(sim.deployments, 1, "one region fits");
    sim.feed(JobInput::Cancel).unwrap();
    let tm = sim.new_tm();
    sim.pool.register_task_manager(tm, 4);
    sim.feed(JobInput::SlotsChanged).unwrap();
    assert_eq!(sim.deployments, 1, "a canceled task was deployed");
    let (id, attempt, _) = sim.canceling.pop().unwrap();
    sim.feed(task_state(id, attempt, ExecutionState::Canceled))
        .unwrap();
    assert_eq!(sim.core.status(), JobStatus::Canceled);
    assert_eq!(sim.pool.allocated_slots(), 0);
}

/// a(2) =HASH blocking=> b(2), batch: a region per subtask.
fn two_stages() -> JobGraph {
    let mut g = job_graph(
        vec![source(1, "a", 2), calc(2, "b", 2)],
        vec![(
            1,
            2,
            ShipStrategy::Hash { keys: vec![] },
            ResultType::Blocking,
        )],
    );
    g.job_type = JobType::Batch;
    g
}

fn finish(sim: &mut Sim, id: ExecutionVertexId) {
    let attempt = sim.core.graph().current_attempt(id).unwrap();
    for s in [
        ExecutionState::Initializing,
        ExecutionState::Running,
        ExecutionState::Finished,
    ] {
        sim.feed(task_state(id, attempt, s)).unwrap();
    }
}

fn attempt_numbers(sim: &Sim) -> Vec<u32> {
    sim.core
        .graph()
        .vertices
        .iter()
        .flat_map(|v| v.subtasks.iter().map(|s| s.current.attempt_number))
        .collect()
}

fn vertex_a_b(sub: u32) -> (ExecutionVertexId, ExecutionVertexId) {
    (
        ExecutionVertexId::new(crate::testkit::vid(1), sub),
        ExecutionVertexId::new(crate::testkit::vid(2), sub),
    )
}

#[test]
fn a_batch_failure_restarts_only_its_region_and_the_job_stays_running() {
    let strategy = RestartStrategy::FixedDelay {
        attempts: 2,
        delay_ms: 1_000,
    };
    let mut sim = Sim::new(two_stages(), strategy, 2, 1);
    sim.feed(JobInput::Start).unwrap();
    let ((a0, b0), (a1, b1)) = (vertex_a_b(0), vertex_a_b(1));
    finish(&mut sim, a0);
    finish(&mut sim, a1);
    run_all(&mut sim);
    let attempt = sim.core.graph().current_attempt(b1).unwrap();
    sim.feed(JobInput::TaskState {
        id: b1,
        attempt,
        state: ExecutionState::Failed,
        error: Some("disk full".into()),
        kind: FailureKind::Recoverable,
    })
    .unwrap();
    assert_eq!(sim.core.status(), JobStatus::Running, "region failover");
    sim.now += 999;
    sim.feed(JobInput::Tick).unwrap();
    assert_eq!(attempt_numbers(&sim), [0, 0, 0, 0], "not before the delay");
    sim.now += 1;
    sim.feed(JobInput::Tick).unwrap();
    assert_eq!(attempt_numbers(&sim), [0, 0, 0, 1], "only b1 runs again");
    assert_eq!(sim.core.round(), 1);
    assert_eq!(sim.core.restarts(), 1);
    assert_eq!(
        sim.core.graph().execution_vertex(b0).unwrap().current.round,
        0
    );
    assert!(sim.released.is_empty(), "b still needs a's results");
    finish(&mut sim, b0);
    finish(&mut sim, b1);
    assert_eq!(sim.core.status(), JobStatus::Finished);
    assert_eq!(sim.released, HashSet::from([crate::testkit::vid(1)]));
}

#[test]
fn results_lost_with_a_task_manager_are_made_again() {
    let strategy = RestartStrategy::FixedDelay {
        attempts: 2,
        delay_ms: 0,
    };
    let mut sim = Sim::new(two_stages(), strategy, 2, 1);
    sim.feed(JobInput::Start).unwrap();
    let ((a0, _), (a1, _)) = (vertex_a_b(0), vertex_a_b(1));
    let tm_of = |sim: &Sim, id| {
        sim.core
            .graph()
            .execution_vertex(id)
            .unwrap()
            .current
            .slot
            .clone()
            .unwrap()
            .task_manager
    };
    let (tm0, tm1) = (tm_of(&sim, a0), tm_of(&sim, a1));
    assert_ne!(tm0, tm1, "spread");
    finish(&mut sim, a0);
    finish(&mut sim, a1);
    // b waits for slots... or runs; either way a0's results go with its TaskManager
    sim.lose(tm0.clone()).unwrap();
    sim.ack_cancels();
    sim.feed(JobInput::Tick).unwrap();
    assert_eq!(sim.core.status(), JobStatus::Running);
    let a = sim.core.graph().execution_vertex(a1).unwrap();
    assert_eq!(a.current.attempt_number, 0, "a1's results are still there");
    let a = sim.core.graph().execution_vertex(a0).unwrap();
    assert_eq!(a.current.attempt_number, 1, "a0 runs again");
    assert_eq!(sim.drain().unwrap(), JobStatus::Finished);
    assert_eq!(
        sim.core
            .graph()
            .execution_vertex(a1)
            .unwrap()
            .current
            .attempt_number,
        0
    );
}
