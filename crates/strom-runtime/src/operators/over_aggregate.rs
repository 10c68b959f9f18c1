//! The OVER aggregate (Flink's `RowTimeRowsBoundedPrecedingFunction`,
//! `RowTimeRangeBoundedPrecedingFunction`, their unbounded and processing-time siblings): each
//! input row comes out with the aggregates of its frame within its partition appended.
//!
//! **Event time**: a row waits until the watermark passes its time; then the rows up to the
//! watermark are folded in time order (arrival order among equal times). A row at or behind
//! the watermark on arrival is late: dropped and counted, as Flink drops it.
//! **Processing time**: the rows of a batch are folded as they arrive, in the order of their
//! `PROCTIME()` values.
//!
//! Per partition the operator keeps the calls' retractable states (see
//! [`super::retracting`]) and, for a bounded frame, the rows in the frame: a `ROWS n PRECEDING`
//! frame drops its oldest row when the `n + 2`-th arrives; a `RANGE` frame drops the rows older
//! than the interval before the current time, after folding every row of that time (peers
//! share one result).
//!
//! **Checkpoints**: two Arrow IPC streams. The first holds the states, rows `(partition
//! keys..., call, value, n, isum, fsum)`; the second the rows kept (in a frame or waiting for
//! the watermark) with their partition's place in order and whether they wait. A restore keeps
//! the partitions whose key group it owns.

use super::retracting::{Calls, State, StateRow, Value};
use super::state_ipc;
use super::ttl::{Clock, ExpiringMap, Ttl};
use crate::error::TaskError;
use crate::operator::{Operator, Output, RestoreScope};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, TimestampMillisecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef, TimeUnit};
use datafusion::arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::scalar::ScalarValue;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use strom_plan::{OverAggregateSpec, OverFrame};

const SNAPSHOT_FORMATS: [&str; 2] = ["over-aggregate/v1-states", "over-aggregate/v1-rows"];

/// A row in a bounded frame: its time, its calls' arguments, the row (for checkpoints).
struct FrameRow {
    ts: i64,
    values: Vec<Value>,
    row: OwnedRow,
}

struct Partition {
    states: Vec<State>,
    frame: VecDeque<FrameRow>,
}

/// A row to fold: time, partition key, the row.
type Ready = (i64, Vec<u8>, OwnedRow);

pub struct OverAggregateOperator {
    spec: OverAggregateSpec,
    calls: Calls,
    keys: Option<RowConverter>,
    rows: RowConverter,
    input: SchemaRef,
    output: SchemaRef,
    /// With a state time-to-live, a partition no row was folded into for that long is dropped
    /// (Flink's `table.exec.state.ttl` of an OVER aggregate).
    partitions: ExpiringMap<Partition>,
    ttl: Option<Ttl>,
    clock: Clock,
    /// Event time: the rows waiting for the watermark, by time, in arrival order.
    pending: BTreeMap<i64, Vec<(Vec<u8>, OwnedRow)>>,
    watermark: i64,
    late: u64,
}

fn millis(col: &ArrayRef) -> Result<TimestampMillisecondArray, TaskError> {
    let ms = DataType::Timestamp(TimeUnit::Millisecond, None);
    let a = if col.data_type() == &ms {
        col.clone()
    } else {
        cast(col, &ms)?
    };
    Ok(
        a.as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>()
            .clone(),
    )
}

impl OverAggregateOperator {
    pub fn new(spec: &OverAggregateSpec) -> Result<Self, TaskError> {
        let input = &spec.input;
        let calls = Calls::new(input, &spec.aggregates, "an OVER aggregate")?;
        let keys = (!spec.partition_by.is_empty())
            .then(|| {
                RowConverter::new(
                    spec.partition_by
                        .iter()
                        .map(|c| SortField::new(input.columns[*c].ty.to_arrow()))
                        .collect(),
                )
            })
            .transpose()?;
        let rows = RowConverter::new(
            input
                .columns
                .iter()
                .map(|c| SortField::new(c.ty.to_arrow()))
                .collect(),
        )
        .map_err(|e| {
            TaskError::Deployment(format!(
                "an OVER aggregate cannot keep rows of these column types: {e}"
            ))
        })?;
        Ok(Self {
            spec: spec.clone(),
            calls,
            keys,
            rows,
            input: input.to_arrow(),
            output: spec.output.to_arrow(),
            partitions: ExpiringMap::new(spec.state_ttl_ms),
            ttl: Ttl::new(spec.state_ttl_ms),
            clock: Clock::default(),
            pending: BTreeMap::new(),
            watermark: i64::MIN,
            late: 0,
        })
    }

