//! Metrics: the Prometheus exposition `GET /metrics` (see [`crate::prometheus`]), Flink's metric
//! queries `/jobmanager/metrics`, `/jobs/:id/metrics` and `/taskmanagers/:id/metrics` (without
//! `get`: `[{"id"}]`; with `get=a,b`: `[{"id", "value"}]`, values as strings), the aggregating
//! `/jobs/metrics` and `/taskmanagers/metrics` (`get=...&agg=min,max,avg,sum,skew` over all jobs
//! or TaskManagers, or those named by `jobs=...` / `taskmanagers=...`), and a vertex's
//! `/vertices/:vid/metrics`, `/subtasks/metrics` and `/subtasks/:idx/metrics`.

use crate::api::Routes;
use crate::error::{job_id, RestError};
use crate::openapi::{aggregated_metrics, get, metric_list, Doc};
use crate::params::{job_vertex, lookup_error, no_vertex, number, SubtaskLookup};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use strom_cluster::cluster_metrics::{job_metrics, jobmanager_metrics, taskmanager_metrics};
use strom_cluster::task_figures::{MetricValue, TaskFigures};
use strom_cluster::Dispatcher;

type D = State<Arc<Dispatcher>>;
type Q = Query<HashMap<String, String>>;

type Named = Vec<(&'static str, MetricValue)>;
/// The routes of this resource.
pub(crate) fn routes(r: Routes) -> Routes {
    // a metric list (`?get=` picks values), or aggregated over `over` (`?agg=`, `?<over>=`)
    let list = |summary| Doc::new(summary).answer(metric_list()).query("get");
    let aggregated = |summary, over| {
        Doc::new(summary)
            .answer(aggregated_metrics())
            .query("get")
            .query("agg")
            .query(over)
    };
    r.route(
        "/metrics",
        get(
            crate::prometheus::metrics,
            Doc::new("Prometheus text exposition (Flink's PrometheusReporter names)").text(),
        ),
    )
    .route(
        "/jobmanager/metrics",
        get(
            jobmanager,
            list("JobManager metrics (list, or values with ?get=)"),
        ),
    )
    .route(
        "/jobs/metrics",
        get(
            jobs,
            aggregated(
                "Metrics aggregated over jobs (?get=, ?agg=, ?jobs=)",
                "jobs",
            ),
        ),
    )
    .route(
        "/jobs/{jobid}/metrics",
        get(job, list("Job metrics (list, or values with ?get=)")),
    )
    .route(
        "/taskmanagers/metrics",
        get(
            taskmanagers,
            aggregated(
                "Metrics aggregated over TaskManagers (?get=, ?agg=, ?taskmanagers=)",
                "taskmanagers",
            ),
        ),
    )
    .route(
        "/taskmanagers/{taskmanagerid}/metrics",
        get(
            taskmanager,
            list("TaskManager metrics (list, or values with ?get=)"),
        ),
    )
    .route(
        "/jobs/{jobid}/vertices/{vertexid}/metrics",
        get(
            vertex_metrics,
            list("Vertex metrics (list, or values with ?get=)"),
        ),
    )
    .route(
        "/jobs/{jobid}/vertices/{vertexid}/subtasks/metrics",
        get(
            subtasks_metrics,
            aggregated(
                "Subtask metrics aggregated (?get=, ?agg=, ?subtasks=)",
                "subtasks",
            ),
        ),
    )
    .route(
        "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/metrics",
        get(
            subtask_metrics,
            list("One subtask's metrics (list, or values with ?get=)"),
        ),
    )
}

const AGGREGATIONS: [&str; 5] = ["min", "max", "avg", "sum", "skew"];

/// One component's metrics in Flink's shape.
fn listing(metrics: &Named, get: Option<&str>) -> Value {
    let Some(get) = get else {
        return Value::Array(metrics.iter().map(|(n, _)| json!({ "id": n })).collect());
    };
    let out = get
        .split(',')
        .map(str::trim)
        .filter_map(|id| {
            metrics
                .iter()
                .find(|(n, _)| *n == id)
                .map(|(_, v)| json!({ "id": id, "value": v.to_string() }))
        })
        .collect();
    Value::Array(out)
}

fn aggregations(agg: Option<&str>) -> Result<Vec<&str>, RestError> {
    let Some(agg) = agg else {
        return Ok(AGGREGATIONS.to_vec());
    };
    agg.split(',')
        .map(str::trim)
        .map(|a| {
            AGGREGATIONS.iter().find(|x| **x == a).copied().ok_or_else(|| {
                RestError(
                    StatusCode::BAD_REQUEST,
                    format!("Bad request: '{a}' is not an aggregation; use min, max, avg, sum or skew"),
                )
            })
        })
        .collect()
}

/// Metrics of several components, aggregated per metric (Flink's `AggregatedMetric`).
fn aggregated(
    all: &[Named],
    names: &[&'static str],
    get: Option<&str>,
    agg: Option<&str>,
) -> Result<Value, RestError> {
    let Some(get) = get else {
        return Ok(Value::Array(
            names.iter().map(|n| json!({ "id": n })).collect(),
        ));
    };
    let aggs = aggregations(agg)?;
    let mut out = Vec::new();
    for id in get.split(',').map(str::trim) {
        let vals: Vec<f64> = all
            .iter()
            .filter_map(|m| m.iter().find(|(n, _)| *n == id).map(|(_, v)| v.as_f64()))
            .collect();
        out.extend(views::aggregated_metric(id, &vals, &aggs));
    }
    Ok(Value::Array(out))
}

/// The `?get=`/`?agg=` answer over the metrics of several components.
fn answer(
    all: &[Named],
    fallback: Named,
    q: &HashMap<String, String>,
) -> Result<Json<Value>, RestError> {
    let names = names_of(all, fallback);
    aggregated(
        all,
        &names,
        q.get("get").map(String::as_str),
        q.get("agg").map(String::as_str),
    )
    .map(Json)
}

fn names_of(all: &[Named], fallback: Named) -> Vec<&'static str> {
    all.first()
        .unwrap_or(&fallback)
        .iter()
        .map(|(n, _)| *n)
        .collect()
}

/// `GET /jobmanager/metrics[?get=...]`.
pub async fn jobmanager(State(d): D, Query(q): Q) -> Json<Value> {
    Json(listing(
        &jobmanager_metrics(&d),
        q.get("get").map(String::as_str),
    ))
}

/// `GET /jobs/:id/metrics[?get=...]`.
pub async fn job(
    State(d): D,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    Ok(Json(listing(
        &job_metrics(&j),
        q.get("get").map(String::as_str),
    )))
}

/// `GET /taskmanagers/:id/metrics[?get=...]`.
pub async fn taskmanager(
    State(d): D,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, RestError> {
    let m = taskmanager_metrics(&d, &id).ok_or_else(|| {
        RestError(
            StatusCode::NOT_FOUND,
            format!("TaskManager {id} is not registered; see /taskmanagers"),
        )
    })?;
    Ok(Json(listing(&m, q.get("get").map(String::as_str))))
}

/// `GET /jobs/metrics[?get=...&agg=...&jobs=...]`.
pub async fn jobs(State(d): D, Query(q): Q) -> Result<Json<Value>, RestError> {
    let wanted: Option<Vec<strom_common::JobId>> = q
        .get("jobs")
        .map(|s| s.split(',').map(|x| job_id(x.trim())).collect())
        .transpose()?;
    let all: Vec<Named> = d
        .jobs()
        .iter()
        .filter(|j| wanted.as_ref().is_none_or(|w| w.contains(&j.id)))
        .map(|j| job_metrics(j))
        .collect();
    answer(&all, fallback_job_names(), &q)
}

fn fallback_job_names() -> Named {
    [
        "uptime",
        "numRestarts",
        "lastCheckpointDuration",
        "lastCheckpointSize",
        "numberOfCompletedCheckpoints",
        "numberOfFailedCheckpoints",
        "numberOfInProgressCheckpoints",
        "totalNumberOfCheckpoints",
    ]
    .iter()
    .map(|n| (*n, MetricValue::Count(0)))
    .collect()
}

/// `GET /taskmanagers/metrics[?get=...&agg=...&taskmanagers=...]`.
pub async fn taskmanagers(State(d): D, Query(q): Q) -> Result<Json<Value>, RestError> {
    let ids: Vec<String> = match q.get("taskmanagers") {
        Some(s) => s.split(',').map(|x| x.trim().to_string()).collect(),
        None => {
            d.rm.task_executors()
                .iter()
                .map(|te| te.info().id.to_string())
                .collect()
        }
    };
    let mut all = Vec::new();
    for id in &ids {
        match taskmanager_metrics(&d, id) {
            Some(m) => all.push(m),
            None => {
                return Err(RestError(
                    StatusCode::NOT_FOUND,
                    format!("TaskManager {id} is not registered; see /taskmanagers"),
                ))
            }
        }
    }
    answer(&all, fallback_taskmanager_names(), &q)
}

fn fallback_taskmanager_names() -> Named {
    [
        "taskSlotsTotal",
        "taskSlotsAvailable",
        "numRunningTasks",
        "busyTimeMsPerSecond",
        "idleTimeMsPerSecond",
        "backPressuredTimeMsPerSecond",
        "ioTimeMsPerSecond",
        "cpuTimeMsPerSecond",
    ]
    .iter()
    .map(|n| (*n, MetricValue::Count(0)))
    .collect()
}

fn subtask_metrics_of(d: &Dispatcher, id: &str, vid: &str) -> Result<Vec<TaskFigures>, RestError> {
    let j = d.job(job_id(id)?)?;
    let vertex: strom_common::VertexId = vid.parse().map_err(|_| {
        RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request: '{vid}' is not a vertex id (32 hex digits)"),
        )
    })?;
    crate::api::vertices::views::subtask_metrics(&j, vertex).ok_or_else(|| {
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
    let all =
        crate::api::vertices::views::subtask_metrics(&j, v).ok_or_else(|| no_vertex(&id, &vid))?;
    let m = all
        .get(subtask)
        .ok_or_else(|| lookup_error(SubtaskLookup::NoSubtask(all.len()), &id, &vid, subtask, 0))?;
    Ok(Json(subtask_metric_values(
        m,
        q.get("get").map(String::as_str),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_are_computed_per_metric() {
        let all = vec![
            vec![("a", MetricValue::Count(2)), ("b", MetricValue::Rate(1.0))],
            vec![("a", MetricValue::Count(6)), ("b", MetricValue::Rate(3.0))],
        ];
        let v = aggregated(&all, &["a", "b"], Some("a"), None).ok().unwrap();
        let a = &v[0];
        assert_eq!(a["id"], "a");
        assert_eq!(
            (
                a["min"].as_f64(),
                a["max"].as_f64(),
                a["avg"].as_f64(),
                a["sum"].as_f64()
            ),
            (Some(2.0), Some(6.0), Some(4.0), Some(8.0))
        );
        // Flink's skew: (max - avg) / max * 100 = (6 - 4) / 6 * 100
        assert!(
            (a["skew"].as_f64().unwrap() - 100.0 / 3.0).abs() < 1e-9,
            "{a}"
        );
        assert!(aggregated(&all, &["a"], Some("a"), Some("median")).is_err());
        assert_eq!(
            listing(&all[0], Some("b,zzz")),
            json!([{"id": "b", "value": "1.0"}])
        );
        assert_eq!(listing(&all[0], None), json!([{"id": "a"}, {"id": "b"}]));
    }
}

/// The JSON answers (Flink's shapes), built from the live job state.
pub(crate) mod views {
    use serde_json::Map;
    use serde_json::{json, Value};

    use strom_cluster::task_figures::TaskFigures;

    /// `/jobs/:id/vertices/:vid/subtasks/metrics`: without `get`, the metric ids; with
    /// `get=a,b`, each metric aggregated over the subtasks (`agg` picks among min, max, avg, sum,
    /// skew; all by default), as Flink answers.
    pub fn aggregated_metrics(
        subtasks: &[TaskFigures],
        get: Option<&str>,
        agg: Option<&str>,
    ) -> Value {
        let names = TaskFigures::names();
        let Some(get) = get else {
            return Value::Array(names.iter().map(|n| json!({ "id": n })).collect());
        };
        let aggs: Vec<&str> = match agg {
            Some(a) => a.split(',').map(str::trim).collect(),
            None => vec!["min", "max", "avg", "sum", "skew"],
        };
        let mut out = Vec::new();
        for id in get.split(',').map(str::trim) {
            if !names.contains(&id) {
                continue;
            }
            let vals: Vec<f64> = subtasks
                .iter()
                .filter_map(|m| m.get(id).map(|v| v.as_f64()))
                .collect();
            out.extend(aggregated_metric(id, &vals, &aggs));
        }
        Value::Array(out)
    }

    /// Flink's `AggregatedMetric` of one metric over several components: `{"id", "min", "max",
    /// "avg", "sum", "skew"}` with the aggregations asked for (unknown names are skipped); None
    /// when no component has the metric.
    pub fn aggregated_metric(id: &str, vals: &[f64], aggs: &[&str]) -> Option<Value> {
        if vals.is_empty() {
            return None;
        }
        let sum: f64 = vals.iter().sum();
        let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let avg = sum / vals.len() as f64;
        // Flink's skew: (max - avg) / max * 100
        let skew = if max > 0.0 {
            (max - avg) / max * 100.0
        } else {
            0.0
        };
        let mut o = Map::new();
        o.insert("id".into(), json!(id));
        for a in aggs {
            let v = match *a {
                "min" => min,
                "max" => max,
                "avg" => avg,
                "sum" => sum,
                "skew" => skew,
                _ => continue,
            };
            o.insert((*a).to_string(), json!(v));
        }
        Some(Value::Object(o))
    }

    /// `/jobs/:id/vertices/:vid/metrics`: ids `<subtask>.<name>`; with `get`, their values as
    /// strings (Flink's shape).
    pub fn vertex_metrics_by_subtask(subtasks: &[TaskFigures], get: Option<&str>) -> Value {
        let Some(get) = get else {
            let mut ids = Vec::new();
            for i in 0..subtasks.len() {
                for n in TaskFigures::names() {
                    ids.push(json!({ "id": format!("{i}.{n}") }));
                }
            }
            return Value::Array(ids);
        };
        let mut out = Vec::new();
        for id in get.split(',').map(str::trim) {
            let Some((i, name)) = id.split_once('.') else {
                continue;
            };
            let Some(m) = i.parse::<usize>().ok().and_then(|i| subtasks.get(i)) else {
                continue;
            };
            if let Some(v) = m.get(name) {
                out.push(json!({ "id": id, "value": v.to_string() }));
            }
        }
        Value::Array(out)
    }
}
