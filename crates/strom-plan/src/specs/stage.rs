//! A batch stage's spec: a fragment of DataFusion's physical plan (see [`crate::stage`]).

use super::Spec;
use crate::table::TableSpec;
use crate::types::RowSchema;
use serde::{Deserialize, Serialize};

/// Runs a fragment of a physical plan: task `s` runs its partition `s`, reading the earlier
/// stages it depends on from its inputs (in input-index order) and emitting the fragment's
/// rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSpec {
    /// A short name from the fragment's top operators.
    pub name: String,
    /// The fragment, datafusion-proto in base64 (see [`crate::stage::encode_fragment`]).
    pub plan: String,
    /// The fragment as DataFusion displays it, for humans.
    pub display: String,
    pub output: RowSchema,
    /// The tables the fragment reads (for the control plane's checks: connector options,
    /// boundedness).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableSpec>,
}

impl Spec for StageSpec {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn output_schema(&self) -> &RowSchema {
        &self.output
    }

    fn description(&self) -> String {
        self.display
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" <- ")
    }
}
