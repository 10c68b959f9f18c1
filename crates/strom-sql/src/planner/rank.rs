//! Translation rule: Top-N and deduplication. `ROW_NUMBER() OVER (PARTITION BY k ORDER BY s)`
//! under a filter `rownum <= N` (or `< N`, `= 1`) becomes Strom's Rank operator (an updating
//! result, as Flink's); the filter's other conditions run after it. `rownum = 1` ordered by a
//! time attribute alone over an append-only input is a deduplication, as Flink plans it (Flink
//! also wants the rank not selected; selecting it here still deduplicates, so of two rows of the
//! same time the later one is kept, where Flink's Top-N would keep the earlier).

use super::aggregate::column_for;
use super::calc::unalias_expr;
use super::*;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Operator as BinOp, WindowFunctionDefinition};
use datafusion::scalar::ScalarValue;

/// Whether `plan` is a ranking (`ROW_NUMBER()`, `RANK()`, `DENSE_RANK()` OVER ...) that a
/// filter above it bounds (a Top-N); a filter over an OVER aggregate is an ordinary filter.
pub(super) fn is_window(plan: &LogicalPlan) -> bool {
    ranking_window(plan).is_some()
}

/// The ranking window a filter bounds: directly, or under a projection of its columns (which
/// drops the columns computed for the window).
fn ranking_window(
    plan: &LogicalPlan,
) -> Option<(
    &datafusion::logical_expr::Window,
    Option<&datafusion::logical_expr::Projection>,
)> {
    let is_ranking =
        |w: &datafusion::logical_expr::Window| w.window_expr.iter().any(|e| rank_type(e).is_some());
    match plan {
        LogicalPlan::Window(w) if is_ranking(w) => Some((w, None)),
        LogicalPlan::Projection(p) => match p.input.as_ref() {
            LogicalPlan::Window(w)
                if is_ranking(w) && p.expr.iter().all(|e| matches!(e, Expr::Column(_))) =>
            {
                Some((w, Some(p)))
            }
            _ => None,
        },
        _ => None,
    }
}

