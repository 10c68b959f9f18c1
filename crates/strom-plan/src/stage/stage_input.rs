//! The input of a stage from an earlier stage, as a leaf of its fragment (a placeholder the
//! runtime binds to the task's input gate).

use super::leaf_properties;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{internal_err, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How the partitions of a stage input map onto what the task receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputMode {
    /// Partition `s` is everything task `s` receives on this input (a hash or round-robin
    /// exchange, a broadcast, or everything gathered to one task).
    Merged,
    /// Partition `k` is what producer subtask `k` sent (the sorted runs a merge reads, each
    /// in its own order); the stage runs in one task.
    PerProducer,
}

/// Input `input` of the stage's task (the JobGraph edge's input index). Batches may carry more
/// columns than `schema` (hash keys the producer computed for the exchange): the runtime keeps
/// the leading ones.
#[derive(Debug, Clone)]
pub struct StageInputExec {
    pub input: u32,
    pub partitions: usize,
    pub mode: InputMode,
    properties: Arc<PlanProperties>,
}

impl StageInputExec {
    pub fn new(input: u32, schema: SchemaRef, partitions: usize, mode: InputMode) -> Self {
        let properties = leaf_properties(schema, partitions);
        Self {
            input,
            partitions,
            mode,
            properties,
        }
    }

    /// The same input under another index.
    pub fn with_input(&self, input: u32) -> Self {
        Self {
            input,
            ..self.clone()
        }
    }
}

impl DisplayAs for StageInputExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "StageInput: input={}, partitions={}, mode={:?}",
            self.input, self.partitions, self.mode
        )
    }
}

impl ExecutionPlan for StageInputExec {
    fn name(&self) -> &str {
        "StageInput"
    }

    crate::leaf_exec_methods!();

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        internal_err!(
            "stage input {} runs only once the runtime bound it to the task's input gate",
            self.input
        )
    }
}
