//! Strom's operators and the factory that builds a chain from its specs.

pub mod accumulators;
pub mod aggregate;
pub mod calc;
pub mod deduplicate;
mod distinct_sets;
pub mod join;
pub mod lookup_join;
pub mod over_aggregate;
pub mod rank;
pub mod regular_join;
pub mod retract_aggregate;
pub mod retract_rank;
pub mod retracting;
mod row_arena;
pub mod session_window;
pub mod sink;
pub mod state_ipc;
#[cfg(test)]
mod testkit;
pub mod ttl;
pub mod upsert_materializer;
pub mod window_rank;
pub mod window_tvf;

use crate::collect::{CollectWriter, ResultCollector};
use crate::connector::{ConnectorRegistry, SubtaskInfo};
use crate::error::TaskError;
use crate::metrics::TaskMetrics;
use crate::operator::{Chain, Operator};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use strom_plan::OperatorSpec;

/// Builds the operators of a chain, except a leading source or batch stage (the task drives
/// those itself).
/// `exactly_once`: the job takes checkpoints, sinks commit with them where they can.
/// `collect`: where a `collect` sink hands its rows, and the task's cancel flag.
pub fn build_chain(
    specs: &[OperatorSpec],
    registry: &ConnectorRegistry,
    subtask: SubtaskInfo,
    metrics: &Arc<TaskMetrics>,
    exactly_once: bool,
    collect: Option<(Arc<dyn ResultCollector>, Arc<AtomicBool>)>,
) -> Result<Chain, TaskError> {
    let mut operators: Vec<Box<dyn Operator>> = Vec::new();
    for spec in specs {
        let op: Box<dyn Operator> = match spec {
            OperatorSpec::Source(_) => {
                return Err(TaskError::Deployment(
                    "a source can only be the first operator of a chain".into(),
                ))
            }
            OperatorSpec::Stage(_) => {
                return Err(TaskError::Deployment(
                    "a batch stage can only be the first operator of a chain".into(),
                ))
            }
            OperatorSpec::Calc(c) => Box::new(calc::CalcOperator::new(c)?),
            OperatorSpec::WindowTableFunction(w) => Box::new(window_tvf::WindowTvfOperator::new(w)),
            OperatorSpec::Aggregate(a) if a.session_gap_ms.is_some() => {
                Box::new(session_window::SessionWindowOperator::new(a)?)
            }
            OperatorSpec::Aggregate(a) if a.input_is_changelog() => {
                Box::new(retract_aggregate::RetractAggregateOperator::new(a)?)
            }
            OperatorSpec::Aggregate(a) => Box::new(aggregate::AggregateOperator::new(a)?),
            OperatorSpec::Join(j)
                if j.kind == strom_plan::JoinKind::Regular && !j.is_inner_of_appends() =>
            {
                Box::new(regular_join::RegularJoinOperator::new(j)?)
            }
            OperatorSpec::Join(j) => Box::new(join::JoinOperator::new(j)?),
            OperatorSpec::Rank(
                r @ strom_plan::RankSpec {
                    window_end: Some(we),
                    ..
                },
            ) => Box::new(window_rank::WindowRankOperator::new(r, *we)?),
            OperatorSpec::Rank(r)
                if r.rank_type != strom_plan::RankType::RowNumber || r.input_is_changelog() =>
            {
                Box::new(retract_rank::RetractRankOperator::new(r)?)
            }
            OperatorSpec::Rank(r) if r.deduplicate.is_some() => {
                Box::new(deduplicate::DeduplicateOperator::new(r)?)
            }
            OperatorSpec::Rank(r) => Box::new(rank::RankOperator::new(r)?),
            OperatorSpec::LookupJoin(l) => {
                Box::new(lookup_join::LookupJoinOperator::new(l, registry)?)
            }
            OperatorSpec::UpsertMaterialize(u) => {
                Box::new(upsert_materializer::UpsertMaterializeOperator::new(u)?)
            }
            OperatorSpec::OverAggregate(o) => {
                Box::new(over_aggregate::OverAggregateOperator::new(o)?)
            }
            OperatorSpec::Sink(s) => {
                let writer = if s.table.connector() == crate::collect::CONNECTOR {
                    let (collector, cancel) = collect.clone().ok_or_else(|| {
                        TaskError::Deployment(
                            "a collect sink runs only in a job a client collects the rows of"
                                .into(),
                        )
                    })?;
                    Box::new(CollectWriter::new(collector, cancel))
                } else {
                    let factory = registry.get(&s.table)?;
                    if exactly_once {
                        factory.create_exactly_once_writer(&s.table, subtask)?
                    } else {
                        factory.create_writer(&s.table, subtask)?
                    }
                };
                let schema = if s.changelog {
                    s.output.with_op()
                } else {
                    s.output.clone()
                };
                Box::new(sink::SinkOperator::new(
                    writer,
                    schema.to_arrow(),
                    spec.name(),
                    metrics.clone(),
                ))
            }
        };
        operators.push(op);
    }
    Ok(Chain { operators })
}

/// Builds a batch of `schema` from `columns`: casts a column whose type differs from the planned
/// one, and relaxes the nullability of the schema where a column holds nulls it did not expect.
pub fn conform(
    schema: &datafusion::arrow::datatypes::SchemaRef,
    columns: Vec<datafusion::arrow::array::ArrayRef>,
    rows: usize,
) -> Result<datafusion::arrow::record_batch::RecordBatch, TaskError> {
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
    let columns = columns
        .into_iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c)
            } else {
                cast(&c, f.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let fits = schema
        .fields()
        .iter()
        .zip(&columns)
        .all(|(f, c)| f.is_nullable() || c.null_count() == 0);
    let schema = if fits {
        schema.clone()
    } else {
        Arc::new(datafusion::arrow::datatypes::Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ))
    };
    let opts = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(schema, columns, &opts)?)
}
