//! Unit and property tests of the scheduler, driven by a small simulated cluster.

use super::*;
use crate::slot_pool::SlotPool;
use crate::slot_pool::TaskManagerId;
use crate::testkit::{calc, graph, job_graph, source, vid};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::{HashMap, HashSet};
use strom_common::JobId;
use strom_plan::{JobGraph, ResultType::*, ShipStrategy::*};
use SchedulerAction::*;

fn eg(g: JobGraph) -> ExecutionGraph {
    ExecutionGraph::new(JobId(1), g, 0).unwrap()
}

fn pool(tms: usize, slots: u32) -> SlotPool {
    let mut p = SlotPool::new();
    for i in 0..tms {
        p.register_task_manager(TaskManagerId(format!("tm-{i:04}")), slots);
    }
    p
}

fn t(v: u128, s: u32) -> ExecutionVertexId {
    ExecutionVertexId::new(vid(v), s)
}

fn deployed(actions: &[SchedulerAction]) -> Vec<(ExecutionVertexId, SlotId)> {
    actions
        .iter()
        .flat_map(|a| if let Deploy(d) = a { d.clone() } else { vec![] })
        .collect()
}

fn released(actions: &[SchedulerAction]) -> usize {
    actions
        .iter()
        .map(|a| if let ReleaseSlots(s) = a { s.len() } else { 0 })
        .sum()
}

/// source(p) =REBALANCE=> sink(p), pipelined: one region.
fn streaming(p: u32) -> ExecutionGraph {
    let mut g = job_graph(
        vec![source(1, "src", p), calc(2, "sink", p)],
        vec![(1, 2, Rebalance, Pipelined)],
    );
    for v in g.vertices.iter_mut() {
        v.max_parallelism = v.max_parallelism.max(p);
    }
    eg(g)
}

/// a(p) =HASH blocking=> b(p), optionally in two sharing groups.
fn batch(p: u32, two_groups: bool) -> ExecutionGraph {
    let mut g = job_graph(
        vec![source(1, "a", p), calc(2, "b", p)],
        vec![(1, 2, Hash { keys: vec![] }, Blocking)],
    );
    if two_groups {
        g.vertices[1].slot_sharing_group = "b".into();
    }
    eg(g)
}

#[test]
fn eager_shares_slots_by_subtask_index() {
    let eg = streaming(2);
    let mut p = pool(2, 2);
    let mut s = Scheduler::new(&eg, SchedulingMode::Eager, SlotPolicy::Spread);
    let a = s.start(&mut p);
    let d = deployed(&a);
    assert_eq!(a.len(), 1);
    assert_eq!(
        d.iter().map(|x| x.0).collect::<Vec<_>>(),
        [t(1, 0), t(1, 1), t(2, 0), t(2, 1)]
    );
    assert_eq!(d[0].1, d[2].1, "subtask 0 of both vertices share a slot");
    assert_eq!(d[1].1, d[3].1);
    assert_ne!(
        d[0].1.task_manager, d[1].1.task_manager,
        "spread over TaskManagers"
    );
    assert_eq!(p.free_slots(), 2);
    assert!(s.start(&mut p).is_empty(), "start twice");
    // slot 0 is released once both of its subtasks finished
    assert!(s.on_task_finished(t(1, 0), &mut p).is_empty());
    assert_eq!(
        s.on_task_finished(t(2, 0), &mut p),
        vec![ReleaseSlots(vec![d[0].1.clone()])]
    );
    assert!(
        s.on_task_finished(t(2, 0), &mut p).is_empty(),
        "duplicate report ignored"
    );
    s.on_task_finished(t(1, 1), &mut p);
    let last = s.on_task_finished(t(2, 1), &mut p);
    assert_eq!(last, vec![ReleaseSlots(vec![d[1].1.clone()]), JobFinished]);
    assert_eq!(s.phase(), SchedulerPhase::Finished);
    assert_eq!(p.free_slots(), 4);
}

