//! Operators and chains: an operator takes batches and watermarks and emits to an [`Output`].

use crate::error::{panic_message, TaskError};
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
    /// The task is about to tell its consumers that it is idle: their watermark then moves on
    /// without this task's, so what an operator holds back for a later watermark although it
    /// could send it now (the partial results of a local window aggregate) would reach them
    /// late. Such an operator emits it here. The default holds nothing of the kind.
    fn before_idle(&mut self, _out: &mut dyn Output) -> Result<(), TaskError> {
        Ok(())
    }
    /// Rows dropped because they arrived after their window fired.
    fn late_records_dropped(&self) -> u64 {
        0
    }
    /// The operator's state at checkpoint `checkpoint` (None: stateless). Keyed operators
    /// write each entry with its key group (see [`crate::key_groups`]).
    fn snapshot_state(&mut self, _checkpoint: u64) -> Result<Option<Vec<u8>>, TaskError> {
        Ok(None)
    }

    /// Restores the operator from the snapshots of every subtask of the previous run (before
    /// any input): a keyed operator keeps the entries whose key group is in `scope.key_groups`.
    fn restore_state(
        &mut self,
        states: &[Vec<u8>],
        _scope: &RestoreScope,
    ) -> Result<(), TaskError> {
        if states.is_empty() {
            return Ok(());
        }
        Err(TaskError::Operator(format!(
            "operator '{}' cannot restore state",
            self.name()
        )))
    }

    /// Checkpoint `checkpoint` is complete (sinks commit what they prepared for it).
    fn notify_checkpoint_complete(&mut self, _checkpoint: u64) -> Result<(), TaskError> {
        Ok(())
    }

    /// At the end of input, with checkpoints: prepares what must become visible when the whole
    /// job has ended (the final commit); true when there is such a thing (two-phase sinks).
    fn prepare_final_commit(&mut self) -> Result<bool, TaskError> {
        Ok(false)
    }
}

/// Which part of the keyed state a restored subtask owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreScope {
    pub subtask: u32,
    pub parallelism: u32,
    pub max_parallelism: u32,
    /// The key groups this subtask owns now.
    pub key_groups: std::ops::Range<u32>,
}

impl RestoreScope {
    pub fn new(subtask: u32, parallelism: u32, max_parallelism: u32) -> Self {
        Self {
            subtask,
            parallelism,
            max_parallelism,
            key_groups: crate::key_groups::key_group_range(max_parallelism, parallelism, subtask),
        }
    }

    /// Whether this subtask owns the key with hash `hash`.
    pub fn owns(&self, hash: u64) -> bool {
        self.key_groups
            .contains(&crate::key_groups::key_group(hash, self.max_parallelism))
    }
}

