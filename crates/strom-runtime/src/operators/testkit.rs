//! Helpers of the operators' unit tests.

use crate::error::TaskError;
use crate::operator::Output;
use datafusion::arrow::record_batch::RecordBatch;
use strom_plan::{Column, SqlType};

/// An output that keeps what it is given (watermarks are ignored).
pub struct Collect(pub Vec<RecordBatch>);

impl Output for Collect {
    fn emit(&mut self, batch: RecordBatch) -> Result<(), TaskError> {
        self.0.push(batch);
        Ok(())
    }

    fn emit_watermark(&mut self, _: i64) -> Result<(), TaskError> {
        Ok(())
    }
}

/// A nullable column.
pub fn col(name: &str, ty: SqlType) -> Column {
    Column {
        name: name.into(),
        ty,
        nullable: true,
    }
}

/// A source reader of the batches it was given, in order.
pub struct Batches(pub Vec<RecordBatch>);

impl crate::connector::SourceReader for Batches {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, crate::connector::ConnectorError> {
        Ok((!self.0.is_empty()).then(|| self.0.remove(0)))
    }
}
