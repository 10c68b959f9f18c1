//! The Nexmark source's configuration: [`NexmarkConfig`] (nexmark-flink's
//! `NexmarkConfiguration`, parsed from a table's options the way `NexmarkSourceOptions` and
//! `NexmarkTableSourceFactory` do) and [`GeneratorConfig`] (nexmark-flink's `GeneratorConfig`:
//! derived rates, the event-id space and its [`split`](GeneratorConfig::split) over a source's
//! parallelism).
//!
//! Table options (Flink's names and defaults):
//!
//! | option | type | default | effect |
//! |---|---|---|---|
//! | `first-event.rate` | int | 10000 | events per second over all generators; sets every event's `dateTime` |
//! | `next-event.rate` | int | 10000 | accepted, unused (as in nexmark-flink) |
//! | `rate.shape` | `SQUARE`/`SINE` | `SQUARE` | only feeds the unused step length (as in nexmark-flink) |
//! | `rate.period` | duration | 600 s | only feeds the unused step length (as in nexmark-flink) |
//! | `rate.limited` | bool | false | accepted, unused (as in nexmark-flink; see `max-emit-speed`) |
//! | `person.avg-size` | memory size | 200b | average person size, padded with `extra` |
//! | `auction.avg-size` | memory size | 500b | average auction size, padded with `extra` |
//! | `bid.avg-size` | memory size | 100b | average bid size, padded with `extra` |
//! | `person.proportion` | int | 1 | persons per `person+auction+bid` events |
//! | `auction.proportion` | int | 3 | auctions per `person+auction+bid` events |
//! | `bid.proportion` | int | 46 | bids per `person+auction+bid` events |
//! | `bid.hot-ratio.auctions` | int | 2 | a bid is for a hot auction with probability 1 - 1/ratio |
//! | `bid.hot-ratio.bidders` | int | 4 | a bid is by a hot bidder with probability 1 - 1/ratio |
//! | `auction.hot-ratio.sellers` | int | 4 | an auction is by a hot seller with probability 1 - 1/ratio |
//! | `events.num` | long | 0 | events over all generators; 0 = unbounded |
//! | `keep-alive` | bool | false | the source stays running (idle) once its events are emitted |
//! | `stop-at` | long | -1 | stop after this many events over all generators; negative = never |
//! | `max-emit-speed` | bool | true | emit as fast as possible; `false` paces events by their wallclock time |
//!
//! Values are parsed as Flink parses them: ints and longs trimmed (`Integer.parseInt`), booleans
//! `true`/`false` in any case, `rate.shape` in any case, durations as `<number>[ ]<unit>` with
//! Flink's `TimeUtils` labels (no unit = milliseconds), memory sizes as `<number>[ ]<unit>` with
//! `b`/`bytes`, `k`/`kb`/`kibibytes`, `m`/`mb`/`mebibytes`, `g`/`gb`/`gibibytes`,
//! `t`/`tb`/`tebibytes` (no unit = bytes). Unlike Flink, values that would make the Java
//! generator throw or misbehave at run time (a non-positive rate or hot ratio, negative
//! proportions, ...) are rejected up front.

use std::collections::BTreeMap;

/// Seed of each generator's random stream unless [`GeneratorConfig::with_seed`] sets another.
///
/// nexmark-flink seeds every generator from the clock (`new SplittableRandom()`), so its events
/// differ from run to run; Strom's are a function of the configuration and this seed.
pub const DEFAULT_SEED: i64 = 0x4E45_584D_4152_4B31;

/// `NexmarkUtils.RateShape`: the shape of the event rate curve (`rate.shape`). As in
/// nexmark-flink, it only determines [`GeneratorConfig::step_length_sec`], which nothing uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateShape {
    /// `SQUARE` (the default).
    #[default]
    Square,
    /// `SINE`.
    Sine,
}

impl RateShape {
    /// `RateShape.stepLengthSec`: the seconds between rate steps so as to cycle through the
    /// shape's steps (2 for square, 10 for sine) every `rate_period_sec`.
    pub fn step_length_sec(self, rate_period_sec: i32) -> i32 {
        let n = match self {
            RateShape::Square => 2,
            RateShape::Sine => 10,
        };
        rate_period_sec.wrapping_add(n - 1) / n
    }
}

