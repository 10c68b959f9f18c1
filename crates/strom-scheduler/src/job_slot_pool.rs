//! One job's slots (Flink's per-job `DeclarativeSlotPool`), and what it asks of the cluster's
//! ResourceManager ([`ResourceManagerGateway`], as Flink's JobMaster reaches the `SlotManager`).
//!
//! The scheduler takes slots from a [`SlotProvider`]: in a job, its [`JobSlotPool`], which
//! requests them from the ResourceManager and remembers which it holds, so that the job knows
//! its slots without reading the cluster's pool, a lost TaskManager takes its slots out of the
//! job, and a job that ends holds none.

use crate::slot_pool::{NotEnoughSlots, SlotId, SlotPolicy, SlotPool, TaskManagerId};
use std::collections::BTreeSet;

/// Where the scheduler takes slots from and returns them to.
pub trait SlotProvider {
    /// `n` slots chosen by `policy`, all or nothing.
    fn allocate(&mut self, n: usize, policy: SlotPolicy) -> Result<Vec<SlotId>, NotEnoughSlots>;
    /// Returns a slot; false (changing nothing) when it was not allocated.
    fn release(&mut self, slot: &SlotId) -> bool;
}

/// What a job's slot pool asks of the ResourceManager.
pub trait ResourceManagerGateway {
    /// `n` slots for the job, chosen by `policy`, all or nothing.
    fn request_slots(
        &mut self,
        n: usize,
        policy: SlotPolicy,
    ) -> Result<Vec<SlotId>, NotEnoughSlots>;
    /// Gives a slot back; false when the ResourceManager did not have it allocated (its
    /// TaskManager is gone).
    fn release_slot(&mut self, slot: &SlotId) -> bool;
}

/// The cluster's pool is a ResourceManager in process (tests, and the ResourceManager itself).
impl ResourceManagerGateway for SlotPool {
    fn request_slots(
        &mut self,
        n: usize,
        policy: SlotPolicy,
    ) -> Result<Vec<SlotId>, NotEnoughSlots> {
        SlotPool::allocate(self, n, policy)
    }

    fn release_slot(&mut self, slot: &SlotId) -> bool {
        SlotPool::release(self, slot)
    }
}

/// Scheduling straight from the cluster's pool (the scheduler's own tests).
impl SlotProvider for SlotPool {
    fn allocate(&mut self, n: usize, policy: SlotPolicy) -> Result<Vec<SlotId>, NotEnoughSlots> {
        SlotPool::allocate(self, n, policy)
    }

    fn release(&mut self, slot: &SlotId) -> bool {
        SlotPool::release(self, slot)
    }
}

/// The slots one job holds.
#[derive(Debug, Clone, Default)]
pub struct JobSlotPool {
    held: BTreeSet<SlotId>,
}

impl JobSlotPool {
    /// The slots the job holds, in order.
    pub fn held(&self) -> impl Iterator<Item = &SlotId> {
        self.held.iter()
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// A TaskManager is gone: its slots leave the job (the ResourceManager dropped them).
    pub fn task_manager_lost(&mut self, tm: &TaskManagerId) {
        self.held.retain(|s| &s.task_manager != tm);
    }

    /// This pool working against `rm` for one decision.
    pub fn with<'a>(&'a mut self, rm: &'a mut dyn ResourceManagerGateway) -> JobSlots<'a> {
        JobSlots { pool: self, rm }
    }
}

/// A job's slot pool with the ResourceManager it reaches, for one decision of the job.
pub struct JobSlots<'a> {
    pool: &'a mut JobSlotPool,
    rm: &'a mut dyn ResourceManagerGateway,
}

impl SlotProvider for JobSlots<'_> {
    fn allocate(&mut self, n: usize, policy: SlotPolicy) -> Result<Vec<SlotId>, NotEnoughSlots> {
        let slots = self.rm.request_slots(n, policy)?;
        self.pool.held.extend(slots.iter().cloned());
        Ok(slots)
    }

    fn release(&mut self, slot: &SlotId) -> bool {
        self.pool.held.remove(slot) && self.rm.release_slot(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_holds_what_it_took_until_it_gives_it_back_or_loses_its_taskmanager() {
        let mut cluster = SlotPool::new();
        cluster.register_task_manager("a".into(), 2);
        cluster.register_task_manager("b".into(), 2);
        let mut job = JobSlotPool::default();
        let taken = job
            .with(&mut cluster)
            .allocate(3, SlotPolicy::Spread)
            .unwrap();
        assert_eq!(job.len(), 3);
        assert_eq!(cluster.free_slots(), 1);
        // a slot the job does not hold is not given back for it
        let other = cluster.allocate(1, SlotPolicy::Spread).unwrap();
        assert!(!job.with(&mut cluster).release(&other[0]));
        assert!(cluster.is_allocated(&other[0]));
        assert!(job.with(&mut cluster).release(&taken[0]));
        assert!(!job.with(&mut cluster).release(&taken[0]));
        assert_eq!(job.len(), 2);
        cluster.unregister_task_manager(&"a".into());
        job.task_manager_lost(&"a".into());
        assert!(job.held().all(|s| s.task_manager.0 == "b"));
        // asking for more than the cluster has takes nothing
        assert!(job
            .with(&mut cluster)
            .allocate(5, SlotPolicy::Pack)
            .is_err());
    }
}
