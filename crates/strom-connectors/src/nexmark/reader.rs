//! One subtask's reader of a `nexmark` table: runs its generator, builds Arrow batches of the
//! projected columns, paces events when asked to, and says where it is for checkpoints.

use super::generator::{EventRef, NexmarkGenerator};
use super::table::{EventColumn, Kind, RowField, Spec};
use arrow::array::{
    ArrayRef, Int32Builder, Int64Builder, RecordBatch, StringBuilder, StructArray,
    TimestampMillisecondBuilder,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, SchemaRef};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use strom_plan::TableSpec;
use strom_runtime::connector::DEFAULT_BATCH_ROWS;
use strom_runtime::{ConnectorError, SourceReader, SubtaskInfo};

/// A value of a field of `event`, or `None` when the event is of another kind.
enum Value<'a> {
    Long(i64),
    Text(&'a str),
}

fn field_value<'a>(field: RowField, event: &EventRef<'a>) -> Option<Value<'a>> {
    use RowField::*;
    use Value::{Long, Text};
    Some(match (field, event) {
        (PersonId, EventRef::Person(p)) => Long(p.id),
        (PersonName, EventRef::Person(p)) => Text(p.name),
        (PersonEmail, EventRef::Person(p)) => Text(p.email_address),
        (PersonCreditCard, EventRef::Person(p)) => Text(p.credit_card),
        (PersonCity, EventRef::Person(p)) => Text(p.city),
        (PersonState, EventRef::Person(p)) => Text(p.state),
        (PersonDateTime, EventRef::Person(p)) => Long(p.date_time),
        (PersonExtra, EventRef::Person(p)) => Text(p.extra),
        (AuctionId, EventRef::Auction(a)) => Long(a.id),
        (AuctionItemName, EventRef::Auction(a)) => Text(a.item_name),
        (AuctionDescription, EventRef::Auction(a)) => Text(a.description),
        (AuctionInitialBid, EventRef::Auction(a)) => Long(a.initial_bid),
        (AuctionReserve, EventRef::Auction(a)) => Long(a.reserve),
        (AuctionDateTime, EventRef::Auction(a)) => Long(a.date_time),
        (AuctionExpires, EventRef::Auction(a)) => Long(a.expires),
        (AuctionSeller, EventRef::Auction(a)) => Long(a.seller),
        (AuctionCategory, EventRef::Auction(a)) => Long(a.category),
        (AuctionExtra, EventRef::Auction(a)) => Text(a.extra),
        (BidAuction, EventRef::Bid(b)) => Long(b.auction),
        (BidBidder, EventRef::Bid(b)) => Long(b.bidder),
        (BidPrice, EventRef::Bid(b)) => Long(b.price),
        (BidChannel, EventRef::Bid(b)) => Text(b.channel),
        (BidUrl, EventRef::Bid(b)) => Text(b.url),
        (BidDateTime, EventRef::Bid(b)) => Long(b.date_time),
        (BidExtra, EventRef::Bid(b)) => Text(b.extra),
        _ => return None,
    })
}

enum FieldBuilder {
    Long(Int64Builder),
    Text(StringBuilder),
    Millis(TimestampMillisecondBuilder),
}

impl FieldBuilder {
    fn new(kind: Kind, rows: usize) -> Self {
        match kind {
            Kind::Long => Self::Long(Int64Builder::with_capacity(rows)),
            Kind::Text => Self::Text(StringBuilder::with_capacity(rows, rows * 16)),
            Kind::Millis => Self::Millis(TimestampMillisecondBuilder::with_capacity(rows)),
        }
    }

