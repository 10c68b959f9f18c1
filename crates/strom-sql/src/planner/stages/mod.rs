//! Translation rule for batch mode: DataFusion plans the query physically (as many partitions
//! as the job's parallelism), the [`cutter`] cuts the physical plan into stages at its
//! exchanges, and each stage becomes a JobVertex running its fragment
//! ([`OperatorSpec::Stage`]); the exchanges become BLOCKING edges, so the JobMaster schedules
//! the stages region by region, each once its inputs are finished.

mod cutter;
mod semi_join_reduction;
mod table_provider;

pub(super) use semi_join_reduction::reduce_aggregates;
pub(super) use table_provider::StromTable;

use super::*;
use cutter::{Exchange, Stage};
use datafusion::physical_plan::{displayable, ExecutionPlan};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use strom_plan::stage::{encode_fragment, TableSourceExec};

impl Builder<'_> {
    /// The stages of `plan`, a vertex each; returns the node of the last stage (the root).
    pub(super) fn stages(&mut self, plan: &LogicalPlan) -> Result<usize, SqlError> {
        let physical = physical_plan(self.state, plan, self.parallelism, self.joins)?;
        let stages = cutter::cut(physical).map_err(|e| SqlError::new(e.to_string()))?;
        let mut nodes: Vec<usize> = Vec::with_capacity(stages.len());
        for (k, stage) in stages.iter().enumerate() {
            let inputs = stage
                .inputs
                .iter()
                .map(|(producer, how)| {
                    let ship = match how {
                        Exchange::Hash(keys) => Ship::Hash(keys.clone()),
                        Exchange::Rebalance => Ship::Rebalance,
                        Exchange::Broadcast => Ship::Broadcast,
                    };
                    (nodes[*producer], ship)
                })
                .collect();
            let last = k + 1 == stages.len();
            let n = self.add(OperatorSpec::Stage(stage_spec(stage, last)?), inputs, None);
            self.nodes[n].parallelism = stage.parallelism() as u32;
            nodes.push(n);
        }
        nodes
            .last()
            .copied()
            .ok_or_else(|| SqlError::new("the query planned into no stage"))
    }
}

/// The join strategies the planner may use (Flink's `table.exec.disabled-operators`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct JoinStrategies {
    /// Equi-joins as hash joins (else sort-merge joins, which spill).
    pub hash: bool,
    /// A small side broadcast to every task of the join (a hash join's collected build side).
    pub broadcast: bool,
}

impl JoinStrategies {
    /// The strategies left by `disabled` (Flink's operator names, comma separated, any case).
    pub(super) fn from_disabled(disabled: &str) -> Result<Self, SqlError> {
        let (mut shuffle_hash, mut broadcast) = (true, true);
        for name in disabled.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "shufflehashjoin" => shuffle_hash = false,
                "broadcasthashjoin" => broadcast = false,
                "hashjoin" => (shuffle_hash, broadcast) = (false, false),
                "sortmergejoin" | "nestedloopjoin" | "hashagg" | "sortagg" => {
                    return Err(SqlError::new(format!(
                        "'table.exec.disabled-operators': Strom cannot disable {name}: it has no other strategy for what it does (only ShuffleHashJoin, BroadcastHashJoin and HashJoin can be disabled)"
                    )))
                }
                _ => {
                    return Err(SqlError::new(format!(
                        "'table.exec.disabled-operators': unknown operator '{name}' (Flink's names: ShuffleHashJoin, BroadcastHashJoin, HashJoin, SortMergeJoin, NestedLoopJoin, HashAgg, SortAgg)"
                    )))
                }
            }
        }
        Ok(Self {
            // with both hash strategies disabled, Flink plans sort-merge joins
            hash: shuffle_hash || broadcast,
            broadcast,
        })
    }
}

/// DataFusion's physical plan of `plan` with `parallelism` partitions. Dynamic filters stay
/// off: they are shared in memory between a join and the scan it filters, which may run in
/// other tasks here. So do round-robin repartitions: every scan already has `parallelism`
/// partitions, and one after a merge (to spread a projection) would cost a stage and lose
/// the ORDER BY order.
fn physical_plan(
    state: &SessionState,
    plan: &LogicalPlan,
    parallelism: u32,
    joins: JoinStrategies,
) -> Result<Arc<dyn ExecutionPlan>, SqlError> {
    let mut state = state.clone();
    let options = state.config_mut().options_mut();
    options.execution.target_partitions = parallelism as usize;
    options.optimizer.prefer_hash_join = joins.hash;
    if !joins.broadcast {
        options.optimizer.hash_join_single_partition_threshold = 0;
        options.optimizer.hash_join_single_partition_threshold_rows = 0;
    }
    options.optimizer.enable_round_robin_repartition = false;
    options.optimizer.enable_dynamic_filter_pushdown = false;
    options.optimizer.enable_join_dynamic_filter_pushdown = false;
    options.optimizer.enable_topk_dynamic_filter_pushdown = false;
    options.optimizer.enable_aggregate_dynamic_filter_pushdown = false;
    let planner = DefaultPhysicalPlanner::default();
    let physical = futures::executor::block_on(planner.create_physical_plan(plan, &state))
        .map_err(df_error)?;
    tracing::debug!(
        "physical plan:\n{}",
        displayable(physical.as_ref()).indent(false)
    );
    Ok(physical)
}