/// nexmark-flink's `NexmarkConfiguration`, as its table source fills it.
///
/// The first block of fields are the table options (see the [module docs](self)); the rest are
/// `NexmarkConfiguration` fields the generator reads but the table source never sets (they keep
/// their Java defaults; `num_event_generators` is the source's parallelism). The remaining
/// `NexmarkConfiguration` fields (`rateUnit`, `preloadSeconds`, `streamTimeout`,
/// `useWallclockEventTime`, window sizes, `watermarkHoldbackSec`, `occasionalDelaySec`,
/// `probDelayedEvent`) are read by nothing in the source or generator and are left out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NexmarkConfig {
    /// `rate.shape`.
    pub rate_shape: RateShape,
    /// `rate.period`, in whole seconds.
    pub rate_period_sec: i32,
    /// `rate.limited`.
    pub rate_limited: bool,
    /// `first-event.rate`: events per second over all generators.
    pub first_event_rate: i32,
    /// `next-event.rate`.
    pub next_event_rate: i32,
    /// `person.avg-size`, in bytes.
    pub avg_person_byte_size: i32,
    /// `auction.avg-size`, in bytes.
    pub avg_auction_byte_size: i32,
    /// `bid.avg-size`, in bytes.
    pub avg_bid_byte_size: i32,
    /// `person.proportion`.
    pub person_proportion: i32,
    /// `auction.proportion`.
    pub auction_proportion: i32,
    /// `bid.proportion`.
    pub bid_proportion: i32,
    /// `bid.hot-ratio.auctions`.
    pub hot_auction_ratio: i32,
    /// `bid.hot-ratio.bidders`.
    pub hot_bidders_ratio: i32,
    /// `auction.hot-ratio.sellers`.
    pub hot_sellers_ratio: i32,
    /// `events.num`: 0 = unbounded.
    pub num_events: i64,
    /// `keep-alive`.
    pub keep_alive: bool,
    /// `stop-at`: negative = never.
    pub stop_at_event: i64,
    /// `max-emit-speed`.
    pub max_emit_speed: bool,
    /// Number of generators (each its own timeline); nexmark-flink's table source sets it to the
    /// job's default parallelism. Default 1.
    pub num_event_generators: i32,
    /// Average number of auctions in flight at any time, per generator. Default 100.
    pub num_in_flight_auctions: i32,
    /// Maximum number of people considered active for placing auctions or bids. Default 1000.
    pub num_active_people: i32,
    /// Events per out-of-order group (1 = in order). Default 1.
    pub out_of_order_group_size: i64,
}

impl Default for NexmarkConfig {
    fn default() -> Self {
        Self {
            rate_shape: RateShape::Square,
            rate_period_sec: 600,
            rate_limited: false,
            first_event_rate: 10_000,
            next_event_rate: 10_000,
            avg_person_byte_size: 200,
            avg_auction_byte_size: 500,
            avg_bid_byte_size: 100,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            hot_auction_ratio: 2,
            hot_bidders_ratio: 4,
            hot_sellers_ratio: 4,
            num_events: 0,
            keep_alive: false,
            stop_at_event: -1,
            max_emit_speed: true,
            num_event_generators: 1,
            num_in_flight_auctions: 100,
            num_active_people: 1000,
            out_of_order_group_size: 1,
        }
    }
}

/// The table options nexmark-flink's source accepts (besides `connector`), sorted.
pub const OPTION_KEYS: [&str; 18] = [
    "auction.avg-size",
    "auction.hot-ratio.sellers",
    "auction.proportion",
    "bid.avg-size",
    "bid.hot-ratio.auctions",
    "bid.hot-ratio.bidders",
    "bid.proportion",
    "events.num",
    "first-event.rate",
    "keep-alive",
    "max-emit-speed",
    "next-event.rate",
    "person.avg-size",
    "person.proportion",
    "rate.limited",
    "rate.period",
    "rate.shape",
    "stop-at",
];

