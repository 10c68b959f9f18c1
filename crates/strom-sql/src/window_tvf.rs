//! Rewrites Flink's window table functions in `FROM` into references to planning tables
//! `__window_<n>` whose schema is the input table's plus `window_start`, `window_end`,
//! `window_time`.

use crate::catalog::{Catalog, WindowTvf};
use crate::dialect::{PARTITION_BY_MARKER, TABLE_ARG_MARKER};
use crate::error::SqlError;
use crate::parser::{column_list, normalize_ident};
use sqlparser::ast::{
    DateTimeField, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
    Spanned, Statement, TableFactor, Value, VisitMut, VisitorMut,
};
use sqlparser::tokenizer::Span;
use std::ops::ControlFlow;
use strom_plan::job_graph::WindowSpec;

/// Replaces every `TABLE(TUMBLE|HOP|CUMULATE|SESSION(...))` in `stmt`; returns the window functions found
/// (index n is table `__window_n`).
pub fn rewrite_window_tvfs(
    stmt: &mut Statement,
    catalog: &Catalog,
) -> Result<Vec<WindowTvf>, SqlError> {
    let mut v = Rewriter {
        catalog,
        found: Vec::new(),
        error: None,
    };
    let _ = stmt.visit(&mut v);
    match v.error {
        Some(e) => Err(e),
        None => Ok(v.found),
    }
}

struct Rewriter<'a> {
    catalog: &'a Catalog,
    found: Vec<WindowTvf>,
    error: Option<SqlError>,
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::TableFunction { expr, alias } = tf else {
            return ControlFlow::Continue(());
        };
        match self.window(expr) {
            Ok(w) => {
                let name = WindowTvf::table_name(self.found.len());
                self.found.push(w);
                *tf = TableFactor::Table {
                    name: ObjectName::from(vec![Ident::new(name)]),
                    alias: alias.take(),
                    args: None,
                    with_hints: vec![],
                    version: None,
                    with_ordinality: false,
                    partitions: vec![],
                    json_path: None,
                    sample: None,
                    index_hints: vec![],
                };
                ControlFlow::Continue(())
            }
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

impl Rewriter<'_> {
    fn window(&self, expr: &Expr) -> Result<WindowTvf, SqlError> {
        let span = expr.span();
        let (fname, args) = call_args(expr)?;
        let usage = match fname.as_str() {
            "TUMBLE" => "TUMBLE(TABLE t, DESCRIPTOR(time_col), size [, offset])",
            "HOP" => "HOP(TABLE t, DESCRIPTOR(time_col), slide, size [, offset])",
            "CUMULATE" => "CUMULATE(TABLE t, DESCRIPTOR(time_col), step, size [, offset])",
            "SESSION" => "SESSION(TABLE t [PARTITION BY key], DESCRIPTOR(time_col), gap)",
            other => {
                return Err(SqlError::at_span(
                    format!("unknown window table function '{other}'; Strom supports TUMBLE, HOP, CUMULATE and SESSION"),
                    span,
                ))
            }
        };
        let n_intervals = if matches!(fname.as_str(), "TUMBLE" | "SESSION") {
            1
        } else {
            2
        };
        let max_args = if fname == "SESSION" {
            2 + n_intervals
        } else {
            3 + n_intervals
        };
        if args.len() < 2 + n_intervals || args.len() > max_args {
            return Err(SqlError::at_span(
                format!("wrong number of arguments; usage: {usage}"),
                span,
            ));
        }
        let (table, partition_by) = table_arg(args[0], &fname, usage)?;
        let schema = match self.catalog.tables.get(&table) {
            Some(spec) => &spec.schema,
            None => self.catalog.view_schemas.get(&table).ok_or_else(|| {
                SqlError::at_span(
                    format!("unknown table '{table}'; declare it with CREATE TABLE or CREATE VIEW first (known tables and views: {})", self.known()),
                    args[0].span(),
                )
            })?,
        };
        let time_column = descriptor_arg(args[1], usage)?;
        check_columns(schema, &table, &time_column, &partition_by, &args)?;
        let window = window_spec(&fname, &args[2..], n_intervals, span)?;
        Ok(WindowTvf {
            table,
            time_column,
            window,
            partition_by,
        })
    }

    fn known(&self) -> String {
        self.catalog
            .tables
            .keys()
            .chain(self.catalog.view_schemas.keys())
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The window function's name (upper case) and its arguments.
fn call_args(expr: &Expr) -> Result<(String, Vec<&Expr>), SqlError> {
    let span = expr.span();
    let Expr::Function(f) = expr else {
        return Err(SqlError::at_span(
            "TABLE(...) in FROM must call a window function: TUMBLE, HOP, CUMULATE or SESSION",
            span,
        ));
    };
    let fname = f.name.to_string().to_ascii_uppercase();
    let FunctionArguments::List(list) = &f.args else {
        return Err(SqlError::at_span(format!("{fname} needs arguments"), span));
    };
    let args: Vec<&Expr> = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
            FunctionArg::Named {
                arg: FunctionArgExpr::Expr(e),
                ..
            } => Ok(e),
            _ => Err(SqlError::at_span(
                format!("unsupported argument in {fname}"),
                span,
            )),
        })
        .collect::<Result<_, _>>()?;
    Ok((fname, args))
}

