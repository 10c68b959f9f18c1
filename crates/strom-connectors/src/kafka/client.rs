//! librdkafka clients: their configuration from the table options, a context that routes
//! librdkafka's logs to `tracing` and keeps its last error (for messages), and metadata look-ups
//! with bounded waits.

use super::options::KafkaOptions;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use std::sync::Mutex;
use std::time::Duration;
use strom_runtime::ConnectorError;

/// How long metadata, watermark and offset look-ups may take.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// The context of every client of the connector: librdkafka's log lines go to `tracing`
/// (target `librdkafka`), and its last client-level error is kept for error messages.
#[derive(Default)]
pub struct KafkaContext {
    last_error: Mutex<Option<String>>,
}

impl KafkaContext {
    /// The last error librdkafka reported (e.g. "Connect to ipv4#127.0.0.1:9 failed").
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ClientContext for KafkaContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::warn!(target: "librdkafka", "{fac}: {log_message}");
                *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(log_message.to_string());
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", "{fac}: {log_message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "{fac}: {log_message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{fac}: {log_message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let text = format!("{error}: {reason}");
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_deref() != Some(text.as_str()) {
            tracing::debug!(target: "librdkafka", "{text}");
            *last = Some(text);
        }
    }
}

impl ConsumerContext for KafkaContext {}

/// The librdkafka configuration of a table: every `'properties.*'` option as is, then
/// `defaults` for keys the user did not set, then `overrides`.
pub fn client_config(
    opts: &KafkaOptions,
    defaults: &[(&str, String)],
    overrides: &[(&str, String)],
) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in &opts.properties {
        c.set(k, v);
    }
    for (k, v) in defaults {
        if !opts.properties.contains_key(*k) {
            c.set(*k, v);
        }
    }
    for (k, v) in overrides {
        c.set(*k, v);
    }
    c
}

/// A client creation error as a connector error: a bad `'properties.*'` option names the option.
pub fn creation_error(opts: &KafkaOptions, e: KafkaError) -> ConnectorError {
    match e {
        KafkaError::ClientConfig(_, desc, key, value) => ConnectorError::BadOption {
            table: opts.table.clone(),
            message: if opts.properties.contains_key(&key) {
                format!("option 'properties.{key}' = '{value}' is rejected by librdkafka: {desc}")
            } else {
                format!("librdkafka rejects '{key}' = '{value}': {desc}")
            },
        },
        e => ConnectorError::Other(format!(
            "table '{}': cannot create a Kafka client: {e}",
            opts.table
        )),
    }
}

/// A consumer for metadata look-ups and reading (no subscription; offsets are never committed).
pub fn consumer(
    opts: &KafkaOptions,
    client_id: &str,
    extra: &[(&str, String)],
) -> Result<BaseConsumer<KafkaContext>, ConnectorError> {
    let mut overrides = vec![
        ("group.id", opts.group()),
        ("enable.auto.commit", "false".to_string()),
        ("enable.auto.offset.store", "false".to_string()),
        ("allow.auto.create.topics", "false".to_string()),
    ];
    overrides.extend(extra.iter().cloned());
    client_config(
        opts,
        &[
            ("client.id", client_id.to_string()),
            ("auto.offset.reset", "earliest".to_string()),
        ],
        &overrides,
    )
    .create_with_context(KafkaContext::default())
    .map_err(|e| creation_error(opts, e))
}

/// The partition ids of the table's topic (sorted), or a clear error: a missing topic, or
/// brokers that did not answer within [`METADATA_TIMEOUT`].
pub fn topic_partitions<C: ConsumerContext>(
    opts: &KafkaOptions,
    consumer: &BaseConsumer<C>,
    last_error: impl Fn() -> Option<String>,
) -> Result<Vec<i32>, ConnectorError> {
    let md = consumer
        .fetch_metadata(Some(&opts.topic), METADATA_TIMEOUT)
        .map_err(|e| {
            // serve the queued error events (nothing is assigned yet, so no message comes)
            let queued = match consumer.poll(Duration::ZERO) {
                Some(Err(e)) => Some(e.to_string()),
                _ => None,
            };
            unreachable_error(opts, &e, last_error().or(queued))
        })?;
    let Some(t) = md.topics().iter().find(|t| t.name() == opts.topic) else {
        return Err(missing_topic(opts));
    };
    match t.error().map(RDKafkaErrorCode::from) {
        None => {}
        Some(
            RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::UnknownTopic
            | RDKafkaErrorCode::UnknownPartition,
        ) => return Err(missing_topic(opts)),
        Some(e) => {
            return Err(ConnectorError::BadOption {
                table: opts.table.clone(),
                message: format!("cannot use topic '{}' on {}: {e}", opts.topic, opts.servers),
            })
        }
    }
    if t.partitions().is_empty() {
        return Err(missing_topic(opts));
    }
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    Ok(ids)
}

fn missing_topic(opts: &KafkaOptions) -> ConnectorError {
    ConnectorError::BadOption {
        table: opts.table.clone(),
        message: format!(
            "topic '{t}' does not exist on {s}; create it (e.g. kafka-topics.sh --create --topic {t} --bootstrap-server {s}) or fix 'topic'",
            t = opts.topic,
            s = opts.servers
        ),
    }
}

/// The error of a broker request that failed or timed out.
pub fn unreachable_error(
    opts: &KafkaOptions,
    e: &KafkaError,
    last: Option<String>,
) -> ConnectorError {
    ConnectorError::BadOption {
        table: opts.table.clone(),
        message: format!(
            "cannot reach the Kafka brokers at '{}' within {} s ({e}{}); check 'properties.bootstrap.servers' and that the brokers are running",
            opts.servers,
            METADATA_TIMEOUT.as_secs(),
            last.map(|l| format!("; last error: {l}")).unwrap_or_default()
        ),
    }
}

/// Checks that the topic exists (and the brokers answer), for `validate`.
pub fn check_topic(opts: &KafkaOptions) -> Result<Vec<i32>, ConnectorError> {
    let c = consumer(opts, &format!("strom-{}-validate", opts.table), &[])?;
    topic_partitions(opts, &c, || c.context().last_error())
}
