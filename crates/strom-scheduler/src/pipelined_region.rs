//! Pipelined regions (Flink's `SchedulingPipelinedRegion`): the subtasks connected through
//! PIPELINED results, which must run at the same time. Regions consume each other's BLOCKING
//! results; a region whose inputs finished can be scheduled on its own.
//!
//! Computed with a union-find over subtasks: a FORWARD pipelined edge joins subtask i to subtask
//! i, an all-to-all pipelined edge joins all subtasks of both vertices (in `O(p1 + p2)`, not per
//! subtask pair). Regions that depend on each other in a cycle (possible through a mix of
//! pipelined and blocking edges) are merged, as Flink does, so the region graph is a DAG.

use crate::execution_graph::{ExecutionGraph, ExecutionVertexId};
use crate::topology::Topology;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

/// One pipelined region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Its subtasks in priority order (topological order of vertices, then subtask index).
    pub tasks: Vec<ExecutionVertexId>,
    /// Indices of the regions whose BLOCKING results it consumes, ascending.
    pub inputs: Vec<usize>,
}

/// The pipelined regions of a job in topological order (every region comes after its inputs),
/// ties broken by priority of the regions' first subtasks.
pub fn pipelined_regions(eg: &ExecutionGraph) -> Vec<Region> {
    let topo = Topology::new(eg);
    let r = RegionGraph::new(&topo);
    r.members
        .iter()
        .zip(&r.inputs)
        .map(|(m, i)| Region {
            tasks: m.iter().map(|d| topo.task(*d)).collect(),
            inputs: i.clone(),
        })
        .collect()
}

/// Regions over dense subtask indices.
#[derive(Debug, Clone)]
pub(crate) struct RegionGraph {
    /// Dense subtasks of each region, ascending.
    pub members: Vec<Vec<usize>>,
    /// Input regions of each region, ascending; always smaller indices.
    pub inputs: Vec<Vec<usize>>,
    /// Region of each dense subtask.
    pub region_of: Vec<usize>,
}

impl RegionGraph {
    pub fn new(topo: &Topology) -> Self {
        let n = topo.num_tasks();
        let mut uf = UnionFind::new(n);
        for e in topo.edges.iter().filter(|e| e.pipelined) {
            let (s, t) = (topo.subtasks(e.source), topo.subtasks(e.target));
            if e.forward {
                for (a, b) in s.zip(t) {
                    uf.union(a, b);
                }
            } else {
                let first = s.start;
                for x in s.chain(t) {
                    uf.union(first, x);
                }
            }
        }
        // initial regions, numbered by their first subtask
        let mut id_of_root = vec![usize::MAX; n];
        let mut count = 0;
        let mut region_of: Vec<usize> = (0..n)
            .map(|d| {
                let root = uf.find(d);
                if id_of_root[root] == usize::MAX {
                    id_of_root[root] = count;
                    count += 1;
                }
                id_of_root[root]
            })
            .collect();
        let mut deps = blocking_dependencies(topo, &region_of);
        // merge cycles
        let (comp, comps) = strongly_connected(count, &deps);
        if comps < count {
            // renumber components by first subtask
            let mut renum = vec![usize::MAX; comps];
            let mut next = 0;
            for r in region_of.iter_mut() {
                let c = comp[*r];
                if renum[c] == usize::MAX {
                    renum[c] = next;
                    next += 1;
                }
                *r = renum[c];
            }
            count = comps;
            deps = blocking_dependencies(topo, &region_of);
        }
        // topological order of regions, ties by first subtask (= current numbering)
        let mut indeg = vec![0usize; count];
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); count];
        for (a, b) in &deps {
            indeg[*b] += 1;
            out[*a].push(*b);
        }
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..count).filter(|r| indeg[*r] == 0).map(Reverse).collect();
        let mut rank = vec![usize::MAX; count];
        let mut next = 0;
        while let Some(Reverse(r)) = ready.pop() {
            rank[r] = next;
            next += 1;
            for b in &out[r] {
                indeg[*b] -= 1;
                if indeg[*b] == 0 {
                    ready.push(Reverse(*b));
                }
            }
        }
        debug_assert_eq!(next, count, "cycles were merged");
        for r in region_of.iter_mut() {
            *r = rank[*r];
        }
        let mut members = vec![Vec::new(); count];
        for (d, r) in region_of.iter().enumerate() {
            members[*r].push(d);
        }
        let mut inputs = vec![Vec::new(); count];
        for (a, b) in deps {
            inputs[rank[b]].push(rank[a]);
        }
        for i in inputs.iter_mut() {
            i.sort_unstable();
        }
        Self {
            members,
            inputs,
            region_of,
        }
    }
}

