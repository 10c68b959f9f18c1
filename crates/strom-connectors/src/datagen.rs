//! The `datagen` connector (Flink's options), a source of generated rows.
//!
//! ```sql
//! CREATE TABLE t (...) WITH (
//!   'connector' = 'datagen',
//!   'number-of-rows' = '1000000',   -- total over all subtasks; absent = unbounded
//!   'rows-per-second' = '10000',    -- total rate over all subtasks; absent = as fast as possible
//!   'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '1000',
//!   'fields.v.min' = '0', 'fields.v.max' = '100',
//!   'fields.s.length' = '10', 'fields.s.null-rate' = '0.1',
//!   'fields.ts.max-past' = '5 s'
//! );
//! ```
//!
//! Every value is a pure function of the row index (and column index), so output is
//! reproducible and independent of the parallelism: bounded tables split the index range, so
//! subtask `k` of `p` generates rows `[k*n/p, (k+1)*n/p)` in order; unbounded tables interleave
//! (`k, k+p, k+2p, ...`).
//!
//! **Checkpoints.** A reader's position is the row indices it has left (see [`position`]); a
//! restored reader at the same parallelism generates exactly the rows the uninterrupted run
//! would have. A bounded table may be restored at another parallelism (the rows left are split
//! again); an unbounded one cannot (a clear error asks for the old parallelism).
//!
//! Field kinds (`'fields.<col>.kind'`):
//! - `random` (default): numbers uniform in `['fields.<col>.min', 'fields.<col>.max']` (default
//!   the type's range); strings of `'fields.<col>.length'` (default 100) random lowercase hex
//!   characters; booleans; `TIMESTAMP(p)` of row `i` is `2024-01-01 00:00:00.000 + i ms` minus a
//!   random offset up to `'fields.<col>.max-past'` (a duration like `'5 s'`, default 0); `DATE`
//!   is the date of that timestamp. `'fields.<col>.null-rate'` (0..1, default 0) makes that
//!   fraction of values NULL. The random source is splitmix64 of row index and column index.
//! - `sequence`: `start + i` for row `i` (`'fields.<col>.start'`/`'fields.<col>.end'`,
//!   inclusive, both required), for integer, decimal, float and string columns. A table with a
//!   sequence field is bounded by the shortest sequence (Flink's rule).
//!
//! **Strom extension: `'generator' = 'bids'`** produces the benchmark's bid rows, exactly the
//! rows of `shared/bench/gen_bids.rs`: row `i` gives `auction, bidder, price, channel, url,
//! date_time, extra` (see [`crate::bids`]). The table's columns must be a subset of those
//! names, in any order, with the types `BIGINT` (auction, bidder, price), `STRING` (channel,
//! url, extra) and `TIMESTAMP(3)` (date_time). Only projected columns are computed.

pub mod position;

use crate::bids::{self, BidColumn};
use crate::check_projection;
use crate::text;
use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int16Array,
    Int32Array, Int64Array, Int8Array, RecordBatch, RecordBatchOptions, StringArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strom_plan::{SqlType, TableSpec};
use strom_runtime::connector::DEFAULT_BATCH_ROWS;
use strom_runtime::{ConnectorError, ConnectorFactory, SinkWriter, SourceReader, SubtaskInfo};

const TABLE_KEYS: &[&str] = &[
    "connector",
    "number-of-rows",
    "rows-per-second",
    "generator",
];
const FIELD_KEYS: &[&str] = &[
    "kind",
    "min",
    "max",
    "length",
    "start",
    "end",
    "max-past",
    "null-rate",
];
const NULL_SALT: u64 = 0x6E75_6C6C;

/// The `datagen` connector.
#[derive(Debug, Default)]
pub struct DatagenConnector;

#[derive(Debug, Clone)]
enum Random {
    Int { min: i64, max: i64 },
    Float { min: f64, max: f64 },
    Dec { min: i128, max: i128 },
    Str { len: usize },
    Bool,
    Time { max_past_ms: u64 },
}

#[derive(Debug, Clone)]
enum FieldGen {
    Random(Random),
    Sequence { start: i64, end: i64 },
}

#[derive(Debug, Clone)]
struct Field {
    ty: SqlType,
    gen: FieldGen,
    null_rate: f64,
}

#[derive(Debug, Clone)]
enum Generator {
    Bids(Vec<BidColumn>),
    Fields(Vec<Field>),
}

#[derive(Debug, Clone)]
struct Spec {
    /// Total rows (None = unbounded).
    rows: Option<u64>,
    rows_per_second: Option<f64>,
    generator: Generator,
}

fn bad(table: &TableSpec, message: String) -> ConnectorError {
    ConnectorError::BadOption {
        table: table.name.clone(),
        message,
    }
}

/// Parses a duration like `'5 s'`, `'100ms'`, `'2 min'`, `'1 h'`, `'1 d'` (plain number = ms).
fn parse_duration_ms(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..split].parse().ok()?;
    let mult = match t[split..].trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn int_range(ty: &SqlType) -> Option<(i64, i64)> {
    Some(match ty {
        SqlType::TinyInt => (i8::MIN as i64, i8::MAX as i64),
        SqlType::SmallInt => (i16::MIN as i64, i16::MAX as i64),
        SqlType::Int => (i32::MIN as i64, i32::MAX as i64),
        SqlType::BigInt => (i64::MIN, i64::MAX),
        _ => return None,
    })
}

