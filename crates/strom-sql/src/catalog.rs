//! Tables known to a SQL session, and the planning-only table provider DataFusion plans against.

use crate::parser::ViewSpec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::logical_expr::{LogicalTableSource, TableSource};
use std::collections::BTreeMap;
use std::sync::Arc;
use strom_plan::job_graph::{TableSpec, WindowSpec};
use strom_plan::table::{NoStatistics, TableStatisticsSource};

/// A window table function found in a query, planned as the table `__window_<n>`.
#[derive(Debug, Clone)]
pub struct WindowTvf {
    pub table: String,
    pub time_column: String,
    pub window: WindowSpec,
    /// `SESSION(TABLE t PARTITION BY k, ...)`: the columns sessions are kept apart by.
    pub partition_by: Vec<String>,
}

impl WindowTvf {
    pub fn table_name(index: usize) -> String {
        format!("__window_{index}")
    }
}

/// A computed column: its name and its expression as SQL over the table's physical columns.
#[derive(Debug, Clone)]
pub struct ComputedSql {
    pub name: String,
    pub sql: String,
}

/// The tables declared by `CREATE TABLE`, by (lower-case) name, and the views declared by
/// `CREATE VIEW`, in the order declared (a view uses tables and earlier views).
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Each table's schema lists every column, computed ones (typed) included.
    pub tables: BTreeMap<String, TableSpec>,
    /// The computed columns of each table that has some (`name AS expression`).
    pub computed: BTreeMap<String, Vec<ComputedSql>>,
    pub views: Vec<ViewSpec>,
    /// Each view's output columns (from its plan when it was declared).
    pub view_schemas: BTreeMap<String, strom_plan::RowSchema>,
    /// What the batch planner may learn of the tables' data (their connectors' statistics).
    pub statistics: Arc<dyn TableStatisticsSource>,
    /// `CREATE FUNCTION name AS 'class'`: each name's native function.
    pub functions: BTreeMap<String, &'static str>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self {
            tables: BTreeMap::new(),
            computed: BTreeMap::new(),
            views: Vec::new(),
            view_schemas: BTreeMap::new(),
            statistics: Arc::new(NoStatistics),
            functions: BTreeMap::new(),
        }
    }
}

impl Catalog {
    /// Whether a table or view is named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.tables.contains_key(name) || self.views.iter().any(|v| v.name == name)
    }
}

impl Catalog {
    pub fn source_for(schema: SchemaRef) -> Arc<dyn TableSource> {
        // Strom plans with DataFusion but executes with its own operators: a schema suffices.
        Arc::new(LogicalTableSource::new(schema))
    }
}
