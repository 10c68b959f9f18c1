//! Jobs: `GET /jobs`, `POST /jobs` (submit a job graph), `GET /jobs/overview`, `GET|PATCH
//! /jobs/:id` (details; cancel), `/jobs/:id/status`, `/plan`, `/execution-result`, `/config` and
//! `/accumulators`.

use crate::api::Routes;
use crate::body::{json_object, Expected};
use crate::error::{job_id, RestError};
use crate::openapi::{flink_schema, get, Body, Doc};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use strom_cluster::Dispatcher;
use strom_common::JobStatus;
use strom_plan::JobGraph;

type D = State<Arc<Dispatcher>>;

/// The routes of this resource.
pub(crate) fn routes(r: Routes) -> Routes {
    let job_graph = Body::json(json!({"type": "object", "required": ["name", "vertices"],
        "properties": {"name": {"type": "string"}, "vertices": {"type": "array"}}}));
    r.route(
        "/jobs",
        get(
            jobs,
            Doc::new("Job ids and states").flink(flink_schema!("jobs")),
        )
        .post(
            submit,
            Doc::new("Submit a JobGraph as JSON").body(job_graph.required()),
        ),
    )
    .route(
        "/jobs/overview",
        get(
            jobs_overview,
            Doc::new("Every job with its counts and times").flink(flink_schema!("jobs_overview")),
        ),
    )
    .route(
        "/jobs/{jobid}",
        get(
            job_details,
            Doc::new("A job: vertices, states, timestamps")
                .flink(flink_schema!("job_detail_running")),
        )
        .patch(
            job_patch,
            Doc::new("Cancel a job (?mode=cancel)")
                .query_of("mode", json!({"type": "string", "enum": ["cancel"]})),
        ),
    )
    .route(
        "/jobs/{jobid}/status",
        get(
            job_status,
            Doc::new("A job's status").flink(flink_schema!("job_status_running")),
        ),
    )
    .route(
        "/jobs/{jobid}/plan",
        get(
            job_plan,
            Doc::new("A job's plan (vertices and edges with ship strategies)")
                .flink(flink_schema!("job_plan")),
        ),
    )
    .route(
        "/jobs/{jobid}/execution-result",
        get(execution_result, Doc::new("The result of a finished job")),
    )
    .route(
        "/jobs/{jobid}/config",
        get(
            job_config,
            Doc::new("A job's execution configuration").flink(flink_schema!("job_config")),
        ),
    )
    .route(
        "/jobs/{jobid}/accumulators",
        get(job_accumulators, Doc::new("A job's accumulators")),
    )
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
    let st = j.snapshot();
    Ok(Json(json!({ "plan": views::plan(&j, &st) })))
}

