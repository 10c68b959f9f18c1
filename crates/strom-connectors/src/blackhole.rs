//! The `blackhole` connector: a sink that discards its rows (it counts them).

use arrow::array::RecordBatch;
use strom_plan::TableSpec;
use strom_runtime::connector::ConnectorCounters;
use strom_runtime::{ConnectorError, ConnectorFactory, SinkWriter, SourceReader, SubtaskInfo};

/// The `blackhole` connector (sink only; takes no options besides `connector`).
#[derive(Debug, Default)]
pub struct BlackholeConnector;

/// Discards rows, counting rows and batches.
#[derive(Debug, Default)]
pub struct BlackholeWriter {
    rows: u64,
    batches: u64,
    bytes: u64,
    /// `'sink.rows-per-second'`: a deliberately slow sink (to observe backpressure).
    rate: Option<f64>,
    started: Option<std::time::Instant>,
}

/// The option that makes the blackhole slow on purpose (a Strom extension for backpressure
/// demonstrations and tests).
pub const ROWS_PER_SECOND: &str = "sink.rows-per-second";

impl BlackholeWriter {
    /// Rows received so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Batches received so far.
    pub fn batches(&self) -> u64 {
        self.batches
    }
}

impl SinkWriter for BlackholeWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        self.rows += batch.num_rows() as u64;
        self.batches += 1;
        self.bytes += batch.get_array_memory_size() as u64;
        if let Some(rate) = self.rate {
            // pace to `rate` rows per second since the first batch
            let started = *self.started.get_or_insert_with(std::time::Instant::now);
            let due = std::time::Duration::from_secs_f64(self.rows as f64 / rate);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        tracing::debug!(
            rows = self.rows,
            batches = self.batches,
            "blackhole sink finished"
        );
        Ok(())
    }

    /// `bytes` is the in-memory size of the batches received (nothing is written).
    fn counters(&self) -> ConnectorCounters {
        ConnectorCounters {
            bytes: self.bytes,
            skipped_rows: 0,
        }
    }
}

impl ConnectorFactory for BlackholeConnector {
    fn name(&self) -> &'static str {
        "blackhole"
    }

    fn validate(&self, table: &TableSpec, as_source: bool) -> Result<(), ConnectorError> {
        if as_source {
            return Err(ConnectorError::BadOption {
                table: table.name.clone(),
                message: "the blackhole connector is a sink only; read from 'filesystem' or 'datagen' instead".into(),
            });
        }
        if let Some(k) = table
            .options
            .keys()
            .find(|k| !["connector", "sink.parallelism", ROWS_PER_SECOND].contains(&k.as_str()))
        {
            return Err(ConnectorError::BadOption {
                table: table.name.clone(),
                message: format!("the blackhole connector takes only 'sink.parallelism' and '{ROWS_PER_SECOND}'; remove '{k}'"),
            });
        }
        rate(table)?;
        Ok(())
    }

    fn create_reader(
        &self,
        table: &TableSpec,
        _projection: &[usize],
        _subtask: SubtaskInfo,
        _batch_rows: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        crate::unreadable(
            table,
            "the blackhole connector is a sink only; it cannot be read",
        )
    }

    fn supports_changelog(&self, _table: &TableSpec) -> bool {
        true
    }

    fn create_writer(
        &self,
        table: &TableSpec,
        _subtask: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        Ok(Box::new(BlackholeWriter {
            rate: rate(table)?,
            ..Default::default()
        }))
    }
}

fn rate(table: &TableSpec) -> Result<Option<f64>, ConnectorError> {
    table
        .options
        .get(ROWS_PER_SECOND)
        .map(|v| match v.trim().parse::<f64>() {
            Ok(r) if r > 0.0 && r.is_finite() => Ok(r),
            _ => Err(ConnectorError::BadOption {
                table: table.name.clone(),
                message: format!("'{ROWS_PER_SECOND}' must be a positive number, got '{v}'"),
            }),
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use std::sync::Arc;

    #[test]
    fn counts_rows() {
        let mut w = BlackholeWriter::default();
        let b = RecordBatch::try_from_iter([("a", Arc::new(Int64Array::from(vec![1, 2, 3])) as _)])
            .expect("batch");
        w.write(&b).expect("write");
        w.write(&b).expect("write");
        w.finish().expect("finish");
        assert_eq!(w.rows(), 6);
        assert_eq!(w.batches(), 2);
    }
}
