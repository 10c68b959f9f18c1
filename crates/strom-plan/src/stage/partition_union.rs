//! UNION ALL inside a stage: partition `s` is partition `s` of every input, one after the
//! other. DataFusion's `UnionExec` numbers its inputs' partitions one after the other instead
//! (its partition count is their sum), which cannot be a stage's: task `s` of a stage reads
//! what the exchanges before it sent to task `s`.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{internal_err, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties,
};
use futures::StreamExt;
use std::sync::Arc;

/// The union of inputs with the same number of partitions, partition by partition.
#[derive(Debug, Clone)]
pub struct PartitionUnionExec {
    inputs: Vec<Arc<dyn ExecutionPlan>>,
    properties: Arc<PlanProperties>,
}

impl PartitionUnionExec {
    /// `schema`: the union's (its inputs' columns, nullable where any input's is).
    pub fn try_new(inputs: Vec<Arc<dyn ExecutionPlan>>, schema: SchemaRef) -> Result<Self> {
        let Some(first) = inputs.first() else {
            return internal_err!("a union needs an input");
        };
        let partitions = first.output_partitioning().partition_count();
        if let Some(bad) = inputs
            .iter()
            .find(|i| i.output_partitioning().partition_count() != partitions)
        {
            return internal_err!(
                "union inputs of {partitions} and {} partitions",
                bad.output_partitioning().partition_count()
            );
        }
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Self { inputs, properties })
    }
}

impl DisplayAs for PartitionUnionExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "PartitionUnion: inputs={}", self.inputs.len())
    }
}

impl ExecutionPlan for PartitionUnionExec {
    fn name(&self) -> &str {
        "PartitionUnion"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.inputs.iter().collect()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self::try_new(children, self.schema())?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let streams = self
            .inputs
            .iter()
            .map(|i| i.execute(partition, Arc::clone(&context)))
            .collect::<Result<Vec<_>>>()?;
        let schema = self.schema();
        let out = Arc::clone(&schema);
        // each input's batches under the union's schema (nullability may differ)
        let batches = futures::stream::iter(streams).flatten().map(move |b| {
            b.and_then(|b| {
                Ok(datafusion::arrow::record_batch::RecordBatch::try_new(
                    Arc::clone(&out),
                    b.columns().to_vec(),
                )?)
            })
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }
}
