//! The Kafka sink: one `BaseProducer` per subtask, one message per row (no key; the value is
//! the row as a JSON object, a CSV line without a line break, the raw string, NULL as a
//! message without a value, or with `debezium-json` a Debezium envelope of a changelog row).
//! librdkafka spreads keyless messages over the partitions. For upsert-kafka the key is the
//! primary key as a JSON object (so one key always lands in one partition): +I/+U write the
//! row, -D a tombstone, -U nothing.
//!
//! A full local queue (`QueueFull`) is waited out by polling, so memory stays bounded
//! (`queue.buffering.max.kbytes` defaults to 64 MiB here). Delivery reports are collected by
//! the producer's context: with `'sink.delivery-guarantee' = 'at-least-once'` (the default) a
//! failed delivery fails the writer, and `finish` waits (bounded) until every message is
//! acknowledged.

use super::client::{client_config, creation_error, KafkaContext};
use super::options::{DeliveryGuarantee, KafkaFormat, KafkaOptions};
use crate::format::{write_json_string, ColumnText, Style};
use arrow::array::{Array, RecordBatch};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use strom_plan::{RowKind, TableSpec};
use strom_runtime::connector::{split_changelog, ConnectorCounters};
use strom_runtime::{ConnectorError, SinkWriter, SubtaskInfo};

/// How long `finish` waits for the outstanding messages to be acknowledged.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// The producer context: the client context plus delivery reports.
#[derive(Default)]
pub struct SinkContext {
    client: KafkaContext,
    /// The first failed delivery.
    failure: Mutex<Option<String>>,
    failed: AtomicU64,
    delivered: AtomicU64,
}

impl ClientContext for SinkContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.client.log(level, fac, log_message)
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.client.error(error, reason)
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, m)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut f = self.failure.lock().unwrap_or_else(|e| e.into_inner());
                if f.is_none() {
                    let partition = match m.partition() {
                        p if p >= 0 => format!(" partition {p}"),
                        _ => String::new(),
                    };
                    *f = Some(format!(
                        "delivery of a message to topic '{}'{partition} failed: {e}",
                        m.topic()
                    ));
                }
            }
        }
    }
}

/// Writes one subtask's rows to the topic.
pub struct KafkaWriter {
    opts: KafkaOptions,
    producer: BaseProducer<SinkContext>,
    /// JSON: `"name":` of each column.
    keys: Vec<Vec<u8>>,
    buf: Vec<u8>,
    bytes: u64,
    rows: u64,
    finished: bool,
}

impl KafkaWriter {
    pub fn new(
        table: &TableSpec,
        opts: KafkaOptions,
        subtask: SubtaskInfo,
    ) -> Result<Self, ConnectorError> {
        let producer: BaseProducer<SinkContext> = client_config(
            &opts,
            &[
                (
                    "client.id",
                    format!("strom-{}-sink-{}", opts.table, subtask.index),
                ),
                ("queue.buffering.max.kbytes", "65536".to_string()),
            ],
            &[],
        )
        .create_with_context(SinkContext::default())
        .map_err(|e| creation_error(&opts, e))?;
        let keys = table
            .schema
            .columns
            .iter()
            .map(|c| {
                let mut k = Vec::new();
                write_json_string(&mut k, c.name.as_bytes());
                k.push(b':');
                k
            })
            .collect();
        Ok(Self {
            opts,
            producer,
            keys,
            buf: Vec::with_capacity(1024),
            bytes: 0,
            rows: 0,
            finished: false,
        })
    }