/// The ranking function `e` calls, if it is one.
fn rank_type(e: &Expr) -> Option<RankType> {
    match unalias_expr(e) {
        Expr::WindowFunction(wf) => match &wf.fun {
            WindowFunctionDefinition::WindowUDF(u) => match u.name() {
                "row_number" => Some(RankType::RowNumber),
                "rank" => Some(RankType::Rank),
                "dense_rank" => Some(RankType::DenseRank),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// A ranking's keys as columns (see `Builder::rank_keys`).
struct RankKeys {
    /// The node the ranking reads.
    read: usize,
    partition_by: Vec<usize>,
    order_by: Vec<SortKey>,
    /// The computed key columns, dropped after the ranking.
    computed: Vec<String>,
}

impl Builder<'_> {
    /// A filter over `ROW_NUMBER() OVER (...)`: a Rank operator, then the filter's other
    /// conditions.
    pub(super) fn rank(&mut self, f: &datafusion::logical_expr::Filter) -> Result<usize, SqlError> {
        let Some((w, projection)) = ranking_window(&f.input) else {
            return Err(SqlError::new("internal: a rank filter over no window"));
        };
        let usage = "Strom runs ROW_NUMBER(), RANK() or DENSE_RANK() OVER (PARTITION BY ... ORDER BY ...) filtered by rownum <= N (Top-N and deduplication), and aggregates OVER windows, each in its own SELECT";
        let [expr] = w.window_expr.as_slice() else {
            return Err(SqlError::new(format!(
                "several OVER expressions in one query level: {usage}"
            )));
        };
        let Expr::WindowFunction(wf) = unalias_expr(expr) else {
            return Err(SqlError::new(format!("{expr}: {usage}")));
        };
        let Some(rank_type) = rank_type(expr) else {
            return Err(SqlError::new(format!("{}: {usage}", wf.fun)));
        };
        let params = &wf.params;
        if params.order_by.is_empty() {
            return Err(SqlError::new(format!(
                "{}() needs ORDER BY in its OVER clause (Flink's Top-N orders the rows of each partition)",
                rank_type.sql_name()
            )));
        }
        let input = self.translate(&w.input)?;
        let window_of_input = self.nodes[input].window.clone();
        let updating = self.nodes[input].updating;
        let RankKeys {
            read: input,
            partition_by,
            order_by,
            computed,
        } = self.rank_keys(input, params)?;
        // over a changelog (a GROUP BY's or a join's changes) the ranking retracts: a row
        // taken back leaves its rank to the next
        let in_schema = self.out(input).clone();
        // the rank column: the window's last output column
        let rank_name = w
            .schema
            .fields()
            .last()
            .map(|f| f.name().clone())
            .unwrap_or_default();
        let (limit, rest) = rank_limit(&f.predicate, &rank_name, usage)?;
        // a window Top-N: partitioned by the window of an append-only windowed input, each
        // window's ranking is final when the window ends (Flink's WindowRank)
        let window_end = match &window_of_input {
            Some((we, _)) if partition_by.contains(we) && !updating => Some(*we),
            _ => None,
        };
        let deduplicate = match window_end {
            None if !updating => self.deduplication(input, &order_by, limit, rank_type),
            _ => None,
        };
        let mut output = in_schema.without_op();
        output.columns.push(Column {
            name: rank_name,
            ty: SqlType::BigInt,
            nullable: false,
        });
        let spec = RankSpec {
            input: in_schema,
            partition_by: partition_by.clone(),
            order_by,
            limit,
            rank_type,
            state_ttl_ms: if window_end.is_some() {
                0
            } else {
                self.state_ttl_ms
            },
            window_end,
            deduplicate,
            output: if window_end.is_some() {
                output.clone()
            } else {
                output.with_op()
            },
        };
        self.note_rank_state(&spec);
        // a window Top-N's rows still carry their window (same columns, the rank after them)
        let window = match window_end {
            Some(_) => window_of_input,
            None => None,
        };
        let n = self.add(
            OperatorSpec::Rank(spec),
            vec![(input, Ship::Hash(partition_by))],
            window,
        );
        // a join's qualified column names (`a.dateTime`) still name the rank's input columns
        self.nodes[n].qualified = self.nodes[input].qualified.clone().map(|mut fields| {
            fields.push((None, rank_name_of(&output)));
            fields
        });
        let filter = rest.into_iter().reduce(|a, b| a.and(b));
        let mut visible = output.clone();
        visible.columns.retain(|c| !computed.contains(&c.name));
        self.after_rank(n, &output, filter, projection, visible)
    }

    /// A ranking's PARTITION BY and ORDER BY keys as columns of what it reads: expressions other
    /// than columns are computed first, into columns after those of `input` (dropped again
    /// after the rank). Returns the node the ranking reads, its keys and the computed columns.
    fn rank_keys(
        &mut self,
        input: usize,
        params: &datafusion::logical_expr::expr::WindowFunctionParams,
    ) -> Result<RankKeys, SqlError> {
        let base = self.out(input).clone();
        let mut computed: Vec<(String, Expr)> = Vec::new();
        let mut column = |e: &Expr| {
            column_for(
                &self.resolve(input, e.clone()),
                &base.without_op(),
                &mut computed,
            )
        };
        let partition_by: Vec<usize> = params.partition_by.iter().map(&mut column).collect();
        let order_by: Vec<SortKey> = params
            .order_by
            .iter()
            .map(|s| SortKey {
                column: column(&s.expr),
                descending: !s.asc,
                nulls_first: s.nulls_first,
            })
            .collect();
        let read = if computed.is_empty() {
            input
        } else {
            self.project_computed(input, &base, &computed)?
        };
        Ok(RankKeys {
            read,
            partition_by,
            order_by,
            computed: computed.into_iter().map(|(name, _)| name).collect(),
        })
    }

    /// Whether a ranking of append-only node `input` (not a window Top-N) is a deduplication
    /// (Flink's Deduplicate): the first or last row in time per partition, `ROW_NUMBER` with
    /// `rownum = 1` ordered by the input's time attribute alone.
    fn deduplication(
        &self,
        input: usize,
        order_by: &[SortKey],
        limit: u64,
        rank_type: RankType,
    ) -> Option<TimeAttribute> {
        let [key] = order_by else {
            return None;
        };
        if limit != 1 || rank_type != RankType::RowNumber {
            None
        } else if self.nodes[input].rowtime == Some(key.column) {
            Some(TimeAttribute::Rowtime)
        } else if self.nodes[input].proctime == Some(key.column) {
            Some(TimeAttribute::Proctime)
        } else {
            None
        }
    }

    /// Tells in the log how the state of the Top-N `spec` is bounded.
    fn note_rank_state(&self, spec: &RankSpec) {
        let (rank_type, limit) = (spec.rank_type, spec.limit);
        if spec.window_end.is_some() {
            // the window's state goes when it fires
        } else if spec.deduplicate.is_some() {
            self.note_state_bound(
                "Deduplicate operator",
                "keeps one row for every partition it has seen",
                &[spec.state_ttl_ms],
            );
        } else if spec.input_is_changelog() || rank_type != RankType::RowNumber {
            self.note_state_bound(
                &format!("{} Top-N (Rank) operator", rank_type.sql_name()),
                "keeps every row of its input, so that the rows after a retracted or tied one can take its rank",
                &[spec.state_ttl_ms],
            );
        } else {
            self.note_state_bound(
                "Top-N (Rank) operator",
                &format!("keeps up to {limit} rows for every partition it has seen"),
                &[spec.state_ttl_ms],
            );
        }
    }

    /// What runs after rank node `n` (of output `output`): the filter's other conditions and
    /// the projection under the filter, if any, or else a projection of the `visible` columns
    /// (the rank's without the computed keys).
    fn after_rank(
        &mut self,
        n: usize,
        output: &RowSchema,
        filter: Option<Expr>,
        projection: Option<&datafusion::logical_expr::Projection>,
        visible: RowSchema,
    ) -> Result<usize, SqlError> {
        match projection {
            // (its columns as the rank emits them: the rank is a BIGINT)
            Some(p) => {
                let columns = p
                    .expr
                    .iter()
                    .map(|e| {
                        col_index(output, &unqualify(e.clone()))
                            .map(|i| output.columns[i].clone())
                            .ok_or_else(|| {
                                SqlError::new(format!(
                                    "internal: '{e}' is not a column of the rank"
                                ))
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.calc(n, filter, p.expr.clone(), RowSchema::new(columns))
            }
            None if filter.is_none() && visible.len() == output.len() => Ok(n),
            None => {
                let exprs = visible
                    .columns
                    .iter()
                    .map(|c| Expr::Column(datafusion::common::Column::new_unqualified(&c.name)))
                    .collect();
                self.calc(n, filter, exprs, visible)
            }
        }
    }
}

/// The highest rank the filter over the rank keeps, and its other conditions.
fn rank_limit(
    predicate: &Expr,
    rank_name: &str,
    usage: &str,
) -> Result<(u64, Vec<Expr>), SqlError> {
    let mut limit: Option<u64> = None;
    let mut rest: Vec<Expr> = Vec::new();
    for part in split_conjunction(predicate) {
        match rank_bound(part, rank_name) {
            Some(n) => limit = Some(limit.map_or(n, |l| l.min(n))),
            None => rest.push(part.clone()),
        }
    }
    let Some(limit) = limit else {
        return Err(SqlError::new(format!(
            "ROW_NUMBER() needs a filter on it (WHERE rownum <= N, < N or = 1) in the query around it: {usage}"
        )));
    };
    if limit == 0 {
        return Err(SqlError::new(
            "the Top-N filter keeps no row (rownum < 1); Flink requires rownum <= N with N >= 1",
        ));
    }
    Ok((limit, rest))
}

/// The rank column's name: the last of the rank's output columns.
fn rank_name_of(output: &RowSchema) -> String {
    output
        .columns
        .last()
        .map(|c| c.name.clone())
        .unwrap_or_default()
}

/// The highest rank `e` keeps when it bounds column `rank` from above (`rank <= N`, `rank < N`,
/// `rank = 1`, or the same with the operands swapped).
fn rank_bound(e: &Expr, rank: &str) -> Option<u64> {
    let Expr::BinaryExpr(b) = e else {
        return None;
    };
    let is_rank = |e: &Expr| matches!(unalias_expr(e), Expr::Column(c) if c.name == rank);
    let value = |e: &Expr| -> Option<i128> {
        match unalias_expr(e) {
            Expr::Literal(v, _) => scalar_int(v),
            Expr::Cast(c) => match unalias_expr(&c.expr) {
                Expr::Literal(v, _) => scalar_int(v),
                _ => None,
            },
            _ => None,
        }
    };
    let (op, n) = if is_rank(&b.left) {
        (b.op, value(&b.right)?)
    } else if is_rank(&b.right) {
        (b.op.swap()?, value(&b.left)?)
    } else {
        return None;
    };
    let n = match op {
        BinOp::LtEq => n,
        BinOp::Lt => n - 1,
        BinOp::Eq if n == 1 => 1,
        _ => return None,
    };
    u64::try_from(n.max(0)).ok()
}

fn scalar_int(v: &ScalarValue) -> Option<i128> {
    match v {
        ScalarValue::Int8(Some(x)) => Some(*x as i128),
        ScalarValue::Int16(Some(x)) => Some(*x as i128),
        ScalarValue::Int32(Some(x)) => Some(*x as i128),
        ScalarValue::Int64(Some(x)) => Some(*x as i128),
        ScalarValue::UInt8(Some(x)) => Some(*x as i128),
        ScalarValue::UInt16(Some(x)) => Some(*x as i128),
        ScalarValue::UInt32(Some(x)) => Some(*x as i128),
        ScalarValue::UInt64(Some(x)) => Some(*x as i128),
        _ => None,
    }
}
