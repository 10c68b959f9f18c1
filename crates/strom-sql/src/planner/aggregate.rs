//! Translation rule: aggregations into group and window aggregates (one or two phases).

use super::*;

impl Builder<'_> {
    #[allow(clippy::too_many_lines)] // debt: to split into steps
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
        if self.nodes[input].updating {
            return Err(SqlError::new(
                "aggregating an updating result (a GROUP BY over a non-windowed GROUP BY) is not supported yet; aggregate the source rows directly, or use window aggregations",
            ));
        }
        let mut in_schema = self.out(input).clone();
        // group keys and aggregate arguments must be plain columns; compute others first
        let mut extra: Vec<(String, Expr)> = Vec::new();
        let column_for =
            |e: &Expr, in_schema: &RowSchema, extra: &mut Vec<(String, Expr)>| -> usize {
                let e = unqualify(e.clone());
                if let Some(i) = col_index(in_schema, &e) {
                    return i;
                }
                if let Some(k) = extra.iter().position(|(_, x)| *x == e) {
                    return in_schema.len() + k;
                }
                extra.push((format!("$expr{}", extra.len()), e));
                in_schema.len() + extra.len() - 1
            };
        let group_by: Vec<usize> = group_expr
            .iter()
            .map(|g| column_for(g, &in_schema, &mut extra))
            .collect();
        let mut calls = Vec::new();
        let out_schema = row_schema(&a.schema)?;
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
            if p.filter.is_some() || !p.order_by.is_empty() {
                return Err(SqlError::new(format!(
                    "{ae}: FILTER and ORDER BY inside aggregates are not supported yet"
                )));
            }
            let fname = f.func.name().to_ascii_lowercase();
            let Some(func) = AggFunc::for_sql(&fname) else {
                return Err(SqlError::new(format!(
                    "aggregate function '{fname}' is not supported yet; Strom supports {}",
                    AggFunc::sql_names().join(", ")
                )));
            };
            let (func, arg) = match (func.star_form(), p.args.as_slice()) {
                (Some(star), [Expr::Literal(v, _)]) if !v.is_null() && !p.distinct => (star, None),
                (Some(star), []) => (star, None),
                (_, [arg]) => (func, Some(column_for(arg, &in_schema, &mut extra))),
                _ => return Err(SqlError::new(format!("{ae}: expected one argument"))),
            };
            let col = &out_schema.columns[group_by.len() + k];
            calls.push(AggCall {
                func,
                arg,
                distinct: p.distinct,
                name: col.name.clone(),
                result_type: col.ty.clone(),
            });
        }
        if !extra.is_empty() {
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
            for (name, e) in &extra {
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
            input = self.calc(input, None, exprs, out)?;
            in_schema = self.out(input).clone();
        }
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
        let out_window_end = out_window.as_ref().map(|w| w.0);
        // a non-windowed aggregate of a streaming job emits a changelog, in one phase
        let changelog = window_end_column.is_none() && self.job_type == JobType::Streaming;
        let session = match (&self.nodes[input].session, window_end_column) {
            (Some((gap, names, keys)), Some(_)) => {
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
                Some((*gap, varying))
            }
            _ => None,
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
        if !self.agg_two_phase || changelog || calls.iter().any(|c| c.distinct) {
            return Ok(self.add(
                OperatorSpec::Aggregate(single),
                vec![(input, Ship::Hash(group_by))],
                out_window,
            ));
        }
        // two phases: a local (partial) aggregate chained to the input, a hash exchange on the keys,
        // a global (final) aggregate
        let partial_schema = partial_schema(&in_schema, &group_by, &calls);
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
        let keys: Vec<usize> = (0..group_by.len()).collect();
        // the final phase reads each call's state columns: its argument is the first of them
        let mut state_col = keys.len();
        let final_calls = calls
            .iter()
            .map(|c| {
                let call = AggCall {
                    arg: c.arg.map(|_| state_col),
                    ..c.clone()
                };
                state_col += c.state_fields(&in_schema).len();
                call
            })
            .collect();
        let final_spec = AggregateSpec {
            input: partial_schema,
            group_by: keys.clone(),
            aggregates: final_calls,
            window_end_column: out_window_end,
            window_key_columns: out_key_pos,
            mode: AggregateMode::Final,
            ..single
        };
        Ok(self.add(
            OperatorSpec::Aggregate(final_spec),
            vec![(local, Ship::Hash(keys))],
            out_window,
        ))
    }
}
