//! The per-subtask accumulator answers in Flink 2.x's shapes (`SubtasksAllAccumulatorsInfo`,
//! `SubtaskExecutionAttemptAccumulatorsInfo`). Strom's operators (SQL) keep no user
//! accumulators, so the lists are empty; the subtasks, attempts, ids and locations are real.

use crate::dispatcher::{Dispatcher, JobEntry};
use crate::extra_views::SubtaskLookup;
use crate::views;
use serde_json::{json, Value};
use strom_common::VertexId;

/// Flink's endpoint of a subtask not (yet) in a slot.
const UNASSIGNED: &str = "(unassigned)";

/// `/jobs/:id/vertices/:vid/subtasks/accumulators`; None when the job has no such vertex.
pub fn subtasks_accumulators(d: &Dispatcher, j: &JobEntry, vertex: VertexId) -> Option<Value> {
    let st = j.state.lock();
    let v = st.graph().job_vertex(vertex)?;
    let subtasks: Vec<Value> = v
        .subtasks
        .iter()
        .map(|ev| {
            let (_, endpoint) = views::location(d, ev.current.slot.as_ref());
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
    let st = j.state.lock();
    let ev = crate::extra_views::subtask_of(st.graph(), vertex, subtask)?;
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
