//! The options of a `'connector' = 'kafka'` table (Flink's names), parsed and checked.

use crate::bool_option;
use std::collections::BTreeMap;
use std::time::Duration;
use strom_plan::{SqlType, TableSpec};
use strom_runtime::ConnectorError;

/// Every option the connector accepts, besides `properties.*`.
pub const KNOWN_OPTIONS: &[&str] = &[
    "connector",
    "topic",
    "format",
    "value.format",
    "json.ignore-parse-errors",
    "csv.ignore-parse-errors",
    "csv.field-delimiter",
    "scan.startup.mode",
    "scan.startup.timestamp-millis",
    "scan.bounded.mode",
    "scan.watermark.idle-timeout",
    "sink.parallelism",
    "sink.delivery-guarantee",
    "sink.transactional-id-prefix",
];

/// Options only `'connector' = 'upsert-kafka'` accepts.
pub const UPSERT_OPTIONS: &[&str] = &["key.format", "value.fields-include"];

/// Supported values of `'format'`.
pub const FORMATS: &str = "'json', 'csv', 'raw', 'debezium-json' (sink only)";

/// The message format (the value of a message; keys are not read or written yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaFormat {
    /// One JSON object per message; field names are the column names.
    Json,
    /// One CSV line per message.
    Csv,
    /// The whole value is the single STRING column.
    Raw,
    /// A changelog as Debezium envelopes (sink only): `{"before":..,"after":..,"op":"c"|"d"}`;
    /// +I/+U are creates of the new row, -U/-D deletes of the old row (Flink's encoding).
    DebeziumJson,
}

/// `'connector' = 'upsert-kafka'`: the message key is the primary key (a JSON object of its
/// columns); +I/+U write the row as the value, -D writes a tombstone (no value), -U nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upsert {
    /// Table columns of the primary key.
    pub key: Vec<usize>,
    /// `'value.fields-include' = 'EXCEPT_KEY'`: the value leaves the key columns out.
    pub except_key: bool,
}

/// `'scan.startup.mode'`: where a source starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupMode {
    /// The first offset of each partition.
    Earliest,
    /// The end of each partition when the reader starts (only newer messages are read).
    Latest,
    /// The committed offsets of the consumer group; partitions without one start at the earliest
    /// offset (or as `'properties.auto.offset.reset'` says).
    GroupOffsets,
    /// The first message with a timestamp at or after these epoch milliseconds.
    Timestamp(i64),
}

/// `'scan.bounded.mode'`: where a source ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundedMode {
    /// Never (a streaming source).
    Unbounded,
    /// At the end offsets (high watermarks) taken when the reader starts.
    LatestOffset,
}

/// `'sink.delivery-guarantee'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryGuarantee {
    /// Every row is acknowledged by the broker before the sink finishes; a failed delivery
    /// fails the sink.
    AtLeastOnce,
    /// Fire and forget: failed deliveries are logged, not failures.
    None,
    /// With checkpoints: rows become visible (to `read_committed` consumers) when the checkpoint
    /// that covers them completes, in one Kafka transaction per subtask and checkpoint, with the
    /// transactional ids `<sink.transactional-id-prefix>-<subtask>` (see `transactional`).
    ExactlyOnce { prefix: String },
}

/// The parsed options of a Kafka table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaOptions {
    pub table: String,
    pub topic: String,
    /// `'properties.bootstrap.servers'`.
    pub servers: String,
    /// `'properties.group.id'`, if given.
    pub group_id: Option<String>,
    /// Every `'properties.*'` option without the prefix (bootstrap.servers and group.id too),
    /// passed to librdkafka as is.
    pub properties: BTreeMap<String, String>,
    pub format: KafkaFormat,
    pub delimiter: u8,
    pub json_ignore_parse_errors: bool,
    pub csv_ignore_parse_errors: bool,
    pub startup: StartupMode,
    pub bounded: BoundedMode,
    /// `'scan.watermark.idle-timeout'`: a partition without messages for this long is idle.
    pub idle_timeout: Option<Duration>,
    pub delivery: DeliveryGuarantee,
    /// Set for `'connector' = 'upsert-kafka'`.
    pub upsert: Option<Upsert>,
}

