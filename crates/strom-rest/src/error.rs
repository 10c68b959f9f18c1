//! The API's error answer, in Flink's shape: `{"errors": [...]}` with a 4xx or 5xx status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use strom_cluster::dispatcher::DispatcherError;
use strom_common::JobId;

/// An error answer in Flink's shape.
pub struct RestError(pub StatusCode, pub String);

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "errors": [self.1] }))).into_response()
    }
}

impl From<DispatcherError> for RestError {
    fn from(e: DispatcherError) -> Self {
        let code = match e {
            DispatcherError::JobNotFound(_) => StatusCode::NOT_FOUND,
            DispatcherError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        RestError(code, e.to_string())
    }
}

pub(crate) fn job_id(s: &str) -> Result<JobId, RestError> {
    s.parse().map_err(|_| {
        RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request, could not parse parameters: Cannot resolve path parameter (jobid) from value \"{s}\"; a job id is 32 hexadecimal characters"),
        )
    })
}