/// Region pairs (producer, consumer) joined by a BLOCKING edge, without self-dependencies.
fn blocking_dependencies(topo: &Topology, region_of: &[usize]) -> BTreeSet<(usize, usize)> {
    let mut deps = BTreeSet::new();
    for e in topo.edges.iter().filter(|e| !e.pipelined) {
        let (s, t) = (topo.subtasks(e.source), topo.subtasks(e.target));
        if e.forward {
            for (a, b) in s.zip(t) {
                deps.insert((region_of[a], region_of[b]));
            }
        } else {
            let from: BTreeSet<usize> = s.map(|a| region_of[a]).collect();
            let to: BTreeSet<usize> = t.map(|b| region_of[b]).collect();
            for a in &from {
                for b in &to {
                    deps.insert((*a, *b));
                }
            }
        }
    }
    deps.retain(|(a, b)| a != b);
    deps
}

/// Kosaraju's algorithm, iterative: the component of each node and the number of components.
fn strongly_connected(n: usize, edges: &BTreeSet<(usize, usize)>) -> (Vec<usize>, usize) {
    let mut adj = vec![Vec::new(); n];
    let mut radj = vec![Vec::new(); n];
    for (a, b) in edges {
        adj[*a].push(*b);
        radj[*b].push(*a);
    }
    let mut visited = vec![false; n];
    let mut order = Vec::with_capacity(n);
    for start in 0..n {
        if visited[start] {
            continue;
        }
        visited[start] = true;
        let mut stack = vec![(start, 0usize)];
        while let Some(top) = stack.last_mut() {
            let (v, i) = *top;
            if let Some(&w) = adj[v].get(i) {
                top.1 += 1;
                if !visited[w] {
                    visited[w] = true;
                    stack.push((w, 0));
                }
            } else {
                order.push(v);
                stack.pop();
            }
        }
    }
    let mut comp = vec![usize::MAX; n];
    let mut count = 0;
    for &start in order.iter().rev() {
        if comp[start] != usize::MAX {
            continue;
        }
        comp[start] = count;
        let mut stack = vec![start];
        while let Some(v) = stack.pop() {
            for &w in &radj[v] {
                if comp[w] == usize::MAX {
                    comp[w] = count;
                    stack.push(w);
                }
            }
        }
        count += 1;
    }
    (comp, count)
}