impl Spec {
    fn parse(table: &TableSpec) -> Result<Spec, ConnectorError> {
        check_keys(table)?;
        let mut rows = match table.option("number-of-rows") {
            None => None,
            Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                bad(table, format!("'number-of-rows' = '{v}' is not a non-negative integer; give the total row count"))
            })?),
        };
        let rows_per_second = match table.option("rows-per-second") {
            None => None,
            Some(v) => match v.trim().parse::<f64>() {
                Ok(x) if x > 0.0 && x.is_finite() => Some(x),
                _ => {
                    return Err(bad(
                        table,
                        format!("'rows-per-second' = '{v}' is not a positive number; give rows per second over all subtasks"),
                    ))
                }
            },
        };
        let generator = match table.option("generator") {
            Some(g) if g.trim().eq_ignore_ascii_case("bids") => bids_generator(table)?,
            Some(g) => {
                return Err(bad(
                    table,
                    format!("unknown datagen 'generator' = '{g}'; supported: 'bids' (or leave it out for per-field generators)"),
                ))
            }
            None => {
                let mut fields = Vec::new();
                for c in &table.schema.columns {
                    let f = Self::field(table, &c.name, &c.ty)?;
                    if let FieldGen::Sequence { start, end } = f.gen {
                        let len = (end as i128 - start as i128 + 1) as u128;
                        let len = u64::try_from(len).unwrap_or(u64::MAX);
                        rows = Some(rows.map_or(len, |r| r.min(len)));
                    }
                    fields.push(f);
                }
                Generator::Fields(fields)
            }
        };
        Ok(Spec {
            rows,
            rows_per_second,
            generator,
        })
    }

    fn field(table: &TableSpec, col: &str, ty: &SqlType) -> Result<Field, ConnectorError> {
        let f = FieldOptions { table, col, ty };
        let null_rate = match f.opt("null-rate") {
            None => 0.0,
            Some(v) => match v.trim().parse::<f64>() {
                Ok(x) if (0.0..=1.0).contains(&x) => x,
                _ => {
                    return Err(bad(
                        table,
                        format!(
                            "'{}' = '{v}' must be a number between 0 and 1",
                            f.key("null-rate")
                        ),
                    ))
                }
            },
        };
        let kind = f.opt("kind").map(|k| k.trim().to_ascii_lowercase());
        let gen = match kind.as_deref() {
            Some("sequence") => f.sequence()?,
            None | Some("random") => f.random()?,
            Some(k) => {
                return Err(bad(
                    table,
                    format!(
                        "'fields.{col}.kind' = '{k}' is not supported; use 'random' or 'sequence'"
                    ),
                ))
            }
        };
        Ok(Field {
            ty: ty.clone(),
            gen,
            null_rate,
        })
    }
}