    fn append(&mut self, v: Option<Value<'_>>) {
        match (self, v) {
            (Self::Long(b), Some(Value::Long(x))) => b.append_value(x),
            (Self::Millis(b), Some(Value::Long(x))) => b.append_value(x),
            (Self::Text(b), Some(Value::Text(s))) => b.append_value(s),
            (Self::Long(b), _) => b.append_null(),
            (Self::Millis(b), _) => b.append_null(),
            (Self::Text(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Long(b) => Arc::new(b.finish()),
            Self::Text(b) => Arc::new(b.finish()),
            Self::Millis(b) => Arc::new(b.finish()),
        }
    }
}

/// Builds one projected column.
enum ColumnBuilder {
    EventType(Int32Builder),
    Row {
        /// The event type this ROW is not NULL for.
        event_type: i32,
        fields: Vec<(RowField, FieldBuilder)>,
        valid: Vec<bool>,
        data_type: DataType,
    },
}

impl ColumnBuilder {
    fn new(column: &EventColumn, data_type: DataType, rows: usize) -> Self {
        let (event_type, fields) = match column {
            EventColumn::EventType => return Self::EventType(Int32Builder::with_capacity(rows)),
            EventColumn::Person(f) => (0, f),
            EventColumn::Auction(f) => (1, f),
            EventColumn::Bid(f) => (2, f),
        };
        Self::Row {
            event_type,
            fields: fields
                .iter()
                .map(|f| (*f, FieldBuilder::new(f.kind(), rows)))
                .collect(),
            valid: Vec::with_capacity(rows),
            data_type,
        }
    }

    fn append(&mut self, event_type: i32, event: &EventRef<'_>) {
        match self {
            Self::EventType(b) => b.append_value(event_type),
            Self::Row {
                event_type: mine,
                fields,
                valid,
                ..
            } => {
                valid.push(*mine == event_type);
                for (f, b) in fields.iter_mut() {
                    b.append(field_value(*f, event));
                }
            }
        }
    }

    fn finish(&mut self) -> Result<ArrayRef, ConnectorError> {
        match self {
            Self::EventType(b) => Ok(Arc::new(b.finish())),
            Self::Row {
                fields,
                valid,
                data_type,
                ..
            } => {
                let DataType::Struct(struct_fields) = data_type else {
                    return Err(ConnectorError::Other(format!(
                        "a nexmark ROW column has Arrow type {data_type}"
                    )));
                };
                let children: Vec<ArrayRef> = fields.iter_mut().map(|(_, b)| b.finish()).collect();
                let nulls = NullBuffer::from(std::mem::take(valid));
                StructArray::try_new(struct_fields.clone(), children, Some(nulls))
                    .map(|a| Arc::new(a) as ArrayRef)
                    .map_err(|e| ConnectorError::Other(format!("building a nexmark ROW: {e}")))
            }
        }
    }
}

const POSITION_MAGIC: &[u8; 4] = b"NXM1";

/// A checkpointed reader position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    parallelism: u32,
    index: u32,
    count: i64,
    rng: u64,
    wallclock_base: i64,
}

impl Position {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(36);
        out.extend_from_slice(POSITION_MAGIC);
        out.extend_from_slice(&self.parallelism.to_le_bytes());
        out.extend_from_slice(&self.index.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.rng.to_le_bytes());
        out.extend_from_slice(&self.wallclock_base.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Position> {
        if bytes.len() != 36 || &bytes[..4] != POSITION_MAGIC {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap_or([0; 4]));
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or([0; 8]));
        Some(Position {
            parallelism: u32_at(4),
            index: u32_at(8),
            count: u64_at(12) as i64,
            rng: u64_at(20),
            wallclock_base: u64_at(28) as i64,
        })
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Generates one subtask's events.
pub struct NexmarkReader {
    generator: NexmarkGenerator,
    columns: Vec<EventColumn>,
    schema: SchemaRef,
    subtask: SubtaskInfo,
    batch_rows: usize,
    max_emit_speed: bool,
    keep_alive: bool,
    /// Time slept waiting for events to be due, or idle after the last one (`keep-alive`).
    waited: Duration,
}

impl NexmarkReader {
    pub(super) fn new(
        table: &TableSpec,
        spec: &Spec,
        projection: &[usize],
        subtask: SubtaskInfo,
        batch_rows: usize,
        positions: Option<&[Vec<u8>]>,
    ) -> Result<Self, ConnectorError> {
        let config = spec.reader_config(subtask);
        let generator = match positions {
            None => NexmarkGenerator::resume(config, 0, now_millis()),
            Some(positions) => {
                let p = restore_position(&table.name, positions, subtask)?;
                NexmarkGenerator::resume(config, p.count, p.wallclock_base).with_rng_state(p.rng)
            }
        };
        Ok(Self {
            generator,
            columns: projection
                .iter()
                .map(|&i| spec.columns[i].clone())
                .collect(),
            schema: table.schema.project(projection).to_arrow(),
            subtask,
            batch_rows: if batch_rows == 0 {
                DEFAULT_BATCH_ROWS
            } else {
                batch_rows
            },
            max_emit_speed: spec.conf.max_emit_speed,
            keep_alive: spec.conf.keep_alive,
            waited: Duration::ZERO,
        })
    }

    /// How long until the next event is due (`max-emit-speed` = false), if it is not yet.
    fn not_due_for(&self) -> Option<Duration> {
        if self.max_emit_speed {
            return None;
        }
        let c = self.generator.config();
        let count = self.generator.events_count_so_far();
        let event_time = c.timestamp_for_event(c.next_event_number(count));
        let due = self.generator.wallclock_base_time() + (event_time - c.base_time());
        let wait = due - now_millis();
        (wait > 0).then(|| Duration::from_millis(wait as u64))
    }

    fn sleep(&mut self, d: Duration) {
        let started = Instant::now();
        std::thread::sleep(d.min(Duration::from_millis(100)));
        self.waited += started.elapsed();
    }
}

/// The position of subtask `subtask` among a checkpoint's `positions`.
fn restore_position(
    table: &str,
    positions: &[Vec<u8>],
    subtask: SubtaskInfo,
) -> Result<Position, ConnectorError> {
    let decoded: Vec<Position> = positions
        .iter()
        .map(|b| Position::decode(b))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            ConnectorError::Other(format!(
                "table '{table}': the checkpoint's nexmark positions are not readable (written by \
                 another version?)"
            ))
        })?;
    let old = decoded.first().map_or(0, |p| p.parallelism);
    if old != subtask.parallelism || decoded.len() != old as usize {
        return Err(ConnectorError::Other(format!(
            "table '{table}': a nexmark source checkpointed at parallelism {old} can only resume \
             at parallelism {old} (its events depend on the parallelism); this run has {}",
            subtask.parallelism
        )));
    }
    decoded
        .into_iter()
        .find(|p| p.index == subtask.index)
        .ok_or_else(|| {
            ConnectorError::Other(format!(
                "table '{table}': the checkpoint has no nexmark position for subtask {}",
                subtask.index
            ))
        })
}

impl SourceReader for NexmarkReader {
    fn wait_time(&self) -> Duration {
        self.waited
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        let fields = self.schema.fields().clone();
        let mut builders: Vec<ColumnBuilder> = self
            .columns
            .iter()
            .zip(fields.iter())
            .map(|(c, f)| ColumnBuilder::new(c, f.data_type().clone(), self.batch_rows))
            .collect();
        let mut rows = 0;
        while rows < self.batch_rows && self.generator.has_next() {
            if let Some(wait) = self.not_due_for() {
                if rows > 0 {
                    break;
                }
                self.sleep(wait);
                if self.not_due_for().is_some() {
                    break;
                }
            }
            let Some(next) = self.generator.next_ref() else {
                break;
            };
            let event_type = match next.event {
                EventRef::Person(_) => 0,
                EventRef::Auction(_) => 1,
                EventRef::Bid(_) => 2,
            };
            for b in &mut builders {
                b.append(event_type, &next.event);
            }
            rows += 1;
        }
        if rows == 0 && !self.generator.has_next() {
            if !self.keep_alive {
                return Ok(None);
            }
            self.sleep(Duration::from_millis(100));
        }
        let arrays = builders
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect::<Result<Vec<_>, _>>()?;
        let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
            .map(Some)
            .map_err(|e| ConnectorError::Other(format!("building a nexmark batch: {e}")))
    }

