//! TaskExecutor: the TaskManager side. Runs deployed tasks on their own threads and reports their
//! state transitions to the JobMaster that deployed them.

use crate::job_master::JobEvent;
use crossbeam_channel::Sender;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use strom_common::{AttemptId, ExecutionState};
use strom_runtime::exchange::LocalShuffle;
use strom_runtime::{
    run_task, ConnectorRegistry, TaskContext, TaskDeploymentDescriptor, TaskError, TaskMetrics,
};
use strom_scheduler::execution_graph::ExecutionVertexId;
use strom_scheduler::slot_pool::TaskManagerId;

/// Hardware a TaskManager reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hardware {
    pub cpu_cores: usize,
    pub physical_memory: u64,
}

impl Hardware {
    pub fn detect() -> Self {
        let cpu_cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let physical_memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| {
                        l.split_whitespace()
                            .nth(1)
                            .and_then(|kb| kb.parse::<u64>().ok())
                    })
            })
            .map(|kb| kb * 1024)
            .unwrap_or(0);
        Self {
            cpu_cores,
            physical_memory,
        }
    }
}

struct RunningTask {
    cancel: Arc<AtomicBool>,
}

/// One TaskManager.
pub struct TaskExecutor {
    pub id: TaskManagerId,
    pub slots: u32,
    pub hardware: Hardware,
    pub data_port: u16,
    pub registered_at: i64,
    shuffle: LocalShuffle,
    connectors: Arc<ConnectorRegistry>,
    running: Mutex<HashMap<AttemptId, RunningTask>>,
}

impl TaskExecutor {
    pub fn new(
        id: TaskManagerId,
        slots: u32,
        shuffle: LocalShuffle,
        connectors: Arc<ConnectorRegistry>,
    ) -> Self {
        Self {
            id,
            slots,
            hardware: Hardware::detect(),
            data_port: 0,
            registered_at: strom_common::time::now_millis(),
            shuffle,
            connectors,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Deploys a task: it reports INITIALIZING, RUNNING and its terminal state to `listener`.
    /// Returns the task's live metrics.
    pub fn submit_task(
        self: &Arc<Self>,
        tdd: TaskDeploymentDescriptor,
        id: ExecutionVertexId,
        listener: Sender<JobEvent>,
    ) -> Arc<TaskMetrics> {
        let cancel = Arc::new(AtomicBool::new(false));
        let metrics = Arc::new(TaskMetrics::default());
        self.running.lock().insert(
            tdd.attempt_id,
            RunningTask {
                cancel: cancel.clone(),
            },
        );
        let ctx = TaskContext {
            shuffle: self.shuffle.clone(),
            connectors: self.connectors.clone(),
            cancel: cancel.clone(),
            metrics: metrics.clone(),
        };
        let me = self.clone();
        let name = format!(
            "{} ({}/{})",
            tdd.vertex_name,
            tdd.subtask + 1,
            tdd.parallelism
        );
        let spawn = std::thread::Builder::new().name(format!("task-{}-{}", tdd.vertex.to_string().get(..8).unwrap_or(""), tdd.subtask)).spawn({
            let listener = listener.clone();
            let tdd = tdd.clone();
            move || {
                let attempt = tdd.attempt_id;
                let send = |state, error| {
                    let _ = listener.send(JobEvent::TaskState { id, attempt, state, error });
                };
                send(ExecutionState::Initializing, None);
                send(ExecutionState::Running, None);
                let _span = tracing::info_span!("task", job = %tdd.job_id, task = %name, attempt = tdd.attempt_number).entered();
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_task(&tdd, &ctx)));
                me.running.lock().remove(&attempt);
                match result {
                    Ok(Ok(())) => send(ExecutionState::Finished, None),
                    Ok(Err(TaskError::Canceled)) => send(ExecutionState::Canceled, None),
                    Ok(Err(_)) if cancel.load(Ordering::Relaxed) => send(ExecutionState::Canceled, None),
                    Ok(Err(e)) => {
                        tracing::warn!("task {name} failed: {e}");
                        send(ExecutionState::Failed, Some(format!("{name}: {e}")))
                    }
                    Err(panic) => {
                        let msg = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "panic".into());
                        tracing::error!("task {name} panicked: {msg}");
                        send(ExecutionState::Failed, Some(format!("{name}: internal error: {msg}")))
                    }
                }
            }
        });
        if let Err(e) = spawn {
            self.running.lock().remove(&tdd.attempt_id);
            let _ = listener.send(JobEvent::TaskState {
                id,
                attempt: tdd.attempt_id,
                state: ExecutionState::Failed,
                error: Some(format!("cannot start a task thread: {e}")),
            });
        }
        metrics
    }

    /// Asks a running task to stop; it reports CANCELED when it has.
    pub fn cancel_task(&self, attempt: AttemptId) {
        if let Some(t) = self.running.lock().get(&attempt) {
            t.cancel.store(true, Ordering::Relaxed);
        }
    }

    pub fn running_tasks(&self) -> usize {
        self.running.lock().len()
    }
}
