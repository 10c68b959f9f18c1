//! A vertex's subtasks: `GET /jobs/:id/vertices/:vid/subtasks/:idx[/attempts/:n]` (one attempt,
//! Flink's `SubtaskExecutionAttemptDetailsInfo`), `/subtasks/accumulators` and
//! `/subtasks/:idx/attempts/:n/accumulators` (Strom's SQL operators keep no user accumulators:
//! the lists are empty; the subtasks, attempts, ids and locations are real).

use crate::api::Routes;
use crate::error::RestError;
use crate::openapi::{get, Doc};
use crate::params::{job_vertex, lookup_error, number, vertex_answer};
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;
use std::sync::Arc;
use strom_cluster::Dispatcher;

type D = State<Arc<Dispatcher>>;

/// The routes of this resource.
pub(crate) fn routes(r: Routes) -> Routes {
    r.route(
        "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}",
        get(subtask, Doc::new("A subtask's current attempt")),
    )
    .route(
        "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/attempts/{attempt}",
        get(subtask_attempt, Doc::new("One attempt of a subtask")),
    )
    .route(
        "/jobs/{jobid}/vertices/{vertexid}/subtasks/accumulators",
        get(
            subtasks_accumulators,
            Doc::new("The accumulators of every subtask of a vertex"),
        ),
    )
    .route(
        "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/attempts/{attempt}/accumulators",
        get(
            attempt_accumulators,
            Doc::new("The accumulators of one attempt of a subtask"),
        ),
    )
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
    views::subtask_attempt(d, &j, v, subtask, attempt)
        .map(Json)
        .map_err(|e| lookup_error(e, id, vid, subtask, attempt.unwrap_or(0)))
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

/// `GET /jobs/:id/vertices/:vid/subtasks/accumulators`.
pub async fn subtasks_accumulators(
    State(d): D,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    vertex_answer(&d, &id, &vid, |j, v| views::subtasks_accumulators(&d, j, v))
}

/// `GET /jobs/:id/vertices/:vid/subtasks/:idx/attempts/:n/accumulators`.
pub async fn attempt_accumulators(
    State(d): D,
    Path((id, vid, idx, n)): Path<(String, String, String, String)>,
) -> Result<Json<Value>, RestError> {
    let (j, v) = job_vertex(&d, &id, &vid)?;
    let subtask: usize = number("subtaskindex", &idx)?;
    let attempt: u32 = number("attempt", &n)?;
    views::attempt_accumulators(&j, v, subtask, attempt)
        .map(Json)
        .map_err(|e| lookup_error(e, &id, &vid, subtask, attempt))
}

/// The JSON answers (Flink's shapes), built from the live job state.
pub(crate) mod views {
    use crate::api::vertices::views::{location, span, vertex_detail};
    use crate::params::{subtask_of, SubtaskLookup};
    use serde_json::Map;
    use serde_json::{json, Value};
    use strom_cluster::dispatcher::{Dispatcher, JobEntry};

    use strom_common::time::now_millis;
    use strom_common::{ExecutionState, VertexId};

    /// `/jobs/:id/vertices/:vid/subtasks/:idx[/attempts/:n]`: one attempt of a subtask (the current
    /// one without `attempt`) in Flink's `SubtaskExecutionAttemptDetailsInfo` shape, the fields
    /// `/jobs/:id/vertices/:vid` shows for it.
    pub fn subtask_attempt(
        d: &Dispatcher,
        j: &JobEntry,
        vertex: VertexId,
        subtask: usize,
        attempt: Option<u32>,
    ) -> Result<Value, SubtaskLookup> {
        let (current, prior) = {
            let st = j.snapshot();
            let ev = subtask_of(st.graph(), vertex, subtask)?;
            let current = ev.current.attempt_number;
            let prior = match attempt {
                None => None,
                Some(n) if n == current => None,
                Some(n) => Some(
                    ev.prior_attempts
                        .iter()
                        .find(|p| p.attempt_number == n)
                        .cloned()
                        .ok_or(SubtaskLookup::NoAttempt(current))?,
                ),
            };
            (current, prior)
        };
        let Some(p) = prior else {
            let detail = vertex_detail(d, j, vertex).ok_or(SubtaskLookup::NoVertex)?;
            let mut s = detail["subtasks"]
                .get(subtask)
                .cloned()
                .ok_or(SubtaskLookup::NoSubtask(0))?;
            if s["attempt"].as_u64() != Some(current as u64) {
                // restarted between the two looks
                return Err(SubtaskLookup::NoAttempt(current));
            }
            if let Some(o) = s.as_object_mut() {
                o.remove("strom-prior-attempts");
            }
            return Ok(s);
        };
        let st = j.snapshot();
        let now = now_millis();
        let (start, end, duration) = span(&p, now);
        let (tm, endpoint) = location(d, p.slot.as_ref());
        let m = st.metrics_of(p.attempt_id);
        let mut durations = Map::new();
        let mut entered: Vec<(&ExecutionState, &i64)> = p.state_timestamps.iter().collect();
        entered.sort_by_key(|(_, t)| **t);
        for (i, (s, t)) in entered.iter().enumerate() {
            let until = entered.get(i + 1).map(|(_, t)| **t).unwrap_or(**t);
            durations.insert(s.as_str().to_string(), json!(until - **t));
        }
        let mut out = json!({
            "subtask": subtask,
            "status": p.state.as_str(),
            "attempt": p.attempt_number,
            "endpoint": endpoint,
            "start-time": start,
            "end-time": end,
            "duration": duration,
            "metrics": {
                "read-bytes": m.bytes_in,
                "read-bytes-complete": true,
                "write-bytes": m.bytes_out,
                "write-bytes-complete": true,
                "read-records": m.records_in,
                "read-records-complete": true,
                "write-records": m.records_out,
                "write-records-complete": true,
                "accumulated-backpressured-time": m.backpressured_ms,
                "accumulated-idle-time": m.idle_ms,
                "accumulated-busy-time": m.busy_ms as f64,
            },
            "taskmanager-id": tm,
            "status-duration": durations,
            "start_time": start,
        });
        if let Some(f) = &p.failure {
            out["strom-failure"] = json!(f);
        }
        Ok(out)
    }

    /// Flink's endpoint of a subtask not (yet) in a slot.
    const UNASSIGNED: &str = "(unassigned)";

    /// `/jobs/:id/vertices/:vid/subtasks/accumulators`; None when the job has no such vertex.
    pub fn subtasks_accumulators(d: &Dispatcher, j: &JobEntry, vertex: VertexId) -> Option<Value> {
        let st = j.snapshot();
        let v = st.graph().job_vertex(vertex)?;
        let subtasks: Vec<Value> = v
            .subtasks
            .iter()
            .map(|ev| {
                let (_, endpoint) = location(d, ev.current.slot.as_ref());
                json!({
                    "subtask": ev.id.subtask,
                    "attempt": ev.current.attempt_number,
                    "endpoint": if endpoint.is_null() { json!(UNASSIGNED) } else { endpoint },
                    "user-accumulators": [],
                })
            })
            .collect();
        Some(json!({
            "id": vertex.to_string(),
            "parallelism": v.vertex.parallelism,
            "subtasks": subtasks,
        }))
    }

    /// `/jobs/:id/vertices/:vid/subtasks/:idx/attempts/:n/accumulators`.
    pub fn attempt_accumulators(
        j: &JobEntry,
        vertex: VertexId,
        subtask: usize,
        attempt: u32,
    ) -> Result<Value, SubtaskLookup> {
        let st = j.snapshot();
        let ev = subtask_of(st.graph(), vertex, subtask)?;
        let e = std::iter::once(&ev.current)
            .chain(ev.prior_attempts.iter())
            .find(|e| e.attempt_number == attempt)
            .ok_or(SubtaskLookup::NoAttempt(ev.current.attempt_number))?;
        Ok(json!({
            "subtask": subtask,
            "attempt": attempt,
            "id": e.attempt_id.to_string(),
            "user-accumulators": [],
        }))
    }
}