#[test]
fn eager_waits_all_or_nothing_then_times_out() {
    let eg = streaming(4);
    let mut p = pool(1, 3);
    let mut s = Scheduler::new(&eg, SchedulingMode::Eager, SlotPolicy::Spread);
    assert_eq!(
        s.start(&mut p),
        vec![WaitingForSlots {
            needed: 4,
            available: 3,
            total: 3
        }]
    );
    assert_eq!(p.free_slots(), 3, "nothing allocated");
    assert!(
        s.on_slots_changed(&mut p).is_empty(),
        "waiting is reported once"
    );
    assert!(s.on_timeout_check(1_000, 300).is_empty(), "clock starts");
    assert!(s.on_timeout_check(1_299, 300).is_empty());
    let a = s.on_timeout_check(1_300, 300);
    assert_eq!(
        a,
        vec![FailJob {
            reason: "Could not acquire the minimum required resources: the job needs 4 slots but the cluster has 3 (3 free); \
                     add TaskManagers or slots (taskmanager.numberOfTaskSlots) or lower the parallelism"
                .into()
        }]
    );
    assert_eq!(s.phase(), SchedulerPhase::Failed);
    p.register_task_manager("late".into(), 4);
    assert!(
        s.on_slots_changed(&mut p).is_empty(),
        "a failed scheduler deploys nothing"
    );
}

#[test]
fn eager_deploys_when_slots_arrive() {
    let eg = streaming(4);
    let mut p = pool(1, 3);
    let mut s = Scheduler::new(&eg, SchedulingMode::Eager, SlotPolicy::Pack);
    s.start(&mut p);
    s.on_timeout_check(0, 1_000);
    p.register_task_manager("tm-9".into(), 1);
    let a = s.on_slots_changed(&mut p);
    assert_eq!(deployed(&a).len(), 8);
    assert_eq!(p.free_slots(), 0);
    assert!(
        s.on_timeout_check(5_000, 1_000).is_empty(),
        "no longer waiting"
    );
    assert_eq!(s.waiting_for_slots(), None);
}

#[test]
fn lazy_runs_a_batch_job_in_fewer_slots_than_eager() {
    // two groups: eager needs 8 slots, lazy 4
    let eg = batch(4, true);
    let mut p = pool(2, 2);
    let mut eager = Scheduler::new(&eg, SchedulingMode::Eager, SlotPolicy::Spread);
    assert_eq!(
        eager.start(&mut p.clone()),
        vec![WaitingForSlots {
            needed: 8,
            available: 4,
            total: 4
        }]
    );
    let mut s = Scheduler::new(&eg, SchedulingMode::Lazy, SlotPolicy::Spread);
    let a = s.start(&mut p);
    assert_eq!(
        deployed(&a).iter().map(|x| x.0).collect::<Vec<_>>(),
        (0..4).map(|i| t(1, i)).collect::<Vec<_>>()
    );
    for i in 0..3 {
        assert_eq!(released(&s.on_task_finished(t(1, i), &mut p)), 1);
    }
    let a = s.on_task_finished(t(1, 3), &mut p);
    assert_eq!(released(&a), 1);
    assert_eq!(
        deployed(&a).iter().map(|x| x.0).collect::<Vec<_>>(),
        (0..4).map(|i| t(2, i)).collect::<Vec<_>>()
    );
    for i in 0..4 {
        s.on_task_finished(t(2, i), &mut p);
    }
    assert_eq!(s.phase(), SchedulerPhase::Finished);
    assert_eq!(p.free_slots(), 4);
}

#[test]
fn lazy_one_group_needs_max_parallelism() {
    let mut g = job_graph(
        vec![source(1, "a", 4), calc(2, "b", 4), calc(3, "c", 2)],
        vec![(1, 2, Rebalance, Blocking), (2, 3, Rebalance, Blocking)],
    );
    g.job_type = strom_common::JobType::Batch;
    let eg = eg(g);
    let mut p = pool(1, 4);
    let mut s = Scheduler::new(
        &eg,
        SchedulingMode::for_job_type(eg.job_type),
        SlotPolicy::Spread,
    );
    assert_eq!(s.mode(), SchedulingMode::Lazy);
    assert_eq!(s.region_count(), 10, "one region per subtask");
    let mut running: Vec<ExecutionVertexId> = deployed(&s.start(&mut p))
        .into_iter()
        .map(|x| x.0)
        .collect();
    let mut finished = false;
    while let Some(id) = running.pop() {
        let a = s.on_task_finished(id, &mut p);
        running.extend(deployed(&a).into_iter().map(|x| x.0));
        finished |= a.contains(&JobFinished);
    }
    assert!(finished);
}

