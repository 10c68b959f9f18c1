//! The messages of the control plane: what reaches a JobMaster ([`JobEvent`]), what a TaskManager
//! reports of its tasks (state changes, checkpoint answers), the checkpoints and savepoints asked
//! for on request, and the fencing token that tells a JobMaster's messages from a stale one's.

use crate::checkpoint_metadata::SavepointCopyError;
use crossbeam_channel::Sender;
use std::sync::Arc;
use strom_common::{AttemptId, DeclineKind, ExecutionState, FailureKind, JobId, JobStatus};
use strom_runtime::TaskMetricsSnapshot;
use strom_scheduler::execution_graph::ExecutionVertexId;
use strom_scheduler::slot_pool::TaskManagerId;

/// Fencing token of one JobMaster: task updates carrying another one are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobMasterId(pub u128);

impl JobMasterId {
    pub fn random() -> Self {
        Self(rand::random())
    }
}

impl std::fmt::Display for JobMasterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl std::str::FromStr for JobMasterId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u128::from_str_radix(s, 16).map(Self)
    }
}

/// What reaches a JobMaster.
#[derive(Debug)]
pub enum JobEvent {
    TaskState(TaskStateUpdate),
    /// Live figures of a remote task (heartbeat).
    Metrics(AttemptId, TaskMetricsSnapshot),
    /// Slots were registered or released somewhere in the cluster.
    SlotsChanged,
    /// A TaskManager is gone with its slots and tasks.
    TaskManagerLost(TaskManagerId, String),
    Cancel,
    /// This JobManager lost its leadership: cancel the tasks, end SUSPENDED.
    Suspend,
    /// A task acknowledged or declined a checkpoint.
    Checkpoint(CheckpointAck),
    /// Take a checkpoint or a savepoint now (and stop the job after a stop-with-savepoint).
    Trigger(TriggerRequest),
}

/// A task's state change as the TaskManager reports it.
#[derive(Debug, Clone)]
pub struct TaskStateUpdate {
    pub job: JobId,
    pub job_master: JobMasterId,
    pub id: ExecutionVertexId,
    pub attempt: AttemptId,
    pub state: ExecutionState,
    pub error: Option<String>,
    /// What kind of failure `error` is (FAILED updates).
    pub kind: FailureKind,
    /// Final figures (remote tasks report them with their terminal state).
    pub metrics: Option<TaskMetricsSnapshot>,
}

/// A task's answer to a checkpoint: acknowledged (its state file, if it has state) or declined.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointAck {
    pub job: JobId,
    pub job_master: JobMasterId,
    pub id: ExecutionVertexId,
    pub attempt: AttemptId,
    pub checkpoint_id: u64,
    /// The state file's name in the checkpoint directory (None: the task has no state).
    pub handle: Option<String>,
    /// Bytes of state written.
    pub size: u64,
    /// Why the task declined the checkpoint.
    pub declined: Option<String>,
    /// With `declined`: what kind of decline it is.
    pub decline_kind: DeclineKind,
}

/// A savepoint someone waits for.
#[derive(Debug)]
pub struct SavepointRequest {
    /// The directory savepoints go to (a `savepoint-<job>-<n>` directory is made in it).
    pub target: String,
    /// Stop the job once the savepoint completed.
    pub stop: bool,
    /// With `stop`: advance event time to the end first (`stop --drain`).
    pub drain: bool,
    pub reply: Sender<Result<String, TriggerError>>,
}

/// Why a checkpoint or savepoint taken on request did not complete: the JobMaster's answer to
/// whoever waits (REST reports it as the operation's failure cause).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TriggerError {
    /// Not every task runs (the job starts, restarts or ends): asking again later may work.
    #[error("the job is {status} and not all its tasks are running; try again when it runs")]
    NotRunning { status: JobStatus },
    /// A batch job takes no checkpoints.
    #[error("{what}s are taken of streaming jobs only; this job runs in batch mode")]
    BatchJob { what: &'static str },
    /// The checkpoint was aborted (expired, declined, a task failed, ...).
    #[error("the {what} failed: {reason}")]
    Aborted { what: &'static str, reason: String },
    /// The checkpoint completed but its copy into the savepoint directory failed (I/O).
    #[error("the savepoint could not be written: {0}")]
    SavepointWrite(#[source] Arc<SavepointCopyError>),
    /// The job ended before it answered.
    #[error("the job ended before the {what} completed")]
    JobEnded { what: &'static str },
}

/// A checkpoint or savepoint taken on request (outside the periodic schedule), and who waits for
/// it.
#[derive(Debug)]
pub enum TriggerRequest {
    /// One checkpoint now (Flink's `POST /jobs/:id/checkpoints`); the reply is its id. It is a
    /// checkpoint like the periodic ones (retained, subsumed, restored from).
    Checkpoint(Sender<Result<u64, TriggerError>>),
    Savepoint(SavepointRequest),
}

impl TriggerRequest {
    pub(crate) fn what(&self) -> &'static str {
        match self {
            Self::Checkpoint(_) => "checkpoint",
            Self::Savepoint(_) => "savepoint",
        }
    }

    pub(crate) fn savepoint(&self) -> Option<&SavepointRequest> {
        match self {
            Self::Savepoint(r) => Some(r),
            Self::Checkpoint(_) => None,
        }
    }

    /// Whether the job stops after it (stop-with-savepoint).
    pub(crate) fn stops(&self) -> bool {
        self.savepoint().is_some_and(|r| r.stop)
    }

    /// Answers whoever waits: checkpoint `id` completed at `location`, or the failure.
    pub(crate) fn reply(&self, outcome: Result<(u64, &str), TriggerError>) {
        match self {
            Self::Checkpoint(tx) => {
                let _ = tx.send(outcome.map(|(id, _)| id));
            }
            Self::Savepoint(r) => {
                let _ = r.reply.send(outcome.map(|(_, path)| path.to_string()));
            }
        }
    }
}

/// A savepoint request (stopping the job after it when `stop`) for the JobMaster's events.
pub fn savepoint_event(
    target: String,
    stop: bool,
    drain: bool,
    reply: Sender<Result<String, TriggerError>>,
) -> JobEvent {
    JobEvent::Trigger(TriggerRequest::Savepoint(SavepointRequest {
        target,
        stop,
        drain: stop && drain,
        reply,
    }))
}

/// A manual checkpoint request for the JobMaster's events.
pub fn checkpoint_event(reply: Sender<Result<u64, TriggerError>>) -> JobEvent {
    JobEvent::Trigger(TriggerRequest::Checkpoint(reply))
}
