//! The id of one subtask of a job vertex (Flink's `ExecutionVertexID`).

use serde::{Deserialize, Serialize};
use std::fmt;
use strom_common::VertexId;

/// One subtask of one job vertex; displayed as `<vertex>_<subtask>` (subtask from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExecutionVertexId {
    pub vertex: VertexId,
    pub subtask: u32,
}

impl ExecutionVertexId {
    pub fn new(vertex: VertexId, subtask: u32) -> Self {
        Self { vertex, subtask }
    }
}

impl fmt::Display for ExecutionVertexId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.vertex, self.subtask)
    }
}
