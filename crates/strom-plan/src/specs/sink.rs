//! The sink operator's spec: the table it writes.

use super::Spec;
use crate::table::TableSpec;
use crate::types::RowSchema;
use serde::{Deserialize, Serialize};

/// Writes rows to a table. `output` is the table schema (the input must match it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SinkSpec {
    pub table: TableSpec,
    pub output: RowSchema,
    /// The input is a changelog: its batches carry a trailing `$op` column after `output`'s.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub changelog: bool,
}

impl Spec for SinkSpec {
    fn name(&self) -> String {
        format!("{}: Writer", self.table.name)
    }

    fn output_schema(&self) -> &RowSchema {
        &self.output
    }

    fn description(&self) -> String {
        format!(
            "Sink(table=[{}], fields=[{}])",
            self.table.name, self.output
        )
    }
}
