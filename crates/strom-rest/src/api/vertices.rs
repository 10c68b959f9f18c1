//! A job's vertices: `GET /jobs/:id/vertices/:vid` (its subtasks with attempt, state, location
//! and statistics), `/accumulators`, `/watermarks`, `/backpressure`, `/subtasktimes` and
//! `/taskmanagers` (the subtasks grouped by TaskManager, Flink's `JobVertexTaskManagersInfo`).

use crate::api::Routes;
use crate::error::{job_id, RestError};
use crate::openapi::{flink_schema, get, metric_list, Doc};
use crate::params::{job_vertex, no_vertex, vertex_answer, vertex_id};
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use strom_cluster::Dispatcher;

type D = State<Arc<Dispatcher>>;

/// The routes of this resource.
pub(crate) fn routes(r: Routes) -> Routes {
    r.route(
        "/jobs/{jobid}/vertices/{vertexid}",
        get(
            vertex_detail,
            Doc::new("A vertex and its subtasks (attempts, TaskManagers, time split)")
                .flink(flink_schema!("vertex_detail")),
        ),
    )
    .route(
        "/jobs/{jobid}/vertices/{vertexid}/accumulators",
        get(vertex_accumulators, Doc::new("A vertex's accumulators")),
    )
    .route(
        "/jobs/{jobid}/vertices/{vertexid}/watermarks",
        get(
            watermarks,
            Doc::new("Input watermark of each subtask (Flink's metric list: <subtask>.currentInputWatermark)")
                .answer(metric_list()),
        ),
    )
    .route(
        "/jobs/{jobid}/vertices/{vertexid}/backpressure",
        get(
            backpressure,
            Doc::new("Backpressure level and ratios per subtask"),
        ),
    )
    .route(
        "/jobs/{jobid}/vertices/{vertexid}/subtasktimes",
        get(subtask_times, Doc::new("State timestamps of each subtask")),
    )
    .route(
        "/jobs/{jobid}/vertices/{vertexid}/taskmanagers",
        get(
            vertex_taskmanagers,
            Doc::new("A vertex's subtasks grouped by TaskManager (IO figures, state counts, statistics)"),
        ),
    )
}

/// `GET /jobs/:id/vertices/:vid`.
pub async fn vertex_detail(
    State(d): D,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    let vertex = vertex_id(&vid)?;
    views::vertex_detail(&d, &j, vertex)
        .map(Json)
        .ok_or_else(|| no_vertex(&id, &vid))
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
    vertex_answer(&d, &id, &vid, views::watermarks)
}

/// `GET /jobs/:id/vertices/:vid/backpressure`.
pub async fn backpressure(
    State(d): D,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    vertex_answer(&d, &id, &vid, views::backpressure)
}

/// `GET /jobs/:id/vertices/:vid/subtasktimes`.
pub async fn subtask_times(
    State(d): D,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    vertex_answer(&d, &id, &vid, |j, v| views::subtask_times(&d, j, v))
}

/// `GET /jobs/:id/vertices/:vid/taskmanagers`.
pub async fn vertex_taskmanagers(
    State(d): D,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    vertex_answer(&d, &id, &vid, |j, v| views::vertex_taskmanagers(&d, j, v))
}

/// The JSON answers (Flink's shapes), built from the live job state.
pub(crate) mod views {
    use crate::json_stats::{aggregated, figure, IO_FIGURES};
    use serde_json::Map;
    use serde_json::{json, Value};
    use std::collections::BTreeMap;
    use strom_cluster::dispatcher::{Dispatcher, JobEntry};
    use strom_cluster::job_master::JobSnapshot;
    use strom_cluster::task_figures::TaskFigures;
    use strom_common::time::now_millis;
    use strom_common::{ExecutionState, VertexId};
    use strom_runtime::TaskMetricsSnapshot;

