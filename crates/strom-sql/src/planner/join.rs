//! Translation rule: joins (the window join, the interval join and the regular join) into
//! Strom's join operators.

use super::*;

impl Builder<'_> {
    /// A streaming join: a window join when both inputs are windowed and joined on
    /// `window_end`, otherwise an interval join bounded by the rowtimes in the condition.
    pub(super) fn join(&mut self, j: &datafusion::logical_expr::Join) -> Result<usize, SqlError> {
        if let Some(scan) = self.lookup_scan(&j.right) {
            return self.lookup_join(j, scan);
        }
        if self.lookup_scan(&j.left).is_some() {
            return Err(SqlError::new(
                "a lookup table (FOR SYSTEM_TIME AS OF) is the right side of its join: write the stream first, as Flink requires",
            ));
        }
        let join_type = join_type(j)?;
        let l = self.translate(&j.left)?;
        let r = self.translate(&j.right)?;
        let changelog = [self.nodes[l].updating, self.nodes[r].updating];
        // the inputs as they arrive (a changelog with `$op`) and their columns
        let (l_in, r_in) = (self.out(l).clone(), self.out(r).clone());
        let (ls, rs) = (l_in.without_op(), r_in.without_op());
        // the columns of a pair of rows: left then right, duplicate names qualified
        let mut pair_fields = qualified_names(j.left.schema());
        pair_fields.extend(qualified_names(j.right.schema()));
        if pair_fields.len() != ls.len() + rs.len() {
            return Err(SqlError::new(
                "internal: the join schema does not match its inputs",
            ));
        }
        let semi = join_type.semi_side();
        let pair = join_output(
            &pair_fields,
            &ls,
            &rs,
            if semi.is_some() {
                JoinType::Inner
            } else {
                join_type
            },
        );
        // the output: the pair, or one side's columns for a semi or anti join
        let (fields, output) = match semi {
            None => (pair_fields.clone(), pair.clone()),
            Some((0, _)) => (qualified_names(j.schema.as_ref()), ls.clone()),
            Some(_) => (qualified_names(j.schema.as_ref()), rs.clone()),
        };
        let mut pairs = self.equality_keys(j, (l, &ls), (r, &rs))?;
        // the rest of the condition, over the pair's names
        let to_output = |e: Expr| to_unique_names(e, &pair_fields, &pair);
        let mut cond = j.filter.as_ref().map(|f| to_output(f.clone()));
        if j.null_aware {
            cond = Some(null_aware_condition(
                std::mem::take(&mut pairs),
                &pair,
                ls.len(),
                cond,
            ));
        }
        let (kind, pairs) = self.join_kind(
            join_type,
            (l, &ls),
            r,
            pairs,
            cond.as_ref(),
            &pair,
            changelog,
        )?;
        let filter = cond.as_ref().map(encode).transpose()?;
        // Flink's changelog mode: an outer or anti join retracts the rows it emitted without
        // a partner, and a join of a changelog passes its changes on
        let updating = kind == JoinKind::Regular
            && (changelog[0]
                || changelog[1]
                || !matches!(
                    join_type,
                    JoinType::Inner | JoinType::LeftSemi | JoinType::RightSemi
                ));
        let (left_keys, right_keys): (Vec<usize>, Vec<usize>) = pairs.into_iter().unzip();
        let state_ttl_ms = if kind == JoinKind::Regular {
            let ttl = self.join_state_ttl(&j.left, &j.right);
            self.note_state_bound(
                &format!("regular {join_type:?} join"),
                "keeps every row of both inputs (bound it with a window join or an interval join where the query allows)",
                &ttl,
            );
            ttl
        } else {
            [0, 0]
        };
        let n = self.add(
            OperatorSpec::Join(JoinSpec {
                left: l_in,
                right: r_in,
                join_type,
                left_keys: left_keys.clone(),
                right_keys: right_keys.clone(),
                kind,
                filter,
                output: if updating { output.with_op() } else { output },
                pair: semi.map(|_| pair),
                state_ttl_ms,
            }),
            vec![(l, Ship::Hash(left_keys)), (r, Ship::Hash(right_keys))],
            None,
        );
        self.nodes[n].qualified = Some(fields);
        Ok(n)
    }

    /// How a join bounds its state: a window join when both inputs are windowed alike and
    /// joined on their window (the window's own keys then leave `pairs`), an interval or
    /// regular join otherwise.
    #[allow(clippy::too_many_arguments)]
    fn join_kind(
        &self,
        join_type: JoinType,
        (l, ls): (usize, &RowSchema),
        r: usize,
        pairs: Vec<(usize, usize)>,
        cond: Option<&Expr>,
        pair: &RowSchema,
        changelog: [bool; 2],
    ) -> Result<(JoinKind, Vec<(usize, usize)>), SqlError> {
        let window_pair = match (&self.nodes[l].window, &self.nodes[r].window) {
            (Some((lwe, lattrs)), Some((rwe, _))) if pairs.contains(&(*lwe, *rwe)) => {
                Some((*lwe, *rwe, lattrs.clone()))
            }
            _ => None,
        };
        Ok(match window_pair {
            Some(_) if changelog[0] || changelog[1] => {
                return Err(SqlError::new(
                    "a window join of an updating result (a non-windowed GROUP BY, a Top-N or a regular outer join) is not supported; join the windowed inputs before they are updated",
                ))
            }
            Some((lwe, rwe, lattrs)) => (
                JoinKind::Window {
                    left_end: lwe,
                    right_end: rwe,
                },
                pairs
                    .into_iter()
                    .filter(|(a, _)| !lattrs.contains(a))
                    .collect::<Vec<_>>(),
            ),
            None => (
                self.unwindowed_join(join_type, (l, ls), r, cond.cloned(), pair, changelog),
                pairs,
            ),
        })
    }

    /// A join of inputs that are not windowed alike: an interval join when the condition
    /// bounds the rowtimes of two append-only inputs on both sides (INNER), otherwise Flink's
    /// regular join, which keeps every row.
    fn unwindowed_join(
        &self,
        join_type: JoinType,
        left: (usize, &RowSchema),
        right: usize,
        cond: Option<Expr>,
        pair: &RowSchema,
        changelog: [bool; 2],
    ) -> JoinKind {
        if !changelog[0] && !changelog[1] {
            if let Some(kind) = self.interval_join(join_type, left, right, cond, pair) {
                return kind;
            }
        }
        JoinKind::Regular
    }

    /// The equality keys of the condition: pairs of (left, right) column positions of the same
    /// type.
    fn equality_keys(
        &self,
        j: &datafusion::logical_expr::Join,
        (l, ls): (usize, &RowSchema),
        (r, rs): (usize, &RowSchema),
    ) -> Result<Vec<(usize, usize)>, SqlError> {
        let key = |node: usize, schema: &RowSchema, e: &Expr| -> Result<usize, SqlError> {
            col_index(schema, &unqualify(self.resolve(node, e.clone()))).ok_or_else(|| {
                SqlError::new(format!(
                    "join keys must be columns; compute '{e}' in a subquery first"
                ))
            })
        };
        let mut pairs = Vec::new();
        for (a, b) in &j.on {
            let (lk, rk) = (key(l, ls, a)?, key(r, rs, b)?);
            if ls.columns[lk].ty != rs.columns[rk].ty {
                return Err(SqlError::new(format!(
                    "join key {} ({}) and {} ({}) have different types; CAST one of them",
                    ls.columns[lk].name, ls.columns[lk].ty, rs.columns[rk].name, rs.columns[rk].ty
                )));
            }
            pairs.push((lk, rk));
        }
        Ok(pairs)
    }

    /// An interval join: INNER, over both inputs' rowtimes, bounded on both sides by `cond`
    /// (the condition over the pair's names); `None` when the condition does not bound them.
    fn interval_join(
        &self,
        join_type: JoinType,
        (l, ls): (usize, &RowSchema),
        r: usize,
        cond: Option<Expr>,
        pair: &RowSchema,
    ) -> Option<JoinKind> {
        let (lt, rt) = (self.nodes[l].rowtime?, self.nodes[r].rowtime?);
        if join_type != JoinType::Inner {
            return None;
        }
        let (Some(lower_ms), Some(upper_ms)) = interval_bounds(&cond?, pair, lt, ls.len() + rt)
        else {
            return None;
        };
        Some(JoinKind::Interval {
            left_time: lt,
            right_time: rt,
            lower_ms,
            upper_ms,
        })
    }
}

