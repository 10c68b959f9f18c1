//! Errors of the scheduler crate. As in Omicron, a variant's message does not repeat its source;
//! print the chain (`{:#}` with anyhow, or walk `source()`) to see both.

use crate::execution_vertex_id::ExecutionVertexId;
use crate::slot_pool::NotEnoughSlots;
use strom_common::{AttemptId, ExecutionState, JobStatus};
use strom_plan::GraphError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedulerError {
    /// The JobGraph failed validation; the source says what is wrong with it.
    #[error("the job graph is invalid")]
    InvalidGraph(#[from] GraphError),
    /// An update names a subtask this job does not have.
    #[error("the job has no subtask {0}")]
    UnknownTask(ExecutionVertexId),
    /// An update from an earlier attempt of a subtask; callers log and ignore it.
    #[error("update from stale attempt {attempt} of subtask {id} ignored (current attempt is {current})")]
    StaleAttempt {
        id: ExecutionVertexId,
        attempt: AttemptId,
        current: AttemptId,
    },
    /// A task state change Flink does not allow (e.g. FINISHED -> RUNNING).
    #[error("subtask {id} cannot go from {from} to {to}")]
    IllegalTaskTransition {
        id: ExecutionVertexId,
        from: ExecutionState,
        to: ExecutionState,
    },
    /// A job status change Flink does not allow (e.g. FINISHED -> RUNNING).
    #[error("the job cannot go from {from} to {to}")]
    IllegalJobTransition { from: JobStatus, to: JobStatus },
    /// Not enough free slots.
    #[error("not enough slots")]
    NotEnoughSlots(#[from] NotEnoughSlots),
}

impl SchedulerError {
    /// True for updates that are expected in a distributed system and safe to ignore (a report
    /// from an attempt that has since been replaced).
    pub fn is_stale(&self) -> bool {
        matches!(self, SchedulerError::StaleAttempt { .. })
    }
}
