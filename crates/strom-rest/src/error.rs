//! The API's error answer, in Flink's shape: `{"errors": [...]}` with a 4xx or 5xx status.

use axum::http::{Method, StatusCode, Uri};
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

/// Any path the API lacks: 404.
pub(crate) async fn not_found(uri: Uri) -> RestError {
    RestError(
        StatusCode::NOT_FOUND,
        format!("Unable to load requested file {}.", uri.path()),
    )
}

/// A method the path lacks: 405, with the path's methods in the `Allow` header (set by axum).
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> RestError {
    RestError(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "Method {method} is not allowed for {}; the Allow header lists the methods it takes (the API: GET /v1/openapi.json)",
            uri.path()
        ),
    )
}
