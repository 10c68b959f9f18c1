//! A table read by a Strom connector, as a leaf of a stage's fragment (a placeholder the runtime
//! binds to the connector's reader).

use super::leaf_properties;
use crate::table::TableSpec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{internal_err, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use std::sync::Arc;

/// Reads the `projection` columns of `table`; partition `k` of `partitions` is the share of
/// the table subtask `k` of `partitions` reads (its splits). `filters` (over the whole table's
/// columns) are the query's predicates on the table, which the connector's reader may use to
/// skip data; the plan applies them again.
#[derive(Debug, Clone)]
pub struct TableSourceExec {
    pub table: TableSpec,
    pub projection: Vec<usize>,
    pub partitions: usize,
    pub filters: Vec<Arc<dyn PhysicalExpr>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl TableSourceExec {
    pub fn new(table: TableSpec, projection: Vec<usize>, partitions: usize) -> Self {
        Self::with_filters(table, projection, partitions, Vec::new())
    }

    pub fn with_filters(
        table: TableSpec,
        projection: Vec<usize>,
        partitions: usize,
        filters: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Self {
        let schema = table.schema.project(&projection).to_arrow();
        let properties = leaf_properties(schema.clone(), partitions);
        Self {
            table,
            projection,
            partitions,
            filters,
            schema,
            properties,
        }
    }
}

impl DisplayAs for TableSourceExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let fields: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        write!(
            f,
            "TableSourceScan: table={}, fields=[{}], partitions={}",
            self.table.name,
            fields.join(", "),
            self.partitions
        )?;
        if !self.filters.is_empty() {
            let filters: Vec<String> = self.filters.iter().map(|e| e.to_string()).collect();
            write!(f, ", filters=[{}]", filters.join(", "))?;
        }
        Ok(())
    }
}

impl ExecutionPlan for TableSourceExec {
    fn name(&self) -> &str {
        "TableSourceScan"
    }

    crate::leaf_exec_methods!();

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        internal_err!(
            "the scan of table '{}' runs only once the runtime bound it to its connector",
            self.table.name
        )
    }
}