    /// The seed's time split of a task (or a vertex: totals summed, per-second figures averaged
    /// over `n` subtasks): busy = CPU + I/O; idle and backpressured are the network wait.
    pub(crate) fn time_split(f: &TaskFigures, n: usize) -> Value {
        let (t, r) = (&f.totals, &f.rates);
        let n = n.max(1) as f64;
        json!({
            "busy-ms": t.busy_ms,
            "cpu-ms": t.cpu_ms,
            "io-ms": t.io_ms,
            "idle-ms": t.idle_ms,
            "backpressured-ms": t.backpressured_ms,
            "busyTimeMsPerSecond": r.busy / n,
            "cpuTimeMsPerSecond": r.cpu / n,
            "ioTimeMsPerSecond": r.io / n,
            "idleTimeMsPerSecond": r.idle / n,
            "backPressuredTimeMsPerSecond": r.backpressured / n,
            "numRecordsInPerSecond": r.records_in,
            "numRecordsOutPerSecond": r.records_out,
        })
    }

    /// The figures of a vertex's current attempts, summed.
    pub(crate) fn vertex_figures(
        st: &JobSnapshot,
        v: &strom_scheduler::execution_graph::ExecutionJobVertex,
    ) -> TaskFigures {
        let mut f = TaskFigures::default();
        for ev in &v.subtasks {
            let x = st.figures_of(ev.current.attempt_id, ev.current.state);
            f.totals += x.totals;
            f.rates.add(&x.rates);
        }
        f
    }

    pub(crate) fn vertex_metrics(m: &TaskMetricsSnapshot, source: bool, sink: bool) -> Value {
        json!({
            "read-bytes": if source { 0 } else { m.bytes_in },
            "read-bytes-complete": true,
            "write-bytes": if sink { 0 } else { m.bytes_out },
            "write-bytes-complete": true,
            "read-records": if source { 0 } else { m.records_in },
            "read-records-complete": true,
            "write-records": if sink { 0 } else { m.records_out },
            "write-records-complete": true,
            "accumulated-backpressured-time": m.backpressured_ms,
            "accumulated-idle-time": m.idle_ms,
            "accumulated-busy-time": m.busy_ms as f64,
        })
    }

    /// (start, end, duration) of an attempt: from DEPLOYING to its terminal state (or now); -1
    /// where it has not got there.
    pub(crate) fn span(
        e: &strom_scheduler::execution_graph::Execution,
        now: i64,
    ) -> (i64, i64, i64) {
        let start = e
            .state_timestamps
            .get(&ExecutionState::Deploying)
            .copied()
            .unwrap_or(-1);
        let end = if e.state.is_terminal() {
            e.state_timestamps.get(&e.state).copied().unwrap_or(-1)
        } else {
            -1
        };
        let duration = match (start, end) {
            (s, _) if s < 0 => -1,
            (s, e) if e < 0 => now - s,
            (s, e) => e - s,
        };
        (start, end, duration)
    }

    /// Where a task runs: (TaskManager id, its address) as Flink shows them.
    pub(crate) fn location(
        d: &Dispatcher,
        slot: Option<&strom_scheduler::slot_pool::SlotId>,
    ) -> (Value, Value) {
        let Some(slot) = slot else {
            return (Value::Null, Value::Null);
        };
        let endpoint =
            d.rm.task_executor(&slot.task_manager)
                .map(|te| {
                    let i = te.info();
                    if i.rpc_address.is_empty() {
                        "localhost".to_string()
                    } else {
                        i.rpc_address.clone()
                    }
                })
                .unwrap_or_else(|| "(lost)".into());
        (json!(slot.task_manager.to_string()), json!(endpoint))
    }

