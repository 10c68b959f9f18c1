//! Strom only: the rows of a job's `collect` sink (a SELECT submitted by `strom sql
//! --jobmanager`), `GET /jobs/:id/strom-results?from=N`, as Flink's SQL client fetches a
//! collected result through the JobManager. Each chunk is an Arrow IPC stream, base64 encoded;
//! asking `from=N` drops the chunks before N (the client has them). Rows of chunks before
//! `attempt-start` came from an attempt of the sink that failed: drop them.

use crate::api::Routes;
use crate::error::{job_id, RestError};
use crate::openapi::{get, Doc};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use strom_cluster::Dispatcher;

/// Bytes of rows one answer carries at most (past its first chunk); the client asks again.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// The routes of this resource.
pub(crate) fn routes(r: Routes) -> Routes {
    r.route(
        "/jobs/{jobid}/strom-results",
        get(
            job_results,
            Doc::new("Strom only: the rows of the job's SELECT, in Arrow IPC chunks from chunk `from` on")
                .query_of(
                    "from",
                    json!({"type": "integer", "format": "int64", "minimum": 0}),
                )
                .answer(json!({"type": "object", "additionalProperties": false,
                    "required": ["next", "attempt-start", "finished", "chunks"],
                    "properties": {
                        "next": {"type": "integer"},
                        "attempt-start": {"type": "integer"},
                        "finished": {"type": "boolean"},
                        "chunks": {"type": "array", "items": {"type": "object",
                            "additionalProperties": false, "required": ["seq", "data"],
                            "properties": {"seq": {"type": "integer"}, "data": {"type": "string"}}}}}})),
        ),
    )
}

pub async fn job_results(
    State(d): State<Arc<Dispatcher>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, RestError> {
    let from = match query.get("from") {
        None => 0,
        // int64 in the schema: past i64::MAX is refused like any other bad number.
        Some(s) => s
            .parse::<i64>()
            .ok()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| {
                RestError(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "Bad request: query parameter from='{s}' is not a chunk number (0 or more)"
                    ),
                )
            })?,
    };
    let j = d.job(job_id(&id)?)?;
    let f = j.results.fetch(from, MAX_ANSWER_BYTES);
    let b64 = base64::engine::general_purpose::STANDARD;
    let chunks: Vec<Value> = f
        .chunks
        .iter()
        .map(|c| json!({"seq": c.seq, "data": b64.encode(&c.data)}))
        .collect();
    Ok(Json(json!({
        "next": f.next,
        "attempt-start": f.attempt_start,
        "finished": f.finished,
        "chunks": chunks,
    })))
}