/// The (qualifier, name) of each column of a DataFusion schema.
pub(super) fn qualified_names(schema: &DFSchema) -> Vec<(Option<String>, String)> {
    schema
        .iter()
        .map(|(q, f)| (q.map(|q| q.table().to_string()), f.name().clone()))
        .collect()
}

/// `x NOT IN (SELECT y ...)`: a left row stays when `x = y` is FALSE for every right row (a
/// NULL on either side is no answer, so it removes the row): the condition of an anti join
/// without equality keys, `(x = y) IS NOT FALSE` for each key pair, with `cond`.
fn null_aware_condition(
    keys: Vec<(usize, usize)>,
    pair: &RowSchema,
    left_len: usize,
    cond: Option<Expr>,
) -> Expr {
    let column = |c: &Column| Expr::Column(datafusion::common::Column::new_unqualified(&c.name));
    let mut cond = cond;
    for (lk, rk) in keys {
        let eq = column(&pair.columns[lk])
            .eq(column(&pair.columns[left_len + rk]))
            .is_not_false();
        cond = Some(match cond {
            Some(c) => c.and(eq),
            None => eq,
        });
    }
    cond.unwrap_or(Expr::Literal(
        datafusion::scalar::ScalarValue::Boolean(Some(true)),
        None,
    ))
}

