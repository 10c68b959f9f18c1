//! The lookup join's spec (Flink's `LookupJoin`): `JOIN dim FOR SYSTEM_TIME AS OF s.proc_time`,
//! each input row joined with the rows the dimension table holds when it arrives.

use super::{ExprSpec, JoinType, Spec};
use crate::table::TableSpec;
use crate::types::RowSchema;
use serde::{Deserialize, Serialize};

/// Joins each row of its input (the stream, left) with the rows of `table` (the dimension,
/// right) of the same key, INNER or LEFT; append-only. The table is read whole when the first
/// row arrives and again when it is older than `cache_ttl_ms` (Flink's
/// `lookup.join.cache.ttl` of a filesystem table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LookupJoinSpec {
    pub input: RowSchema,
    pub table: TableSpec,
    /// The table's columns read (positions in its schema) and their schema.
    pub projection: Vec<usize>,
    pub dim: RowSchema,
    pub join_type: JoinType,
    /// Equality keys: columns of `input` and of `dim`, pairwise.
    pub input_keys: Vec<usize>,
    pub dim_keys: Vec<usize>,
    /// The rest of the condition, over `output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<ExprSpec>,
    pub cache_ttl_ms: i64,
    /// For a table its connector looks up by key (jdbc): Flink's `lookup.cache` = `PARTIAL`
    /// options (`None`: no cache, every batch's keys are looked up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_cache: Option<LookupCache>,
    /// `input`'s columns, then `dim`'s.
    pub output: RowSchema,
}

/// Flink's partial lookup cache: the rows of the keys looked up last, by key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupCache {
    /// The most keys kept (the least recently used go first).
    pub max_rows: u64,
    /// A key's rows are looked up again this long after they were (0: never).
    #[serde(default)]
    pub expire_after_write_ms: u64,
    /// ... or this long after they were last used (0: never).
    #[serde(default)]
    pub expire_after_access_ms: u64,
    /// Whether a key without rows is cached too.
    pub cache_missing_key: bool,
}

impl Spec for LookupJoinSpec {
    fn name(&self) -> String {
        "LookupJoin".into()
    }

    fn output_schema(&self) -> &RowSchema {
        &self.output
    }

    fn description(&self) -> String {
        let keys: Vec<String> = self
            .input_keys
            .iter()
            .zip(&self.dim_keys)
            .map(|(l, r)| {
                format!(
                    "{}={}",
                    self.dim.columns[*r].name, self.input.columns[*l].name
                )
            })
            .collect();
        format!(
            "LookupJoin(table=[{}], joinType=[{}], lookup=[{}]{})",
            self.table.name,
            if self.join_type == JoinType::Left {
                "LeftOuterJoin"
            } else {
                "InnerJoin"
            },
            keys.join(", "),
            self.filter
                .as_ref()
                .map(|f| format!(", where=[{}]", f.sql))
                .unwrap_or_default()
        )
    }
}