    /// Reads processing time from `clock` (tests move it by hand).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The partition key of each row of `batch`.
    fn partition_keys(&self, batch: &RecordBatch) -> Result<Vec<Vec<u8>>, TaskError> {
        Ok(match &self.keys {
            Some(k) => {
                let cols: Vec<ArrayRef> = self
                    .spec
                    .partition_by
                    .iter()
                    .map(|c| batch.column(*c).clone())
                    .collect();
                let rows = k.convert_columns(&cols)?;
                (0..batch.num_rows())
                    .map(|i| rows.row(i).as_ref().to_vec())
                    .collect()
            }
            None => vec![Vec::new(); batch.num_rows()],
        })
    }

    fn process(&mut self, batch: &RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        let times = millis(batch.column(self.spec.order_by))?;
        let keys = self.partition_keys(batch)?;
        let cols = batch.columns()[..self.input.fields().len()].to_vec();
        let rows = self.rows.convert_columns(&cols)?;
        if self.spec.processing_time {
            let now = strom_common::time::now_millis();
            let mut ready: Vec<Ready> = keys
                .into_iter()
                .enumerate()
                .map(|(i, k)| {
                    let ts = if times.is_valid(i) {
                        times.value(i)
                    } else {
                        now
                    };
                    (ts, k, rows.row(i).owned())
                })
                .collect();
            ready.sort_by_key(|r| r.0);
            return self.fold(ready, out);
        }
        for (i, k) in keys.into_iter().enumerate() {
            // a row without a time has no place in the order (Flink's rowtime is NOT NULL)
            if times.is_null(i) {
                continue;
            }
            let ts = times.value(i);
            if ts <= self.watermark {
                self.late += 1;
                continue;
            }
            self.pending
                .entry(ts)
                .or_default()
                .push((k, rows.row(i).owned()));
        }
        Ok(())
    }

    /// Folds the rows up to `watermark` and emits them with their aggregates.
    fn fire(&mut self, watermark: i64, out: &mut dyn Output) -> Result<(), TaskError> {
        let later = match watermark.checked_add(1) {
            Some(w) => self.pending.split_off(&w),
            None => BTreeMap::new(),
        };
        let due = std::mem::replace(&mut self.pending, later);
        let ready: Vec<Ready> = due
            .into_iter()
            .flat_map(|(ts, rows)| rows.into_iter().map(move |(k, r)| (ts, k, r)))
            .collect();
        self.fold(ready, out)
    }

    /// Folds `ready` (in time order) into their partitions; emits each row with its frame's
    /// aggregates.
    fn fold(&mut self, ready: Vec<Ready>, out: &mut dyn Output) -> Result<(), TaskError> {
        if let Some(ttl) = &mut self.ttl {
            let now = self.clock.now();
            self.partitions.set_now(now, ttl.sweep_due(now));
        }
        let mut start = 0;
        while start < ready.len() {
            // a chunk ends between two times, so that peers are folded together
            let mut end = (start + 8192).min(ready.len());
            while end < ready.len() && ready[end].0 == ready[end - 1].0 {
                end += 1;
            }
            let chunk = &ready[start..end];
            start = end;
            let batch = self.decode(chunk.iter().map(|r| &r.2))?;
            let args = self.calls.prepare(&batch)?;
            let mut results: Vec<Option<Vec<ScalarValue>>> = vec![None; chunk.len()];
            let mut i = 0;
            while i < chunk.len() {
                // the rows of one time
                let ts = chunk[i].0;
                let mut j = i;
                while j < chunk.len() && chunk[j].0 == ts {
                    j += 1;
                }
                self.fold_peers(chunk, i..j, &args, &mut results)?;
                i = j;
            }
            let results: Vec<Vec<ScalarValue>> = results
                .into_iter()
                .map(|r| r.ok_or_else(|| TaskError::Operator("a row was not folded".into())))
                .collect::<Result<_, _>>()?;
            let mut cols = batch.columns().to_vec();
            cols.extend(self.calls.result_columns(results.iter())?);
            out.emit(super::conform(&self.output, cols, chunk.len())?)?;
        }
        Ok(())
    }

