//! The aggregate operator's spec: group keys, aggregate calls, phase, windows, changelog.

use super::Spec;
use crate::aggregates::{AggFunc, StateField};
use crate::types::{Column, RowSchema, SqlType};
use serde::{Deserialize, Serialize};

/// One aggregate call: function, argument column (none for COUNT(*)), result name and type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggCall {
    pub func: AggFunc,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arg: Option<usize>,
    #[serde(default)]
    pub distinct: bool,
    pub name: String,
    pub result_type: SqlType,
    /// A constant argument after the column (LISTAGG's separator, NTH_VALUE's n), as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub literal: Option<String>,
    /// `IGNORE NULLS` (ARRAY_AGG, NTH_VALUE; the other functions skip NULLs anyway).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_nulls: bool,
}

impl AggCall {
    pub fn describe(&self, input: &RowSchema) -> String {
        let arg = match self.arg {
            Some(i) => input.columns[i].name.clone(),
            None => "*".into(),
        };
        let d = if self.distinct { "DISTINCT " } else { "" };
        format!("{}({d}{arg})", self.func.sql_name())
    }

    /// The state columns of this call's partial aggregate.
    pub fn state_fields(&self, input: &RowSchema) -> Vec<StateField> {
        let arg = self.arg.and_then(|a| input.columns.get(a)).map(|c| &c.ty);
        self.func.state_fields(arg, &self.result_type)
    }
}

/// Schema of partial aggregate rows: group keys, then per call its state columns
/// ([`AggCall::state_fields`]: AVG keeps sum and count).
pub fn partial_schema(input: &RowSchema, group_by: &[usize], calls: &[AggCall]) -> RowSchema {
    let mut cols: Vec<Column> = group_by.iter().map(|g| input.columns[*g].clone()).collect();
    for (k, c) in calls.iter().enumerate() {
        cols.extend(c.state_fields(input).into_iter().map(|f| Column {
            name: format!("${}{k}", f.name),
            ty: f.ty,
            nullable: f.nullable,
        }));
    }
    RowSchema::new(cols)
}

/// Single: raw rows in, final rows out. Partial: raw rows in, partial states out.
/// Final: partial states in, final rows out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AggregateMode {
    #[default]
    Single,
    Partial,
    Final,
}

/// `GROUP BY` aggregation. With `window_end_column`, a window aggregate: a group fires when the
/// watermark passes its window end (and at end of input); otherwise results are emitted at end of
/// input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggregateSpec {
    pub input: RowSchema,
    /// Group-by columns of `input` (including the window columns for a window aggregate).
    pub group_by: Vec<usize>,
    pub aggregates: Vec<AggCall>,
    /// The input column holding `window_end`, for a window aggregate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end_column: Option<usize>,
    /// Group-by columns of `input` that are window attributes (`window_start`, `window_end`,
    /// `window_time`): constant within one window, so not hashed per row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub window_key_columns: Vec<usize>,
    #[serde(default)]
    pub mode: AggregateMode,
    /// A non-windowed aggregate of a streaming job: every change of a group's result is emitted
    /// as it happens (+I, then -U/+U pairs), with the row kind in a trailing `$op` column of
    /// `output`. Otherwise results are emitted when a window fires or at end of input.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub changelog: bool,
    /// With `changelog`: fold the changes of a whole input batch into one change per group
    /// (`table.exec.mini-batch.enabled`), instead of one per input row.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mini_batch: bool,
    /// A session window aggregate: windows `[start, end)` of the input rows (from a SESSION
    /// window function) that overlap are merged per group before they fire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_gap_ms: Option<i64>,
    /// With `changelog`: a group not written for this long (processing time) is dropped
    /// (`table.exec.state.ttl`, the `STATE_TTL` hint); 0 keeps every group.
    #[serde(default, skip_serializing_if = "crate::specs::no_ttl")]
    pub state_ttl_ms: u64,
    /// Output: group-by columns, then aggregates (or partial states for Partial), then `$op`
    /// with `changelog`.
    pub output: RowSchema,
}

impl AggregateSpec {
    /// Whether the input is a changelog (its schema ends with the row kinds, `$op`): the
    /// aggregate then retracts the rows `-U` and `-D` take back.
    pub fn input_is_changelog(&self) -> bool {
        self.input
            .columns
            .last()
            .is_some_and(|c| c.name == crate::changelog::OP_COLUMN)
    }
}

impl Spec for AggregateSpec {
    fn name(&self) -> String {
        if self.session_gap_ms.is_some() {
            return "SessionWindowAggregate".into();
        }
        match (self.window_end_column.is_some(), self.mode) {
            (true, AggregateMode::Partial) => "LocalWindowAggregate".into(),
            (true, AggregateMode::Final) => "GlobalWindowAggregate".into(),
            (true, AggregateMode::Single) => "WindowAggregate".into(),
            (false, AggregateMode::Partial) => "LocalGroupAggregate".into(),
            (false, AggregateMode::Final) => "GlobalGroupAggregate".into(),
            (false, AggregateMode::Single) => "GroupAggregate".into(),
        }
    }

    fn output_schema(&self) -> &RowSchema {
        &self.output
    }

    fn description(&self) -> String {
        let keys: Vec<&str> = self
            .group_by
            .iter()
            .map(|i| self.input.columns[*i].name.as_str())
            .collect();
        let aggs: Vec<String> = self
            .aggregates
            .iter()
            .map(|x| format!("{} AS {}", x.describe(&self.input), x.name))
            .collect();
        format!(
            "{}(groupBy=[{}], select=[{}]{})",
            self.name(),
            keys.join(", "),
            aggs.join(", "),
            super::describe_ttl(&[self.state_ttl_ms])
        )
    }
}
