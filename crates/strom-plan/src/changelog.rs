//! Changelog streams: an updating result (a non-windowed `GROUP BY` in streaming mode) carries
//! the kind of each row, as Flink's `RowKind`, in a trailing TINYINT column named [`OP_COLUMN`].
//! Operators that pass rows through (Calc) keep the column; sinks that accept updates read it.

/// The name of the row-kind column of a changelog stream.
pub const OP_COLUMN: &str = "$op";

/// The kind of a row in a changelog (Flink's `RowKind`, same byte values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum RowKind {
    /// `+I`: a new row.
    Insert = 0,
    /// `-U`: the previous version of an updated row (retracted).
    UpdateBefore = 1,
    /// `+U`: the new version of an updated row.
    UpdateAfter = 2,
    /// `-D`: a deleted row.
    Delete = 3,
}

impl RowKind {
    pub fn from_byte(b: i8) -> Option<RowKind> {
        Some(match b {
            0 => RowKind::Insert,
            1 => RowKind::UpdateBefore,
            2 => RowKind::UpdateAfter,
            3 => RowKind::Delete,
            _ => return None,
        })
    }

    /// Flink's short form: `+I`, `-U`, `+U`, `-D`.
    pub fn short_string(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }

    /// Whether the row adds to the result (+I, +U) rather than retracting from it (-U, -D).
    pub fn is_addition(self) -> bool {
        matches!(self, RowKind::Insert | RowKind::UpdateAfter)
    }
}