impl NexmarkConfig {
    /// Parses a `nexmark` table's options (`NexmarkSourceOptions.convertToNexmarkConfiguration`
    /// after Flink's option validation): absent options take their defaults, `connector` is
    /// ignored, any other key is an error naming it and listing the valid ones.
    pub fn from_table_options(options: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut c = Self::default();
        for (key, value) in options {
            let v = value.as_str();
            match key.as_str() {
                "connector" => {}
                "rate.shape" => c.rate_shape = parse_rate_shape(key, v)?,
                "rate.period" => c.rate_period_sec = parse_duration_secs(key, v)?,
                "rate.limited" => c.rate_limited = parse_bool(key, v)?,
                "first-event.rate" => c.first_event_rate = parse_int(key, v)?,
                "next-event.rate" => c.next_event_rate = parse_int(key, v)?,
                "person.avg-size" => c.avg_person_byte_size = parse_memory_bytes(key, v)?,
                "auction.avg-size" => c.avg_auction_byte_size = parse_memory_bytes(key, v)?,
                "bid.avg-size" => c.avg_bid_byte_size = parse_memory_bytes(key, v)?,
                "person.proportion" => c.person_proportion = parse_int(key, v)?,
                "auction.proportion" => c.auction_proportion = parse_int(key, v)?,
                "bid.proportion" => c.bid_proportion = parse_int(key, v)?,
                "bid.hot-ratio.auctions" => c.hot_auction_ratio = parse_int(key, v)?,
                "bid.hot-ratio.bidders" => c.hot_bidders_ratio = parse_int(key, v)?,
                "auction.hot-ratio.sellers" => c.hot_sellers_ratio = parse_int(key, v)?,
                "events.num" => c.num_events = parse_long(key, v)?,
                "keep-alive" => c.keep_alive = parse_bool(key, v)?,
                "stop-at" => c.stop_at_event = parse_long(key, v)?,
                "max-emit-speed" => c.max_emit_speed = parse_bool(key, v)?,
                _ => {
                    return Err(format!(
                        "unsupported option '{key}' for connector 'nexmark'; supported options: \
                         'connector', '{}'",
                        OPTION_KEYS.join("', '")
                    ))
                }
            }
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks the values the Java generator would throw on or misbehave with at run time.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("first-event.rate", self.first_event_rate),
            ("bid.hot-ratio.auctions", self.hot_auction_ratio),
            ("bid.hot-ratio.bidders", self.hot_bidders_ratio),
            ("auction.hot-ratio.sellers", self.hot_sellers_ratio),
            ("num_event_generators", self.num_event_generators),
            ("num_in_flight_auctions", self.num_in_flight_auctions),
            ("num_active_people", self.num_active_people),
        ];
        if let Some((key, v)) = positive.iter().find(|(_, v)| *v <= 0) {
            return Err(format!("option '{key}' = {v} must be positive"));
        }
        let proportions = [
            ("person.proportion", self.person_proportion),
            ("auction.proportion", self.auction_proportion),
            ("bid.proportion", self.bid_proportion),
        ];
        if let Some((key, v)) = proportions.iter().find(|(_, v)| *v < 0) {
            return Err(format!("option '{key}' = {v} must not be negative"));
        }
        let total: i64 = proportions.iter().map(|(_, v)| i64::from(*v)).sum();
        if total == 0 || total > i64::from(i32::MAX) {
            return Err(format!(
                "options 'person.proportion' + 'auction.proportion' + 'bid.proportion' = {total} \
                 must be between 1 and {}",
                i32::MAX
            ));
        }
        if self.num_events < 0 {
            return Err(format!(
                "option 'events.num' = {} must not be negative (0 = unbounded)",
                self.num_events
            ));
        }
        if self.out_of_order_group_size <= 0 {
            return Err(format!(
                "out_of_order_group_size = {} must be positive",
                self.out_of_order_group_size
            ));
        }
        Ok(())
    }
}

fn bad(key: &str, value: &str, why: &str) -> String {
    format!("option '{key}' = '{value}' {why}")
}

