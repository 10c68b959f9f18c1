//! Checkpoint and savepoint endpoints: `/jobs/:id/checkpoints[/config|/details/...]`,
//! `POST /jobs/:id/savepoints`, `POST /jobs/:id/stop` and `GET /jobs/:id/savepoints/:triggerid`,
//! `POST /jobs/:id/checkpoints` and `GET /jobs/:id/checkpoints/:triggerid` (a manual checkpoint).

use crate::body::{json_object_or_default, Expected};
use crate::error::{job_id, RestError};
use crate::triggers::{Outcome, Triggers};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use strom_cluster::checkpoint_views as cv;
use strom_cluster::Dispatcher;
use strom_common::{JobId, JobType, VertexId};

fn checkpoint_id(s: &str) -> Result<u64, RestError> {
    s.parse().map_err(|_| {
        RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request, could not parse parameters: Cannot resolve path parameter (checkpointid) from value \"{s}\"; a checkpoint id is a non-negative integer"),
        )
    })
}

fn vertex_id(s: &str) -> Result<VertexId, RestError> {
    s.parse().map_err(|_| {
        RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request, could not parse parameters: Cannot resolve path parameter (vertexid) from value \"{s}\"; a vertex id is 32 hexadecimal characters"),
        )
    })
}

fn trigger_id(s: &str) -> Result<String, RestError> {
    if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request, could not parse parameters: Cannot resolve path parameter (triggerid) from value \"{s}\"; a trigger id is the 32 hexadecimal characters of the \"request-id\" a savepoint, stop or checkpoint request answered"),
        ))
    }
}

fn not_found(msg: String) -> RestError {
    RestError(StatusCode::NOT_FOUND, msg)
}

fn detail_error(e: cv::DetailError, job: JobId) -> RestError {
    not_found(e.to_string().replace("<jobid>", &job.to_string()))
}

/// `GET /jobs/:id/checkpoints`.
pub async fn checkpoints(
    State(d): State<Arc<Dispatcher>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    let job = job_id(&id)?;
    let j = d.job(job)?;
    let st = j.state.lock();
    if st.graph().job_type == JobType::Batch {
        return Err(not_found(format!(
            "{} (job {job} runs in batch mode: batch jobs take no checkpoints)",
            cv::NOT_ENABLED
        )));
    }
    Ok(Json(cv::checkpointing_statistics(&st.checkpoints)))
}

/// `GET /jobs/:id/checkpoints/config`.
pub async fn checkpoint_config(
    State(d): State<Arc<Dispatcher>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    let job = job_id(&id)?;
    let j = d.job(job)?;
    let st = j.state.lock();
    cv::checkpoint_config(&st.checkpoints, st.graph().job_type)
        .map(Json)
        .ok_or_else(|| not_found(cv::config_not_enabled(&job.to_string())))
}

/// `GET /jobs/:id/checkpoints/details/:checkpointid`.
pub async fn checkpoint_details(
    State(d): State<Arc<Dispatcher>>,
    Path((id, cid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let job = job_id(&id)?;
    let cid = checkpoint_id(&cid)?;
    let j = d.job(job)?;
    let st = j.state.lock();
    if st.graph().job_type == JobType::Batch {
        return Err(not_found(cv::NOT_ENABLED.to_string()));
    }
    cv::checkpoint_details(&st.checkpoints, &cv::vertices(&st), cid)
        .map(Json)
        .map_err(|e| detail_error(e, job))
}

/// `GET /jobs/:id/checkpoints/details/:checkpointid/subtasks/:vertexid`.
pub async fn checkpoint_subtasks(
    State(d): State<Arc<Dispatcher>>,
    Path((id, cid, vid)): Path<(String, String, String)>,
) -> Result<Json<Value>, RestError> {
    let job = job_id(&id)?;
    let cid = checkpoint_id(&cid)?;
    let vertex = vertex_id(&vid)?;
    let j = d.job(job)?;
    let st = j.state.lock();
    if st.graph().job_type == JobType::Batch {
        return Err(not_found(cv::NOT_ENABLED.to_string()));
    }
    cv::task_checkpoint_details(&st.checkpoints, &cv::vertices(&st), cid, vertex)
        .map(Json)
        .map_err(|e| detail_error(e, job))
}

/// Body of `POST /jobs/:id/savepoints` (Flink's `SavepointTriggerRequestBody`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavepointBody {
    #[serde(rename = "target-directory")]
    target_directory: Option<String>,
    #[serde(rename = "cancel-job", default)]
    cancel_job: bool,
    #[serde(rename = "triggerId")]
    trigger_id: Option<String>,
    #[serde(rename = "formatType")]
    format_type: Option<String>,
}

/// Body of `POST /jobs/:id/stop` (Flink's `StopWithSavepointRequestBody`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopBody {
    #[serde(rename = "targetDirectory")]
    target_directory: Option<String>,
    #[serde(default)]
    drain: bool,
    #[serde(rename = "triggerId")]
    trigger_id: Option<String>,
    #[serde(rename = "formatType")]
    format_type: Option<String>,
}