impl KafkaOptions {
    /// Parses and checks the options of `table` (no broker is contacted).
    pub fn parse(table: &TableSpec) -> Result<Self, ConnectorError> {
        let bad = |message: String| bad(table, message);
        let is_upsert = table.connector() == "upsert-kafka";
        check_keys(table, is_upsert)?;
        let topic = topic(table)?;
        let Properties {
            all: properties,
            servers,
            group_id,
        } = properties(table)?;
        let format = value_format(table)?;
        let delimiter = match table.option("csv.field-delimiter") {
            None => b',',
            Some(d) => {
                let d = if d == "\\t" { "\t" } else { d };
                match d.as_bytes() {
                    [c] if c.is_ascii() && !matches!(c, b'"' | b'\n' | b'\r') => *c,
                    _ => {
                        return Err(bad(format!(
                            "'csv.field-delimiter' = '{d}' must be a single ASCII character other than a quote or a line break (use '\\t' for tab)"
                        )))
                    }
                }
            }
        };
        let (startup, bounded, idle_timeout) = scan_options(table)?;
        if let Some(p) = table.option("sink.parallelism") {
            if !p.trim().parse::<u32>().is_ok_and(|n| n > 0) {
                return Err(bad(format!(
                    "'sink.parallelism' = '{p}' must be a positive integer"
                )));
            }
        }
        let delivery = delivery(table)?;
        let upsert = if is_upsert {
            Some(upsert_options(table, format).map_err(bad)?)
        } else {
            None
        };
        Ok(Self {
            upsert,
            table: table.name.clone(),
            topic,
            servers,
            group_id,
            properties,
            format,
            delimiter,
            json_ignore_parse_errors: bool_option(table, "json.ignore-parse-errors", false)?,
            csv_ignore_parse_errors: bool_option(table, "csv.ignore-parse-errors", false)?,
            startup,
            bounded,
            idle_timeout,
            delivery,
        })
    }

    /// Whether undecodable messages are skipped (the ignore option of the format).
    pub fn ignore_parse_errors(&self) -> bool {
        match self.format {
            KafkaFormat::Json => self.json_ignore_parse_errors,
            KafkaFormat::Csv => self.csv_ignore_parse_errors,
            KafkaFormat::Raw | KafkaFormat::DebeziumJson => false,
        }
    }

    /// The option that makes a source skip undecodable messages (for error messages).
    pub fn ignore_option(&self) -> Option<&'static str> {
        match self.format {
            KafkaFormat::Json => Some("json.ignore-parse-errors"),
            KafkaFormat::Csv => Some("csv.ignore-parse-errors"),
            KafkaFormat::Raw | KafkaFormat::DebeziumJson => None,
        }
    }

    /// The consumer group: `'properties.group.id'` or `strom-<topic>`.
    pub fn group(&self) -> String {
        self.group_id
            .clone()
            .unwrap_or_else(|| format!("strom-{}", self.topic))
    }
}

/// An option of `table` that is wrong.
fn bad(table: &TableSpec, message: String) -> ConnectorError {
    ConnectorError::BadOption {
        table: table.name.clone(),
        message,
    }
}

