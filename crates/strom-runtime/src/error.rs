//! Task errors.

use crate::connector::ConnectorError;

/// Why a task failed.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error("{0}")]
    Operator(String),
    #[error("expression evaluation failed in {operator}: {message}")]
    Expr { operator: String, message: String },
    #[error("the task was canceled")]
    Canceled,
    #[error("an upstream or downstream task went away: {0}")]
    Disconnected(String),
    #[error("bad task deployment: {0}")]
    Deployment(String),
}

impl From<datafusion::error::DataFusionError> for TaskError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        TaskError::Operator(e.to_string())
    }
}

impl From<datafusion::arrow::error::ArrowError> for TaskError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        TaskError::Operator(e.to_string())
    }
}
