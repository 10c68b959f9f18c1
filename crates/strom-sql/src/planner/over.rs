//! Translation rule: OVER aggregation. `agg(x) OVER (PARTITION BY k ORDER BY t ROWS | RANGE
//! BETWEEN ... PRECEDING AND CURRENT ROW)` over an append-only input, ordered by its time
//! attribute, becomes Strom's OverAggregate operator, as Flink's streaming planner requires it:
//! every call of one query level over the same window, ordered ascending by a time attribute,
//! ending at the current row.

use super::aggregate::{agg_call, CallParts};
use super::calc::unalias_expr;
use super::join::interval_literal_ms;
use super::*;
use datafusion::logical_expr::expr::NullTreatment;
use datafusion::logical_expr::{WindowFrameBound, WindowFrameUnits, WindowFunctionDefinition};

impl Builder<'_> {
    pub(super) fn over(&mut self, w: &datafusion::logical_expr::Window) -> Result<usize, SqlError> {
        let mut input = self.translate(&w.input)?;
        if self.nodes[input].updating {
            return Err(SqlError::new(
                "OVER aggregation of an updating result (a GROUP BY, a Top-N or a regular outer join) is not supported; Flink's OverAggregate consumes append-only input only",
            ));
        }
        let first = w
            .window_expr
            .first()
            .ok_or_else(|| SqlError::new("internal: an OVER clause without a function"))?;
        let Expr::WindowFunction(wf0) = unalias_expr(first) else {
            return Err(SqlError::new(format!("{first}: not a window function")));
        };
        let params = &wf0.params;
        let base = self.out(input).clone();
        let resolve = |e: &Expr| unqualify(self.resolve(input, e.clone()));
        let column = |e: &Expr, what: &str| -> Result<usize, SqlError> {
            col_index(&base, &resolve(e)).ok_or_else(|| {
                SqlError::new(format!(
                    "{what} of an OVER window takes columns; compute '{e}' in a subquery first"
                ))
            })
        };
        let partition_by = params
            .partition_by
            .iter()
            .map(|e| column(e, "PARTITION BY"))
            .collect::<Result<Vec<_>, _>>()?;
        let time_usage = "OVER windows in streaming mode are ordered by a time attribute, ascending (ORDER BY rowtime or a PROCTIME() column), as in Flink";
        let [order] = params.order_by.as_slice() else {
            return Err(SqlError::new(time_usage));
        };
        let order_by = column(&order.expr, "ORDER BY")?;
        let processing_time = self.nodes[input].proctime == Some(order_by);
        if !order.asc || (self.nodes[input].rowtime != Some(order_by) && !processing_time) {
            return Err(SqlError::new(format!(
                "{time_usage}; '{}' is {}",
                order.expr,
                if order.asc {
                    "not a time attribute"
                } else {
                    "in descending order"
                }
            )));
        }
        let frame = over_frame(&params.window_frame)?;
        let out_fields: Vec<Column> = row_schema(&w.schema)?.columns;
        let first_call = out_fields.len() - w.window_expr.len();
        let mut extra: Vec<(String, Expr)> = Vec::new();
        let calls = self.over_calls(w, input, &base, &out_fields[first_call..], &mut extra)?;
        // arguments that are expressions are computed first, after the input's columns
        let mut in_schema = base.clone();
        if !extra.is_empty() {
            input = self.project_computed(input, &base, &extra)?;
            in_schema = self.out(input).clone();
        }
        let mut output = in_schema.clone();
        output
            .columns
            .extend(out_fields[first_call..].iter().cloned());
        let spec = OverAggregateSpec {
            input: in_schema,
            partition_by: partition_by.clone(),
            order_by,
            processing_time,
            frame,
            aggregates: calls,
            state_ttl_ms: self.state_ttl_ms,
            output,
        };
        self.note_state_bound(
            "OverAggregate",
            "keeps the state of every partition it has seen",
            &[spec.state_ttl_ms],
        );
        let (rowtime, proctime) = (self.nodes[input].rowtime, self.nodes[input].proctime);
        let n = self.add(
            OperatorSpec::OverAggregate(spec),
            vec![(input, Ship::Hash(partition_by))],
            None,
        );
        self.nodes[n].rowtime = rowtime;
        self.nodes[n].proctime = proctime;
        // a join's qualified column names still name the input's columns
        self.nodes[n].qualified = self.nodes[input].qualified.clone().map(|mut fields| {
            let added = self.out(n).len() - fields.len();
            let names = self.out(n).columns[fields.len()..].to_vec();
            fields.extend(names.into_iter().take(added).map(|c| (None, c.name)));
            fields
        });
        Ok(n)
    }

    /// The aggregate calls of an OVER window, all over the first call's window; their arguments
    /// as columns of `base` (computed ones appended to `extra`).
    fn over_calls(
        &self,
        w: &datafusion::logical_expr::Window,
        input: usize,
        base: &RowSchema,
        results: &[Column],
        extra: &mut Vec<(String, Expr)>,
    ) -> Result<Vec<AggCall>, SqlError> {
        let resolve = |e: &Expr| unqualify(self.resolve(input, e.clone()));
        let mut first: Option<&datafusion::logical_expr::expr::WindowFunctionParams> = None;
        let mut calls = Vec::new();
        for (e, result) in w.window_expr.iter().zip(results) {
            let Expr::WindowFunction(wf) = unalias_expr(e) else {
                return Err(SqlError::new(format!("{e}: not a window function")));
            };
            let p = &wf.params;
            let params = *first.get_or_insert(p);
            if p.partition_by != params.partition_by
                || p.order_by != params.order_by
                || p.window_frame != params.window_frame
            {
                return Err(SqlError::new(
                    "all OVER aggregates of one SELECT must be over the same window (Flink's rule); compute the others in another subquery",
                ));
            }
            let name = match &wf.fun {
                WindowFunctionDefinition::AggregateUDF(f) => f.name(),
                // aggregate functions in Flink, window functions in DataFusion's planning: the
                // aggregate of that name over the frame
                WindowFunctionDefinition::WindowUDF(f)
                    if matches!(f.name(), "first_value" | "last_value") =>
                {
                    f.name()
                }
                other => {
                    return Err(SqlError::new(format!(
                        "{other}: Strom runs aggregate functions OVER windows, and ROW_NUMBER() filtered by rownum <= N (Top-N)"
                    )))
                }
            };
            let args: Vec<Expr> = p.args.iter().map(resolve).collect();
            let filter = p.filter.as_deref().map(resolve);
            calls.push(agg_call(
                e,
                name,
                CallParts {
                    args: &args,
                    distinct: p.distinct,
                    filter: filter.as_ref(),
                    ignore_nulls: p.null_treatment == Some(NullTreatment::IgnoreNulls),
                },
                result,
                base,
                extra,
            )?);
        }
        Ok(calls)
    }
}

