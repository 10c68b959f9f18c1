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
