//! The scheduler: decides which subtasks to deploy into which slots, sans-IO. The JobMaster
//! feeds it events (start, slots changed, task finished or failed, cancel, timeout check) and
//! carries out the [`SchedulerAction`]s it returns; the scheduler allocates and releases slots in
//! the [`SlotProvider`] it is handed, the JobMaster tells the TaskManagers.
//!
//! - **Eager** (streaming): every subtask of the job at once, all or nothing.
//! - **Lazy** (batch): pipelined region by pipelined region, each all or nothing, a region once
//!   all the regions it consumes BLOCKING results from have finished; regions are deployed in
//!   topological order, and a region that does not fit blocks the ones after it (no starvation).
//!
//! Within a deployment, subtasks share slots by slot sharing group (see [`crate::slot_sharing`]);
//! a shared slot is released when every subtask in it has finished (or failed).

use crate::execution_graph::{ExecutionGraph, ExecutionVertexId};
use crate::failover_strategy::regions_to_restart;
use crate::job_slot_pool::SlotProvider;
use crate::pipelined_region::RegionGraph;
use crate::slot_pool::{SlotId, SlotPolicy};
use crate::slot_sharing::{shared_slot_key, shared_slot_keys, SharedSlotKey};
use crate::topology::Topology;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use strom_common::JobType;

pub use crate::pipelined_region::{pipelined_regions, Region};
pub use crate::slot_sharing::required_slots;

/// How a job's subtasks are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulingMode {
    /// Everything at once (streaming).
    #[default]
    Eager,
    /// Pipelined region by pipelined region as BLOCKING inputs finish (batch).
    Lazy,
}

impl SchedulingMode {
    /// Eager for streaming jobs, lazy for batch jobs.
    pub fn for_job_type(job_type: JobType) -> Self {
        match job_type {
            JobType::Streaming => SchedulingMode::Eager,
            JobType::Batch => SchedulingMode::Lazy,
        }
    }
}

/// What the JobMaster must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchedulerAction {
    /// Deploy these subtasks into these (already allocated) slots, in priority order.
    Deploy(Vec<(ExecutionVertexId, SlotId)>),
    /// A deployment does not fit into the free slots; it is retried on
    /// [`Scheduler::on_slots_changed`] and when the job's own slots are released. Emitted once
    /// per wait (again only when a different deployment starts waiting).
    WaitingForSlots {
        needed: usize,
        available: usize,
        total: usize,
    },
    /// These slots were returned to the pool: free them at their TaskManagers.
    ReleaseSlots(Vec<SlotId>),
    /// Every subtask finished.
    JobFinished,
    /// The scheduler gave up: the slots a deployment needs did not arrive in time. It deploys
    /// nothing more; call [`Scheduler::on_cancel`] to release the slots still held.
    FailJob { reason: String },
}

/// Where the scheduler is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchedulerPhase {
    Created,
    Running,
    Finished,
    Failed,
    Canceled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    Waiting,
    /// Deployed into shared slot `shared[k]`.
    Deployed(usize),
    Finished,
    /// Failed or canceled: waits for a restart.
    Stopped,
}

#[derive(Debug, Clone)]
struct SharedSlot {
    slot: SlotId,
    /// Deployed subtasks in it that have not finished or failed.
    live: usize,
    released: bool,
}

#[derive(Debug, Clone)]
struct Waiting {
    /// First region of the waiting deployment.
    region: usize,
    needed: usize,
    available: usize,
    total: usize,
    /// The deployment cannot fit even once this job's own slots are released.
    starved: bool,
    /// When the timeout clock started (the first timeout check while starved).
    since: Option<i64>,
}

/// The scheduling decisions of one job (one ExecutionGraph attempt: after a restart, build a new
/// one from the reset graph).
#[derive(Debug, Clone)]
pub struct Scheduler {
    mode: SchedulingMode,
    policy: SlotPolicy,
    phase: SchedulerPhase,
    topo: Topology,
    regions: RegionGraph,
    /// Regions consuming each region's BLOCKING results.
    consumers: Vec<Vec<usize>>,
    unfinished_inputs: Vec<usize>,
    unfinished_tasks: Vec<usize>,
    /// Per dense subtask.
    tasks: Vec<Task>,
    shared: Vec<SharedSlot>,
    /// Shared slots held (not released).
    held: usize,
    /// Unfinished subtasks.
    remaining: usize,
    /// Regions ready to deploy, in topological order.
    pending: BTreeSet<usize>,
    waiting: Option<Waiting>,
}

