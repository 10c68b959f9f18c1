//! The `kafka` connector (Flink's option names): a topic as a source and as a sink, through
//! librdkafka (the `rdkafka` crate, bundled librdkafka).
//!
//! ```sql
//! CREATE TABLE bid (...) WITH (
//!   'connector' = 'kafka',
//!   'topic' = 'bids',                                  -- exactly one topic
//!   'properties.bootstrap.servers' = 'localhost:9092',
//!   'properties.group.id' = 'strom',                   -- default 'strom-<topic>'
//!   'format' = 'json',                                 -- 'json' | 'csv' | 'raw'
//!   'json.ignore-parse-errors' = 'false',
//!   'csv.ignore-parse-errors' = 'false',
//!   'csv.field-delimiter' = ',',
//!   'scan.startup.mode' = 'group-offsets',             -- | 'earliest-offset' | 'latest-offset' | 'timestamp'
//!   'scan.startup.timestamp-millis' = '1704067200000', -- with 'timestamp'
//!   'scan.bounded.mode' = 'unbounded',                 -- | 'latest-offset'
//!   'scan.watermark.idle-timeout' = '5 s',
//!   'sink.delivery-guarantee' = 'at-least-once',       -- | 'none' | 'exactly-once' (with
//!   'sink.transactional-id-prefix' = 'my-job'          --   checkpoints; needs a prefix)
//! );
//! ```
//!
//! Every other `'properties.<key>'` is passed to librdkafka as `<key>` (librdkafka's names,
//! which mostly match the Java client's; an unknown one is an error naming the option).
//! `'value.format'` is accepted as another name of `'format'`; `'sink.parallelism'` is checked
//! here and applied by the planner.
//!
//! **Source** ([`source::KafkaReader`]). Partition `p` is read by subtask `p % parallelism`
//! with a manual assignment (no consumer-group rebalancing; offsets are not committed). A
//! subtask without partitions has no splits: bounded, it ends at once; unbounded, it returns
//! empty batches (the runtime treats a subtask without splits as idle). The start offsets come
//! from `'scan.startup.mode'`: `group-offsets` (the default, as in Flink) uses the group's
//! committed offsets and the earliest offset where there is none (the latest with
//! `'properties.auto.offset.reset' = 'latest'`); `timestamp` the first message at or after
//! the timestamp. `'scan.bounded.mode' = 'latest-offset'` reads up to the end offsets taken when
//! the reader starts and then ends. Each batch holds rows of one partition; a partition without
//! messages for `'scan.watermark.idle-timeout'` is idle until its next message (see
//! [`strom_runtime::SourceReader::split_state`]). A message that cannot be decoded fails the task
//! with its topic, partition and offset, unless `'<format>.ignore-parse-errors'` skips (and
//! counts) it. Messages without a value (tombstones) are skipped (raw: a NULL value).
//! With checkpoints, the position of a reader is its partitions' next offsets (and, bounded,
//! end offsets); a restored reader takes the partitions it would read anyway, at any
//! parallelism, each from its checkpointed offset (partitions no position holds: from
//! `'scan.startup.mode'`); see [`source`].
//!
//! **Source formats** ([`decode`]): `json` (one object per message, field names = column
//! names, the rules of the filesystem JSON reader), `csv` (one line per message, the fields of
//! all columns, RFC 4180 quotes), `raw` (exactly one STRING column: the value, valid UTF-8).
//!
//! **Sink** ([`sink::KafkaWriter`]): one message per row, without a key; the value is the row
//! as a JSON object, a CSV line (no line break) or the raw string. `at-least-once` waits at the
//! end of input until every message is acknowledged and fails on a failed delivery;
//! `exactly-once` (with checkpoints and `'sink.transactional-id-prefix'`) commits each
//! checkpoint's rows in a Kafka transaction when the checkpoint completes ([`transactional`]).
//!
//! `validate` checks the options and that the topic exists (for sources and sinks), waiting at
//! most 10 s for the brokers.