/// Flink's `Integer.parseInt(value.trim())`.
fn parse_int(key: &str, value: &str) -> Result<i32, String> {
    value
        .trim()
        .parse()
        .map_err(|_| bad(key, value, "is not an int"))
}

/// Flink's `Long.parseLong(value.trim())`.
fn parse_long(key: &str, value: &str) -> Result<i64, String> {
    value
        .trim()
        .parse()
        .map_err(|_| bad(key, value, "is not a long"))
}

/// Flink's boolean conversion: `true` or `false`, any case.
fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(bad(key, value, "must be 'true' or 'false'"))
    }
}

/// Flink's enum conversion of `RateShape`: the constant's name, any case.
fn parse_rate_shape(key: &str, value: &str) -> Result<RateShape, String> {
    if value.eq_ignore_ascii_case("SQUARE") {
        Ok(RateShape::Square)
    } else if value.eq_ignore_ascii_case("SINE") {
        Ok(RateShape::Sine)
    } else {
        Err(bad(key, value, "must be 'SQUARE' or 'SINE'"))
    }
}

/// Splits `<digits>[ ]<unit>` as Flink's `TimeUtils`/`MemorySize` do: the value trimmed, its
/// leading ASCII digits the number, the rest (trimmed, lower-cased) the unit.
fn split_number_unit(key: &str, value: &str) -> Result<(u64, String), String> {
    let trimmed = value.trim();
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = trimmed.split_at(digits);
    if number.is_empty() {
        return Err(bad(key, value, "does not start with a number"));
    }
    let number = number
        .parse::<u64>()
        .ok()
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| bad(key, value, "overflows a 64-bit number"))?;
    Ok((number, unit.trim().to_lowercase()))
}

/// A Flink duration (`TimeUtils.parseDuration`), as `(int) Duration.getSeconds()`.
fn parse_duration_secs(key: &str, value: &str) -> Result<i32, String> {
    const UNITS: [(&[&str], u128); 7] = [
        (&["d", "day", "days"], 86_400_000_000_000),
        (&["h", "hour", "hours"], 3_600_000_000_000),
        (&["min", "minute", "minutes"], 60_000_000_000),
        (&["s", "sec", "secs", "second", "seconds"], 1_000_000_000),
        (
            &["ms", "milli", "millis", "millisecond", "milliseconds"],
            1_000_000,
        ),
        (
            &["µs", "micro", "micros", "microsecond", "microseconds"],
            1_000,
        ),
        (&["ns", "nano", "nanos", "nanosecond", "nanoseconds"], 1),
    ];
    let (number, unit) = split_number_unit(key, value)?;
    let nanos_per_unit = if unit.is_empty() {
        1_000_000
    } else {
        UNITS
            .iter()
            .find(|(labels, _)| labels.contains(&unit.as_str()))
            .map(|(_, nanos)| *nanos)
            .ok_or_else(|| {
                bad(
                    key,
                    value,
                    "has an unknown time unit (expected d, h, min, s, ms, µs or ns, or their \
                     long forms)",
                )
            })?
    };
    let secs = u128::from(number) * nanos_per_unit / 1_000_000_000;
    i32::try_from(secs).map_err(|_| bad(key, value, "is too long"))
}

/// A Flink memory size (`MemorySize.parse`), in bytes, as the `int` the generator uses.
fn parse_memory_bytes(key: &str, value: &str) -> Result<i32, String> {
    const UNITS: [(&[&str], u64); 5] = [
        (&["b", "bytes"], 1),
        (&["k", "kb", "kibibytes"], 1 << 10),
        (&["m", "mb", "mebibytes"], 1 << 20),
        (&["g", "gb", "gibibytes"], 1 << 30),
        (&["t", "tb", "tebibytes"], 1 << 40),
    ];
    let (number, unit) = split_number_unit(key, value)?;
    let multiplier = if unit.is_empty() {
        1
    } else {
        UNITS
            .iter()
            .find(|(labels, _)| labels.contains(&unit.as_str()))
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                bad(
                    key,
                    value,
                    "has an unknown memory unit (expected b, k, m, g or t)",
                )
            })?
    };
    number
        .checked_mul(multiplier)
        .and_then(|bytes| i32::try_from(bytes).ok())
        .ok_or_else(|| bad(key, value, &format!("must be at most {} bytes", i32::MAX)))
}

