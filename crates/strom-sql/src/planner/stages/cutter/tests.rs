use super::*;
use datafusion::physical_expr::expressions::{lit, BinaryExpr};
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::HashJoinExecBuilder;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::union::UnionExec;
use proptest::prelude::*;
use strom_plan::stage::{PartitionUnionExec, TableSourceExec};
use strom_plan::types::{Column as RowColumn, RowSchema, SqlType};
use strom_plan::TableSpec;

fn scan(name: &str, partitions: usize) -> Arc<dyn ExecutionPlan> {
    let table = TableSpec {
        name: name.into(),
        schema: RowSchema::new(vec![
            RowColumn {
                name: "a".into(),
                ty: SqlType::BigInt,
                nullable: false,
            },
            RowColumn {
                name: "b".into(),
                ty: SqlType::BigInt,
                nullable: true,
            },
        ]),
        options: Default::default(),
        watermark: None,
        primary_key: vec![],
        partition_keys: vec![],
    };
    Arc::new(TableSourceExec::new(table, vec![0, 1], partitions))
}

fn column(plan: &Arc<dyn ExecutionPlan>, i: usize) -> Arc<dyn PhysicalExpr> {
    Arc::new(Column::new(plan.schema().field(i).name(), i))
}

fn hash(input: Arc<dyn ExecutionPlan>, n: usize) -> Arc<dyn ExecutionPlan> {
    let key = column(&input, 0);
    Arc::new(RepartitionExec::try_new(input, Partitioning::Hash(vec![key], n)).unwrap())
}

fn filter(input: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    let predicate = Arc::new(BinaryExpr::new(
        column(&input, 0),
        datafusion::logical_expr::Operator::Gt,
        lit(1i64),
    ));
    Arc::new(FilterExec::try_new(predicate, input).unwrap())
}

fn ordering(input: &Arc<dyn ExecutionPlan>) -> LexOrdering {
    LexOrdering::new(vec![PhysicalSortExpr::new_default(column(input, 0))]).unwrap()
}

fn sort_merge(input: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    let order = ordering(&input);
    let sorted = Arc::new(SortExec::new(order.clone(), input).with_preserve_partitioning(true));
    Arc::new(SortPreservingMergeExec::new(order, sorted))
}

fn names(stages: &[Stage]) -> Vec<String> {
    stages
        .iter()
        .map(|s| {
            displayable(s.plan.as_ref())
                .one_line()
                .to_string()
                .trim()
                .to_string()
        })
        .collect()
}

#[test]
fn a_hash_exchange_and_a_gather_make_three_stages() {
    let plan = Arc::new(CoalescePartitionsExec::new(filter(hash(scan("t", 3), 2))));
    let stages = cut(plan).unwrap();
    assert_eq!(stages.len(), 3, "{:?}", names(&stages));
    assert_eq!(
        stages.iter().map(Stage::parallelism).collect::<Vec<_>>(),
        [3, 2, 1]
    );
    assert!(stages[0].inputs.is_empty());
    assert_eq!(stages[1].inputs, [(0, Exchange::Hash(vec![0]))]);
    assert_eq!(stages[2].inputs, [(1, Exchange::Rebalance)]);
    // the consumers read their inputs through leaves numbered from 0
    let leaf = stages[1].plan.children()[0];
    let leaf = leaf.downcast_ref::<StageInputExec>().unwrap();
    assert_eq!(
        (leaf.input, leaf.partitions, leaf.mode),
        (0, 2, InputMode::Merged)
    );
}

#[test]
fn a_hash_key_expression_is_computed_by_the_producer() {
    let input = scan("t", 2);
    let key = Arc::new(BinaryExpr::new(
        column(&input, 0),
        datafusion::logical_expr::Operator::Plus,
        column(&input, 1),
    ));
    let plan = Arc::new(RepartitionExec::try_new(input, Partitioning::Hash(vec![key], 2)).unwrap());
    let stages = cut(plan).unwrap();
    assert_eq!(stages[1].inputs, [(0, Exchange::Hash(vec![2]))]);
    assert_eq!(stages[0].plan.schema().fields().len(), 3);
    // the consumer sees the producer's columns without the key
    assert_eq!(stages[1].plan.schema().fields().len(), 2);
}

