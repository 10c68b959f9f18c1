//! The slot pool: the slots TaskManagers offer, and which of them are allocated.
//!
//! Allocation is all-or-nothing and chooses TaskManagers by [`SlotPolicy`]. The pool keeps an
//! index of the TaskManagers that still have free slots, ordered by utilisation, so choosing a
//! slot is `O(log T)` even with thousands of TaskManagers.

use serde::{Deserialize, Serialize};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Identifies a TaskManager (Flink's `ResourceID`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskManagerId(pub String);

impl fmt::Display for TaskManagerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TaskManagerId {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

impl From<String> for TaskManagerId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// One slot of one TaskManager (Flink's `SlotID`); displayed as `<task manager>_<index>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SlotId {
    pub task_manager: TaskManagerId,
    pub index: u32,
}

impl fmt::Display for SlotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.task_manager, self.index)
    }
}

/// Which TaskManager a slot is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlotPolicy {
    /// Least utilised TaskManager first (allocated / total slots), ties by TaskManager id:
    /// spreads a job evenly over the cluster (Flink's `cluster.evenly-spread-out-slots`).
    #[default]
    Spread,
    /// Most utilised TaskManager that still has a free slot first, ties by TaskManager id:
    /// fills one TaskManager before the next.
    Pack,
}

/// An allocation could not be satisfied; nothing was allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{needed} slots are needed but only {available} of {total} are free")]
pub struct NotEnoughSlots {
    pub needed: usize,
    pub available: usize,
    pub total: usize,
}

/// Utilisation of a TaskManager, compared as the fraction `allocated / total` (`total > 0`).
#[derive(Debug, Clone, Copy)]
struct Load {
    allocated: u32,
    total: u32,
}

impl Ord for Load {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.allocated as u64 * other.total as u64)
            .cmp(&(other.allocated as u64 * self.total as u64))
    }
}
impl PartialOrd for Load {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Load {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Load {}

#[derive(Debug, Clone)]
struct TaskManagerSlots {
    total: u32,
    free: BTreeSet<u32>,
}

impl TaskManagerSlots {
    fn load(&self) -> Load {
        Load {
            allocated: self.total - self.free.len() as u32,
            total: self.total,
        }
    }
}

/// The slots of the registered TaskManagers and their allocation.
#[derive(Debug, Clone, Default)]
pub struct SlotPool {
    task_managers: BTreeMap<TaskManagerId, TaskManagerSlots>,
    /// TaskManagers with a free slot, least utilised first.
    spread: BTreeSet<(Load, TaskManagerId)>,
    /// TaskManagers with a free slot, most utilised first.
    pack: BTreeSet<(Reverse<Load>, TaskManagerId)>,
    free: usize,
    total: usize,
}

impl SlotPool {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a TaskManager with `slots` free slots (indices `0..slots`). Returns false, changing
    /// nothing, when the TaskManager is already registered (unregister it first to change its
    /// slot count).
    pub fn register_task_manager(&mut self, id: TaskManagerId, slots: u32) -> bool {
        if self.task_managers.contains_key(&id) {
            return false;
        }
        self.task_managers.insert(
            id.clone(),
            TaskManagerSlots {
                total: slots,
                free: (0..slots).collect(),
            },
        );
        self.free += slots as usize;
        self.total += slots as usize;
        self.index(&id);
        true
    }

    /// Removes a TaskManager. Returns its slots that were allocated (their tasks are lost), in
    /// index order; empty for an unknown TaskManager.
    pub fn unregister_task_manager(&mut self, id: &TaskManagerId) -> Vec<SlotId> {
        self.unindex(id);
        let Some(tm) = self.task_managers.remove(id) else {
            return Vec::new();
        };
        self.free -= tm.free.len();
        self.total -= tm.total as usize;
        (0..tm.total)
            .filter(|i| !tm.free.contains(i))
            .map(|index| SlotId {
                task_manager: id.clone(),
                index,
            })
            .collect()
    }

    pub fn free_slots(&self) -> usize {
        self.free
    }

    pub fn total_slots(&self) -> usize {
        self.total
    }

    pub fn allocated_slots(&self) -> usize {
        self.total - self.free
    }

    pub fn task_manager_count(&self) -> usize {
        self.task_managers.len()
    }

