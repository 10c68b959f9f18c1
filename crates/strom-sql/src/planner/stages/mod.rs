//! Translation rule for batch mode: DataFusion plans the query physically (as many partitions
//! as the job's parallelism), the [`cutter`] cuts the physical plan into stages at its
//! exchanges, and each stage becomes a JobVertex running its fragment
//! ([`OperatorSpec::Stage`]); the exchanges become BLOCKING edges, so the JobMaster schedules
//! the stages region by region, each once its inputs are finished.

mod cutter;
mod table_provider;

pub(super) use table_provider::StromTable;

use super::*;
use cutter::{Exchange, Stage};
use datafusion::physical_plan::{displayable, ExecutionPlan};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use strom_plan::stage::{encode_fragment, TableSourceExec};

impl Builder<'_> {
    /// The stages of `plan`, a vertex each; returns the node of the last stage (the root).
    pub(super) fn stages(&mut self, plan: &LogicalPlan) -> Result<usize, SqlError> {
        let physical = physical_plan(self.state, plan, self.parallelism)?;
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

/// DataFusion's physical plan of `plan` with `parallelism` partitions. Dynamic filters stay
/// off: they are shared in memory between a join and the scan it filters, which may run in
/// other tasks here. So do round-robin repartitions: every scan already has `parallelism`
/// partitions, and one after a merge (to spread a projection) would cost a stage and lose
/// the ORDER BY order.
fn physical_plan(
    state: &SessionState,
    plan: &LogicalPlan,
    parallelism: u32,
) -> Result<Arc<dyn ExecutionPlan>, SqlError> {
    let mut state = state.clone();
    let options = state.config_mut().options_mut();
    options.execution.target_partitions = parallelism as usize;
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