    /// Folds rows `range` of `chunk` (all of one time), partition by partition.
    fn fold_peers(
        &mut self,
        chunk: &[Ready],
        range: std::ops::Range<usize>,
        args: &[super::retracting::Prepared],
        results: &mut [Option<Vec<ScalarValue>>],
    ) -> Result<(), TaskError> {
        let mut by_partition: Vec<(&[u8], Vec<usize>)> = Vec::new();
        for i in range {
            let k = chunk[i].1.as_slice();
            match by_partition.iter_mut().find(|(p, _)| *p == k) {
                Some((_, rows)) => rows.push(i),
                None => by_partition.push((k, vec![i])),
            }
        }
        for (key, rows) in by_partition {
            let calls = &self.calls;
            let part = self.partitions.entry_with(key, || Partition {
                states: calls.new_states(),
                frame: VecDeque::new(),
            });
            match self.spec.frame {
                OverFrame::Rows { preceding } => {
                    for i in rows {
                        let values = super::retracting::Calls::values(args, i);
                        self.calls.accumulate(&mut part.states, &values, 1);
                        if let Some(n) = preceding {
                            part.frame.push_back(FrameRow {
                                ts: chunk[i].0,
                                values,
                                row: chunk[i].2.clone(),
                            });
                            while part.frame.len() as u64 > n.saturating_add(1) {
                                let old = part.frame.pop_front().expect("a frame row");
                                self.calls.accumulate(&mut part.states, &old.values, -1);
                            }
                        }
                        results[i] = Some(self.calls.results(&part.states)?);
                    }
                }
                OverFrame::Range { preceding_ms } => {
                    let ts = chunk[rows[0]].0;
                    for &i in &rows {
                        let values = super::retracting::Calls::values(args, i);
                        self.calls.accumulate(&mut part.states, &values, 1);
                        if preceding_ms.is_some() {
                            part.frame.push_back(FrameRow {
                                ts,
                                values,
                                row: chunk[i].2.clone(),
                            });
                        }
                    }
                    if let Some(p) = preceding_ms {
                        let oldest = ts.saturating_sub(p);
                        while part.frame.front().is_some_and(|r| r.ts < oldest) {
                            let old = part.frame.pop_front().expect("a frame row");
                            self.calls.accumulate(&mut part.states, &old.values, -1);
                        }
                    }
                    let r = self.calls.results(&part.states)?;
                    for &i in &rows {
                        results[i] = Some(r.clone());
                    }
                }
            }
        }
        Ok(())
    }