/// nexmark-flink's `GeneratorConfig`: one generator's share of the event-id space, the derived
/// inter-event delay, and the timestamp arithmetic.
///
/// Event ids (`first_event_id + adjusted event number`) decide each event's kind
/// (`id % total_proportion`) and the ids it refers to; event numbers decide its timestamp:
/// `base_time + (long)(event_number * inter_event_delay_us) / 1000`, with
/// `inter_event_delay_us = 1_000_000.0 / first_event_rate * num_event_generators`. Generators of
/// a [`split`](Self::split) share `first_event_number`, so they run on parallel timelines that
/// together produce `first_event_rate` events per second of event time.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    conf: NexmarkConfig,
    person_proportion: i64,
    auction_proportion: i64,
    total_proportion: i64,
    inter_event_delay_us: f64,
    step_length_sec: i64,
    base_time: i64,
    first_event_id: i64,
    max_events: i64,
    stop_at_event: i64,
    first_event_number: i64,
    seed: i64,
}

impl GeneratorConfig {
    /// `new GeneratorConfig(configuration, baseTime, firstEventId, maxEventsOrZero, stopAtEvent,
    /// firstEventNumber)`. `max_events_or_zero == 0` means "as many as possible":
    /// `Long.MAX_VALUE / (totalProportion * max(avg sizes))` (with Java's `int` product; where
    /// Java would divide by zero, all sizes being 0, the maximum is `i64::MAX`).
    ///
    /// `conf` should pass [`NexmarkConfig::validate`]; generating from an invalid one panics
    /// where Java throws.
    pub fn new(
        conf: NexmarkConfig,
        base_time: i64,
        first_event_id: i64,
        max_events_or_zero: i64,
        stop_at_event: i64,
        first_event_number: i64,
    ) -> Self {
        let total = conf
            .person_proportion
            .wrapping_add(conf.auction_proportion)
            .wrapping_add(conf.bid_proportion);
        let max_events = if max_events_or_zero == 0 {
            let largest = conf
                .avg_person_byte_size
                .max(conf.avg_auction_byte_size)
                .max(conf.avg_bid_byte_size);
            i64::MAX
                .checked_div(i64::from(total.wrapping_mul(largest)))
                .unwrap_or(i64::MAX)
        } else {
            max_events_or_zero
        };
        Self {
            conf,
            person_proportion: i64::from(conf.person_proportion),
            auction_proportion: i64::from(conf.auction_proportion),
            total_proportion: i64::from(total),
            inter_event_delay_us: 1_000_000.0 / f64::from(conf.first_event_rate)
                * f64::from(conf.num_event_generators),
            step_length_sec: i64::from(conf.rate_shape.step_length_sec(conf.rate_period_sec)),
            base_time,
            first_event_id,
            max_events,
            stop_at_event,
            first_event_number,
            seed: DEFAULT_SEED,
        }
    }

    /// The configuration nexmark-flink's `NexmarkTableSourceFactory` builds for a table read with
    /// `parallelism` generators: `num_event_generators = parallelism`, first event id 1, first
    /// event number 1, `events.num` events (0 = unbounded), `stop-at`. `base_time` is the event
    /// time of event number 0 (Java: `System.currentTimeMillis()` when the table is planned).
    pub fn for_table(mut conf: NexmarkConfig, parallelism: i32, base_time: i64) -> Self {
        conf.num_event_generators = parallelism;
        Self::new(conf, base_time, 1, conf.num_events, conf.stop_at_event, 1)
    }

    /// This configuration with `seed` for the generators' random streams (default
    /// [`DEFAULT_SEED`]); kept by [`split`](Self::split) and the other copies.
    pub fn with_seed(mut self, seed: i64) -> Self {
        self.seed = seed;
        self
    }

