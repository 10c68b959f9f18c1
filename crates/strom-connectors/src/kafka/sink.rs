//! The Kafka sink: one `BaseProducer` per subtask, one message per row ([`RowEncoder`]).
//! librdkafka spreads keyless messages over the partitions; upsert-kafka keys by the primary
//! key, so one key always lands in one partition.
//!
//! A full local queue (`QueueFull`) is waited out by polling, so memory stays bounded
//! (`queue.buffering.max.kbytes` defaults to 64 MiB here). Delivery reports are collected by
//! the producer's context: with `'sink.delivery-guarantee' = 'at-least-once'` (the default) a
//! failed delivery fails the writer, and `finish` waits (bounded) until every message is
//! acknowledged. `exactly-once` is [`super::transactional`].

use super::client::{client_config, creation_error, KafkaContext};
use super::encode::RowEncoder;
use super::options::{DeliveryGuarantee, KafkaOptions};
use arrow::array::RecordBatch;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use strom_plan::TableSpec;
use strom_runtime::connector::ConnectorCounters;
use strom_runtime::{ConnectorError, SinkWriter, SubtaskInfo};

/// How long `finish` waits for the outstanding messages to be acknowledged.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// The producer context: the client context plus delivery reports.
#[derive(Default)]
pub struct SinkContext {
    pub(crate) client: KafkaContext,
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
    enc: RowEncoder,
    producer: BaseProducer<SinkContext>,
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
        if matches!(opts.delivery, DeliveryGuarantee::ExactlyOnce { .. }) && subtask.index == 0 {
            tracing::warn!(
                table = %opts.table,
                "'sink.delivery-guarantee' = 'exactly-once' needs checkpoints ('execution.checkpointing.interval'); without them this sink writes at least once"
            );
        }
        Ok(Self {
            enc: RowEncoder::new(table, opts),
            producer,
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
        sink_error(&self.enc.opts, what)
    }

    /// A failed delivery, with at-least-once.
    fn check_deliveries(&self) -> Result<(), ConnectorError> {
        if self.enc.opts.delivery == DeliveryGuarantee::None {
            return Ok(());
        }
        check_deliveries(&self.enc.opts, &self.producer)
    }
}

/// An error of the sink of `opts`' table.
pub(crate) fn sink_error(opts: &KafkaOptions, what: String) -> ConnectorError {
    ConnectorError::Io(format!(
        "kafka sink of table '{}' (topic '{}' on {}): {what}",
        opts.table, opts.topic, opts.servers
    ))
}

/// The first failed delivery of `producer`, as an error.
pub(crate) fn check_deliveries(
    opts: &KafkaOptions,
    producer: &BaseProducer<SinkContext>,
) -> Result<(), ConnectorError> {
    let ctx = producer.context();
    let first = ctx
        .failure
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    match first {
        None => Ok(()),
        Some(f) => Err(sink_error(
            opts,
            format!(
                "{f} ({} failed deliveries in all{})",
                ctx.failed.load(Ordering::Relaxed),
                ctx.client
                    .last_error()
                    .map(|l| format!("; last client error: {l}"))
                    .unwrap_or_default()
            ),
        )),
    }
}

/// Queues one message, polling while the local queue is full.
pub(crate) fn send(
    opts: &KafkaOptions,
    producer: &BaseProducer<SinkContext>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<(), ConnectorError> {
    let mut record = BaseRecord::<[u8], [u8]>::to(&opts.topic);
    if let Some(k) = key {
        record = record.key(k);
    }
    if let Some(v) = value {
        record = record.payload(v);
    }
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                producer.poll(Duration::from_millis(50));
                if opts.delivery != DeliveryGuarantee::None {
                    check_deliveries(opts, producer)?;
                }
            }
            Err((e, _)) => return Err(sink_error(opts, format!("cannot send a message: {e}"))),
        }
    }
}

impl SinkWriter for KafkaWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        self.check_deliveries()?;
        let (producer, mut rows) = (&self.producer, 0);
        self.bytes += self.enc.encode(batch, |opts, k, v| {
            rows += 1;
            send(opts, producer, k, v)
        })?;
        self.rows += rows;
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
            if self.enc.opts.delivery == DeliveryGuarantee::None {
                tracing::warn!(table = %self.enc.opts.table, "kafka sink: {msg}");
                return Ok(());
            }
            return Err(self.err(msg));
        }
        let ctx = self.producer.context();
        let failed = ctx.failed.load(Ordering::Relaxed);
        if failed > 0 {
            tracing::warn!(
                table = %self.enc.opts.table,
                failed,
                "kafka sink: some messages were not delivered ('sink.delivery-guarantee' = 'none')"
            );
        }
        tracing::debug!(
            table = %self.enc.opts.table,
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