    /// Input rows back as a batch.
    fn decode<'a>(
        &self,
        rows: impl Iterator<Item = &'a OwnedRow>,
    ) -> Result<RecordBatch, TaskError> {
        let rows: Vec<_> = rows.map(|r| r.row()).collect();
        let n = rows.len();
        let cols = self.rows.convert_rows(rows)?;
        super::conform(&self.input, cols, n)
    }

    fn snapshot_schemas(&self) -> [SchemaRef; 2] {
        let mut states: Vec<Field> = self
            .spec
            .partition_by
            .iter()
            .map(|c| {
                let col = &self.spec.input.columns[*c];
                Field::new(&col.name, col.ty.to_arrow(), true)
            })
            .collect();
        states.extend(Calls::snapshot_fields());
        let mut rows = state_ipc::fields_of(&self.spec.input);
        rows.push(Field::new("$pending", DataType::Boolean, false));
        [
            state_ipc::schema(states, SNAPSHOT_FORMATS[0], self.watermark),
            state_ipc::schema(rows, SNAPSHOT_FORMATS[1], self.watermark),
        ]
    }

    fn snapshot(&self) -> Result<Vec<u8>, TaskError> {
        let [state_schema, row_schema] = self.snapshot_schemas();
        // the states, with their partition keys
        let mut keys: Vec<&[u8]> = Vec::new();
        let mut state_rows: Vec<StateRow<'_>> = Vec::new();
        for (k, p) in self.partitions.iter() {
            state_rows.extend(Calls::state_rows(&p.states));
            keys.resize(state_rows.len(), k);
        }
        let states =
            Calls::keyed_state_batches(&state_schema, self.keys.as_ref(), &keys, &state_rows)?;
        // the rows kept: every frame (oldest first), then the rows waiting
        let mut kept: Vec<(&OwnedRow, bool)> = Vec::new();
        for p in self.partitions.values() {
            kept.extend(p.frame.iter().map(|r| (&r.row, false)));
        }
        for rows in self.pending.values() {
            kept.extend(rows.iter().map(|(_, r)| (r, true)));
        }
        let mut row_batches = Vec::new();
        for chunk in kept.chunks(8192) {
            let b = self.decode(chunk.iter().map(|(r, _)| *r))?;
            let mut cols = b.columns().to_vec();
            cols.push(Arc::new(BooleanArray::from(
                chunk.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
            )));
            row_batches.push(state_ipc::batch(&row_schema, cols, chunk.len())?);
        }
        Ok(state_ipc::concat_sections(&[
            state_ipc::write(&state_schema, &states)?,
            state_ipc::write(&row_schema, &row_batches)?,
        ]))
    }

    fn restore(&mut self, snapshots: &[Vec<u8>], scope: &RestoreScope) -> Result<(), TaskError> {
        // (restored partitions are as new)
        self.partitions.set_now(self.clock.now(), false);
        let [state_schema, row_schema] = self.snapshot_schemas();
        let k = self.spec.partition_by.len();
        let key_cols: Vec<usize> = (0..k).collect();
        let mut watermark = self.watermark;
        for bytes in snapshots {
            let sections = state_ipc::split_sections(bytes)?;
            let [states, rows] = sections.as_slice() else {
                return Err(TaskError::Operator(
                    "an OVER aggregate's state has two sections".into(),
                ));
            };
            let snap = state_ipc::read(states, SNAPSHOT_FORMATS[0], &state_schema)?;
            watermark = watermark.max(snap.watermark);
            for b in snap.batches {
                let b = state_ipc::owned(&b, &key_cols, scope)?;
                let keys = match &self.keys {
                    Some(conv) => Some(conv.convert_columns(&b.columns()[..k])?),
                    None => None,
                };
                for i in 0..b.num_rows() {
                    let key = keys
                        .as_ref()
                        .map_or(Vec::new(), |r| r.row(i).as_ref().to_vec());
                    let calls = &self.calls;
                    let p = self.partitions.entry_with(&key, || Partition {
                        states: calls.new_states(),
                        frame: VecDeque::new(),
                    });
                    Calls::restore_row(&mut p.states, Calls::state_row(&b.columns()[k..], i))?;
                }
            }
            let snap = state_ipc::read(rows, SNAPSHOT_FORMATS[1], &row_schema)?;
            let width = self.input.fields().len();
            for b in snap.batches {
                let b = state_ipc::owned(&b, &self.spec.partition_by, scope)?;
                let pending = b.column(width).as_boolean().clone();
                let input =
                    super::conform(&self.input, b.columns()[..width].to_vec(), b.num_rows())?;
                let keys = self.partition_keys(&input)?;
                let times = millis(input.column(self.spec.order_by))?;
                let rows = self.rows.convert_columns(input.columns())?;
                let args = self.calls.prepare(&input)?;
                for (i, key) in keys.into_iter().enumerate() {
                    let (ts, row) = (times.value(i), rows.row(i).owned());
                    if pending.value(i) {
                        self.pending.entry(ts).or_default().push((key, row));
                        continue;
                    }
                    let calls = &self.calls;
                    let p = self.partitions.entry_with(&key, || Partition {
                        states: calls.new_states(),
                        frame: VecDeque::new(),
                    });
                    p.frame.push_back(FrameRow {
                        ts,
                        values: Calls::values(&args, i),
                        row,
                    });
                }
            }
        }
        self.watermark = watermark;
        Ok(())
    }
}

impl Operator for OverAggregateOperator {
    fn name(&self) -> &str {
        "OverAggregate"
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        self.process(&batch, out)
    }

    fn process_watermark(&mut self, watermark: i64, out: &mut dyn Output) -> Result<(), TaskError> {
        if watermark <= self.watermark {
            return Ok(());
        }
        self.watermark = watermark;
        self.fire(watermark, out)?;
        out.emit_watermark(watermark)
    }

    fn finish(&mut self, out: &mut dyn Output) -> Result<(), TaskError> {
        // the end of input is a watermark at the end of time
        self.fire(i64::MAX, out)
    }

    fn late_records_dropped(&self) -> u64 {
        self.late
    }

    fn snapshot_state(&mut self, _checkpoint: u64) -> Result<Option<Vec<u8>>, TaskError> {
        self.snapshot().map(Some)
    }

