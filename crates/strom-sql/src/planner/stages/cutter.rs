//! The stage cutter: DataFusion's physical plan cut at its exchanges into stages, as Ballista
//! and datafusion-distributed do. Each exchange becomes a JobGraph edge between the stage that
//! produces its input and the stage that reads it through a [`StageInputExec`] leaf:
//!
//! - `RepartitionExec` by hash: a HASH edge on the key columns (computed by the producer when
//!   a key is an expression); round robin: REBALANCE;
//! - `CoalescePartitionsExec`: everything to one task (its `fetch` kept as a limit);
//! - `SortPreservingMergeExec`: everything to one task, which merges the producers' sorted
//!   runs, one input partition per producer;
//! - `UnionExec` stays in its stage as a [`PartitionUnionExec`] (partition `s` of each input);
//!   an input with fewer partitions than the widest is spread over them (REBALANCE);
//! - the build side a join collects whole (`HashJoinExec` in `CollectLeft` mode,
//!   `NestedLoopJoinExec`, `CrossJoinExec`): a BROADCAST edge when the join never emits a build
//!   row on its own; otherwise both sides go to one task, since every task would emit the
//!   build rows it did not match.
//!
//! Task `s` of a stage runs partition `s` of its fragment, so a fragment's leaves must be
//! partitioned as its root: [`Cutter::finish_stage`] checks it.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::JoinType;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::joins::{
    CrossJoinExec, HashJoinExec, NestedLoopJoinExec, PartitionMode,
};
use datafusion::physical_plan::limit::GlobalLimitExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{
    displayable, ExecutionPlan, ExecutionPlanProperties, Partitioning,
};
use std::sync::Arc;
use strom_plan::stage::{InputMode, PartitionUnionExec, StageInputExec};

/// How an exchange distributes a producer stage's rows over the consumer stage's tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exchange {
    /// By a hash of these columns of the producer's output.
    Hash(Vec<usize>),
    /// Round robin (to one task: everything to it).
    Rebalance,
    /// Every row to every task.
    Broadcast,
}

/// A stage: its fragment, and the stages it reads, by input index.
#[derive(Debug, Clone)]
pub(crate) struct Stage {
    pub plan: Arc<dyn ExecutionPlan>,
    pub inputs: Vec<(usize, Exchange)>,
}

impl Stage {
    pub fn parallelism(&self) -> usize {
        self.plan.output_partitioning().partition_count()
    }
}

/// Why a plan cannot be cut into stages.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CutError {
    #[error("not supported in batch mode yet: {0}")]
    Unsupported(String),
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
}

/// Cuts `plan` into stages, producers before their consumers; the last is the root's.
pub(crate) fn cut(plan: Arc<dyn ExecutionPlan>) -> Result<Vec<Stage>, CutError> {
    let mut c = Cutter::default();
    let root = c.cut(plan)?;
    c.finish_stage(root)?;
    Ok(c.stages)
}

#[derive(Default)]
struct Cutter {
    stages: Vec<Stage>,
    /// Exchanges cut so far: the producer stage and the distribution. A [`StageInputExec`]
    /// holds its exchange's position here until its own stage is finished.
    exchanges: Vec<(usize, Exchange)>,
}

