//! Semi-join reduction of grouped aggregates (a logical rewrite for batch plans).
//!
//! A join whose one side is `GROUP BY g` over some input `X`, joined on `g = a`, keeps only
//! the groups whose `g` the other side has. When the other side's `a` values come from a small,
//! filtered subtree (`part WHERE p_brand = ...`), most of `X` is aggregated for nothing. This
//! rewrite filters `X` by those keys first: `X` becomes `X LEFT SEMI JOIN (SELECT a FROM
//! subtree)`, pushed down through `X`'s projections, filters and joins to the input the key
//! comes from. Decorrelated scalar subqueries (TPC-H q2, q17, q20) have this shape; DuckDB's
//! "delim join" reaches the same plan.
//!
//! Why it is right: a row of the aggregated side whose key is not among the other side's keys
//! matches nothing (equality never matches NULL), and the side's unmatched rows are not
//! output (inner joins, the right side of LEFT and semi/anti joins, mirrored for RIGHT). Its
//! groups are per key, so dropping input rows of other keys leaves the kept groups whole.
//! Any subtree whose key values include the other side's serves as the key source: the other
//! side's own inputs, and through an inner or semi join on `a = b` the input that has `b`.
//!
//! The key source is planned twice (for the join and for the keys), so it must give the same
//! rows both times: none with a volatile function or a LIMIT is used.
//!
//! It applies only where the statistics say it pays: the key source holds a filter and is
//! estimated at most 1/[`MIN_REDUCTION`] of the aggregate's input rows (rows from the tables'
//! statistics, 20% per filter as DataFusion estimates). Tables without statistics (CSV, JSON)
//! leave the plan unchanged.

use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, JoinType, NullEquality, Result};
use datafusion::logical_expr::{Expr, Join, LogicalPlan, LogicalPlanBuilder};

/// The alias of an inserted key source; a side that has one is not reduced again.
const KEYS_ALIAS: &str = "__strom_keys";
/// The fraction of rows a filter keeps, as DataFusion's default filter selectivity.
const FILTER_SELECTIVITY: f64 = 0.2;
/// How much smaller than the aggregate's input the key source must be estimated.
const MIN_REDUCTION: f64 = 8.0;

/// `plan` with every aggregate side of a join that pays reduced (see the module).
pub(crate) fn reduce_aggregates(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let mut reduced = 0usize;
    plan.transform_down(|node| {
        let LogicalPlan::Join(join) = &node else {
            return Ok(Transformed::no(node));
        };
        match reduce_join(join, reduced)? {
            Some(new) => {
                reduced += 1;
                Ok(Transformed::yes(new))
            }
            None => Ok(Transformed::no(node)),
        }
    })
}

/// Which side of a join loses its unmatched rows: (left, right).
fn reducible_sides(join_type: JoinType) -> (bool, bool) {
    match join_type {
        JoinType::Inner => (true, true),
        JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti => (false, true),
        JoinType::Right | JoinType::RightSemi | JoinType::RightAnti => (true, false),
        // a FULL join outputs both sides' unmatched rows; a mark join marks them
        _ => (false, false),
    }
}

/// A reduction chosen for one join: the aggregated side (`right` or not), its column, and
/// the key source with its column.
struct Choice<'a> {
    right: bool,
    side_column: Column,
    keys: &'a LogicalPlan,
    key_column: Column,
    ratio: f64,
}

fn reduce_join(join: &Join, reduced: usize) -> Result<Option<LogicalPlan>> {
    // NULL = NULL joins and NOT IN (a NULL key on the right empties the answer) keep all rows
    if join.null_equality != NullEquality::NullEqualsNothing || join.null_aware {
        return Ok(None);
    }
    let (left_ok, right_ok) = reducible_sides(join.join_type);
    let mut best: Option<Choice<'_>> = None;
    for (right, ok) in [(true, right_ok), (false, left_ok)] {
        let (side, other) = if right {
            (join.right.as_ref(), join.left.as_ref())
        } else {
            (join.left.as_ref(), join.right.as_ref())
        };
        if !ok || has_keys_alias(side) {
            continue;
        }
        for (l, r) in &join.on {
            let (Expr::Column(lc), Expr::Column(rc)) = (l, r) else {
                continue;
            };
            let (side_column, other_column) = if right { (rc, lc) } else { (lc, rc) };
            let Some(rows) = aggregate_input_rows(side, side_column) else {
                continue;
            };
            let mut sources = Vec::new();
            key_sources(other, other_column, &mut sources);
            for (keys, key_column) in sources {
                let Some(key_rows) = estimated_rows(keys) else {
                    continue;
                };
                let ratio = rows / key_rows.max(1.0);
                if ratio >= MIN_REDUCTION
                    && has_filter(keys)
                    && repeatable(keys)
                    && best.as_ref().is_none_or(|b| ratio > b.ratio)
                {
                    best = Some(Choice {
                        right,
                        side_column: side_column.clone(),
                        keys,
                        key_column,
                        ratio,
                    });
                }
            }
        }
    }
    let Some(choice) = best else {
        return Ok(None);
    };
    let alias = format!("{KEYS_ALIAS}_{reduced}");
    let keys = LogicalPlanBuilder::from(choice.keys.clone())
        .project(vec![Expr::Column(choice.key_column.clone()).alias("k")])?
        .alias(alias.as_str())?
        .build()?;
    let key = Column::new(Some(alias.as_str()), "k");
    replace_child(
        LogicalPlan::Join(join.clone()),
        usize::from(choice.right),
        |side| reduce_side(side, &choice.side_column, &keys, &key),
    )
    .map(Some)
}

