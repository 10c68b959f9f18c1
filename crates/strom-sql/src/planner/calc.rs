//! Translation rule: projections and filters into a Calc (fused where they meet).

use super::*;

impl Builder<'_> {
    pub(super) fn calc(
        &mut self,
        input: usize,
        filter: Option<Expr>,
        exprs: Vec<Expr>,
        mut output: RowSchema,
    ) -> Result<usize, SqlError> {
        let in_schema = self.out(input).clone();
        let exprs: Vec<Expr> = exprs.into_iter().map(|e| self.resolve(input, e)).collect();
        let filter = filter.map(|f| self.resolve(input, f));
        let mut exprs = exprs;
        // a changelog keeps its row kinds through projections and filters
        if self.nodes[input].updating && output.index_of(OP_COLUMN).is_none() {
            exprs.push(Expr::Column(datafusion::common::Column::new_unqualified(
                OP_COLUMN,
            )));
            output = output.with_op();
        }
        let identity = filter.is_none()
            && exprs.len() == in_schema.len()
            && exprs
                .iter()
                .enumerate()
                .all(|(k, e)| col_index(&in_schema, e) == Some(k))
            && output
                .columns
                .iter()
                .zip(&in_schema.columns)
                .all(|(a, b)| a.name == b.name);
        if identity {
            return Ok(input);
        }
        // window attributes survive a Calc when passed through as plain columns
        let pos = |c: usize| {
            exprs
                .iter()
                .position(|e| col_index(&in_schema, &unqualify(e.clone())) == Some(c))
        };
        let window = self.nodes[input].window.clone().and_then(|(we, attrs)| {
            let we = pos(we)?;
            Some((we, attrs.into_iter().filter_map(pos).collect()))
        });
        let rowtime = self.nodes[input].rowtime.and_then(pos);
        // a processing-time attribute: passed through, or made here by PROCTIME()
        let proctime = self.nodes[input].proctime.and_then(pos).or_else(|| {
            exprs.iter().position(|e| {
                matches!(unalias_expr(e), Expr::ScalarFunction(f) if f.name().eq_ignore_ascii_case("proctime"))
            })
        });
        let session = self.nodes[input].session.clone().map(|(gap, names, keys)| {
            (
                gap,
                names,
                keys.into_iter().map(|k| k.and_then(pos)).collect(),
            )
        });
        let upsert_keys = upsert_keys::through_calc(&self.nodes[input].upsert_keys, |c| {
            exprs
                .iter()
                .position(|e| upsert_keys::key_column(&in_schema, e) == Some(c))
        });
        let filter = filter.map(|f| encode(&f)).transpose()?;
        let exprs = exprs
            .iter()
            .zip(&output.columns)
            .map(|(e, c)| {
                let e = match e {
                    Expr::Alias(a) => a.expr.as_ref(),
                    e => e,
                };
                Ok((c.name.clone(), encode(e)?))
            })
            .collect::<Result<Vec<_>, SqlError>>()?;
        let n = self.add(
            OperatorSpec::Calc(CalcSpec {
                input: in_schema,
                filter,
                exprs,
                output,
            }),
            vec![(input, Ship::Forward)],
            window,
        );
        self.nodes[n].session = session;
        self.nodes[n].rowtime = rowtime;
        self.nodes[n].proctime = proctime;
        self.nodes[n].upsert_keys = upsert_keys;
        Ok(n)
    }
}

pub(super) fn unalias_expr(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => unalias_expr(&a.expr),
        e => e,
    }
}

/// Rewrites references to a join's columns, given as DataFusion's `(qualifier, name)` per output
/// column in `fields`, into the unique names of `output`.
pub(super) fn to_unique_names(
    e: Expr,
    fields: &[(Option<String>, String)],
    output: &RowSchema,
) -> Expr {
    e.transform(|x| {
        Ok(match x {
            Expr::Column(c) => {
                let found = fields.iter().position(|(rel, name)| {
                    *name == c.name
                        && match &c.relation {
                            None => true,
                            Some(r) => rel.as_deref() == Some(r.table()),
                        }
                });
                match found {
                    Some(k) => Transformed::yes(Expr::Column(
                        datafusion::common::Column::new_unqualified(&output.columns[k].name),
                    )),
                    None => Transformed::no(Expr::Column(c)),
                }
            }
            other => Transformed::no(other),
        })
    })
    .map(|t| t.data)
    .expect("infallible rewrite")
}
