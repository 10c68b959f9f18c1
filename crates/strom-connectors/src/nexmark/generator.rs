//! The Nexmark event generator: a port of nexmark-flink's `NexmarkGenerator` and its model
//! generators (`PersonGenerator`, `AuctionGenerator`, `BidGenerator`, `PriceGenerator`,
//! `StringsGenerator`, `LongGenerator`), draw for draw.
//!
//! A [`NexmarkGenerator`] runs over one [`GeneratorConfig`] (one split of a source) and yields
//! [`NextEvent`]s: the [`Event`] (a person, auction or bid with plain fields, timestamps in epoch
//! millis) with its event time, watermark and the wallclock time at which a rate-limited source
//! emits it. [`NexmarkGenerator::next_ref`] yields the same event borrowed from the generator's
//! buffers and shared tables, without allocating.
//!
//! # Determinism
//!
//! nexmark-flink draws from three `java.util.SplittableRandom`s, all seeded from the clock:
//! each generator's stream, `BidGenerator`'s static one (the four hot URLs and the 10,000-entry
//! channel/URL cache) and `StringsGenerator`'s static one (the 1 MiB string `extra` fields are cut
//! from). Here all three are seeded explicitly (the algorithm is Java's, see
//! `java_random.rs`), so events are a function of the configuration:
//!
//! * a generator's stream: `new SplittableRandom(new SplittableRandom(s + count).nextLong())`
//!   with `s = new SplittableRandom(seed + firstEventId).nextLong()`, where `seed` is
//!   [`GeneratorConfig::seed`] and `count` the number of events already generated when the
//!   generator is created (Java creates a fresh random when a reader restores a split, too);
//!   [`NexmarkGenerator::rng_state`] and [`NexmarkGenerator::with_rng_state`] checkpoint and
//!   restore the stream exactly instead;
//! * `BidGenerator`'s: [`CHANNEL_SEED`]; `StringsGenerator`'s: [`EXTRA_SEED`].
//!
//! With those seeds patched into the Java (and nothing else changed), Java and Rust produce the
//! same events; `testdata/java_events.txt` holds Java's, checked by this module's tests.
//!
//! # Timestamps
//!
//! Event `count` of a generator (`count` events generated before it) has event number
//! `n = first_event_number + count` (shuffled within groups of `out_of_order_group_size`; 1, no
//! shuffling, for the table source), event id `first_event_id + n` and event time
//! `base_time + (long)(n * 1_000_000.0 / first_event_rate * num_event_generators) / 1000`; its
//! `dateTime` fields are that time. Its wallclock time is
//! `wallclock_base_time + (event time - base_time)`: a reader with `max-emit-speed = false`
//! sleeps until then before emitting it; with the default `true` it emits at once.

use super::config::GeneratorConfig;
use super::java_random::SplittableRandom;
use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// `GeneratorConfig.FIRST_AUCTION_ID`.
pub const FIRST_AUCTION_ID: i64 = 1000;
/// `GeneratorConfig.FIRST_PERSON_ID`.
pub const FIRST_PERSON_ID: i64 = 1000;
/// `GeneratorConfig.FIRST_CATEGORY_ID`.
pub const FIRST_CATEGORY_ID: i64 = 10;
/// Seed of the random drawing `BidGenerator`'s hot URLs and channel cache (clock-seeded in Java).
pub const CHANNEL_SEED: i64 = 0x4348_414E_4E45_4C53;
/// Seed of the random drawing `StringsGenerator`'s 1 MiB extra string (clock-seeded in Java).
pub const EXTRA_SEED: i64 = 0x4558_5452_4153_5452;

const NUM_CATEGORIES: i32 = 5;
const AUCTION_ID_LEAD: i64 = 10;
const HOT_SELLER_RATIO: i64 = 100;
const PERSON_ID_LEAD: i64 = 10;
const HOT_AUCTION_RATIO: i64 = 100;
const HOT_BIDDER_RATIO: i64 = 100;
const HOT_CHANNELS_RATIO: i32 = 2;
const CHANNELS_NUMBER: i32 = 10_000;
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
const MIN_STRING_LENGTH: i32 = 3;
const REUSABLE_EXTRA_LEN: i32 = 1024 * 1024;

/// A new person (`model.Person`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: i64,
    pub name: String,
    pub email_address: String,
    pub credit_card: String,
    pub city: String,
    pub state: String,
    /// Epoch millis.
    pub date_time: i64,
    pub extra: String,
}

/// A new auction (`model.Auction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auction {
    pub id: i64,
    pub item_name: String,
    pub description: String,
    pub initial_bid: i64,
    pub reserve: i64,
    /// Epoch millis.
    pub date_time: i64,
    /// Epoch millis.
    pub expires: i64,
    pub seller: i64,
    pub category: i64,
    pub extra: String,
}

/// A bid (`model.Bid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bid {
    pub auction: i64,
    pub bidder: i64,
    pub price: i64,
    pub channel: String,
    pub url: String,
    /// Epoch millis.
    pub date_time: i64,
    pub extra: String,
}

/// An event (`model.Event`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Person(Person),
    Auction(Auction),
    Bid(Bid),
}

