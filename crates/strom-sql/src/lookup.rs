//! `JOIN dim FOR SYSTEM_TIME AS OF s.proc_time AS d ON ...`: Flink's lookup join. This AST pass
//! takes the `FOR SYSTEM_TIME AS OF` off the table (DataFusion plans an ordinary join) and
//! returns the names the lookup tables go by in the query (their alias, else their name), so
//! that the planner turns their joins into lookup joins.

use crate::dialect::normalize_ident;
use crate::error::SqlError;
use sqlparser::ast::{Statement, TableFactor, TableVersion, VisitMut, VisitorMut};
use std::collections::BTreeSet;
use std::ops::ControlFlow;

#[derive(Default)]
struct Finder {
    names: BTreeSet<String>,
    error: Option<SqlError>,
}

impl VisitorMut for Finder {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            alias,
            version,
            ..
        } = tf
        {
            match version.take() {
                Some(TableVersion::ForSystemTimeAsOf(_)) => {
                    let by = match alias {
                        Some(a) => normalize_ident(&a.name),
                        None => name
                            .0
                            .last()
                            .and_then(|p| p.as_ident())
                            .map(normalize_ident)
                            .unwrap_or_default(),
                    };
                    self.names.insert(by);
                }
                Some(other) => {
                    self.error = Some(SqlError::new(format!(
                        "'{other}' is not Flink SQL; a lookup join reads a table FOR SYSTEM_TIME AS OF a processing-time attribute"
                    )));
                    return ControlFlow::Break(());
                }
                None => {}
            }
        }
        ControlFlow::Continue(())
    }
}

/// Takes `FOR SYSTEM_TIME AS OF` off the tables of `stmt`; returns the names they go by.
pub fn take_lookup_tables(stmt: &mut Statement) -> Result<BTreeSet<String>, SqlError> {
    let mut f = Finder::default();
    let _ = stmt.visit(&mut f);
    match f.error {
        Some(e) => Err(e),
        None => Ok(f.names),
    }
}
