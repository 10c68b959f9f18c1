//! Savepoints: `POST /jobs/:id/savepoints`, `POST /jobs/:id/stop` (stop with a savepoint) and
//! `GET /jobs/:id/savepoints/:triggerid` (Flink's `AsynchronousOperationResult`).

use super::checkpoints::{not_found, operation_result, trigger, trigger_id};
use crate::api::Routes;
use crate::body::{json_object_or_default, Expected};
use crate::error::{job_id, RestError};
use crate::openapi::{get, hex32, nullable, post, Body, Doc};
use crate::triggers::Outcome;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use strom_common::JobId;

/// The routes of this resource.
pub(crate) fn routes(r: Routes) -> Routes {
    r.route(
        "/jobs/{jobid}/savepoints",
        post(
            trigger_savepoint,
            Doc::new("Trigger a savepoint (202 with a request id)")
                .body(Body::json(savepoint_schema())),
        ),
    )
    .route(
        "/jobs/{jobid}/savepoints/{triggerid}",
        get(
            savepoint_status,
            Doc::new("Status of a savepoint operation"),
        ),
    )
    .route(
        "/jobs/{jobid}/stop",
        post(
            stop_with_savepoint,
            Doc::new("Stop with a savepoint ({\"targetDirectory\", \"drain\"})")
                .body(Body::json(stop_schema())),
        ),
    )
}

/// The schema of [`SavepointBody`] (an empty body is `{}`; other fields are refused: 400).
fn savepoint_schema() -> Value {
    json!({"type": "object", "additionalProperties": false, "properties": {
        "target-directory": target_schema(), "cancel-job": {"type": "boolean"},
        "triggerId": nullable(hex32()), "formatType": format_schema()}})
}

/// The schema of [`StopBody`] (an empty body is `{}`; other fields are refused: 400).
fn stop_schema() -> Value {
    json!({"type": "object", "additionalProperties": false, "properties": {
        "targetDirectory": target_schema(), "drain": {"type": "boolean"},
        "triggerId": nullable(hex32()), "formatType": format_schema()}})
}

/// A target directory: not blank ([`check_target`]).
fn target_schema() -> Value {
    json!({"type": "string", "pattern": "\\S", "nullable": true})
}

/// The savepoint format ([`check_format`]; OpenAPI 3.0: a nullable enum lists null among its
/// values).
fn format_schema() -> Value {
    json!({"type": "string", "enum": ["CANONICAL", null], "nullable": true})
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

/// The answer of `GET /jobs/:id/savepoints/:triggerid` for an outcome (None: in progress).
pub fn operation_status(outcome: Option<Outcome>) -> Value {
    operation_result(outcome, |path| json!({ "location": path }))
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