pub mod client;
pub mod decode;
pub mod encode;
pub mod options;
pub mod sink;
pub mod source;
pub mod transactional;

pub use options::Upsert;
pub use options::{assigned_partitions, KafkaOptions};
pub use sink::KafkaWriter;
pub use source::KafkaReader;

use strom_plan::TableSpec;
use strom_runtime::connector::DEFAULT_BATCH_ROWS;
use strom_runtime::{ConnectorError, ConnectorFactory, SinkWriter, SourceReader, SubtaskInfo};

/// The `kafka` connector: a topic as an unbounded or bounded source and as a sink.
#[derive(Debug, Default)]
pub struct KafkaConnector;

impl KafkaConnector {
    /// The reader of subtask `subtask`, as its concrete type (for [`KafkaReader::offsets`]).
    pub fn reader(
        &self,
        table: &TableSpec,
        projection: &[usize],
        subtask: SubtaskInfo,
        batch_rows: usize,
    ) -> Result<KafkaReader, ConnectorError> {
        let opts = KafkaOptions::parse(table)?;
        crate::check_projection(table, projection)?;
        let batch_rows = if batch_rows == 0 {
            DEFAULT_BATCH_ROWS
        } else {
            batch_rows
        };
        KafkaReader::new(table, opts, projection, subtask, batch_rows)
    }

    /// The reader of subtask `subtask` resuming from `positions` (see
    /// [`ConnectorFactory::restore_reader`]), as its concrete type.
    pub fn restored_reader(
        &self,
        table: &TableSpec,
        projection: &[usize],
        subtask: SubtaskInfo,
        batch_rows: usize,
        positions: &[Vec<u8>],
    ) -> Result<KafkaReader, ConnectorError> {
        let opts = KafkaOptions::parse(table)?;
        crate::check_projection(table, projection)?;
        let resume = source::decode_positions(&table.name, positions)?;
        let batch_rows = if batch_rows == 0 {
            DEFAULT_BATCH_ROWS
        } else {
            batch_rows
        };
        KafkaReader::resume(table, opts, projection, subtask, batch_rows, &resume)
    }

    /// The writer of subtask `subtask`, as its concrete type.
    pub fn writer(
        &self,
        table: &TableSpec,
        subtask: SubtaskInfo,
    ) -> Result<KafkaWriter, ConnectorError> {
        KafkaWriter::new(table, KafkaOptions::parse(table)?, subtask)
    }
}

impl ConnectorFactory for KafkaConnector {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn validate(&self, table: &TableSpec, as_source: bool) -> Result<(), ConnectorError> {
        let opts = KafkaOptions::parse(table)?;
        if as_source && opts.format == options::KafkaFormat::DebeziumJson {
            return Err(ConnectorError::BadOption {
                table: table.name.clone(),
                message: "'format' = 'debezium-json' can only be written for now, not read; read the topic with 'format' = 'json'".into(),
            });
        }
        if as_source {
            crate::columns::check_flat(table, table.option("format").unwrap_or("json"))?;
        }
        client::check_topic(&opts)?;
        if !as_source {
            check_transactions(&opts)?;
        }
        Ok(())
    }

    fn supports_changelog(&self, table: &TableSpec) -> bool {
        KafkaOptions::parse(table).is_ok_and(|o| o.format == options::KafkaFormat::DebeziumJson)
    }