/// `TABLE t [PARTITION BY keys]` (the parser's markers): the table and the keys.
fn table_arg(arg: &Expr, fname: &str, usage: &str) -> Result<(String, Vec<String>), SqlError> {
    match arg {
        Expr::CompoundIdentifier(parts)
            if parts.len() >= 2 && parts[0].value == TABLE_ARG_MARKER =>
        {
            let split = parts
                .iter()
                .position(|p| p.value == PARTITION_BY_MARKER)
                .unwrap_or(parts.len());
            let keys: Vec<String> = parts[(split + 1).min(parts.len())..]
                .iter()
                .map(normalize_ident)
                .collect();
            if !keys.is_empty() && fname != "SESSION" {
                return Err(SqlError::at_span(
                    format!("PARTITION BY is only allowed in SESSION windows; usage: {usage}"),
                    arg.span(),
                ));
            }
            Ok((normalize_ident(&parts[split - 1]), keys))
        }
        other => Err(SqlError::at_span(
            format!("the first argument must be TABLE <name>; usage: {usage}"),
            other.span(),
        )),
    }
}

/// `DESCRIPTOR(column)`: the time column's name.
fn descriptor_arg(arg: &Expr, usage: &str) -> Result<String, SqlError> {
    match arg {
        Expr::Function(d) if d.name.to_string().eq_ignore_ascii_case("DESCRIPTOR") => {
            match &d.args {
                FunctionArguments::List(l) if l.args.len() == 1 => match &l.args[0] {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(i))) => {
                        Ok(normalize_ident(i))
                    }
                    _ => Err(SqlError::at_span(
                        format!("DESCRIPTOR takes one column name; usage: {usage}"),
                        arg.span(),
                    )),
                },
                _ => Err(SqlError::at_span(
                    format!("DESCRIPTOR takes one column name; usage: {usage}"),
                    arg.span(),
                )),
            }
        }
        other => Err(SqlError::at_span(
            format!("the second argument must be DESCRIPTOR(column); usage: {usage}"),
            other.span(),
        )),
    }
}

/// The time column is a TIMESTAMP column of the table, and the keys are its columns.
fn check_columns(
    schema: &strom_plan::RowSchema,
    table: &str,
    time_column: &str,
    partition_by: &[String],
    args: &[&Expr],
) -> Result<(), SqlError> {
    match schema.index_of(time_column) {
        None => {
            return Err(SqlError::at_span(
                format!(
                    "DESCRIPTOR({time_column}): table '{table}' has no such column; columns: {}",
                    column_list(schema)
                ),
                args[1].span(),
            ))
        }
        Some(i) if !matches!(schema.columns[i].ty, strom_plan::SqlType::Timestamp(_)) => {
            return Err(SqlError::at_span(
                format!(
                    "DESCRIPTOR({time_column}): the time column must be a TIMESTAMP, not {}",
                    schema.columns[i].ty
                ),
                args[1].span(),
            ))
        }
        _ => {}
    }
    for k in partition_by {
        if schema.index_of(k).is_none() {
            return Err(SqlError::at_span(
                format!(
                    "PARTITION BY {k}: table '{table}' has no such column; columns: {}",
                    column_list(schema)
                ),
                args[0].span(),
            ));
        }
    }
    Ok(())
}