    /// `copyWith(firstEventId, maxEvents, stopAtEvents, firstEventNumber)`.
    pub fn copy_with(
        &self,
        first_event_id: i64,
        max_events: i64,
        stop_at_event: i64,
        first_event_number: i64,
    ) -> Self {
        Self::new(
            self.conf,
            self.base_time,
            first_event_id,
            max_events,
            stop_at_event,
            first_event_number,
        )
        .with_seed(self.seed)
    }

    /// `split(n)`: `n` configurations with about `max_events / n` events each (the last takes
    /// the remainder) and consecutive, disjoint event-id ranges, all with this
    /// `first_event_number` (parallel timelines); `stop_at_event` is split the same way (Java's
    /// truncating division: `-1 / n == 0` for all but the last). `n == 1` returns this
    /// configuration unchanged, `n == 0` none.
    ///
    /// As in Java, a split whose share of `max_events` rounds down to 0 is rebuilt with
    /// `maxEventsOrZero = 0` and so becomes unbounded.
    pub fn split(&self, n: usize) -> Vec<Self> {
        match n {
            0 => return Vec::new(),
            1 => return vec![self.clone()],
            _ => {}
        }
        let count = n as i64;
        let mut results = Vec::with_capacity(n);
        let mut sub_max_events = self.max_events / count;
        let mut sub_first_event_id = self.first_event_id;
        let mut sub_valid_events = self.stop_at_event / count;
        for i in 0..n {
            if i == n - 1 {
                sub_max_events = self.max_events - sub_max_events * (count - 1);
                sub_valid_events = self.stop_at_event - sub_valid_events * (count - 1);
            }
            results.push(self.copy_with(
                sub_first_event_id,
                sub_max_events,
                sub_valid_events,
                self.first_event_number,
            ));
            sub_first_event_id += sub_max_events;
        }
        results
    }

    /// `reconfigure(parent, clearStopAtEvent)`: this split rebuilt with `parent`'s
    /// `NexmarkConfiguration`, its `stop_at_event` cleared to -1 when `clear_stop_at_event`.
    pub fn reconfigure(&self, parent: &GeneratorConfig, clear_stop_at_event: bool) -> Self {
        let stop = if clear_stop_at_event {
            -1
        } else {
            self.stop_at_event
        };
        Self::new(
            parent.conf,
            self.base_time,
            self.first_event_id,
            self.max_events,
            stop,
            self.first_event_number,
        )
        .with_seed(self.seed)
    }

    /// The configurations nexmark-flink's `parallelism` source readers generate from: the
    /// [`split`](Self::split) (`NexmarkSource.getSplits`), each
    /// [`reconfigure`](Self::reconfigure)d as `NexmarkSourceReader.addSplits` does (so with no
    /// `stop-at` every split runs to its `max_events`, not to the `-1 / n == 0` of the split).
    pub fn reader_configs(&self, parallelism: usize) -> Vec<Self> {
        let clear = self.is_source_ignore_stop();
        self.split(parallelism)
            .iter()
            .map(|c| c.reconfigure(self, clear))
            .collect()
    }

    /// The options this configuration was built from.
    pub fn conf(&self) -> &NexmarkConfig {
        &self.conf
    }

    /// Persons per `total_proportion` events.
    pub fn person_proportion(&self) -> i64 {
        self.person_proportion
    }

    /// Auctions per `total_proportion` events.
    pub fn auction_proportion(&self) -> i64 {
        self.auction_proportion
    }

    /// `person + auction + bid` proportions.
    pub fn total_proportion(&self) -> i64 {
        self.total_proportion
    }

    /// Microseconds of event time between two events of one generator.
    pub fn inter_event_delay_us(&self) -> f64 {
        self.inter_event_delay_us
    }

    /// `stepLengthSec` (computed as in Java, used by nothing).
    pub fn step_length_sec(&self) -> i64 {
        self.step_length_sec
    }

    /// Event time of event number 0, epoch millis.
    pub fn base_time(&self) -> i64 {
        self.base_time
    }