    fn restore_state(&mut self, states: &[Vec<u8>], scope: &RestoreScope) -> Result<(), TaskError> {
        self.restore(states, scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::state_ipc::{rescale, route};
    use crate::operators::testkit::{col, Collect};
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::Int64Type;
    use proptest::prelude::*;
    use strom_plan::{AggCall, AggFunc, RowSchema, SqlType};

    /// A row: partition, time, value.
    type In = (i64, i64, Option<i64>);
    /// A step: rows, then perhaps a watermark.
    type Steps = Vec<(Vec<In>, Option<i64>)>;
    /// An output row: the input row, then COUNT(*), SUM(v), MIN(v), MAX(v).
    type Out = (
        i64,
        i64,
        Option<i64>,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );

    fn spec(frame: OverFrame) -> OverAggregateSpec {
        let input = RowSchema::new(vec![
            col("k", SqlType::BigInt),
            col("ts", SqlType::Timestamp(3)),
            col("v", SqlType::BigInt),
        ]);
        let call = |f: &str, arg: Option<usize>, name: &str| AggCall {
            func: AggFunc::named(f).unwrap(),
            arg,
            distinct: false,
            name: name.into(),
            result_type: SqlType::BigInt,
            literal: None,
            ignore_nulls: false,
        };
        let aggregates = vec![
            call("COUNT_STAR", None, "c"),
            call("SUM", Some(2), "s"),
            call("MIN", Some(2), "mn"),
            call("MAX", Some(2), "mx"),
        ];
        let mut output = input.columns.clone();
        output.extend(aggregates.iter().map(|a| col(&a.name, SqlType::BigInt)));
        OverAggregateSpec {
            input,
            partition_by: vec![0],
            order_by: 1,
            processing_time: false,
            frame,
            aggregates,
            state_ttl_ms: 0,
            output: RowSchema::new(output),
        }
    }

    /// With a state TTL of 100 ms, an unbounded OVER's partition no row was folded into for
    /// that long starts afresh, also after a restore.
    #[test]
    fn a_state_ttl_drops_partitions_not_written_for_that_long() {
        use crate::operators::ttl::Clock;
        use std::sync::atomic::{AtomicI64, Ordering};
        let s = OverAggregateSpec {
            state_ttl_ms: 100,
            ..spec(OverFrame::Rows { preceding: None })
        };
        let now = Arc::new(AtomicI64::new(0));
        let new_op = || {
            OverAggregateOperator::new(&s)
                .unwrap()
                .with_clock(Clock::manual(now.clone()))
        };
        let mut op = new_op();
        let mut out = Collect(vec![]);
        let at = |op: &mut OverAggregateOperator, t: i64, row: In, out: &mut Collect| {
            now.store(t, Ordering::Relaxed);
            op.process_batch(batch(&s, &[row]), out).unwrap();
            op.process_watermark(row.1, out).unwrap();
        };
        at(&mut op, 0, (1, 10, Some(5)), &mut out);
        at(&mut op, 50, (1, 20, Some(6)), &mut out); // count 2
        at(&mut op, 160, (1, 30, Some(7)), &mut out); // expired at 150: count 1
        let state = op.snapshot_state(1).unwrap().unwrap();
        now.store(200, Ordering::Relaxed);
        let mut op = new_op();
        op.restore_state(&[state], &RestoreScope::new(0, 1, 128))
            .unwrap();
        at(&mut op, 250, (1, 40, Some(8)), &mut out); // restored at 200: count 2
        at(&mut op, 360, (1, 50, Some(9)), &mut out); // expired: count 1
        let counts: Vec<i64> = rows(&out.0).iter().map(|r| r.3).collect();
        assert_eq!(counts, vec![1, 2, 1, 2, 1]);
    }

    fn batch(s: &OverAggregateSpec, rows: &[In]) -> RecordBatch {
        RecordBatch::try_new(
            s.input.to_arrow(),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    rows.iter().map(|r| r.1),
                )),
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap()
    }

    fn rows(batches: &[RecordBatch]) -> Vec<Out> {
        let mut v = Vec::new();
        for b in batches {
            let i = |c: usize| cast(b.column(c), &DataType::Int64).unwrap();
            let cols: Vec<ArrayRef> = (0..7).map(i).collect();
            let get = |c: usize, r: usize| {
                let a = cols[c].as_primitive::<Int64Type>();
                a.is_valid(r).then(|| a.value(r))
            };
            for r in 0..b.num_rows() {
                v.push((
                    get(0, r).unwrap(),
                    get(1, r).unwrap(),
                    get(2, r),
                    get(3, r).unwrap(),
                    get(4, r),
                    get(5, r),
                    get(6, r),
                ));
            }
        }
        v.sort();
        v
    }

    /// The answer computed naively: the rows not late, each with its frame's aggregates.
    fn expected(steps: &Steps, frame: OverFrame) -> (Vec<Out>, u64) {
        let mut wm = i64::MIN;
        let mut late = 0;
        let mut kept: Vec<(usize, In)> = Vec::new();
        for (rows, w) in steps {
            for r in rows {
                if r.1 <= wm {
                    late += 1;
                } else {
                    kept.push((kept.len(), *r));
                }
            }
            if let Some(w) = w {
                wm = wm.max(*w);
            }
        }
        let mut out = Vec::new();
        for (seq, r) in &kept {
            let mut part: Vec<&(usize, In)> = kept.iter().filter(|(_, x)| x.0 == r.0).collect();
            part.sort_by_key(|(s, x)| (x.1, *s));
            let frame_rows: Vec<&In> = match frame {
                OverFrame::Rows { preceding } => {
                    let pos = part.iter().position(|(s, _)| s == seq).unwrap();
                    let from = preceding.map_or(0, |n| pos.saturating_sub(n as usize));
                    part[from..=pos].iter().map(|(_, x)| x).collect()
                }
                OverFrame::Range { preceding_ms } => part
                    .iter()
                    .map(|(_, x)| x)
                    .filter(|x| x.1 <= r.1 && preceding_ms.is_none_or(|p| x.1 >= r.1 - p))
                    .collect(),
            };
            let vals: Vec<i64> = frame_rows.iter().filter_map(|x| x.2).collect();
            out.push((
                r.0,
                r.1,
                r.2,
                frame_rows.len() as i64,
                (!vals.is_empty()).then(|| vals.iter().sum()),
                vals.iter().min().copied(),
                vals.iter().max().copied(),
            ));
        }
        out.sort();
        (out, late)
    }

    fn frames() -> impl Strategy<Value = OverFrame> {
        prop_oneof![
            prop::option::of(0u64..4).prop_map(|preceding| OverFrame::Rows { preceding }),
            prop::option::of(0i64..15).prop_map(|preceding_ms| OverFrame::Range { preceding_ms }),
        ]
    }

    fn steps() -> impl Strategy<Value = Steps> {
        let row = (0i64..3, 0i64..40, prop::option::weighted(0.85, -5i64..20));
        prop::collection::vec(
            (
                prop::collection::vec(row, 0..8),
                prop::option::weighted(0.5, 0i64..40),
            ),
            1..8,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(192))]

        /// Checkpointed before step `cut` at parallelism p and restored at p2, the OVER
        /// aggregate emits every row that is not late with its frame's aggregates.
        #[test]
        fn over_aggregates_survive_a_restore_at_another_parallelism(
            frame in frames(),
            steps in steps(),
            cut in 0usize..10,
            p in 1u32..4,
            p2 in 1u32..4,
            max in 3u32..24,
        ) {
            let s = spec(frame);
            let new = || OverAggregateOperator::new(&s).unwrap();
            let mut ops: Vec<OverAggregateOperator> = (0..p).map(|_| new()).collect();
            let mut out = Collect(vec![]);
            let mut late = 0;
            for (i, (rows, w)) in steps.iter().enumerate() {
                if i == cut {
                    late += rescale(&mut ops, p2, max, new);
                }
                let n = ops.len() as u32;
                for (op, part) in ops.iter_mut().zip(route(&batch(&s, rows), &[0], n, max)) {
                    if part.num_rows() > 0 {
                        op.process_batch(part, &mut out).unwrap();
                    }
                }
                if let Some(w) = w {
                    for op in &mut ops {
                        op.process_watermark(*w, &mut out).unwrap();
                    }
                }
            }
            for op in &mut ops {
                op.finish(&mut out).unwrap();
            }
            late += ops.iter().map(|o| o.late_records_dropped()).sum::<u64>();
            let (want, want_late) = expected(&steps, frame);
            prop_assert_eq!(rows(&out.0), want);
            prop_assert_eq!(late, want_late);
        }
    }
}