    /// `/jobs/:id/vertices/:vid`: the subtasks of a vertex, with attempt, state and location.
    pub fn vertex_detail(
        d: &Dispatcher,
        j: &JobEntry,
        vertex: strom_common::VertexId,
    ) -> Option<Value> {
        let st = j.snapshot();
        let v = st.graph().job_vertex(vertex)?;
        let source = matches!(
            v.vertex.operators.first(),
            Some(strom_plan::OperatorSpec::Source(_))
        );
        let sink = matches!(
            v.vertex.operators.last(),
            Some(strom_plan::OperatorSpec::Sink(_))
        );
        let now = now_millis();
        let subtasks: Vec<Value> = v
            .subtasks
            .iter()
            .map(|ev| {
                let e = &ev.current;
                let (start, end, duration) = span(e, now);
                let (tm, endpoint) = location(d, e.slot.as_ref());
                let mut durations = Map::new();
                let mut entered: Vec<(&ExecutionState, &i64)> = e.state_timestamps.iter().collect();
                entered.sort_by_key(|(_, t)| **t);
                for (i, (s, t)) in entered.iter().enumerate() {
                    let until = entered
                        .get(i + 1)
                        .map(|(_, t)| **t)
                        .unwrap_or(if s.is_terminal() { **t } else { now });
                    durations.insert(s.as_str().to_string(), json!(until - **t));
                }
                json!({
                    "subtask": ev.id.subtask,
                    "status": e.state.as_str(),
                    "attempt": e.attempt_number,
                    "endpoint": endpoint,
                    "start-time": start,
                    "end-time": end,
                    "duration": duration,
                    "metrics": vertex_metrics(&st.metrics_of(e.attempt_id), source, sink),
                    "strom-time": time_split(&st.figures_of(e.attempt_id, e.state), 1),
                    "taskmanager-id": tm,
                    "status-duration": durations,
                    "start_time": start,
                    "strom-prior-attempts": ev.prior_attempts.iter().map(|p| json!({
                        "attempt": p.attempt_number,
                        "status": p.state.as_str(),
                        "taskmanager-id": p.slot.as_ref().map(|s| s.task_manager.to_string()),
                        "failure": p.failure,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let aggregated = crate::json_stats::aggregated(&subtasks.iter().collect::<Vec<_>>());
        Some(json!({
            "id": v.vertex.id.to_string(),
            "name": v.vertex.name,
            "parallelism": v.vertex.parallelism,
            "maxParallelism": v.vertex.max_parallelism,
            "now": now,
            "subtasks": subtasks,
            "aggregated": aggregated,
            "strom-time": time_split(&vertex_figures(&st, v), v.subtasks.len()),
        }))
    }

    /// The figures of each subtask of a vertex (its current attempt), in subtask order.
    pub fn subtask_metrics(
        j: &JobEntry,
        vertex: strom_common::VertexId,
    ) -> Option<Vec<TaskFigures>> {
        let st = j.snapshot();
        let v = st.graph().job_vertex(vertex)?;
        Some(
            v.subtasks
                .iter()
                .map(|ev| st.figures_of(ev.current.attempt_id, ev.current.state))
                .collect(),
        )
    }

    /// `/jobs/:id/vertices/:vid/watermarks`: each subtask's input watermark, as a string of ms
    /// (`i64::MIN` before the first one, as Flink shows `Long.MIN_VALUE`).
    pub fn watermarks(j: &JobEntry, vertex: VertexId) -> Option<Value> {
        let figures = subtask_metrics(j, vertex)?;
        Some(Value::Array(
            figures
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    json!({
                        "id": format!("{i}.currentInputWatermark"),
                        "value": f.totals.input_watermark.to_string(),
                    })
                })
                .collect(),
        ))
    }

    /// Flink's backpressure levels: a ratio up to 0.10 is ok, up to 0.5 low, above that high.
    pub fn backpressure_level(ratio: f64) -> &'static str {
        if ratio <= 0.10 {
            "ok"
        } else if ratio <= 0.5 {
            "low"
        } else {
            "high"
        }
    }

    /// `/jobs/:id/vertices/:vid/backpressure`: per subtask the share of the last seconds spent
    /// backpressured, idle and busy (from the per-second time rates), and the worst level.
    pub fn backpressure(j: &JobEntry, vertex: VertexId) -> Option<Value> {
        let st = j.snapshot();
        let v = st.graph().job_vertex(vertex)?;
        let mut worst = 0.0f64;
        let subtasks: Vec<Value> = v
            .subtasks
            .iter()
            .map(|ev| {
                let e = &ev.current;
                let r = st.figures_of(e.attempt_id, e.state).rates;
                let ratio = (r.backpressured / 1000.0).clamp(0.0, 1.0);
                worst = worst.max(ratio);
                json!({
                    "subtask": ev.id.subtask,
                    "attempt-number": e.attempt_number,
                    "backpressure-level": backpressure_level(ratio),
                    "ratio": ratio,
                    "idleRatio": (r.idle / 1000.0).clamp(0.0, 1.0),
                    "busyRatio": (r.busy / 1000.0).clamp(0.0, 1.0),
                })
            })
            .collect();
        Some(json!({
            "status": "ok",
            "backpressure-level": backpressure_level(worst),
            "end-timestamp": now_millis(),
            "subtasks": subtasks,
        }))
    }

    /// `/jobs/:id/vertices/:vid/subtasktimes`: when each subtask entered each state.
    pub fn subtask_times(d: &Dispatcher, j: &JobEntry, vertex: VertexId) -> Option<Value> {
        let st = j.snapshot();
        let v = st.graph().job_vertex(vertex)?;
        let now = now_millis();
        let subtasks: Vec<Value> = v
            .subtasks
            .iter()
            .map(|ev| {
                let e = &ev.current;
                let (_, endpoint) = location(d, e.slot.as_ref());
                let (_, _, duration) = span(e, now);
                let mut ts = Map::new();
                for s in ExecutionState::ALL {
                    ts.insert(
                        s.as_str().to_string(),
                        json!(e.state_timestamps.get(&s).copied().unwrap_or(0)),
                    );
                }
                json!({
                    "subtask": ev.id.subtask,
                    "host": endpoint,
                    "endpoint": endpoint,
                    "duration": duration,
                    "timestamps": ts,
                })
            })
            .collect();
        Some(json!({
            "id": v.vertex.id.to_string(),
            "name": v.vertex.name,
            "now": now,
            "subtasks": subtasks,
        }))
    }

    /// The state Flink shows for a group of subtasks (`ExecutionJobVertex.getAggregateJobVertexState`).
    fn aggregate_state(counts: &BTreeMap<&str, usize>, total: usize) -> &'static str {
        let n = |s: &str| counts.get(s).copied().unwrap_or(0);
        if n("FAILED") > 0 {
            "FAILED"
        } else if n("CANCELING") > 0 {
            "CANCELING"
        } else if n("CANCELED") > 0 {
            "CANCELED"
        } else if n("INITIALIZING") > 0 {
            "INITIALIZING"
        } else if n("RUNNING") > 0 {
            "RUNNING"
        } else if n("FINISHED") > 0 {
            if n("FINISHED") == total {
                "FINISHED"
            } else {
                "RUNNING"
            }
        } else if n("DEPLOYING") > 0 {
            "DEPLOYING"
        } else if n("SCHEDULED") > 0 {
            "SCHEDULED"
        } else {
            "CREATED"
        }
    }

    /// One row: the subtasks (`/jobs/:id/vertices/:vid` entries) on one TaskManager.
    fn row(tm: &str, subtasks: &[&Value], now: i64) -> Value {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for s in subtasks {
            *counts
                .entry(s["status"].as_str().unwrap_or("CREATED"))
                .or_default() += 1;
        }
        let starts: Vec<i64> = subtasks
            .iter()
            .filter_map(|s| s["start-time"].as_i64())
            .filter(|t| *t > 0)
            .collect();
        let start = starts.iter().copied().min().unwrap_or(-1);
        let ends: Vec<i64> = subtasks
            .iter()
            .map(|s| s["end-time"].as_i64().unwrap_or(-1))
            .collect();
        let end = if ends.iter().all(|e| *e > 0) {
            ends.iter().copied().max().unwrap_or(-1)
        } else {
            -1
        };
        let duration = match (start, end) {
            (s, _) if s <= 0 => -1,
            (s, e) if e <= 0 => now - s,
            (s, e) => e - s,
        };
        let mut metrics = Map::new();
        for (i, name) in IO_FIGURES.iter().enumerate() {
            let sum: i64 = subtasks.iter().map(|s| figure(s, name)).sum();
            metrics.insert(
                name.to_string(),
                if *name == "accumulated-busy-time" {
                    json!(sum as f64)
                } else {
                    json!(sum)
                },
            );
            if i < 4 {
                let complete = subtasks.iter().all(|s| {
                    s["metrics"][format!("{name}-complete")]
                        .as_bool()
                        .unwrap_or(true)
                });
                metrics.insert(format!("{name}-complete"), json!(complete));
            }
        }
        let mut status_counts = Map::new();
        for s in ExecutionState::ALL {
            status_counts.insert(
                s.as_str().to_string(),
                json!(counts.get(s.as_str()).copied().unwrap_or(0)),
            );
        }
        status_counts.insert("RECONCILING".into(), json!(0));
        let endpoint = subtasks
            .first()
            .and_then(|s| s["endpoint"].as_str())
            .unwrap_or("(unassigned)");
        json!({
            "endpoint": endpoint,
            "status": aggregate_state(&counts, subtasks.len()),
            "start-time": start,
            "end-time": end,
            "duration": duration,
            "metrics": metrics,
            "status-counts": status_counts,
            "taskmanager-id": tm,
            "aggregated": aggregated(subtasks),
        })
    }

    /// `/jobs/:id/vertices/:vid/taskmanagers`; None when the job has no such vertex. Subtasks not
    /// yet placed in a slot have no TaskManager and are not shown (as in Flink).
    pub fn vertex_taskmanagers(d: &Dispatcher, j: &JobEntry, vertex: VertexId) -> Option<Value> {
        let detail = vertex_detail(d, j, vertex)?;
        let now = detail["now"].as_i64().unwrap_or(0);
        let mut by_tm: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for s in detail["subtasks"].as_array().into_iter().flatten() {
            if let Some(tm) = s["taskmanager-id"].as_str() {
                by_tm.entry(tm.to_string()).or_default().push(s);
            }
        }
        let rows: Vec<Value> = by_tm.iter().map(|(tm, subs)| row(tm, subs, now)).collect();
        Some(json!({
            "id": detail["id"],
            "name": detail["name"],
            "now": now,
            "taskmanagers": rows,
        }))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn levels_follow_flinks_thresholds() {
            assert_eq!(backpressure_level(0.0), "ok");
            assert_eq!(backpressure_level(0.10), "ok");
            assert_eq!(backpressure_level(0.11), "low");
            assert_eq!(backpressure_level(0.5), "low");
            assert_eq!(backpressure_level(0.51), "high");
        }

        #[test]
        fn aggregate_states_follow_flink() {
            let c = |v: &[(&'static str, usize)]| v.iter().copied().collect::<BTreeMap<_, _>>();
            assert_eq!(aggregate_state(&c(&[("FINISHED", 2)]), 2), "FINISHED");
            assert_eq!(
                aggregate_state(&c(&[("FINISHED", 1), ("CREATED", 1)]), 2),
                "RUNNING"
            );
            assert_eq!(
                aggregate_state(&c(&[("RUNNING", 1), ("FAILED", 1)]), 2),
                "FAILED"
            );
            assert_eq!(aggregate_state(&c(&[("DEPLOYING", 2)]), 2), "DEPLOYING");
            assert_eq!(aggregate_state(&c(&[]), 0), "CREATED");
        }
    }
}
