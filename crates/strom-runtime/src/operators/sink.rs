//! The sink operator: hands batches to a connector's writer. Time inside the writer's calls is
//! the task's I/O phase.

use crate::connector::SinkWriter;
use crate::error::TaskError;
use crate::metrics::TaskMetrics;
use crate::operator::{Operator, Output, RestoreScope};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;

pub struct SinkOperator {
    writer: Box<dyn SinkWriter>,
    metrics: Arc<TaskMetrics>,
    schema: SchemaRef,
    name: String,
}

impl SinkOperator {
    /// Rows written count as the task's records out.
    pub fn new(
        writer: Box<dyn SinkWriter>,
        schema: SchemaRef,
        name: String,
        metrics: Arc<TaskMetrics>,
    ) -> Self {
        Self {
            writer,
            schema,
            name,
            metrics,
        }
    }
}

impl Operator for SinkOperator {
    fn name(&self) -> &str {
        &self.name
    }

    fn process_batch(
        &mut self,
        batch: RecordBatch,
        _out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        // present the table's column names and types to the writer
        let batch = super::conform(&self.schema, batch.columns().to_vec(), batch.num_rows())?;
        self.metrics.io(|| self.writer.write(&batch))?;
        TaskMetrics::add(&self.metrics.records_out, batch.num_rows() as u64);
        Ok(())
    }

    fn process_watermark(
        &mut self,
        _watermark: i64,
        _out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        Ok(())
    }

    fn finish(&mut self, _out: &mut dyn Output) -> Result<(), TaskError> {
        self.metrics.io(|| self.writer.finish())?;
        Ok(())
    }

    fn snapshot_state(&mut self, checkpoint: u64) -> Result<Option<Vec<u8>>, TaskError> {
        Ok(self.metrics.io(|| self.writer.prepare_commit(checkpoint))?)
    }

    fn restore_state(
        &mut self,
        states: &[Vec<u8>],
        _scope: &RestoreScope,
    ) -> Result<(), TaskError> {
        Ok(self.metrics.io(|| self.writer.restore(states))?)
    }

    fn prepare_final_commit(&mut self) -> Result<bool, TaskError> {
        let prepared = self.metrics.io(|| {
            self.writer
                .prepare_commit(crate::connector::FINAL_CHECKPOINT)
        })?;
        Ok(prepared.is_some())
    }

    fn notify_checkpoint_complete(&mut self, checkpoint: u64) -> Result<(), TaskError> {
        Ok(self.metrics.io(|| self.writer.commit(checkpoint))?)
    }
}
