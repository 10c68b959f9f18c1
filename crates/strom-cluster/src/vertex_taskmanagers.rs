//! `/jobs/:id/vertices/:vid/taskmanagers` in Flink 2.x's `JobVertexTaskManagersInfo` shape: the
//! subtasks of a vertex grouped by the TaskManager that runs (or ran) them, with their summed IO
//! figures, state counts, aggregate state, time span and per-metric statistics.

use crate::dispatcher::{Dispatcher, JobEntry};
use crate::subtask_statistics::{aggregated, figure, IO_FIGURES};
use crate::views;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use strom_common::{ExecutionState, VertexId};

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
    let detail = views::vertex_detail(d, j, vertex)?;
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