/// Strom's join type of a DataFusion join (INNER, LEFT, RIGHT, FULL).
fn join_type(j: &datafusion::logical_expr::Join) -> Result<JoinType, SqlError> {
    use datafusion::logical_expr::JoinType as DfJoin;
    Ok(match j.join_type {
        DfJoin::Inner => JoinType::Inner,
        DfJoin::Left => JoinType::Left,
        DfJoin::Right => JoinType::Right,
        DfJoin::Full => JoinType::Full,
        DfJoin::LeftSemi => JoinType::LeftSemi,
        DfJoin::LeftAnti => JoinType::LeftAnti,
        DfJoin::RightSemi => JoinType::RightSemi,
        DfJoin::RightAnti => JoinType::RightAnti,
        other => {
            return Err(SqlError::new(format!(
                "{other} joins are not supported yet; Strom runs INNER, LEFT, RIGHT, FULL, semi and anti window joins and INNER interval joins"
            )))
        }
    })
}

/// The join's output columns: left then right, duplicate names qualified, the outer sides
/// nullable.
pub(super) fn join_output(
    fields: &[(Option<String>, String)],
    ls: &RowSchema,
    rs: &RowSchema,
    join_type: JoinType,
) -> RowSchema {
    let mut columns = Vec::with_capacity(fields.len());
    for (i, (q, name)) in fields.iter().enumerate() {
        let dup = fields.iter().filter(|(_, n)| n == name).count() > 1;
        let mut c = if i < ls.len() {
            ls.columns[i].clone()
        } else {
            rs.columns[i - ls.len()].clone()
        };
        c.name = match (dup, q) {
            (false, _) => name.clone(),
            (true, Some(q)) => format!("{q}.{name}"),
            (true, None) => format!("{name}${i}"),
        };
        let outer_side = if i < ls.len() {
            matches!(join_type, JoinType::Right | JoinType::Full)
        } else {
            matches!(join_type, JoinType::Left | JoinType::Full)
        };
        c.nullable |= outer_side;
        columns.push(c);
    }
    RowSchema::new(columns)
}

