//! More of a job's Flink endpoints: a vertex's TaskManagers, subtask accumulators and metrics,
//! the JobManager's configuration and environment as the job sees them, and the log URLs.

use crate::error::{job_id, RestError};
use crate::job_endpoints::{job_vertex, lookup_error, no_vertex, number};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use strom_cluster::extra_views::{is_sensitive, SubtaskLookup, HIDDEN};
use strom_cluster::task_figures::TaskFigures;
use strom_cluster::{accumulator_views, vertex_taskmanagers, views, Dispatcher};

#[cfg(test)]
#[path = "job_extras_tests.rs"]
mod job_extras_tests;

type D = State<Arc<Dispatcher>>;

/// `GET /jobs/:id/vertices/:vid/taskmanagers`.
pub async fn vertex_taskmanagers(
    State(d): D,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let (j, v) = job_vertex(&d, &id, &vid)?;
    vertex_taskmanagers::vertex_taskmanagers(&d, &j, v)
        .map(Json)
        .ok_or_else(|| no_vertex(&id, &vid))
}

/// `GET /jobs/:id/vertices/:vid/subtasks/accumulators`.
pub async fn subtasks_accumulators(
    State(d): D,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let (j, v) = job_vertex(&d, &id, &vid)?;
    accumulator_views::subtasks_accumulators(&d, &j, v)
        .map(Json)
        .ok_or_else(|| no_vertex(&id, &vid))
}

/// `GET /jobs/:id/vertices/:vid/subtasks/:idx/attempts/:n/accumulators`.
pub async fn attempt_accumulators(
    State(d): D,
    Path((id, vid, idx, n)): Path<(String, String, String, String)>,
) -> Result<Json<Value>, RestError> {
    let (j, v) = job_vertex(&d, &id, &vid)?;
    let subtask: usize = number("subtaskindex", &idx)?;
    let attempt: u32 = number("attempt", &n)?;
    accumulator_views::attempt_accumulators(&j, v, subtask, attempt)
        .map(Json)
        .map_err(|e| lookup_error(e, &id, &vid, subtask, attempt))
}

/// Flink's metric list of one subtask: `[{"id"}]`, or with `get=a,b` their values as strings.
fn subtask_metric_values(m: &TaskFigures, get: Option<&str>) -> Value {
    let Some(get) = get else {
        return Value::Array(
            TaskFigures::names()
                .iter()
                .map(|n| json!({ "id": n }))
                .collect(),
        );
    };
    let values: Vec<Value> = get
        .split(',')
        .map(str::trim)
        .filter_map(|name| Some(json!({ "id": name, "value": m.get(name)?.to_string() })))
        .collect();
    Value::Array(values)
}

/// `GET /jobs/:id/vertices/:vid/subtasks/:idx/metrics[?get=numRecordsIn,...]`.
pub async fn subtask_metrics(
    State(d): D,
    Path((id, vid, idx)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, RestError> {
    let (j, v) = job_vertex(&d, &id, &vid)?;
    let subtask: usize = number("subtaskindex", &idx)?;
    let all = views::subtask_metrics(&j, v).ok_or_else(|| no_vertex(&id, &vid))?;
    let m = all
        .get(subtask)
        .ok_or_else(|| lookup_error(SubtaskLookup::NoSubtask(all.len()), &id, &vid, subtask, 0))?;
    Ok(Json(subtask_metric_values(
        m,
        q.get("get").map(String::as_str),
    )))
}

/// `GET /jobs/:id/jobmanager/config`: the cluster configuration overlaid by the job's own
/// (its SET statements), as `[{"key", "value"}]` with secrets hidden.
pub async fn job_jobmanager_config(
    State(d): D,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    let mut merged: BTreeMap<String, String> = d
        .config
        .entries()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    merged.extend(j.state.lock().plan.config.clone());
    let entries: Vec<Value> = merged
        .iter()
        .map(|(k, v)| {
            let v = if is_sensitive(k) { HIDDEN } else { v.as_str() };
            json!({ "key": k, "value": v })
        })
        .collect();
    Ok(Json(Value::Array(entries)))
}

/// `GET /jobs/:id/jobmanager/environment`: the JobManager process's environment.
pub async fn job_jobmanager_environment(
    State(d): D,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    d.job(job_id(&id)?)?;
    Ok(Json(crate::cluster_files::environment()))
}

/// This REST server's address as the client reached it (its `Host` header).
fn base_url(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', ' ']))
        .map(|h| format!("http://{h}"))
        .unwrap_or_default()
}

/// `historyserver.log.*.url-pattern` with its placeholders filled, if configured (Flink).
fn pattern_url(d: &Dispatcher, key: &str, job: &str, tm: Option<&str>) -> Option<String> {
    let p = d.config.get(key).map(str::trim).filter(|p| !p.is_empty())?;
    let url = p.replace("<jobid>", job);
    Some(match tm {
        Some(tm) => url.replace("<tmid>", tm),
        None => url,
    })
}

/// `GET /jobs/:id/jobmanager/log-url`: `{"url"}` of the JobManager's log, `/jobmanager/log`
/// of this server (or Flink's `historyserver.log.jobmanager.url-pattern`).
pub async fn job_jobmanager_log_url(
    State(d): D,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    let job = j.id.to_string();
    let url = pattern_url(&d, "historyserver.log.jobmanager.url-pattern", &job, None)
        .unwrap_or_else(|| format!("{}/jobmanager/log", base_url(&headers)));
    Ok(Json(json!({ "url": url })))
}

/// `GET /jobs/:id/taskmanagers/:tmid/log-url`: `{"url"}` of the TaskManager's log,
/// `/taskmanagers/:tmid/log` of this server (or `historyserver.log.taskmanager.url-pattern`).
pub async fn job_taskmanager_log_url(
    State(d): D,
    Path((id, tm)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    crate::cluster_files::task_manager(&d, &tm)?;
    let job = j.id.to_string();
    let url = pattern_url(
        &d,
        "historyserver.log.taskmanager.url-pattern",
        &job,
        Some(&tm),
    )
    .unwrap_or_else(|| format!("{}/taskmanagers/{tm}/log", base_url(&headers)));
    Ok(Json(json!({ "url": url })))
}