impl Event {
    /// `Event.Type.value`, the table's `event_type` column: 0 person, 1 auction, 2 bid.
    pub fn event_type(&self) -> i32 {
        match self {
            Event::Person(_) => 0,
            Event::Auction(_) => 1,
            Event::Bid(_) => 2,
        }
    }

    /// The event's `dateTime`, epoch millis.
    pub fn date_time(&self) -> i64 {
        match self {
            Event::Person(p) => p.date_time,
            Event::Auction(a) => a.date_time,
            Event::Bid(b) => b.date_time,
        }
    }
}

/// `NexmarkGenerator.NextEvent`: an event with its timestamps (epoch millis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextEvent {
    /// When, in wallclock time, a rate-limited source emits the event.
    pub wallclock_timestamp: i64,
    /// The event's event time (its `dateTime`).
    pub event_timestamp: i64,
    /// A lower bound of this and all later event times of the generator.
    pub watermark: i64,
    pub event: Event,
}

/// A [`Person`] borrowed from the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonRef<'a> {
    pub id: i64,
    pub name: &'a str,
    pub email_address: &'a str,
    pub credit_card: &'a str,
    pub city: &'a str,
    pub state: &'a str,
    pub date_time: i64,
    pub extra: &'a str,
}

/// An [`Auction`] borrowed from the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuctionRef<'a> {
    pub id: i64,
    pub item_name: &'a str,
    pub description: &'a str,
    pub initial_bid: i64,
    pub reserve: i64,
    pub date_time: i64,
    pub expires: i64,
    pub seller: i64,
    pub category: i64,
    pub extra: &'a str,
}

/// A [`Bid`] borrowed from the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BidRef<'a> {
    pub auction: i64,
    pub bidder: i64,
    pub price: i64,
    pub channel: &'a str,
    pub url: &'a str,
    pub date_time: i64,
    pub extra: &'a str,
}

/// An [`Event`] borrowed from the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRef<'a> {
    Person(PersonRef<'a>),
    Auction(AuctionRef<'a>),
    Bid(BidRef<'a>),
}

/// A [`NextEvent`] borrowed from the generator (valid until its next call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextEventRef<'a> {
    pub wallclock_timestamp: i64,
    pub event_timestamp: i64,
    pub watermark: i64,
    pub event: EventRef<'a>,
}

impl PersonRef<'_> {
    /// An owned copy.
    pub fn to_person(&self) -> Person {
        Person {
            id: self.id,
            name: self.name.to_owned(),
            email_address: self.email_address.to_owned(),
            credit_card: self.credit_card.to_owned(),
            city: self.city.to_owned(),
            state: self.state.to_owned(),
            date_time: self.date_time,
            extra: self.extra.to_owned(),
        }
    }
}

impl AuctionRef<'_> {
    /// An owned copy.
    pub fn to_auction(&self) -> Auction {
        Auction {
            id: self.id,
            item_name: self.item_name.to_owned(),
            description: self.description.to_owned(),
            initial_bid: self.initial_bid,
            reserve: self.reserve,
            date_time: self.date_time,
            expires: self.expires,
            seller: self.seller,
            category: self.category,
            extra: self.extra.to_owned(),
        }
    }
}

impl BidRef<'_> {
    /// An owned copy.
    pub fn to_bid(&self) -> Bid {
        Bid {
            auction: self.auction,
            bidder: self.bidder,
            price: self.price,
            channel: self.channel.to_owned(),
            url: self.url.to_owned(),
            date_time: self.date_time,
            extra: self.extra.to_owned(),
        }
    }
}

impl EventRef<'_> {
    /// `Event.Type.value`: 0 person, 1 auction, 2 bid.
    pub fn event_type(&self) -> i32 {
        match self {
            EventRef::Person(_) => 0,
            EventRef::Auction(_) => 1,
            EventRef::Bid(_) => 2,
        }
    }

    /// The event's `dateTime`, epoch millis.
    pub fn date_time(&self) -> i64 {
        match self {
            EventRef::Person(p) => p.date_time,
            EventRef::Auction(a) => a.date_time,
            EventRef::Bid(b) => b.date_time,
        }
    }

    /// An owned copy.
    pub fn to_event(&self) -> Event {
        match self {
            EventRef::Person(p) => Event::Person(p.to_person()),
            EventRef::Auction(a) => Event::Auction(a.to_auction()),
            EventRef::Bid(b) => Event::Bid(b.to_bid()),
        }
    }
}

impl NextEventRef<'_> {
    /// An owned copy.
    pub fn to_next_event(&self) -> NextEvent {
        NextEvent {
            wallclock_timestamp: self.wallclock_timestamp,
            event_timestamp: self.event_timestamp,
            watermark: self.watermark,
            event: self.event.to_event(),
        }
    }
}

/// nexmark-flink's `NexmarkGenerator` over one [`GeneratorConfig`]: an iterator of
/// [`NextEvent`]s, or of borrowed [`NextEventRef`]s through [`next_ref`](Self::next_ref).
pub struct NexmarkGenerator {
    config: GeneratorConfig,
    rng: SplittableRandom,
    events_count_so_far: i64,
    wallclock_base_time: i64,
    max_events: i64,
    tables: &'static Tables,
    buf: Buffers,
}

