//! The JobGraph: what a client submits. Vertices carry operator chains (one operator each as
//! the SQL compiler emits them; the JobMaster chains FORWARD neighbours), edges carry a ship
//! strategy and a result type. Serde JSON is the wire format of `POST /jobs`.

pub use crate::aggregates::{AggFunc, StateField};
pub use crate::specs::*;
pub use crate::table::{TableSpec, WatermarkSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strom_common::{JobId, JobType, VertexId};

/// A job as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobGraph {
    /// Chosen by the client or, when absent, by the Dispatcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    pub name: String,
    #[serde(default)]
    pub job_type: JobType,
    /// Job configuration (SQL `SET` statements, `-D` of the client).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    pub vertices: Vec<JobVertex>,
    #[serde(default)]
    pub edges: Vec<JobEdge>,
}

/// One vertex: a chain of operators run by one task per subtask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobVertex {
    pub id: VertexId,
    pub name: String,
    pub parallelism: u32,
    #[serde(default = "default_max_parallelism")]
    pub max_parallelism: u32,
    #[serde(default = "default_group")]
    pub slot_sharing_group: String,
    /// Operators in chain order; the first consumes the vertex's inputs.
    pub operators: Vec<OperatorSpec>,
    /// Stable ids of the operators (what checkpoints and savepoints key state by); empty: derived
    /// from the vertex id (see [`JobVertex::operator_ids`]). Chaining keeps each operator's id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operator_ids: Vec<VertexId>,
}

impl JobVertex {
    /// The id of each operator: as recorded, or the vertex id for the first operator and ids
    /// derived from it for the others.
    pub fn operator_ids(&self) -> Vec<VertexId> {
        if self.operator_ids.len() == self.operators.len() {
            return self.operator_ids.clone();
        }
        (0..self.operators.len())
            .map(|k| match k {
                0 => self.id,
                k => VertexId::derive(format!("{}/{k}", self.id).as_bytes()),
            })
            .collect()
    }
}

/// Flink's upper bound of a max parallelism (the number of key groups): 2^15.
pub const UPPER_BOUND_MAX_PARALLELISM: u32 = 1 << 15;

pub fn default_max_parallelism() -> u32 {
    128
}

pub fn default_group() -> String {
    "default".to_string()
}

/// How records are distributed from the producer's subtasks to the consumer's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShipStrategy {
    /// Subtask i sends to subtask i (equal parallelism required).
    Forward,
    /// Rows are routed by a hash of the key columns (indices into the producer's output).
    Hash { keys: Vec<usize> },
    /// Round robin.
    Rebalance,
    /// Every row to every consumer subtask.
    Broadcast,
}

impl ShipStrategy {
    pub fn name(&self) -> &'static str {
        match self {
            ShipStrategy::Forward => "FORWARD",
            ShipStrategy::Hash { .. } => "HASH",
            ShipStrategy::Rebalance => "REBALANCE",
            ShipStrategy::Broadcast => "BROADCAST",
        }
    }
}

/// Whether a consumer may read while the producer runs (PIPELINED) or only after it finished
/// (BLOCKING, batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResultType {
    Pipelined,
    Blocking,
}

/// A data edge between two vertices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEdge {
    pub source: VertexId,
    pub target: VertexId,
    pub ship_strategy: ShipStrategy,
    pub result_type: ResultType,
    /// Which input of the target's first operator this edge feeds (0 for single-input).
    #[serde(default)]
    pub input_index: u32,
}

/// Why a JobGraph is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("the job graph has no vertices")]
    Empty,
    #[error("vertex {0} appears twice")]
    DuplicateVertex(VertexId),
    #[error("vertex '{0}' has parallelism 0; parallelism must be at least 1")]
    ZeroParallelism(String),
    #[error("vertex '{name}' has parallelism {parallelism} above its max parallelism {max}")]
    AboveMaxParallelism {
        name: String,
        parallelism: u32,
        max: u32,
    },
    #[error("vertex '{name}' has max parallelism {max}; it must be between 1 and {UPPER_BOUND_MAX_PARALLELISM} (both inclusive), as in Flink")]
    BadMaxParallelism { name: String, max: u32 },
    #[error("vertex '{0}' has no operators")]
    NoOperators(String),
    #[error("edge refers to unknown vertex {0}")]
    UnknownVertex(VertexId),
    #[error("FORWARD edge from '{from}' (parallelism {p1}) to '{to}' (parallelism {p2}) needs equal parallelism; use REBALANCE or HASH")]
    ForwardParallelism {
        from: String,
        to: String,
        p1: u32,
        p2: u32,
    },
    #[error("the job graph has a cycle through vertex '{0}'")]
    Cycle(String),
    #[error("vertex '{0}' has no inputs but does not start with a source")]
    NoSource(String),
    #[error("hash key column {key} is out of range for '{vertex}' ({width} columns)")]
    BadHashKey {
        vertex: String,
        key: usize,
        width: usize,
    },
}

