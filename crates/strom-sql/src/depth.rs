//! How deeply a statement's expressions nest, refused past [`MAX_EXPRESSION_DEPTH`] with a clear
//! error at the expression that goes too deep: planning, serializing and evaluating an expression
//! recurse once per level, so the depth a process can take is bounded by its threads' stacks
//! (see [`strom_plan::expr_codec::DEEP_STACK_BYTES`]).

use crate::error::SqlError;
use sqlparser::ast::{Expr, Spanned, Statement, Visit, Visitor};
use std::ops::ControlFlow;

/// The deepest expression nesting Strom plans: a chain of 20,000 terms such as
/// `a + a + ... + a` or `p1 AND p2 AND ...` (Flink's planner takes 1,000 and 10,000).
pub const MAX_EXPRESSION_DEPTH: usize = 20_000;

struct Depth {
    now: usize,
}

impl Visitor for Depth {
    type Break = SqlError;

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<SqlError> {
        self.now += 1;
        if self.now > MAX_EXPRESSION_DEPTH {
            return ControlFlow::Break(SqlError::at_span(
                format!(
                    "the expression is nested too deeply: more than {MAX_EXPRESSION_DEPTH} levels (for example a chain of more than {MAX_EXPRESSION_DEPTH} terms); split it into several columns or subqueries"
                ),
                expr.span(),
            ));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<SqlError> {
        self.now -= 1;
        ControlFlow::Continue(())
    }
}

/// Refuses a statement whose expressions nest deeper than [`MAX_EXPRESSION_DEPTH`].
pub fn check_depth(stmt: &Statement) -> Result<(), SqlError> {
    match stmt.visit(&mut Depth { now: 0 }) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}