#[test]
fn lazy_waiting_for_own_slots_does_not_time_out() {
    // two independent pipelines of parallelism 2 in 2 slots: the second waits for the first
    let g = job_graph(
        vec![
            source(1, "a", 2),
            calc(3, "a2", 2),
            source(2, "b", 2),
            calc(4, "b2", 2),
        ],
        vec![(1, 3, Rebalance, Pipelined), (2, 4, Rebalance, Pipelined)],
    );
    let eg = eg(g);
    let mut p = pool(1, 2);
    let mut s = Scheduler::new(&eg, SchedulingMode::Lazy, SlotPolicy::Spread);
    let a = s.start(&mut p);
    assert_eq!(deployed(&a).len(), 4);
    assert_eq!(
        a.last(),
        Some(&WaitingForSlots {
            needed: 2,
            available: 0,
            total: 2
        })
    );
    assert!(s.on_timeout_check(0, 10).is_empty());
    assert!(s.on_timeout_check(100, 10).is_empty());
    for i in 0..2 {
        s.on_task_finished(t(1, i), &mut p);
        s.on_task_finished(t(3, i), &mut p);
    }
    assert_eq!(
        deployed(&s.on_slots_changed(&mut p)).len(),
        0,
        "deployed already"
    );
    assert_eq!(s.held_slots().len(), 2);
    assert_eq!(s.waiting_for_slots(), None);
}

#[test]
fn a_failure_releases_its_slot_once_empty_and_cancel_releases_the_rest() {
    let eg = streaming(2);
    let mut p = pool(1, 4);
    let mut s = Scheduler::new(&eg, SchedulingMode::Eager, SlotPolicy::Spread);
    s.start(&mut p);
    // the failed subtask's slot still holds its neighbour: nothing to release yet, and the
    // failover is the JobCore's decision
    assert!(s.on_task_stopped(t(2, 1), &mut p).is_empty());
    assert_eq!(s.phase(), SchedulerPhase::Running);
    assert!(s.on_task_stopped(t(2, 0), &mut p).is_empty());
    let a = s.on_cancel(&mut p);
    assert_eq!(released(&a), 2);
    assert_eq!(p.free_slots(), 4);
    assert!(s.on_task_finished(t(1, 0), &mut p).is_empty());
    assert!(s.on_cancel(&mut p).is_empty());
    assert_eq!(s.phase(), SchedulerPhase::Canceled);
}

#[test]
fn restarted_regions_deploy_again_once_their_inputs_are_finished() {
    // a(2) =HASH blocking=> b(2): four regions, one per subtask
    let eg = batch(2, false);
    let mut p = pool(1, 4);
    let mut s = Scheduler::new(&eg, SchedulingMode::Lazy, SlotPolicy::Spread);
    assert_eq!(deployed(&s.start(&mut p)).len(), 2);
    s.on_task_finished(t(1, 0), &mut p);
    let a = s.on_task_finished(t(1, 1), &mut p);
    assert_eq!(deployed(&a).len(), 2, "b deploys once a finished");
    // b1 fails: it alone restarts
    s.on_task_stopped(t(2, 1), &mut p);
    assert_eq!(s.tasks_to_restart(&[t(2, 1)], &|_| false), [t(2, 1)]);
    let a = s.restart_tasks(&[t(2, 1)], &mut p);
    assert_eq!(
        deployed(&a).iter().map(|d| d.0).collect::<Vec<_>>(),
        [t(2, 1)]
    );
    // a0's results are lost: a0 reruns first, then b0 and b1 (both consume it)
    s.on_task_stopped(t(2, 0), &mut p);
    let lost = |id: ExecutionVertexId| id == t(1, 0);
    let tasks = s.tasks_to_restart(&[t(2, 0)], &lost);
    assert_eq!(tasks, [t(1, 0), t(2, 0), t(2, 1)]);
    s.on_task_stopped(t(2, 1), &mut p);
    let a = s.restart_tasks(&tasks, &mut p);
    assert_eq!(
        deployed(&a).iter().map(|d| d.0).collect::<Vec<_>>(),
        [t(1, 0)]
    );
    let a = s.on_task_finished(t(1, 0), &mut p);
    assert_eq!(deployed(&a).len(), 2);
    s.on_task_finished(t(2, 0), &mut p);
    let a = s.on_task_finished(t(2, 1), &mut p);
    assert!(a.contains(&SchedulerAction::JobFinished), "{a:?}");
}

#[test]
fn thousands_of_task_managers() {
    let eg = streaming(8_000);
    let mut p = pool(2_000, 4);
    let mut s = Scheduler::new(&eg, SchedulingMode::Eager, SlotPolicy::Spread);
    let a = s.start(&mut p);
    assert_eq!(deployed(&a).len(), 16_000);
    assert_eq!(p.free_slots(), 0);
    let a = s.on_cancel(&mut p);
    assert_eq!(released(&a), 8_000);
}