/// Body of `POST /jobs/:id/checkpoints` (Flink's `CheckpointTriggerRequestBody`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointBody {
    #[serde(rename = "checkpointType")]
    checkpoint_type: Option<CheckpointType>,
    #[serde(rename = "triggerId")]
    trigger_id: Option<String>,
}

/// Flink's `CheckpointType` of a manual checkpoint. Strom's snapshots are always complete, so
/// the three are one: as in Flink on a backend without incremental snapshots (hashmap), where
/// INCREMENTAL takes a regular checkpoint, and that one is full.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum CheckpointType {
    #[default]
    Configured,
    Full,
    Incremental,
}

fn check_format(format: Option<&str>) -> Result<(), RestError> {
    match format {
        None | Some("CANONICAL") => Ok(()),
        Some(f) => Err(RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request: formatType \"{f}\" is not supported; Strom writes savepoints in the CANONICAL format only (leave formatType out or set it to \"CANONICAL\")"),
        )),
    }
}

fn check_target(target: &Option<String>, field: &str) -> Result<(), RestError> {
    match target {
        Some(t) if t.trim().is_empty() => Err(RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request: \"{field}\" is empty; give a directory, or leave the field out to use 'state.savepoints.dir'"),
        )),
        _ => Ok(()),
    }
}

/// Starts an operation of `job` under the given or a new trigger id (a known id is not started
/// again: Flink's idempotent triggers); `start` returns how to wait for the job's answer (None:
/// the job ended first), kept in `triggers`. Answers 202 `{"request-id": ...}`.
fn trigger<T, W>(
    d: &Dispatcher,
    triggers: &Triggers<T>,
    job: JobId,
    given: Option<String>,
    what: &str,
    start: impl FnOnce() -> Result<W, RestError>,
) -> Result<Response, RestError>
where
    T: Clone + Send + 'static,
    W: FnOnce() -> Option<Outcome<T>> + Send + 'static,
{
    let id = match given {
        Some(t) => trigger_id(&t).map_err(|_| {
            RestError(
                StatusCode::BAD_REQUEST,
                format!("Bad request: triggerId \"{t}\" is not 32 hexadecimal characters"),
            )
        })?,
        None => JobId::random().to_string(),
    };
    d.job(job)?;
    if !triggers.contains(job, &id) {
        let wait = start()?;
        let ended = format!("the job ended before the {what} completed");
        triggers
            .insert(job, id.clone(), move || wait().unwrap_or(Err(ended)))
            .map_err(|e| {
                RestError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot wait for the {what}: {e}"),
                )
            })?;
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "request-id": id }))).into_response())
}

/// A savepoint (stopping the job after it when `stop`, draining it first when `drain`).
fn trigger_savepoint_of(
    s: &AppState,
    job: JobId,
    given: Option<String>,
    target: Option<String>,
    stop: bool,
    drain: bool,
) -> Result<Response, RestError> {
    let d = &s.dispatcher;
    trigger(d, &s.triggers, job, given, "savepoint", || {
        let rx = d.savepoint(job, target, stop, drain)?;
        Ok(move || rx.recv().ok())
    })
}