fn stage_spec(stage: &Stage, last: bool) -> Result<StageSpec, SqlError> {
    let plan =
        encode_fragment(Arc::clone(&stage.plan)).map_err(|e| SqlError::new(e.to_string()))?;
    let mut tables: Vec<TableSpec> = Vec::new();
    let _ = stage.plan.apply(|node| {
        if let Some(t) = node.downcast_ref::<TableSourceExec>() {
            if !tables.iter().any(|x| x.name == t.table.name) {
                tables.push(t.table.clone());
            }
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    Ok(StageSpec {
        name: stage_name(&stage.plan),
        plan,
        display: displayable(stage.plan.as_ref()).indent(false).to_string(),
        output: stage_schema(stage.plan.schema().fields(), last)?,
        tables,
    })
}

/// The fragment's operators from its first leaf up to its root, as Flink names a chain
/// (`StageInput -> HashJoin -> Aggregate`); projections and batch coalescing left out.
fn stage_name(plan: &Arc<dyn ExecutionPlan>) -> String {
    let mut names: Vec<String> = Vec::new();
    let mut node = Some(Arc::clone(plan));
    while let Some(n) = node {
        let name = n.name().trim_end_matches("Exec").to_string();
        if !matches!(name.as_str(), "Projection" | "CoalesceBatches" | "Filter")
            && names.last() != Some(&name)
        {
            names.push(name);
        }
        node = n.children().first().map(|c| Arc::clone(c));
    }
    names.reverse();
    names.join(" -> ")
}

/// A stage's output columns: for the sink after the last stage, and for plans and the UI.
/// Names need not be unique between stages (a join's output holds both sides' columns):
/// repeated names get a suffix. An intermediate stage may carry an aggregate's partial state,
/// of types SQL has no name for (unsigned counts, lists of distinct values): they are listed
/// as BIGINT and STRING here, their real types travel in the fragments.
fn stage_schema(
    fields: &datafusion::arrow::datatypes::Fields,
    last: bool,
) -> Result<RowSchema, SqlError> {
    let mut cols: Vec<Column> = Vec::new();
    for f in fields {
        let mut c = match column(f) {
            Ok(c) => c,
            Err(e) if last => return Err(e),
            Err(_) => Column {
                name: f.name().clone(),
                ty: if f.data_type().is_unsigned_integer() {
                    SqlType::BigInt
                } else {
                    SqlType::String
                },
                nullable: f.is_nullable(),
            },
        };
        let mut k = 1;
        while cols.iter().any(|x| x.name == c.name) {
            c.name = format!("{}_{k}", f.name());
            k += 1;
        }
        cols.push(c);
    }
    Ok(RowSchema::new(cols))
}

#[cfg(test)]
mod join_strategy_tests {
    use super::JoinStrategies;

    #[test]
    fn flinks_disabled_operators_choose_the_join_strategy() {
        let all = JoinStrategies {
            hash: true,
            broadcast: true,
        };
        assert_eq!(JoinStrategies::from_disabled("").unwrap(), all);
        assert_eq!(
            JoinStrategies::from_disabled("BroadcastHashJoin").unwrap(),
            JoinStrategies {
                hash: true,
                broadcast: false
            }
        );
        assert_eq!(
            JoinStrategies::from_disabled("ShuffleHashJoin").unwrap(),
            JoinStrategies {
                hash: true,
                broadcast: true
            }
        );
        let sort_merge = JoinStrategies {
            hash: false,
            broadcast: false,
        };
        for disabled in [
            "ShuffleHashJoin, BroadcastHashJoin",
            "hashjoin",
            " HashJoin ,",
        ] {
            assert_eq!(JoinStrategies::from_disabled(disabled).unwrap(), sort_merge);
        }
        let e = JoinStrategies::from_disabled("SortMergeJoin").unwrap_err();
        assert!(
            e.to_string().contains("cannot disable SortMergeJoin"),
            "{e}"
        );
        let e = JoinStrategies::from_disabled("HashJoin,Bogus").unwrap_err();
        assert!(e.to_string().contains("unknown operator 'Bogus'"), "{e}");
    }
}
