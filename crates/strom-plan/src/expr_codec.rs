//! Encoding of DataFusion logical expressions inside a JobGraph (datafusion-proto, base64).

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

/// Why an expression cannot be carried in a JobGraph or read back from one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprCodecError {
    #[error("cannot serialize expression {expr}: {reason}; an expression nested this deeply (other than a chain of one operator) must be split into several columns or subqueries")]
    Serialize { expr: String, reason: String },
    #[error("expression '{expr}' is not valid base64: {reason}")]
    Base64 { expr: String, reason: String },
    #[error("cannot decode expression '{expr}': {reason}")]
    Decode { expr: String, reason: String },
}

/// The stack of each thread that plans or evaluates expressions (the SQL planner's thread and
/// every task thread): enough for `sql::depth::MAX_EXPRESSION_DEPTH` levels in a debug build
/// (address space only; pages are touched on use).
pub const DEEP_STACK_BYTES: usize = 1 << 30;

/// Serializes an expression (qualifiers stripped).
pub fn encode(expr: &Expr) -> Result<ExprSpec, ExprCodecError> {
    let expr = unqualify(expr.clone());
    let bytes = expr.to_bytes().map_err(|e| {
        let text = expr.to_string();
        let shown: String = text.chars().take(200).collect();
        let more = if shown.len() < text.len() { "..." } else { "" };
        ExprCodecError::Serialize {
            expr: format!("{shown}{more}"),
            reason: e.to_string(),
        }
    })?;
    Ok(ExprSpec {
        sql: expr.to_string(),
        proto: base64::engine::general_purpose::STANDARD.encode(&bytes),
    })
}

/// Deserializes an expression, resolving functions from `ctx`
/// (see [`crate::functions::session_context`]).
pub fn decode(spec: &ExprSpec, ctx: &TaskContext) -> Result<Expr, ExprCodecError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&spec.proto)
        .map_err(|e| ExprCodecError::Base64 {
            expr: spec.sql.clone(),
            reason: e.to_string(),
        })?;
    Expr::from_bytes_with_ctx(&bytes, ctx).map_err(|e| ExprCodecError::Decode {
        expr: spec.sql.clone(),
        reason: e.to_string(),
    })
}
