//! The window table function's spec: the window assigner over a time column.

use super::Spec;
use crate::types::RowSchema;
use serde::{Deserialize, Serialize};

/// A window assigner over a time column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WindowSpec {
    Tumble {
        size_ms: i64,
        offset_ms: i64,
    },
    Hop {
        slide_ms: i64,
        size_ms: i64,
        offset_ms: i64,
    },
    Cumulate {
        step_ms: i64,
        size_ms: i64,
        offset_ms: i64,
    },
    /// Session windows: rows of one partition closer than `gap_ms` belong to one window. The
    /// window function gives each row its own window `[ts, ts + gap)`; the window aggregate
    /// merges overlapping ones.
    Session {
        gap_ms: i64,
    },
}

impl WindowSpec {
    pub fn kind_name(&self) -> &'static str {
        match self {
            WindowSpec::Tumble { .. } => "TUMBLE",
            WindowSpec::Hop { .. } => "HOP",
            WindowSpec::Cumulate { .. } => "CUMULATE",
            WindowSpec::Session { .. } => "SESSION",
        }
    }

    pub fn describe(&self, _input: &RowSchema) -> String {
        match self {
            WindowSpec::Tumble { size_ms, .. } => format!("TUMBLE(size=[{} ms])", size_ms),
            WindowSpec::Hop {
                slide_ms, size_ms, ..
            } => {
                format!("HOP(slide=[{} ms], size=[{} ms])", slide_ms, size_ms)
            }
            WindowSpec::Cumulate {
                step_ms, size_ms, ..
            } => {
                format!("CUMULATE(step=[{} ms], max_size=[{} ms])", step_ms, size_ms)
            }
            WindowSpec::Session { gap_ms } => format!("SESSION(gap=[{gap_ms} ms])"),
        }
    }
}

/// `TABLE(TUMBLE(TABLE t, DESCRIPTOR(col), size))`: appends `window_start`, `window_end`,
/// `window_time` to every row (one copy per window the row belongs to).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowTvfSpec {
    pub input: RowSchema,
    pub time_column: usize,
    pub window: WindowSpec,
    pub output: RowSchema,
}

impl Spec for WindowTvfSpec {
    fn name(&self) -> String {
        format!("WindowTableFunction({})", self.window.kind_name())
    }

    fn output_schema(&self) -> &RowSchema {
        &self.output
    }

    fn description(&self) -> String {
        format!(
            "WindowTableFunction(window=[{}])",
            self.window.describe(&self.input)
        )
    }
}