/// `plan` with its input number `child` replaced by `f(input)` (of the same schema).
fn replace_child(
    plan: LogicalPlan,
    child: usize,
    f: impl FnOnce(LogicalPlan) -> Result<LogicalPlan>,
) -> Result<LogicalPlan> {
    let mut f = Some(f);
    let mut k = 0;
    plan.map_children(|input| {
        k += 1;
        match f.take_if(|_| k - 1 == child) {
            Some(f) => f(input).map(Transformed::yes),
            None => Ok(Transformed::no(input)),
        }
    })
    .map(|t| t.data)
}

fn has_keys_alias(plan: &LogicalPlan) -> bool {
    plan.exists(|n| {
        Ok(matches!(n, LogicalPlan::SubqueryAlias(a) if a.alias.table().starts_with(KEYS_ALIAS)))
    })
    .unwrap_or(true)
}

fn has_filter(plan: &LogicalPlan) -> bool {
    plan.exists(|n| Ok(matches!(n, LogicalPlan::Filter(_))))
        .unwrap_or(false)
}

/// Whether `plan` gives the same rows each time it runs, as a copy of it must: no volatile
/// expression (`RAND()`), no LIMIT (which rows it keeps depends on the order they come in).
fn repeatable(plan: &LogicalPlan) -> bool {
    !plan
        .exists(|n| {
            Ok(matches!(n, LogicalPlan::Limit(_))
                || matches!(n, LogicalPlan::TableScan(t) if t.fetch.is_some())
                || n.expressions().iter().any(Expr::is_volatile))
        })
        .unwrap_or(true)
}