/// The window of `fname` from its interval arguments (size, slide or step, gap, offset).
fn window_spec(
    fname: &str,
    intervals: &[&Expr],
    n_intervals: usize,
    span: Span,
) -> Result<WindowSpec, SqlError> {
    let mut ms = Vec::new();
    for e in intervals {
        ms.push(interval_ms(e)?);
    }
    let offset_ms = ms.get(n_intervals).copied().unwrap_or(0);
    let window = match fname {
        "TUMBLE" => WindowSpec::Tumble {
            size_ms: ms[0],
            offset_ms,
        },
        "SESSION" => WindowSpec::Session { gap_ms: ms[0] },
        "HOP" => WindowSpec::Hop {
            slide_ms: ms[0],
            size_ms: ms[1],
            offset_ms,
        },
        _ => WindowSpec::Cumulate {
            step_ms: ms[0],
            size_ms: ms[1],
            offset_ms,
        },
    };
    match window {
        WindowSpec::Tumble { size_ms, .. } if size_ms <= 0 => {
            return Err(SqlError::at_span("the window size must be positive", span))
        }
        WindowSpec::Session { gap_ms } if gap_ms <= 0 => {
            return Err(SqlError::at_span("the session gap must be positive", span))
        }
        WindowSpec::Hop { slide_ms, size_ms, .. } | WindowSpec::Cumulate { step_ms: slide_ms, size_ms, .. }
            if slide_ms <= 0 || size_ms <= 0 || size_ms % slide_ms != 0 =>
        {
            return Err(SqlError::at_span(
                format!("{fname}: the size ({size_ms} ms) must be a positive multiple of the slide/step ({slide_ms} ms)"),
                span,
            ))
        }
        _ => {}
    }
    Ok(window)
}

/// `INTERVAL '10' SECOND`, `INTERVAL '0.5' MINUTE`, `INTERVAL '10 seconds'` in milliseconds.
pub fn interval_ms(e: &Expr) -> Result<i64, SqlError> {
    let bad = || {
        SqlError::at_span(
            format!("expected an interval such as INTERVAL '10' SECOND, found {e}"),
            e.span(),
        )
    };
    let Expr::Interval(iv) = e else {
        return Err(bad());
    };
    let text = match iv.value.as_ref() {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => s.clone(),
            Value::Number(n, _) => n.clone(),
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    let (num, unit) = match &iv.leading_field {
        Some(f) => (text.trim().to_string(), f.clone()),
        None => {
            let mut it = text.split_whitespace();
            let num = it.next().ok_or_else(bad)?.to_string();
            let unit = match it.next().map(|u| u.to_ascii_lowercase()) {
                Some(u) if u.starts_with("milli") => DateTimeField::Millisecond,
                Some(u) if u.starts_with("sec") => DateTimeField::Second,
                Some(u) if u.starts_with("min") => DateTimeField::Minute,
                Some(u) if u.starts_with("hour") => DateTimeField::Hour,
                Some(u) if u.starts_with("day") => DateTimeField::Day,
                _ => return Err(bad()),
            };
            (num, unit)
        }
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let unit_ms = match unit {
        DateTimeField::Millisecond | DateTimeField::Milliseconds => 1.0,
        DateTimeField::Second | DateTimeField::Seconds => 1e3,
        DateTimeField::Minute | DateTimeField::Minutes => 60e3,
        DateTimeField::Hour | DateTimeField::Hours => 3600e3,
        DateTimeField::Day | DateTimeField::Days => 86400e3,
        _ => return Err(bad()),
    };
    Ok((n * unit_ms).round() as i64)
}
