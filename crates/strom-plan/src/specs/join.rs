//! The streaming join's spec: inputs, keys, how it bounds its state.

use super::ExprSpec;
use super::Spec;
use crate::types::RowSchema;
use serde::{Deserialize, Serialize};

/// Which rows of a join are kept without a partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JoinType {
    Inner,
    Left,
    Right,
    Full,
    /// The left rows with a partner (`EXISTS`, `IN`), each once; output: the left columns.
    LeftSemi,
    /// The left rows without a partner (`NOT EXISTS`); output: the left columns.
    LeftAnti,
    /// The right rows with a partner, each once; output: the right columns.
    RightSemi,
    /// The right rows without a partner; output: the right columns.
    RightAnti,
}

impl JoinType {
    /// Every join type.
    pub const ALL: [JoinType; 8] = [
        JoinType::Inner,
        JoinType::Left,
        JoinType::Right,
        JoinType::Full,
        JoinType::LeftSemi,
        JoinType::LeftAnti,
        JoinType::RightSemi,
        JoinType::RightAnti,
    ];

    /// The side a semi or anti join outputs (0 left, 1 right) and whether it keeps the rows
    /// with a partner (semi) or without (anti); `None` for the other joins.
    pub fn semi_side(self) -> Option<(usize, bool)> {
        match self {
            JoinType::LeftSemi => Some((0, true)),
            JoinType::LeftAnti => Some((0, false)),
            JoinType::RightSemi => Some((1, true)),
            JoinType::RightAnti => Some((1, false)),
            _ => None,
        }
    }
}

/// How a streaming join bounds its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JoinKind {
    /// Both inputs are windowed alike and joined per window (`window_end` columns given); a
    /// window's rows are joined when the watermark passes its end, then dropped.
    Window { left_end: usize, right_end: usize },
    /// `right.ts + lower <= left.ts <= right.ts + upper` on the two rowtime columns; rows are
    /// dropped once the watermark passes the last time a partner could have.
    Interval {
        left_time: usize,
        right_time: usize,
        lower_ms: i64,
        upper_ms: i64,
    },
    /// Flink's regular join: every row of each side is kept (unbounded state) and joined with
    /// the rows of the other side that arrive later.
    Regular,
}

/// A two-input join: input 0 is the left side, input 1 the right. Output: left columns, then
/// right columns (names made unique); a semi or anti join outputs one side's columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinSpec {
    pub left: RowSchema,
    pub right: RowSchema,
    pub join_type: JoinType,
    /// Equality keys (columns of left and right, pairwise); the inputs are hashed on them.
    pub left_keys: Vec<usize>,
    pub right_keys: Vec<usize>,
    /// (In JSON `join_kind`: `kind` is the operator's tag in a JobGraph.)
    #[serde(rename = "join_kind")]
    pub kind: JoinKind,
    /// The rest of the join condition, over `output` (over `pair` for a semi or anti join).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<ExprSpec>,
    pub output: RowSchema,
    /// A semi or anti join: the columns of a pair of rows (left then right, names made
    /// unique), which `filter` reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<RowSchema>,
    /// A regular join: a kept row of the left / right input not written for this long
    /// (processing time) is dropped (`table.exec.state.ttl`, the `STATE_TTL` hint); 0 keeps it.
    #[serde(default, skip_serializing_if = "no_ttls")]
    pub state_ttl_ms: [u64; 2],
}

fn no_ttls(ttl: &[u64; 2]) -> bool {
    ttl.iter().all(super::no_ttl)
}

impl JoinSpec {
    /// A regular INNER join of two append-only inputs (no `$op`) without a state TTL: its
    /// output is append-only and no kept row ever changes, so it may keep its inputs' batches
    /// as they came (an interval join without time bounds) instead of counting rows.
    pub fn is_inner_of_appends(&self) -> bool {
        self.kind == JoinKind::Regular
            && self.join_type == JoinType::Inner
            && self.left.index_of(crate::changelog::OP_COLUMN).is_none()
            && self.right.index_of(crate::changelog::OP_COLUMN).is_none()
            && no_ttls(&self.state_ttl_ms)
    }
}

impl Spec for JoinSpec {
    fn name(&self) -> String {
        match self.kind {
            JoinKind::Window { .. } => "WindowJoin".into(),
            JoinKind::Interval { .. } => "IntervalJoin".into(),
            JoinKind::Regular => "Join".into(),
        }
    }

    fn output_schema(&self) -> &RowSchema {
        &self.output
    }

    fn description(&self) -> String {
        let keys: Vec<String> = self
            .left_keys
            .iter()
            .zip(&self.right_keys)
            .map(|(l, r)| {
                format!(
                    "{} = {}",
                    self.left.columns[*l].name, self.right.columns[*r].name
                )
            })
            .collect();
        let kind = match self.kind {
            JoinKind::Window { .. } => "window".to_string(),
            JoinKind::Regular => "regular".to_string(),
            JoinKind::Interval {
                left_time,
                right_time,
                lower_ms,
                upper_ms,
            } => format!(
                "{} BETWEEN {} + {lower_ms} ms AND {} + {upper_ms} ms",
                self.left.columns[left_time].name,
                self.right.columns[right_time].name,
                self.right.columns[right_time].name
            ),
        };
        format!(
            "{}(joinType=[{:?}], keys=[{}], {kind}{}{})",
            self.name(),
            self.join_type,
            keys.join(", "),
            self.filter
                .as_ref()
                .map(|f| format!(", where=[{}]", f.sql))
                .unwrap_or_default(),
            super::describe_ttl(&self.state_ttl_ms)
        )
    }
}