    /// Rows handed to the producer so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn err(&self, what: String) -> ConnectorError {
        ConnectorError::Io(format!(
            "kafka sink of table '{}' (topic '{}' on {}): {what}",
            self.opts.table, self.opts.topic, self.opts.servers
        ))
    }

    /// A failed delivery, with at-least-once.
    fn check_deliveries(&self) -> Result<(), ConnectorError> {
        if self.opts.delivery == DeliveryGuarantee::None {
            return Ok(());
        }
        let ctx = self.producer.context();
        let first = ctx
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match first {
            None => Ok(()),
            Some(f) => Err(self.err(format!(
                "{f} ({} failed deliveries in all{})",
                ctx.failed.load(Ordering::Relaxed),
                ctx.client
                    .last_error()
                    .map(|l| format!("; last client error: {l}"))
                    .unwrap_or_default()
            ))),
        }
    }

    /// Appends `{"name":value,...}` of the columns `which` of row `row`.
    fn json_object(
        &self,
        batch: &RecordBatch,
        cols: &[ColumnText<'_>],
        which: impl Iterator<Item = usize>,
        row: usize,
        buf: &mut Vec<u8>,
    ) {
        let own_keys = self.keys.len() == cols.len();
        buf.push(b'{');
        for (n, i) in which.enumerate() {
            if n > 0 {
                buf.push(b',');
            }
            if own_keys {
                buf.extend_from_slice(&self.keys[i]);
            } else {
                write_json_string(buf, batch.schema().field(i).name().as_bytes());
                buf.push(b':');
            }
            cols[i].write(row, buf, Style::Json);
        }
        buf.push(b'}');
    }

    /// Appends the message value of row `row` (of kind `kind`) to `buf`; false for no value
    /// (raw NULL, an upsert tombstone).
    pub(crate) fn render(
        &self,
        batch: &RecordBatch,
        cols: &[ColumnText<'_>],
        row: usize,
        kind: RowKind,
        buf: &mut Vec<u8>,
    ) -> bool {
        if let Some(u) = &self.opts.upsert {
            if !kind.is_addition() {
                return false;
            }
            let all = 0..cols.len();
            if u.except_key {
                self.json_object(batch, cols, all.filter(|i| !u.key.contains(i)), row, buf);
            } else {
                self.json_object(batch, cols, all, row, buf);
            }
            return true;
        }
        match self.opts.format {
            KafkaFormat::Raw => {
                if cols.is_empty() || batch.column(0).is_null(row) {
                    return false;
                }
                cols[0].write(row, buf, Style::Print);
            }
            KafkaFormat::Csv => {
                let style = Style::Csv {
                    delimiter: self.opts.delimiter,
                };
                for (i, c) in cols.iter().enumerate() {
                    if i > 0 {
                        buf.push(self.opts.delimiter);
                    }
                    c.write(row, buf, style);
                }
            }
            KafkaFormat::Json => self.json_object(batch, cols, 0..cols.len(), row, buf),
            KafkaFormat::DebeziumJson => {
                let (before, after, op) = if kind.is_addition() {
                    ("null", None, "c")
                } else {
                    ("", Some("null"), "d")
                };
                buf.extend_from_slice(b"{\"before\":");
                if before.is_empty() {
                    self.json_object(batch, cols, 0..cols.len(), row, buf);
                } else {
                    buf.extend_from_slice(before.as_bytes());
                }
                buf.extend_from_slice(b",\"after\":");
                match after {
                    Some(a) => buf.extend_from_slice(a.as_bytes()),
                    None => self.json_object(batch, cols, 0..cols.len(), row, buf),
                }
                buf.extend_from_slice(b",\"op\":\"");
                buf.extend_from_slice(op.as_bytes());
                buf.extend_from_slice(b"\"}");
            }
        }
        true
    }

    /// Queues one message, polling while the local queue is full.
    fn send(&self, key: Option<&[u8]>, value: Option<&[u8]>) -> Result<(), ConnectorError> {
        let mut record = BaseRecord::<[u8], [u8]>::to(&self.opts.topic);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(v) = value {
            record = record.payload(v);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    self.producer.poll(Duration::from_millis(50));
                    self.check_deliveries()?;
                }
                Err((e, _)) => return Err(self.err(format!("cannot send a message: {e}"))),
            }
        }
    }
}

impl SinkWriter for KafkaWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        self.check_deliveries()?;
        let (batch, kinds) = split_changelog(batch);
        let batch = &batch;
        let cols = batch
            .columns()
            .iter()
            .map(|a| {
                ColumnText::new(a)
                    .map_err(|e| ConnectorError::Other(format!("cannot format column: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut buf = std::mem::take(&mut self.buf);
        let mut key = Vec::new();
        for row in 0..batch.num_rows() {
            let kind = kinds
                .as_ref()
                .and_then(|k| RowKind::from_byte(k.value(row)))
                .unwrap_or(RowKind::Insert);
            if kind == RowKind::UpdateBefore && self.opts.upsert.is_some() {
                // the +U that follows overwrites the key
                continue;
            }
            buf.clear();
            let value = self
                .render(batch, &cols, row, kind, &mut buf)
                .then_some(&buf[..]);
            let key = self.opts.upsert.as_ref().map(|u| {
                key.clear();
                self.json_object(batch, &cols, u.key.iter().copied(), row, &mut key);
                &key[..]
            });
            self.bytes += value.map_or(0, |v| v.len() as u64) + key.map_or(0, |k| k.len() as u64);
            if let Err(e) = self.send(key, value) {
                self.buf = buf;
                return Err(e);
            }
            self.rows += 1;
        }
        self.buf = buf;
        // serve delivery reports
        self.producer.poll(Duration::ZERO);
        self.check_deliveries()
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let started = Instant::now();
        let flushed = self.producer.flush(FLUSH_TIMEOUT);
        self.check_deliveries()?;
        if let Err(e) = flushed {
            let left = self.producer.in_flight_count();
            let msg = format!(
                "{left} messages were not acknowledged within {} s ({e}{})",
                FLUSH_TIMEOUT.as_secs(),
                self.producer
                    .context()
                    .client
                    .last_error()
                    .map(|l| format!("; last error: {l}"))
                    .unwrap_or_default()
            );
            if self.opts.delivery == DeliveryGuarantee::None {
                tracing::warn!(table = %self.opts.table, "kafka sink: {msg}");
                return Ok(());
            }
            return Err(self.err(msg));
        }
        let ctx = self.producer.context();
        let failed = ctx.failed.load(Ordering::Relaxed);
        if failed > 0 {
            tracing::warn!(
                table = %self.opts.table,
                failed,
                "kafka sink: some messages were not delivered ('sink.delivery-guarantee' = 'none')"
            );
        }
        tracing::debug!(
            table = %self.opts.table,
            rows = self.rows,
            delivered = ctx.delivered.load(Ordering::Relaxed),
            flush_ms = started.elapsed().as_millis() as u64,
            "kafka sink finished"
        );
        Ok(())
    }

    fn counters(&self) -> ConnectorCounters {
        ConnectorCounters {
            bytes: self.bytes,
            skipped_rows: 0,
        }
    }
}