/// Every option is a known table option or `fields.<column>.<field option>` of a column.
fn check_keys(table: &TableSpec) -> Result<(), ConnectorError> {
    for key in table.options.keys() {
        if let Some(rest) = key.strip_prefix("fields.") {
            let Some((col, opt)) = rest.rsplit_once('.') else {
                return Err(bad(
                    table,
                    format!("datagen option '{key}' should be 'fields.<column>.<option>'"),
                ));
            };
            if table.schema.columns.iter().all(|c| c.name != col) {
                return Err(bad(
                    table,
                    format!(
                        "datagen option '{key}' names column '{col}', which the table does not have; columns: {}",
                        table.schema.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            if !FIELD_KEYS.contains(&opt) {
                return Err(bad(
                    table,
                    format!(
                        "unsupported datagen option '{key}'; field options: {}",
                        FIELD_KEYS.join(", ")
                    ),
                ));
            }
        } else if !TABLE_KEYS.contains(&key.as_str()) {
            return Err(bad(
                table,
                format!(
                    "unsupported datagen option '{key}'; supported: {}, fields.<column>.<{}>",
                    TABLE_KEYS.join(", "),
                    FIELD_KEYS.join("|")
                ),
            ));
        }
    }
    Ok(())
}

/// `'generator' = 'bids'`: every column is a bid column of its type, and no field options.
fn bids_generator(table: &TableSpec) -> Result<Generator, ConnectorError> {
    if let Some(k) = table.options.keys().find(|k| k.starts_with("fields.")) {
        return Err(bad(
            table,
            format!("option '{k}' does not apply with 'generator' = 'bids'; remove it"),
        ));
    }
    let mut cols = Vec::new();
    for c in &table.schema.columns {
        let Some(b) = BidColumn::from_name(&c.name) else {
            return Err(bad(
                table,
                format!(
                    "column '{}' is not a bid column; with 'generator' = 'bids' the columns must be among: {}",
                    c.name,
                    bids::BID_COLUMNS.iter().map(|(n, t)| format!("{n} {t}")).collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        if c.ty != b.sql_type() {
            return Err(bad(
                table,
                format!(
                    "bid column '{}' has type {} but the bids generator produces {}; declare it as {}",
                    c.name,
                    c.ty,
                    b.sql_type(),
                    b.sql_type()
                ),
            ));
        }
        cols.push(b);
    }
    Ok(Generator::Bids(cols))
}

/// The `fields.<col>.*` options of one column.
struct FieldOptions<'a> {
    table: &'a TableSpec,
    col: &'a str,
    ty: &'a SqlType,
}

impl FieldOptions<'_> {
    fn opt(&self, o: &str) -> Option<&str> {
        self.table.option(&format!("fields.{}.{o}", self.col))
    }

    fn key(&self, o: &str) -> String {
        format!("fields.{}.{o}", self.col)
    }

    fn bad(&self, message: String) -> ConnectorError {
        bad(self.table, message)
    }

    /// `'kind' = 'sequence'`: `start` to `end`, within the column's type.
    fn sequence(&self) -> Result<FieldGen, ConnectorError> {
        let (col, ty) = (self.col, self.ty);
        let get = |o: &str| -> Result<i64, ConnectorError> {
            let v = self.opt(o).ok_or_else(|| {
                self.bad(format!(
                    "sequence column '{col}' needs '{}' (an integer)",
                    self.key(o)
                ))
            })?;
            v.trim()
                .parse::<i64>()
                .map_err(|_| self.bad(format!("'{}' = '{v}' is not an integer", self.key(o))))
        };
        let (start, end) = (get("start")?, get("end")?);
        if end < start {
            return Err(self.bad(format!(
                "sequence column '{col}': 'end' ({end}) is below 'start' ({start})"
            )));
        }
        match ty {
            SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt => {
                let (lo, hi) = int_range(ty).unwrap_or((i64::MIN, i64::MAX));
                if start < lo || end > hi {
                    return Err(self.bad(format!(
                        "sequence column '{col}': {start}..{end} does not fit {ty}"
                    )));
                }
            }
            SqlType::Decimal(p, s) => {
                for v in [start, end] {
                    let scaled = (v as i128).checked_mul(text::pow10((*s).max(0) as u32));
                    if scaled.is_none_or(|x| x.abs() >= text::pow10(*p as u32)) {
                        return Err(
                            self.bad(format!("sequence column '{col}': {v} does not fit {ty}"))
                        );
                    }
                }
            }
            SqlType::Float | SqlType::Double | SqlType::String => {}
            _ => {
                return Err(self.bad(format!("column '{col}' ({ty}) cannot be a sequence; use 'kind' = 'random' (sequences: integer, decimal, float, string)")))
            }
        }
        if ["min", "max", "length", "max-past"]
            .iter()
            .any(|o| self.opt(o).is_some())
        {
            return Err(self.bad(format!("sequence column '{col}' takes 'start' and 'end' only (min, max, length, max-past are for random columns)")));
        }
        Ok(FieldGen::Sequence { start, end })
    }

    /// `'kind' = 'random'` (the default): values of the column's type within its options.
    fn random(&self) -> Result<FieldGen, ConnectorError> {
        self.check_random_options()?;
        let r = match self.ty {
            SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt => {
                self.random_int()?
            }
            SqlType::Float | SqlType::Double => self.random_float()?,
            SqlType::Decimal(p, s) => self.random_decimal(*p, *s)?,
            SqlType::String => {
                let len = match self.opt("length") {
                    None => 100,
                    Some(v) => v
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|l| *l <= 1 << 20)
                        .ok_or_else(|| {
                            self.bad(format!(
                                "'{}' = '{v}' is not a length (0..1048576)",
                                self.key("length")
                            ))
                        })?,
                };
                Random::Str { len }
            }
            SqlType::Boolean => Random::Bool,
            SqlType::Date | SqlType::Timestamp(_) => {
                let max_past_ms = match self.opt("max-past") {
                    None => 0,
                    Some(v) => parse_duration_ms(v).ok_or_else(|| {
                        self.bad(format!(
                            "'{}' = '{v}' is not a duration like '5 s', '100 ms', '1 min'",
                            self.key("max-past")
                        ))
                    })?,
                };
                Random::Time { max_past_ms }
            }
            SqlType::Row(_) | SqlType::Array(_) | SqlType::Map(..) => {
                return Err(self.bad(format!(
                    "datagen cannot generate column '{}' of type {}: nested types (ROW, ARRAY, MAP) are not generated yet",
                    self.col, self.ty
                )))
            }
        };
        let col = self.col;
        match &r {
            Random::Int { min, max } if min > max => {
                return Err(self.bad(format!(
                    "column '{col}': 'min' ({min}) is above 'max' ({max})"
                )))
            }
            Random::Float { min, max } if min > max => {
                return Err(self.bad(format!(
                    "column '{col}': 'min' ({min}) is above 'max' ({max})"
                )))
            }
            Random::Dec { min, max } if min > max => {
                return Err(self.bad(format!("column '{col}': 'min' is above 'max'")))
            }
            _ => {}
        }
        Ok(FieldGen::Random(r))
    }

    /// The options a random column takes are those of its type.
    fn check_random_options(&self) -> Result<(), ConnectorError> {
        let (col, ty) = (self.col, self.ty);
        if self.opt("start").is_some() || self.opt("end").is_some() {
            return Err(self.bad(format!(
                "'start'/'end' of column '{col}' need 'fields.{col}.kind' = 'sequence'"
            )));
        }
        let numeric = ty.is_numeric();
        if !numeric && (self.opt("min").is_some() || self.opt("max").is_some()) {
            return Err(self.bad(format!(
                "'min'/'max' apply to numeric columns, not to '{col}' ({ty})"
            )));
        }
        if !matches!(ty, SqlType::String) && self.opt("length").is_some() {
            return Err(self.bad(format!(
                "'length' applies to STRING columns, not to '{col}' ({ty})"
            )));
        }
        if !matches!(ty, SqlType::Timestamp(_) | SqlType::Date) && self.opt("max-past").is_some() {
            return Err(self.bad(format!(
                "'max-past' applies to TIMESTAMP and DATE columns, not to '{col}' ({ty})"
            )));
        }
        Ok(())
    }

    fn random_int(&self) -> Result<Random, ConnectorError> {
        let ty = self.ty;
        let (lo, hi) = int_range(ty).unwrap_or((i64::MIN, i64::MAX));
        let get = |o: &str, d: i64| -> Result<i64, ConnectorError> {
            match self.opt(o) {
                None => Ok(d),
                Some(v) => match v.trim().parse::<i64>() {
                    Ok(x) if x >= lo && x <= hi => Ok(x),
                    _ => Err(self.bad(format!("'{}' = '{v}' is not a {ty} value", self.key(o)))),
                },
            }
        };
        Ok(Random::Int {
            min: get("min", lo)?,
            max: get("max", hi)?,
        })
    }

    fn random_float(&self) -> Result<Random, ConnectorError> {
        let (lo, hi) = if matches!(self.ty, SqlType::Float) {
            (f32::MIN as f64, f32::MAX as f64)
        } else {
            (f64::MIN, f64::MAX)
        };
        let get = |o: &str, d: f64| -> Result<f64, ConnectorError> {
            match self.opt(o) {
                None => Ok(d),
                Some(v) => match v.trim().parse::<f64>() {
                    Ok(x) if x.is_finite() => Ok(x),
                    _ => Err(self.bad(format!("'{}' = '{v}' is not a finite number", self.key(o)))),
                },
            }
        };
        Ok(Random::Float {
            min: get("min", lo)?,
            max: get("max", hi)?,
        })
    }

    fn random_decimal(&self, p: u8, s: i8) -> Result<Random, ConnectorError> {
        let ty = self.ty;
        let lim = text::pow10(p as u32) - 1;
        let get = |o: &str, d: i128| -> Result<i128, ConnectorError> {
            match self.opt(o) {
                None => Ok(d),
                Some(v) => text::parse_decimal(v.as_bytes(), p, s).ok_or_else(|| {
                    self.bad(format!("'{}' = '{v}' is not a {ty} value", self.key(o)))
                }),
            }
        };
        Ok(Random::Dec {
            min: get("min", -lim)?,
            max: get("max", lim)?,
        })
    }
}

impl ConnectorFactory for DatagenConnector {
    fn name(&self) -> &'static str {
        "datagen"
    }

    fn validate(&self, table: &TableSpec, as_source: bool) -> Result<(), ConnectorError> {
        if !as_source {
            return Err(bad(
                table,
                "the datagen connector is a source only; write to 'blackhole', 'print' or 'filesystem' instead".into(),
            ));
        }
        Spec::parse(table).map(|_| ())
    }

    fn is_bounded(&self, table: &TableSpec) -> bool {
        Spec::parse(table).map(|s| s.rows.is_some()).unwrap_or(true)
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
        let segments = position::initial_segments(spec.rows, subtask);
        Ok(Box::new(DatagenReader::new(
            table, spec, projection, subtask, segments, batch_rows,
        )))
    }

    /// Resumes the rows of a checkpoint (see [`position`]): at the same parallelism each
    /// subtask continues its own rows; a bounded table may also change parallelism.
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
        let segments = position::restore_segments(&table.name, spec.rows, positions, subtask)?;
        Ok(Box::new(DatagenReader::new(
            table, spec, projection, subtask, segments, batch_rows,
        )))
    }

    fn create_writer(
        &self,
        table: &TableSpec,
        _subtask: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        Err(bad(
            table,
            "the datagen connector is a source only; it cannot be written to".into(),
        ))
    }
}

/// Generates one subtask's rows.
pub struct DatagenReader {
    generator: Generator,
    /// Table column indices to produce, in output order.
    projection: Vec<usize>,
    schema: SchemaRef,
    /// The table's row count (None = unbounded), for positions.
    rows: Option<u64>,
    subtask: SubtaskInfo,
    /// The row indices left to generate, in order.
    segments: Vec<position::Segment>,
    /// Rows produced by this reader (for the rate).
    emitted: u64,
    batch_rows: usize,
    /// Rows per second of this subtask.
    rate: Option<f64>,
    started: Option<Instant>,
    /// Time slept waiting for rows to be due (`rows-per-second`).
    waited: Duration,
}

impl DatagenReader {
    fn new(
        table: &TableSpec,
        spec: Spec,
        projection: &[usize],
        subtask: SubtaskInfo,
        segments: Vec<position::Segment>,
        batch_rows: usize,
    ) -> Self {
        let p = subtask.parallelism.max(1) as u64;
        let rate = spec.rows_per_second.map(|r| r / p as f64);
        let batch_rows = if batch_rows == 0 {
            DEFAULT_BATCH_ROWS
        } else {
            batch_rows
        };
        Self {
            generator: spec.generator,
            projection: projection.to_vec(),
            schema: table.schema.project(projection).to_arrow(),
            rows: spec.rows,
            subtask,
            segments,
            emitted: 0,
            batch_rows,
            rate,
            started: None,
            waited: Duration::ZERO,
        }
    }
}

impl SourceReader for DatagenReader {
    fn wait_time(&self) -> Duration {
        self.waited
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        while self.segments.first().is_some_and(|s| s.remaining() == 0) {
            self.segments.remove(0);
        }
        let Some(seg) = self.segments.first().copied() else {
            return Ok(None);
        };
        let mut count = (self.batch_rows as u64).min(seg.remaining());
        if let Some(rate) = self.rate {
            // about 100 batches per second (every 10 ms), each released at its scheduled time
            count = count.min(((rate / 100.0).ceil() as u64).max(1));
            let started = *self.started.get_or_insert_with(Instant::now);
            let due = Duration::try_from_secs_f64(self.emitted as f64 / rate)
                .ok()
                .and_then(|d| started.checked_add(d));
            let now = Instant::now();
            match due {
                Some(due) if due > now => {
                    std::thread::sleep(due - now);
                    self.waited += now.elapsed();
                }
                Some(_) => {}
                // beyond what an Instant can hold: effectively never; check back hourly
                None => {
                    std::thread::sleep(Duration::from_secs(3600));
                    self.waited += now.elapsed();
                }
            }
        }
        let (first, stride) = (seg.next, seg.stride);
        let n = count as usize;
        let arrays: Vec<ArrayRef> = match &self.generator {
            Generator::Bids(cols) => {
                let wanted: Vec<BidColumn> = self.projection.iter().map(|&i| cols[i]).collect();
                bids::bid_columns(&wanted, first, stride, n)
                    .map_err(|e| ConnectorError::Other(format!("generating bids: {e}")))?
            }
            Generator::Fields(fields) => self
                .projection
                .iter()
                .map(|&c| generate(&fields[c], c, first, stride, n))
                .collect::<Result<_, _>>()
                .map_err(|e| ConnectorError::Other(format!("generating rows: {e}")))?,
        };
        self.segments[0].next = first.wrapping_add(count.wrapping_mul(stride));
        self.emitted += count;
        let options = RecordBatchOptions::new().with_row_count(Some(n));
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
            .map(Some)
            .map_err(|e| ConnectorError::Other(format!("building a datagen batch: {e}")))
    }

    /// The rows left to generate (see [`position`]).
    fn snapshot_position(&mut self) -> Result<Option<Vec<u8>>, ConnectorError> {
        Ok(Some(position::encode(
            self.rows,
            self.subtask,
            &self.segments,
        )))
    }
}

/// The random value of row `i`, column `c`, stream `salt`.
#[inline]
fn rand(i: u64, c: usize, salt: u64) -> u64 {
    bids::splitmix64(
        bids::splitmix64(i) ^ ((c as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93)) ^ salt,
    )
}

/// Uniform in `[min, max]` (inclusive), by 128-bit multiply (no modulo bias beyond 2^-64).
#[inline]
fn in_range(r: u64, min: i128, max: i128) -> i128 {
    let span = max.abs_diff(min) + 1;
    let offset = if span > u64::MAX as u128 {
        // the whole 64-bit range or more (wide decimals)
        rand_wide(r) % span
    } else {
        (r as u128 * span) >> 64
    };
    // two's complement: the sum is within [min, max]
    min.wrapping_add(offset as i128)
}

fn rand_wide(r: u64) -> u128 {
    ((bids::splitmix64(r) as u128) << 64) | r as u128
}

fn generate(
    f: &Field,
    c: usize,
    first: u64,
    stride: u64,
    n: usize,
) -> Result<ArrayRef, arrow::error::ArrowError> {
    let idx = |j: usize| first.wrapping_add(stride.wrapping_mul(j as u64));
    let nulls: Option<NullBuffer> = if f.null_rate > 0.0 {
        let threshold = (f.null_rate * 18_446_744_073_709_551_616.0) as u128;
        let valid: Vec<bool> = (0..n)
            .map(|j| (rand(idx(j), c, NULL_SALT) as u128) >= threshold)
            .collect();
        Some(NullBuffer::new(BooleanBuffer::from(valid)))
    } else {
        None
    };
    let ints = |j: usize| -> i128 {
        let i = idx(j);
        match &f.gen {
            FieldGen::Sequence { start, .. } => *start as i128 + i as i128,
            FieldGen::Random(Random::Int { min, max }) => {
                in_range(rand(i, c, 0), *min as i128, *max as i128)
            }
            FieldGen::Random(Random::Dec { min, max }) => in_range(rand(i, c, 0), *min, *max),
            _ => 0,
        }
    };
    let arr: ArrayRef = match (&f.ty, &f.gen) {
        (SqlType::TinyInt, _) => Arc::new(Int8Array::new(
            (0..n).map(|j| ints(j) as i8).collect::<Vec<_>>().into(),
            nulls,
        )),
        (SqlType::SmallInt, _) => Arc::new(Int16Array::new(
            (0..n).map(|j| ints(j) as i16).collect::<Vec<_>>().into(),
            nulls,
        )),
        (SqlType::Int, _) => Arc::new(Int32Array::new(
            (0..n).map(|j| ints(j) as i32).collect::<Vec<_>>().into(),
            nulls,
        )),
        (SqlType::BigInt, _) => Arc::new(Int64Array::new(
            (0..n).map(|j| ints(j) as i64).collect::<Vec<_>>().into(),
            nulls,
        )),
        (SqlType::Decimal(p, s), FieldGen::Sequence { start, .. }) => {
            let m = text::pow10((*s).max(0) as u32);
            let v: Vec<i128> = (0..n)
                .map(|j| (*start as i128 + idx(j) as i128) * m)
                .collect();
            Arc::new(Decimal128Array::new(v.into(), nulls).with_precision_and_scale(*p, *s)?)
        }
        (SqlType::Decimal(p, s), _) => {
            let v: Vec<i128> = (0..n).map(ints).collect();
            Arc::new(Decimal128Array::new(v.into(), nulls).with_precision_and_scale(*p, *s)?)
        }
        (SqlType::Float | SqlType::Double, gen) => {
            let v: Vec<f64> = (0..n)
                .map(|j| {
                    let i = idx(j);
                    match gen {
                        FieldGen::Sequence { start, .. } => *start as f64 + i as f64,
                        FieldGen::Random(Random::Float { min, max }) => {
                            let u = (rand(i, c, 0) >> 11) as f64 / (1u64 << 53) as f64;
                            min * (1.0 - u) + max * u
                        }
                        _ => 0.0,
                    }
                })
                .collect();
            if matches!(f.ty, SqlType::Float) {
                Arc::new(Float32Array::new(
                    v.into_iter().map(|x| x as f32).collect::<Vec<_>>().into(),
                    nulls,
                ))
            } else {
                Arc::new(Float64Array::new(v.into(), nulls))
            }
        }
        (SqlType::String, gen) => generate_strings(gen, &idx, c, n, nulls)?,
        (SqlType::Boolean, _) => {
            let v: Vec<bool> = (0..n).map(|j| rand(idx(j), c, 0) & 1 == 1).collect();
            Arc::new(BooleanArray::new(BooleanBuffer::from(v), nulls))
        }
        (SqlType::Timestamp(_) | SqlType::Date, gen) => {
            generate_times(&f.ty, gen, &idx, c, n, nulls)
        }
        (SqlType::Row(_) | SqlType::Array(_) | SqlType::Map(..), _) => {
            return Err(arrow::error::ArrowError::NotYetImplemented(format!(
                "datagen values of type {}",
                f.ty
            )))
        }
    };
    Ok(arr)
}

/// The values of a STRING column: a sequence's numbers, or random hex text.
fn generate_strings(
    gen: &FieldGen,
    idx: &impl Fn(usize) -> u64,
    c: usize,
    n: usize,
    nulls: Option<NullBuffer>,
) -> Result<ArrayRef, arrow::error::ArrowError> {
    let mut offsets: Vec<i32> = Vec::with_capacity(n + 1);
    offsets.push(0);
    let mut values: Vec<u8> = Vec::new();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for j in 0..n {
        let i = idx(j);
        match gen {
            FieldGen::Sequence { start, .. } => {
                let v = *start as i128 + i as i128;
                values.extend_from_slice(v.to_string().as_bytes());
            }
            FieldGen::Random(Random::Str { len }) => {
                let mut x = 0u64;
                for k in 0..*len {
                    if k % 16 == 0 {
                        x = rand(i, c, 1 + (k / 16) as u64);
                    }
                    values.push(HEX[(x & 15) as usize]);
                    x >>= 4;
                }
            }
            _ => {}
        }
        let end = i32::try_from(values.len()).map_err(|_| {
            arrow::error::ArrowError::ComputeError("string batch over 2 GiB".into())
        })?;
        offsets.push(end);
    }
    Ok(Arc::new(StringArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        values.into(),
        nulls,
    )?))
}

/// The values of a DATE or TIMESTAMP column: the rows' instants, random ones up to `max-past`
/// earlier.
fn generate_times(
    ty: &SqlType,
    gen: &FieldGen,
    idx: &impl Fn(usize) -> u64,
    c: usize,
    n: usize,
    nulls: Option<NullBuffer>,
) -> ArrayRef {
    let max_past = match gen {
        FieldGen::Random(Random::Time { max_past_ms }) => *max_past_ms,
        _ => 0,
    };
    let ms: Vec<i64> = (0..n)
        .map(|j| {
            let i = idx(j);
            let past = if max_past == 0 {
                0
            } else {
                in_range(rand(i, c, 0), 0, max_past as i128) as i64
            };
            bids::BASE_EPOCH_MS
                .saturating_add(i as i64)
                .saturating_sub(past)
        })
        .collect();
    match ty.to_arrow() {
        DataType::Date32 => Arc::new(Date32Array::new(
            ms.iter()
                .map(|m| m.div_euclid(86_400_000) as i32)
                .collect::<Vec<_>>()
                .into(),
            nulls,
        )),
        DataType::Timestamp(TimeUnit::Second, _) => Arc::new(TimestampSecondArray::new(
            ms.iter()
                .map(|m| m.div_euclid(1000))
                .collect::<Vec<_>>()
                .into(),
            nulls,
        )),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Arc::new(TimestampMicrosecondArray::new(
            ms.iter()
                .map(|m| m.saturating_mul(1000))
                .collect::<Vec<_>>()
                .into(),
            nulls,
        )),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => Arc::new(TimestampNanosecondArray::new(
            ms.iter()
                .map(|m| m.saturating_mul(1_000_000))
                .collect::<Vec<_>>()
                .into(),
            nulls,
        )),
        _ => Arc::new(TimestampMillisecondArray::new(ms.into(), nulls)),
    }
}

#[cfg(test)]
mod tests {
    mod checkpoint;

    use super::*;
    use std::collections::BTreeMap;
    use strom_plan::RowSchema;

    fn table(cols: &[(&str, SqlType)], opts: &[(&str, &str)]) -> TableSpec {
        let mut options: BTreeMap<String, String> = opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        options.insert("connector".into(), "datagen".into());
        TableSpec {
            name: "t".into(),
            schema: RowSchema::nullable(cols),
            options,
            watermark: None,
            primary_key: vec![],
            partition_keys: vec![],
        }
    }

    fn read_all(
        t: &TableSpec,
        projection: &[usize],
        k: u32,
        p: u32,
        batch: usize,
    ) -> Vec<RecordBatch> {
        let mut r = DatagenConnector
            .create_reader(
                t,
                projection,
                SubtaskInfo {
                    index: k,
                    parallelism: p,
                },
                batch,
            )
            .expect("reader");
        let mut out = Vec::new();
        while let Some(b) = r.next_batch().expect("batch") {
            out.push(b);
        }
        out
    }

    fn concat(batches: &[RecordBatch]) -> RecordBatch {
        arrow::compute::concat_batches(&batches[0].schema(), batches).expect("concat")
    }

    #[test]
    fn random_is_deterministic_and_split_across_subtasks() {
        let t = table(
            &[
                ("id", SqlType::BigInt),
                ("v", SqlType::Int),
                ("s", SqlType::String),
                ("d", SqlType::Decimal(10, 2)),
                ("ts", SqlType::Timestamp(3)),
                ("b", SqlType::Boolean),
                ("f", SqlType::Double),
            ],
            &[
                ("number-of-rows", "1000"),
                ("fields.id.kind", "sequence"),
                ("fields.id.start", "1"),
                ("fields.id.end", "5000"),
                ("fields.v.min", "-5"),
                ("fields.v.max", "5"),
                ("fields.s.length", "7"),
                ("fields.d.min", "1.50"),
                ("fields.d.max", "2.00"),
                ("fields.f.null-rate", "0.25"),
            ],
        );
        DatagenConnector.validate(&t, true).expect("valid");
        assert!(DatagenConnector.is_bounded(&t));
        let all: Vec<usize> = (0..7).collect();
        let one = concat(&read_all(&t, &all, 0, 1, 128));
        assert_eq!(one.num_rows(), 1000);
        // same rows on a second run and when split over 3 subtasks (concatenated in order)
        assert_eq!(concat(&read_all(&t, &all, 0, 1, 77)), one);
        let mut parts = Vec::new();
        let mut counts = Vec::new();
        for k in 0..3 {
            let b = read_all(&t, &all, k, 3, 100);
            counts.push(b.iter().map(|b| b.num_rows()).sum::<usize>());
            parts.extend(b);
        }
        assert_eq!(counts, vec![333, 333, 334]);
        assert_eq!(concat(&parts), one);
        // value checks against the options
        use arrow::array::AsArray;
        let ids = one.column(0).as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!(
            ids.values().iter().copied().collect::<Vec<_>>(),
            (1..=1000).collect::<Vec<i64>>()
        );
        let v = one.column(1).as_primitive::<arrow::datatypes::Int32Type>();
        assert!(v.values().iter().all(|x| (-5..=5).contains(x)));
        assert!(
            (-5..=5).all(|x| v.values().contains(&x)),
            "all values of a small range appear"
        );
        let s = one.column(2).as_string::<i32>();
        assert!(s
            .iter()
            .all(|x| x.is_some_and(|x| x.len() == 7 && x.bytes().all(|b| b.is_ascii_hexdigit()))));
        let d = one
            .column(3)
            .as_primitive::<arrow::datatypes::Decimal128Type>();
        assert!(d.values().iter().all(|x| (150..=200).contains(x)));
        let ts = one
            .column(4)
            .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        assert_eq!(ts.value(0), bids::BASE_EPOCH_MS);
        assert_eq!(ts.value(999), bids::BASE_EPOCH_MS + 999);
        let nulls = one.column(6).null_count();
        assert!(
            (150..350).contains(&nulls),
            "null-rate 0.25 of 1000 gave {nulls}"
        );
        // projection in another order gives the same column values
        let proj = concat(&read_all(&t, &[2, 0], 0, 1, 1000));
        assert_eq!(proj.column(0), one.column(2));
        assert_eq!(proj.column(1), one.column(0));
    }

    #[test]
    fn wide_ranges_do_not_overflow() {
        let t = table(
            &[
                ("d", SqlType::Decimal(38, 0)),
                ("i", SqlType::BigInt),
                ("x", SqlType::TinyInt),
            ],
            &[("number-of-rows", "500")],
        );
        let b = concat(&read_all(&t, &[0, 1, 2], 0, 1, 500));
        use arrow::array::AsArray;
        let lim = text::pow10(38) - 1;
        let d = b
            .column(0)
            .as_primitive::<arrow::datatypes::Decimal128Type>();
        assert!(d.values().iter().all(|v| (-lim..=lim).contains(v)));
        assert!(d.values().iter().any(|v| *v < 0) && d.values().iter().any(|v| *v > 0));
        let i = b.column(1).as_primitive::<arrow::datatypes::Int64Type>();
        assert!(i.values().iter().any(|v| *v < 0) && i.values().iter().any(|v| *v > 0));
        assert_eq!(in_range(u64::MAX, -3, 3), 3);
        assert_eq!(in_range(0, -3, 3), -3);
    }

    #[test]
    fn sequence_bounds_the_table() {
        let t = table(
            &[("id", SqlType::Int)],
            &[
                ("fields.id.kind", "sequence"),
                ("fields.id.start", "10"),
                ("fields.id.end", "19"),
            ],
        );
        assert!(DatagenConnector.is_bounded(&t));
        let b = concat(&read_all(&t, &[0], 1, 2, 3));
        use arrow::array::AsArray;
        assert_eq!(
            b.column(0)
                .as_primitive::<arrow::datatypes::Int32Type>()
                .values()
                .to_vec(),
            vec![15, 16, 17, 18, 19]
        );
        let u = table(&[("id", SqlType::Int)], &[]);
        assert!(!DatagenConnector.is_bounded(&u));
    }

    #[test]
    fn unbounded_interleaves_and_rate_limits() {
        let t = table(&[("id", SqlType::BigInt)], &[("rows-per-second", "200")]);
        let mut r = DatagenConnector
            .create_reader(
                &t,
                &[0],
                SubtaskInfo {
                    index: 0,
                    parallelism: 2,
                },
                1000,
            )
            .expect("reader");
        let start = Instant::now();
        let mut rows = 0;
        while rows < 30 {
            rows += r.next_batch().expect("ok").expect("unbounded").num_rows();
        }
        // 100 rows/s for this subtask: 30 rows take about 0.25 s at least
        assert!(
            start.elapsed() >= Duration::from_millis(200),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn validation_messages() {
        let err = |t: &TableSpec| {
            DatagenConnector
                .validate(t, true)
                .expect_err("invalid")
                .to_string()
        };
        let t = table(&[("x", SqlType::BigInt)], &[("fields.y.min", "1")]);
        assert!(err(&t).contains("column 'y'"), "{}", err(&t));
        let t = table(&[("x", SqlType::BigInt)], &[("fields.x.mni", "1")]);
        assert!(err(&t).contains("fields.x.mni"));
        let t = table(&[("x", SqlType::BigInt)], &[("number-of-rows", "-3")]);
        assert!(err(&t).contains("number-of-rows"));
        let t = table(
            &[("x", SqlType::BigInt)],
            &[("fields.x.min", "5"), ("fields.x.max", "1")],
        );
        assert!(err(&t).contains("above"));
        let t = table(&[("x", SqlType::Int)], &[("fields.x.max", "9999999999")]);
        assert!(err(&t).contains("INT"));
        let t = table(
            &[("auction", SqlType::BigInt), ("foo", SqlType::BigInt)],
            &[("generator", "bids")],
        );
        assert!(err(&t).contains("'foo' is not a bid column"), "{}", err(&t));
        let t = table(
            &[("date_time", SqlType::Timestamp(6))],
            &[("generator", "bids")],
        );
        assert!(err(&t).contains("TIMESTAMP(3)"), "{}", err(&t));
        let t = table(&[("price", SqlType::BigInt)], &[("generator", "auctions")]);
        assert!(err(&t).contains("'bids'"));
        let t = table(&[("x", SqlType::BigInt)], &[]);
        assert!(DatagenConnector.validate(&t, false).is_err());
        assert_eq!(parse_duration_ms("5 s"), Some(5000));
        assert_eq!(parse_duration_ms("100ms"), Some(100));
        assert_eq!(parse_duration_ms("2 min"), Some(120_000));
        assert_eq!(parse_duration_ms("x"), None);
    }

    #[test]
    fn bids_projection_matches_full_rows() {
        let names = [
            "extra",
            "date_time",
            "auction",
            "url",
            "price",
            "channel",
            "bidder",
        ];
        let cols: Vec<(&str, SqlType)> = names
            .iter()
            .map(|n| {
                (
                    *n,
                    BidColumn::from_name(n)
                        .map(|b| b.sql_type())
                        .unwrap_or(SqlType::Int),
                )
            })
            .collect();
        let t = table(&cols, &[("generator", "bids"), ("number-of-rows", "1000")]);
        DatagenConnector.validate(&t, true).expect("valid");
        let b = concat(&read_all(&t, &[2, 1], 1, 2, 256));
        assert_eq!(b.num_rows(), 500);
        use arrow::array::AsArray;
        let a = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
        let ts = b
            .column(1)
            .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        for j in 0..500 {
            let i = 500 + j as u64;
            assert_eq!(a.value(j), bids::auction(i));
            assert_eq!(ts.value(j), bids::date_time(i));
        }
    }
}