    fn is_bounded(&self, table: &TableSpec) -> bool {
        table
            .option("scan.bounded.mode")
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("latest-offset"))
    }

    fn create_reader(
        &self,
        table: &TableSpec,
        projection: &[usize],
        subtask: SubtaskInfo,
        batch_rows: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        Ok(Box::new(
            self.reader(table, projection, subtask, batch_rows)?,
        ))
    }

    /// Partitions are assigned as by `create_reader`; each starts at its checkpointed offset,
    /// or by `'scan.startup.mode'` when no position holds it (see [`source`]).
    fn restore_reader(
        &self,
        table: &TableSpec,
        projection: &[usize],
        subtask: SubtaskInfo,
        batch_rows: usize,
        positions: &[Vec<u8>],
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        Ok(Box::new(self.restored_reader(
            table, projection, subtask, batch_rows, positions,
        )?))
    }

    fn create_writer(
        &self,
        table: &TableSpec,
        subtask: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        Ok(Box::new(self.writer(table, subtask)?))
    }

    fn create_exactly_once_writer(
        &self,
        table: &TableSpec,
        subtask: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        exactly_once_writer(table, subtask)
    }
}

/// An exactly-once sink: a transaction with the marker only (id `<prefix>-probe`), so that
/// brokers without transactions are a clear error when the job is submitted, not at its first
/// checkpoint.
fn check_transactions(opts: &KafkaOptions) -> Result<(), ConnectorError> {
    match &opts.delivery {
        options::DeliveryGuarantee::ExactlyOnce { prefix } => {
            transactional::TxnProducer::new(opts, &format!("{prefix}-probe"))?.probe()
        }
        _ => Ok(()),
    }
}

/// With checkpoints: the transactional writer for `'sink.delivery-guarantee' = 'exactly-once'`,
/// else the at-least-once one.
fn exactly_once_writer(
    table: &TableSpec,
    subtask: SubtaskInfo,
) -> Result<Box<dyn SinkWriter>, ConnectorError> {
    let opts = KafkaOptions::parse(table)?;
    Ok(match opts.delivery {
        options::DeliveryGuarantee::ExactlyOnce { .. } => Box::new(
            transactional::TransactionalKafkaWriter::new(table, opts, subtask)?,
        ),
        _ => Box::new(KafkaWriter::new(table, opts, subtask)?),
    })
}

/// The `upsert-kafka` connector (sink): a changelog written as upserts keyed by the primary key.
///
/// ```sql
/// CREATE TABLE totals (auction BIGINT, num BIGINT, PRIMARY KEY (auction) NOT ENFORCED) WITH (
///   'connector' = 'upsert-kafka', 'topic' = 'totals',
///   'properties.bootstrap.servers' = 'localhost:9092',
///   'key.format' = 'json', 'value.format' = 'json'    -- 'value.fields-include' = 'ALL' | 'EXCEPT_KEY'
/// );
/// ```
#[derive(Debug, Default)]
pub struct UpsertKafkaConnector;

impl ConnectorFactory for UpsertKafkaConnector {
    fn name(&self) -> &'static str {
        "upsert-kafka"
    }

    fn validate(&self, table: &TableSpec, as_source: bool) -> Result<(), ConnectorError> {
        if as_source {
            return Err(ConnectorError::BadOption {
                table: table.name.clone(),
                message: "'connector' = 'upsert-kafka' can only be written for now, not read; read the topic with 'connector' = 'kafka' and 'format' = 'json'".into(),
            });
        }
        let opts = KafkaOptions::parse(table)?;
        client::check_topic(&opts)?;
        check_transactions(&opts)
    }

    fn supports_changelog(&self, _table: &TableSpec) -> bool {
        true
    }

    fn create_reader(
        &self,
        table: &TableSpec,
        _projection: &[usize],
        _subtask: SubtaskInfo,
        _batch_rows: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        crate::unreadable(table, "'connector' = 'upsert-kafka' cannot be read yet")
    }

    fn create_writer(
        &self,
        table: &TableSpec,
        subtask: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        Ok(Box::new(KafkaWriter::new(
            table,
            KafkaOptions::parse(table)?,
            subtask,
        )?))
    }

    fn create_exactly_once_writer(
        &self,
        table: &TableSpec,
        subtask: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        exactly_once_writer(table, subtask)
    }
}

#[cfg(test)]
mod tests;
