//! Flink's legacy group windows: `GROUP BY k, TUMBLE(ts, size)` (or `HOP(ts, slide, size)`,
//! `SESSION(ts, gap)`) with `TUMBLE_START(ts, size)`, `TUMBLE_END`, `TUMBLE_ROWTIME` (and the
//! `HOP_*`, `SESSION_*` ones) in the select list, rewritten into the window table functions
//! Strom plans: `FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), size)) GROUP BY k, window_start,
//! window_end`, with `window_start`, `window_end` and `window_time` for the auxiliary
//! functions. A legacy session window keeps sessions apart per group key: its table function
//! is partitioned by the other `GROUP BY` columns.

use crate::dialect::FlinkDialect;
use crate::error::SqlError;
use sqlparser::ast::{
    visit_expressions_mut, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    Ident, Query, Select, SetExpr, Spanned, TableFactor, VisitMut, VisitorMut,
};
use sqlparser::parser::Parser;
use std::ops::ControlFlow;

/// Rewrites every SELECT of `node` that groups by a legacy group window.
pub fn rewrite_group_windows<V: VisitMut>(node: &mut V) -> Result<(), SqlError> {
    let mut v = Rewriter { error: None };
    let _ = node.visit(&mut v);
    v.error.map_or(Ok(()), Err)
}

struct Rewriter {
    error: Option<SqlError>,
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(s) = q.body.as_mut() {
            if let Err(e) = rewrite_select(s) {
                self.error = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

const KINDS: [&str; 3] = ["TUMBLE", "HOP", "SESSION"];

/// The group window call of a GROUP BY item: its kind and arguments.
fn group_window(e: &Expr) -> Option<(&'static str, Vec<&Expr>)> {
    let Expr::Function(f) = e else {
        return None;
    };
    let name = f.name.to_string().to_ascii_uppercase();
    let kind = KINDS.iter().find(|k| **k == name)?;
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let args = list
        .args
        .iter()
        .filter_map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect();
    Some((kind, args))
}

/// A legacy session window is per group key: its session function is partitioned by the other
/// `GROUP BY` items (`keys` but the window at `at`), as ` PARTITION BY (a, b)`.
fn session_partition(kind: &str, keys: &[Expr], at: usize) -> Result<String, SqlError> {
    if kind != "SESSION" {
        return Ok(String::new());
    }
    let mut partition = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if i == at {
            continue;
        }
        let c = column(k).ok_or_else(|| {
            SqlError::at_span(
                format!("with a SESSION group window, the other GROUP BY items must be columns; compute '{k}' in a view first"),
                k.span(),
            )
        })?;
        partition.push(c.to_string());
    }
    Ok(if partition.is_empty() {
        String::new()
    } else {
        format!(" PARTITION BY ({})", partition.join(", "))
    })
}

/// The column an expression names (`ts`, `b.ts`), by its last part.
fn column(e: &Expr) -> Option<&Ident> {
    match e {
        Expr::Identifier(i) => Some(i),
        Expr::CompoundIdentifier(parts) => parts.last(),
        Expr::Nested(e) => column(e),
        _ => None,
    }
}

fn rewrite_select(s: &mut Select) -> Result<(), SqlError> {
    let GroupByExpr::Expressions(keys, _) = &mut s.group_by else {
        return Ok(());
    };
    let Some(at) = keys.iter().position(|k| group_window(k).is_some()) else {
        return Ok(());
    };
    let call = keys[at].clone();
    let span = call.span();
    let (kind, args) = group_window(&call).expect("found");
    let arity = if kind == "HOP" { 3 } else { 2 };
    if args.len() != arity && args.len() != arity + 1 {
        let usage = match kind {
            "TUMBLE" => "TUMBLE(time_attr, size [, offset])",
            "HOP" => "HOP(time_attr, slide, size [, offset])",
            _ => "SESSION(time_attr, gap)",
        };
        return Err(SqlError::at_span(
            format!("wrong number of arguments; usage in GROUP BY: {usage}"),
            span,
        ));
    }
    let time = column(args[0]).ok_or_else(|| {
        SqlError::at_span(
            format!("the first argument of {kind} in GROUP BY must be a time attribute column"),
            span,
        )
    })?;
    let single_table = match s.from.as_slice() {
        [twj] if twj.joins.is_empty() => match &twj.relation {
            TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } => Some((name.clone(), alias.clone())),
            _ => None,
        },
        _ => None,
    };
    let Some((table, alias)) = single_table else {
        return Err(SqlError::at_span(
            format!(
                "a {kind} group window needs FROM one table or view (Strom runs it as the window table function TABLE({kind}(TABLE t, DESCRIPTOR(ts), ...))); declare the query's input as a view first"
            ),
            span,
        ));
    };
    let partition = session_partition(kind, keys, at)?;
    let rest: Vec<String> = args[1..].iter().map(|a| a.to_string()).collect();
    let sql = format!(
        "{kind}(TABLE {table}{partition}, DESCRIPTOR({time}), {})",
        rest.join(", ")
    );
    let expr = Parser::new(&FlinkDialect)
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::at_span(format!("rewriting {kind} in GROUP BY: {e}"), span))?;
    s.from[0].relation = TableFactor::TableFunction { expr, alias };
    keys.splice(
        at..=at,
        [
            Expr::Identifier(Ident::new("window_start")),
            Expr::Identifier(Ident::new("window_end")),
        ],
    );
    rewrite_auxiliary(s, kind)
}