/// `POST /jobs/:id/savepoints` with `{"target-directory": ..., "cancel-job": ...}`.
pub async fn trigger_savepoint(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, RestError> {
    let job = job_id(&id)?;
    let b: SavepointBody = json_object_or_default(
        &body,
        Expected {
            what: "SavepointTriggerRequestBody",
            example: r#"{"target-directory": "/path/to/savepoints", "cancel-job": false}"#,
        },
    )?;
    check_format(b.format_type.as_deref())?;
    check_target(&b.target_directory, "target-directory")?;
    trigger_savepoint_of(
        &s,
        job,
        b.trigger_id,
        b.target_directory,
        b.cancel_job,
        false,
    )
}

/// `POST /jobs/:id/stop` with `{"targetDirectory": ..., "drain": false}`.
pub async fn stop_with_savepoint(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, RestError> {
    let job = job_id(&id)?;
    let b: StopBody = json_object_or_default(
        &body,
        Expected {
            what: "StopWithSavepointRequestBody",
            example: r#"{"targetDirectory": "/path/to/savepoints", "drain": false}"#,
        },
    )?;
    check_format(b.format_type.as_deref())?;
    check_target(&b.target_directory, "targetDirectory")?;
    trigger_savepoint_of(&s, job, b.trigger_id, b.target_directory, true, b.drain)
}

/// `POST /jobs/:id/checkpoints` with `{"checkpointType": "FULL" | "INCREMENTAL" | "CONFIGURED",
/// "triggerId": ...}`: one checkpoint now, outside the periodic schedule.
pub async fn trigger_checkpoint(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, RestError> {
    let job = job_id(&id)?;
    let b: CheckpointBody = json_object_or_default(
        &body,
        Expected {
            what: "CheckpointTriggerRequestBody",
            example: r#"{"checkpointType": "FULL"} (FULL, INCREMENTAL or CONFIGURED)"#,
        },
    )?;
    let kind = b.checkpoint_type.unwrap_or_default();
    tracing::info!("manual checkpoint of job {job} ({kind:?}; Strom's checkpoints are full)");
    let d = &s.dispatcher;
    trigger(
        d,
        &s.checkpoint_triggers,
        job,
        b.trigger_id,
        "checkpoint",
        || {
            let rx = d.checkpoint(job)?;
            Ok(move || rx.recv().ok())
        },
    )
}

/// The answer of `GET /jobs/:id/savepoints/:triggerid` for an outcome (None: in progress).
pub fn operation_status(outcome: Option<Outcome>) -> Value {
    operation_result(outcome, |path| json!({ "location": path }))
}

/// Flink's `AsynchronousOperationResult`: in progress, or completed with `done(value)` (a
/// `SavepointInfo`, a `CheckpointInfo`) or a failure cause.
fn operation_result<T>(outcome: Option<Outcome<T>>, done: impl FnOnce(T) -> Value) -> Value {
    match outcome {
        None => json!({ "status": { "id": "IN_PROGRESS" } }),
        Some(Ok(v)) => json!({
            "status": { "id": "COMPLETED" },
            "operation": done(v),
        }),
        Some(Err(cause)) => json!({
            "status": { "id": "COMPLETED" },
            "operation": { "failure-cause": {
                "class": "org.apache.flink.runtime.checkpoint.CheckpointException",
                "stack-trace": cause,
                "serialized-throwable": "",
            } },
        }),
    }
}

/// `GET /jobs/:id/savepoints/:triggerid`.
pub async fn savepoint_status(
    State(s): State<AppState>,
    Path((id, tid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let job = job_id(&id)?;
    let tid = trigger_id(&tid)?;
    match s.triggers.status(job, &tid) {
        Some(outcome) => Ok(Json(operation_status(outcome))),
        None => {
            s.dispatcher.job(job)?;
            Err(not_found(format!(
                "Operation not found under key: {job}/{tid}. No savepoint or stop of job {job} has this trigger id, or its result expired ({} s after it completed)",
                crate::triggers::STORE_FOR.as_secs()
            )))
        }
    }
}

/// `GET /jobs/:id/checkpoints/:triggerid`: Flink's `CheckpointInfo` once done.
pub async fn checkpoint_status(
    State(s): State<AppState>,
    Path((id, tid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let job = job_id(&id)?;
    let tid = trigger_id(&tid)?;
    match s.checkpoint_triggers.status(job, &tid) {
        Some(outcome) => Ok(Json(operation_result(
            outcome,
            |id| json!({ "checkpointId": id }),
        ))),
        None => {
            s.dispatcher.job(job)?;
            Err(not_found(format!(
                "There is no checkpoint operation with triggerId={tid} for job {job}. (or its result expired {} s after it completed)",
                crate::triggers::STORE_FOR.as_secs()
            )))
        }
    }
}

#[cfg(test)]
#[path = "checkpoint_trigger_tests.rs"]
mod checkpoint_trigger_tests;