/// The column of `plan`'s (only) input that `column` of `plan`'s output passes through
/// unchanged: through projections (a bare column), aliases, filters, sorts, limits, DISTINCT
/// and an aggregate's grouping columns.
fn input_column(plan: &LogicalPlan, column: &Column) -> Option<Column> {
    match plan {
        LogicalPlan::Projection(p) => {
            let i = p.schema.index_of_column(column).ok()?;
            match p.expr.get(i)?.clone().unalias_nested().data {
                Expr::Column(c) => Some(c),
                _ => None,
            }
        }
        LogicalPlan::SubqueryAlias(a) => {
            let i = a.schema.index_of_column(column).ok()?;
            let (q, f) = a.input.schema().qualified_field(i);
            Some(Column::from((q, f)))
        }
        LogicalPlan::Filter(_)
        | LogicalPlan::Sort(_)
        | LogicalPlan::Limit(_)
        | LogicalPlan::Distinct(datafusion::logical_expr::Distinct::All(_)) => Some(column.clone()),
        LogicalPlan::Aggregate(a) => {
            let i = a.schema.index_of_column(column).ok()?;
            // a grouping set's rows of other groupings have NULL here: not a pass-through
            if a.group_expr.len() == 1 && matches!(a.group_expr[0], Expr::GroupingSet(_)) {
                return None;
            }
            match a.group_expr.get(i)? {
                Expr::Column(c) => Some(c.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The input rows of the aggregate that `column` of `side` is a grouping column of, reached
/// through projections, aliases and filters (HAVING); None when there is none or its size is
/// unknown.
fn aggregate_input_rows(side: &LogicalPlan, column: &Column) -> Option<f64> {
    match side {
        LogicalPlan::Aggregate(a) => {
            input_column(side, column)?;
            estimated_rows(&a.input)
        }
        LogicalPlan::Projection(_) | LogicalPlan::SubqueryAlias(_) | LogicalPlan::Filter(_) => {
            let c = input_column(side, column)?;
            aggregate_input_rows(side.inputs()[0], &c)
        }
        _ => None,
    }
}

/// `side` (as [`aggregate_input_rows`] found it) with its aggregate's input reduced to `key`.
fn reduce_side(
    side: LogicalPlan,
    column: &Column,
    keys: &LogicalPlan,
    key: &Column,
) -> Result<LogicalPlan> {
    let Some(c) = input_column(&side, column) else {
        return Ok(side);
    };
    match side {
        LogicalPlan::Aggregate(_) => replace_child(side, 0, |x| push_keys(x, &c, keys, key)),
        LogicalPlan::Projection(_) | LogicalPlan::SubqueryAlias(_) | LogicalPlan::Filter(_) => {
            replace_child(side, 0, |x| reduce_side(x, &c, keys, key))
        }
        _ => Ok(side),
    }
}

/// `plan` with only the rows whose `column` is among the keys: the semi join placed as deep as
/// the column passes unchanged (into the side of an inner join it comes from, say).
fn push_keys(
    plan: LogicalPlan,
    column: &Column,
    keys: &LogicalPlan,
    key: &Column,
) -> Result<LogicalPlan> {
    let deeper = match &plan {
        LogicalPlan::Projection(_)
        | LogicalPlan::SubqueryAlias(_)
        | LogicalPlan::Filter(_)
        | LogicalPlan::Aggregate(_) => input_column(&plan, column).map(|c| (0, c)),
        LogicalPlan::Join(j) => {
            let in_left = j.left.schema().has_column(column);
            let in_right = j.right.schema().has_column(column);
            // the rows of a key in an inner join's output come from that key's rows of the
            // side it is from; so do an outer join's preserved side's, and a semi join's
            let inner = j.join_type == JoinType::Inner;
            if in_left && (inner || preserves_only(j.join_type, true)) {
                Some((0, column.clone()))
            } else if in_right && (inner || preserves_only(j.join_type, false)) {
                Some((1, column.clone()))
            } else {
                None
            }
        }
        _ => None,
    };
    match deeper {
        Some((child, c)) => replace_child(plan, child, |x| push_keys(x, &c, keys, key)),
        None => LogicalPlanBuilder::from(plan)
            .join(
                keys.clone(),
                JoinType::LeftSemi,
                (vec![column.clone()], vec![key.clone()]),
                None,
            )?
            .build(),
    }
}

/// Whether the join's output rows of a key come only from the `left` (or right) input's rows
/// of that key: the preserved side of an outer join, the output side of a semi or anti join.
fn preserves_only(join_type: JoinType, left: bool) -> bool {
    if left {
        matches!(
            join_type,
            JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti
        )
    } else {
        matches!(
            join_type,
            JoinType::Right | JoinType::RightSemi | JoinType::RightAnti
        )
    }
}

/// The subtrees of `plan` whose `column` values include every value of `plan`'s `column`,
/// `plan` itself first.
fn key_sources<'a>(
    plan: &'a LogicalPlan,
    column: &Column,
    out: &mut Vec<(&'a LogicalPlan, Column)>,
) {
    out.push((plan, column.clone()));
    match plan {
        LogicalPlan::Join(j) => {
            let in_left = j.left.schema().has_column(column);
            let child = if in_left { &j.left } else { &j.right };
            if in_left || j.right.schema().has_column(column) {
                key_sources(child, column, out);
            }
            // an inner or semi join's key values are in both inputs
            let equal = matches!(
                j.join_type,
                JoinType::Inner | JoinType::LeftSemi | JoinType::RightSemi
            );
            if equal {
                for (l, r) in &j.on {
                    if let (Expr::Column(lc), Expr::Column(rc)) = (l, r) {
                        if lc == column {
                            key_sources(&j.right, rc, out);
                        } else if rc == column {
                            key_sources(&j.left, lc, out);
                        }
                    }
                }
            }
        }
        _ => {
            if let (Some(c), [input]) = (input_column(plan, column), plan.inputs().as_slice()) {
                key_sources(input, &c, out);
            }
        }
    }
}

/// Rows `plan` is estimated to produce, from its tables' statistics; None when unknown.
fn estimated_rows(plan: &LogicalPlan) -> Option<f64> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let stats = source_as_provider(&scan.source).ok()?.statistics()?;
            let rows = *stats.num_rows.get_value()? as f64;
            Some(scan.fetch.map_or(rows, |f| rows.min(f as f64)))
        }
        LogicalPlan::Filter(f) => Some(estimated_rows(&f.input)? * FILTER_SELECTIVITY),
        LogicalPlan::Projection(_)
        | LogicalPlan::SubqueryAlias(_)
        | LogicalPlan::Sort(_)
        | LogicalPlan::Limit(_)
        | LogicalPlan::Distinct(_)
        | LogicalPlan::Aggregate(_) => estimated_rows(plan.inputs()[0]),
        LogicalPlan::Join(j) => {
            let (l, r) = (estimated_rows(&j.left)?, estimated_rows(&j.right)?);
            Some(match j.join_type {
                JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => l,
                JoinType::Right
                | JoinType::RightSemi
                | JoinType::RightAnti
                | JoinType::RightMark => r,
                JoinType::Full => l + r,
                // a key-foreign key join: about the larger side
                JoinType::Inner => l.max(r),
            })
        }
        LogicalPlan::Union(u) => u.inputs.iter().map(|i| estimated_rows(i)).sum(),
        _ => None,
    }
}
