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

use super::config::{GeneratorConfig, NexmarkConfig, DEFAULT_SEED};
use super::reader::{EventColumn, NexmarkReader, RowField};
use crate::check_projection;
use std::collections::BTreeMap;
use strom_plan::{SqlType, TableSpec};
use strom_runtime::{ConnectorError, ConnectorFactory, SinkWriter, SourceReader, SubtaskInfo};

/// Strom's own options (see the [module docs](self)).
const STROM_KEYS: [&str; 2] = ["base-time-millis", "seed"];
/// The event time of the first events unless `'base-time-millis'` says otherwise:
/// 2024-01-01 00:00:00 UTC.
pub const DEFAULT_BASE_TIME: i64 = 1_704_067_200_000;

/// The `nexmark` connector.
#[derive(Debug, Default)]
pub struct NexmarkConnector;

fn bad(table: &TableSpec, message: String) -> ConnectorError {
    ConnectorError::BadOption {
        table: table.name.clone(),
        message,
    }
}

/// A parsed `nexmark` table: its generator options and the columns it declares.
#[derive(Debug, Clone)]
pub(super) struct Spec {
    pub conf: NexmarkConfig,
    pub base_time: i64,
    pub seed: i64,
    pub columns: Vec<EventColumn>,
}

impl Spec {
    pub fn parse(table: &TableSpec) -> Result<Spec, ConnectorError> {
        let mut options: BTreeMap<String, String> = table.options.clone();
        let mut int_option = |key: &str, default: i64| -> Result<i64, ConnectorError> {
            match options.remove(key) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| bad(table, format!("option '{key}' = '{v}' is not an integer"))),
            }
        };
        let base_time = int_option(STROM_KEYS[0], DEFAULT_BASE_TIME)?;
        let seed = int_option(STROM_KEYS[1], DEFAULT_SEED)?;
        let conf = NexmarkConfig::from_table_options(&options).map_err(|e| {
            let e = if e.starts_with("unsupported option") {
                format!("{e}, and Strom's '{}'", STROM_KEYS.join("', '"))
            } else {
                e
            };
            bad(table, e)
        })?;
        let columns = table
            .schema
            .columns
            .iter()
            .map(|c| column(table, &c.name, &c.ty))
            .collect::<Result<_, _>>()?;
        Ok(Spec {
            conf,
            base_time,
            seed,
            columns,
        })
    }

    pub fn is_bounded(&self) -> bool {
        self.conf.num_events > 0 && !self.conf.keep_alive
    }

    /// The generator configuration of `subtask`.
    pub fn reader_config(&self, subtask: SubtaskInfo) -> GeneratorConfig {
        let p = subtask.parallelism.max(1);
        let table =
            GeneratorConfig::for_table(self.conf, p as i32, self.base_time).with_seed(self.seed);
        table
            .reader_configs(p as usize)
            .swap_remove(subtask.index.min(p - 1) as usize)
    }
}

const PERSON: [(&str, RowField); 8] = [
    ("id", RowField::PersonId),
    ("name", RowField::PersonName),
    ("emailAddress", RowField::PersonEmail),
    ("creditCard", RowField::PersonCreditCard),
    ("city", RowField::PersonCity),
    ("state", RowField::PersonState),
    ("dateTime", RowField::PersonDateTime),
    ("extra", RowField::PersonExtra),
];
const AUCTION: [(&str, RowField); 10] = [
    ("id", RowField::AuctionId),
    ("itemName", RowField::AuctionItemName),
    ("description", RowField::AuctionDescription),
    ("initialBid", RowField::AuctionInitialBid),
    ("reserve", RowField::AuctionReserve),
    ("dateTime", RowField::AuctionDateTime),
    ("expires", RowField::AuctionExpires),
    ("seller", RowField::AuctionSeller),
    ("category", RowField::AuctionCategory),
    ("extra", RowField::AuctionExtra),
];
const BID: [(&str, RowField); 7] = [
    ("auction", RowField::BidAuction),
    ("bidder", RowField::BidBidder),
    ("price", RowField::BidPrice),
    ("channel", RowField::BidChannel),
    ("url", RowField::BidUrl),
    ("dateTime", RowField::BidDateTime),
    ("extra", RowField::BidExtra),
];

fn describe(fields: &[(&str, RowField)]) -> String {
    let list: Vec<String> = fields
        .iter()
        .map(|(n, f)| format!("`{n}` {}", f.sql_type()))
        .collect();
    format!("ROW<{}>", list.join(", "))
}

/// One declared physical column.
fn column(table: &TableSpec, name: &str, ty: &SqlType) -> Result<EventColumn, ConnectorError> {
    let kinds: [(&str, &[(&str, RowField)]); 3] =
        [("person", &PERSON), ("auction", &AUCTION), ("bid", &BID)];
    if name.eq_ignore_ascii_case("event_type") {
        return match ty {
            SqlType::Int => Ok(EventColumn::EventType),
            _ => Err(bad(
                table,
                format!("column 'event_type' has type {ty}; the nexmark source produces INT"),
            )),
        };
    }
    let Some((kind, known)) = kinds.iter().find(|(k, _)| name.eq_ignore_ascii_case(k)) else {
        return Err(bad(
            table,
            format!(
                "column '{name}' is not a column of the nexmark source; its columns are \
                 event_type INT, person, auction and bid (ROWs)"
            ),
        ));
    };
    let SqlType::Row(declared) = ty else {
        return Err(bad(
            table,
            format!(
                "column '{name}' has type {ty}; the nexmark source produces {}",
                describe(known)
            ),
        ));
    };
    let mut fields = Vec::with_capacity(declared.len());
    for f in declared {
        let Some((_, field)) = known.iter().find(|(n, _)| f.name.eq_ignore_ascii_case(n)) else {
            return Err(bad(
                table,
                format!(
                    "field '{}' of column '{name}' is not a {kind} field; the nexmark source \
                     produces {}",
                    f.name,
                    describe(known)
                ),
            ));
        };
        if f.ty != field.sql_type() {
            return Err(bad(
                table,
                format!(
                    "field '{name}.{}' has type {} but the nexmark source produces {}",
                    f.name,
                    f.ty,
                    field.sql_type()
                ),
            ));
        }
        fields.push(*field);
    }
    Ok(match *kind {
        "person" => EventColumn::Person(fields),
        "auction" => EventColumn::Auction(fields),
        _ => EventColumn::Bid(fields),
    })
}

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
