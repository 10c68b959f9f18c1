//! A `nexmark` table as declared: its options (nexmark-flink's and Strom's) and the physical
//! columns it reads (`event_type` and the fields of the `person`, `auction`, `bid` ROWs).

use super::config::{GeneratorConfig, NexmarkConfig, DEFAULT_SEED};
use std::collections::BTreeMap;
use strom_plan::{SqlType, TableSpec};
use strom_runtime::{ConnectorError, SubtaskInfo};

/// Strom's own options (see the [connector's docs](super::NexmarkConnector)).
const STROM_KEYS: [&str; 2] = ["base-time-millis", "seed"];
/// The event time of the first events unless `'base-time-millis'` says otherwise:
/// 2024-01-01 00:00:00 UTC.
pub const DEFAULT_BASE_TIME: i64 = 1_704_067_200_000;

pub(super) fn bad(table: &TableSpec, message: String) -> ConnectorError {
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

/// A field of one of the event ROWs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RowField {
    PersonId,
    PersonName,
    PersonEmail,
    PersonCreditCard,
    PersonCity,
    PersonState,
    PersonDateTime,
    PersonExtra,
    AuctionId,
    AuctionItemName,
    AuctionDescription,
    AuctionInitialBid,
    AuctionReserve,
    AuctionDateTime,
    AuctionExpires,
    AuctionSeller,
    AuctionCategory,
    AuctionExtra,
    BidAuction,
    BidBidder,
    BidPrice,
    BidChannel,
    BidUrl,
    BidDateTime,
    BidExtra,
}

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Long,
    Text,
    Millis,
}

impl RowField {
    pub(super) fn kind(self) -> Kind {
        use RowField::*;
        match self {
            PersonId | AuctionId | AuctionInitialBid | AuctionReserve | AuctionSeller
            | AuctionCategory | BidAuction | BidBidder | BidPrice => Kind::Long,
            PersonDateTime | AuctionDateTime | AuctionExpires | BidDateTime => Kind::Millis,
            _ => Kind::Text,
        }
    }

    /// The field's SQL type.
    pub fn sql_type(self) -> SqlType {
        match self.kind() {
            Kind::Long => SqlType::BigInt,
            Kind::Text => SqlType::String,
            Kind::Millis => SqlType::Timestamp(3),
        }
    }
}

/// A physical column of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum EventColumn {
    EventType,
    Person(Vec<RowField>),
    Auction(Vec<RowField>),
    Bid(Vec<RowField>),
}
