//! ResourceManager: knows the registered TaskManagers and their slots (one slot pool for the
//! cluster), watches their heartbeats, and tells JobMasters when slots appear, are released, or
//! are lost with their TaskManager. JobMasters take and return slots through
//! [`ResourceManager::gateway`] only (each job keeps its own slots in its `JobSlotPool`).

use crate::gateway::{JobMasterRegistry, TaskExecutorGateway};
use crate::protocol::JobEvent;
use crate::utilisation::Utilisation;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::Arc;
use strom_common::time::now_millis;
use strom_scheduler::job_slot_pool::ResourceManagerGateway;
use strom_scheduler::slot_pool::{NotEnoughSlots, SlotId, SlotPolicy, SlotPool, TaskManagerId};

pub struct ResourceManager {
    pool: Mutex<SlotPool>,
    task_executors: RwLock<BTreeMap<TaskManagerId, Arc<dyn TaskExecutorGateway>>>,
    pub job_masters: Arc<JobMasterRegistry>,
    /// Cluster utilisation: slot time as TaskManagers come and go, busy time from JobMasters.
    pub utilisation: Mutex<Utilisation>,
    /// When this ResourceManager (the cluster) started, epoch ms.
    pub started_ms: i64,
}

impl ResourceManager {
    pub fn new(job_masters: Arc<JobMasterRegistry>) -> Self {
        let started_ms = now_millis();
        Self {
            pool: Mutex::new(SlotPool::new()),
            task_executors: RwLock::new(BTreeMap::new()),
            job_masters,
            utilisation: Mutex::new(Utilisation::new(started_ms)),
            started_ms,
        }
    }

    /// Tells the utilisation the slot count now.
    fn slots_changed(&self, total: usize) {
        self.utilisation
            .lock()
            .set_slots(now_millis(), total as u64);
    }

    /// Registers a TaskManager and offers its slots.
    pub fn register(&self, te: Arc<dyn TaskExecutorGateway>) {
        let info = te.info();
        tracing::info!(
            "TaskManager {} registered with {} slots (rpc {}, data {})",
            info.id,
            info.slots,
            if info.rpc_address.is_empty() {
                "in process"
            } else {
                &info.rpc_address
            },
            if info.data_address.is_empty() {
                "in process"
            } else {
                &info.data_address
            },
        );
        let total = {
            let mut pool = self.pool.lock();
            pool.register_task_manager(info.id.clone(), info.slots);
            pool.total_slots()
        };
        self.slots_changed(total);
        self.task_executors.write().insert(info.id.clone(), te);
        self.notify_slots_changed();
    }

    /// A TaskManager is gone (heartbeat timeout, failed calls, or it unregistered): its slots leave
    /// the pool and every JobMaster fails the tasks it ran there.
    pub fn task_manager_lost(&self, id: &TaskManagerId, reason: &str) -> bool {
        let Some(te) = self.task_executors.write().remove(id) else {
            return false;
        };
        tracing::warn!(
            "TaskManager {id} ({}) lost: {reason}",
            te.info().rpc_address
        );
        let total = {
            let mut pool = self.pool.lock();
            pool.unregister_task_manager(id);
            pool.total_slots()
        };
        self.slots_changed(total);
        // Flink's words: "TaskManager with id ... is no longer reachable"
        let reason = format!(
            "TaskManager with id {id} ({}) is no longer reachable: {reason}",
            te.info().rpc_address
        );
        self.job_masters
            .broadcast(|| JobEvent::TaskManagerLost(id.clone(), reason.clone()));
        true
    }

    /// Remote TaskManagers whose last heartbeat is older than `timeout_ms`.
    pub fn overdue(&self, timeout_ms: i64) -> Vec<(TaskManagerId, i64)> {
        let now = now_millis();
        self.task_executors
            .read()
            .values()
            .filter(|te| !te.info().rpc_address.is_empty())
            .map(|te| (te.info().id.clone(), now - te.info().last_heartbeat()))
            .filter(|(_, age)| *age > timeout_ms)
            .collect()
    }

    pub fn notify_slots_changed(&self) {
        self.job_masters.broadcast(|| JobEvent::SlotsChanged);
    }

    pub fn task_executor(&self, id: &TaskManagerId) -> Option<Arc<dyn TaskExecutorGateway>> {
        self.task_executors.read().get(id).cloned()
    }

    pub fn task_executors(&self) -> Vec<Arc<dyn TaskExecutorGateway>> {
        self.task_executors.read().values().cloned().collect()
    }

    /// (total, free) slots.
    pub fn slot_counts(&self) -> (usize, usize) {
        let p = self.pool.lock();
        (p.total_slots(), p.free_slots())
    }

    /// Allocated slots on a TaskManager, `None` when it is not registered.
    pub fn allocated_on(&self, id: &TaskManagerId) -> Option<usize> {
        self.pool.lock().allocated_on(id)
    }

    /// What a JobMaster's slot pool reaches this ResourceManager through.
    pub fn gateway(&self) -> SlotRequests<'_> {
        SlotRequests(self)
    }
}

/// A JobMaster's slot requests to the ResourceManager in process (Flink's
/// `ResourceManagerGateway`): each request is one allocation, all or nothing, from the
/// cluster's pool.
pub struct SlotRequests<'a>(&'a ResourceManager);

impl ResourceManagerGateway for SlotRequests<'_> {
    fn request_slots(
        &mut self,
        n: usize,
        policy: SlotPolicy,
    ) -> Result<Vec<SlotId>, NotEnoughSlots> {
        self.0.pool.lock().allocate(n, policy)
    }

    fn release_slot(&mut self, slot: &SlotId) -> bool {
        self.0.pool.lock().release(slot)
    }
}