/// Strom's frame of a DataFusion window frame: from UNBOUNDED or `n` PRECEDING to CURRENT ROW.
fn over_frame(f: &datafusion::logical_expr::WindowFrame) -> Result<OverFrame, SqlError> {
    if f.end_bound != WindowFrameBound::CurrentRow {
        return Err(SqlError::new(
            "OVER windows in streaming mode end at the CURRENT ROW (FOLLOWING rows are not supported, as in Flink)",
        ));
    }
    // None: UNBOUNDED PRECEDING; Some(None): CURRENT ROW; Some(Some(v)): v PRECEDING
    let start = match &f.start_bound {
        WindowFrameBound::Preceding(v) if v.is_null() => None,
        WindowFrameBound::Preceding(v) => Some(Some(v)),
        WindowFrameBound::CurrentRow => Some(None),
        WindowFrameBound::Following(_) => {
            return Err(SqlError::new(
                "an OVER window cannot start after the current row",
            ))
        }
    };
    match f.units {
        WindowFrameUnits::Rows => {
            let preceding = start
                .map(|v| match v {
                    None => Ok(0),
                    Some(v) => v
                        .cast_to(&datafusion::arrow::datatypes::DataType::UInt64)
                        .ok()
                        .and_then(|v| match v {
                            datafusion::scalar::ScalarValue::UInt64(Some(n)) => Some(n),
                            _ => None,
                        })
                        .ok_or_else(|| {
                            SqlError::new(format!("ROWS {v} PRECEDING: expected a row count"))
                        }),
                })
                .transpose()?;
            Ok(OverFrame::Rows { preceding })
        }
        WindowFrameUnits::Range => {
            let preceding_ms = start
                .map(|v| match v {
                    None => Ok(0),
                    Some(v) => interval_literal_ms(&Expr::Literal(v.clone(), None)).ok_or_else(
                        || {
                            SqlError::new(format!(
                                "RANGE {v} PRECEDING: expected an interval (RANGE BETWEEN INTERVAL '1' HOUR PRECEDING AND CURRENT ROW)"
                            ))
                        },
                    ),
                })
                .transpose()?;
            Ok(OverFrame::Range { preceding_ms })
        }
        WindowFrameUnits::Groups => Err(SqlError::new(
            "GROUPS frames are not supported in streaming mode; use ROWS or RANGE, as in Flink",
        )),
    }
}