impl fmt::Debug for NexmarkGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NexmarkGenerator")
            .field("config", &self.config)
            .field("events_count_so_far", &self.events_count_so_far)
            .field("wallclock_base_time", &self.wallclock_base_time)
            .field("max_events", &self.max_events)
            .finish_non_exhaustive()
    }
}

impl NexmarkGenerator {
    /// `new NexmarkGenerator(config)`: from the first event, the wallclock base taken from the
    /// clock when the first event is generated.
    pub fn new(config: GeneratorConfig) -> Self {
        Self::resume(config, 0, -1)
    }

    /// `new NexmarkGenerator(config, eventsCountSoFar, wallclockBaseTime)`: continues after
    /// `events_count_so_far` events (a restored split); a negative `wallclock_base_time` is taken
    /// from the clock when the next event is generated. The random stream is the one seeded for
    /// `events_count_so_far` (see the [module docs](self)); [`with_rng_state`](Self::with_rng_state)
    /// continues a checkpointed one instead.
    pub fn resume(
        config: GeneratorConfig,
        events_count_so_far: i64,
        wallclock_base_time: i64,
    ) -> Self {
        let rng = generator_random(config.seed(), config.first_event_id(), events_count_so_far);
        let max_events = if config.stop_at_event() < 0 {
            config.max_events()
        } else {
            config.stop_at_event().min(config.max_events())
        };
        Self {
            config,
            rng,
            events_count_so_far,
            wallclock_base_time,
            max_events,
            tables: tables(),
            buf: Buffers::default(),
        }
    }

    /// The events numbered `events.start..events.end` (counts of the generator, 0-based) of
    /// `config`, at most up to its end: [`resume`](Self::resume) at `events.start`, stopping at
    /// `events.end`.
    pub fn range(config: GeneratorConfig, events: Range<i64>, wallclock_base_time: i64) -> Self {
        let mut generator = Self::resume(config, events.start, wallclock_base_time);
        generator.max_events = generator.max_events.min(events.end);
        generator
    }

    /// This generator continuing the random stream whose [`rng_state`](Self::rng_state) was
    /// `state`: a generator resumed at the count and with the state checkpointed from another
    /// generates the same events as that one would have.
    pub fn with_rng_state(mut self, state: u64) -> Self {
        self.rng = SplittableRandom::from_state(state);
        self
    }

    /// The state of the random stream (8 bytes; checkpoint it with
    /// [`events_count_so_far`](Self::events_count_so_far) and
    /// [`wallclock_base_time`](Self::wallclock_base_time)).
    pub fn rng_state(&self) -> u64 {
        self.rng.state()
    }

    /// The configuration this generator runs over.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// Number of events generated so far (counting those before a resume).
    pub fn events_count_so_far(&self) -> i64 {
        self.events_count_so_far
    }

    /// The wallclock time of event number 0 (negative until the first event if taken from
    /// the clock).
    pub fn wallclock_base_time(&self) -> i64 {
        self.wallclock_base_time
    }

    /// The count at which the generator stops: `min(stop_at_event, max_events)`, or
    /// `max_events` without `stop-at`.
    pub fn max_events(&self) -> i64 {
        self.max_events
    }

    /// `hasNext()`.
    pub fn has_next(&self) -> bool {
        self.events_count_so_far < self.max_events
    }

    /// `getNextEventId()`: the id of the next event.
    pub fn next_event_id(&self) -> i64 {
        self.config.first_event_id()
            + self
                .config
                .next_adjusted_event_number(self.events_count_so_far)
    }

    /// `getFractionConsumed()`.
    pub fn fraction_consumed(&self) -> f64 {
        self.events_count_so_far as f64 / self.config.max_events() as f64
    }

    /// `nextEvent()`, borrowed: the next event, its strings borrowed from the generator's
    /// buffers and shared tables (no allocation once the buffers have grown), or `None` after
    /// the last event.
    pub fn next_ref(&mut self) -> Option<NextEventRef<'_>> {
        if !self.has_next() {
            return None;
        }
        if self.wallclock_base_time < 0 {
            self.wallclock_base_time = now_millis();
        }
        let c = &self.config;
        let count = self.events_count_so_far;
        let event_timestamp = c.timestamp_for_event(c.next_event_number(count));
        let adjusted_event_timestamp = c.timestamp_for_event(c.next_adjusted_event_number(count));
        let watermark = c.timestamp_for_event(c.next_event_number_for_watermark(count));
        let wallclock_timestamp = self.wallclock_base_time + (event_timestamp - c.base_time());

