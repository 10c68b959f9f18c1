//! The `nexmark` connector: nexmark-flink's table source, generating the Nexmark benchmark's
//! events (see the [module docs](super)).
//!
//! ```sql
//! CREATE TABLE datagen (
//!     event_type INT,
//!     person  ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR,
//!                 city VARCHAR, state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
//!     auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT,
//!                 reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3),
//!                 seller BIGINT, category BIGINT, extra VARCHAR>,
//!     bid     ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
//!                 `dateTime` TIMESTAMP(3), extra VARCHAR>,
//!     `dateTime` AS CASE WHEN event_type = 0 THEN person.`dateTime`
//!                        WHEN event_type = 1 THEN auction.`dateTime`
//!                        ELSE bid.`dateTime` END,
//!     WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
//! ) WITH ('connector' = 'nexmark', 'events.num' = '1000000', 'first-event.rate' = '10000000');
//! ```
//!
//! The physical columns are nexmark-flink's: `event_type` (0 person, 1 auction, 2 bid) and one
//! ROW per kind, NULL for events of the other kinds. A table may declare any of them and, in a
//! ROW, any of its fields by name (any case), with the types above.
//!
//! Options: nexmark-flink's ([`OPTION_KEYS`]) with its defaults, plus two of Strom's that fix
//! what nexmark-flink takes from the clock, so that a table's events are reproducible:
//! `'base-time-millis'` (the event time of the first events, epoch milliseconds; default
//! 2024-01-01 00:00:00 UTC; nexmark-flink uses the time the job is planned) and `'seed'` (the
//! random streams' seed, an integer; default [`DEFAULT_SEED`]). The events depend on the
//! source's parallelism, as in nexmark-flink: each of its `p` readers runs one generator over
//! a `1/p` share of the event ids on its own timeline.
//!
//! A table is bounded when `'events.num'` is set (and `'keep-alive'` is not `'true'`). With
//! `'max-emit-speed' = 'false'` a reader emits each event at its wallclock time (the rate of
//! `'first-event.rate'`); by default it emits as fast as it can.
//!
//! **Checkpoints.** A reader's position is its generator's count and random state; it resumes
//! exactly where it was, at the same parallelism (the events of another parallelism are other
//! events, so a restore at another parallelism is refused with a clear error).

use super::reader::NexmarkReader;
use super::table::{bad, Spec};
use crate::check_projection;
use strom_plan::TableSpec;
use strom_runtime::{ConnectorError, ConnectorFactory, SinkWriter, SourceReader, SubtaskInfo};

/// The `nexmark` connector.
#[derive(Debug, Default)]
pub struct NexmarkConnector;

fn source_only(table: &TableSpec) -> ConnectorError {
    bad(
        table,
        "the nexmark connector is a source only; write to 'blackhole', 'print' or 'filesystem' \
         instead"
            .into(),
    )
}

impl ConnectorFactory for NexmarkConnector {
    fn name(&self) -> &'static str {
        "nexmark"
    }

    fn validate(&self, table: &TableSpec, as_source: bool) -> Result<(), ConnectorError> {
        if !as_source {
            return Err(source_only(table));
        }
        Spec::parse(table).map(|_| ())
    }

    fn is_bounded(&self, table: &TableSpec) -> bool {
        Spec::parse(table).map(|s| s.is_bounded()).unwrap_or(true)
    }

    fn create_reader(
        &self,
        table: &TableSpec,
        projection: &[usize],
        subtask: SubtaskInfo,
        batch_rows: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        let spec = Spec::parse(table)?;
        check_projection(table, projection)?;
        Ok(Box::new(NexmarkReader::new(
            table, &spec, projection, subtask, batch_rows, None,
        )?))
    }

    fn restore_reader(
        &self,
        table: &TableSpec,
        projection: &[usize],
        subtask: SubtaskInfo,
        batch_rows: usize,
        positions: &[Vec<u8>],
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        let spec = Spec::parse(table)?;
        check_projection(table, projection)?;
        Ok(Box::new(NexmarkReader::new(
            table,
            &spec,
            projection,
            subtask,
            batch_rows,
            Some(positions),
        )?))
    }

    fn create_writer(
        &self,
        table: &TableSpec,
        _subtask: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        Err(source_only(table))
    }
}
