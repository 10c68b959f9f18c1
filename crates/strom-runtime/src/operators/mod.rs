//! Strom's operators and the factory that builds a chain from its specs.

pub mod accumulators;
pub mod aggregate;
pub mod calc;
pub mod sink;
pub mod window_tvf;

use crate::connector::{ConnectorRegistry, SubtaskInfo};
use crate::error::TaskError;
use crate::metrics::TaskMetrics;
use crate::operator::{Chain, Operator};
use std::sync::Arc;
use strom_plan::OperatorSpec;

/// Builds the operators of a chain, except a leading source (the task drives that itself).
pub fn build_chain(
    specs: &[OperatorSpec],
    registry: &ConnectorRegistry,
    subtask: SubtaskInfo,
    metrics: &Arc<TaskMetrics>,
) -> Result<Chain, TaskError> {
    let mut operators: Vec<Box<dyn Operator>> = Vec::new();
    for spec in specs {
        let op: Box<dyn Operator> = match spec {
            OperatorSpec::Source(_) => {
                return Err(TaskError::Deployment(
                    "a source can only be the first operator of a chain".into(),
                ))
            }
            OperatorSpec::Calc(c) => Box::new(calc::CalcOperator::new(c)?),
            OperatorSpec::WindowTableFunction(w) => Box::new(window_tvf::WindowTvfOperator::new(w)),
            OperatorSpec::Aggregate(a) => Box::new(aggregate::AggregateOperator::new(a)?),
            OperatorSpec::Sink(s) => {
                let writer = registry.get(&s.table)?.create_writer(&s.table, subtask)?;
                Box::new(sink::SinkOperator::new(
                    writer,
                    s.output.to_arrow(),
                    spec.name(),
                    metrics.clone(),
                ))
            }
        };
        operators.push(op);
    }
    Ok(Chain { operators })
}