        let event_id = c.first_event_id() + c.next_adjusted_event_number(count);
        let rem = event_id % c.total_proportion();
        let (rng, buf, tables) = (&mut self.rng, &mut self.buf, self.tables);
        let ts = adjusted_event_timestamp;
        let event = if rem < c.person_proportion() {
            EventRef::Person(next_person(c, rng, buf, tables, event_id, ts))
        } else if rem < c.person_proportion() + c.auction_proportion() {
            EventRef::Auction(next_auction(c, rng, buf, tables, count, event_id, ts))
        } else {
            EventRef::Bid(next_bid(c, rng, buf, tables, event_id, ts))
        };
        self.events_count_so_far += 1;
        Some(NextEventRef {
            wallclock_timestamp,
            event_timestamp: adjusted_event_timestamp,
            watermark,
            event,
        })
    }
}

impl Iterator for NexmarkGenerator {
    type Item = NextEvent;

    fn next(&mut self) -> Option<NextEvent> {
        self.next_ref().map(|e| e.to_next_event())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.max_events - self.events_count_so_far).unwrap_or(0);
        (left, Some(left))
    }
}

/// The random stream of a generator of `first_event_id` created after `count` events.
fn generator_random(seed: i64, first_event_id: i64, count: i64) -> SplittableRandom {
    let s = SplittableRandom::new(seed.wrapping_add(first_event_id)).next_long();
    SplittableRandom::new(SplittableRandom::new(s.wrapping_add(count)).next_long())
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The generator's reusable string buffers.
#[derive(Default)]
struct Buffers {
    /// Person name, auction item name.
    a: String,
    /// Person email, auction description.
    b: String,
    /// Person credit card.
    c: String,
    /// An `extra` too long to cut from the shared string.
    extra: String,
}

/// The tables Java builds in static initializers, shared by all generators.
struct Tables {
    /// `StringsGenerator.REUSABLE_EXTRA_STRING`.
    extra: String,
    /// `BidGenerator.HOT_URLS`.
    hot_urls: [String; 4],
    /// `BidGenerator.CHANNEL_URL_CACHE`: `(channel, url)`.
    channels: Vec<(String, String)>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(Tables::build)
}

impl Tables {
    fn build() -> Self {
        let mut extra = String::with_capacity(REUSABLE_EXTRA_LEN as usize);
        exact_string_loop(
            &mut SplittableRandom::new(EXTRA_SEED),
            REUSABLE_EXTRA_LEN,
            &mut extra,
        );
        let mut rng = SplittableRandom::new(CHANNEL_SEED);
        let hot_urls = std::array::from_fn(|_| base_url(&mut rng));
        let channels = (0..CHANNELS_NUMBER)
            .map(|i| {
                let mut url = base_url(&mut rng);
                if rng.next_int_bounded(10) > 0 {
                    url.push_str("&channel_id=");
                    url.push_str(&i.reverse_bits().wrapping_abs().to_string());
                }
                (format!("channel-{i}"), url)
            })
            .collect();
        Self {
            extra,
            hot_urls,
            channels,
        }
    }
}

/// `BidGenerator.getBaseUrl`.
fn base_url(rng: &mut SplittableRandom) -> String {
    let mut url = String::with_capacity(64);
    url.push_str("https://www.nexmark.com/");
    for _ in 0..3 {
        next_string(rng, 5, '_', &mut url);
        url.push('/');
    }
    url.push_str("item.htm?query=1");
    url
}

/// Where an `extra` field is: a slice of the shared string, or the generator's buffer.
#[derive(Clone, Copy)]
enum Extra {
    Shared { offset: usize, len: usize },
    Own,
}

impl Extra {
    fn resolve<'a>(self, tables: &'static Tables, own: &'a str) -> &'a str {
        match self {
            Extra::Shared { offset, len } => &tables.extra[offset..offset + len],
            Extra::Own => own,
        }
    }
}

fn len_i32(s: &str) -> i32 {
    i32::try_from(s.len()).unwrap_or(i32::MAX)
}

/// `list.get(random.nextInt(list.size()))`.
fn pick<'t>(rng: &mut SplittableRandom, list: &[&'t str]) -> &'t str {
    list[rng.next_int_bounded(list.len() as i32) as usize]
}

/// `'a' + i` for `i` in `0..26` (or, in `nextExactString`, in `-25..26`).
fn letter(i: i32) -> char {
    char::from((i32::from(b'a') + i) as u8)
}

/// `StringsGenerator.nextString(random, maxLength, special)` (with Java's `trim()`), appended to
/// `out`.
fn next_string(rng: &mut SplittableRandom, max_length: i32, special: char, out: &mut String) {
    let start = out.len();
    let len = MIN_STRING_LENGTH + rng.next_int_bounded(max_length - MIN_STRING_LENGTH);
    for _ in 0..len {
        if rng.next_int_bounded(13) == 0 {
            out.push(special);
        } else {
            out.push(letter(rng.next_int_bounded(26)));
        }
    }
    // String.trim(): strip leading and trailing chars <= ' '
    let end = start + out[start..].trim_end_matches(|c| c <= ' ').len();
    out.truncate(end);
    let lead = end - start - out[start..].trim_start_matches(|c| c <= ' ').len();
    if lead > 0 {
        out.drain(start..start + lead);
    }
}