impl Scheduler {
    pub fn new(eg: &ExecutionGraph, mode: SchedulingMode, policy: SlotPolicy) -> Self {
        let topo = Topology::new(eg);
        let regions = RegionGraph::new(&topo);
        let mut consumers = vec![Vec::new(); regions.members.len()];
        for (r, inputs) in regions.inputs.iter().enumerate() {
            for i in inputs {
                consumers[*i].push(r);
            }
        }
        Self {
            mode,
            policy,
            phase: SchedulerPhase::Created,
            unfinished_inputs: regions.inputs.iter().map(Vec::len).collect(),
            unfinished_tasks: regions.members.iter().map(Vec::len).collect(),
            tasks: vec![Task::Waiting; topo.num_tasks()],
            remaining: topo.num_tasks(),
            topo,
            regions,
            consumers,
            shared: Vec::new(),
            held: 0,
            pending: BTreeSet::new(),
            waiting: None,
        }
    }

    pub fn mode(&self) -> SchedulingMode {
        self.mode
    }

    pub fn phase(&self) -> SchedulerPhase {
        self.phase
    }

    /// Number of pipelined regions.
    pub fn region_count(&self) -> usize {
        self.regions.members.len()
    }

    /// The slots this job holds.
    pub fn held_slots(&self) -> Vec<SlotId> {
        self.shared
            .iter()
            .filter(|s| !s.released)
            .map(|s| s.slot.clone())
            .collect()
    }

    /// `(needed, available, total)` of the deployment waiting for slots, if any.
    pub fn waiting_for_slots(&self) -> Option<(usize, usize, usize)> {
        self.waiting
            .as_ref()
            .map(|w| (w.needed, w.available, w.total))
    }

    /// Starts scheduling: eager deploys the whole job, lazy the regions without BLOCKING inputs.
    /// Only the first call does anything.
    pub fn start(&mut self, pool: &mut dyn SlotProvider) -> Vec<SchedulerAction> {
        if self.phase != SchedulerPhase::Created {
            return Vec::new();
        }
        self.phase = SchedulerPhase::Running;
        self.pending = match self.mode {
            SchedulingMode::Eager => (0..self.region_count()).collect(),
            SchedulingMode::Lazy => (0..self.region_count())
                .filter(|r| self.unfinished_inputs[*r] == 0)
                .collect(),
        };
        let mut actions = Vec::new();
        self.try_deploy(pool, &mut actions);
        actions
    }

    /// Slots were added to (or removed from) the pool: retries the waiting deployment.
    pub fn on_slots_changed(&mut self, pool: &mut dyn SlotProvider) -> Vec<SchedulerAction> {
        let mut actions = Vec::new();
        if self.phase == SchedulerPhase::Running {
            self.try_deploy(pool, &mut actions);
        }
        actions
    }

    /// A deployed subtask finished. Releases its slot once the slot's subtasks all finished;
    /// lazy: once a region finished, the regions consuming it whose inputs all finished are
    /// deployed. Unknown or not deployed subtasks are ignored.
    pub fn on_task_finished(
        &mut self,
        id: ExecutionVertexId,
        pool: &mut dyn SlotProvider,
    ) -> Vec<SchedulerAction> {
        let Some(d) = self.deployed(id) else {
            return Vec::new();
        };
        let mut released = Vec::new();
        self.task_done(d, Task::Finished, pool, &mut released);
        self.remaining -= 1;
        let r = self.regions.region_of[d];
        self.unfinished_tasks[r] -= 1;
        if self.unfinished_tasks[r] == 0 {
            for c in &self.consumers[r] {
                self.unfinished_inputs[*c] -= 1;
                if self.unfinished_inputs[*c] == 0
                    && self.mode == SchedulingMode::Lazy
                    && self.phase == SchedulerPhase::Running
                {
                    self.pending.insert(*c);
                }
            }
        }
        let mut actions = Vec::new();
        if !released.is_empty() {
            actions.push(SchedulerAction::ReleaseSlots(released));
        }
        if self.phase == SchedulerPhase::Running {
            self.try_deploy(pool, &mut actions);
            if self.remaining == 0 {
                self.phase = SchedulerPhase::Finished;
                actions.push(SchedulerAction::JobFinished);
            }
        }
        actions
    }

    /// A deployed subtask failed or was canceled: releases its slot once the slot's subtasks are
    /// all done. What follows (a restart of its regions, of the job, or the job's failure) is
    /// the [`crate::JobCore`]'s decision; the regions that depend on it are not deployed before
    /// it runs again. Unknown or not deployed subtasks are ignored.
    pub fn on_task_stopped(
        &mut self,
        id: ExecutionVertexId,
        pool: &mut dyn SlotProvider,
    ) -> Vec<SchedulerAction> {
        let Some(d) = self.deployed(id) else {
            return Vec::new();
        };
        let mut released = Vec::new();
        self.task_done(d, Task::Stopped, pool, &mut released);
        if released.is_empty() {
            Vec::new()
        } else {
            vec![SchedulerAction::ReleaseSlots(released)]
        }
    }

