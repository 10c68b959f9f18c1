//! Operator chaining, as Flink's `StreamingJobGraphGenerator` does it: neighbours joined by a
//! one-to-one FORWARD edge run in one task, so records pass between their operators by a function
//! call instead of through the network.

use std::collections::HashMap;
use strom_common::VertexId;
use strom_plan::{JobEdge, JobGraph, OperatorSpec, ShipStrategy};

/// Whether `edge` of `graph` may be chained: FORWARD, equal parallelism, same slot sharing group,
/// the source has only this outgoing edge and the target only this incoming edge, and the
/// target does not start with a source or a batch stage (which reads its inputs itself). The result type does not matter: BLOCKING forward edges
/// chain too.
pub fn is_chainable(graph: &JobGraph, edge: &JobEdge) -> bool {
    let (Some(s), Some(t)) = (graph.vertex(edge.source), graph.vertex(edge.target)) else {
        return false;
    };
    edge.ship_strategy == ShipStrategy::Forward
        && edge.source != edge.target
        && s.parallelism == t.parallelism
        && s.slot_sharing_group == t.slot_sharing_group
        && graph.outputs_of(s.id).count() == 1
        && graph.inputs_of(t.id).count() == 1
        && !matches!(
            t.operators.first(),
            Some(OperatorSpec::Source(_) | OperatorSpec::Stage(_))
        )
}

