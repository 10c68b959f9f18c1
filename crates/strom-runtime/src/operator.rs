//! Operators and chains: an operator takes batches and watermarks and emits to an [`Output`].

use crate::error::TaskError;
use datafusion::arrow::record_batch::RecordBatch;

/// Where an operator emits.
pub trait Output {
    fn emit(&mut self, batch: RecordBatch) -> Result<(), TaskError>;
    fn emit_watermark(&mut self, watermark: i64) -> Result<(), TaskError>;
}

/// A streaming operator. Single input for now; `finish` is called once at end of input, after the
/// final watermark.
pub trait Operator: Send {
    fn name(&self) -> &str;
    fn process_batch(&mut self, batch: RecordBatch, out: &mut dyn Output) -> Result<(), TaskError>;
    /// A batch of input `input` (the edge's input index) for the head of a chain; operators
    /// with two inputs (joins) tell them apart here, others ignore it.
    fn process_batch_from(
        &mut self,
        _input: u32,
        batch: RecordBatch,
        out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        self.process_batch(batch, out)
    }
    fn process_watermark(&mut self, watermark: i64, out: &mut dyn Output) -> Result<(), TaskError> {
        out.emit_watermark(watermark)
    }
    fn finish(&mut self, _out: &mut dyn Output) -> Result<(), TaskError> {
        Ok(())
    }
    /// Rows dropped because they arrived after their window fired.
    fn late_records_dropped(&self) -> u64 {
        0
    }
    /// The operator's state at checkpoint `checkpoint` (None: stateless).
    fn snapshot_state(&mut self, _checkpoint: u64) -> Result<Option<Vec<u8>>, TaskError> {
        Ok(None)
    }
}

/// Operators run one after another in one task: each operator's output is the next one's input.
pub struct Chain {
    pub operators: Vec<Box<dyn Operator>>,
}

struct ChainOutput<'a> {
    rest: &'a mut [Box<dyn Operator>],
    tail: &'a mut dyn Output,
}

impl Output for ChainOutput<'_> {
    fn emit(&mut self, batch: RecordBatch) -> Result<(), TaskError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        match self.rest.split_first_mut() {
            Some((op, rest)) => op.process_batch(
                batch,
                &mut ChainOutput {
                    rest,
                    tail: self.tail,
                },
            ),
            None => self.tail.emit(batch),
        }
    }

    fn emit_watermark(&mut self, watermark: i64) -> Result<(), TaskError> {
        match self.rest.split_first_mut() {
            Some((op, rest)) => op.process_watermark(
                watermark,
                &mut ChainOutput {
                    rest,
                    tail: self.tail,
                },
            ),
            None => self.tail.emit_watermark(watermark),
        }
    }
}

impl Chain {
    pub fn process_batch(
        &mut self,
        batch: RecordBatch,
        tail: &mut dyn Output,
    ) -> Result<(), TaskError> {
        ChainOutput {
            rest: &mut self.operators,
            tail,
        }
        .emit(batch)
    }

    /// A batch of the chain's input `input` (two-input heads tell their inputs apart).
    pub fn process_batch_from(
        &mut self,
        input: u32,
        batch: RecordBatch,
        tail: &mut dyn Output,
    ) -> Result<(), TaskError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        match self.operators.split_first_mut() {
            Some((op, rest)) => {
                op.process_batch_from(input, batch, &mut ChainOutput { rest, tail })
            }
            None => tail.emit(batch),
        }
    }

    pub fn process_watermark(
        &mut self,
        watermark: i64,
        tail: &mut dyn Output,
    ) -> Result<(), TaskError> {
        ChainOutput {
            rest: &mut self.operators,
            tail,
        }
        .emit_watermark(watermark)
    }

    /// Finishes operators front to back: what one emits while finishing reaches the next before
    /// the next finishes.
    pub fn finish(&mut self, tail: &mut dyn Output) -> Result<(), TaskError> {
        for i in 0..self.operators.len() {
            let (head, rest) = self.operators[i..].split_first_mut().expect("in range");
            head.finish(&mut ChainOutput { rest, tail })?;
        }
        Ok(())
    }

    /// Every operator's state at checkpoint `checkpoint`, in chain order.
    pub fn snapshot_state(&mut self, checkpoint: u64) -> Result<Vec<Option<Vec<u8>>>, TaskError> {
        self.operators
            .iter_mut()
            .map(|o| o.snapshot_state(checkpoint))
            .collect()
    }

    pub fn late_records_dropped(&self) -> u64 {
        self.operators
            .iter()
            .map(|o| o.late_records_dropped())
            .sum()
    }
}
