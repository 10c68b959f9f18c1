//! Translation rule: a ROW written into a ROW of other field names. Flink inserts `ROW(a, b)`
//! into a `ROW<x, y>` column field by field, by position; DataFusion plans the INSERT's CAST
//! but Arrow casts a struct into a struct only when the names agree. Such a CAST becomes a
//! `named_struct` of the target's names over the source's fields, each cast by position (so
//! nested ROWs too); a NULL ROW stays NULL.

use super::*;
use datafusion::common::ScalarValue;
use datafusion::functions::core::expr_fn::{get_field, named_struct};
use datafusion::logical_expr::{cast, lit, when};

/// `plan` with every CAST of a ROW into a ROW of other names done by position.
pub(super) fn by_position(plan: LogicalPlan) -> Result<LogicalPlan, DataFusionError> {
    plan.transform_up(|node| {
        let [input] = node.inputs()[..] else {
            return Ok(Transformed::no(node));
        };
        let schema = input.schema().clone();
        node.map_expressions(|e| {
            e.transform_up(|x| {
                Ok(match x {
                    Expr::Cast(c) => {
                        let to = c.field.data_type().clone();
                        match c.expr.get_type(&schema) {
                            Ok(from @ DataType::Struct(_)) if renames(&from, &to) => {
                                Transformed::yes(cast_by_position(*c.expr, &from, &to))
                            }
                            _ => Transformed::no(Expr::Cast(c)),
                        }
                    }
                    other => Transformed::no(other),
                })
            })
        })
    })
    .map(|t| t.data)
}

/// Whether casting `from` into `to` pairs ROW fields of different names (at any depth).
fn renames(from: &DataType, to: &DataType) -> bool {
    match (from, to) {
        (DataType::Struct(f), DataType::Struct(t)) if f.len() == t.len() => f
            .iter()
            .zip(t.iter())
            .any(|(a, b)| a.name() != b.name() || renames(a.data_type(), b.data_type())),
        _ => false,
    }
}

/// `e` (of type `from`) as `to`, ROW fields paired by position.
fn cast_by_position(e: Expr, from: &DataType, to: &DataType) -> Expr {
    match (from, to) {
        (DataType::Struct(f), DataType::Struct(t)) if renames(from, to) => {
            let fields = f
                .iter()
                .zip(t.iter())
                .flat_map(|(a, b)| {
                    [
                        lit(b.name().as_str()),
                        cast_by_position(
                            get_field(e.clone(), a.name().as_str()),
                            a.data_type(),
                            b.data_type(),
                        ),
                    ]
                })
                .collect();
            let null = ScalarValue::try_from(to).unwrap_or(ScalarValue::Null);
            when(e.is_null(), lit(null))
                .otherwise(named_struct(fields))
                .unwrap_or_else(|e| panic!("a CASE of two branches: {e}"))
        }
        _ if from == to => e,
        _ => cast(e, to.clone()),
    }
}