    /// First event id of this generator's range.
    pub fn first_event_id(&self) -> i64 {
        self.first_event_id
    }

    /// Maximum number of events this configuration may generate.
    pub fn max_events(&self) -> i64 {
        self.max_events
    }

    /// Number of events after which the generator stops; negative = never.
    pub fn stop_at_event(&self) -> i64 {
        self.stop_at_event
    }

    /// Event number of the first event.
    pub fn first_event_number(&self) -> i64 {
        self.first_event_number
    }

    /// Seed of the generators' random streams.
    pub fn seed(&self) -> i64 {
        self.seed
    }

    /// `isSourceKeepAlive()`: the `keep-alive` option.
    pub fn is_source_keep_alive(&self) -> bool {
        self.conf.keep_alive
    }

    /// `isSourceIgnoreStop()`: no `stop-at` (negative).
    pub fn is_source_ignore_stop(&self) -> bool {
        self.stop_at_event < 0
    }

    /// `maxEmitSpeed`: the `max-emit-speed` option.
    pub fn max_emit_speed(&self) -> bool {
        self.conf.max_emit_speed
    }

    /// `getStartEventId()`.
    pub fn start_event_id(&self) -> i64 {
        self.first_event_id + self.first_event_number
    }

    /// `getStopEventId()`.
    pub fn stop_event_id(&self) -> i64 {
        self.first_event_id + self.first_event_number + self.max_events
    }

    /// `nextEventNumber(numEvents)`.
    pub fn next_event_number(&self, num_events: i64) -> i64 {
        self.first_event_number + num_events
    }

    /// `nextAdjustedEventNumber(numEvents)`: the event number, shuffled within its
    /// out-of-order group.
    pub fn next_adjusted_event_number(&self, num_events: i64) -> i64 {
        let n = self.conf.out_of_order_group_size;
        let event_number = self.next_event_number(num_events);
        let base = (event_number / n) * n;
        let offset = event_number.wrapping_mul(953) % n;
        base + offset
    }

    /// `nextEventNumberForWatermark(numEvents)`.
    pub fn next_event_number_for_watermark(&self, num_events: i64) -> i64 {
        let n = self.conf.out_of_order_group_size;
        (self.next_event_number(num_events) / n) * n
    }

    /// `timestampForEvent(eventNumber)`:
    /// `baseTime + (long)(eventNumber * interEventDelayUs) / 1000`.
    pub fn timestamp_for_event(&self, event_number: i64) -> i64 {
        self.base_time
            .wrapping_add((event_number as f64 * self.inter_event_delay_us) as i64 / 1000)
    }

