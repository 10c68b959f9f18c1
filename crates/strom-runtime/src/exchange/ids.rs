//! The ids of an exchange's gates, stored partitions and subpartitions, and what travels on a
//! channel.

use crate::element::StreamElement;
use serde::{Deserialize, Serialize};
use strom_common::{JobId, VertexId};

/// Elements buffered per input channel of a consumer (pipelined).
pub const CHANNEL_CAPACITY: usize = 4;

/// Identifies one input gate: a consumer subtask's input `input_index` in one execution round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GateKey {
    pub job: JobId,
    /// Incremented by the JobMaster on every (re)start, so a restarted attempt never meets a
    /// channel of an older one.
    pub round: u32,
    pub vertex: VertexId,
    pub subtask: u32,
    pub input_index: u32,
}

/// Identifies the stored output of one producer subtask (BLOCKING).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PartitionKey {
    pub job: JobId,
    pub round: u32,
    pub vertex: VertexId,
    pub subtask: u32,
    pub consumer: VertexId,
}

/// Identifies one subpartition across processes: what one consumer subtask reads from one producer
/// subtask over one edge (`input_index` of the consumer) in one execution round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SubpartitionId {
    pub job: JobId,
    pub round: u32,
    pub producer: VertexId,
    pub producer_subtask: u32,
    pub consumer: VertexId,
    pub consumer_subtask: u32,
    pub input_index: u32,
}

impl SubpartitionId {
    /// The stored partition this subpartition belongs to (BLOCKING results).
    pub fn partition_key(&self) -> PartitionKey {
        PartitionKey {
            job: self.job,
            round: self.round,
            vertex: self.producer,
            subtask: self.producer_subtask,
            consumer: self.consumer,
        }
    }
}

/// What travels on a channel: the producer's channel index and the element.
pub type Message = (u32, StreamElement);