    /// The subtasks of whole pipelined regions start again (region failover): each must be
    /// finished, failed, canceled or not deployed yet. A region that had finished counts as
    /// unfinished again for the regions consuming it; the regions whose inputs are all finished
    /// are deployed (eager: every restarted region).
    pub fn restart_tasks(
        &mut self,
        ids: &[ExecutionVertexId],
        pool: &mut dyn SlotProvider,
    ) -> Vec<SchedulerAction> {
        let mut regions = BTreeSet::new();
        for id in ids {
            let Some(d) = self.topo.dense(*id) else {
                continue;
            };
            match self.tasks[d] {
                Task::Deployed(_) => {
                    tracing::warn!(subtask = %id, "a running subtask cannot restart; ignored");
                    continue;
                }
                Task::Finished => {
                    self.remaining += 1;
                    let r = self.regions.region_of[d];
                    if self.unfinished_tasks[r] == 0 {
                        for c in &self.consumers[r] {
                            self.unfinished_inputs[*c] += 1;
                        }
                    }
                    self.unfinished_tasks[r] += 1;
                }
                Task::Waiting | Task::Stopped => {}
            }
            self.tasks[d] = Task::Waiting;
            regions.insert(self.regions.region_of[d]);
        }
        let mut actions = Vec::new();
        if self.phase != SchedulerPhase::Running {
            return actions;
        }
        for r in regions {
            let ready = match self.mode {
                SchedulingMode::Eager => true,
                SchedulingMode::Lazy => self.unfinished_inputs[r] == 0,
            };
            if ready {
                self.pending.insert(r);
            } else {
                self.pending.remove(&r);
            }
        }
        self.try_deploy(pool, &mut actions);
        actions
    }

    /// The subtasks to restart when `failed` failed, by the `region` failover strategy (see
    /// [`crate::failover_strategy`]): whole pipelined regions, in priority order. `lost(id)`:
    /// whether the BLOCKING results finished subtask `id` produced are gone.
    pub fn tasks_to_restart(
        &self,
        failed: &[ExecutionVertexId],
        lost: &dyn Fn(ExecutionVertexId) -> bool,
    ) -> Vec<ExecutionVertexId> {
        let region_lost = |r: usize| {
            self.regions.members[r]
                .iter()
                .any(|d| self.tasks[*d] == Task::Finished && lost(self.topo.task(*d)))
        };
        let regions = regions_to_restart(
            &self.regions,
            &self.consumers,
            failed
                .iter()
                .filter_map(|id| self.topo.dense(*id))
                .map(|d| self.regions.region_of[d]),
            &|r| self.unfinished_tasks[r] == 0,
            &region_lost,
        );
        let mut tasks: Vec<usize> = regions
            .into_iter()
            .flat_map(|r| self.regions.members[r].iter().copied())
            .collect();
        tasks.sort_unstable();
        tasks.into_iter().map(|d| self.topo.task(d)).collect()
    }

    /// The job is canceled (or failed and being cleaned up): deploys nothing more and releases
    /// every slot still held (the TaskManagers cancel what runs in them).
    pub fn on_cancel(&mut self, pool: &mut dyn SlotProvider) -> Vec<SchedulerAction> {
        if matches!(
            self.phase,
            SchedulerPhase::Created | SchedulerPhase::Running
        ) {
            self.stop(SchedulerPhase::Canceled);
        }
        let mut released = Vec::new();
        for s in self.shared.iter_mut().filter(|s| !s.released) {
            s.released = true;
            pool.release(&s.slot);
            released.push(s.slot.clone());
        }
        self.held = 0;
        if released.is_empty() {
            Vec::new()
        } else {
            vec![SchedulerAction::ReleaseSlots(released)]
        }
    }

    /// The job is canceled, fails over or stops: nothing more is deployed (and no
    /// [`SchedulerAction::JobFinished`] comes); the slots stay held until [`Self::on_cancel`], as
    /// the tasks in them may still run.
    pub fn stop_deploying(&mut self) {
        if matches!(
            self.phase,
            SchedulerPhase::Created | SchedulerPhase::Running
        ) {
            self.stop(SchedulerPhase::Canceled);
        }
    }