/// The loop of `StringsGenerator.nextExactString`: `length` chars, six per `nextInt()`
/// (`'a' + rnd % 26` with Java's signed remainder, so also `'H'..'a'`).
fn exact_string_loop(rng: &mut SplittableRandom, length: i32, out: &mut String) {
    let mut rnd = 0i32;
    let mut n = 0;
    for _ in 0..length {
        if n == 0 {
            rnd = rng.next_int();
            n = 6;
        }
        out.push(letter(rnd % 26));
        rnd /= 26;
        n -= 1;
    }
}

/// `StringsGenerator.nextExactString`: a slice of the shared string, or (half its length or
/// more) freshly generated into `own`.
fn next_exact_string(rng: &mut SplittableRandom, length: i32, own: &mut String) -> Extra {
    if length < REUSABLE_EXTRA_LEN / 2 {
        let offset = rng.next_int_bounded(REUSABLE_EXTRA_LEN - length);
        return Extra::Shared {
            offset: offset as usize,
            len: length as usize,
        };
    }
    own.clear();
    exact_string_loop(rng, length, own);
    Extra::Own
}

/// `StringsGenerator.nextExtra`.
fn next_extra(
    rng: &mut SplittableRandom,
    current_size: i32,
    desired_average_size: i32,
    own: &mut String,
) -> Extra {
    if current_size > desired_average_size {
        return Extra::Shared { offset: 0, len: 0 };
    }
    let desired_average_size = desired_average_size - current_size;
    let delta = (f64::from(desired_average_size) * 0.2).round() as i32;
    let min_size = desired_average_size - delta;
    let desired_size = min_size
        + if delta == 0 {
            0
        } else {
            rng.next_int_bounded(2 * delta)
        };
    next_exact_string(rng, desired_size, own)
}

/// `LongGenerator.nextLong`: `[0, n)` (skewed for `n >= Integer.MAX_VALUE`, as in Java).
fn next_long(rng: &mut SplittableRandom, n: i64) -> i64 {
    if n < i64::from(i32::MAX) {
        i64::from(rng.next_int_bounded(n as i32))
    } else {
        (rng.next_long() % n).wrapping_abs()
    }
}

/// `PriceGenerator.nextPrice`.
fn next_price(rng: &mut SplittableRandom) -> i64 {
    (10f64.powf(rng.next_double() * 6.0) * 100.0).round() as i64
}

/// `PersonGenerator.lastBase0PersonId`.
fn last_base0_person_id(c: &GeneratorConfig, event_id: i64) -> i64 {
    let epoch = event_id / c.total_proportion();
    let mut offset = event_id % c.total_proportion();
    if offset >= c.person_proportion() {
        offset = c.person_proportion() - 1;
    }
    epoch * c.person_proportion() + offset
}

/// `PersonGenerator.nextBase0PersonId`.
fn next_base0_person_id(c: &GeneratorConfig, rng: &mut SplittableRandom, event_id: i64) -> i64 {
    let num_people = last_base0_person_id(c, event_id) + 1;
    let active_people = num_people.min(i64::from(c.conf().num_active_people));
    let n = next_long(rng, active_people + PERSON_ID_LEAD);
    num_people - active_people + n
}

/// `AuctionGenerator.lastBase0AuctionId`.
fn last_base0_auction_id(c: &GeneratorConfig, event_id: i64) -> i64 {
    let mut epoch = event_id / c.total_proportion();
    let mut offset = event_id % c.total_proportion();
    if offset < c.person_proportion() {
        epoch -= 1;
        offset = c.auction_proportion() - 1;
    } else if offset >= c.person_proportion() + c.auction_proportion() {
        offset = c.auction_proportion() - 1;
    } else {
        offset -= c.person_proportion();
    }
    epoch * c.auction_proportion() + offset
}

/// `AuctionGenerator.nextBase0AuctionId`.
fn next_base0_auction_id(c: &GeneratorConfig, rng: &mut SplittableRandom, event_id: i64) -> i64 {
    let min_auction =
        (last_base0_auction_id(c, event_id) - i64::from(c.conf().num_in_flight_auctions)).max(0);
    let max_auction = last_base0_auction_id(c, event_id);
    min_auction + next_long(rng, max_auction - min_auction + 1 + AUCTION_ID_LEAD)
}

/// `AuctionGenerator.nextAuctionLengthMs`.
fn next_auction_length_ms(
    c: &GeneratorConfig,
    rng: &mut SplittableRandom,
    events_count_so_far: i64,
    timestamp: i64,
) -> i64 {
    let current_event_number = c.next_adjusted_event_number(events_count_so_far);
    let num_events_for_auctions =
        i64::from(c.conf().num_in_flight_auctions) * c.total_proportion() / c.auction_proportion();
    let future_auction = c.timestamp_for_event(current_event_number + num_events_for_auctions);
    let horizon_ms = future_auction - timestamp;
    1 + next_long(rng, horizon_ms.wrapping_mul(2).max(1))
}

