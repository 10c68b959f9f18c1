//! Task errors.

use crate::connector::ConnectorError;
use strom_common::FailureKind;

/// Why a task failed.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error("{0}")]
    Operator(String),
    #[error("expression evaluation failed in {operator}: {message}")]
    Expr { operator: String, message: String },
    /// An operator (or source) panicked: a bug, caught so that the task fails cleanly.
    #[error("{operator} failed with an internal error (a panic): {message}")]
    Panic { operator: String, message: String },
    #[error("the task was canceled")]
    Canceled,
    #[error("an upstream or downstream task went away: {0}")]
    Disconnected(String),
    #[error("bad task deployment: {0}")]
    Deployment(String),
    /// The state the task resumes from cannot be loaded (the cause names the file).
    #[error("bad task deployment: {0}")]
    Restore(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl TaskError {
    /// Whether a restart can help: errors in the data or the plan (an expression that fails on
    /// a row, a line that cannot be parsed, a task that cannot be deployed as planned) and
    /// panics happen again on every attempt; a lost peer is the symptom of a failure elsewhere.
    pub fn kind(&self) -> FailureKind {
        match self {
            TaskError::Expr { .. }
            | TaskError::Panic { .. }
            | TaskError::Deployment(_)
            | TaskError::Restore(_) => FailureKind::NonRecoverable,
            TaskError::Connector(
                ConnectorError::Parse(_)
                | ConnectorError::UnknownConnector { .. }
                | ConnectorError::BadOption { .. },
            ) => FailureKind::NonRecoverable,
            TaskError::Disconnected(_) => FailureKind::PeerLost,
            TaskError::Connector(_) | TaskError::Operator(_) | TaskError::Canceled => {
                FailureKind::Recoverable
            }
        }
    }
}

/// The message of a caught panic's payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs `f`, turning a panic in it into [`TaskError::Panic`] naming `operator` (called only
/// when it panicked).
pub fn catch_panic<T>(
    operator: impl FnOnce() -> String,
    f: impl FnOnce() -> Result<T, TaskError>,
) -> Result<T, TaskError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(TaskError::Panic {
            operator: operator(),
            message: panic_message(payload.as_ref()),
        }),
    }
}

impl From<datafusion::error::DataFusionError> for TaskError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        TaskError::Operator(e.to_string())
    }
}

impl From<strom_plan::aggregates::AggError> for TaskError {
    fn from(e: strom_plan::aggregates::AggError) -> Self {
        TaskError::Operator(e.to_string())
    }
}

impl From<datafusion::arrow::error::ArrowError> for TaskError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        TaskError::Operator(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_that_repeat_on_every_attempt_are_not_recoverable() {
        let expr = TaskError::Expr {
            operator: "Calc".into(),
            message: "Cast error: Cannot cast string 'x' to value of Int32 type".into(),
        };
        assert_eq!(expr.kind(), FailureKind::NonRecoverable);
        assert_eq!(
            TaskError::Deployment("cannot compile expression".into()).kind(),
            FailureKind::NonRecoverable
        );
        assert_eq!(
            TaskError::Connector(ConnectorError::Parse("line 3: bad field".into())).kind(),
            FailureKind::NonRecoverable
        );
        assert_eq!(
            TaskError::Disconnected("the consumer task ended".into()).kind(),
            FailureKind::PeerLost
        );
        assert_eq!(
            TaskError::Connector(ConnectorError::Io("disk full".into())).kind(),
            FailureKind::Recoverable
        );
    }

    #[test]
    fn a_panic_becomes_an_error_naming_the_operator() {
        let r: Result<(), TaskError> = catch_panic(
            || "operator 'Join'".into(),
            || {
                let v: Vec<u32> = Vec::new();
                let i = v.len() + 2;
                let _ = v[i];
                Ok(())
            },
        );
        let e = r.unwrap_err();
        assert_eq!(e.kind(), FailureKind::NonRecoverable);
        let m = e.to_string();
        assert!(
            m.starts_with(
                "operator 'Join' failed with an internal error (a panic): index out of bounds"
            ),
            "{m}"
        );
        // no panic: the result passes through, and the name is not asked for
        let ok: Result<u8, TaskError> = catch_panic(|| unreachable!(), || Ok(7));
        assert_eq!(ok.unwrap(), 7);
    }
}
