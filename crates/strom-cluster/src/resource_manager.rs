//! ResourceManager: knows the registered TaskManagers and their slots (one slot pool for the
//! cluster), and tells JobMasters when slots appear or are released.

use crate::job_master::JobEvent;
use crate::task_executor::TaskExecutor;
use crossbeam_channel::Sender;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::Arc;
use strom_scheduler::slot_pool::{SlotPool, TaskManagerId};

#[derive(Default)]
pub struct ResourceManager {
    pub pool: Mutex<SlotPool>,
    task_executors: RwLock<BTreeMap<TaskManagerId, Arc<TaskExecutor>>>,
    listeners: Mutex<Vec<Sender<JobEvent>>>,
}

impl ResourceManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a TaskManager and offers its slots.
    pub fn register(&self, te: Arc<TaskExecutor>) {
        tracing::info!("TaskManager {} registered with {} slots", te.id, te.slots);
        self.pool
            .lock()
            .register_task_manager(te.id.clone(), te.slots);
        self.task_executors.write().insert(te.id.clone(), te);
        self.notify_slots_changed();
    }

    /// JobMasters that want to hear about slot changes (until their channel closes).
    pub fn subscribe(&self, tx: Sender<JobEvent>) {
        self.listeners.lock().push(tx);
    }

    pub fn notify_slots_changed(&self) {
        self.listeners
            .lock()
            .retain(|tx| tx.send(JobEvent::SlotsChanged).is_ok());
    }

    pub fn task_executor(&self, id: &TaskManagerId) -> Option<Arc<TaskExecutor>> {
        self.task_executors.read().get(id).cloned()
    }

    pub fn task_executors(&self) -> Vec<Arc<TaskExecutor>> {
        self.task_executors.read().values().cloned().collect()
    }

    /// (total, free) slots.
    pub fn slot_counts(&self) -> (usize, usize) {
        let p = self.pool.lock();
        (p.total_slots(), p.free_slots())
    }
}
