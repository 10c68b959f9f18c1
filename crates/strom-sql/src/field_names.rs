//! Flink's names for select items without an alias. Nested field access: `SELECT person.id
//! FROM t` gives a column `id` (Flink's rule), where DataFusion would name it after the whole
//! access path; a select item `a.b...z` without an alias is named `z` when `a` is not a table of
//! the SELECT's FROM clause (so `a` is a ROW column) or when the path is longer than
//! `table.column`. Any other expression (`COUNT(*)`, `UPPER(x)`, `1`) is named `EXPR$i` after
//! its position in the list, as Calcite names it, where DataFusion would name it after its text
//! (and refuse two items whose texts are alike).

use crate::dialect::normalize_ident;
use sqlparser::ast::{
    Expr, Ident, Query, SelectItem, SetExpr, TableFactor, TableWithJoins, VisitMut, VisitorMut,
};
use std::ops::ControlFlow;

/// Names the nested field accesses of every SELECT list in `node`.
pub fn name_fields<V: VisitMut>(node: &mut V) {
    let _ = node.visit(&mut Namer);
}

struct Namer;

impl VisitorMut for Namer {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        name_in(&mut query.body);
        ControlFlow::Continue(())
    }
}

fn name_in(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            let relations = relation_names(&select.from);
            for (i, item) in select.projection.iter_mut().enumerate() {
                let parts = match item {
                    SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => parts,
                    SelectItem::UnnamedExpr(Expr::Identifier(_) | Expr::Wildcard(_)) => continue,
                    SelectItem::UnnamedExpr(expr) => {
                        *item = SelectItem::ExprWithAlias {
                            expr: expr.clone(),
                            // quoted: Strom folds unquoted names to lower case
                            alias: Ident::with_quote('`', format!("EXPR${i}")),
                        };
                        continue;
                    }
                    _ => continue,
                };
                let nested = parts.len() > 2
                    || (parts.len() == 2 && !relations.contains(&normalize_ident(&parts[0])));
                if nested {
                    let alias = parts.last().expect("compound").clone();
                    let expr = Expr::CompoundIdentifier(parts.clone());
                    *item = SelectItem::ExprWithAlias { expr, alias };
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            name_in(left);
            name_in(right);
        }
        _ => {}
    }
}

/// The names a SELECT's columns may be qualified with: its tables' names and aliases.
fn relation_names(from: &[TableWithJoins]) -> Vec<String> {
    let mut names = Vec::new();
    let mut add = |f: &TableFactor| match f {
        TableFactor::Table { name, alias, .. } => {
            if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                names.push(normalize_ident(last));
            }
            if let Some(a) = alias {
                names.push(normalize_ident(&a.name));
            }
        }
        other => {
            if let Some(a) = table_alias(other) {
                names.push(normalize_ident(&a.name));
            }
        }
    };
    for t in from {
        add(&t.relation);
        for j in &t.joins {
            add(&j.relation);
        }
    }
    names
}

fn table_alias(f: &TableFactor) -> Option<&sqlparser::ast::TableAlias> {
    match f {
        TableFactor::Derived { alias, .. }
        | TableFactor::TableFunction { alias, .. }
        | TableFactor::Function { alias, .. }
        | TableFactor::UNNEST { alias, .. }
        | TableFactor::NestedJoin { alias, .. } => alias.as_ref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::{parse_script, SqlStatement};

    fn first_query(sql: &str) -> String {
        match &parse_script(sql).unwrap()[0] {
            SqlStatement::Query(q) => q.to_string(),
            SqlStatement::CreateView { view, .. } => view.query.to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_expressions_are_named_after_their_position() {
        let q = first_query("SELECT k, COUNT(*), UPPER(k), v AS s, 1 FROM t GROUP BY k, v");
        assert_eq!(
            q,
            "SELECT k, COUNT(*) AS `EXPR$1`, UPPER(k) AS `EXPR$2`, v AS s, 1 AS `EXPR$4` FROM t GROUP BY k, v"
        );
    }

    #[test]
    fn row_fields_are_named_after_the_field() {
        let q = first_query("SELECT person.id, t.a, t.person.name, `dateTime` FROM t");
        assert_eq!(
            q,
            "SELECT person.id AS id, t.a, t.person.name AS name, `dateTime` FROM t"
        );
        let q = first_query(
            "CREATE VIEW v AS SELECT x.id, bid.price FROM a AS x JOIN b ON x.id = b.id",
        );
        assert_eq!(
            q,
            "SELECT x.id, bid.price AS price FROM a AS x JOIN b ON x.id = b.id"
        );
    }
}