#[test]
fn a_merge_reads_one_sorted_run_per_producer_in_one_task() {
    let stages = cut(sort_merge(scan("t", 4))).unwrap();
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[1].parallelism(), 1);
    let leaf = stages[1].plan.children()[0];
    let leaf = leaf.downcast_ref::<StageInputExec>().unwrap();
    assert_eq!((leaf.partitions, leaf.mode), (4, InputMode::PerProducer));
}

#[test]
fn an_inner_join_broadcasts_its_collected_build_side() {
    let plan = Arc::new(CrossJoinExec::new(scan("small", 2), scan("big", 3)));
    let stages = cut(plan).unwrap();
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[1].inputs, [(0, Exchange::Broadcast)]);
    assert_eq!(stages[1].parallelism(), 3);
    // a build side already gathered by an exchange is broadcast by that exchange
    let gathered = Arc::new(CoalescePartitionsExec::new(scan("small", 2)));
    let stages = cut(Arc::new(CrossJoinExec::new(gathered, scan("big", 3)))).unwrap();
    assert_eq!(stages.len(), 2, "{:?}", names(&stages));
    assert_eq!(stages[1].inputs, [(0, Exchange::Broadcast)]);
}

#[test]
fn a_left_join_on_a_collected_build_side_runs_in_one_task() {
    let (l, r) = (scan("l", 2), scan("r", 2));
    let on = vec![(column(&l, 0), column(&r, 0))];
    let join = HashJoinExecBuilder::new(l, r, on, JoinType::Left)
        .with_partition_mode(PartitionMode::CollectLeft)
        .build_exec()
        .unwrap();
    let stages = cut(join).unwrap();
    assert_eq!(stages.len(), 3);
    assert_eq!(stages[2].parallelism(), 1);
    assert_eq!(
        stages[2].inputs,
        [(0, Exchange::Rebalance), (1, Exchange::Rebalance)]
    );
}

#[test]
fn a_union_runs_partition_by_partition() {
    // exchanged inputs of 2 partitions and a scan of 3: the narrower are spread over 3
    let union = UnionExec::try_new(vec![
        hash(scan("a", 2), 2),
        scan("b", 3),
        hash(scan("c", 2), 3),
    ])
    .unwrap();
    let stages = cut(union).unwrap();
    let root = stages.last().unwrap();
    assert_eq!(root.parallelism(), 3, "{:?}", names(&stages));
    assert!(root.plan.is::<PartitionUnionExec>());
    let exchanges: Vec<&Exchange> = root.inputs.iter().map(|(_, how)| how).collect();
    assert_eq!(
        exchanges,
        [&Exchange::Rebalance, &Exchange::Hash(vec![0])],
        "{:?}",
        names(&stages)
    );
}

/// Plan shapes the cutter meets: scans, filters, hash and round-robin exchanges, gathers,
/// sorted merges and broadcast joins, nested.
#[derive(Debug, Clone)]
enum Shape {
    Scan(usize),
    Filter(Box<Shape>),
    Hash(Box<Shape>, usize),
    RoundRobin(Box<Shape>, usize),
    Gather(Box<Shape>),
    SortMerge(Box<Shape>),
    Cross(Box<Shape>, Box<Shape>),
}

fn shapes() -> impl Strategy<Value = Shape> {
    (1usize..5)
        .prop_map(Shape::Scan)
        .prop_recursive(5, 24, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|s| Shape::Filter(Box::new(s))),
                (inner.clone(), 1usize..5).prop_map(|(s, n)| Shape::Hash(Box::new(s), n)),
                (inner.clone(), 1usize..5).prop_map(|(s, n)| Shape::RoundRobin(Box::new(s), n)),
                inner.clone().prop_map(|s| Shape::Gather(Box::new(s))),
                inner.clone().prop_map(|s| Shape::SortMerge(Box::new(s))),
                (inner.clone(), inner).prop_map(|(a, b)| Shape::Cross(Box::new(a), Box::new(b))),
            ]
        })
}

