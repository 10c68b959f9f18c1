//! Exchanges between tasks in one process: bounded channels for PIPELINED results (a full channel
//! blocks the producer: backpressure with bounded memory), stored partitions for BLOCKING results
//! (read by consumers scheduled after the producers finished). Rows are routed by the edge's ship
//! strategy.
//!
//! - [`ids`]: gate, partition and subpartition ids, and the channel message.
//! - [`local`]: the in-process shuffle service ([`LocalShuffle`]).
//! - [`writer`]: a task's output on one edge ([`ResultPartitionWriter`]).
//!
//! The network (`crate::network`) carries subpartitions between processes; it uses `ids` and
//! `local`, and `writer` uses it.

pub mod ids;
pub mod local;
pub mod writer;

pub use ids::{GateKey, Message, PartitionKey, SubpartitionId, CHANNEL_CAPACITY};
pub use local::LocalShuffle;
pub use writer::{OutputDescriptor, ResultPartitionWriter};
