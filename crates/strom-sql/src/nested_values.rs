//! DataFusion plans an INSERT's query with the target table's schema in its planner context,
//! and a `VALUES` nested in that query's `FROM` (`INSERT INTO s SELECT k, COUNT(*) FROM (VALUES
//! ...) AS t(k, v) GROUP BY k`) takes it as its own, failing when the widths differ. Each such
//! `VALUES` becomes a view of its own here (`__values_<n>`, planned with a fresh context, as
//! views are), referred to under the same alias.

use crate::parser::ViewSpec;
use sqlparser::ast::{Ident, ObjectName, Query, SetExpr, Statement, TableFactor};

/// Replaces the `VALUES` nested in the `FROM` clauses of INSERT statement `stmt`'s query by
/// views, numbered from `first`; returns the views.
pub fn take_nested_values(stmt: &mut Statement, first: usize) -> Vec<ViewSpec> {
    let mut views = Vec::new();
    if let Statement::Insert(insert) = stmt {
        if let Some(q) = insert.source.as_mut() {
            if !matches!(*q.body, SetExpr::Values(_)) {
                query(q, first, &mut views);
            }
        }
    }
    views
}

fn query(q: &mut Query, first: usize, views: &mut Vec<ViewSpec>) {
    if let Some(with) = q.with.as_mut() {
        for cte in &mut with.cte_tables {
            query(&mut cte.query, first, views);
        }
    }
    set_expr(&mut q.body, first, views);
}

fn set_expr(s: &mut SetExpr, first: usize, views: &mut Vec<ViewSpec>) {
    match s {
        SetExpr::Select(select) => {
            for t in &mut select.from {
                factor(&mut t.relation, first, views);
                for j in &mut t.joins {
                    factor(&mut j.relation, first, views);
                }
            }
        }
        SetExpr::Query(q) => query(q, first, views),
        SetExpr::SetOperation { left, right, .. } => {
            set_expr(left, first, views);
            set_expr(right, first, views);
        }
        _ => {}
    }
}

fn factor(f: &mut TableFactor, first: usize, views: &mut Vec<ViewSpec>) {
    match f {
        TableFactor::Derived {
            subquery, alias, ..
        } => {
            if !matches!(*subquery.body, SetExpr::Values(_)) {
                query(subquery, first, views);
                return;
            }
            let name = format!("__values_{}", first + views.len());
            views.push(ViewSpec {
                name: name.clone(),
                columns: Vec::new(),
                query: subquery.clone(),
            });
            *f = TableFactor::Table {
                name: ObjectName::from(vec![Ident::new(name)]),
                alias: alias.clone(),
                args: None,
                with_hints: Vec::new(),
                version: None,
                with_ordinality: false,
                partitions: Vec::new(),
                json_path: None,
                sample: None,
                index_hints: Vec::new(),
            };
        }
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => {
            factor(&mut table_with_joins.relation, first, views);
            for j in &mut table_with_joins.joins {
                factor(&mut j.relation, first, views);
            }
        }
        _ => {}
    }
}