impl Cutter {
    fn cut(&mut self, plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>, CutError> {
        let children = plan
            .children()
            .into_iter()
            .map(|c| self.cut(Arc::clone(c)))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(r) = plan.downcast_ref::<RepartitionExec>() {
            let child = children.into_iter().next().expect("one input");
            if r.preserve_order() {
                return Err(CutError::Unsupported(
                    "an order-preserving repartition".into(),
                ));
            }
            return match r.partitioning() {
                Partitioning::Hash(exprs, n) => {
                    let schema = child.schema();
                    let (child, keys) = with_key_columns(child, exprs)?;
                    let leaf = self.exchange(child, Exchange::Hash(keys), *n, InputMode::Merged)?;
                    // its consumer does not see the keys the producer added
                    let leaf = leaf
                        .downcast_ref::<StageInputExec>()
                        .expect("a stage input");
                    Ok(Arc::new(StageInputExec::new(
                        leaf.input, schema, *n, leaf.mode,
                    )))
                }
                Partitioning::RoundRobinBatch(n) => {
                    self.exchange(child, Exchange::Rebalance, *n, InputMode::Merged)
                }
                other => Err(CutError::Unsupported(format!("repartitioning {other}"))),
            };
        }
        if let Some(c) = plan.downcast_ref::<CoalescePartitionsExec>() {
            let child = children.into_iter().next().expect("one input");
            let leaf = self.exchange(child, Exchange::Rebalance, 1, InputMode::Merged)?;
            return Ok(match c.fetch() {
                Some(fetch) => Arc::new(GlobalLimitExec::new(leaf, 0, Some(fetch))),
                None => leaf,
            });
        }
        if let Some(m) = plan.downcast_ref::<SortPreservingMergeExec>() {
            let child = children.into_iter().next().expect("one input");
            let runs = child.output_partitioning().partition_count();
            let leaf = self.exchange(child, Exchange::Rebalance, runs, InputMode::PerProducer)?;
            return Ok(Arc::new(
                SortPreservingMergeExec::new(m.expr().clone(), leaf).with_fetch(m.fetch()),
            ));
        }
        if plan.is::<UnionExec>() {
            return self.union(children, plan.schema());
        }
        if let Some(join_type) = collected_build_side(plan.as_ref()) {
            let mut children = children.into_iter();
            let (build, probe) = (
                children.next().expect("build"),
                children.next().expect("probe"),
            );
            let children = if broadcast_safe(join_type) {
                vec![self.broadcast(build)?, probe]
            } else {
                vec![
                    self.exchange(build, Exchange::Rebalance, 1, InputMode::Merged)?,
                    self.exchange(probe, Exchange::Rebalance, 1, InputMode::Merged)?,
                ]
            };
            return Ok(replace_children_if_necessary(plan, children)?);
        }
        if children.is_empty() {
            return Ok(plan);
        }
        Ok(replace_children_if_necessary(plan, children)?)
    }

    /// Ends the stage of `child` at an exchange: the leaf its consumer reads it through, with
    /// `partitions` partitions.
    fn exchange(
        &mut self,
        child: Arc<dyn ExecutionPlan>,
        how: Exchange,
        partitions: usize,
        mode: InputMode,
    ) -> Result<Arc<dyn ExecutionPlan>, CutError> {
        let schema = child.schema();
        let producer = self.finish_stage(child)?;
        self.exchanges.push((producer, how));
        let id = (self.exchanges.len() - 1) as u32;
        Ok(Arc::new(StageInputExec::new(id, schema, partitions, mode)))
    }

    /// UNION ALL: partition by partition, each input with as many partitions as the widest
    /// (an input of another width is spread over them by round robin).
    fn union(
        &mut self,
        children: Vec<Arc<dyn ExecutionPlan>>,
        schema: datafusion::arrow::datatypes::SchemaRef,
    ) -> Result<Arc<dyn ExecutionPlan>, CutError> {
        let width = children
            .iter()
            .map(|c| c.output_partitioning().partition_count())
            .max()
            .unwrap_or(1);
        let inputs = children
            .into_iter()
            .map(|c| {
                if c.output_partitioning().partition_count() == width {
                    Ok(c)
                } else {
                    self.exchange(c, Exchange::Rebalance, width, InputMode::Merged)
                }
            })
            .collect::<Result<Vec<_>, CutError>>()?;
        Ok(Arc::new(PartitionUnionExec::try_new(inputs, schema)?))
    }

    /// A join's build side, sent whole to every task of the join's stage. A build side that
    /// is already gathered into one task by an exchange is broadcast by that exchange instead.
    fn broadcast(
        &mut self,
        build: Arc<dyn ExecutionPlan>,
    ) -> Result<Arc<dyn ExecutionPlan>, CutError> {
        if let Some(leaf) = build.downcast_ref::<StageInputExec>() {
            let exchange = &mut self.exchanges[leaf.input as usize];
            if exchange.1 == Exchange::Rebalance && leaf.partitions == 1 {
                exchange.1 = Exchange::Broadcast;
                return Ok(build);
            }
        }
        self.exchange(build, Exchange::Broadcast, 1, InputMode::Merged)
    }

    /// Makes `fragment` a stage: its input leaves numbered in order, each checked against the
    /// stage's parallelism. Returns the stage's index.
    fn finish_stage(&mut self, fragment: Arc<dyn ExecutionPlan>) -> Result<usize, CutError> {
        let parallelism = fragment.output_partitioning().partition_count();
        let mut inputs = Vec::new();
        let mut problem = None;
        let plan = fragment
            .transform_up(|node| {
                let Some(leaf) = node.downcast_ref::<StageInputExec>() else {
                    return Ok(Transformed::no(node));
                };
                let (producer, how) = self.exchanges[leaf.input as usize].clone();
                let fits = match (leaf.mode, &how) {
                    (_, Exchange::Broadcast) => leaf.partitions == 1,
                    (InputMode::Merged, _) => leaf.partitions == parallelism,
                    (InputMode::PerProducer, _) => parallelism == 1,
                };
                if !fits && problem.is_none() {
                    problem = Some(format!(
                        "an exchange into {} partitions feeds a stage of {parallelism}",
                        leaf.partitions
                    ));
                }
                let input = inputs.len() as u32;
                inputs.push((producer, how));
                Ok(Transformed::yes(
                    Arc::new(leaf.with_input(input)) as Arc<dyn ExecutionPlan>
                ))
            })?
            .data;
        if let Some(p) = problem {
            return Err(CutError::Unsupported(format!(
                "{p} in\n{}",
                displayable(plan.as_ref()).indent(false)
            )));
        }
        self.stages.push(Stage { plan, inputs });
        Ok(self.stages.len() - 1)
    }
}

/// The join type of a join that executes its build side (input 0) whole in each partition.
fn collected_build_side(plan: &dyn ExecutionPlan) -> Option<JoinType> {
    if let Some(h) = plan.downcast_ref::<HashJoinExec>() {
        return (*h.partition_mode() == PartitionMode::CollectLeft).then_some(*h.join_type());
    }
    if let Some(n) = plan.downcast_ref::<NestedLoopJoinExec>() {
        return Some(*n.join_type());
    }
    plan.is::<CrossJoinExec>().then_some(JoinType::Inner)
}

/// Whether a join emits build rows only when a probe row matches them: then each task may
/// hold a copy of the whole build side.
fn broadcast_safe(join_type: JoinType) -> bool {
    matches!(
        join_type,
        JoinType::Inner
            | JoinType::Right
            | JoinType::RightSemi
            | JoinType::RightAnti
            | JoinType::RightMark
    )
}

/// The hash keys as columns of the producer's output: a key that is an expression is computed
/// by a projection appended to the producer (its consumers ignore the extra columns).
fn with_key_columns(
    child: Arc<dyn ExecutionPlan>,
    exprs: &[Arc<dyn PhysicalExpr>],
) -> Result<(Arc<dyn ExecutionPlan>, Vec<usize>), CutError> {
    let columns: Option<Vec<usize>> = exprs
        .iter()
        .map(|e| e.downcast_ref::<Column>().map(Column::index))
        .collect();
    if let Some(keys) = columns {
        return Ok((child, keys));
    }
    let schema = child.schema();
    let mut projection: Vec<(Arc<dyn PhysicalExpr>, String)> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            (
                Arc::new(Column::new(f.name(), i)) as Arc<dyn PhysicalExpr>,
                f.name().clone(),
            )
        })
        .collect();
    let first = projection.len();
    for (k, e) in exprs.iter().enumerate() {
        projection.push((Arc::clone(e), format!("__strom_hash_key_{k}")));
    }
    let keys = (first..first + exprs.len()).collect();
    Ok((Arc::new(ProjectionExec::try_new(projection, child)?), keys))
}

#[cfg(test)]
mod tests;