/// A simulated cluster that checks every action against the scheduler's promises.
struct Sim {
    pool: SlotPool,
    /// Running subtasks per slot.
    live: HashMap<SlotId, Vec<ExecutionVertexId>>,
    running: Vec<ExecutionVertexId>,
    deployed: HashSet<ExecutionVertexId>,
    finished: HashSet<ExecutionVertexId>,
    /// For each subtask, the subtasks of other regions it reads BLOCKING results from.
    blocking_inputs: HashMap<ExecutionVertexId, Vec<ExecutionVertexId>>,
    /// Slots the job holds, as the actions say.
    held: HashSet<SlotId>,
    /// Check BLOCKING inputs finished before deployment (lazy).
    check_blocking: bool,
    job_finished: bool,
    waits: usize,
}

impl Sim {
    fn new(eg: &ExecutionGraph, pool: SlotPool, check_blocking: bool) -> Self {
        let regions = pipelined_regions(eg);
        let region_of: HashMap<ExecutionVertexId, usize> = regions
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.tasks.iter().map(move |t| (*t, i)))
            .collect();
        let mut blocking_inputs: HashMap<ExecutionVertexId, Vec<ExecutionVertexId>> =
            HashMap::new();
        for e in eg.edges.iter().filter(|e| e.result_type == Blocking) {
            let (s, t) = (
                eg.job_vertex(e.source).unwrap(),
                eg.job_vertex(e.target).unwrap(),
            );
            for b in &t.subtasks {
                for a in &s.subtasks {
                    let connected = e.ship_strategy != Forward || a.id.subtask == b.id.subtask;
                    if connected && region_of[&a.id] != region_of[&b.id] {
                        blocking_inputs.entry(b.id).or_default().push(a.id);
                    }
                }
            }
        }
        Self {
            pool,
            live: HashMap::new(),
            running: Vec::new(),
            deployed: HashSet::new(),
            finished: HashSet::new(),
            blocking_inputs,
            held: HashSet::new(),
            check_blocking,
            job_finished: false,
            waits: 0,
        }
    }

    fn apply(&mut self, actions: Vec<SchedulerAction>) -> Result<(), TestCaseError> {
        for a in actions {
            match a {
                Deploy(list) => {
                    let before = self.held.clone();
                    for (id, slot) in list {
                        prop_assert!(!before.contains(&slot), "slot {} allocated twice", slot);
                        self.held.insert(slot.clone());
                        prop_assert!(self.deployed.insert(id), "{} deployed twice", id);
                        prop_assert!(
                            self.pool.is_allocated(&slot),
                            "{} deployed into a free slot",
                            id
                        );
                        for input in self
                            .blocking_inputs
                            .get(&id)
                            .into_iter()
                            .flatten()
                            .filter(|_| self.check_blocking)
                        {
                            prop_assert!(
                                self.finished.contains(input),
                                "{} deployed before its input {} finished",
                                id,
                                input
                            );
                        }
                        let here = self.live.entry(slot.clone()).or_default();
                        prop_assert!(
                            here.iter().all(|o| o.vertex != id.vertex),
                            "two subtasks of one vertex in slot {}",
                            slot
                        );
                        here.push(id);
                        self.running.push(id);
                    }
                }
                ReleaseSlots(slots) => {
                    for slot in slots {
                        prop_assert!(
                            self.held.remove(&slot),
                            "released slot {} was not held",
                            slot
                        );
                        prop_assert!(
                            self.live.get(&slot).is_none_or(|l| l.is_empty()),
                            "released slot {} still runs tasks",
                            slot
                        );
                    }
                }
                WaitingForSlots { .. } => self.waits += 1,
                JobFinished => {
                    prop_assert!(!self.job_finished);
                    self.job_finished = true;
                }
                FailJob { reason } => prop_assert!(false, "unexpected failure: {}", reason),
            }
        }
        prop_assert_eq!(self.held.len(), self.pool.allocated_slots());
        Ok(())
    }

    /// Finishes running subtasks in an order given by `choices` until none runs.
    fn run(&mut self, s: &mut Scheduler, choices: &[usize]) -> Result<(), TestCaseError> {
        let mut step = 0;
        while !self.running.is_empty() {
            let k = choices
                .get(step % choices.len().max(1))
                .copied()
                .unwrap_or(0)
                .wrapping_add(step)
                % self.running.len();
            step += 1;
            let id = self.running.swap_remove(k);
            for l in self.live.values_mut() {
                l.retain(|x| *x != id);
            }
            self.finished.insert(id);
            let a = s.on_task_finished(id, &mut self.pool);
            self.apply(a)?;
        }
        Ok(())
    }
}

fn policy(pack: bool) -> SlotPolicy {
    if pack {
        SlotPolicy::Pack
    } else {
        SlotPolicy::Spread
    }
}

