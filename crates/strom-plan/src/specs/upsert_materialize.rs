//! The spec of Flink's SinkUpsertMaterializer: the changelog in front of a sink with a primary
//! key, turned into upserts and deletes of that key.

use super::Spec;
use crate::types::RowSchema;
use serde::{Deserialize, Serialize};

/// Keeps, per value of the sink's primary key, every row of the changelog that is in the
/// result and not retracted, in arrival order, and emits what the sink's row for that key
/// becomes: `+I` for a key's first row, `+U` for a later one (or for the row before it when the
/// last row is retracted), `-D` when a key's last row goes. So a sink that upserts by its key
/// and skips `-U` writes the right table even when the changelog's own unique key is not the
/// sink's key (a join, an aggregate whose group is not the key). Input and output: the sink's
/// columns and `$op`; the input is hashed on `key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpsertMaterializeSpec {
    /// The rows: the sink's columns and the row kind (`$op`).
    pub output: RowSchema,
    /// The sink's primary key columns.
    pub key: Vec<usize>,
    /// A key not written for this long (processing time) is dropped (`table.exec.state.ttl`);
    /// 0 keeps every key.
    #[serde(default, skip_serializing_if = "crate::specs::no_ttl")]
    pub state_ttl_ms: u64,
}

impl Spec for UpsertMaterializeSpec {
    fn name(&self) -> String {
        "SinkMaterializer".into()
    }

    fn output_schema(&self) -> &RowSchema {
        &self.output
    }

    fn description(&self) -> String {
        let key: Vec<&str> = self
            .key
            .iter()
            .map(|k| self.output.columns[*k].name.as_str())
            .collect();
        format!(
            "SinkMaterializer(pk=[{}]{})",
            key.join(", "),
            super::describe_ttl(&[self.state_ttl_ms])
        )
    }
}
