//! How a task failure bears on the job's restarts and on its root cause (Flink's
//! `ThrowableClassifier` types, with the symptoms of a failure elsewhere told apart).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of a task failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureKind {
    /// May go away on a restart (I/O, a broker that is down, a timeout): the job restarts as its
    /// restart strategy allows.
    #[default]
    Recoverable,
    /// A peer task or the data connection to another TaskManager went away: the symptom of a
    /// failure elsewhere. Recoverable, and never the root cause when the cause itself is known.
    PeerLost,
    /// The TaskManager that ran the task is gone (its process died or stopped answering).
    TaskManagerLost,
    /// Certain to happen again on a restart (a panic, an expression that fails on the data, a
    /// task that cannot be deployed as planned): the job fails at once instead of restarting
    /// forever (Flink's `SuppressRestartsException`).
    NonRecoverable,
}

impl FailureKind {
    pub const ALL: [FailureKind; 4] = [
        Self::Recoverable,
        Self::PeerLost,
        Self::TaskManagerLost,
        Self::NonRecoverable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recoverable => "RECOVERABLE",
            Self::PeerLost => "PEER_LOST",
            Self::TaskManagerLost => "TASK_MANAGER_LOST",
            Self::NonRecoverable => "NON_RECOVERABLE",
        }
    }

    /// The kind named by [`FailureKind::as_str`]; anything else (an empty string from an older
    /// TaskManager) is recoverable.
    pub fn parse(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .unwrap_or_default()
    }

    /// Whether a failure of this kind is only the symptom of another one.
    pub fn is_symptom(self) -> bool {
        self == Self::PeerLost
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a task declined a checkpoint (Flink's `CheckpointFailureReason`s of declines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeclineKind {
    /// Taking or writing the task's snapshot failed (`CHECKPOINT_DECLINED`,
    /// `CHECKPOINT_ASYNC_EXCEPTION`): it counts against
    /// `execution.checkpointing.tolerable-failed-checkpoints`.
    #[default]
    Failed,
    /// A newer checkpoint's barrier overtook it (`CHECKPOINT_DECLINED_SUBSUMED`).
    Subsumed,
    /// The task reached the end of its input (`CHECKPOINT_DECLINED_TASK_CLOSING`).
    TaskFinished,
}

impl DeclineKind {
    pub const ALL: [DeclineKind; 3] = [Self::Failed, Self::Subsumed, Self::TaskFinished];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "FAILED",
            Self::Subsumed => "SUBSUMED",
            Self::TaskFinished => "TASK_FINISHED",
        }
    }

    /// The kind named by [`DeclineKind::as_str`]; anything else is a failure.
    pub fn parse(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_unknown_names_are_recoverable() {
        for k in FailureKind::ALL {
            assert_eq!(FailureKind::parse(k.as_str()), k);
        }
        assert_eq!(FailureKind::parse(""), FailureKind::Recoverable);
        assert_eq!(FailureKind::parse("nope"), FailureKind::Recoverable);
        for k in DeclineKind::ALL {
            assert_eq!(DeclineKind::parse(k.as_str()), k);
        }
        assert_eq!(DeclineKind::parse(""), DeclineKind::Failed);
    }
}