/// A time term of a join condition: `column ± interval` over the join output: (column, ms).
pub(super) fn time_term(e: &Expr, output: &RowSchema) -> Option<(usize, i64)> {
    use datafusion::logical_expr::Operator;
    match e {
        Expr::Column(_) => col_index(output, e).map(|c| (c, 0)),
        Expr::Cast(c) => time_term(&c.expr, output),
        Expr::BinaryExpr(b) if matches!(b.op, Operator::Plus | Operator::Minus) => {
            let (c, o) = time_term(&b.left, output)?;
            let ms = interval_literal_ms(&b.right)?;
            Some((
                c,
                if b.op == Operator::Plus {
                    o + ms
                } else {
                    o - ms
                },
            ))
        }
        _ => None,
    }
}

pub(super) fn interval_literal_ms(e: &Expr) -> Option<i64> {
    use datafusion::common::ScalarValue;
    match e {
        Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(v)), _) if v.months == 0 => {
            Some(v.days as i64 * 86_400_000 + v.nanoseconds / 1_000_000)
        }
        Expr::Literal(ScalarValue::IntervalDayTime(Some(v)), _) => {
            Some(v.days as i64 * 86_400_000 + v.milliseconds as i64)
        }
        Expr::Literal(ScalarValue::DurationMillisecond(Some(v)), _) => Some(*v),
        Expr::Literal(ScalarValue::DurationSecond(Some(v)), _) => Some(v * 1000),
        _ => None,
    }
}

/// The bounds `lower <= left.ts - right.ts <= upper` a join condition puts on the rowtime
/// columns `lt` and `rt` of the join output.
pub(super) fn interval_bounds(
    cond: &Expr,
    output: &RowSchema,
    lt: usize,
    rt: usize,
) -> (Option<i64>, Option<i64>) {
    use datafusion::logical_expr::utils::split_conjunction;
    use datafusion::logical_expr::Operator;
    let mut lower: Option<i64> = None;
    let mut upper: Option<i64> = None;
    let mut add = |a: &Expr, op: Operator, b: &Expr| {
        let (Some((ca, oa)), Some((cb, ob))) = (time_term(a, output), time_term(b, output)) else {
            return;
        };
        // normalize to (left - right) op c
        let (op, c) = if ca == lt && cb == rt {
            (op, ob - oa)
        } else if ca == rt && cb == lt {
            let flipped = match op {
                Operator::Gt => Operator::Lt,
                Operator::GtEq => Operator::LtEq,
                Operator::Lt => Operator::Gt,
                Operator::LtEq => Operator::GtEq,
                o => o,
            };
            (flipped, oa - ob)
        } else {
            return;
        };
        match op {
            Operator::GtEq => lower = Some(lower.map_or(c, |l| l.max(c))),
            Operator::Gt => lower = Some(lower.map_or(c + 1, |l| l.max(c + 1))),
            Operator::LtEq => upper = Some(upper.map_or(c, |u| u.min(c))),
            Operator::Lt => upper = Some(upper.map_or(c - 1, |u| u.min(c - 1))),
            Operator::Eq => {
                lower = Some(lower.map_or(c, |l| l.max(c)));
                upper = Some(upper.map_or(c, |u| u.min(c)));
            }
            _ => {}
        }
    };
    for part in split_conjunction(cond) {
        match part {
            Expr::BinaryExpr(b) => add(&b.left, b.op, &b.right),
            Expr::Between(bt) if !bt.negated => {
                add(&bt.expr, Operator::GtEq, &bt.low);
                add(&bt.expr, Operator::LtEq, &bt.high);
            }
            _ => {}
        }
    }
    (lower, upper)
}
