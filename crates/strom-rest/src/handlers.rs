//! Request handlers. Errors use Flink's `{"errors": [...]}` shape with 400 or 404.

use crate::body::{json_object, Expected};
use crate::error::{job_id, RestError};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use strom_cluster::{views, Dispatcher};
use strom_common::JobStatus;
use strom_plan::JobGraph;

type D = State<Arc<Dispatcher>>;

pub async fn not_found(uri: Uri) -> RestError {
    RestError(
        StatusCode::NOT_FOUND,
        format!("Unable to load requested file {}.", uri.path()),
    )
}

/// A method the path lacks: 405, with the path's methods in the `Allow` header (set by axum).
pub async fn method_not_allowed(method: Method, uri: Uri) -> RestError {
    RestError(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "Method {method} is not allowed for {}; the Allow header lists the methods it takes (the API: GET /v1/openapi.json)",
            uri.path()
        ),
    )
}

pub async fn config(State(d): D) -> Json<Value> {
    let refresh = d
        .config
        .get_u32("web.refresh-interval", 3000)
        .unwrap_or(3000);
    Json(json!({
        "refresh-interval": refresh,
        "timezone-name": "Coordinated Universal Time",
        "timezone-offset": 0,
        "flink-version": views::version(),
        "flink-revision": "unknown",
        "features": {"web-submit": true, "web-cancel": true, "web-rescale": false, "web-history": false},
    }))
}

pub async fn overview(State(d): D) -> Json<Value> {
    Json(views::overview(&d))
}

pub async fn jobs(State(d): D) -> Json<Value> {
    Json(views::jobs(&d))
}

pub async fn jobs_overview(State(d): D) -> Json<Value> {
    Json(views::jobs_overview(&d))
}

pub async fn job_details(State(d): D, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    Ok(Json(views::job_details(&j)))
}

pub async fn job_status(State(d): D, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let s = d.status(job_id(&id)?)?;
    Ok(Json(json!({ "status": s.as_str() })))
}

pub async fn job_plan(State(d): D, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    let st = j.state.lock();
    Ok(Json(json!({ "plan": views::plan(&j, &st) })))
}

pub async fn job_exceptions(State(d): D, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    let st = j.state.lock();
    Ok(Json(views::exceptions(&d, &st)))
}

pub async fn vertex_detail(
    State(d): D,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    let vertex: strom_common::VertexId = vid.parse().map_err(|_| {
        RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request: '{vid}' is not a vertex id (32 hex digits)"),
        )
    })?;
    views::vertex_detail(&d, &j, vertex)
        .map(Json)
        .ok_or_else(|| {
            RestError(
                StatusCode::NOT_FOUND,
                format!("Job {id} has no vertex {vid}; see /jobs/{id} for its vertices"),
            )
        })
}

fn subtask_metrics_of(
    d: &Dispatcher,
    id: &str,
    vid: &str,
) -> Result<Vec<views::TaskFigures>, RestError> {
    let j = d.job(job_id(id)?)?;
    let vertex: strom_common::VertexId = vid.parse().map_err(|_| {
        RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request: '{vid}' is not a vertex id (32 hex digits)"),
        )
    })?;
    views::subtask_metrics(&j, vertex).ok_or_else(|| {
        RestError(
            StatusCode::NOT_FOUND,
            format!("Job {id} has no vertex {vid}; see /jobs/{id} for its vertices"),
        )
    })
}

/// `GET /jobs/:id/vertices/:vid/metrics[?get=0.numRecordsIn,...]`.
pub async fn vertex_metrics(
    State(d): D,
    Path((id, vid)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, RestError> {
    let m = subtask_metrics_of(&d, &id, &vid)?;
    Ok(Json(views::vertex_metrics_by_subtask(
        &m,
        q.get("get").map(String::as_str),
    )))
}

/// `GET /jobs/:id/vertices/:vid/subtasks/metrics[?get=numRecordsIn,...&agg=sum]`.
pub async fn subtasks_metrics(
    State(d): D,
    Path((id, vid)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, RestError> {
    let m = subtask_metrics_of(&d, &id, &vid)?;
    Ok(Json(views::aggregated_metrics(
        &m,
        q.get("get").map(String::as_str),
        q.get("agg").map(String::as_str),
    )))
}

pub async fn taskmanager_detail(
    State(d): D,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    views::taskmanager_detail(&d, &id).map(Json).ok_or_else(|| {
        RestError(
            StatusCode::NOT_FOUND,
            format!("TaskManager {id} is not registered; see /taskmanagers"),
        )
    })
}

pub async fn execution_result(
    State(d): D,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    let st = j.state.lock();
    let status = st.graph().status();
    if !status.is_globally_terminal() {
        return Ok(Json(json!({ "status": { "id": "IN_PROGRESS" } })));
    }
    let app_status = match status {
        JobStatus::Finished => "SUCCEEDED",
        JobStatus::Canceled => "CANCELED",
        _ => "FAILED",
    };
    let s = st
        .graph()
        .status_timestamp(JobStatus::Initializing)
        .unwrap_or(0);
    let net_runtime = st.graph().status_timestamp(status).unwrap_or(s) - s;
    let mut result = json!({
        "id": j.id.to_string(),
        "application-status": app_status,
        "accumulator-results": {},
        "net-runtime": net_runtime,
    });
    if let Some(c) = st.root_cause() {
        result["failure-cause"] = json!({ "class": "org.apache.flink.runtime.JobException", "stack-trace": c, "serialized-throwable": "" });
    }
    Ok(Json(
        json!({ "status": { "id": "COMPLETED" }, "job-execution-result": result }),
    ))
}

pub async fn job_patch(
    State(d): D,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    match q.get("mode").map(String::as_str) {
        None | Some("cancel") => {
            d.cancel(id)?;
            Ok((StatusCode::ACCEPTED, Json(json!({}))).into_response())
        }
        Some(m) => Err(RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request: unknown mode '{m}'; the only supported mode is 'cancel'"),
        )),
    }
}

pub async fn taskmanagers(State(d): D) -> Json<Value> {
    Json(views::taskmanagers(&d))
}

/// `POST /jobs` with a JobGraph as JSON: `{"jobid": "..."}` on success.
pub async fn submit(State(d): D, body: Bytes) -> Result<Response, RestError> {
    let graph: JobGraph = json_object(
        &body,
        Expected {
            what: "JobGraph",
            example: r#"{"name": "...", "vertices": [...], "edges": [...]} (the JobGraph `strom run` submits)"#,
        },
    )?;
    let d2 = d.clone();
    let id = tokio::task::spawn_blocking(move || d2.submit(graph))
        .await
        .map_err(|e| RestError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let mut body = json!({ "jobid": id.to_string(), "jobUrl": format!("/jobs/{id}") });
    // started from a savepoint: which operators get state and which start empty
    if let Ok(job) = d.job(id) {
        let st = job.state.lock();
        if let Some((_, _, path, _)) = &st.checkpoints.latest_restored {
            body["strom-restore"] = json!({
                "path": path,
                "operators": st.checkpoints.restore_report,
            });
        }
    }
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
