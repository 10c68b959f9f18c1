//! Window table functions in batch mode: `TUMBLE`, `HOP` and `CUMULATE` over a table become a
//! query DataFusion plans like any other (so they run in stages with the rest of the batch
//! plan), the planning table `__window_<n>` being a view of the input table with every row
//! repeated once per window it belongs to:
//!
//! - the time in milliseconds, `t`, is floored to the window period `P` (the size for TUMBLE
//!   and CUMULATE, the slide for HOP), from the offset: `b = t - ((t - offset) mod P)`, the mod
//!   floored so that times before the epoch fall into the right window;
//! - a constant list `k` numbers the windows a row can fall into (one for TUMBLE,
//!   ceil(size / slide) for HOP, size / step for CUMULATE), crossed with the rows;
//! - TUMBLE `[b, b + size)`; HOP `[b - k*slide, b - k*slide + size)`; CUMULATE `[b, b + k*step)`,
//!   keeping the windows whose end is after `t` (HOP's earlier windows that end before the row,
//!   CUMULATE's steps before it); `window_time` is the end minus 1 ms, as in Flink.
//!
//! Rows whose time is NULL belong to no window. SESSION windows depend on their neighbours and
//! keep Strom's own window operators.

use crate::catalog::WindowTvf;
use crate::error::SqlError;
use crate::parser::{parse_script, SqlStatement, ViewSpec};
use sqlparser::ast::Statement;
use strom_plan::job_graph::WindowSpec;
use strom_plan::RowSchema;

/// Whether `tvf` can be planned as a view (not SESSION).
pub(super) fn is_plannable(tvf: &WindowTvf) -> bool {
    !matches!(tvf.window, WindowSpec::Session { .. })
}

/// The query of the rows of `tvf` over table or view `name` (of columns `schema`), with their
/// windows.
fn window_query(tvf: &WindowTvf, name: &str, schema: &RowSchema) -> Option<String> {
    // (period, window indices, start of window k, end of window k), in SQL over `__b` and `__k`
    let (period, ks, start, end, offset) = match tvf.window {
        WindowSpec::Tumble { size_ms, offset_ms } => (
            size_ms,
            vec![0],
            "__b".to_string(),
            format!("__b + {size_ms}"),
            offset_ms,
        ),
        WindowSpec::Hop {
            slide_ms,
            size_ms,
            offset_ms,
        } => (
            slide_ms,
            (0..(size_ms + slide_ms - 1) / slide_ms.max(1)).collect(),
            format!("__b - __k * {slide_ms}"),
            format!("__b - __k * {slide_ms} + {size_ms}"),
            offset_ms,
        ),
        WindowSpec::Cumulate {
            step_ms,
            size_ms,
            offset_ms,
        } => (
            size_ms,
            (1..=size_ms / step_ms.max(1)).collect(),
            "__b".to_string(),
            format!("__b + __k * {step_ms}"),
            offset_ms,
        ),
        WindowSpec::Session { .. } => return None,
    };
    if period <= 0 || ks.is_empty() {
        return None;
    }
    let quote = |n: &str| format!("\"{}\"", n.replace('"', "\"\""));
    let columns: Vec<String> = schema.columns.iter().map(|c| quote(&c.name)).collect();
    let columns = columns.join(", ");
    let t = format!("CAST({} AS BIGINT)", quote(&tvf.time_column));
    let values: Vec<String> = ks.iter().map(|k| format!("({k})")).collect();
    Some(format!(
        "SELECT {columns}, to_timestamp_millis(__ws) AS window_start, \
         to_timestamp_millis(__we) AS window_end, to_timestamp_millis(__we - 1) AS window_time \
         FROM (SELECT {columns}, {start} AS __ws, {end} AS __we, __t \
               FROM (SELECT {columns}, {t} AS __t, \
                     {t} - ((({t} - {offset}) % {period}) + {period}) % {period} AS __b \
                     FROM {table} WHERE {time} IS NOT NULL) AS __rows \
               CROSS JOIN (VALUES {values}) AS __windows(__k)) AS __assigned \
         WHERE __we > __t",
        table = quote(name),
        time = quote(&tvf.time_column),
        values = values.join(", "),
    ))
}

/// `tvf`'s planning table over `table` as a view, if it can be planned as one.
pub(super) fn window_view(
    tvf: &WindowTvf,
    name: &str,
    schema: &RowSchema,
) -> Result<Option<ViewSpec>, SqlError> {
    let Some(sql) = window_query(tvf, name, schema) else {
        return Ok(None);
    };
    let query = match parse_script(&sql)?.pop() {
        Some(SqlStatement::Query(q)) => match *q {
            Statement::Query(q) => q,
            _ => return Err(SqlError::new("internal error: a window view is no query")),
        },
        _ => return Err(SqlError::new("internal error: a window view is no query")),
    };
    Ok(Some(ViewSpec {
        name: WindowTvf::table_name(0),
        columns: Vec::new(),
        query,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tvf(window: WindowSpec) -> WindowTvf {
        WindowTvf {
            table: "t".into(),
            time_column: "ts".into(),
            window,
            partition_by: vec![],
        }
    }

    #[test]
    fn window_counts_per_kind() {
        let schema = strom_plan::types::RowSchema::new(vec![]);
        let q = |w| window_query(&tvf(w), "t", &schema).unwrap();
        let hop = q(WindowSpec::Hop {
            slide_ms: 2_000,
            size_ms: 5_000,
            offset_ms: 0,
        });
        assert!(hop.contains("VALUES (0), (1), (2)"), "{hop}");
        let cumulate = q(WindowSpec::Cumulate {
            step_ms: 1_000,
            size_ms: 3_000,
            offset_ms: 0,
        });
        assert!(cumulate.contains("VALUES (1), (2), (3)"), "{cumulate}");
        let tumble = q(WindowSpec::Tumble {
            size_ms: 10,
            offset_ms: 3,
        });
        assert!(
            tumble.contains("VALUES (0)") && tumble.contains("- 3"),
            "{tumble}"
        );
        assert!(window_query(&tvf(WindowSpec::Session { gap_ms: 5 }), "t", &schema).is_none());
    }
}
