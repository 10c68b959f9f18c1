//! More of what the REST API shows in Flink's JSON shapes: a job's execution config, the
//! cluster configuration, watermarks, backpressure, subtask times and single subtask attempts.

use crate::dispatcher::{Dispatcher, JobEntry};
use crate::views;
use serde_json::{json, Map, Value};
use strom_common::time::now_millis;
use strom_common::{ExecutionState, VertexId};
use strom_scheduler::execution_graph::Execution;

/// Configuration keys whose values are shown as `******` (Flink's `GlobalConfiguration`
/// sensitive-key fragments, matched case-insensitively, plus Strom's `cluster.secret`).
const SENSITIVE: &[&str] = &[
    "password",
    "secret",
    "fs.azure.account.key",
    "apikey",
    "api-key",
    "auth-params",
    "service-key",
    "token",
    "basic-auth",
    "jaas.config",
    "http-headers",
];

pub const HIDDEN: &str = "******";

pub fn is_sensitive(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SENSITIVE.iter().any(|s| k.contains(s))
}

/// `/jobmanager/config`: the cluster configuration as `[{"key", "value"}]`, secrets hidden.
pub fn jobmanager_config(d: &Dispatcher) -> Value {
    let entries: Vec<Value> = d
        .config
        .entries()
        .map(|(k, v)| {
            let v = if is_sensitive(k) { HIDDEN } else { v };
            json!({ "key": k, "value": v })
        })
        .collect();
    Value::Array(entries)
}

/// `/jobs/:id/config`: the job's execution config, from the cluster configuration overlaid by
/// the job's own (its SET statements and the request's parallelism).
pub fn job_config(d: &Dispatcher, j: &JobEntry) -> Value {
    let st = j.state.lock();
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

/// Whether the job has this vertex.
pub fn has_vertex(j: &JobEntry, vertex: VertexId) -> bool {
    j.state.lock().graph().job_vertex(vertex).is_some()
}

/// `/jobs/:id/vertices/:vid/watermarks`: each subtask's input watermark, as a string of ms
/// (`i64::MIN` before the first one, as Flink shows `Long.MIN_VALUE`).
pub fn watermarks(j: &JobEntry, vertex: VertexId) -> Option<Value> {
    let figures = views::subtask_metrics(j, vertex)?;
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
    let st = j.state.lock();
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

/// Where a task runs: (TaskManager id, its address).
fn location(d: &Dispatcher, e: &Execution) -> (Value, Value) {
    crate::views::location(d, e.slot.as_ref())
}

/// `/jobs/:id/vertices/:vid/subtasktimes`: when each subtask entered each state.
pub fn subtask_times(d: &Dispatcher, j: &JobEntry, vertex: VertexId) -> Option<Value> {
    let st = j.state.lock();
    let v = st.graph().job_vertex(vertex)?;
    let now = now_millis();
    let subtasks: Vec<Value> = v
        .subtasks
        .iter()
        .map(|ev| {
            let e = &ev.current;
            let (_, endpoint) = location(d, e);
            let (_, _, duration) = views::span(e, now);
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

/// What a subtask lookup can miss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubtaskLookup {
    NoVertex,
    /// The vertex has this many subtasks.
    NoSubtask(usize),
    /// The subtask's attempts are numbered up to this one.
    NoAttempt(u32),
}

/// Subtask `subtask` of `vertex` in a job's graph.
pub(crate) fn subtask_of(
    graph: &strom_scheduler::execution_graph::ExecutionGraph,
    vertex: VertexId,
    subtask: usize,
) -> Result<&strom_scheduler::execution_graph::ExecutionVertex, SubtaskLookup> {
    let v = graph.job_vertex(vertex).ok_or(SubtaskLookup::NoVertex)?;
    v.subtasks
        .get(subtask)
        .ok_or(SubtaskLookup::NoSubtask(v.subtasks.len()))
}

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
        let st = j.state.lock();
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
        let detail = views::vertex_detail(d, j, vertex).ok_or(SubtaskLookup::NoVertex)?;
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
    let st = j.state.lock();
    let now = now_millis();
    let (start, end, duration) = views::span(&p, now);
    let (tm, endpoint) = location(d, &p);
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
    fn secrets_are_recognised() {
        assert!(is_sensitive("cluster.secret"));
        assert!(is_sensitive("rest.auth.token"));
        assert!(is_sensitive("s3.Password"));
        assert!(!is_sensitive("rest.port"));
    }
}