fn max_region_slots(eg: &ExecutionGraph) -> usize {
    pipelined_regions(eg)
        .iter()
        .map(|r| required_slots(eg, &r.tasks))
        .max()
        .unwrap_or(0)
}

proptest! {
    #[test]
    fn eager_deploys_all_or_nothing(
        g in graph(),
        chained in any::<bool>(),
        tms in prop::collection::vec(0u32..4, 0..5),
        pack in any::<bool>(),
        choices in prop::collection::vec(any::<usize>(), 1..20),
    ) {
        let eg = eg(if chained { crate::chain(&g) } else { g });
        let all: Vec<ExecutionVertexId> = eg.execution_vertex_ids().collect();
        let needed = required_slots(&eg, &all);
        let mut p = SlotPool::new();
        for (i, n) in tms.iter().enumerate() {
            p.register_task_manager(TaskManagerId(format!("tm-{i}")), *n);
        }
        let free = p.free_slots();
        let mut s = Scheduler::new(&eg, SchedulingMode::Eager, policy(pack));
        let mut sim = Sim::new(&eg, p, false);
        let a = s.start(&mut sim.pool);
        if needed <= free {
            prop_assert_eq!(deployed(&a).len(), all.len());
            prop_assert_eq!(sim.pool.free_slots(), free - needed);
        } else {
            prop_assert_eq!(a.clone(), vec![WaitingForSlots { needed, available: free, total: free }]);
            prop_assert_eq!(sim.pool.free_slots(), free);
            sim.pool.register_task_manager(TaskManagerId("extra".into()), (needed - free) as u32);
            let a2 = s.on_slots_changed(&mut sim.pool);
            prop_assert_eq!(deployed(&a2).len(), all.len());
            sim.apply(a2)?;
        }
        sim.apply(a)?;
        sim.run(&mut s, &choices)?;
        prop_assert!(sim.job_finished);
        prop_assert_eq!(sim.deployed.len(), all.len());
        prop_assert_eq!(sim.pool.free_slots(), sim.pool.total_slots());
        prop_assert!(s.held_slots().is_empty());
    }

    #[test]
    fn lazy_finishes_with_slots_for_the_largest_region(
        g in graph(),
        chained in any::<bool>(),
        tms in prop::collection::vec(1u32..4, 1..4),
        pack in any::<bool>(),
        choices in prop::collection::vec(any::<usize>(), 1..20),
    ) {
        let eg = eg(if chained { crate::chain(&g) } else { g });
        let mut p = SlotPool::new();
        for (i, n) in tms.iter().enumerate() {
            p.register_task_manager(TaskManagerId(format!("tm-{i}")), *n);
        }
        let mut extra = 0;
        while p.total_slots() < max_region_slots(&eg) {
            p.register_task_manager(TaskManagerId(format!("extra-{extra}")), 1);
            extra += 1;
        }
        let mut s = Scheduler::new(&eg, SchedulingMode::Lazy, policy(pack));
        let mut sim = Sim::new(&eg, p, true);
        let a = s.start(&mut sim.pool);
        sim.apply(a)?;
        sim.run(&mut s, &choices)?;
        prop_assert!(sim.job_finished, "stuck: {:?}", s.waiting_for_slots());
        prop_assert_eq!(sim.deployed.len(), eg.num_tasks());
        prop_assert_eq!(sim.pool.free_slots(), sim.pool.total_slots());
        prop_assert!(s.held_slots().is_empty());
        prop_assert!(s.on_timeout_check(i64::MAX, 0).is_empty());
    }

    #[test]
    fn lazy_with_too_few_slots_times_out(g in graph()) {
        let eg = eg(g);
        let need = max_region_slots(&eg);
        let mut p = pool(1, (need - 1) as u32);
        let mut s = Scheduler::new(&eg, SchedulingMode::Lazy, SlotPolicy::Spread);
        let mut sim = Sim::new(&eg, SlotPool::new(), true);
        std::mem::swap(&mut sim.pool, &mut p);
        let a = s.start(&mut sim.pool);
        sim.apply(a)?;
        // finish whatever fits until the big region blocks
        sim.run(&mut s, &[0])?;
        prop_assert!(!sim.job_finished);
        prop_assert!(s.on_timeout_check(0, 10).is_empty());
        let a = s.on_timeout_check(10, 10);
        prop_assert!(matches!(a.as_slice(), [FailJob { .. }]), "{:?}", a);
        let a = s.on_cancel(&mut sim.pool);
        prop_assert_eq!(released(&a), 0, "nothing ran");
        prop_assert_eq!(sim.pool.free_slots(), sim.pool.total_slots());
    }
}
