//! The `collect` sink (Flink's `collect()`): the rows of a SELECT submitted to a cluster go to
//! the client through the JobManager instead of a TaskManager's standard output. The planner
//! puts it behind a bare SELECT at parallelism 1 when the client asks for it; the task writes
//! each batch as an Arrow IPC stream to its [`ResultCollector`] (the TaskManager's line to the
//! JobMaster), which may refuse a chunk while the client has not fetched enough: the writer
//! then offers it again, so a slow client slows the job instead of filling memory.

use crate::connector::{ConnectorCounters, ConnectorError, SinkWriter};
use crate::operators::state_ipc;
use arrow::array::RecordBatch;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The `connector` option of the sink a collected SELECT writes to.
pub const CONNECTOR: &str = "collect";

/// Where a task's collected rows go: its JobMaster.
pub trait ResultCollector: Send + Sync {
    /// Offers one chunk of rows (an Arrow IPC stream; empty with `last` at the end). `Ok(false)`:
    /// the buffer is full, offer it again later.
    fn offer(&self, chunk: Vec<u8>, last: bool) -> Result<bool, String>;
}

/// Writes a task's rows to its [`ResultCollector`].
pub struct CollectWriter {
    collector: Arc<dyn ResultCollector>,
    cancel: Arc<AtomicBool>,
    bytes: u64,
}

impl CollectWriter {
    pub fn new(collector: Arc<dyn ResultCollector>, cancel: Arc<AtomicBool>) -> Self {
        Self {
            collector,
            cancel,
            bytes: 0,
        }
    }

    fn send(&mut self, chunk: Vec<u8>, last: bool) -> Result<(), ConnectorError> {
        let mut wait = Duration::from_millis(5);
        loop {
            let taken = self.collector.offer(chunk.clone(), last).map_err(|e| {
                ConnectorError::Io(format!("cannot hand rows to the JobManager: {e}"))
            })?;
            if taken {
                self.bytes += chunk.len() as u64;
                return Ok(());
            }
            if self.cancel.load(Ordering::Relaxed) {
                return Err(ConnectorError::Other("canceled".into()));
            }
            std::thread::sleep(wait);
            wait = (wait * 2).min(Duration::from_millis(200));
        }
    }
}

impl SinkWriter for CollectWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let chunk = state_ipc::write(&batch.schema(), std::slice::from_ref(batch))
            .map_err(|e| ConnectorError::Other(format!("cannot encode rows: {e}")))?;
        self.send(chunk, false)
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        self.send(Vec::new(), true)
    }

    fn counters(&self) -> ConnectorCounters {
        ConnectorCounters {
            bytes: self.bytes,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use parking_lot::Mutex;

    /// Refuses every other offer.
    #[derive(Default)]
    struct Flaky {
        offers: Mutex<u32>,
        taken: Mutex<Vec<(usize, bool)>>,
    }

    impl ResultCollector for Flaky {
        fn offer(&self, chunk: Vec<u8>, last: bool) -> Result<bool, String> {
            let mut n = self.offers.lock();
            *n += 1;
            if *n % 2 == 1 {
                return Ok(false);
            }
            self.taken.lock().push((chunk.len(), last));
            Ok(true)
        }
    }

    #[test]
    fn refused_chunks_are_offered_again_and_the_end_is_marked() {
        let c = Arc::new(Flaky::default());
        let mut w = CollectWriter::new(c.clone(), Arc::new(AtomicBool::new(false)));
        let batch = RecordBatch::try_from_iter([(
            "x",
            Arc::new(Int64Array::from(vec![1, 2, 3])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
        let taken = c.taken.lock().clone();
        assert_eq!(taken.len(), 2);
        assert!(taken[0].0 > 0 && !taken[0].1);
        assert_eq!(taken[1], (0, true));
    }
}
