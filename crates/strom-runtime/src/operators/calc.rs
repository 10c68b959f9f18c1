//! `Calc`: filter and projection with DataFusion physical expressions.

use crate::error::TaskError;
use crate::operator::{Operator, Output};
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::DFSchema;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::physical_expr::{create_physical_expr, PhysicalExpr};
use std::sync::{Arc, OnceLock};
use strom_plan::expr_codec::decode;
use strom_plan::functions::session_context;
use strom_plan::{CalcSpec, ExprSpec, RowSchema};

/// Evaluates condition `f` over `batch`: which rows pass (NULL does not), for the operator
/// named `operator`.
pub fn predicate(
    f: &Arc<dyn PhysicalExpr>,
    batch: &RecordBatch,
    operator: &str,
) -> Result<BooleanArray, TaskError> {
    let v = f
        .evaluate(batch)
        .and_then(|v| v.into_array(batch.num_rows()))
        .map_err(|e| TaskError::Expr {
            operator: operator.into(),
            message: e.to_string(),
        })?;
    let mask = v.as_any().downcast_ref::<BooleanArray>().ok_or_else(|| {
        TaskError::Operator(format!("the condition of {operator} is not boolean"))
    })?;
    Ok(match mask.nulls() {
        // NULL counts as false
        Some(_) => mask.iter().map(|m| Some(m == Some(true))).collect(),
        None => mask.clone(),
    })
}

/// Compiles an encoded expression against an operator's input schema.
pub fn physical_expr(
    spec: &ExprSpec,
    input: &RowSchema,
) -> Result<Arc<dyn PhysicalExpr>, TaskError> {
    static CTX: OnceLock<Arc<datafusion::execution::TaskContext>> = OnceLock::new();
    let ctx = CTX.get_or_init(|| session_context().task_ctx());
    let expr = decode(spec, ctx).map_err(|e| TaskError::Deployment(e.to_string()))?;
    let arrow = input.to_arrow();
    let df = DFSchema::try_from(arrow.as_ref().clone())
        .map_err(|e| TaskError::Deployment(e.to_string()))?;
    create_physical_expr(
        &expr,
        &df,
        &ExecutionProps::new(),
        &PhysicalPlanningContext::default(),
    )
    .map_err(|e| TaskError::Deployment(format!("cannot compile expression '{}': {e}", spec.sql)))
}

pub struct CalcOperator {
    filter: Option<Arc<dyn PhysicalExpr>>,
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    output: SchemaRef,
    /// When the projection is only column references, the indices (no evaluation needed).
    plain_columns: Option<Vec<usize>>,
}

impl CalcOperator {
    pub fn new(spec: &CalcSpec) -> Result<Self, TaskError> {
        let filter = spec
            .filter
            .as_ref()
            .map(|f| physical_expr(f, &spec.input))
            .transpose()?;
        let exprs = spec
            .exprs
            .iter()
            .map(|(_, e)| physical_expr(e, &spec.input))
            .collect::<Result<Vec<_>, _>>()?;
        let plain_columns = exprs
            .iter()
            .map(|e| {
                e.downcast_ref::<datafusion::physical_expr::expressions::Column>()
                    .map(|c| c.index())
            })
            .collect::<Option<Vec<_>>>();
        Ok(Self {
            filter,
            exprs,
            output: spec.output.to_arrow(),
            plain_columns,
        })
    }

    fn project(&self, batch: &RecordBatch) -> Result<RecordBatch, TaskError> {
        let columns: Vec<ArrayRef> = match &self.plain_columns {
            Some(idx) => idx.iter().map(|i| batch.column(*i).clone()).collect(),
            None => self
                .exprs
                .iter()
                .map(|e| {
                    e.evaluate(batch)
                        .and_then(|v| v.into_array(batch.num_rows()))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TaskError::Expr {
                    operator: "Calc".into(),
                    message: e.to_string(),
                })?,
        };
        super::conform(&self.output, columns, batch.num_rows())
    }
}

impl Operator for CalcOperator {
    fn name(&self) -> &str {
        "Calc"
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        let batch = match &self.filter {
            Some(f) => {
                let mask = predicate(f, &batch, "Calc(where)")?;
                if mask.true_count() == 0 {
                    return Ok(());
                }
                filter_record_batch(&batch, &mask)?
            }
            None => batch,
        };
        let projected = self.project(&batch)?;
        out.emit(projected)
    }
}