    /// Allocated slots on a TaskManager, `None` when it is not registered.
    pub fn allocated_on(&self, id: &TaskManagerId) -> Option<usize> {
        self.task_managers
            .get(id)
            .map(|tm| tm.load().allocated as usize)
    }

    pub fn is_allocated(&self, slot: &SlotId) -> bool {
        self.task_managers
            .get(&slot.task_manager)
            .is_some_and(|tm| slot.index < tm.total && !tm.free.contains(&slot.index))
    }

    /// Allocates `n` slots chosen by `policy`, all or nothing: on error nothing is allocated.
    /// Within a TaskManager the lowest free index is taken.
    pub fn allocate(
        &mut self,
        n: usize,
        policy: SlotPolicy,
    ) -> Result<Vec<SlotId>, NotEnoughSlots> {
        if n > self.free {
            return Err(NotEnoughSlots {
                needed: n,
                available: self.free,
                total: self.total,
            });
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let tm = match policy {
                SlotPolicy::Spread => self.spread.first().map(|(_, id)| id.clone()),
                SlotPolicy::Pack => self.pack.first().map(|(_, id)| id.clone()),
            }
            .expect("free > 0 implies an indexed TaskManager");
            self.unindex(&tm);
            let slots = self
                .task_managers
                .get_mut(&tm)
                .expect("indexed TaskManager is registered");
            let index = slots
                .free
                .pop_first()
                .expect("indexed TaskManager has a free slot");
            self.free -= 1;
            self.index(&tm);
            out.push(SlotId {
                task_manager: tm,
                index,
            });
        }
        Ok(out)
    }

    /// Returns an allocated slot to the pool. Returns false, changing nothing, when the slot is
    /// not allocated (already free, or its TaskManager is gone).
    pub fn release(&mut self, slot: &SlotId) -> bool {
        if !self.is_allocated(slot) {
            return false;
        }
        self.unindex(&slot.task_manager);
        let tm = self
            .task_managers
            .get_mut(&slot.task_manager)
            .expect("checked");
        tm.free.insert(slot.index);
        self.free += 1;
        self.index(&slot.task_manager);
        true
    }

    fn index(&mut self, id: &TaskManagerId) {
        if let Some(tm) = self.task_managers.get(id) {
            if !tm.free.is_empty() {
                self.spread.insert((tm.load(), id.clone()));
                self.pack.insert((Reverse(tm.load()), id.clone()));
            }
        }
    }

