//! Translation rule: aggregations into group and window aggregates (one or two phases).

use super::*;
use datafusion::logical_expr::expr::NullTreatment;

impl Builder<'_> {
    pub(super) fn aggregate(
        &mut self,
        a: &datafusion::logical_expr::Aggregate,
    ) -> Result<usize, SqlError> {
        let mut input = self.translate(&a.input)?;
        let group_expr: Vec<Expr> = a
            .group_expr
            .iter()
            .map(|e| self.resolve(input, e.clone()))
            .collect();
        let aggr_expr: Vec<Expr> = a
            .aggr_expr
            .iter()
            .map(|e| self.resolve(input, e.clone()))
            .collect();
        // over a changelog (a join's or another GROUP BY's updates): retract what -U/-D take back
        let retracting = self.nodes[input].updating;
        let mut in_schema = self.out(input).clone();
        // group keys and aggregate arguments must be plain columns; compute others first
        let mut extra: Vec<(String, Expr)> = Vec::new();
        // (a changelog's row kinds are not a column to group or aggregate: computed columns
        // come before them)
        let base = in_schema.without_op();
        let group_by: Vec<usize> = group_expr
            .iter()
            .map(|g| column_for(g, &base, &mut extra))
            .collect();
        let out_schema = row_schema(&a.schema)?;
        let calls = aggregate_calls(&aggr_expr, &group_by, &out_schema, &base, &mut extra)?;
        if !extra.is_empty() {
            input = self.project_computed(input, &in_schema, &extra)?;
            in_schema = self.out(input).clone();
        }
        if retracting {
            let ttl = self.aggregate_state_ttl(&a.input);
            self.note_state_bound(
                "GroupAggregate over updating input",
                "keeps every group it has seen",
                &[ttl],
            );
            return Ok(
                self.retracting_aggregate(input, in_schema, group_by, calls, out_schema, ttl)
            );
        }
        let (window_end_column, window_key_columns, out_window) =
            self.window_columns(input, &group_by);
        // a non-windowed aggregate of a streaming job emits a changelog, in one phase
        let changelog = window_end_column.is_none() && self.job_type == JobType::Streaming;
        let state_ttl_ms = if changelog && !group_by.is_empty() {
            let ttl = self.aggregate_state_ttl(&a.input);
            self.note_state_bound("GroupAggregate", "keeps every group it has seen", &[ttl]);
            ttl
        } else {
            0
        };
        let session = match window_end_column {
            Some(_) => self.session_keys(input, &group_by, &window_key_columns)?,
            None => None,
        };
        let single = AggregateSpec {
            input: in_schema.clone(),
            group_by: group_by.clone(),
            aggregates: calls.clone(),
            window_end_column,
            window_key_columns,
            mode: AggregateMode::Single,
            changelog,
            mini_batch: changelog && self.mini_batch,
            session_gap_ms: session.as_ref().map(|s| s.0),
            state_ttl_ms,
            output: if changelog {
                out_schema.with_op()
            } else {
                out_schema.clone()
            },
        };
        // keyed aggregates take the same shape at any parallelism (a hash exchange becomes a
        // forward one at parallelism 1), so that a savepoint restores at another parallelism
        let parallel = self.nodes[input].parallelism > 1 || !group_by.is_empty();
        if let Some((_, keys)) = session {
            // one phase, hashed on the partition keys (a row's proto-window must not decide
            // where it goes)
            let ship = if parallel {
                Ship::Hash(keys)
            } else {
                Ship::Forward
            };
            return Ok(self.add(
                OperatorSpec::Aggregate(single),
                vec![(input, ship)],
                out_window,
            ));
        }
        if !parallel {
            return Ok(self.add(
                OperatorSpec::Aggregate(single),
                vec![(input, Ship::Forward)],
                out_window,
            ));
        }
        // DISTINCT aggregates keep their value sets in one place: one phase, hashed on the keys
        if !self.agg_two_phase
            || changelog
            || calls.iter().any(|c| c.distinct || !c.func.two_phase())
        {
            return Ok(self.add(
                OperatorSpec::Aggregate(single),
                vec![(input, Ship::Hash(group_by))],
                out_window,
            ));
        }
        // two phases: a local (partial) aggregate chained to the input, a hash exchange on the keys,
        // a global (final) aggregate
        Ok(self.two_phase(input, single, out_window))
    }

    /// For a window aggregate (the input's `window_end` among the group keys): that column, the
    /// window attributes among the group keys, and where the window columns are in the output.
    fn window_columns(&self, input: usize, group_by: &[usize]) -> (Option<usize>, Vec<usize>, Win) {
        let (window_end_column, window_key_columns) = match &self.nodes[input].window {
            Some((we, attrs)) if group_by.contains(we) => {
                let keys: Vec<usize> = group_by
                    .iter()
                    .copied()
                    .filter(|g| attrs.contains(g))
                    .collect();
                (Some(*we), keys)
            }
            _ => (None, vec![]),
        };
        // window attributes among the output's group keys
        let out_key_pos: Vec<usize> = window_key_columns
            .iter()
            .filter_map(|c| group_by.iter().position(|g| g == c))
            .collect();
        let out_window: Win = window_end_column.and_then(|we| {
            group_by
                .iter()
                .position(|g| *g == we)
                .map(|p| (p, out_key_pos.clone()))
        });
        (window_end_column, window_key_columns, out_window)
    }

    /// A Calc appending the computed group keys and aggregate arguments to the input's columns.
    /// A group aggregate over a changelog: one phase, hashed on the keys (see the runtime's
    /// retracting aggregate).
    fn retracting_aggregate(
        &mut self,
        input: usize,
        in_schema: RowSchema,
        group_by: Vec<usize>,
        calls: Vec<AggCall>,
        out_schema: RowSchema,
        state_ttl_ms: u64,
    ) -> usize {
        let spec = AggregateSpec {
            input: in_schema,
            group_by: group_by.clone(),
            aggregates: calls,
            window_end_column: None,
            window_key_columns: Vec::new(),
            mode: AggregateMode::Single,
            changelog: true,
            mini_batch: false,
            session_gap_ms: None,
            state_ttl_ms,
            output: out_schema.with_op(),
        };
        let ship = if self.nodes[input].parallelism > 1 || !group_by.is_empty() {
            Ship::Hash(group_by)
        } else {
            Ship::Forward
        };
        self.add(OperatorSpec::Aggregate(spec), vec![(input, ship)], None)
    }

    pub(super) fn project_computed(
        &mut self,
        input: usize,
        in_schema: &RowSchema,
        extra: &[(String, Expr)],
    ) -> Result<usize, SqlError> {
        // a changelog's row kinds stay last: the Calc appends them after the computed columns
        let in_schema = &in_schema.without_op();
        let mut exprs: Vec<Expr> = in_schema
            .columns
            .iter()
            .map(|c| Expr::Column(datafusion::common::Column::new_unqualified(&c.name)))
            .collect();
        let mut df_fields: Vec<Field> = in_schema
            .to_arrow()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let df = DFSchema::try_from(Schema::new(df_fields.clone()))
            .map_err(|e| SqlError::new(e.to_string()))?;
        for (name, e) in extra {
            let (_, field) = e.to_field(&df).map_err(df_error)?;
            df_fields.push(Field::new(
                name,
                field.data_type().clone(),
                field.is_nullable(),
            ));
            exprs.push(e.clone().alias(name));
        }
        let out = row_schema(
            &DFSchema::try_from(Schema::new(df_fields))
                .map_err(|e| SqlError::new(e.to_string()))?,
        )?;
        let n = self.calc(input, None, exprs, out)?;
        // a join's qualified column names (`a.dateTime`) still name the input's columns
        self.nodes[n].qualified = self.nodes[input].qualified.clone().map(|mut fields| {
            fields.extend(extra.iter().map(|(name, _)| (None, name.clone())));
            fields
        });
        Ok(n)
    }

    /// A SESSION window aggregate's partition keys (its group keys other than the window's), with
    /// its gap; `None` for other windows. The keys must be the window's PARTITION BY columns.
    fn session_keys(
        &self,
        input: usize,
        group_by: &[usize],
        window_key_columns: &[usize],
    ) -> Result<Option<(i64, Vec<usize>)>, SqlError> {
        let Some((gap, names, keys)) = &self.nodes[input].session else {
            return Ok(None);
        };
        // sessions are kept per PARTITION BY key: the other group keys must be exactly those
        let varying: Vec<usize> = group_by
            .iter()
            .copied()
            .filter(|g| !window_key_columns.contains(g))
            .collect();
        let mut want: Vec<Option<usize>> = keys.clone();
        want.sort();
        let mut have: Vec<Option<usize>> = varying.iter().map(|g| Some(*g)).collect();
        have.sort();
        if want != have {
            return Err(SqlError::new(format!(
                        "a SESSION window aggregate must GROUP BY the PARTITION BY columns of the window ({}) and window_start, window_end",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    )));
        }
        Ok(Some((*gap, varying)))
    }

    /// A local (partial) aggregate chained to the input, a hash exchange on the keys, a global
    /// (final) aggregate.
    fn two_phase(&mut self, input: usize, single: AggregateSpec, out_window: Win) -> usize {
        let partial_schema = partial_schema(&single.input, &single.group_by, &single.aggregates);
        let partial = AggregateSpec {
            mode: AggregateMode::Partial,
            output: partial_schema.clone(),
            ..single.clone()
        };
        let local = self.add(
            OperatorSpec::Aggregate(partial),
            vec![(input, Ship::Forward)],
            out_window.clone(),
        );
        let keys: Vec<usize> = (0..single.group_by.len()).collect();
        // the final phase reads each call's state columns: its argument is the first of them
        let mut state_col = keys.len();
        let final_calls = single
            .aggregates
            .iter()
            .map(|c| {
                let call = AggCall {
                    arg: c.arg.map(|_| state_col),
                    ..c.clone()
                };
                state_col += c.state_fields(&single.input).len();
                call
            })
            .collect();
        let final_spec = AggregateSpec {
            input: partial_schema,
            group_by: keys.clone(),
            aggregates: final_calls,
            window_end_column: out_window.as_ref().map(|w| w.0),
            window_key_columns: out_window.as_ref().map(|w| w.1.clone()).unwrap_or_default(),
            mode: AggregateMode::Final,
            ..single
        };
        self.add(
            OperatorSpec::Aggregate(final_spec),
            vec![(local, Ship::Hash(keys))],
            out_window,
        )
    }
}