impl JobGraph {
    pub fn vertex(&self, id: VertexId) -> Option<&JobVertex> {
        self.vertices.iter().find(|v| v.id == id)
    }

    pub fn inputs_of(&self, id: VertexId) -> impl Iterator<Item = &JobEdge> {
        self.edges.iter().filter(move |e| e.target == id)
    }

    pub fn outputs_of(&self, id: VertexId) -> impl Iterator<Item = &JobEdge> {
        self.edges.iter().filter(move |e| e.source == id)
    }

    /// Vertex indices in topological order (sources first); an error names a vertex on a cycle.
    pub fn topological_order(&self) -> Result<Vec<usize>, GraphError> {
        let idx = |id: VertexId| self.vertices.iter().position(|v| v.id == id);
        let mut indeg = vec![0usize; self.vertices.len()];
        for e in &self.edges {
            indeg[idx(e.target).ok_or(GraphError::UnknownVertex(e.target))?] += 1;
            idx(e.source).ok_or(GraphError::UnknownVertex(e.source))?;
        }
        let mut ready: Vec<usize> = (0..self.vertices.len())
            .filter(|i| indeg[*i] == 0)
            .collect();
        ready.reverse();
        let mut order = Vec::with_capacity(self.vertices.len());
        while let Some(i) = ready.pop() {
            order.push(i);
            for e in self.outputs_of(self.vertices[i].id) {
                let t = idx(e.target).expect("checked");
                indeg[t] -= 1;
                if indeg[t] == 0 {
                    ready.push(t);
                }
            }
        }
        if order.len() != self.vertices.len() {
            let stuck = (0..self.vertices.len())
                .find(|i| indeg[*i] > 0)
                .unwrap_or(0);
            return Err(GraphError::Cycle(self.vertices[stuck].name.clone()));
        }
        Ok(order)
    }

    /// Structural validation (the Dispatcher's first check).
    pub fn validate(&self) -> Result<(), GraphError> {
        if self.vertices.is_empty() {
            return Err(GraphError::Empty);
        }
        let mut seen = std::collections::HashSet::new();
        for v in &self.vertices {
            if !seen.insert(v.id) {
                return Err(GraphError::DuplicateVertex(v.id));
            }
            if v.parallelism == 0 {
                return Err(GraphError::ZeroParallelism(v.name.clone()));
            }
            if v.max_parallelism == 0 || v.max_parallelism > UPPER_BOUND_MAX_PARALLELISM {
                return Err(GraphError::BadMaxParallelism {
                    name: v.name.clone(),
                    max: v.max_parallelism,
                });
            }
            if v.parallelism > v.max_parallelism {
                return Err(GraphError::AboveMaxParallelism {
                    name: v.name.clone(),
                    parallelism: v.parallelism,
                    max: v.max_parallelism,
                });
            }
            if v.operators.is_empty() {
                return Err(GraphError::NoOperators(v.name.clone()));
            }
        }
        for e in &self.edges {
            let s = self
                .vertex(e.source)
                .ok_or(GraphError::UnknownVertex(e.source))?;
            let t = self
                .vertex(e.target)
                .ok_or(GraphError::UnknownVertex(e.target))?;
            if e.ship_strategy == ShipStrategy::Forward && s.parallelism != t.parallelism {
                return Err(GraphError::ForwardParallelism {
                    from: s.name.clone(),
                    to: t.name.clone(),
                    p1: s.parallelism,
                    p2: t.parallelism,
                });
            }
            if let ShipStrategy::Hash { keys } = &e.ship_strategy {
                let width = s
                    .operators
                    .last()
                    .map(|o| o.output_schema().len())
                    .unwrap_or(0);
                if let Some(k) = keys.iter().find(|k| **k >= width) {
                    return Err(GraphError::BadHashKey {
                        vertex: s.name.clone(),
                        key: *k,
                        width,
                    });
                }
            }
        }
        self.topological_order()?;
        for v in &self.vertices {
            if self.inputs_of(v.id).next().is_none()
                && !matches!(
                    v.operators.first(),
                    Some(OperatorSpec::Source(_) | OperatorSpec::Stage(_))
                )
            {
                return Err(GraphError::NoSource(v.name.clone()));
            }
        }
        Ok(())
    }
}
