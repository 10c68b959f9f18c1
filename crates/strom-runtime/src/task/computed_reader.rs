//! A source of a table with computed columns: the connector's reader of the physical columns,
//! followed by the computed columns' expressions (see `SourceSpec::computed`).

use crate::connector::{ConnectorCounters, SourceReader, SplitState};
use crate::error::TaskError;
use crate::operators::calc::physical_expr;
use crate::ConnectorError;
use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;
use std::sync::Arc;
use strom_plan::job_graph::ExprSpec;
use strom_plan::types::RowSchema;

pub(super) struct ComputedReader {
    inner: Box<dyn SourceReader>,
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    schema: SchemaRef,
}

impl ComputedReader {
    /// `read`: the columns `inner` returns; `output`: the columns `exprs` compute from them.
    pub(super) fn new(
        inner: Box<dyn SourceReader>,
        exprs: &[ExprSpec],
        read: &RowSchema,
        output: &RowSchema,
    ) -> Result<Self, TaskError> {
        Ok(Self {
            inner,
            exprs: exprs
                .iter()
                .map(|e| physical_expr(e, read))
                .collect::<Result<_, _>>()?,
            schema: output.to_arrow(),
        })
    }

    fn compute(&self, batch: &RecordBatch) -> Result<RecordBatch, ConnectorError> {
        let n = batch.num_rows();
        let columns = self
            .exprs
            .iter()
            .zip(self.schema.fields())
            .map(|(e, f)| {
                let a = e.evaluate(batch)?.into_array(n)?;
                if a.data_type() == f.data_type() {
                    Ok(a)
                } else {
                    datafusion::arrow::compute::cast(&a, f.data_type()).map_err(Into::into)
                }
            })
            .collect::<datafusion::common::Result<Vec<_>>>()
            .map_err(|e| ConnectorError::Other(format!("computed column: {e}")))?;
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .map_err(|e| ConnectorError::Other(format!("computed column: {e}")))
    }
}

impl SourceReader for ComputedReader {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        match self.inner.next_batch()? {
            Some(b) => self.compute(&b).map(Some),
            None => Ok(None),
        }
    }

    fn counters(&self) -> ConnectorCounters {
        self.inner.counters()
    }

    fn wait_time(&self) -> std::time::Duration {
        self.inner.wait_time()
    }

    fn splits(&self) -> Vec<u32> {
        self.inner.splits()
    }

    fn last_split(&self) -> Option<u32> {
        self.inner.last_split()
    }

    fn split_state(&self, split: u32) -> SplitState {
        self.inner.split_state(split)
    }

    fn snapshot_position(&mut self) -> Result<Option<Vec<u8>>, ConnectorError> {
        self.inner.snapshot_position()
    }
}