/// The column of `e` in the input, or of the computed column it becomes (appended to `extra`).
pub(super) fn column_for(
    e: &Expr,
    in_schema: &RowSchema,
    extra: &mut Vec<(String, Expr)>,
) -> usize {
    let e = unqualify(e.clone());
    if let Some(i) = col_index(in_schema, &e) {
        return i;
    }
    if let Some(k) = extra.iter().position(|(_, x)| *x == e) {
        return in_schema.len() + k;
    }
    extra.push((format!("$expr{}", extra.len()), e));
    in_schema.len() + extra.len() - 1
}

/// The aggregate calls, their arguments as input columns (computed ones appended to `extra`).
fn aggregate_calls(
    aggr_expr: &[Expr],
    group_by: &[usize],
    out_schema: &RowSchema,
    in_schema: &RowSchema,
    extra: &mut Vec<(String, Expr)>,
) -> Result<Vec<AggCall>, SqlError> {
    let mut calls = Vec::new();
    for (k, ae) in aggr_expr.iter().enumerate() {
        let inner = match ae {
            Expr::Alias(al) => al.expr.as_ref(),
            e => e,
        };
        let Expr::AggregateFunction(f) = inner else {
            return Err(SqlError::new(format!(
                "unsupported aggregate expression {ae}"
            )));
        };
        let p = &f.params;
        if !p.order_by.is_empty() {
            return Err(SqlError::new(format!(
                "{ae}: ORDER BY inside aggregates is not supported yet"
            )));
        }
        calls.push(agg_call(
            ae,
            f.func.name(),
            CallParts {
                args: &p.args,
                distinct: p.distinct,
                filter: p.filter.as_deref(),
                ignore_nulls: p.null_treatment == Some(NullTreatment::IgnoreNulls),
            },
            &out_schema.columns[group_by.len() + k],
            in_schema,
            extra,
        )?);
    }
    Ok(calls)
}

