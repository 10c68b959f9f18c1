//! How a fragment's Strom nodes (its leaves, and unions) travel through datafusion-proto (as
//! JSON in its extension nodes).

use super::{InputMode, PartitionUnionExec, StageInputExec, TableSourceExec};
use crate::table::TableSpec;
use datafusion::arrow::datatypes::Schema;
use datafusion::common::{internal_err, DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::from_proto::parse_physical_expr;
use datafusion_proto::physical_plan::to_proto::serialize_physical_expr;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use prost::Message;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The extension codec of stage fragments.
#[derive(Debug, Default, Clone, Copy)]
pub struct StageCodec;

#[derive(Serialize, Deserialize)]
#[serde(tag = "node", rename_all = "snake_case")]
enum Node {
    Table {
        table: TableSpec,
        projection: Vec<usize>,
        partitions: usize,
        /// datafusion-proto's physical expression messages, over the table's columns.
        #[serde(default)]
        filters: Vec<Vec<u8>>,
    },
    /// Its inputs travel as the extension node's.
    Union {
        /// datafusion-proto's schema message.
        schema: Vec<u8>,
    },
    Input {
        input: u32,
        partitions: usize,
        mode: InputMode,
        /// datafusion-proto's schema message.
        schema: Vec<u8>,
    },
}

fn encode_schema(schema: &Schema) -> Result<Vec<u8>> {
    Ok(datafusion_proto::protobuf::Schema::try_from(schema)?.encode_to_vec())
}

fn decode_schema(bytes: &[u8]) -> Result<Schema> {
    let proto = datafusion_proto::protobuf::Schema::decode(bytes).map_err(external)?;
    Ok(Schema::try_from(&proto)?)
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

impl PhysicalExtensionCodec for StageCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(
            match serde_json::from_slice::<Node>(buf).map_err(external)? {
                Node::Table {
                    table,
                    projection,
                    partitions,
                    filters,
                } => {
                    if let Some(bad) = projection.iter().find(|i| **i >= table.schema.len()) {
                        return internal_err!(
                            "column {bad} of table '{}' does not exist",
                            table.name
                        );
                    }
                    let schema = table.schema.to_arrow();
                    let filters = filters
                        .iter()
                        .map(|bytes| {
                            let proto = datafusion_proto::protobuf::PhysicalExprNode::decode(
                                bytes.as_slice(),
                            )
                            .map_err(external)?;
                            parse_physical_expr(&proto, ctx, &schema, self)
                        })
                        .collect::<Result<Vec<_>>>()?;
                    Arc::new(TableSourceExec::with_filters(
                        table, projection, partitions, filters,
                    ))
                }
                Node::Union { schema } => Arc::new(PartitionUnionExec::try_new(
                    inputs.to_vec(),
                    Arc::new(decode_schema(&schema)?),
                )?),
                Node::Input {
                    input,
                    partitions,
                    mode,
                    schema,
                } => Arc::new(StageInputExec::new(
                    input,
                    Arc::new(decode_schema(&schema)?),
                    partitions,
                    mode,
                )),
            },
        )
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let node_spec = if let Some(t) = node.downcast_ref::<TableSourceExec>() {
            Node::Table {
                table: t.table.clone(),
                projection: t.projection.clone(),
                partitions: t.partitions,
                filters: t
                    .filters
                    .iter()
                    .map(|e| Ok(serialize_physical_expr(e, self)?.encode_to_vec()))
                    .collect::<Result<_>>()?,
            }
        } else if let Some(i) = node.downcast_ref::<StageInputExec>() {
            Node::Input {
                input: i.input,
                partitions: i.partitions,
                mode: i.mode,
                schema: encode_schema(&i.schema())?,
            }
        } else if node.is::<PartitionUnionExec>() {
            Node::Union {
                schema: encode_schema(&node.schema())?,
            }
        } else {
            return internal_err!("Strom cannot carry plan node {} to its tasks", node.name());
        };
        serde_json::to_writer(buf, &node_spec).map_err(external)
    }
}
