//! Strom's tables as DataFusion sees them in batch mode: their scan is a
//! [`TableSourceExec`] the runtime binds to the table's connector.

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::Expr;
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

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let projection = projection
            .cloned()
            .unwrap_or_else(|| (0..self.table.schema.len()).collect());
        Ok(Arc::new(TableSourceExec::new(
            self.table.clone(),
            projection,
            self.partitions,
        )))
    }
}
