//! Path parameters and lookups the job endpoints share: vertex ids, numbers, a job's vertex and
//! subtask, and the 400 / 404 answers when they are malformed or unknown.

use crate::error::{job_id, RestError};
use axum::http::StatusCode;
use std::sync::Arc;
use strom_cluster::dispatcher::{Dispatcher, JobEntry};
use strom_common::VertexId;

pub(crate) fn vertex_id(vid: &str) -> Result<VertexId, RestError> {
    vid.parse().map_err(|_| {
        RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request: '{vid}' is not a vertex id (32 hex digits)"),
        )
    })
}

pub(crate) fn no_vertex(id: &str, vid: &str) -> RestError {
    RestError(
        StatusCode::NOT_FOUND,
        format!("Job {id} has no vertex {vid}; see /jobs/{id} for its vertices"),
    )
}

/// The job and vertex of a path, or 400 (malformed ids) / 404 (unknown ones).
/// A view of one vertex of a job as the answer: 404 naming the job or the vertex it lacks.
pub(crate) fn vertex_answer(
    d: &Dispatcher,
    id: &str,
    vid: &str,
    view: impl FnOnce(&JobEntry, VertexId) -> Option<serde_json::Value>,
) -> Result<axum::Json<serde_json::Value>, RestError> {
    let (j, v) = job_vertex(d, id, vid)?;
    view(&j, v)
        .map(axum::Json)
        .ok_or_else(|| no_vertex(id, vid))
}

pub(crate) fn job_vertex(
    d: &Dispatcher,
    id: &str,
    vid: &str,
) -> Result<(Arc<JobEntry>, VertexId), RestError> {
    let j = d.job(job_id(id)?)?;
    let v = vertex_id(vid)?;
    if !has_vertex(&j, v) {
        return Err(no_vertex(id, vid));
    }
    Ok((j, v))
}

pub(crate) fn number<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, RestError> {
    s.parse().map_err(|_| {
        RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request, could not parse parameters: Cannot resolve path parameter ({what}) from value \"{s}\"; it must be a non-negative integer"),
        )
    })
}

/// 404 for a subtask or attempt a vertex does not have, saying which it has.
pub(crate) fn lookup_error(
    e: SubtaskLookup,
    id: &str,
    vid: &str,
    subtask: usize,
    attempt: u32,
) -> RestError {
    let msg = match e {
        SubtaskLookup::NoVertex => return no_vertex(id, vid),
        SubtaskLookup::NoSubtask(n) => format!(
            "Vertex {vid} of job {id} has no subtask {subtask}; it has {n} (0 to {})",
            n as i64 - 1
        ),
        SubtaskLookup::NoAttempt(cur) => format!(
            "Subtask {subtask} of vertex {vid} has no attempt {attempt}; its attempts are 0 to {cur}"
        ),
    };
    RestError(StatusCode::NOT_FOUND, msg)
}

/// Whether the job has this vertex.
pub(crate) fn has_vertex(j: &JobEntry, vertex: VertexId) -> bool {
    j.snapshot().graph().job_vertex(vertex).is_some()
}

/// What a subtask lookup can miss.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // Flink's wording: no vertex, no subtask, no attempt
pub(crate) enum SubtaskLookup {
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
