//! Flink's task (execution) states and job states, with their legal transitions.

use serde::{Deserialize, Serialize};
use std::fmt;

/// State of one execution attempt of a subtask (Flink's `ExecutionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionState {
    Created,
    Scheduled,
    Deploying,
    Initializing,
    Running,
    Finished,
    Canceling,
    Canceled,
    Failed,
}

impl ExecutionState {
    /// All states, in Flink's order.
    pub const ALL: [ExecutionState; 9] = [
        Self::Created,
        Self::Scheduled,
        Self::Deploying,
        Self::Initializing,
        Self::Running,
        Self::Finished,
        Self::Canceling,
        Self::Canceled,
        Self::Failed,
    ];

    /// FINISHED, CANCELED and FAILED are terminal.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Finished | Self::Canceled | Self::Failed)
    }

    /// Whether Flink allows the transition `self -> to`.
    pub fn can_transition_to(self, to: ExecutionState) -> bool {
        use ExecutionState::*;
        if self.is_terminal() {
            return false;
        }
        match (self, to) {
            (_, Failed) => true,
            (Created, Scheduled) | (Created, Canceled) => true,
            (Scheduled, Deploying) | (Scheduled, Canceled) | (Scheduled, Canceling) => true,
            (Deploying, Initializing) | (Deploying, Running) | (Deploying, Canceling) => true,
            (Initializing, Running) | (Initializing, Finished) | (Initializing, Canceling) => true,
            (Running, Finished) | (Running, Canceling) => true,
            (Canceling, Canceled) => true,
            // a task may finish or be canceled before CANCELING reaches it
            (Deploying, Finished) | (Deploying, Canceled) => true,
            (Initializing, Canceled) | (Running, Canceled) => true,
            _ => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        use ExecutionState::*;
        match self {
            Created => "CREATED",
            Scheduled => "SCHEDULED",
            Deploying => "DEPLOYING",
            Initializing => "INITIALIZING",
            Running => "RUNNING",
            Finished => "FINISHED",
            Canceling => "CANCELING",
            Canceled => "CANCELED",
            Failed => "FAILED",
        }
    }
}

impl fmt::Display for ExecutionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// State of a job (Flink's `JobStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Initializing,
    Created,
    Running,
    Failing,
    Failed,
    Cancelling,
    Canceled,
    Finished,
    Restarting,
    Suspended,
    Reconciling,
}

impl JobStatus {
    pub const ALL: [JobStatus; 11] = [
        Self::Initializing,
        Self::Created,
        Self::Running,
        Self::Failing,
        Self::Failed,
        Self::Cancelling,
        Self::Canceled,
        Self::Finished,
        Self::Restarting,
        Self::Suspended,
        Self::Reconciling,
    ];

    /// FINISHED, CANCELED and FAILED are globally terminal; SUSPENDED only locally.
    pub fn is_globally_terminal(self) -> bool {
        matches!(self, Self::Finished | Self::Canceled | Self::Failed)
    }

    /// Whether Flink allows the transition `self -> to`.
    pub fn can_transition_to(self, to: JobStatus) -> bool {
        use JobStatus::*;
        if self.is_globally_terminal() {
            return false;
        }
        matches!(
            (self, to),
            (Initializing, Created)
                | (Initializing, Failed)
                | (Created, Running)
                | (Created, Cancelling)
                | (Created, Failed)
                | (Created, Suspended)
                | (Running, Finished)
                | (Running, Failing)
                | (Running, Cancelling)
                | (Running, Restarting)
                | (Running, Suspended)
                | (Failing, Failed)
                | (Failing, Restarting)
                | (Failing, Cancelling)
                | (Failing, Suspended)
                | (Restarting, Running)
                | (Restarting, Created)
                | (Restarting, Cancelling)
                | (Restarting, Failed)
                | (Restarting, Suspended)
                | (Cancelling, Canceled)
                | (Cancelling, Failed)
                | (Cancelling, Suspended)
        )
    }

    pub fn as_str(self) -> &'static str {
        use JobStatus::*;
        match self {
            Initializing => "INITIALIZING",
            Created => "CREATED",
            Running => "RUNNING",
            Failing => "FAILING",
            Failed => "FAILED",
            Cancelling => "CANCELLING",
            Canceled => "CANCELED",
            Finished => "FINISHED",
            Restarting => "RESTARTING",
            Suspended => "SUSPENDED",
            Reconciling => "RECONCILING",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Streaming or batch execution (`execution.runtime-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobType {
    #[default]
    Streaming,
    Batch,
}

impl JobType {
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Streaming => "STREAMING",
            JobType::Batch => "BATCH",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_have_no_exit() {
        for from in ExecutionState::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in ExecutionState::ALL {
                assert!(!from.can_transition_to(to), "{from} -> {to}");
            }
        }
        for from in JobStatus::ALL
            .into_iter()
            .filter(|s| s.is_globally_terminal())
        {
            for to in JobStatus::ALL {
                assert!(!from.can_transition_to(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn happy_paths() {
        use ExecutionState::*;
        let path = [
            Created,
            Scheduled,
            Deploying,
            Initializing,
            Running,
            Finished,
        ];
        for w in path.windows(2) {
            assert!(w[0].can_transition_to(w[1]), "{} -> {}", w[0], w[1]);
        }
        assert!(!Created.can_transition_to(Running));
        assert!(JobStatus::Created.can_transition_to(JobStatus::Running));
        assert!(!JobStatus::Created.can_transition_to(JobStatus::Finished));
        assert_eq!(
            serde_json::to_string(&Initializing).unwrap(),
            "\"INITIALIZING\""
        );
    }
}
