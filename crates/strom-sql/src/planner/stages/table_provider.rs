//! Strom's tables as DataFusion sees them in batch mode: their scan is a
//! [`TableSourceExec`] the runtime binds to the table's connector.

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, Statistics};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use std::sync::{Arc, OnceLock};
use strom_plan::stage::TableSourceExec;
use strom_plan::table::{TableSpec, TableStatisticsSource};

/// A table read in `partitions` parallel shares, with what `statistics` knows of its data
/// (asked once, when a query first scans the table).
#[derive(Debug)]
pub(crate) struct StromTable {
    pub table: TableSpec,
    pub partitions: usize,
    pub statistics: Arc<dyn TableStatisticsSource>,
    pub known: OnceLock<Option<Statistics>>,
}

impl StromTable {
    pub fn new(
        table: TableSpec,
        partitions: usize,
        statistics: Arc<dyn TableStatisticsSource>,
    ) -> Self {
        Self {
            table,
            partitions,
            statistics,
            known: OnceLock::new(),
        }
    }
}

impl StromTable {
    /// What the statistics source knows of the whole table (asked once).
    fn known(&self) -> Option<&Statistics> {
        self.known
            .get_or_init(|| self.statistics.statistics(&self.table))
            // a source answering for another schema is ignored, not trusted
            .as_ref()
            .filter(|s| s.column_statistics.len() == self.table.schema.len())
    }
}

#[async_trait]
impl TableProvider for StromTable {
    /// For logical rewrites that weigh plans by their tables' rows.
    fn statistics(&self) -> Option<Statistics> {
        self.known().cloned()
    }

    fn schema(&self) -> SchemaRef {
        self.table.schema.to_arrow()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Every deterministic filter is offered to the table's reader (a Parquet reader skips the row
    /// groups its statistics rule out); the plan keeps applying it.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::common::Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if f.is_volatile() {
                    TableProviderFilterPushDown::Unsupported
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let projection = projection
            .cloned()
            .unwrap_or_else(|| (0..self.table.schema.len()).collect());
        let schema = DFSchema::try_from(self.table.schema.to_arrow())?;
        // a filter that does not plan over the bare table (it should) is simply not pushed
        let filters = filters
            .iter()
            .filter_map(|f| {
                let f = unnormalize_col(f.clone());
                state.create_physical_expr(f, &schema).ok()
            })
            .collect();
        let scan =
            TableSourceExec::with_filters(self.table.clone(), projection, self.partitions, filters);
        Ok(Arc::new(match self.known() {
            Some(s) => scan.with_table_statistics(s.clone()),
            None => scan,
        }))
    }
}
