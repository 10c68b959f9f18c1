//! Strom's connectors: `filesystem` (CSV and JSON files, source and sink), `kafka` (topics,
//! source and sink), `datagen` (generated rows, including the benchmark's bids), `nexmark`
//! (the Nexmark benchmark's events), `blackhole` and `print` (sinks).
//!
//! [`default_registry`] registers them all. Each connector is a
//! [`strom_runtime::ConnectorFactory`]; see the module docs for its options:
//!
//! | connector | role | options |
//! |---|---|---|
//! | `filesystem` ([`filesystem`]) | source, sink | `path`, `format` (`csv`/`json`), `csv.field-delimiter`, `csv.ignore-parse-errors`, `json.ignore-parse-errors` |
//! | `kafka` ([`kafka`]) | source, sink | `topic`, `properties.bootstrap.servers`, `properties.group.id`, `properties.*` (librdkafka), `format` (`json`/`csv`/`raw`), `json.ignore-parse-errors`, `csv.ignore-parse-errors`, `csv.field-delimiter`, `scan.startup.mode`, `scan.startup.timestamp-millis`, `scan.bounded.mode`, `scan.watermark.idle-timeout`, `sink.parallelism`, `sink.delivery-guarantee` |
//! | `datagen` ([`datagen`]) | source | `number-of-rows`, `rows-per-second`, `generator` (`bids`), `fields.<col>.{kind,min,max,length,start,end,max-past,null-rate}` |
//! | `nexmark` ([`nexmark`]) | source | nexmark-flink's (`events.num`, `first-event.rate`, `next-event.rate`, `max-emit-speed`, `person.proportion`, `auction.proportion`, `bid.proportion`, ... see [`nexmark::OPTION_KEYS`]), `base-time-millis`, `seed` |
//! | `jdbc` ([`jdbc`], PostgreSQL) | scan and lookup source, sink (upsert with a PRIMARY KEY) | `sink.buffer-flush.max-rows`, `sink.buffer-flush.interval`, `sink.max-retries`, `url`, `table-name`, `username`, `password`, `lookup.cache` (`NONE`/`PARTIAL`/`FULL`), `lookup.partial-cache.{max-rows,expire-after-write,expire-after-access,cache-missing-key}`, `lookup.full-cache.{reload-strategy,periodic-reload.interval,periodic-reload.schedule-mode,timed-reload.iso-time,timed-reload.interval-in-days}`, `lookup.cache.{max-rows,ttl,caching-missing-key}` (legacy), `lookup.max-retries` |
//! | `blackhole` ([`blackhole`]) | sink | none |
//! | `print` ([`print`]) | sink | `print-identifier`, `standard-error` |
//!
//! [`write_bids_csv`] writes the benchmark's bid file (identical to `shared/bench/gen_bids.rs`).

pub mod bids;
pub mod blackhole;
mod columns;
pub mod datagen;
pub mod filesystem;
pub mod format;
pub mod jdbc;
pub mod kafka;
pub mod nexmark;
pub mod print;
pub mod text;
pub mod values;

use std::sync::Arc;
use strom_plan::TableSpec;
use strom_runtime::{ConnectorError, ConnectorRegistry};

pub use bids::write_bids_csv;
pub use blackhole::{BlackholeConnector, BlackholeWriter};
pub use datagen::DatagenConnector;
pub use filesystem::FileSystemConnector;
pub use kafka::{KafkaConnector, UpsertKafkaConnector};
pub use nexmark::NexmarkConnector;
pub use print::PrintConnector;

/// A registry with every connector of this crate: `blackhole`, `datagen`, `filesystem`,
/// `kafka`, `nexmark`, `print`, `upsert-kafka`, `values`.
pub fn default_registry() -> ConnectorRegistry {
    let mut r = ConnectorRegistry::new();
    r.register(Arc::new(FileSystemConnector));
    r.register(Arc::new(KafkaConnector));
    r.register(Arc::new(UpsertKafkaConnector));
    r.register(Arc::new(DatagenConnector));
    r.register(Arc::new(NexmarkConnector));
    r.register(Arc::new(BlackholeConnector));
    r.register(Arc::new(PrintConnector));
    r.register(Arc::new(jdbc::JdbcConnector));
    r.register(Arc::new(values::ValuesConnector));
    r
}

/// A boolean option (`'true'`/`'false'`, any case), or `default` when absent.
pub(crate) fn bool_option(
    table: &TableSpec,
    key: &str,
    default: bool,
) -> Result<bool, ConnectorError> {
    match table.option(key) {
        None => Ok(default),
        Some(v) if v.trim().eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.trim().eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ConnectorError::BadOption {
            table: table.name.clone(),
            message: format!("option '{key}' = '{v}' must be 'true' or 'false'"),
        }),
    }
}

/// The answer of a sink-only connector asked for a reader: `why` it cannot be read.
pub(crate) fn unreadable(
    table: &TableSpec,
    why: &str,
) -> Result<Box<dyn strom_runtime::SourceReader>, ConnectorError> {
    Err(ConnectorError::BadOption {
        table: table.name.clone(),
        message: why.to_string(),
    })
}

/// Checks that a projection indexes the table's columns.
pub(crate) fn check_projection(
    table: &TableSpec,
    projection: &[usize],
) -> Result<(), ConnectorError> {
    if let Some(i) = projection
        .iter()
        .find(|&&i| i >= table.schema.columns.len())
    {
        return Err(ConnectorError::Other(format!(
            "projection index {i} is out of range for table '{}' with {} columns",
            table.name,
            table.schema.columns.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn registry_has_all_connectors() {
        assert_eq!(
            super::default_registry().names(),
            vec![
                "blackhole",
                "datagen",
                "filesystem",
                "jdbc",
                "kafka",
                "nexmark",
                "print",
                "upsert-kafka",
                "values"
            ]
        );
    }
}