/// Calls `f` on `op`; a panic in it becomes [`TaskError::Panic`] naming the operator, so that
/// the task fails with a clear message (an operator further down the chain is named by the
/// innermost call, its callers pass the error on).
fn guarded<T>(
    op: &mut Box<dyn Operator>,
    f: impl FnOnce(&mut Box<dyn Operator>) -> Result<T, TaskError>,
) -> Result<T, TaskError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(op))) {
        Ok(r) => r,
        Err(payload) => Err(TaskError::Panic {
            operator: format!("operator '{}'", op.name()),
            message: panic_message(payload.as_ref()),
        }),
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
            Some((op, rest)) => guarded(op, |op| {
                op.process_batch(
                    batch,
                    &mut ChainOutput {
                        rest,
                        tail: self.tail,
                    },
                )
            }),
            None => self.tail.emit(batch),
        }
    }

    fn emit_watermark(&mut self, watermark: i64) -> Result<(), TaskError> {
        match self.rest.split_first_mut() {
            Some((op, rest)) => guarded(op, |op| {
                op.process_watermark(
                    watermark,
                    &mut ChainOutput {
                        rest,
                        tail: self.tail,
                    },
                )
            }),
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
            Some((op, rest)) => guarded(op, |op| {
                op.process_batch_from(input, batch, &mut ChainOutput { rest, tail })
            }),
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
        self.front_to_back(tail, |op, out| op.finish(out))
    }

    /// Before the task announces idleness (see [`Operator::before_idle`]), front to back like
    /// [`Chain::finish`].
    pub fn before_idle(&mut self, tail: &mut dyn Output) -> Result<(), TaskError> {
        self.front_to_back(tail, |op, out| op.before_idle(out))
    }

    /// Calls `f` on each operator in chain order, with the rest of the chain as its output.
    fn front_to_back(
        &mut self,
        tail: &mut dyn Output,
        mut f: impl FnMut(&mut dyn Operator, &mut dyn Output) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        for i in 0..self.operators.len() {
            let (head, rest) = self.operators[i..].split_first_mut().expect("in range");
            guarded(head, |head| {
                f(head.as_mut(), &mut ChainOutput { rest, tail })
            })?;
        }
        Ok(())
    }

    /// Every operator's state at checkpoint `checkpoint`, in chain order.
    pub fn snapshot_state(&mut self, checkpoint: u64) -> Result<Vec<Option<Vec<u8>>>, TaskError> {
        self.operators
            .iter_mut()
            .map(|o| guarded(o, |o| o.snapshot_state(checkpoint)))
            .collect()
    }

    /// Restores every operator: `states[k]` are operator `k`'s snapshots of the previous run.
    pub fn restore_state(
        &mut self,
        states: &[Vec<Vec<u8>>],
        scope: &RestoreScope,
    ) -> Result<(), TaskError> {
        for (op, s) in self.operators.iter_mut().zip(states) {
            guarded(op, |op| op.restore_state(s, scope))?;
        }
        Ok(())
    }

    /// Whether any operator prepared something for the final commit.
    pub fn prepare_final_commit(&mut self) -> Result<bool, TaskError> {
        let mut any = false;
        for op in &mut self.operators {
            any |= guarded(op, |op| op.prepare_final_commit())?;
        }
        Ok(any)
    }

    pub fn notify_checkpoint_complete(&mut self, checkpoint: u64) -> Result<(), TaskError> {
        for op in &mut self.operators {
            guarded(op, |op| op.notify_checkpoint_complete(checkpoint))?;
        }
        Ok(())
    }

    pub fn late_records_dropped(&self) -> u64 {
        self.operators
            .iter()
            .map(|o| o.late_records_dropped())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    /// Passes batches on, or panics on them.
    struct Op {
        name: &'static str,
        panics: bool,
    }

    impl Operator for Op {
        fn name(&self) -> &str {
            self.name
        }

        fn process_batch(
            &mut self,
            batch: RecordBatch,
            out: &mut dyn Output,
        ) -> Result<(), TaskError> {
            if self.panics {
                let rows: Vec<usize> = Vec::new();
                let _ = rows[batch.num_rows()];
            }
            out.emit(batch)
        }
    }

    struct Sink;

    impl Output for Sink {
        fn emit(&mut self, _batch: RecordBatch) -> Result<(), TaskError> {
            Ok(())
        }
        fn emit_watermark(&mut self, _watermark: i64) -> Result<(), TaskError> {
            Ok(())
        }
    }

    #[test]
    fn a_panic_in_a_chain_names_the_operator_that_panicked() {
        let mut chain = Chain {
            operators: vec![
                Box::new(Op {
                    name: "First",
                    panics: false,
                }),
                Box::new(Op {
                    name: "Second",
                    panics: true,
                }),
                Box::new(Op {
                    name: "Third",
                    panics: false,
                }),
            ],
        };
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2]))]).unwrap();
        let e = chain.process_batch(batch, &mut Sink).unwrap_err();
        assert!(
            matches!(&e, TaskError::Panic { operator, message }
                if operator == "operator 'Second'" && message.contains("index out of bounds")),
            "{e:?}"
        );
        assert_eq!(e.kind(), strom_common::FailureKind::NonRecoverable);
    }
}
