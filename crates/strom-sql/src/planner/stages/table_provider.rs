//! Strom's tables as DataFusion sees them in batch mode: their scan is a
//! [`TableSourceExec`] the runtime binds to the table's connector.

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::DFSchema;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;
use strom_plan::stage::TableSourceExec;
use strom_plan::table::TableSpec;

/// A table read in `partitions` parallel shares.
#[derive(Debug)]
pub(crate) struct StromTable {
    pub table: TableSpec,
    pub partitions: usize,
}

#[async_trait]
impl TableProvider for StromTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema.to_arrow()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Every deterministic filter is offered to the table's reader (a Parquet reader skips row
    /// groups and decodes the filter's columns first); the plan keeps applying it.
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
        Ok(Arc::new(TableSourceExec::with_filters(
            self.table.clone(),
            projection,
            self.partitions,
            filters,
        )))
    }
}