/// One aggregate call's parts as DataFusion planned them.
pub(super) struct CallParts<'a> {
    pub args: &'a [Expr],
    pub distinct: bool,
    pub filter: Option<&'a Expr>,
    /// `IGNORE NULLS`.
    pub ignore_nulls: bool,
}

/// One aggregate call `ae` (of function `fname` over `args`, DISTINCT or not, with its FILTER
/// clause) whose result is column `col`; its argument as an input column (a computed one
/// appended to `extra`; several arguments packed in one ROW column).
pub(super) fn agg_call(
    ae: &Expr,
    fname: &str,
    parts: CallParts<'_>,
    col: &Column,
    in_schema: &RowSchema,
    extra: &mut Vec<(String, Expr)>,
) -> Result<AggCall, SqlError> {
    let CallParts {
        args,
        distinct,
        filter,
        ignore_nulls,
    } = parts;
    let fname = fname.to_ascii_lowercase();
    let Some(func) = AggFunc::for_sql(&fname) else {
        return Err(SqlError::new(format!(
            "aggregate function '{fname}' is not supported yet; Strom supports {}",
            AggFunc::sql_names().join(", ")
        )));
    };
    // `agg(x) FILTER (WHERE c)` is `agg(CASE WHEN c THEN x END)`: for the functions that skip
    // NULLs (COUNT(*) becomes COUNT(CASE WHEN c THEN 1 END))
    if filter.is_some() && !func.skips_nulls() && !ignore_nulls {
        return Err(SqlError::new(format!(
            "{ae}: FILTER is not supported yet on {}, which keeps NULLs (add IGNORE NULLS, or filter in a subquery)",
            func.sql_name()
        )));
    }
    let filtered = |arg: Expr| -> Result<Expr, SqlError> {
        match filter {
            None => Ok(arg),
            Some(c) => datafusion::logical_expr::when(c.clone().unalias_nested().data, arg)
                .end()
                .map_err(df_error),
        }
    };
    let star = match (func.star_form(), args) {
        (Some(star), [Expr::Literal(v, _)]) if !v.is_null() && !distinct => Some(star),
        (Some(star), []) => Some(star),
        _ => None,
    };
    // a constant after the columns (LISTAGG's separator, NTH_VALUE's n) is a constant of the call
    let (args, literal) = match args {
        [cols @ .., Expr::Literal(v, _)] if func.takes_constant() && !cols.is_empty() => {
            use datafusion::scalar::ScalarValue;
            let text = match v {
                ScalarValue::Utf8(Some(s))
                | ScalarValue::LargeUtf8(Some(s))
                | ScalarValue::Utf8View(Some(s)) => s.clone(),
                v if !v.is_null() && !v.data_type().is_nested() => v.to_string(),
                _ => {
                    return Err(SqlError::new(format!(
                        "{ae}: the last argument of {} must be a constant",
                        func.sql_name()
                    )))
                }
            };
            (cols, Some(text))
        }
        _ => (args, None),
    };
    let (func, arg) = match (star, args) {
        (Some(star), _) if filter.is_none() => (star, None),
        (Some(_), _) => (
            func,
            Some(column_for(
                &filtered(datafusion::logical_expr::lit(1i64))?,
                in_schema,
                extra,
            )),
        ),
        (None, [arg]) => (
            func,
            Some(column_for(&filtered(arg.clone())?, in_schema, extra)),
        ),
        // several columns: one ROW column of them, unpacked by the function's accumulator
        (None, args) if args.len() > 1 && !func.two_phase() => {
            let mut fields = Vec::with_capacity(2 * args.len());
            for (i, a) in args.iter().enumerate() {
                fields.push(datafusion::logical_expr::lit(format!(
                    "{}{i}",
                    strom_plan::aggregates::PACKED_FIELD
                )));
                fields.push(filtered(a.clone())?);
            }
            let packed = datafusion::functions::core::expr_fn::named_struct(fields);
            (func, Some(column_for(&packed, in_schema, extra)))
        }
        _ => return Err(SqlError::new(format!("{ae}: expected one argument"))),
    };
    Ok(AggCall {
        func,
        arg,
        distinct,
        name: col.name.clone(),
        result_type: col.ty.clone(),
        literal,
        ignore_nulls,
    })
}