    fn snapshot_position(&mut self) -> Result<Option<Vec<u8>>, ConnectorError> {
        Ok(Some(
            Position {
                parallelism: self.subtask.parallelism,
                index: self.subtask.index,
                count: self.generator.events_count_so_far(),
                rng: self.generator.rng_state(),
                wallclock_base: self.generator.wallclock_base_time(),
            }
            .encode(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nexmark::NexmarkConnector;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int32Type;
    use std::collections::BTreeMap;
    use strom_plan::{Column, RowSchema, SqlType};
    use strom_runtime::ConnectorFactory;

    fn col(name: &str, ty: SqlType) -> Column {
        Column {
            name: name.into(),
            ty,
            nullable: true,
        }
    }

    fn table(options: &[(&str, &str)]) -> TableSpec {
        let bid = SqlType::Row(vec![
            col("auction", SqlType::BigInt),
            col("price", SqlType::BigInt),
            col("dateTime", SqlType::Timestamp(3)),
            col("channel", SqlType::String),
        ]);
        let person = SqlType::Row(vec![col("ID", SqlType::BigInt)]);
        let mut opts: BTreeMap<String, String> = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        opts.insert("connector".into(), "nexmark".into());
        TableSpec {
            name: "nx".into(),
            schema: RowSchema::new(vec![
                col("event_type", SqlType::Int),
                col("person", person),
                col("bid", bid),
            ]),
            options: opts,
            watermark: None,
            primary_key: vec![],
            partition_keys: vec![],
        }
    }

    fn read_all(reader: &mut dyn SourceReader) -> Vec<RecordBatch> {
        let mut out = vec![];
        while let Some(b) = reader.next_batch().unwrap() {
            out.push(b);
        }
        out
    }

    #[test]
    fn rows_follow_the_generator_and_are_null_for_other_kinds() {
        let t = table(&[("events.num", "1000")]);
        let sub = SubtaskInfo {
            index: 0,
            parallelism: 1,
        };
        let mut r = NexmarkConnector
            .create_reader(&t, &[0, 2, 1], sub, 300)
            .unwrap();
        let batches = read_all(r.as_mut());
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1000);
        let spec = Spec::parse(&t).unwrap();
        let events: Vec<_> = NexmarkGenerator::new(spec.reader_config(sub)).collect();
        let mut i = 0;
        for b in &batches {
            let types = b.column(0).as_primitive::<Int32Type>();
            let bids = b.column(1).as_struct();
            let people = b.column(2).as_struct();
            for row in 0..b.num_rows() {
                let e = &events[i].event;
                assert_eq!(types.value(row), e.event_type());
                assert_eq!(bids.is_valid(row), e.event_type() == 2);
                assert_eq!(people.is_valid(row), e.event_type() == 0);
                if let crate::nexmark::Event::Bid(bid) = e {
                    let price = bids.column(1).as_primitive::<arrow::datatypes::Int64Type>();
                    assert_eq!(price.value(row), bid.price);
                    assert_eq!(bids.column(3).as_string::<i32>().value(row), bid.channel);
                }
                i += 1;
            }
        }
    }

    #[test]
    fn subtasks_split_the_events_and_resume_from_a_position() {
        let t = table(&[("events.num", "1001")]);
        let mut total = 0;
        for index in 0..3 {
            let sub = SubtaskInfo {
                index,
                parallelism: 3,
            };
            let whole: usize = read_all(
                NexmarkConnector
                    .create_reader(&t, &[0], sub, 64)
                    .unwrap()
                    .as_mut(),
            )
            .iter()
            .map(|b| b.num_rows())
            .sum();
            total += whole;
            let mut r = NexmarkConnector
                .create_reader(&t, &[0, 2], sub, 64)
                .unwrap();
            let first = r.next_batch().unwrap().unwrap();
            let pos = r.snapshot_position().unwrap().unwrap();
            let rest = read_all(r.as_mut());
            let positions: Vec<Vec<u8>> = (0..3)
                .map(|i| {
                    let mut p = Position::decode(&pos).unwrap();
                    p.index = i;
                    p.encode()
                })
                .collect();
            let mut restored = NexmarkConnector
                .restore_reader(&t, &[0, 2], sub, 64, &positions)
                .unwrap();
            assert_eq!(read_all(restored.as_mut()), rest);
            assert_eq!(
                first.num_rows() + rest.iter().map(|b| b.num_rows()).sum::<usize>(),
                whole
            );
            let other = SubtaskInfo {
                index: 0,
                parallelism: 2,
            };
            let err = NexmarkConnector
                .restore_reader(&t, &[0], other, 64, &positions)
                .err()
                .unwrap();
            assert!(err.to_string().contains("parallelism 3"), "{err}");
        }
        assert_eq!(total, 1001);
    }

    #[test]
    fn bad_tables_get_clear_errors() {
        let msg = |t: &TableSpec| NexmarkConnector.validate(t, true).unwrap_err().to_string();
        assert!(msg(&table(&[("events.nm", "5")])).contains("unsupported option 'events.nm'"));
        assert!(msg(&table(&[("seed", "x")])).contains("'seed' = 'x' is not an integer"));
        let mut t = table(&[]);
        t.schema.columns[2] = col("bid", SqlType::Row(vec![col("price", SqlType::Int)]));
        assert!(msg(&t).contains("'bid.price' has type INT"), "{}", msg(&t));
        t.schema.columns[2] = col("bid", SqlType::Row(vec![col("cost", SqlType::BigInt)]));
        assert!(msg(&t).contains("field 'cost' of column 'bid' is not a bid field"));
        t.schema.columns[2] = col("other", SqlType::BigInt);
        assert!(msg(&t).contains("'other' is not a column of the nexmark source"));
        assert!(NexmarkConnector.validate(&table(&[]), false).is_err());
        assert!(!NexmarkConnector.is_bounded(&table(&[])));
        assert!(NexmarkConnector.is_bounded(&table(&[("events.num", "10")])));
    }

    #[test]
    fn paced_reader_emits_at_the_event_rate() {
        let t = table(&[
            ("events.num", "40"),
            ("first-event.rate", "200"),
            ("max-emit-speed", "false"),
        ]);
        let sub = SubtaskInfo {
            index: 0,
            parallelism: 1,
        };
        let started = Instant::now();
        let mut r = NexmarkConnector.create_reader(&t, &[0], sub, 1000).unwrap();
        let rows: usize = read_all(r.as_mut()).iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 40);
        // 40 events at 200/s span 195 ms of event time
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert!(r.wait_time() > Duration::ZERO);
    }
}
