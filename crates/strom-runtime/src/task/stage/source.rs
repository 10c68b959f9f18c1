//! A table's scan in a stage: partition `k` of `n` is what the connector's reader of subtask
//! `k` of `n` reads (its splits). Its rows count as the task's input.

use super::{conform, external, Opener, TaskContext};
use crate::connector::{ConnectorFactory, SubtaskInfo, DEFAULT_BATCH_ROWS};
use crate::metrics::TaskMetrics;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;
use strom_plan::stage::TableSourceExec;

pub(super) fn opener(
    scan: &TableSourceExec,
    factory: Arc<dyn ConnectorFactory>,
    ctx: &TaskContext,
) -> Opener {
    let table = scan.table.clone();
    let projection = scan.projection.clone();
    let filters = scan.filters.clone();
    let partitions = scan.partitions as u32;
    let schema = scan.schema();
    let metrics = Arc::clone(&ctx.metrics);
    Arc::new(move |partition| {
        let subtask = SubtaskInfo {
            index: partition as u32,
            parallelism: partitions,
        };
        let mut reader = factory
            .create_filtered_reader(&table, &projection, &filters, subtask, DEFAULT_BATCH_ROWS)
            .map_err(external)?;
        let metrics = Arc::clone(&metrics);
        let out = Arc::clone(&schema);
        let batches = futures::stream::poll_fn(move |_| {
            let next = metrics.io(|| reader.next_batch());
            std::task::Poll::Ready(match next {
                Ok(Some(b)) => {
                    TaskMetrics::add(&metrics.records_in, b.num_rows() as u64);
                    TaskMetrics::add(&metrics.bytes_in, b.get_array_memory_size() as u64);
                    Some(conform(b, &out))
                }
                Ok(None) => None,
                Err(e) => Some(Err(external(e))),
            })
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&schema),
            batches,
        )))
    })
}