    /// `estimatedBytesForEvents(numEvents)`.
    pub fn estimated_bytes_for_events(&self, num_events: i64) -> i64 {
        let t = self.total_proportion;
        let persons = num_events * self.person_proportion / t;
        let auctions = num_events * self.auction_proportion / t;
        let bids = num_events * i64::from(self.conf.bid_proportion) / t;
        persons * i64::from(self.conf.avg_person_byte_size)
            + auctions * i64::from(self.conf.avg_auction_byte_size)
            + bids * i64::from(self.conf.avg_bid_byte_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_flink() {
        let c = NexmarkConfig::from_table_options(&options(&[("connector", "nexmark")])).unwrap();
        assert_eq!(c, NexmarkConfig::default());
        let g = GeneratorConfig::for_table(c, 1, 0);
        assert_eq!(g.max_events(), i64::MAX / (50 * 500));
        assert_eq!(g.inter_event_delay_us(), 100.0);
        assert_eq!(g.step_length_sec(), 300);
    }

    #[test]
    fn parses_every_option() {
        let c = NexmarkConfig::from_table_options(&options(&[
            ("rate.shape", "sine"),
            ("rate.period", "2 min"),
            ("rate.limited", "TRUE"),
            ("first-event.rate", " 5000 "),
            ("next-event.rate", "7"),
            ("person.avg-size", "1kb"),
            ("auction.avg-size", "2 K"),
            ("bid.avg-size", "64"),
            ("person.proportion", "2"),
            ("auction.proportion", "5"),
            ("bid.proportion", "13"),
            ("bid.hot-ratio.auctions", "3"),
            ("bid.hot-ratio.bidders", "5"),
            ("auction.hot-ratio.sellers", "7"),
            ("events.num", "1000000"),
            ("keep-alive", "true"),
            ("stop-at", "400"),
            ("max-emit-speed", "false"),
        ]))
        .unwrap();
        assert_eq!(c.rate_shape, RateShape::Sine);
        assert_eq!(c.rate_period_sec, 120);
        assert!(c.rate_limited && c.keep_alive && !c.max_emit_speed);
        assert_eq!((c.first_event_rate, c.next_event_rate), (5000, 7));
        assert_eq!(
            (
                c.avg_person_byte_size,
                c.avg_auction_byte_size,
                c.avg_bid_byte_size
            ),
            (1024, 2048, 64)
        );
        assert_eq!(
            (c.person_proportion, c.auction_proportion, c.bid_proportion),
            (2, 5, 13)
        );
        assert_eq!(
            (
                c.hot_auction_ratio,
                c.hot_bidders_ratio,
                c.hot_sellers_ratio
            ),
            (3, 5, 7)
        );
        assert_eq!((c.num_events, c.stop_at_event), (1_000_000, 400));
        // a duration without unit is milliseconds
        let c = NexmarkConfig::from_table_options(&options(&[("rate.period", "90000")])).unwrap();
        assert_eq!(c.rate_period_sec, 90);
    }

    #[test]
    fn rejects_bad_and_unknown_options() {
        let err = |pairs: &[(&str, &str)]| {
            NexmarkConfig::from_table_options(&options(pairs)).unwrap_err()
        };
        let e = err(&[("events.number", "5")]);
        assert!(
            e.contains("'events.number'") && e.contains("'events.num'"),
            "{e}"
        );
        assert!(err(&[("first-event.rate", "fast")]).contains("'first-event.rate' = 'fast'"));
        assert!(err(&[("first-event.rate", "0")]).contains("must be positive"));
        assert!(err(&[("keep-alive", "yes")]).contains("'true' or 'false'"));
        assert!(err(&[("rate.shape", "triangle")]).contains("SQUARE"));
        assert!(err(&[("rate.period", "10 fortnights")]).contains("time unit"));
        assert!(err(&[("bid.avg-size", "3gb")]).contains("at most"));
        assert!(err(&[("bid.avg-size", "-3")]).contains("number"));
        assert!(err(&[("bid.hot-ratio.bidders", "0")]).contains("must be positive"));
        assert!(err(&[("person.proportion", "-1")]).contains("negative"));
        let zero = [
            ("person.proportion", "0"),
            ("auction.proportion", "0"),
            ("bid.proportion", "0"),
        ];
        assert!(err(&zero).contains("between 1"));
    }

    #[test]
    fn split_mirrors_java() {
        let mut conf = NexmarkConfig {
            num_events: 1000,
            ..NexmarkConfig::default()
        };
        let g = GeneratorConfig::for_table(conf, 3, 0);
        let parts = g.split(3);
        let firsts: Vec<i64> = parts.iter().map(GeneratorConfig::first_event_id).collect();
        let maxes: Vec<i64> = parts.iter().map(GeneratorConfig::max_events).collect();
        let stops: Vec<i64> = parts.iter().map(GeneratorConfig::stop_at_event).collect();
        assert_eq!(firsts, [1, 334, 667]);
        assert_eq!(maxes, [333, 333, 334]);
        assert_eq!(stops, [0, 0, -1]);
        let readers = g.reader_configs(3);
        assert!(readers.iter().all(|c| c.stop_at_event() == -1));
        conf.stop_at_event = 100;
        let readers = GeneratorConfig::for_table(conf, 3, 0).reader_configs(3);
        let stops: Vec<i64> = readers.iter().map(GeneratorConfig::stop_at_event).collect();
        assert_eq!(stops, [33, 33, 34]);
        assert_eq!(g.split(1), vec![g.clone()]);
        assert!(g.split(0).is_empty());
    }
}
