//! Strom's runtime: tasks that run operator chains over Arrow record batches, exchanges between
//! tasks, and the connector interface.

pub mod connector;

pub use connector::{ConnectorError, ConnectorFactory, ConnectorRegistry, SinkWriter, SourceReader, SubtaskInfo};
