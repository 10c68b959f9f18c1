//! The source operator's spec: which table, which columns, its watermark.

use super::ExprSpec;
use super::Spec;
use crate::table::TableSpec;
use crate::types::RowSchema;
use serde::{Deserialize, Serialize};

/// Reads a table. The reader produces the `projection` columns of the table, in that order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSpec {
    pub table: TableSpec,
    pub projection: Vec<usize>,
    pub output: RowSchema,
    /// Watermark strategy over the projected output (index of the rowtime column, expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<SourceWatermark>,
    /// A table with computed columns (`name AS expression` in its DDL): `table` holds its
    /// physical columns, the connector reads `projection` of them, and output column `i` is
    /// expression `i` over the columns read (before the watermark is taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed: Option<Vec<ExprSpec>>,
    /// Processing-time windows downstream (over a `PROCTIME()` column): the source emits the
    /// wall clock as its watermark after every batch and while it waits, instead of `watermark`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub processing_time: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceWatermark {
    pub rowtime: usize,
    pub expr: ExprSpec,
    pub sql: String,
    /// When the expression is `rowtime - INTERVAL ...` (or the rowtime itself): that delay in ms,
    /// so sources compute watermarks with integer arithmetic instead of evaluating `expr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<i64>,
}

impl Spec for SourceSpec {
    fn name(&self) -> String {
        format!("Source: {}", self.table.name)
    }

    fn output_schema(&self) -> &RowSchema {
        &self.output
    }

    fn description(&self) -> String {
        format!(
            "TableSourceScan(table=[{}], fields=[{}]{})",
            self.table.name,
            self.output
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            self.watermark
                .as_ref()
                .map(|w| format!(", watermark=[{}]", w.sql))
                .unwrap_or_default()
        )
    }
}
