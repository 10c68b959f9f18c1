//! Slot sharing: subtasks of different vertices of one slot sharing group share a slot, so a
//! slot can hold a whole pipeline. Subtask i of every vertex of a group goes to shared slot i of
//! that group; one slot thus never holds two subtasks of the same vertex.
//!
//! For a set of subtasks scheduled together, the slots needed are, per group, the number of
//! distinct subtask indices in the set: for whole vertices, the sum over groups of the group's
//! max parallelism.

use crate::execution_graph::{ExecutionGraph, ExecutionVertexId};
use crate::topology::Topology;
use std::collections::HashSet;

/// Slots needed to run `tasks` at once with slot sharing. Unknown subtasks are ignored.
pub fn required_slots(eg: &ExecutionGraph, tasks: &[ExecutionVertexId]) -> usize {
    let topo = Topology::new(eg);
    let dense: Vec<usize> = tasks.iter().filter_map(|t| topo.dense(*t)).collect();
    shared_slot_keys(&topo, &dense).len()
}

/// A shared slot within one deployment: (slot sharing group, subtask index).
pub(crate) type SharedSlotKey = (usize, usize);

/// The shared slots `tasks` need, in order of first use by `tasks` (give them in priority order
/// for a deterministic assignment).
pub(crate) fn shared_slot_keys(topo: &Topology, tasks: &[usize]) -> Vec<SharedSlotKey> {
    let mut seen = HashSet::new();
    tasks
        .iter()
        .map(|d| shared_slot_key(topo, *d))
        .filter(|k| seen.insert(*k))
        .collect()
}

pub(crate) fn shared_slot_key(topo: &Topology, task: usize) -> SharedSlotKey {
    let (v, s) = topo.split(task);
    (topo.group[v], s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{calc, job_graph, source, vid};
    use strom_common::JobId;
    use strom_plan::{ResultType::*, ShipStrategy::*};

    #[test]
    fn sum_over_groups_of_max_parallelism() {
        let mut g = job_graph(
            vec![source(1, "a", 4), calc(2, "b", 2), calc(3, "c", 3)],
            vec![(1, 2, Rebalance, Pipelined), (2, 3, Rebalance, Blocking)],
        );
        let eg = ExecutionGraph::new(JobId(1), g.clone(), 0).unwrap();
        let all: Vec<_> = eg.execution_vertex_ids().collect();
        assert_eq!(required_slots(&eg, &all), 4);
        g.vertices[2].slot_sharing_group = "other".into();
        let eg = ExecutionGraph::new(JobId(1), g, 0).unwrap();
        assert_eq!(required_slots(&eg, &all), 7);
        // a subset: subtask 3 of a and subtask 1 of b and c
        let some = [
            ExecutionVertexId::new(vid(1), 3),
            ExecutionVertexId::new(vid(2), 1),
            ExecutionVertexId::new(vid(3), 1),
        ];
        assert_eq!(required_slots(&eg, &some), 3);
        assert_eq!(required_slots(&eg, &[]), 0);
    }
}
