//! Flink's metric query endpoints: `/jobmanager/metrics`, `/jobs/:id/metrics` and
//! `/taskmanagers/:id/metrics` (without `get`: `[{"id"}]`; with `get=a,b`: `[{"id", "value"}]`,
//! values as strings), and the aggregating `/jobs/metrics` and `/taskmanagers/metrics`
//! (`get=...&agg=min,max,avg,sum,skew` over all jobs or TaskManagers, or those named by
//! `jobs=...` / `taskmanagers=...`).

use crate::error::{job_id, RestError};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use strom_cluster::cluster_metrics::{job_metrics, jobmanager_metrics, taskmanager_metrics};
use strom_cluster::task_figures::MetricValue;
use strom_cluster::views;
use strom_cluster::Dispatcher;

type D = State<Arc<Dispatcher>>;
type Q = Query<HashMap<String, String>>;
type Named = Vec<(&'static str, MetricValue)>;

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
