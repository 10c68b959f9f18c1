//! The streaming Top-N spec (`ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...)` filtered by
//! `rownum <= N`), Flink's Rank operator; deduplication is its `N = 1` over a time attribute.

use super::Spec;
use crate::types::RowSchema;
use serde::{Deserialize, Serialize};

/// One `ORDER BY` key of a rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKey {
    /// A column of the input.
    pub column: usize,
    pub descending: bool,
    pub nulls_first: bool,
}

/// Keeps, per partition, the first `limit` rows in `order_by` order (rows of equal keys in
/// arrival order) and emits the changes of that table with each row's rank: `+I` for a row
/// that takes a new rank, `-U`/`+U` for a rank whose row changes. Input: an append-only
/// stream; output: the input columns, the rank (BIGINT) and the row kind (`$op`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankSpec {
    pub input: RowSchema,
    /// Partition columns of `input` (none: one global ranking).
    pub partition_by: Vec<usize>,
    pub order_by: Vec<SortKey>,
    /// The highest rank kept (`rownum <= limit`), at least 1.
    pub limit: u64,
    pub output: RowSchema,
}

impl Spec for RankSpec {
    fn name(&self) -> String {
        "Rank".into()
    }

    fn output_schema(&self) -> &RowSchema {
        &self.output
    }

    fn description(&self) -> String {
        let name = |i: usize| self.input.columns[i].name.clone();
        let partition: Vec<String> = self.partition_by.iter().map(|i| name(*i)).collect();
        let order: Vec<String> = self
            .order_by
            .iter()
            .map(|k| {
                format!(
                    "{} {}",
                    name(k.column),
                    if k.descending { "DESC" } else { "ASC" }
                )
            })
            .collect();
        format!(
            "Rank(strategy=[AppendFastStrategy], rankType=[ROW_NUMBER], rankRange=[rankStart=1, rankEnd={}], partitionBy=[{}], orderBy=[{}])",
            self.limit,
            partition.join(", "),
            order.join(", ")
        )
    }
}
