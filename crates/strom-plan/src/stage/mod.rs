//! Batch stages: fragments of a DataFusion physical plan that run as the tasks of one JobVertex.
//!
//! The batch planner (`strom-sql`) cuts DataFusion's physical plan at its exchanges; each piece
//! (a *fragment*) becomes a [`crate::specs::StageSpec`]. A fragment's leaves are DataFusion's
//! own leaves, a table read by a Strom connector ([`TableSourceExec`]), or the input of an
//! earlier stage ([`StageInputExec`]); the last two are placeholders here, carried through the
//! JobGraph by [`codec::StageCodec`] and bound to their connector or input gate by the runtime
//! before the fragment runs. Task `s` of a stage runs partition `s` of its fragment; a UNION
//! ALL inside it is a [`PartitionUnionExec`], which keeps that numbering.

mod codec;
mod partition_union;
mod stage_input;
mod table_source;

pub use codec::StageCodec;
pub use partition_union::PartitionUnionExec;
pub use stage_input::{InputMode, StageInputExec};
pub use table_source::TableSourceExec;

use base64::Engine;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::bytes::{
    physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
};
use std::sync::Arc;

/// Why a fragment cannot be carried in a JobGraph or read back from one.
#[derive(Debug, thiserror::Error)]
pub enum FragmentCodecError {
    #[error("cannot serialize the plan fragment: {0}")]
    Serialize(String),
    #[error("the plan fragment is not valid base64: {0}")]
    Base64(String),
    #[error("cannot decode the plan fragment: {0}")]
    Decode(String),
}

/// Serializes a fragment (datafusion-proto, base64).
pub fn encode_fragment(plan: Arc<dyn ExecutionPlan>) -> Result<String, FragmentCodecError> {
    let bytes = physical_plan_to_bytes_with_extension_codec(plan, &StageCodec)
        .map_err(|e| FragmentCodecError::Serialize(e.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(&bytes))
}

/// Deserializes a fragment, resolving functions from `ctx` (see
/// [`crate::functions::session_context`]).
pub fn decode_fragment(
    text: &str,
    ctx: &TaskContext,
) -> Result<Arc<dyn ExecutionPlan>, FragmentCodecError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| FragmentCodecError::Base64(e.to_string()))?;
    physical_plan_from_bytes_with_extension_codec(&bytes, ctx, &StageCodec)
        .map_err(|e| FragmentCodecError::Decode(e.to_string()))
}

/// The methods every leaf of a fragment shares (inside `impl ExecutionPlan for ...` of a type
/// with a `properties: Arc<PlanProperties>` field): no children, no expressions of its own.
#[macro_export]
macro_rules! leaf_exec_methods {
    () => {
        fn properties(&self) -> &std::sync::Arc<datafusion::physical_plan::PlanProperties> {
            &self.properties
        }

        fn children(&self) -> Vec<&std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
            vec![]
        }

        fn apply_expressions(
            &self,
            _f: &mut dyn FnMut(
                &std::sync::Arc<dyn datafusion::physical_expr::PhysicalExpr>,
            ) -> datafusion::common::Result<
                datafusion::common::tree_node::TreeNodeRecursion,
            >,
        ) -> datafusion::common::Result<datafusion::common::tree_node::TreeNodeRecursion> {
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        }

        fn with_new_children(
            self: std::sync::Arc<Self>,
            _children: Vec<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>>,
        ) -> datafusion::common::Result<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>>
        {
            Ok(self)
        }
    };
}

/// The properties of a leaf with `partitions` partitions of unknown partitioning.
fn leaf_properties(
    schema: datafusion::arrow::datatypes::SchemaRef,
    partitions: usize,
) -> Arc<datafusion::physical_plan::PlanProperties> {
    use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
    Arc::new(datafusion::physical_plan::PlanProperties::new(
        datafusion::physical_expr::EquivalenceProperties::new(schema),
        datafusion::physical_plan::Partitioning::UnknownPartitioning(partitions),
        EmissionType::Incremental,
        Boundedness::Bounded,
    ))
}

#[cfg(test)]
mod tests;