/// `PersonGenerator.nextPerson`.
fn next_person<'a>(
    c: &GeneratorConfig,
    rng: &mut SplittableRandom,
    buf: &'a mut Buffers,
    tables: &'static Tables,
    event_id: i64,
    timestamp: i64,
) -> PersonRef<'a> {
    let id = last_base0_person_id(c, event_id) + FIRST_PERSON_ID;
    buf.a.clear();
    buf.a.push_str(pick(rng, &FIRST_NAMES));
    buf.a.push(' ');
    buf.a.push_str(pick(rng, &LAST_NAMES));
    buf.b.clear();
    next_string(rng, 7, ' ', &mut buf.b);
    buf.b.push('@');
    next_string(rng, 5, ' ', &mut buf.b);
    buf.b.push_str(".com");
    buf.c.clear();
    for i in 0..4 {
        if i > 0 {
            buf.c.push(' ');
        }
        // String.format("%04d", nextInt(10000))
        let n = rng.next_int_bounded(10_000);
        for d in [n / 1000, n / 100 % 10, n / 10 % 10, n % 10] {
            buf.c.push(char::from(b'0' + d as u8));
        }
    }
    let city = pick(rng, &US_CITIES);
    let state = pick(rng, &US_STATES);
    let current_size =
        8 + len_i32(&buf.a) + len_i32(&buf.b) + len_i32(&buf.c) + len_i32(city) + len_i32(state);
    let extra = next_extra(
        rng,
        current_size,
        c.conf().avg_person_byte_size,
        &mut buf.extra,
    );
    let buf: &'a Buffers = buf;
    PersonRef {
        id,
        name: &buf.a,
        email_address: &buf.b,
        credit_card: &buf.c,
        city,
        state,
        date_time: timestamp,
        extra: extra.resolve(tables, &buf.extra),
    }
}

/// `AuctionGenerator.nextAuction`.
fn next_auction<'a>(
    c: &GeneratorConfig,
    rng: &mut SplittableRandom,
    buf: &'a mut Buffers,
    tables: &'static Tables,
    events_count_so_far: i64,
    event_id: i64,
    timestamp: i64,
) -> AuctionRef<'a> {
    let id = last_base0_auction_id(c, event_id) + FIRST_AUCTION_ID;
    let mut seller = if rng.next_int_bounded(c.conf().hot_sellers_ratio) > 0 {
        (last_base0_person_id(c, event_id) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO
    } else {
        next_base0_person_id(c, rng, event_id)
    };
    seller += FIRST_PERSON_ID;
    let category = FIRST_CATEGORY_ID + i64::from(rng.next_int_bounded(NUM_CATEGORIES));
    let initial_bid = next_price(rng);
    let expires = timestamp + next_auction_length_ms(c, rng, events_count_so_far, timestamp);
    buf.a.clear();
    next_string(rng, 20, ' ', &mut buf.a);
    buf.b.clear();
    next_string(rng, 100, ' ', &mut buf.b);
    let reserve = initial_bid + next_price(rng);
    let current_size = 8 + len_i32(&buf.a) + len_i32(&buf.b) + 8 + 8 + 8 + 8 + 8;
    let extra = next_extra(
        rng,
        current_size,
        c.conf().avg_auction_byte_size,
        &mut buf.extra,
    );
    let buf: &'a Buffers = buf;
    AuctionRef {
        id,
        item_name: &buf.a,
        description: &buf.b,
        initial_bid,
        reserve,
        date_time: timestamp,
        expires,
        seller,
        category,
        extra: extra.resolve(tables, &buf.extra),
    }
}

