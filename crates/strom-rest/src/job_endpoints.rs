//! The rest of Flink's REST endpoints: `/jobs/:id/config`, `/jobmanager/config`,
//! accumulators, watermarks, backpressure, subtask times, single subtask
//! attempts and `DELETE /cluster`.

use crate::error::{job_id, RestError};
use crate::AppState;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use strom_cluster::extra_views::{self, SubtaskLookup};
use strom_cluster::Dispatcher;
use strom_common::VertexId;

#[cfg(test)]
#[path = "job_endpoints_tests.rs"]
mod job_endpoints_tests;

type D = State<Arc<Dispatcher>>;

/// What `DELETE /cluster` pulls: `serve` returns (as on SIGTERM) once it is notified.
#[derive(Clone, Default)]
pub struct ShutdownHook(pub Arc<tokio::sync::Notify>);

impl FromRef<AppState> for ShutdownHook {
    fn from_ref(s: &AppState) -> Self {
        s.shutdown.clone()
    }
}

fn vertex_id(vid: &str) -> Result<VertexId, RestError> {
    vid.parse().map_err(|_| {
        RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request: '{vid}' is not a vertex id (32 hex digits)"),
        )
    })
}

pub(crate) fn no_vertex(id: &str, vid: &str) -> RestError {
    RestError(
        StatusCode::NOT_FOUND,
        format!("Job {id} has no vertex {vid}; see /jobs/{id} for its vertices"),
    )
}

/// The job and vertex of a path, or 400 (malformed ids) / 404 (unknown ones).
pub(crate) fn job_vertex(
    d: &Dispatcher,
    id: &str,
    vid: &str,
) -> Result<(Arc<strom_cluster::dispatcher::JobEntry>, VertexId), RestError> {
    let j = d.job(job_id(id)?)?;
    let v = vertex_id(vid)?;
    if !extra_views::has_vertex(&j, v) {
        return Err(no_vertex(id, vid));
    }
    Ok((j, v))
}

/// `GET /jobs/:id/config`.
pub async fn job_config(State(d): D, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    Ok(Json(extra_views::job_config(&d, &j)))
}

/// `GET /jobmanager/config`.
pub async fn jobmanager_config(State(d): D) -> Json<Value> {
    Json(extra_views::jobmanager_config(&d))
}

/// `GET /jobs/:id/accumulators`: SQL jobs have no user accumulators.
pub async fn job_accumulators(
    State(d): D,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    d.job(job_id(&id)?)?;
    Ok(Json(json!({
        "job-accumulators": [],
        "user-task-accumulators": [],
        "serialized-user-task-accumulators": {},
    })))
}

/// `GET /jobs/:id/vertices/:vid/accumulators`.
pub async fn vertex_accumulators(
    State(d): D,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let (_, v) = job_vertex(&d, &id, &vid)?;
    Ok(Json(
        json!({ "id": v.to_string(), "user-accumulators": [] }),
    ))
}

/// `GET /jobs/:id/vertices/:vid/watermarks`.
pub async fn watermarks(
    State(d): D,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let (j, v) = job_vertex(&d, &id, &vid)?;
    extra_views::watermarks(&j, v)
        .map(Json)
        .ok_or_else(|| no_vertex(&id, &vid))
}

/// `GET /jobs/:id/vertices/:vid/backpressure`.
pub async fn backpressure(
    State(d): D,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let (j, v) = job_vertex(&d, &id, &vid)?;
    extra_views::backpressure(&j, v)
        .map(Json)
        .ok_or_else(|| no_vertex(&id, &vid))
}

/// `GET /jobs/:id/vertices/:vid/subtasktimes`.
pub async fn subtask_times(
    State(d): D,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let (j, v) = job_vertex(&d, &id, &vid)?;
    extra_views::subtask_times(&d, &j, v)
        .map(Json)
        .ok_or_else(|| no_vertex(&id, &vid))
}

pub(crate) fn number<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, RestError> {
    s.parse().map_err(|_| {
        RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request, could not parse parameters: Cannot resolve path parameter ({what}) from value \"{s}\"; it must be a non-negative integer"),
        )
    })
}

fn attempt_of(
    d: &Dispatcher,
    id: &str,
    vid: &str,
    idx: &str,
    attempt: Option<&str>,
) -> Result<Json<Value>, RestError> {
    let (j, v) = job_vertex(d, id, vid)?;
    let subtask: usize = number("subtaskindex", idx)?;
    let attempt: Option<u32> = attempt.map(|a| number("attempt", a)).transpose()?;
    extra_views::subtask_attempt(d, &j, v, subtask, attempt)
        .map(Json)
        .map_err(|e| lookup_error(e, id, vid, subtask, attempt.unwrap_or(0)))
}

/// 404 for a subtask or attempt a vertex does not have, saying which it has.
pub(crate) fn lookup_error(
    e: SubtaskLookup,
    id: &str,
    vid: &str,
    subtask: usize,
    attempt: u32,
) -> RestError {
    let msg = match e {
        SubtaskLookup::NoVertex => return no_vertex(id, vid),
        SubtaskLookup::NoSubtask(n) => format!(
            "Vertex {vid} of job {id} has no subtask {subtask}; it has {n} (0 to {})",
            n as i64 - 1
        ),
        SubtaskLookup::NoAttempt(cur) => format!(
            "Subtask {subtask} of vertex {vid} has no attempt {attempt}; its attempts are 0 to {cur}"
        ),
    };
    RestError(StatusCode::NOT_FOUND, msg)
}

/// `GET /jobs/:id/vertices/:vid/subtasks/:idx`: the current attempt.
pub async fn subtask(
    State(d): D,
    Path((id, vid, idx)): Path<(String, String, String)>,
) -> Result<Json<Value>, RestError> {
    attempt_of(&d, &id, &vid, &idx, None)
}

/// `GET /jobs/:id/vertices/:vid/subtasks/:idx/attempts/:n`.
pub async fn subtask_attempt(
    State(d): D,
    Path((id, vid, idx, n)): Path<(String, String, String, String)>,
) -> Result<Json<Value>, RestError> {
    attempt_of(&d, &id, &vid, &idx, Some(&n))
}

/// How long `DELETE /cluster` waits for the jobs it cancels to reach a terminal state.
const SHUTDOWN_CANCEL_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `DELETE /cluster`: 202 `{}`; every job that is not terminal is canceled (so that no
/// TaskManager is left running tasks of a JobManager that is gone), and once their JobMasters
/// have ended (or after 30 s) the REST server and the process stop as on SIGTERM.
pub async fn shutdown_cluster(State(d): D, State(hook): State<ShutdownHook>) -> Response {
    let running: Vec<_> = d
        .jobs()
        .into_iter()
        .filter(|j| !j.state.lock().graph().status().is_globally_terminal())
        .map(|j| j.id)
        .collect();
    tracing::info!(
        "DELETE /cluster: canceling {} job(s), then shutting the cluster down",
        running.len()
    );
    for id in &running {
        let _ = d.cancel(*id);
    }
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_CANCEL_WAIT;
        loop {
            let left: Vec<_> = running
                .iter()
                .filter(|id| d.job(**id).is_ok_and(|j| !j.is_archived()))
                .collect();
            if left.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    "DELETE /cluster: {} job(s) not terminal after {} s; shutting down anyway",
                    left.len(),
                    SHUTDOWN_CANCEL_WAIT.as_secs()
                );
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        hook.0.notify_one();
    });
    (StatusCode::ACCEPTED, Json(json!({}))).into_response()
}