pub async fn execution_result(
    State(d): D,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    let st = j.snapshot();
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
        let st = job.snapshot();
        if let Some((_, _, path, _)) = &st.checkpoints.latest_restored {
            body["strom-restore"] = json!({
                "path": path,
                "operators": st.checkpoints.restore_report,
            });
        }
    }
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// `GET /jobs/:id/config`.
pub async fn job_config(State(d): D, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    Ok(Json(views::job_config(&d, &j)))
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

/// The JSON answers (Flink's shapes), built from the live job state.
pub(crate) mod views {
    use crate::api::jobmanager::views::{is_sensitive, HIDDEN};
    use crate::api::vertices::views::{time_split, vertex_figures, vertex_metrics};
    use serde_json::Map;
    use serde_json::{json, Value};
    use strom_cluster::dispatcher::{Dispatcher, JobEntry};
    use strom_cluster::job_master::JobSnapshot;
    use strom_common::time::now_millis;
    use strom_common::{ExecutionState, JobStatus};
    use strom_runtime::TaskMetricsSnapshot;

    fn task_counts_lower(st: &JobSnapshot) -> Value {
        let mut m = Map::new();
        let counts = st.graph().task_counts();
        for s in ExecutionState::ALL {
            m.insert(
                s.as_str().to_ascii_lowercase(),
                json!(counts.get(&s).copied().unwrap_or(0)),
            );
        }
        m.insert("reconciling".into(), json!(0));
        m.insert("total".into(), json!(counts.values().sum::<usize>()));
        Value::Object(m)
    }

    fn state_counts_upper(counts: impl Fn(ExecutionState) -> usize) -> Value {
        let mut m = Map::new();
        for s in ExecutionState::ALL {
            m.insert(s.as_str().to_string(), json!(counts(s)));
        }
        m.insert("RECONCILING".into(), json!(0));
        Value::Object(m)
    }

    fn times(st: &JobSnapshot) -> (i64, i64, i64, i64) {
        let g = &st.graph();
        let start = g.status_timestamp(JobStatus::Initializing).unwrap_or(0);
        let status = g.status();
        let end = if status.is_globally_terminal() {
            g.status_timestamp(status).unwrap_or(-1)
        } else {
            -1
        };
        let duration = if end >= 0 {
            end - start
        } else {
            now_millis() - start
        };
        let last = JobStatus::ALL
            .iter()
            .filter_map(|s| g.status_timestamp(*s))
            .max()
            .unwrap_or(start);
        (start, end, duration, last)
    }

    pub fn jobs(d: &Dispatcher) -> Value {
        let jobs: Vec<Value> = d
        .jobs()
        .iter()
        .map(
            |j| json!({"id": j.id.to_string(), "status": j.snapshot().graph().status().as_str()}),
        )
        .collect();
        json!({ "jobs": jobs })
    }

    pub fn job_overview(j: &JobEntry) -> Value {
        let st = j.snapshot();
        let (start, end, duration, last) = times(&st);
        json!({
            "jid": j.id.to_string(),
            "name": j.name,
            "jobType": st.graph().job_type.as_str(),
            "schedulerType": "Default",
            "start-time": start,
            "end-time": end,
            "duration": duration,
            "state": st.graph().status().as_str(),
            "last-modification": last,
            "tasks": task_counts_lower(&st),
            "pending-operators": 0,
        })
    }

    pub fn jobs_overview(d: &Dispatcher) -> Value {
        json!({ "jobs": d.jobs().iter().map(|j| job_overview(j)).collect::<Vec<_>>() })
    }

    pub fn plan(j: &JobEntry, st: &JobSnapshot) -> Value {
        let g = &st.graph();
        let nodes: Vec<Value> = g
            .vertices
            .iter()
            .map(|v| {
                let inputs: Vec<Value> = g
                    .edges
                    .iter()
                    .filter(|e| e.target == v.vertex.id)
                    .enumerate()
                    .map(|(n, e)| {
                        json!({
                            "id": e.source.to_string(),
                            "num": n,
                            "exchange": match e.result_type {
                                strom_plan::ResultType::Pipelined => "pipelined_bounded",
                                strom_plan::ResultType::Blocking => "blocking",
                            },
                            "ship_strategy": e.ship_strategy.name(),
                        })
                    })
                    .collect();
                let description: Vec<String> =
                    v.vertex.operators.iter().map(|o| o.description()).collect();
                let mut node = json!({
                    "id": v.vertex.id.to_string(),
                    "operator": "",
                    "parallelism": v.vertex.parallelism,
                    "operator_strategy": "",
                    "description": description.join("<br/>+- "),
                    "optimizer_properties": {},
                });
                if !inputs.is_empty() {
                    node["inputs"] = json!(inputs);
                }
                node
            })
            .collect();
        json!({ "jid": j.id.to_string(), "name": j.name, "type": g.job_type.as_str(), "nodes": nodes })
    }

    pub fn job_details(j: &JobEntry) -> Value {
        let st = j.snapshot();
        let (start, end, duration, _) = times(&st);
        let g = &st.graph();
        let mut timestamps = Map::new();
        for s in JobStatus::ALL {
            timestamps.insert(
                s.as_str().to_string(),
                json!(g.status_timestamp(s).unwrap_or(0)),
            );
        }
        let mut status_counts = std::collections::BTreeMap::new();
        let vertices: Vec<Value> = g
        .vertices
        .iter()
        .map(|v| {
            let mut m = TaskMetricsSnapshot::default();
            let mut counts = std::collections::BTreeMap::new();
            let mut vstart = i64::MAX;
            let mut vend = -1i64;
            for ev in &v.subtasks {
                let e = &ev.current;
                m += st.metrics_of(e.attempt_id);
                *counts.entry(e.state).or_insert(0usize) += 1;
                if let Some(t) = e.state_timestamps.get(&ExecutionState::Deploying) {
                    vstart = vstart.min(*t);
                }
                if e.state.is_terminal() {
                    vend = vend.max(e.state_timestamps.get(&e.state).copied().unwrap_or(-1));
                } else {
                    vend = i64::MAX;
                }
            }
            let vstart = if vstart == i64::MAX { -1 } else { vstart };
            let vend = if vend == i64::MAX { -1 } else { vend };
            let vstatus = v.aggregate_state();
            *status_counts.entry(vstatus).or_insert(0usize) += 1;
            let source = matches!(v.vertex.operators.first(), Some(strom_plan::OperatorSpec::Source(_)));
            let sink = matches!(v.vertex.operators.last(), Some(strom_plan::OperatorSpec::Sink(_)));
            json!({
                "id": v.vertex.id.to_string(),
                "slotSharingGroupId": strom_common::VertexId::derive(v.vertex.slot_sharing_group.as_bytes()).to_string(),
                "name": v.vertex.name,
                "maxParallelism": v.vertex.max_parallelism,
                "parallelism": v.vertex.parallelism,
                "status": vstatus.as_str(),
                "start-time": vstart,
                "end-time": vend,
                "duration": if vstart < 0 { -1 } else if vend < 0 { now_millis() - vstart } else { vend - vstart },
                "tasks": state_counts_upper(|s| counts.get(&s).copied().unwrap_or(0)),
                "metrics": vertex_metrics(&m, source, sink),
                "strom-time": time_split(&vertex_figures(&st, v), v.subtasks.len()),
            })
        })
        .collect();
        let mut detail = json!({
            "jid": j.id.to_string(),
            "application-id": j.id.to_string(),
            "name": j.name,
            "isStoppable": false,
            "state": g.status().as_str(),
            "job-type": g.job_type.as_str(),
            "schedulerType": "Default",
            "start-time": start,
            "end-time": end,
            "duration": duration,
            "maxParallelism": -1,
            "now": now_millis(),
            "timestamps": timestamps,
            "vertices": vertices,
            "status-counts": state_counts_upper(|s| status_counts.get(&s).copied().unwrap_or(0)),
            "plan": plan(j, &st),
            // Flink 2's operators not yet in the job graph (adaptive graph generation); Strom
            // plans the whole graph at submission
            "pending-operators": 0,
        });
        let (rin, rout) = job_totals(&st);
        detail["strom-records"] = json!({"in": rin, "out": rout});
        if let Some(c) = st.root_cause() {
            detail["strom-root-cause"] = json!(c);
        }
        if let Some(w) = st.waiting_for_slots() {
            detail["strom-waiting-for-slots"] = json!(w);
        }
        detail
    }

    /// Per-job summary a client prints at the end: records in/out of sources and sinks.
    pub fn job_totals(st: &JobSnapshot) -> (u64, u64) {
        let mut read = 0;
        let mut written = 0;
        for v in &st.graph().vertices {
            // a batch stage that reads tables counts their rows as its input
            let source = match v.vertex.operators.first() {
                Some(strom_plan::OperatorSpec::Source(_)) => true,
                Some(strom_plan::OperatorSpec::Stage(s)) => !s.tables.is_empty(),
                _ => false,
            };
            let sink = matches!(
                v.vertex.operators.last(),
                Some(strom_plan::OperatorSpec::Sink(_))
            );
            for ev in &v.subtasks {
                let m = st.metrics_of(ev.current.attempt_id);
                if source {
                    read += m.records_in;
                }
                if sink {
                    written += m.records_out;
                }
            }
        }
        (read, written)
    }

    /// `/jobs/:id/config`: the job's execution config, from the cluster configuration overlaid by
    /// the job's own (its SET statements and the request's parallelism).
    pub fn job_config(d: &Dispatcher, j: &JobEntry) -> Value {
        let st = j.snapshot();
        let job_conf = &st.plan.config;
        let get = |k: &str| {
            job_conf
                .get(k)
                .map(String::as_str)
                .or_else(|| d.config.get(k))
        };
        let parallelism = get("parallelism.default")
            .and_then(|p| p.trim().parse::<i64>().ok())
            .unwrap_or_else(|| {
                st.plan
                    .vertices
                    .iter()
                    .map(|v| v.parallelism as i64)
                    .max()
                    .unwrap_or(1)
            });
        let object_reuse = get("pipeline.object-reuse")
            .map(|v| v.trim().eq_ignore_ascii_case("true"))
            .unwrap_or(false);
        // pipeline.global-job-parameters: "k1:v1,k2:v2", Flink's map syntax
        let mut user = Map::new();
        if let Some(p) = get("pipeline.global-job-parameters") {
            for kv in p.split(',') {
                if let Some((k, v)) = kv.split_once(':') {
                    let (k, v) = (k.trim(), v.trim());
                    let v = if is_sensitive(k) { HIDDEN } else { v };
                    user.insert(k.to_string(), json!(v));
                }
            }
        }
        json!({
            "jid": j.id.to_string(),
            "name": j.name,
            "execution-config": {
                "restart-strategy": st.restart_strategy(),
                "job-parallelism": parallelism,
                "object-reuse-mode": object_reuse,
                "user-config": user,
            },
        })
    }
}
