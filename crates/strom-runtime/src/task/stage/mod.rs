//! A batch stage's task: it decodes its fragment of DataFusion's physical plan, binds the
//! fragment's leaves (a table's connector: [`source`]; the task's input gates: [`input`]),
//! runs partition `subtask` of it on a single-threaded Tokio runtime of its own and passes the
//! rows down its chain (a sink) or to its result partitions. It sorts, joins and aggregates
//! within its slot's share of the managed memory ([`crate::batch_memory`]) and spills beyond it.

mod input;
mod source;

use super::input_processor::InputReceiver;
use super::{finish, Outputs, TaskContext};
use crate::connector::ConnectorError;
use crate::deployment::TaskDeploymentDescriptor;
use crate::error::TaskError;
use crate::operator::Chain;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext as DfTaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use strom_plan::functions::session_context;
use strom_plan::stage::{decode_fragment, StageInputExec, TableSourceExec};
use strom_plan::StageSpec;

/// Runs the task of a stage to the end of its fragment's partition.
pub(in crate::task) fn run_stage(
    spec: &StageSpec,
    tdd: &TaskDeploymentDescriptor,
    gates: Vec<InputReceiver>,
    chain: &mut Chain,
    out: &mut Outputs,
    ctx: &TaskContext,
) -> Result<(), TaskError> {
    let session = session_context();
    let runtime_env = ctx
        .batch_memory
        .runtime()
        .map_err(|e| TaskError::Deployment(format!("cannot set up the stage's memory: {e}")))?;
    let mut config = session.state().config().clone();
    config.options_mut().execution.sort_spill_reservation_bytes =
        ctx.batch_memory.sort_reservation();
    let task_ctx = Arc::new(
        DfTaskContext::from(&session.state())
            .with_session_config(config)
            .with_runtime(runtime_env),
    );
    let fragment =
        decode_fragment(&spec.plan, &task_ctx).map_err(|e| TaskError::Deployment(e.to_string()))?;
    let inputs = input::Inputs::new(gates, ctx);
    let plan = bind(fragment, &inputs, ctx)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| TaskError::Operator(format!("cannot start the stage's runtime: {e}")))?;
    runtime.block_on(async {
        let mut stream = plan
            .execute(tdd.subtask as usize, task_ctx)
            .map_err(task_error)?;
        while let Some(batch) = stream.next().await {
            if ctx.cancel.load(Ordering::Relaxed) {
                return Err(TaskError::Canceled);
            }
            chain.process_batch_from(0, batch.map_err(task_error)?, out)?;
        }
        Ok(())
    })?;
    report_spills(&plan, spec, tdd);
    finish(chain, out, ctx)
}

/// Logs what the fragment's operators spilled, when they did.
fn report_spills(plan: &Arc<dyn ExecutionPlan>, spec: &StageSpec, tdd: &TaskDeploymentDescriptor) {
    let (mut files, mut bytes) = (0, 0);
    let _ = plan.apply(|node| {
        if let Some(m) = node.metrics() {
            files += m.spill_count().unwrap_or(0);
            bytes += m.spilled_bytes().unwrap_or(0);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    if files > 0 {
        tracing::info!(
            "stage '{}' ({}/{}) spilled {bytes} bytes in {files} files: its slot's managed memory was too small for it",
            spec.name,
            tdd.subtask + 1,
            tdd.parallelism
        );
    }
}

/// The fragment with its placeholder leaves bound to this task's connectors and inputs.
fn bind(
    fragment: Arc<dyn ExecutionPlan>,
    inputs: &input::Inputs,
    ctx: &TaskContext,
) -> Result<Arc<dyn ExecutionPlan>, TaskError> {
    let bound = fragment.transform_up(|node| {
        if let Some(t) = node.downcast_ref::<TableSourceExec>() {
            let factory = ctx.connectors.get(&t.table).map_err(external)?;
            let open = source::opener(t, Arc::clone(factory), ctx);
            return Ok(Transformed::yes(BoundLeaf::bind(
                "TableSourceScan",
                &node,
                open,
            )));
        }
        if let Some(i) = node.downcast_ref::<StageInputExec>() {
            let open = inputs.opener(i).map_err(external)?;
            return Ok(Transformed::yes(BoundLeaf::bind("StageInput", &node, open)));
        }
        Ok(Transformed::no(node))
    });
    bound.map(|t| t.data).map_err(task_error)
}

/// Opens partition `k` of a bound leaf.
type Opener =
    Arc<dyn Fn(usize) -> Result<SendableRecordBatchStream, DataFusionError> + Send + Sync>;

/// A placeholder leaf bound to what it reads in this task.
struct BoundLeaf {
    name: &'static str,
    placeholder: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
    open: Opener,
}

impl BoundLeaf {
    /// The placeholder bound to `open`.
    fn bind(
        name: &'static str,
        placeholder: &Arc<dyn ExecutionPlan>,
        open: Opener,
    ) -> Arc<dyn ExecutionPlan> {
        Arc::new(Self {
            name,
            placeholder: Arc::clone(placeholder),
            properties: Arc::clone(placeholder.properties()),
            open,
        })
    }
}

impl std::fmt::Debug for BoundLeaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} (bound)", self.placeholder)
    }
}

impl DisplayAs for BoundLeaf {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        self.placeholder.fmt_as(t, f)
    }
}

impl ExecutionPlan for BoundLeaf {
    fn name(&self) -> &str {
        self.name
    }

    strom_plan::leaf_exec_methods!();

    fn execute(
        &self,
        partition: usize,
        _context: Arc<DfTaskContext>,
    ) -> datafusion::common::Result<SendableRecordBatchStream> {
        (self.open)(partition)
    }
}

/// A task error carried through DataFusion.
fn external(e: impl Into<TaskError>) -> DataFusionError {
    DataFusionError::External(Box::new(e.into()))
}

/// The task error behind a DataFusion error: the connector's or the input's own when it
/// carried one, so that its kind (whether a restart helps) is kept.
fn task_error(e: DataFusionError) -> TaskError {
    // a join's build side cannot spill (DataFusion's hash join keeps it in memory)
    if let DataFusionError::ResourcesExhausted(m) = e.find_root() {
        return TaskError::Operator(format!(
            "{m}: the stage needs more memory than its slot's share of the managed memory; raise 'taskmanager.memory.managed.size' (or 'taskmanager.memory.managed.fraction'), run at a higher parallelism, or plan hash joins as sort-merge joins, which spill (SET 'table.exec.disabled-operators' = 'HashJoin')"
        ));
    }
    match e {
        DataFusionError::External(b) => match b.downcast::<TaskError>() {
            Ok(t) => *t,
            Err(b) => match b.downcast::<ConnectorError>() {
                Ok(c) => TaskError::Connector(*c),
                Err(b) => TaskError::Operator(b.to_string()),
            },
        },
        DataFusionError::Context(_, inner) => task_error(*inner),
        other => TaskError::Operator(other.to_string()),
    }
}

/// `batch` under `schema`, without the extra trailing columns (hash keys) a producer added.
fn conform(
    batch: datafusion::arrow::record_batch::RecordBatch,
    schema: &SchemaRef,
) -> Result<datafusion::arrow::record_batch::RecordBatch, DataFusionError> {
    let n = schema.fields().len();
    let columns = batch.columns()[..n.min(batch.num_columns())].to_vec();
    let options = datafusion::arrow::record_batch::RecordBatchOptions::new()
        .with_row_count(Some(batch.num_rows()));
    Ok(
        datafusion::arrow::record_batch::RecordBatch::try_new_with_options(
            Arc::clone(schema),
            columns,
            &options,
        )?,
    )
}