/// Every option is a known one (or `properties.*`).
fn check_keys(table: &TableSpec, is_upsert: bool) -> Result<(), ConnectorError> {
    let bad = |message: String| bad(table, message);
    for k in table.options.keys() {
        if k.starts_with("properties.")
            || KNOWN_OPTIONS.contains(&k.as_str())
            || is_upsert && UPSERT_OPTIONS.contains(&k.as_str())
        {
            continue;
        }
        return Err(bad(format!(
            "unsupported option '{k}' for the kafka connector; supported options: {}, and 'properties.*' (passed to librdkafka)",
            KNOWN_OPTIONS
                .iter()
                .filter(|o| **o != "connector")
                .map(|o| format!("'{o}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// `'topic'`: exactly one.
fn topic(table: &TableSpec) -> Result<String, ConnectorError> {
    let bad = |message: String| bad(table, message);
    let topic = match table.option("topic").map(str::trim) {
        Some(t) if t.contains(';') => {
            return Err(bad(format!(
                "'topic' = '{t}': a list of topics is not supported; the kafka connector reads or writes exactly one topic"
            )))
        }
        Some(t) if !t.is_empty() => t.to_string(),
        _ => {
            return Err(bad(
                "the kafka connector needs 'topic' = '<topic name>'; add it to the WITH clause"
                    .into(),
            ))
        }
    };
    Ok(topic)
}

/// The `'properties.*'` options (without the prefix), with the bootstrap servers and the group
/// id among them.
struct Properties {
    all: BTreeMap<String, String>,
    servers: String,
    group_id: Option<String>,
}

/// The `'properties.*'` options; the bootstrap servers are required.
fn properties(table: &TableSpec) -> Result<Properties, ConnectorError> {
    let bad = |message: String| bad(table, message);
    let mut properties = BTreeMap::new();
    for (k, v) in &table.options {
        if let Some(p) = k.strip_prefix("properties.") {
            if p.is_empty() {
                return Err(bad(
                    "option 'properties.' names no librdkafka property".to_string()
                ));
            }
            properties.insert(p.to_string(), v.clone());
        }
    }
    let servers = match properties.get("bootstrap.servers").map(|s| s.trim()) {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => {
            return Err(bad(
                "the kafka connector needs 'properties.bootstrap.servers' = 'host:port[,host:port...]'; add it to the WITH clause".into(),
            ))
        }
    };
    let group_id = properties
        .get("group.id")
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty());
    Ok(Properties {
        all: properties,
        servers,
        group_id,
    })
}

/// `'format'` (or `'value.format'`), and the one STRING column `'raw'` needs.
fn value_format(table: &TableSpec) -> Result<KafkaFormat, ConnectorError> {
    let bad = |message: String| bad(table, message);
    let format = match (table.option("format"), table.option("value.format")) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "set either 'format' or 'value.format', not both".to_string()
            ))
        }
        (Some(f), None) | (None, Some(f)) => match f.trim().to_ascii_lowercase().as_str() {
            "json" => KafkaFormat::Json,
            "csv" => KafkaFormat::Csv,
            "raw" => KafkaFormat::Raw,
            "debezium-json" => KafkaFormat::DebeziumJson,
            other => {
                return Err(bad(format!(
                    "unsupported 'format' = '{other}' for the kafka connector; supported formats: {FORMATS}"
                )))
            }
        },
        (None, None) => {
            return Err(bad(format!(
                "the kafka connector needs a 'format'; supported formats: {FORMATS}"
            )))
        }
    };
    if format == KafkaFormat::Raw {
        let cols = &table.schema.columns;
        if cols.len() != 1 || cols[0].ty != SqlType::String {
            return Err(bad(format!(
                "'format' = 'raw' needs exactly one STRING column (the message value), but the table has {}",
                if cols.is_empty() {
                    "no columns".to_string()
                } else {
                    cols.iter()
                        .map(|c| format!("{} {}", c.name, c.ty))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        }
    }
    Ok(format)
}

/// Where reading starts and ends, and when a quiet partition is idle.
fn scan_options(
    table: &TableSpec,
) -> Result<(StartupMode, BoundedMode, Option<Duration>), ConnectorError> {
    let bad = |message: String| bad(table, message);
    let startup = match table
        .option("scan.startup.mode")
        .map(|m| m.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("group-offsets") => StartupMode::GroupOffsets,
        Some("earliest-offset") => StartupMode::Earliest,
        Some("latest-offset") => StartupMode::Latest,
        Some("timestamp") => match table.option("scan.startup.timestamp-millis") {
            Some(t) => match t.trim().parse::<i64>() {
                Ok(ms) if ms >= 0 => StartupMode::Timestamp(ms),
                _ => {
                    return Err(bad(format!(
                        "'scan.startup.timestamp-millis' = '{t}' must be epoch milliseconds (a non-negative integer)"
                    )))
                }
            },
            None => {
                return Err(bad(
                    "'scan.startup.mode' = 'timestamp' needs 'scan.startup.timestamp-millis' = '<epoch milliseconds>'".into(),
                ))
            }
        },
        Some(m) => {
            return Err(bad(format!(
                "unsupported 'scan.startup.mode' = '{m}'; supported: 'earliest-offset', 'latest-offset', 'group-offsets' (the default), 'timestamp'"
            )))
        }
    };
    if table.option("scan.startup.timestamp-millis").is_some()
        && !matches!(startup, StartupMode::Timestamp(_))
    {
        return Err(bad(
            "'scan.startup.timestamp-millis' is only used with 'scan.startup.mode' = 'timestamp'"
                .into(),
        ));
    }
    let bounded = match table
        .option("scan.bounded.mode")
        .map(|m| m.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("unbounded") => BoundedMode::Unbounded,
        Some("latest-offset") => BoundedMode::LatestOffset,
        Some(m) => {
            return Err(bad(format!(
                "unsupported 'scan.bounded.mode' = '{m}'; supported: 'unbounded' (the default), 'latest-offset'"
            )))
        }
    };
    let idle_timeout = match table.option("scan.watermark.idle-timeout") {
        None => None,
        Some(t) => match strom_common::config::parse_duration(t) {
            Some(d) if !d.is_zero() => Some(d),
            Some(_) => None,
            None => {
                return Err(bad(format!(
                    "'scan.watermark.idle-timeout' = '{t}' is not a duration; write e.g. '5 s' or '500 ms'"
                )))
            }
        },
    };
    Ok((startup, bounded, idle_timeout))
}

/// `'sink.delivery-guarantee'` (exactly-once with its transactional id prefix).
fn delivery(table: &TableSpec) -> Result<DeliveryGuarantee, ConnectorError> {
    let bad = |message: String| bad(table, message);
    let delivery = match table
        .option("sink.delivery-guarantee")
        .map(|m| m.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("at-least-once") => DeliveryGuarantee::AtLeastOnce,
        Some("none") => DeliveryGuarantee::None,
        Some("exactly-once") => match table.option("sink.transactional-id-prefix") {
            Some(p) if !p.trim().is_empty() => DeliveryGuarantee::ExactlyOnce {
                prefix: p.trim().to_string(),
            },
            _ => return Err(bad(
                "'sink.delivery-guarantee' = 'exactly-once' needs 'sink.transactional-id-prefix' (as in Flink): a prefix for the sink's Kafka transactional ids, unique to this job among all jobs writing to the cluster, e.g. 'sink.transactional-id-prefix' = 'orders-job'".into(),
            )),
        },
        Some(m) => {
            return Err(bad(format!(
                "unsupported 'sink.delivery-guarantee' = '{m}'; supported: 'at-least-once' (the default), 'exactly-once' (with checkpoints and 'sink.transactional-id-prefix'), 'none'"
            )))
        }
    };
    Ok(delivery)
}

/// The key options of an upsert-kafka table: a primary key, `'key.format' = 'json'`, a JSON
/// value format.
fn upsert_options(table: &TableSpec, value_format: KafkaFormat) -> Result<Upsert, String> {
    if table.primary_key.is_empty() {
        return Err(
            "'connector' = 'upsert-kafka' needs a primary key: add PRIMARY KEY (col, ...) NOT ENFORCED to the table"
                .into(),
        );
    }
    match table
        .option("key.format")
        .map(|f| f.trim().to_ascii_lowercase())
    {
        Some(f) if f == "json" => {}
        Some(f) => {
            return Err(format!(
                "unsupported 'key.format' = '{f}' for upsert-kafka; supported: 'json'"
            ))
        }
        None => return Err("upsert-kafka needs 'key.format' = 'json'".into()),
    }
    if value_format != KafkaFormat::Json {
        return Err("upsert-kafka needs 'value.format' = 'json'".into());
    }
    let except_key = match table
        .option("value.fields-include")
        .map(|v| v.trim().to_ascii_uppercase())
    {
        None => false,
        Some(v) if v == "ALL" => false,
        Some(v) if v == "EXCEPT_KEY" => true,
        Some(v) => {
            return Err(format!(
                "unsupported 'value.fields-include' = '{v}'; supported: 'ALL', 'EXCEPT_KEY'"
            ))
        }
    };
    let key = table
        .primary_key
        .iter()
        .map(|k| {
            table
                .schema
                .index_of(k)
                .ok_or_else(|| format!("primary key column '{k}' is not a column of the table"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Upsert { key, except_key })
}

/// Partition `p` of a topic is read by subtask `p % parallelism`: the partitions of subtask
/// `index`, in ascending order.
pub fn assigned_partitions(partitions: &[i32], index: u32, parallelism: u32) -> Vec<i32> {
    let parallelism = parallelism.max(1) as i64;
    let mut v: Vec<i32> = partitions
        .iter()
        .copied()
        .filter(|&p| (p as i64).rem_euclid(parallelism) == index as i64)
        .collect();
    v.sort_unstable();
    v
}
