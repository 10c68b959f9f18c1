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

/// How rows are numbered within a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RankType {
    /// 1, 2, 3, ...: rows of equal sort keys numbered in arrival order.
    #[default]
    RowNumber,
    /// Rows of equal sort keys share a rank; the next rank skips (1, 1, 3).
    Rank,
    /// Rows of equal sort keys share a rank; the next rank follows (1, 1, 2).
    DenseRank,
}

impl RankType {
    pub fn sql_name(self) -> &'static str {
        match self {
            RankType::RowNumber => "ROW_NUMBER",
            RankType::Rank => "RANK",
            RankType::DenseRank => "DENSE_RANK",
        }
    }
}

/// Keeps, per partition, the first `limit` rows in `order_by` order (rows of equal keys in
/// arrival order) and emits the changes of that table with each row's rank: `+I` for a row
/// that takes a new rank, `-U`/`+U` for a rank whose row changes. Input: an append-only
/// stream or a changelog (`$op` last: retracted rows leave the ranking, the rows after them move
/// up); output: the input columns, the rank (BIGINT) and the row kind (`$op`). With RANK or
/// DENSE_RANK every row whose rank is at most `limit` is kept (ties may keep more rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankSpec {
    pub input: RowSchema,
    /// Partition columns of `input` (none: one global ranking).
    pub partition_by: Vec<usize>,
    pub order_by: Vec<SortKey>,
    /// The highest rank kept (`rownum <= limit`), at least 1.
    pub limit: u64,
    #[serde(default, skip_serializing_if = "is_row_number")]
    pub rank_type: RankType,
    /// A partition not written for this long (processing time) is dropped
    /// (`table.exec.state.ttl`); 0 keeps every partition.
    #[serde(default, skip_serializing_if = "crate::specs::no_ttl")]
    pub state_ttl_ms: u64,
    /// A window Top-N (Flink's `WindowRank`): the input column holding `window_end`, which
    /// `partition_by` includes; each window's ranking is emitted once, when the watermark
    /// passes its end, append-only (`output` has no `$op`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end: Option<usize>,
    /// A deduplication (Flink's Deduplicate): `ROW_NUMBER` with `limit` 1 ordered by this time
    /// attribute alone, over an append-only input, the rank not selected. Per partition it keeps
    /// the first row in time (`ASC`) or the last (`DESC`); keeping the last, a row of the same
    /// time as the kept one replaces it (a Top-N keeps the earlier of two equal keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deduplicate: Option<TimeAttribute>,
    pub output: RowSchema,
}

/// The time attribute a deduplication orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimeAttribute {
    Rowtime,
    Proctime,
}

fn is_row_number(t: &RankType) -> bool {
    *t == RankType::RowNumber
}

impl RankSpec {
    /// Whether the input is a changelog (its schema ends with the row kinds, `$op`).
    pub fn input_is_changelog(&self) -> bool {
        self.input
            .columns
            .last()
            .is_some_and(|c| c.name == crate::changelog::OP_COLUMN)
    }
}

impl Spec for RankSpec {
    fn name(&self) -> String {
        if self.window_end.is_some() {
            "WindowRank".into()
        } else if self.deduplicate.is_some() {
            "Deduplicate".into()
        } else {
            "Rank".into()
        }
    }

    fn output_schema(&self) -> &RowSchema {
        &self.output
    }

    fn description(&self) -> String {
        let name = |i: usize| self.input.columns[i].name.clone();
        let partition: Vec<String> = self.partition_by.iter().map(|i| name(*i)).collect();
        if let (Some(time), [key]) = (self.deduplicate, self.order_by.as_slice()) {
            return format!(
                "Deduplicate(keep=[{}], key=[{}], order=[{}]{})",
                if key.descending {
                    "LastRow"
                } else {
                    "FirstRow"
                },
                partition.join(", "),
                match time {
                    TimeAttribute::Rowtime => "ROWTIME",
                    TimeAttribute::Proctime => "PROCTIME",
                },
                super::describe_ttl(&[self.state_ttl_ms])
            );
        }
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
            "{}(strategy=[{}], rankType=[{}], rankRange=[rankStart=1, rankEnd={}], partitionBy=[{}], orderBy=[{}]{})",
            self.name(),
            if self.window_end.is_some() {
                "WindowFire"
            } else if self.input_is_changelog() {
                "RetractStrategy"
            } else {
                "AppendFastStrategy"
            },
            self.rank_type.sql_name(),
            self.limit,
            partition.join(", "),
            order.join(", "),
            super::describe_ttl(&[self.state_ttl_ms])
        )
    }
}
