//! How a fragment's Strom leaves travel through datafusion-proto (as JSON in its extension
//! nodes).

use super::{InputMode, StageInputExec, TableSourceExec};
use crate::table::TableSpec;
use datafusion::arrow::datatypes::Schema;
use datafusion::common::{internal_err, DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use prost::Message;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The extension codec of stage fragments.
#[derive(Debug, Default, Clone, Copy)]
pub struct StageCodec;

#[derive(Serialize, Deserialize)]
#[serde(tag = "leaf", rename_all = "snake_case")]
enum Leaf {
    Table {
        table: TableSpec,
        projection: Vec<usize>,
        partitions: usize,
    },
    Input {
        input: u32,
        partitions: usize,
        mode: InputMode,
        /// datafusion-proto's schema message.
        schema: Vec<u8>,
    },
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

impl PhysicalExtensionCodec for StageCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        _inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(
            match serde_json::from_slice::<Leaf>(buf).map_err(external)? {
                Leaf::Table {
                    table,
                    projection,
                    partitions,
                } => {
                    if let Some(bad) = projection.iter().find(|i| **i >= table.schema.len()) {
                        return internal_err!(
                            "column {bad} of table '{}' does not exist",
                            table.name
                        );
                    }
                    Arc::new(TableSourceExec::new(table, projection, partitions))
                }
                Leaf::Input {
                    input,
                    partitions,
                    mode,
                    schema,
                } => {
                    let proto = datafusion_proto::protobuf::Schema::decode(schema.as_slice())
                        .map_err(external)?;
                    let schema = Schema::try_from(&proto)?;
                    Arc::new(StageInputExec::new(
                        input,
                        Arc::new(schema),
                        partitions,
                        mode,
                    ))
                }
            },
        )
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let leaf = if let Some(t) = node.downcast_ref::<TableSourceExec>() {
            Leaf::Table {
                table: t.table.clone(),
                projection: t.projection.clone(),
                partitions: t.partitions,
            }
        } else if let Some(i) = node.downcast_ref::<StageInputExec>() {
            let schema = datafusion_proto::protobuf::Schema::try_from(i.schema().as_ref())?;
            Leaf::Input {
                input: i.input,
                partitions: i.partitions,
                mode: i.mode,
                schema: schema.encode_to_vec(),
            }
        } else {
            return internal_err!("Strom cannot carry plan node {} to its tasks", node.name());
        };
        serde_json::to_writer(buf, &leaf).map_err(external)
    }
}