/// The auxiliary functions of a `kind` group window: `TUMBLE_START(ts, size)` becomes
/// `window_start`, `*_END` `window_end`, `*_ROWTIME` `window_time`.
fn rewrite_auxiliary(s: &mut Select, kind: &str) -> Result<(), SqlError> {
    let mut error = None;
    let mut aux = |e: &mut Expr| {
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        let name = f.name.to_string().to_ascii_uppercase();
        let Some((k, part)) = name.split_once('_').filter(|(k, _)| KINDS.contains(k)) else {
            return ControlFlow::Continue(());
        };
        let column = match part {
            "START" => "window_start",
            "END" => "window_end",
            "ROWTIME" => "window_time",
            _ => {
                error = Some(SqlError::at_span(
                    format!("{name} is not supported; use {k}_START, {k}_END or {k}_ROWTIME"),
                    e.span(),
                ));
                return ControlFlow::Break(());
            }
        };
        if k != kind {
            error = Some(SqlError::at_span(
                format!("{name} does not match the {kind} window in GROUP BY"),
                e.span(),
            ));
            return ControlFlow::Break(());
        }
        *e = Expr::Identifier(Ident::new(column));
        ControlFlow::Continue(())
    };
    let _ = visit_expressions_mut(&mut s.projection, &mut aux);
    if let Some(h) = &mut s.having {
        let _ = visit_expressions_mut(h, &mut aux);
    }
    error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{parse_script, SqlStatement};

    fn rewritten(sql: &str) -> Result<String, SqlError> {
        let mut stmts = parse_script(sql)?;
        let Some(SqlStatement::Query(mut q)) = stmts.pop() else {
            panic!("a query")
        };
        rewrite_group_windows(&mut *q)?;
        Ok(q.to_string())
    }

    #[test]
    fn legacy_windows_become_window_table_functions() {
        let q = rewritten(
            "SELECT B.bidder, count(*), SESSION_START(B.ts, INTERVAL '10' SECOND) AS s, \
             SESSION_END(B.ts, INTERVAL '10' SECOND) FROM bid B \
             GROUP BY B.bidder, SESSION(B.ts, INTERVAL '10' SECOND)",
        )
        .unwrap();
        assert!(
            q.contains("FROM TABLE(SESSION(") && q.contains("window_start AS s"),
            "{q}"
        );
        assert!(
            q.contains("GROUP BY B.bidder, window_start, window_end"),
            "{q}"
        );
        let q = rewritten(
            "SELECT TUMBLE_END(ts, INTERVAL '5' SECOND), sum(v) FROM t \
             GROUP BY TUMBLE(ts, INTERVAL '5' SECOND) HAVING sum(v) > 1",
        )
        .unwrap();
        assert!(
            // unaliased items are named by their position, as in Flink
            q.contains("SELECT window_end AS `EXPR$0`, sum(v) AS `EXPR$1` FROM TABLE(TUMBLE("),
            "{q}"
        );
    }

    #[test]
    fn a_group_window_over_a_join_is_refused_clearly() {
        let e = rewritten(
            "SELECT count(*) FROM a JOIN b ON a.k = b.k GROUP BY TUMBLE(a.ts, INTERVAL '1' SECOND)",
        )
        .unwrap_err();
        assert!(e.message.contains("needs FROM one table or view"), "{e:?}");
        let e = rewritten("SELECT HOP_START(ts, INTERVAL '1' SECOND, INTERVAL '2' SECOND) FROM t GROUP BY TUMBLE(ts, INTERVAL '1' SECOND)").unwrap_err();
        assert!(e.message.contains("does not match"), "{e:?}");
    }
}
