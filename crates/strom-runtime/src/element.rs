//! What travels between tasks: record batches interleaved with control events.

use datafusion::arrow::record_batch::RecordBatch;

/// One element of a stream.
#[derive(Debug, Clone)]
pub enum StreamElement {
    Batch(RecordBatch),
    /// Event time (epoch millis) up to which the producer promises no more rows.
    Watermark(i64),
    /// The producer is idle (its sources have no data for their idle timeout): its watermark does
    /// not hold back the consumer's until it sends a batch or a watermark again (Flink's
    /// `WatermarkStatus.IDLE`).
    Idle,
    /// A checkpoint barrier: everything before it belongs to checkpoint `id` (triggered at
    /// `timestamp`, epoch ms), everything after it to later ones.
    Barrier {
        id: u64,
        timestamp: i64,
    },
    /// The producer's input is exhausted; nothing follows.
    EndOfInput,
}

/// The watermark that ends a bounded input: fires every window.
pub const MAX_WATERMARK: i64 = i64::MAX;