fn build(shape: &Shape) -> Arc<dyn ExecutionPlan> {
    match shape {
        Shape::Scan(p) => scan("t", *p),
        Shape::Filter(s) => filter(build(s)),
        Shape::Hash(s, n) => hash(build(s), *n),
        Shape::RoundRobin(s, n) => {
            Arc::new(RepartitionExec::try_new(build(s), Partitioning::RoundRobinBatch(*n)).unwrap())
        }
        Shape::Gather(s) => Arc::new(CoalescePartitionsExec::new(build(s))),
        Shape::SortMerge(s) => sort_merge(build(s)),
        Shape::Cross(a, b) => Arc::new(CrossJoinExec::new(build(a), build(b))),
    }
}

/// The plan of stage `s` with each input leaf replaced by its producer's plan behind the
/// exchange it stands for.
fn reassemble(stages: &[Stage], s: usize) -> Arc<dyn ExecutionPlan> {
    rebuild(stages, s, &stages[s].plan, false)
}

fn rebuild(
    stages: &[Stage],
    s: usize,
    node: &Arc<dyn ExecutionPlan>,
    under_merge: bool,
) -> Arc<dyn ExecutionPlan> {
    if let Some(leaf) = node.downcast_ref::<StageInputExec>() {
        let (producer, how) = &stages[s].inputs[leaf.input as usize];
        let inner = reassemble(stages, *producer);
        return match how {
            _ if under_merge => inner,
            Exchange::Broadcast => inner,
            Exchange::Hash(keys) => {
                let keys = keys.iter().map(|k| column(&inner, *k)).collect();
                Arc::new(
                    RepartitionExec::try_new(inner, Partitioning::Hash(keys, leaf.partitions))
                        .unwrap(),
                )
            }
            Exchange::Rebalance if leaf.partitions == 1 => {
                Arc::new(CoalescePartitionsExec::new(inner))
            }
            Exchange::Rebalance => Arc::new(
                RepartitionExec::try_new(inner, Partitioning::RoundRobinBatch(leaf.partitions))
                    .unwrap(),
            ),
        };
    }
    let merge = node.is::<SortPreservingMergeExec>();
    let children: Vec<Arc<dyn ExecutionPlan>> = node
        .children()
        .into_iter()
        .map(|child| rebuild(stages, s, child, merge))
        .collect();
    if children.is_empty() {
        return Arc::clone(node);
    }
    replace_children_if_necessary(Arc::clone(node), children).unwrap()
}

/// The plan as the cutter should see it: round robin into one partition is a gather, and a
/// build side that was gathered is broadcast by that exchange instead.
fn expected(shape: &Shape) -> Arc<dyn ExecutionPlan> {
    fn norm(shape: &Shape) -> Shape {
        match shape {
            Shape::Scan(p) => Shape::Scan(*p),
            Shape::Filter(s) => Shape::Filter(Box::new(norm(s))),
            Shape::Hash(s, n) => Shape::Hash(Box::new(norm(s)), *n),
            Shape::RoundRobin(s, 1) => Shape::Gather(Box::new(norm(s))),
            Shape::RoundRobin(s, n) => Shape::RoundRobin(Box::new(norm(s)), *n),
            Shape::Gather(s) => Shape::Gather(Box::new(norm(s))),
            Shape::SortMerge(s) => Shape::SortMerge(Box::new(norm(s))),
            Shape::Cross(a, b) => match norm(a) {
                Shape::Gather(a) => Shape::Cross(a, Box::new(norm(b))),
                a => Shape::Cross(Box::new(a), Box::new(norm(b))),
            },
        }
    }
    build(&norm(shape))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Cut, then put back together: the original plan, and every stage's leaves partitioned
    /// as the stage runs.
    #[test]
    fn a_cut_plan_reassembles_into_the_original(shape in shapes()) {
        let plan = build(&shape);
        let stages = cut(Arc::clone(&plan)).unwrap();
        for (i, st) in stages.iter().enumerate() {
            for (p, _) in &st.inputs {
                prop_assert!(*p < i, "stage {i} reads a later stage {p}");
            }
        }
        let back = reassemble(&stages, stages.len() - 1);
        prop_assert_eq!(
            displayable(back.as_ref()).indent(false).to_string(),
            displayable(expected(&shape).as_ref()).indent(false).to_string()
        );
    }
}
