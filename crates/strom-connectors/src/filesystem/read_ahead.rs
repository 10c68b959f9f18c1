//! Reading ahead on a fetcher thread, as Flink's `FileSource` does (its `SplitFetcher` reads
//! and decodes records on a thread of its own and hands batches to the task thread).
//!
//! [`ReadAhead`] runs a file reader (CSV, JSON, Parquet) on a thread of its own that reads and
//! parses the next batches while the task's thread runs its operators on the last one. A
//! bounded channel of [`DEPTH`] batches keeps the two in step, so at most that many parsed
//! batches wait. Each batch travels with the reader's position after it and its counters, so
//! a checkpoint taken after the task has seen batch `n` stores the position after batch `n`
//! and nothing read ahead is lost or read twice on restore.
//!
//! Dropping the [`ReadAhead`] (the task ended or was cancelled) closes the channel; the fetcher
//! stops at its next send and its thread ends.

use arrow::array::RecordBatch;
use std::sync::mpsc::{sync_channel, Receiver};
use strom_runtime::connector::ConnectorCounters;
use strom_runtime::{ConnectorError, SourceReader};

/// Batches parsed ahead of the task at most.
pub const DEPTH: usize = 2;

/// What the fetcher sends per batch.
struct Fetched {
    batch: Result<Option<RecordBatch>, ConnectorError>,
    /// The reader's position after `batch` (an error text when it cannot tell).
    position: Result<Option<Vec<u8>>, String>,
    counters: ConnectorCounters,
}

/// A file reader running one batch or two ahead on its own thread.
pub struct ReadAhead {
    rx: Receiver<Fetched>,
    /// Position and counters after the last batch handed out (before any: those of the reader
    /// as it was made).
    position: Result<Option<Vec<u8>>, String>,
    counters: ConnectorCounters,
    ended: Option<Result<(), ConnectorError>>,
}

impl ReadAhead {
    /// Starts reading `reader` ahead on a thread named `name`.
    pub fn start(mut reader: Box<dyn SourceReader>, name: String) -> Result<Self, ConnectorError> {
        let position = reader.snapshot_position().map_err(|e| e.to_string());
        let counters = reader.counters();
        let (tx, rx) = sync_channel::<Fetched>(DEPTH);
        std::thread::Builder::new()
            .name(name)
            .spawn(move || loop {
                let batch = reader.next_batch();
                let last = !matches!(batch, Ok(Some(_)));
                let fetched = Fetched {
                    position: match &batch {
                        Ok(_) => reader.snapshot_position().map_err(|e| e.to_string()),
                        Err(_) => Err("the reader failed".into()),
                    },
                    counters: reader.counters(),
                    batch,
                };
                if tx.send(fetched).is_err() || last {
                    return;
                }
            })
            .map_err(|e| {
                ConnectorError::Other(format!("cannot start a file reader thread: {e}"))
            })?;
        Ok(Self {
            rx,
            position,
            counters,
            ended: None,
        })
    }
}

impl SourceReader for ReadAhead {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        if let Some(end) = &self.ended {
            return end.as_ref().map(|()| None).map_err(again);
        }
        let Ok(f) = self.rx.recv() else {
            let e = ConnectorError::Other("the file reader thread stopped unexpectedly".into());
            self.ended = Some(Err(again(&e)));
            return Err(e);
        };
        self.counters = f.counters;
        match f.batch {
            Ok(Some(b)) => {
                self.position = f.position;
                Ok(Some(b))
            }
            Ok(None) => {
                self.position = f.position;
                self.ended = Some(Ok(()));
                Ok(None)
            }
            Err(e) => {
                self.ended = Some(Err(again(&e)));
                Err(e)
            }
        }
    }

    fn counters(&self) -> ConnectorCounters {
        self.counters
    }

    fn snapshot_position(&mut self) -> Result<Option<Vec<u8>>, ConnectorError> {
        self.position.clone().map_err(ConnectorError::Other)
    }
}

/// The same error once more (a failed reader fails every later call alike).
fn again(e: &ConnectorError) -> ConnectorError {
    match e {
        ConnectorError::Parse(m) => ConnectorError::Parse(m.clone()),
        ConnectorError::Io(m) => ConnectorError::Io(m.clone()),
        other => ConnectorError::Other(other.to_string()),
    }
}