/// `BidGenerator.nextBid` (including Java's second `bidder += FIRST_PERSON_ID`, which puts
/// bidders 2000 above person ids).
fn next_bid<'a>(
    c: &GeneratorConfig,
    rng: &mut SplittableRandom,
    buf: &'a mut Buffers,
    tables: &'static Tables,
    event_id: i64,
    timestamp: i64,
) -> BidRef<'a> {
    let mut auction = if rng.next_int_bounded(c.conf().hot_auction_ratio) > 0 {
        (last_base0_auction_id(c, event_id) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO
    } else {
        next_base0_auction_id(c, rng, event_id)
    };
    auction += FIRST_AUCTION_ID;
    let mut bidder = if rng.next_int_bounded(c.conf().hot_bidders_ratio) > 0 {
        (last_base0_person_id(c, event_id) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1
    } else {
        next_base0_person_id(c, rng, event_id)
    };
    bidder += FIRST_PERSON_ID;
    let price = next_price(rng);
    let (channel, url): (&'static str, &'static str) =
        if rng.next_int_bounded(HOT_CHANNELS_RATIO) > 0 {
            let i = rng.next_int_bounded(HOT_CHANNELS.len() as i32) as usize;
            (HOT_CHANNELS[i], &tables.hot_urls[i])
        } else {
            let (channel, url) = &tables.channels[rng.next_int_bounded(CHANNELS_NUMBER) as usize];
            (channel, url)
        };
    bidder += FIRST_PERSON_ID;
    let extra = next_extra(rng, 32, c.conf().avg_bid_byte_size, &mut buf.extra);
    let buf: &'a Buffers = buf;
    BidRef {
        auction,
        bidder,
        price,
        channel,
        url,
        date_time: timestamp,
        extra: extra.resolve(tables, &buf.extra),
    }
}

#[cfg(test)]
mod tests {
    //! Golden test against nexmark-flink's Java generator.
    //!
    //! `testdata/java_events.txt` was produced by `testdata/GoldenEvents.java` run on Java 17
    //! against nexmark-flink's own generator sources (commit 6b3646c3baec), copied unchanged
    //! except for seeding its three clock-seeded `SplittableRandom`s the way this module does
    //! ([`CHANNEL_SEED`], [`EXTRA_SEED`], and `generator_random` from [`DEFAULT_SEED`]) and
    //! with compile-only stubs for the Flink, Jackson, slf4j and `javax.annotation` classes the
    //! sources import; `GoldenEvents.java`'s header comment gives the exact recipe (sed
    //! commands, stubs, `javac`/`java` lines). To regenerate, follow it and replace the file.
    //!
    //! The file has one section per configuration, each split of a section headed by
    //! `# <section> split <i>/<p>`, then one line per event:
    //! `P|wallclock|eventTs|watermark|id|name|email|creditCard|city|state|dateTime|extra`,
    //! `A|wallclock|eventTs|watermark|id|itemName|description|initialBid|reserve|dateTime|expires|seller|category|extra`,
    //! `B|wallclock|eventTs|watermark|auction|bidder|price|channel|url|dateTime|extra`.
    //! Sections: `default` (no options, parallelism 1, 2000 events), `split3`
    //! (`events.num` = 1000, parallelism 3, 300 events of each split), `custom` (most options
    //! changed, `stop-at` = 400, parallelism 2: each split stops after 200 of the 250 asked),
    //! `ooo` (out-of-order groups of 7, 20 auctions in flight, 50 active people; 200 events).
    //! Each split is generated as nexmark-flink's source does: the table factory's
    //! `GeneratorConfig` ([`GeneratorConfig::for_table`]), split and reconfigured per reader
    //! ([`GeneratorConfig::reader_configs`]), base time and wallclock base fixed below.

    use super::*;
    use crate::nexmark::config::{NexmarkConfig, DEFAULT_SEED};
    use std::collections::BTreeMap;
    use std::fmt::Write;

    const JAVA_EVENTS: &str = include_str!("testdata/java_events.txt");
    const BASE_TIME: i64 = 1_700_000_000_000;
    const WALLCLOCK_BASE_TIME: i64 = 1_800_000_000_000;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A golden section's configuration and the number of events Java printed per split (fewer
    /// if the split ended).
    fn section(name: &str) -> (NexmarkConfig, usize) {
        let parse = |pairs: &[(&str, &str)]| {
            NexmarkConfig::from_table_options(&options(pairs)).expect("valid options")
        };
        match name {
            "default" => (parse(&[("connector", "nexmark")]), 2000),
            "split3" => (
                parse(&[("connector", "nexmark"), ("events.num", "1000")]),
                300,
            ),
            "custom" => (
                parse(&[
                    ("first-event.rate", "1234"),
                    ("person.proportion", "2"),
                    ("auction.proportion", "5"),
                    ("bid.proportion", "13"),
                    ("person.avg-size", "300b"),
                    ("auction.avg-size", "700 bytes"),
                    ("bid.avg-size", "150"),
                    ("bid.hot-ratio.auctions", "3"),
                    ("bid.hot-ratio.bidders", "5"),
                    ("auction.hot-ratio.sellers", "7"),
                    ("stop-at", "400"),
                ]),
                250,
            ),
            "ooo" => (
                NexmarkConfig {
                    out_of_order_group_size: 7,
                    num_in_flight_auctions: 20,
                    num_active_people: 50,
                    ..NexmarkConfig::default()
                },
                200,
            ),
            other => panic!("unknown golden section '{other}'"),
        }
    }

    /// An event in the golden file's format.
    fn format_event(e: &NextEventRef<'_>, out: &mut String) {
        out.clear();
        let kind = ['P', 'A', 'B'][e.event.event_type() as usize];
        let head = (e.wallclock_timestamp, e.event_timestamp, e.watermark);
        write!(out, "{kind}|{}|{}|{}|", head.0, head.1, head.2).expect("write to String");
        let r = match e.event {
            EventRef::Person(p) => write!(
                out,
                "{}|{}|{}|{}|{}|{}|{}|{}",
                p.id, p.name, p.email_address, p.credit_card, p.city, p.state, p.date_time, p.extra
            ),
            EventRef::Auction(a) => write!(
                out,
                "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
                a.id,
                a.item_name,
                a.description,
                a.initial_bid,
                a.reserve,
                a.date_time,
                a.expires,
                a.seller,
                a.category,
                a.extra
            ),
            EventRef::Bid(b) => write!(
                out,
                "{}|{}|{}|{}|{}|{}|{}",
                b.auction, b.bidder, b.price, b.channel, b.url, b.date_time, b.extra
            ),
        };
        r.expect("write to String");
    }

    /// Where two lines first differ: the field index and both fields.
    fn first_difference(java: &str, rust: &str) -> String {
        let fields = java.split('|').zip(rust.split('|')).enumerate();
        match fields.into_iter().find(|(_, (j, r))| j != r) {
            Some((i, (j, r))) => format!("field {i} differs: Java '{j}', Rust '{r}'"),
            None => "one line has more fields".to_string(),
        }
    }

    #[test]
    fn events_match_java_golden_file() {
        let mut lines = JAVA_EVENTS.lines().enumerate().peekable();
        let mut rust_line = String::new();
        let mut sections = 0;
        let mut events = 0;
        while let Some((_, header)) = lines.next() {
            // "# <section> split <i>/<p>"
            let words: Vec<&str> = header.split_whitespace().collect();
            assert!(
                words.len() == 4 && words[0] == "#" && words[2] == "split",
                "bad header '{header}'"
            );
            let (i, p) = words[3].split_once('/').expect("i/p");
            let (i, p): (usize, usize) = (i.parse().expect("i"), p.parse().expect("p"));
            let (conf, per_split) = section(words[1]);
            let table = GeneratorConfig::for_table(conf, p as i32, BASE_TIME);
            assert_eq!(table.seed(), DEFAULT_SEED);
            let config = table.reader_configs(p).swap_remove(i);
            let mut generator = NexmarkGenerator::resume(config, 0, WALLCLOCK_BASE_TIME);
            let mut printed = 0;
            while let Some((n, java)) = lines.next_if(|(_, l)| !l.starts_with('#')) {
                let Some(event) = generator.next_ref() else {
                    panic!("line {}: Rust generator ended, Java has\n{java}", n + 1);
                };
                format_event(&event, &mut rust_line);
                assert!(
                    java == rust_line,
                    "line {} ({header}, event {printed}): {}\nJava: {java}\nRust: {rust_line}",
                    n + 1,
                    first_difference(java, &rust_line)
                );
                printed += 1;
            }
            if printed < per_split {
                assert!(
                    !generator.has_next(),
                    "{header}: Java stopped after {printed}"
                );
            }
            sections += 1;
            events += printed;
        }
        assert_eq!((sections, events), (7, 2000 + 900 + 400 + 200));
    }

    #[test]
    fn owned_events_equal_borrowed_ones() {
        let config = GeneratorConfig::for_table(NexmarkConfig::default(), 1, BASE_TIME);
        let mut borrowed = NexmarkGenerator::resume(config.clone(), 0, 0);
        let owned: Vec<NextEvent> = NexmarkGenerator::resume(config, 0, 0).take(500).collect();
        for e in &owned {
            assert_eq!(
                borrowed.next_ref().map(|r| r.to_next_event()).as_ref(),
                Some(e)
            );
        }
        let kinds = owned.iter().fold([0; 3], |mut k, e| {
            k[e.event.event_type() as usize] += 1;
            k
        });
        assert_eq!(kinds, [10, 30, 460]);
    }

    #[test]
    fn resumes_exactly_from_rng_state() {
        let config = GeneratorConfig::for_table(NexmarkConfig::default(), 1, BASE_TIME);
        let mut first = NexmarkGenerator::resume(config.clone(), 0, 7);
        let all: Vec<NextEvent> = first.by_ref().take(100).collect();
        let mut g = NexmarkGenerator::range(config.clone(), 0..50, 7);
        assert_eq!(g.by_ref().collect::<Vec<_>>(), all[..50]);
        let (count, state) = (g.events_count_so_far(), g.rng_state());
        let resumed = NexmarkGenerator::range(config.clone(), count..100, 7).with_rng_state(state);
        assert_eq!(resumed.collect::<Vec<_>>(), all[50..]);
        // without the state, a resumed generator draws a fresh stream (as a restored Java
        // reader does): same ids and timestamps, other random fields
        let fresh: Vec<NextEvent> = NexmarkGenerator::range(config, 50..100, 7).collect();
        assert!(fresh
            .iter()
            .zip(&all[50..])
            .all(|(a, b)| a.event_timestamp == b.event_timestamp
                && a.event.event_type() == b.event.event_type()));
        assert_ne!(fresh, all[50..]);
    }

    #[test]
    fn seed_changes_the_stream() {
        let config = GeneratorConfig::for_table(NexmarkConfig::default(), 1, BASE_TIME);
        let a: Vec<NextEvent> = NexmarkGenerator::resume(config.clone(), 0, 0)
            .take(20)
            .collect();
        let b: Vec<NextEvent> = NexmarkGenerator::resume(config.with_seed(1), 0, 0)
            .take(20)
            .collect();
        assert_ne!(a, b);
    }

    #[test]
    fn long_extra_is_generated_not_sliced() {
        // 'bid.avg-size' of 1 MiB: extras of about 1 MiB - 32 bytes, over half the shared string
        let conf = NexmarkConfig::from_table_options(&options(&[("bid.avg-size", "1m")]))
            .expect("valid options");
        let mut g = NexmarkGenerator::resume(GeneratorConfig::for_table(conf, 1, 0), 0, 0);
        let e = g.nth(2).expect("an event");
        let Event::Bid(bid) = e.event else {
            panic!("event 2 is a bid")
        };
        assert!(bid.extra.len() > 600_000, "{}", bid.extra.len());
        assert!(bid.extra.bytes().all(|b| (b'H'..=b'z').contains(&b)));
    }
}