struct UnionFind {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n).collect(),
            size: vec![1; n],
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a] < self.size[b] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b] = a;
        self.size[a] += self.size[b];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{calc, graph, job_graph, source, vid};
    use proptest::prelude::*;
    use std::collections::HashMap;
    use strom_common::JobId;
    use strom_plan::{ResultType::*, ShipStrategy::*};

    fn eg(g: strom_plan::JobGraph) -> ExecutionGraph {
        ExecutionGraph::new(JobId(1), g, 0).unwrap()
    }

    fn t(v: u128, s: u32) -> ExecutionVertexId {
        ExecutionVertexId::new(vid(v), s)
    }

    #[test]
    fn streaming_job_is_one_region() {
        let g = job_graph(
            vec![source(1, "a", 2), calc(2, "b", 3)],
            vec![(1, 2, Rebalance, Pipelined)],
        );
        let r = pipelined_regions(&eg(g));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].tasks.len(), 5);
    }

    #[test]
    fn forward_pipelined_splits_per_subtask_and_blocking_links_regions() {
        // a =FORWARD pipelined=> b =HASH blocking=> c
        let g = job_graph(
            vec![source(1, "a", 2), calc(2, "b", 2), calc(3, "c", 1)],
            vec![
                (1, 2, Forward, Pipelined),
                (2, 3, Hash { keys: vec![] }, Blocking),
            ],
        );
        let r = pipelined_regions(&eg(g));
        assert_eq!(r.len(), 3);
        assert_eq!(
            r[0],
            Region {
                tasks: vec![t(1, 0), t(2, 0)],
                inputs: vec![]
            }
        );
        assert_eq!(
            r[1],
            Region {
                tasks: vec![t(1, 1), t(2, 1)],
                inputs: vec![]
            }
        );
        assert_eq!(
            r[2],
            Region {
                tasks: vec![t(3, 0)],
                inputs: vec![0, 1]
            }
        );
    }

    #[test]
    fn blocking_forward_links_matching_subtasks() {
        let g = job_graph(
            vec![source(1, "a", 2), calc(2, "b", 2)],
            vec![(1, 2, Forward, Blocking)],
        );
        let r = pipelined_regions(&eg(g));
        let inputs: Vec<_> = r
            .iter()
            .map(|r| (r.tasks.clone(), r.inputs.clone()))
            .collect();
        assert_eq!(
            inputs,
            [
                (vec![t(1, 0)], vec![]),
                (vec![t(1, 1)], vec![]),
                (vec![t(2, 0)], vec![0]),
                (vec![t(2, 1)], vec![1])
            ]
        );
    }

    #[test]
    fn cyclic_region_dependencies_are_merged() {
        // a -pipelined-> e, d -pipelined-> b, a -blocking-> b, d -blocking-> e:
        // regions {a, e} and {d, b} would depend on each other
        let g = job_graph(
            vec![
                source(1, "a", 1),
                source(2, "d", 1),
                calc(3, "b", 1),
                calc(4, "e", 1),
            ],
            vec![
                (1, 4, Rebalance, Pipelined),
                (2, 3, Rebalance, Pipelined),
                (1, 3, Rebalance, Blocking),
                (2, 4, Rebalance, Blocking),
            ],
        );
        let r = pipelined_regions(&eg(g));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].tasks.len(), 4);
    }

    proptest! {
        #[test]
        fn regions_partition_and_respect_edges(g in graph()) {
            let eg = eg(crate::chain(&g));
            let regions = pipelined_regions(&eg);
            let mut region_of = HashMap::new();
            for (i, r) in regions.iter().enumerate() {
                for t in &r.tasks {
                    prop_assert!(region_of.insert(*t, i).is_none(), "{} in two regions", t);
                }
                for input in &r.inputs {
                    prop_assert!(*input < i, "inputs come first");
                }
            }
            prop_assert_eq!(region_of.len(), eg.num_tasks());
            for e in &eg.edges {
                let (s, t) = (eg.job_vertex(e.source).unwrap(), eg.job_vertex(e.target).unwrap());
                let pairs: Vec<(ExecutionVertexId, ExecutionVertexId)> = if e.ship_strategy == Forward {
                    s.subtasks.iter().zip(&t.subtasks).map(|(a, b)| (a.id, b.id)).collect()
                } else {
                    s.subtasks.iter().flat_map(|a| t.subtasks.iter().map(move |b| (a.id, b.id))).collect()
                };
                for (a, b) in pairs {
                    let (ra, rb) = (region_of[&a], region_of[&b]);
                    if e.result_type == Pipelined {
                        prop_assert_eq!(ra, rb);
                    } else if ra != rb {
                        prop_assert!(regions[rb].inputs.contains(&ra));
                    }
                }
            }
        }
    }
}
