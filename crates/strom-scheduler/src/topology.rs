//! A compact copy of an ExecutionGraph's shape for the scheduling decisions: subtasks are dense
//! indices in priority order (topological order of the vertices, then subtask index).

use crate::execution_graph::{ExecutionGraph, ExecutionVertexId};
use std::collections::HashMap;
use strom_common::VertexId;
use strom_plan::{ResultType, ShipStrategy};

/// An edge between vertex positions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Edge {
    pub source: usize,
    pub target: usize,
    /// FORWARD connects subtask i to subtask i; every other strategy connects all to all.
    pub forward: bool,
    pub pipelined: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Topology {
    pub vertex_ids: Vec<VertexId>,
    /// `offsets[v]..offsets[v + 1]` are the dense indices of vertex v's subtasks.
    pub offsets: Vec<usize>,
    /// Slot sharing group of each vertex, numbered by first appearance.
    pub group: Vec<usize>,
    pub edges: Vec<Edge>,
    position: HashMap<VertexId, usize>,
}

impl Topology {
    pub fn new(eg: &ExecutionGraph) -> Self {
        let mut offsets = vec![0];
        let mut groups: Vec<&str> = Vec::new();
        let mut group = Vec::new();
        for v in &eg.vertices {
            offsets.push(offsets.last().copied().unwrap_or(0) + v.subtasks.len());
            let name = v.vertex.slot_sharing_group.as_str();
            group.push(groups.iter().position(|g| *g == name).unwrap_or_else(|| {
                groups.push(name);
                groups.len() - 1
            }));
        }
        let position: HashMap<VertexId, usize> = eg
            .vertices
            .iter()
            .enumerate()
            .map(|(i, v)| (v.id(), i))
            .collect();
        let edges = eg
            .edges
            .iter()
            .filter_map(|e| {
                Some(Edge {
                    source: *position.get(&e.source)?,
                    target: *position.get(&e.target)?,
                    forward: e.ship_strategy == ShipStrategy::Forward,
                    pipelined: e.result_type == ResultType::Pipelined,
                })
            })
            .collect();
        Self {
            vertex_ids: eg.vertices.iter().map(|v| v.id()).collect(),
            offsets,
            group,
            edges,
            position,
        }
    }

    pub fn num_tasks(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }

    pub fn parallelism(&self, v: usize) -> usize {
        self.offsets[v + 1] - self.offsets[v]
    }

    pub fn subtasks(&self, v: usize) -> std::ops::Range<usize> {
        self.offsets[v]..self.offsets[v + 1]
    }

    pub fn dense(&self, id: ExecutionVertexId) -> Option<usize> {
        let v = *self.position.get(&id.vertex)?;
        ((id.subtask as usize) < self.parallelism(v)).then(|| self.offsets[v] + id.subtask as usize)
    }

    /// Vertex position and subtask index of a dense index.
    pub fn split(&self, dense: usize) -> (usize, usize) {
        let v = self.offsets.partition_point(|o| *o <= dense) - 1;
        (v, dense - self.offsets[v])
    }

    pub fn task(&self, dense: usize) -> ExecutionVertexId {
        let (v, s) = self.split(dense);
        ExecutionVertexId::new(self.vertex_ids[v], s as u32)
    }
}
