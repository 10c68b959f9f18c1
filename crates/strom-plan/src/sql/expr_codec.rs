//! Encoding of DataFusion logical expressions inside a JobGraph (datafusion-proto, base64).

use super::error::SqlError;
use crate::job_graph::ExprSpec;
use base64::Engine;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion_proto::bytes::Serializeable;

/// Strips table qualifiers: operator inputs are addressed by unqualified column names.
pub fn unqualify(expr: Expr) -> Expr {
    expr.transform(|e| {
        Ok(match e {
            Expr::Column(c) if c.relation.is_some() => Transformed::yes(Expr::Column(
                datafusion::common::Column::new_unqualified(c.name),
            )),
            other => Transformed::no(other),
        })
    })
    .map(|t| t.data)
    .expect("infallible rewrite")
}

/// Serializes an expression (qualifiers stripped).
pub fn encode(expr: &Expr) -> Result<ExprSpec, SqlError> {
    let expr = unqualify(expr.clone());
    let bytes = expr
        .to_bytes()
        .map_err(|e| {
            let text = expr.to_string();
            let shown: String = text.chars().take(200).collect();
            let more = if shown.len() < text.len() { "..." } else { "" };
            SqlError::new(format!(
                "cannot serialize expression {shown}{more}: {e}; an expression nested this deeply (other than a chain of one operator) must be split into several columns or subqueries"
            ))
        })?;
    Ok(ExprSpec {
        sql: expr.to_string(),
        proto: base64::engine::general_purpose::STANDARD.encode(&bytes),
    })
}

/// Deserializes an expression, resolving functions from `ctx`
/// (see [`super::functions::session_context`]).
pub fn decode(spec: &ExprSpec, ctx: &TaskContext) -> Result<Expr, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&spec.proto)
        .map_err(|e| format!("expression '{}' is not valid base64: {e}", spec.sql))?;
    Expr::from_bytes_with_ctx(&bytes, ctx)
        .map_err(|e| format!("cannot decode expression '{}': {e}", spec.sql))
}
