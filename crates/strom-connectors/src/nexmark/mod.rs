//! The Nexmark benchmark's event generator, ported from nexmark-flink (the Flink `nexmark`
//! table source) to produce the same events for the same configuration and seeds.
//!
//! * [`NexmarkConnector`]: the `nexmark` table source (its options, columns and checkpoints).
//! * [`config`]: [`NexmarkConfig`], parsed from a `nexmark` table's options with Flink's names
//!   and defaults ([`NexmarkConfig::from_table_options`]), and [`GeneratorConfig`], one
//!   generator's configuration, built as nexmark-flink's table factory does
//!   ([`GeneratorConfig::for_table`]) and split over a source's parallelism
//!   ([`GeneratorConfig::split`], [`GeneratorConfig::reader_configs`]).
//! * [`generator`]: [`NexmarkGenerator`], an iterator of [`NextEvent`]s (an [`Event`]: a
//!   [`Person`], [`Auction`] or [`Bid`], with its event time, watermark and wallclock emit
//!   time), or of borrowed [`NextEventRef`]s without allocation.
//!
//! Use: parse the options, build the table's configuration with the source's parallelism and a
//! base time (the event time of event number 0, e.g. now), take reader `i`'s configuration and
//! iterate a generator over it:
//!
//! ```
//! use std::collections::BTreeMap;
//! use strom_connectors::nexmark::{GeneratorConfig, NexmarkConfig, NexmarkGenerator};
//!
//! let options = BTreeMap::from([("events.num".to_string(), "1000".to_string())]);
//! let conf = NexmarkConfig::from_table_options(&options)?;
//! let (parallelism, reader, now_millis) = (4, 1, 1_700_000_000_000);
//! let table = GeneratorConfig::for_table(conf, parallelism as i32, now_millis);
//! let config = table.reader_configs(parallelism).swap_remove(reader);
//! let events: Vec<_> = NexmarkGenerator::new(config).collect();
//! assert_eq!(events.len(), 250);
//! # Ok::<(), String>(())
//! ```
//!
//! Like nexmark-flink's source, a reader emits events as fast as it can unless
//! `max-emit-speed = false`, when it sleeps until each event's wallclock timestamp; it ends after
//! its last event unless `keep-alive = true`.
//!
//! nexmark-flink seeds its random generators from the clock; here they are seeded explicitly
//! ([`GeneratorConfig::with_seed`], default [`DEFAULT_SEED`]), see [`generator`].

pub mod config;
mod connector;
pub mod generator;
mod java_random;
mod reader;
mod table;

pub use config::{GeneratorConfig, NexmarkConfig, RateShape, DEFAULT_SEED, OPTION_KEYS};
pub use connector::NexmarkConnector;
pub use generator::{
    Auction, AuctionRef, Bid, BidRef, Event, EventRef, NexmarkGenerator, NextEvent, NextEventRef,
    Person, PersonRef,
};
pub use table::DEFAULT_BASE_TIME;
