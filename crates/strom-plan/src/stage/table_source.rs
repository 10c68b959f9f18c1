//! A table read by a Strom connector, as a leaf of a stage's fragment (a placeholder the runtime
//! binds to the connector's reader).

use super::leaf_properties;
use crate::table::TableSpec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::stats::Precision;
use datafusion::common::{internal_err, Result, Statistics};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::statistics::StatisticsArgs;
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
    /// What the planner knew of the projected columns of the whole table (inexact), for
    /// DataFusion's optimizer; not sent to the TaskManagers.
    pub statistics: Option<Arc<Statistics>>,
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
            statistics: None,
            schema,
            properties,
        }
    }

    /// With what the planner knows of the whole table (every column, in table order). The
    /// scan's size in bytes is known, as in DataFusion's own scans, only when every projected
    /// column has a fixed width: otherwise the optimizer compares joins' inputs by rows, as
    /// DataFusion does (a string column's size on disk says little of its size in memory).
    pub fn with_table_statistics(mut self, table: Statistics) -> Self {
        let mut s = table.to_inexact().project(Some(&self.projection));
        s.total_byte_size = Precision::Absent;
        s.calculate_total_byte_size(&self.schema);
        s.total_byte_size = s.total_byte_size.to_inexact();
        self.statistics = Some(Arc::new(s));
        self
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

    /// The table's statistics, each partition an equal share of them.
    fn statistics_from_inputs(
        &self,
        _inputs: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let Some(whole) = &self.statistics else {
            return Ok(Arc::new(Statistics::new_unknown(&self.schema)));
        };
        match args.partition() {
            None => Ok(Arc::clone(whole)),
            Some(_) => {
                let share = |p: &Precision<usize>| match p.get_value() {
                    Some(v) => Precision::Inexact(v.div_ceil(self.partitions.max(1))),
                    None => Precision::Absent,
                };
                let mut s = whole.as_ref().clone();
                s.num_rows = share(&s.num_rows);
                s.total_byte_size = share(&s.total_byte_size);
                for c in &mut s.column_statistics {
                    c.null_count = share(&c.null_count);
                    c.byte_size = share(&c.byte_size);
                }
                Ok(Arc::new(s))
            }
        }
    }

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