/// Merges chainable neighbours into one vertex: operators concatenated in chain order, the id
/// of the chain's head, names joined with `" -> "`, the parallelism and sharing group of the
/// chain, the smallest max parallelism. Other edges are re-pointed to the chains' heads. Vertices
/// keep the order of their heads; the function is idempotent.
pub fn chain(graph: &JobGraph) -> JobGraph {
    let n = graph.vertices.len();
    let pos: HashMap<VertexId, usize> = graph
        .vertices
        .iter()
        .enumerate()
        .map(|(i, v)| (v.id, i))
        .collect();
    // next[i]: the vertex chained after vertex i; chained_in[i]: whether i is chained to its input
    let mut next: Vec<Option<usize>> = vec![None; n];
    let mut chained_in = vec![false; n];
    let mut chainable_edge = vec![false; graph.edges.len()];
    for (k, e) in graph.edges.iter().enumerate() {
        if is_chainable(graph, e) {
            let (s, t) = (pos[&e.source], pos[&e.target]);
            next[s] = Some(t);
            chained_in[t] = true;
            chainable_edge[k] = true;
        }
    }
    let mut head_of: Vec<Option<usize>> = vec![None; n];
    let mut out = JobGraph {
        vertices: Vec::new(),
        edges: Vec::new(),
        ..graph.clone()
    };
    // heads first; then any vertex left over (only on a cyclic graph) starts its own chain
    let starts = (0..n).filter(|i| !chained_in[*i]).chain(0..n);
    for start in starts {
        if head_of[start].is_some() {
            continue;
        }
        let mut merged = graph.vertices[start].clone();
        merged.operator_ids = merged.operator_ids();
        head_of[start] = Some(start);
        let mut cur = start;
        while let Some(t) = next[cur].filter(|t| head_of[*t].is_none()) {
            let v = &graph.vertices[t];
            merged.name = format!("{} -> {}", merged.name, v.name);
            merged.operators.extend(v.operators.iter().cloned());
            merged.operator_ids.extend(v.operator_ids());
            merged.max_parallelism = merged.max_parallelism.min(v.max_parallelism);
            head_of[t] = Some(start);
            cur = t;
        }
        out.vertices.push(merged);
    }
    let head_id =
        |id: &VertexId| graph.vertices[head_of[pos[id]].expect("every vertex is in a chain")].id;
    for (k, e) in graph.edges.iter().enumerate() {
        if chainable_edge[k] && head_id(&e.source) == head_id(&e.target) {
            continue;
        }
        out.edges.push(JobEdge {
            source: head_id(&e.source),
            target: head_id(&e.target),
            ..e.clone()
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{calc, graph, job_graph, source, vid};
    use proptest::prelude::*;
    use strom_plan::ResultType;

    #[test]
    fn chains_a_forward_pipeline() {
        let mut g = job_graph(
            vec![
                source(1, "src", 2),
                calc(2, "calc", 2),
                calc(3, "agg", 4),
                calc(4, "sink", 4),
            ],
            vec![
                (1, 2, ShipStrategy::Forward, ResultType::Pipelined),
                (
                    2,
                    3,
                    ShipStrategy::Hash { keys: vec![] },
                    ResultType::Pipelined,
                ),
                (3, 4, ShipStrategy::Forward, ResultType::Blocking),
            ],
        );
        g.vertices[1].max_parallelism = 16;
        let c = chain(&g);
        c.validate().unwrap();
        let names: Vec<&str> = c.vertices.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["src -> calc", "agg -> sink"]);
        assert_eq!(c.vertices[0].id, vid(1));
        assert_eq!(c.vertices[0].operators.len(), 2);
        assert_eq!(c.vertices[0].max_parallelism, 16);
        assert_eq!(c.edges.len(), 1);
        assert_eq!((c.edges[0].source, c.edges[0].target), (vid(1), vid(3)));
        assert_eq!(chain(&c), c);
    }

    #[test]
    fn does_not_chain_fan_out_fan_in_groups_or_sources() {
        let fwd = || (ShipStrategy::Forward, ResultType::Pipelined);
        // fan-out: 1 -> 2 and 1 -> 3
        let g = job_graph(
            vec![source(1, "a", 2), calc(2, "b", 2), calc(3, "c", 2)],
            vec![(1, 2, fwd().0, fwd().1), (1, 3, fwd().0, fwd().1)],
        );
        assert_eq!(chain(&g).vertices.len(), 3);
        // fan-in: 1 -> 3 and 2 -> 3
        let g = job_graph(
            vec![source(1, "a", 2), source(2, "b", 2), calc(3, "c", 2)],
            vec![(1, 3, fwd().0, fwd().1), (2, 3, fwd().0, fwd().1)],
        );
        assert_eq!(chain(&g).vertices.len(), 3);
        // different sharing groups
        let mut g = job_graph(
            vec![source(1, "a", 2), calc(2, "b", 2)],
            vec![(1, 2, fwd().0, fwd().1)],
        );
        g.vertices[1].slot_sharing_group = "other".into();
        assert_eq!(chain(&g).vertices.len(), 2);
        // target starts with a source
        let g = job_graph(
            vec![source(1, "a", 2), source(2, "b", 2)],
            vec![(1, 2, fwd().0, fwd().1)],
        );
        assert_eq!(chain(&g).vertices.len(), 2);
    }

    /// Which chained vertex holds each original vertex (names are `v<i>`).
    fn owner(chained: &JobGraph) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for (i, v) in chained.vertices.iter().enumerate() {
            for part in v.name.split(" -> ") {
                m.insert(part.to_string(), i);
            }
        }
        m
    }

    proptest! {
        #[test]
        fn chaining_properties(g in graph()) {
            let c = chain(&g);
            prop_assert!(c.validate().is_ok(), "{:?}", c.validate());
            let ops = |g: &JobGraph| g.vertices.iter().map(|v| v.operators.len()).sum::<usize>();
            prop_assert_eq!(ops(&c), ops(&g));
            let own = owner(&c);
            prop_assert_eq!(own.len(), g.vertices.len());
            for e in &g.edges {
                let (s, t) = (&g.vertex(e.source).unwrap().name, &g.vertex(e.target).unwrap().name);
                if e.ship_strategy != ShipStrategy::Forward {
                    prop_assert_ne!(own[s], own[t], "merged across {}", e.ship_strategy.name());
                }
            }
            // maximal: nothing left to chain, hence idempotent
            for e in &c.edges {
                prop_assert!(!is_chainable(&c, e));
            }
            prop_assert_eq!(chain(&c), c.clone());
        }
    }
}
