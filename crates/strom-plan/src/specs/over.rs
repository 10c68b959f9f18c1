//! The OVER aggregate's spec (Flink's `OverAggregate`): `agg(x) OVER (PARTITION BY k ORDER BY
//! time ROWS | RANGE BETWEEN ... PRECEDING AND CURRENT ROW)` on an event-time or processing-time
//! attribute.

use super::aggregate::AggCall;
use super::Spec;
use crate::types::RowSchema;
use serde::{Deserialize, Serialize};

/// The rows an OVER aggregate folds for a row: those before it up to the current row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "units", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OverFrame {
    /// `ROWS BETWEEN n PRECEDING AND CURRENT ROW` (`None`: UNBOUNDED PRECEDING): the row and
    /// the `n` rows before it, in time order (arrival order among equal times).
    Rows { preceding: Option<u64> },
    /// `RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT ROW` (`None`: UNBOUNDED PRECEDING):
    /// the rows whose time is at most `preceding_ms` before the row's, and every row of the
    /// same time (its peers).
    Range { preceding_ms: Option<i64> },
}

/// Appends to each input row the aggregates of its frame within its partition. On event time
/// the rows wait until the watermark passes their time and are folded in time order (a row
/// behind the watermark on arrival is late: dropped and counted); on processing time they are
/// folded as they arrive. Output: the input columns, then one column per call (append-only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverAggregateSpec {
    pub input: RowSchema,
    /// Partition columns of `input` (none: one partition, parallelism 1).
    pub partition_by: Vec<usize>,
    /// The time attribute the rows are ordered by (ascending).
    pub order_by: usize,
    /// `order_by` is a processing-time attribute (`PROCTIME()`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub processing_time: bool,
    pub frame: OverFrame,
    pub aggregates: Vec<AggCall>,
    /// A partition not written for this long (processing time) is dropped
    /// (`table.exec.state.ttl`); 0 keeps every partition.
    #[serde(default, skip_serializing_if = "super::no_ttl")]
    pub state_ttl_ms: u64,
    pub output: RowSchema,
}

impl Spec for OverAggregateSpec {
    fn name(&self) -> String {
        "OverAggregate".into()
    }

    fn output_schema(&self) -> &RowSchema {
        &self.output
    }

    fn description(&self) -> String {
        let name = |i: usize| self.input.columns[i].name.clone();
        let partition: Vec<String> = self.partition_by.iter().map(|i| name(*i)).collect();
        let frame = match self.frame {
            OverFrame::Rows { preceding: None } => "ROWS BETWEEN UNBOUNDED PRECEDING".to_string(),
            OverFrame::Rows { preceding: Some(n) } => format!("ROWS BETWEEN {n} PRECEDING"),
            OverFrame::Range { preceding_ms: None } => {
                "RANGE BETWEEN UNBOUNDED PRECEDING".to_string()
            }
            OverFrame::Range {
                preceding_ms: Some(ms),
            } => format!("RANGE BETWEEN {ms} PRECEDING"),
        };
        let calls: Vec<String> = self
            .aggregates
            .iter()
            .map(|c| format!("{} AS {}", c.describe(&self.input), c.name))
            .collect();
        format!(
            "OverAggregate(partitionBy=[{}], orderBy=[{} ASC], window=[{frame} AND CURRENT ROW], select=[{}]{})",
            partition.join(", "),
            name(self.order_by),
            calls.join(", "),
            super::describe_ttl(&[self.state_ttl_ms])
        )
    }
}
