//! Strom's runtime: tasks that run operator chains over Arrow record batches, exchanges between
//! tasks, and the connector interface.

pub mod barrier;
pub mod batch_memory;
pub mod collect;
pub mod connector;
pub mod deployment;
pub mod element;
pub mod error;
pub mod exchange;
pub mod key_groups;
pub mod metrics;
pub mod network;
pub mod operator;
pub mod operators;
pub mod task;
pub mod task_state;
pub mod watermark;

pub use connector::{
    ConnectorError, ConnectorFactory, ConnectorRegistry, SinkWriter, SourceReader, SplitState,
    SubtaskInfo,
};
pub use deployment::{InputDescriptor, TaskDeploymentDescriptor};
pub use error::TaskError;
pub use metrics::{TaskMetrics, TaskMetricsSnapshot};
pub use operator::RestoreScope;
pub use task::{run_task, TaskContext};
