//! Test helpers: small JobGraphs by hand and random valid DAGs for property tests.

use proptest::prelude::*;
use std::collections::BTreeMap;
use strom_common::{JobType, VertexId};
use strom_plan::{
    CalcSpec, JobEdge, JobGraph, JobVertex, OperatorSpec, ResultType, RowSchema, ShipStrategy,
    SourceSpec, TableSpec,
};

pub fn vid(i: u128) -> VertexId {
    VertexId(i)
}

pub fn source_op(name: &str) -> OperatorSpec {
    OperatorSpec::Source(SourceSpec {
        table: TableSpec {
            name: name.to_string(),
            schema: RowSchema::new(vec![]),
            options: BTreeMap::new(),
            watermark: None,
            primary_key: vec![],
            partition_keys: vec![],
        },
        projection: vec![],
        output: RowSchema::new(vec![]),
        watermark: None,
        computed: None,
        processing_time: false,
    })
}

pub fn calc_op() -> OperatorSpec {
    OperatorSpec::Calc(CalcSpec {
        input: RowSchema::new(vec![]),
        filter: None,
        exprs: vec![],
        output: RowSchema::new(vec![]),
    })
}

pub fn vertex(id: u128, name: &str, parallelism: u32, ops: Vec<OperatorSpec>) -> JobVertex {
    JobVertex {
        id: vid(id),
        name: name.to_string(),
        parallelism,
        max_parallelism: 128,
        slot_sharing_group: "default".to_string(),
        operators: ops,
        operator_ids: Vec::new(),
    }
}

pub fn source(id: u128, name: &str, parallelism: u32) -> JobVertex {
    vertex(id, name, parallelism, vec![source_op(name)])
}

pub fn calc(id: u128, name: &str, parallelism: u32) -> JobVertex {
    vertex(id, name, parallelism, vec![calc_op()])
}

pub fn job_graph(
    vertices: Vec<JobVertex>,
    edges: Vec<(u128, u128, ShipStrategy, ResultType)>,
) -> JobGraph {
    JobGraph {
        job_id: None,
        name: "test".to_string(),
        job_type: JobType::Batch,
        config: BTreeMap::new(),
        vertices,
        edges: edges
            .into_iter()
            .map(|(s, t, ship_strategy, result_type)| JobEdge {
                source: vid(s),
                target: vid(t),
                ship_strategy,
                result_type,
                input_index: 0,
            })
            .collect(),
    }
}

#[derive(Debug, Clone)]
struct VertexParams {
    parallelism: u32,
    extra_max: u32,
    group: bool,
    source_with_inputs: bool,
    extra_ops: usize,
}

fn vertex_params() -> impl Strategy<Value = VertexParams> {
    (
        prop::sample::select(vec![1u32, 2, 2, 3, 4]),
        0u32..4,
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.1),
        0usize..3,
    )
        .prop_map(
            |(parallelism, extra_max, group, source_with_inputs, extra_ops)| VertexParams {
                parallelism,
                extra_max,
                group,
                source_with_inputs,
                extra_ops,
            },
        )
}

/// An optional edge: ship strategy 0 = FORWARD (REBALANCE when parallelisms differ), 1 = HASH,
/// 2 = REBALANCE, 3 = BROADCAST; and whether it is BLOCKING.
fn edge_params() -> impl Strategy<Value = Option<(u8, bool)>> {
    prop::option::weighted(
        0.4,
        (prop::sample::select(vec![0u8, 0, 1, 2, 3]), any::<bool>()),
    )
}

/// Random valid JobGraphs: 1 to 7 vertices named `v<i>` with ids `i + 1`, parallelism 1 to 4, one
/// or two sharing groups, random edges of every ship strategy and result type, vertex order
/// shuffled.
pub fn graph() -> impl Strategy<Value = JobGraph> {
    (1usize..=7)
        .prop_flat_map(|n| {
            (
                prop::collection::vec(vertex_params(), n),
                prop::collection::vec(edge_params(), n * (n - 1) / 2),
                prop::collection::vec(any::<u32>(), n),
            )
        })
        .prop_map(|(vs, es, keys)| build(&vs, &es, &keys))
}

fn build(vs: &[VertexParams], es: &[Option<(u8, bool)>], keys: &[u32]) -> JobGraph {
    let n = vs.len();
    let mut edges = Vec::new();
    let mut has_input = vec![false; n];
    let mut k = 0;
    for i in 0..n {
        for j in i + 1..n {
            if let Some((kind, blocking)) = es[k] {
                let ship = match kind {
                    0 if vs[i].parallelism == vs[j].parallelism => ShipStrategy::Forward,
                    1 => ShipStrategy::Hash { keys: vec![] },
                    3 => ShipStrategy::Broadcast,
                    _ => ShipStrategy::Rebalance,
                };
                let rt = if blocking {
                    ResultType::Blocking
                } else {
                    ResultType::Pipelined
                };
                edges.push((i as u128 + 1, j as u128 + 1, ship, rt));
                has_input[j] = true;
            }
            k += 1;
        }
    }
    let mut vertices: Vec<JobVertex> = vs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let name = format!("v{i}");
            let mut ops = if !has_input[i] || p.source_with_inputs {
                vec![source_op(&name)]
            } else {
                vec![calc_op()]
            };
            ops.extend((0..p.extra_ops).map(|_| calc_op()));
            let mut v = vertex(i as u128 + 1, &name, p.parallelism, ops);
            v.max_parallelism = p.parallelism + p.extra_max;
            if p.group {
                v.slot_sharing_group = "other".to_string();
            }
            v
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|i| (keys[*i], *i));
    let mut shuffled: Vec<Option<JobVertex>> = vertices.drain(..).map(Some).collect();
    let vertices = order
        .iter()
        .map(|i| shuffled[*i].take().expect("permutation"))
        .collect();
    let g = job_graph(vertices, edges);
    debug_assert!(g.validate().is_ok(), "{:?}", g.validate());
    g
}