    fn unindex(&mut self, id: &TaskManagerId) {
        if let Some(tm) = self.task_managers.get(id) {
            if !tm.free.is_empty() {
                self.spread.remove(&(tm.load(), id.clone()));
                self.pack.remove(&(Reverse(tm.load()), id.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn tm(i: usize) -> TaskManagerId {
        TaskManagerId(format!("tm-{i:02}"))
    }

    fn pool(tms: usize, slots: u32) -> SlotPool {
        let mut p = SlotPool::new();
        for i in 0..tms {
            assert!(p.register_task_manager(tm(i), slots));
        }
        p
    }

    #[test]
    fn spread_round_robins_over_task_managers() {
        let mut p = pool(3, 2);
        let got = p.allocate(4, SlotPolicy::Spread).unwrap();
        let tms: Vec<_> = got.iter().map(|s| s.task_manager.0.as_str()).collect();
        assert_eq!(tms, ["tm-00", "tm-01", "tm-02", "tm-00"]);
        assert_eq!(got[3].index, 1);
        assert_eq!(p.free_slots(), 2);
    }

    #[test]
    fn pack_fills_one_task_manager_first() {
        let mut p = pool(3, 2);
        let got = p.allocate(3, SlotPolicy::Pack).unwrap();
        let ids: Vec<String> = got.iter().map(|s| s.to_string()).collect();
        assert_eq!(ids, ["tm-00_0", "tm-00_1", "tm-01_0"]);
        // a freed slot on a busy TaskManager is reused before an empty TaskManager
        assert!(p.release(&got[0]));
        assert_eq!(
            p.allocate(1, SlotPolicy::Pack).unwrap()[0].to_string(),
            "tm-00_0"
        );
    }

    #[test]
    fn spread_uses_utilisation_not_count() {
        let mut p = SlotPool::new();
        p.register_task_manager("big".into(), 8);
        p.register_task_manager("small".into(), 2);
        let got = p.allocate(5, SlotPolicy::Spread).unwrap();
        let on_small = got.iter().filter(|s| s.task_manager.0 == "small").count();
        assert_eq!(on_small, 1, "{got:?}");
    }

    #[test]
    fn all_or_nothing() {
        let mut p = pool(2, 2);
        let err = p.allocate(5, SlotPolicy::Spread).unwrap_err();
        assert_eq!(
            err,
            NotEnoughSlots {
                needed: 5,
                available: 4,
                total: 4
            }
        );
        assert_eq!(p.free_slots(), 4);
        assert_eq!(
            err.to_string(),
            "5 slots are needed but only 4 of 4 are free"
        );
    }

    #[test]
    fn unregister_returns_lost_slots() {
        let mut p = pool(2, 2);
        let got = p.allocate(3, SlotPolicy::Pack).unwrap();
        let lost = p.unregister_task_manager(&tm(0));
        assert_eq!(lost, got[..2].to_vec());
        assert_eq!((p.free_slots(), p.total_slots()), (1, 2));
        assert!(!p.release(&got[0]), "slot of a gone TaskManager");
        assert!(p.unregister_task_manager(&tm(0)).is_empty());
        assert!(!p.register_task_manager(tm(1), 5), "already registered");
    }

    #[test]
    fn thousands_of_task_managers() {
        let mut p = pool(5000, 4);
        let got = p.allocate(10_000, SlotPolicy::Spread).unwrap();
        assert_eq!(got.len(), 10_000);
        assert_eq!(p.allocated_on(&tm(0)), Some(2));
        assert_eq!(p.allocated_on(&tm(4999)), Some(2));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Register(u8, u32),
        Unregister(u8),
        Allocate(usize, bool),
        Release(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..6, 0u32..5).prop_map(|(t, s)| Op::Register(t, s)),
            (0u8..6).prop_map(Op::Unregister),
            (0usize..8, any::<bool>()).prop_map(|(n, s)| Op::Allocate(n, s)),
            any::<usize>().prop_map(Op::Release),
        ]
    }

    proptest! {
        #[test]
        fn pool_invariants(ops in proptest::collection::vec(op(), 0..60)) {
            let mut p = SlotPool::new();
            let mut held: Vec<SlotId> = Vec::new();
            for op in ops {
                match op {
                    Op::Register(t, s) => { p.register_task_manager(tm(t as usize), s); }
                    Op::Unregister(t) => {
                        let lost: HashSet<SlotId> = p.unregister_task_manager(&tm(t as usize)).into_iter().collect();
                        let mine: HashSet<SlotId> = held.iter().filter(|s| s.task_manager == tm(t as usize)).cloned().collect();
                        prop_assert_eq!(lost, mine);
                        held.retain(|s| s.task_manager != tm(t as usize));
                    }
                    Op::Allocate(n, spread) => {
                        let policy = if spread { SlotPolicy::Spread } else { SlotPolicy::Pack };
                        let before = (p.free_slots(), p.total_slots());
                        match p.allocate(n, policy) {
                            Ok(got) => {
                                prop_assert_eq!(got.len(), n);
                                for s in got {
                                    prop_assert!(!held.contains(&s), "double allocation of {}", s);
                                    held.push(s);
                                }
                            }
                            Err(e) => {
                                prop_assert!(n > before.0);
                                prop_assert_eq!((e.available, e.total), before);
                                prop_assert_eq!((p.free_slots(), p.total_slots()), before);
                            }
                        }
                    }
                    Op::Release(i) => {
                        if !held.is_empty() {
                            let s = held.swap_remove(i % held.len());
                            prop_assert!(p.release(&s));
                            prop_assert!(!p.release(&s));
                        }
                    }
                }
                prop_assert_eq!(p.free_slots() + held.len(), p.total_slots());
                prop_assert_eq!(p.allocated_slots(), held.len());
                for s in &held {
                    prop_assert!(p.is_allocated(s));
                }
            }
        }

        #[test]
        fn spread_is_balanced(tms in 1usize..8, slots in 1u32..6, allocs in proptest::collection::vec(1usize..5, 0..12)) {
            let mut p = pool(tms, slots);
            for n in allocs {
                let _ = p.allocate(n, SlotPolicy::Spread);
                let loads: Vec<usize> = (0..tms).map(|i| p.allocated_on(&tm(i)).unwrap()).collect();
                let (min, max) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
                prop_assert!(max - min <= 1, "{:?}", loads);
            }
        }
    }
}
