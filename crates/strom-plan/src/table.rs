//! A table as `CREATE TABLE` declares it: schema, connector options, watermark, primary key.

use crate::types::RowSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A table declared by `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSpec {
    pub name: String,
    pub schema: RowSchema,
    /// The `WITH (...)` options, keys as written.
    pub options: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<WatermarkSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<String>,
    /// `PARTITIONED BY (col, ...)`: a filesystem sink writes each partition's rows into its
    /// own directory (`col=value/...`), without those columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_keys: Vec<String>,
}

impl TableSpec {
    pub fn connector(&self) -> &str {
        self.options
            .get("connector")
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }
}

/// `WATERMARK FOR column AS expr`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatermarkSpec {
    pub column: String,
    /// The expression as written (over the table's columns).
    pub sql: String,
}

/// What the batch planner may know of a table's data before the job runs, for DataFusion's
/// optimizer to order joins (the smaller input builds the hash table) and to broadcast small
/// inputs. A connector that knows nothing answers `None`, and the plan is what it was without.
pub trait TableStatisticsSource: Send + Sync + std::fmt::Debug {
    /// Statistics of the whole table: one column statistics per column of its schema, in
    /// order. Every figure is inexact (the data may change before the job reads it), so the
    /// optimizer never answers a query from them.
    fn statistics(&self, table: &TableSpec) -> Option<datafusion::common::Statistics>;
}

/// The source that knows nothing of any table.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStatistics;

impl TableStatisticsSource for NoStatistics {
    fn statistics(&self, _table: &TableSpec) -> Option<datafusion::common::Statistics> {
        None
    }
}
