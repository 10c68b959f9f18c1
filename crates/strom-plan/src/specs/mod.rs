//! Operator specs: what each operator of a JobGraph is, one file per operator kind. A spec says
//! its name (as Flink names the operator), the schema of the rows it emits and its line in the
//! plan ([`Spec`]); [`OperatorSpec`] is the tagged union a JobVertex's chain holds.
//!
//! A new operator kind: its file here implementing [`Spec`], and its variant in
//! [`OperatorSpec`] (with its arm in [`OperatorSpec::spec`]).

mod aggregate;
mod calc;
mod join;
mod lookup_join;
mod over;
mod rank;
mod sink;
mod source;
mod stage;
mod upsert_materialize;
mod window_tvf;

pub use aggregate::{partial_schema, AggCall, AggregateMode, AggregateSpec};
pub use calc::CalcSpec;
pub use join::{JoinKind, JoinSpec, JoinType};
pub use lookup_join::{FullCacheReload, LookupCache, LookupJoinSpec};
pub use over::{OverAggregateSpec, OverFrame};
pub use rank::{RankSpec, RankType, SortKey, TimeAttribute};
pub use sink::SinkSpec;
pub use source::{SourceSpec, SourceWatermark};
pub use stage::StageSpec;
pub use upsert_materialize::UpsertMaterializeSpec;
pub use window_tvf::{WindowSpec, WindowTvfSpec};

use crate::types::RowSchema;
use serde::{Deserialize, Serialize};

/// A DataFusion logical expression, serialized with datafusion-proto (base64), with its SQL text
/// for humans. Column references are unqualified names of the operator's input schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExprSpec {
    pub sql: String,
    pub proto: String,
}

/// A state time-to-live of 0: state is kept for good.
pub(crate) fn no_ttl(ttl_ms: &u64) -> bool {
    *ttl_ms == 0
}

/// `, stateTtl=[...]` for a plan's description (nothing without a TTL): one per input.
pub(crate) fn describe_ttl(ttl_ms: &[u64]) -> String {
    if ttl_ms.iter().all(no_ttl) {
        return String::new();
    }
    let each: Vec<String> = ttl_ms.iter().map(|t| format!("{t} ms")).collect();
    format!(", stateTtl=[{}]", each.join(", "))
}

/// What every operator spec tells about itself.
pub trait Spec {
    /// Flink-like operator name for vertex names and plans.
    fn name(&self) -> String;
    /// The schema of the rows this operator emits (the table's for a sink).
    fn output_schema(&self) -> &RowSchema;
    /// A one-line description for the plan (`/jobs/:id/plan`).
    fn description(&self) -> String;
}

/// One operator of a chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum OperatorSpec {
    Source(SourceSpec),
    Calc(CalcSpec),
    WindowTableFunction(WindowTvfSpec),
    Aggregate(AggregateSpec),
    Join(JoinSpec),
    Rank(RankSpec),
    OverAggregate(OverAggregateSpec),
    LookupJoin(LookupJoinSpec),
    UpsertMaterialize(UpsertMaterializeSpec),
    Sink(SinkSpec),
    Stage(StageSpec),
}

impl OperatorSpec {
    /// The operator's spec, whatever its kind.
    pub fn spec(&self) -> &dyn Spec {
        match self {
            OperatorSpec::Source(s) => s,
            OperatorSpec::Calc(c) => c,
            OperatorSpec::WindowTableFunction(w) => w,
            OperatorSpec::Aggregate(a) => a,
            OperatorSpec::Join(j) => j,
            OperatorSpec::Rank(r) => r,
            OperatorSpec::OverAggregate(o) => o,
            OperatorSpec::LookupJoin(l) => l,
            OperatorSpec::UpsertMaterialize(u) => u,
            OperatorSpec::Sink(s) => s,
            OperatorSpec::Stage(s) => s,
        }
    }

    /// Flink-like operator name for vertex names and plans.
    pub fn name(&self) -> String {
        self.spec().name()
    }

    /// The schema of the rows this operator emits.
    pub fn output_schema(&self) -> &RowSchema {
        self.spec().output_schema()
    }

    /// A one-line description for the plan (`/jobs/:id/plan`).
    pub fn description(&self) -> String {
        self.spec().description()
    }
}