    /// Fails the job when a deployment has waited `timeout_ms` for slots that cannot come: it
    /// does not fit into the free slots plus those this job holds (a lazy region waiting for the
    /// job's own running regions to finish never times out). The clock starts at the first check
    /// that sees such a wait: call this right after events for a precise clock, or periodically.
    pub fn on_timeout_check(&mut self, now: i64, timeout_ms: i64) -> Vec<SchedulerAction> {
        if self.phase != SchedulerPhase::Running {
            return Vec::new();
        }
        let Some(w) = self.waiting.as_mut().filter(|w| w.starved) else {
            return Vec::new();
        };
        let since = *w.since.get_or_insert(now);
        if now.saturating_sub(since) < timeout_ms {
            return Vec::new();
        }
        let reason = format!(
            "Could not acquire the minimum required resources: the job needs {} slots but the cluster has {} ({} free); \
             add TaskManagers or slots (taskmanager.numberOfTaskSlots) or lower the parallelism",
            w.needed, w.total, w.available
        );
        self.stop(SchedulerPhase::Failed);
        vec![SchedulerAction::FailJob { reason }]
    }

    fn deployed(&self, id: ExecutionVertexId) -> Option<usize> {
        let d = self.topo.dense(id)?;
        matches!(self.tasks[d], Task::Deployed(_)).then_some(d)
    }

    fn stop(&mut self, phase: SchedulerPhase) {
        self.phase = phase;
        self.pending.clear();
        self.waiting = None;
    }

    /// Marks a deployed subtask finished or stopped and releases its shared slot when it was the
    /// last in it.
    fn task_done(
        &mut self,
        d: usize,
        end: Task,
        pool: &mut dyn SlotProvider,
        released: &mut Vec<SlotId>,
    ) {
        let Task::Deployed(k) = self.tasks[d] else {
            return;
        };
        self.tasks[d] = end;
        let s = &mut self.shared[k];
        s.live -= 1;
        if s.live == 0 && !s.released {
            s.released = true;
            self.held -= 1;
            pool.release(&s.slot);
            released.push(s.slot.clone());
        }
    }

    /// Deploys pending regions in order while they fit (eager: all pending regions as one unit).
    fn try_deploy(&mut self, pool: &mut dyn SlotProvider, actions: &mut Vec<SchedulerAction>) {
        let previous = self.waiting.take();
        let mut deployed: Vec<usize> = Vec::new();
        let mut waiting_action = None;
        while let Some(&head) = self.pending.first() {
            let unit: Vec<usize> = match self.mode {
                SchedulingMode::Eager => self.pending.iter().copied().collect(),
                SchedulingMode::Lazy => vec![head],
            };
            let mut tasks: Vec<usize> = unit
                .iter()
                .flat_map(|r| self.regions.members[*r].iter().copied())
                .collect();
            tasks.sort_unstable();
            let keys = shared_slot_keys(&self.topo, &tasks);
            match pool.allocate(keys.len(), self.policy) {
                Ok(slots) => {
                    let base = self.shared.len();
                    let index: HashMap<SharedSlotKey, usize> = keys
                        .iter()
                        .enumerate()
                        .map(|(i, k)| (*k, base + i))
                        .collect();
                    self.shared.extend(slots.into_iter().map(|slot| SharedSlot {
                        slot,
                        live: 0,
                        released: false,
                    }));
                    self.held += keys.len();
                    for d in &tasks {
                        let k = index[&shared_slot_key(&self.topo, *d)];
                        self.shared[k].live += 1;
                        self.tasks[*d] = Task::Deployed(k);
                    }
                    for r in &unit {
                        self.pending.remove(r);
                    }
                    deployed.extend(tasks);
                }
                Err(e) => {
                    let starved = e.needed > e.available + self.held;
                    let since = previous
                        .as_ref()
                        .filter(|w| w.starved && starved)
                        .and_then(|w| w.since);
                    if !previous
                        .as_ref()
                        .is_some_and(|w| w.region == head && w.needed == e.needed)
                    {
                        tracing::info!(
                            needed = e.needed,
                            available = e.available,
                            total = e.total,
                            "waiting for slots"
                        );
                        waiting_action = Some(SchedulerAction::WaitingForSlots {
                            needed: e.needed,
                            available: e.available,
                            total: e.total,
                        });
                    }
                    self.waiting = Some(Waiting {
                        region: head,
                        needed: e.needed,
                        available: e.available,
                        total: e.total,
                        starved,
                        since,
                    });
                    break;
                }
            }
        }
        if !deployed.is_empty() {
            deployed.sort_unstable();
            let deploy = deployed
                .into_iter()
                .map(|d| {
                    let Task::Deployed(k) = self.tasks[d] else {
                        unreachable!("just deployed")
                    };
                    (self.topo.task(d), self.shared[k].slot.clone())
                })
                .collect();
            actions.push(SchedulerAction::Deploy(deploy));
        }
        actions.extend(waiting_action);
    }
}

#[cfg(test)]
mod tests;
