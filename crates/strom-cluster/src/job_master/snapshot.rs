//! What other threads see of a job: an immutable [`JobSnapshot`] the JobMaster publishes after
//! the events it handled (as Flink's `ExecutionGraphInfo`). REST, the Web UI, Prometheus and the
//! embedded CLI read snapshots; the JobMaster's own state stays private to its thread.

use super::{JobState, TaskMetricsHandle};
use crate::checkpoint_stats::CheckpointStats;
use crate::task_figures::{TaskFigures, TaskRateMeter, TaskRates};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use strom_common::{AttemptId, ExecutionState};
use strom_plan::JobGraph;
use strom_runtime::TaskMetricsSnapshot;
use strom_scheduler::exception_history::ExceptionHistory;
use strom_scheduler::execution_graph::ExecutionGraph;

/// A job as it stood after the events its JobMaster handled last.
pub struct JobSnapshot {
    graph: ExecutionGraph,
    exceptions: ExceptionHistory,
    root_cause: Option<String>,
    waiting_for_slots: Option<String>,
    restarts: u32,
    restart_strategy: String,
    /// The JobGraph the job runs.
    pub plan: Arc<JobGraph>,
    /// Each attempt's figures: live counters (read when asked) or the last reported ones.
    pub metrics: HashMap<AttemptId, TaskMetricsHandle>,
    /// Samples of each attempt's figures, for per-second rates.
    pub rates: HashMap<AttemptId, TaskRateMeter>,
    pub checkpoints: CheckpointStats,
}

impl JobSnapshot {
    pub(super) fn of(st: &JobState) -> Self {
        let core = &st.core;
        Self {
            graph: core.graph().clone(),
            exceptions: core.exceptions().clone(),
            root_cause: core.root_cause().map(str::to_string),
            waiting_for_slots: core.waiting_for_slots().map(str::to_string),
            restarts: core.restarts(),
            restart_strategy: core.restart_strategy().describe(),
            plan: st.plan.clone(),
            metrics: st.metrics.clone(),
            rates: st.rates.clone(),
            checkpoints: st.checkpoints.clone(),
        }
    }

    pub fn graph(&self) -> &ExecutionGraph {
        &self.graph
    }

    /// The root cause of the latest failover or of the job's failure.
    pub fn root_cause(&self) -> Option<&str> {
        self.root_cause.as_deref()
    }

    pub fn exceptions(&self) -> &ExceptionHistory {
        &self.exceptions
    }

    /// Why the job waits for slots, while it does.
    pub fn waiting_for_slots(&self) -> Option<&str> {
        self.waiting_for_slots.as_deref()
    }

    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// The restart strategy in Flink's words.
    pub fn restart_strategy(&self) -> &str {
        &self.restart_strategy
    }

    /// An attempt's figures now: live counters are read at the call.
    pub fn metrics_of(&self, attempt: AttemptId) -> TaskMetricsSnapshot {
        match self.metrics.get(&attempt) {
            Some(TaskMetricsHandle::Live(m)) => m.snapshot(),
            Some(TaskMetricsHandle::Reported(s)) => *s,
            None => TaskMetricsSnapshot::default(),
        }
    }

    /// Totals and rates of an attempt; a task that is not running has no rates.
    pub fn figures_of(&self, attempt: AttemptId, state: ExecutionState) -> TaskFigures {
        let rates = match self.rates.get(&attempt) {
            Some(m) if !state.is_terminal() => TaskRates::from_meter(m),
            _ => TaskRates::default(),
        };
        TaskFigures {
            totals: self.metrics_of(attempt),
            rates,
        }
    }
}

/// Where a JobMaster publishes its job's snapshots and readers take the latest (cloning an
/// `Arc` under a lock held for nothing else).
#[derive(Clone)]
pub struct JobSnapshots(Arc<RwLock<Arc<JobSnapshot>>>);

impl JobSnapshots {
    pub(super) fn new(first: JobSnapshot) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(first))))
    }

    pub(super) fn publish(&self, snapshot: JobSnapshot) {
        *self.0.write() = Arc::new(snapshot);
    }

    /// The latest snapshot.
    pub fn latest(&self) -> Arc<JobSnapshot> {
        self.0.read().clone()
    }
}
