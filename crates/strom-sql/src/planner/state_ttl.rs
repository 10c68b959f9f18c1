//! The state time-to-live of the operators whose state grows with their input (Flink's
//! `table.exec.state.ttl` and the `STATE_TTL` hint, see [`crate::hints`]), and the warning
//! Flink's planner gives when a query keeps state for good.

use super::*;

impl Builder<'_> {
    /// The state TTL (ms, 0: none) of a regular join's left and right input: the hint given to
    /// the name the input goes by, else `table.exec.state.ttl`.
    pub(super) fn join_state_ttl(&self, left: &LogicalPlan, right: &LogicalPlan) -> [u64; 2] {
        let ttl = |p: &LogicalPlan| {
            input_name(p)
                .and_then(|n| self.ttl_hints.join.get(&n).copied())
                .unwrap_or(self.state_ttl_ms)
        };
        [ttl(left), ttl(right)]
    }

    /// The state TTL (ms, 0: none) of a non-windowed aggregate of `input`.
    pub(super) fn aggregate_state_ttl(&self, input: &LogicalPlan) -> u64 {
        input_name(input)
            .and_then(|n| self.ttl_hints.aggregate.get(&n).copied())
            .unwrap_or(self.state_ttl_ms)
    }

    /// Tells in the log how the state of `operator` is bounded: by its TTL, or not at all
    /// (`grows`: what it keeps).
    pub(super) fn note_state_bound(&self, operator: &str, grows: &str, ttl_ms: &[u64]) {
        if ttl_ms.iter().all(|t| *t > 0) {
            tracing::info!(
                "the {operator} drops the state of a key after {ttl_ms:?} ms without a change (table.exec.state.ttl / STATE_TTL)"
            );
        } else {
            tracing::warn!(
                "the {operator} {grows}: its state grows without bound; set 'table.exec.state.ttl' (or a STATE_TTL hint) to bound it"
            );
        }
    }
}

/// The name a join's or an aggregate's input goes by in its query block: the alias or the
/// table (view) name under the projections and filters DataFusion puts on it.
fn input_name(plan: &LogicalPlan) -> Option<String> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => Some(a.alias.table().to_string()),
        LogicalPlan::TableScan(s) => Some(s.table_name.table().to_string()),
        LogicalPlan::Projection(p) => input_name(&p.input),
        LogicalPlan::Filter(f) => input_name(&f.input),
        _ => None,
    }
}
