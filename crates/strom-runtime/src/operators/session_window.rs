//! The session window aggregate. Its input rows carry their own window `[ts, ts + gap)` (from
//! the SESSION window function); per partition key, overlapping windows merge into sessions
//! (as Flink's `TimeWindow.intersects`: touching windows merge too). A session fires when the
//! watermark reaches `end - 1`: its rows are aggregated and one row per session is emitted with
//! the session's `window_start`/`window_end`/`window_time`.
//!
//! Rows are kept (in their input batches) until their session fires, so any aggregate works,
//! DISTINCT ones included, and merging sessions is a list concatenation. A row whose own window
//! is behind the watermark and that joins no open session is late: dropped and counted.
//!
//! **Checkpoints**: a snapshot is one Arrow IPC stream (see [`super::state_ipc`]) of the rows
//! of the open sessions, session by session, as input rows plus `$session_start` and
//! `$session_end`; the schema's metadata holds the watermark. A restore keeps the rows whose
//! PARTITION BY key (hashed as the exchange in front of the operator hashes it) belongs to this
//! subtask and rebuilds their sessions exactly (rows in the same order); the restored watermark
//! is the maximum of the old subtasks' (see the aggregate's checkpoints).

use super::accumulators::Accumulator;
use super::aggregate::window_ends;
use crate::error::TaskError;
use crate::operator::{Operator, Output, RestoreScope};
use crate::operators::state_ipc;
use datafusion::arrow::array::{Array, ArrayRef, Int64Array, TimestampMillisecondArray};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use hashbrown::HashMap;
use std::collections::BTreeSet;
use std::sync::Arc;
use strom_plan::AggregateSpec;

/// One open session of a key: its window and its rows (stored batch, row).
#[derive(Debug)]
struct Session {
    start: i64,
    end: i64,
    rows: Vec<(u64, u32)>,
}

struct Stored {
    batch: RecordBatch,
    /// Rows of the batch in open sessions.
    live: usize,
}

const SNAPSHOT_FORMAT: &str = "strom-session-window-v1";

pub struct SessionWindowOperator {
    spec: AggregateSpec,
    gap: i64,
    /// Group-by columns that are partition keys (not window attributes).
    varying: Vec<usize>,
    window_end: usize,
    converter: RowConverter,
    key_ids: HashMap<Box<[u8]>, u32>,
    /// Per key id: open sessions, ordered by start, disjoint.
    sessions: Vec<Vec<Session>>,
    /// Every open session as (end, key id, start), to fire them in order.
    by_end: BTreeSet<(i64, u32, i64)>,
    store: HashMap<u64, Stored>,
    next_batch: u64,
    watermark: i64,
    late_dropped: u64,
    output: SchemaRef,
}

impl SessionWindowOperator {
    pub fn new(spec: &AggregateSpec) -> Result<Self, TaskError> {
        let gap = spec
            .session_gap_ms
            .ok_or_else(|| TaskError::Operator("a session aggregate needs a gap".into()))?;
        let window_end = spec
            .window_end_column
            .ok_or_else(|| TaskError::Operator("a session aggregate needs window_end".into()))?;
        let varying: Vec<usize> = spec
            .group_by
            .iter()
            .copied()
            .filter(|g| !spec.window_key_columns.contains(g))
            .collect();
        let converter = RowConverter::new(
            varying
                .iter()
                .map(|g| SortField::new(spec.input.columns[*g].ty.to_arrow()))
                .collect(),
        )?;
        Ok(Self {
            spec: spec.clone(),
            gap,
            varying,
            window_end,
            converter,
            key_ids: HashMap::new(),
            sessions: Vec::new(),
            by_end: BTreeSet::new(),
            store: HashMap::new(),
            next_batch: 0,
            watermark: i64::MIN,
            late_dropped: 0,
            output: spec.output.to_arrow(),
        })
    }

    fn key_ids(&mut self, batch: &RecordBatch) -> Result<Vec<u32>, TaskError> {
        if self.varying.is_empty() {
            if self.sessions.is_empty() {
                self.sessions.push(Vec::new());
            }
            return Ok(vec![0; batch.num_rows()]);
        }
        let cols: Vec<ArrayRef> = self
            .varying
            .iter()
            .map(|g| batch.column(*g).clone())
            .collect();
        let rows = self.converter.convert_columns(&cols)?;
        let mut ids = Vec::with_capacity(rows.num_rows());
        for r in rows.iter() {
            let next = self.sessions.len() as u32;
            let id = *self.key_ids.entry(r.as_ref().into()).or_insert(next);
            if id == next {
                self.sessions.push(Vec::new());
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// Adds one row with window `[start, end)` to key `k`'s sessions; false if it is late.
    fn add(&mut self, k: u32, start: i64, end: i64, row: (u64, u32)) -> bool {
        let list = &mut self.sessions[k as usize];
        let first = list.partition_point(|s| s.end < start);
        let mut last = first;
        while last < list.len() && list[last].start <= end {
            last += 1;
        }
        if first == last && end - 1 <= self.watermark {
            return false;
        }
        let mut merged = Session {
            start,
            end,
            rows: Vec::new(),
        };
        for s in list.drain(first..last) {
            self.by_end.remove(&(s.end, k, s.start));
            merged.start = merged.start.min(s.start);
            merged.end = merged.end.max(s.end);
            if merged.rows.is_empty() {
                merged.rows = s.rows;
            } else {
                merged.rows.extend(s.rows);
            }
        }
        merged.rows.push(row);
        self.by_end.insert((merged.end, k, merged.start));
        list.insert(first, merged);
        true
    }

    /// The rows of `locs` (stored batch, row), as input columns.
    fn gather(&self, locs: &[(u64, u32)]) -> Result<Vec<ArrayRef>, TaskError> {
        let mut pos: HashMap<u64, usize> = HashMap::new();
        let mut batches: Vec<&RecordBatch> = Vec::new();
        let mut idx: Vec<(usize, usize)> = Vec::with_capacity(locs.len());
        for (b, r) in locs {
            let p = *pos.entry(*b).or_insert_with(|| {
                batches.push(&self.store[b].batch);
                batches.len() - 1
            });
            idx.push((p, *r as usize));
        }
        (0..self.spec.input.len())
            .map(|c| {
                if batches.is_empty() {
                    let ty = self.spec.input.columns[c].ty.to_arrow();
                    return Ok(datafusion::arrow::array::new_empty_array(&ty));
                }
                let arrays: Vec<&dyn Array> =
                    batches.iter().map(|b| b.column(c).as_ref()).collect();
                Ok(interleave(&arrays, &idx)?)
            })
            .collect()
    }

    fn snapshot_schema(&self) -> SchemaRef {
        let mut fields = state_ipc::fields_of(&self.spec.input);
        fields.push(Field::new("$session_start", DataType::Int64, true));
        fields.push(Field::new("$session_end", DataType::Int64, true));
        state_ipc::schema(fields, SNAPSHOT_FORMAT, self.watermark)
    }

    fn snapshot(&self) -> Result<Vec<u8>, TaskError> {
        let schema = self.snapshot_schema();
        let mut locs = Vec::new();
        let mut starts = Vec::new();
        let mut ends = Vec::new();
        for list in &self.sessions {
            for s in list {
                locs.extend_from_slice(&s.rows);
                starts.extend(std::iter::repeat_n(s.start, s.rows.len()));
                ends.extend(std::iter::repeat_n(s.end, s.rows.len()));
            }
        }
        let n = locs.len();
        let mut cols = self.gather(&locs)?;
        cols.push(Arc::new(Int64Array::from(starts)));
        cols.push(Arc::new(Int64Array::from(ends)));
        let batches = if n > 0 {
            vec![state_ipc::batch(&schema, cols, n)?]
        } else {
            vec![]
        };
        state_ipc::write(&schema, &batches)
    }

    fn restore(&mut self, states: &[Vec<u8>], scope: &RestoreScope) -> Result<(), TaskError> {
        let expected = self.snapshot_schema();
        let width = self.spec.input.len();
        let input = state_ipc::nullable(&self.spec.input.to_arrow());
        let mut watermark = self.watermark;
        // every row rejoins its session (no row is late while the sessions are rebuilt)
        self.watermark = i64::MIN;
        for bytes in states {
            let snap = state_ipc::read(bytes, SNAPSHOT_FORMAT, &expected)?;
            watermark = watermark.max(snap.watermark);
            for b in snap.batches {
                let b = state_ipc::owned(&b, &self.varying, scope)?;
                if b.num_rows() == 0 {
                    continue;
                }
                let session = |c: usize| -> Result<Int64Array, TaskError> {
                    b.column(c)
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .cloned()
                        .ok_or_else(|| TaskError::Operator("bad session state".into()))
                };
                let (starts, ends) = (session(width)?, session(width + 1)?);
                let rows = RecordBatch::try_new(input.clone(), b.columns()[..width].to_vec())?;
                let keys = self.key_ids(&rows)?;
                let id = self.next_batch;
                self.next_batch += 1;
                for (i, k) in keys.iter().enumerate() {
                    // the session's own window: the row joins its session exactly as it was
                    self.add(*k, starts.value(i), ends.value(i), (id, i as u32));
                }
                let live = rows.num_rows();
                self.store.insert(id, Stored { batch: rows, live });
            }
        }
        self.watermark = watermark;
        Ok(())
    }

    /// Aggregates and emits the sessions `fired` (key id, session).
    fn emit(&mut self, fired: Vec<(u32, Session)>, out: &mut dyn Output) -> Result<(), TaskError> {
        let n = fired.len();
        // the stored batches involved, by position
        let mut pos: HashMap<u64, usize> = HashMap::new();
        let mut batches: Vec<u64> = Vec::new();
        let mut indices: Vec<(usize, usize)> = Vec::new();
        let mut firsts: Vec<(usize, usize)> = Vec::with_capacity(n);
        let mut groups: Vec<u32> = Vec::new();
        for (g, (_, s)) in fired.iter().enumerate() {
            for (i, (b, r)) in s.rows.iter().enumerate() {
                let p = *pos.entry(*b).or_insert_with(|| {
                    batches.push(*b);
                    batches.len() - 1
                });
                if i == 0 {
                    firsts.push((p, *r as usize));
                }
                indices.push((p, *r as usize));
                groups.push(g as u32);
            }
        }
        let column = |c: usize, idx: &[(usize, usize)]| -> Result<ArrayRef, TaskError> {
            let arrays: Vec<&dyn Array> = batches
                .iter()
                .map(|b| self.store[b].batch.column(c).as_ref())
                .collect();
            Ok(interleave(&arrays, idx)?)
        };
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.output.fields().len());
        for g in &self.spec.group_by {
            if self.varying.contains(g) {
                columns.push(column(*g, &firsts)?);
                continue;
            }
            let name = self.spec.input.columns[*g].name.as_str();
            let vals: Vec<i64> = fired
                .iter()
                .map(|(_, s)| match name {
                    "window_start" => s.start,
                    "window_time" => s.end - 1,
                    _ => s.end,
                })
                .collect();
            columns.push(Arc::new(TimestampMillisecondArray::from(vals)));
        }
        for call in &self.spec.aggregates {
            let arg = call.arg.map(|c| column(c, &indices)).transpose()?;
            let mut acc = Accumulator::for_call(call, false, arg.as_ref().map(|a| a.data_type()));
            let args: Vec<ArrayRef> = arg.into_iter().collect();
            acc.update(&groups, n, &args)?;
            columns.push(acc.evaluate(n, &call.result_type)?);
        }
        // release the rows
        for (_, s) in &fired {
            for (b, _) in &s.rows {
                if let Some(st) = self.store.get_mut(b) {
                    st.live -= 1;
                    if st.live == 0 {
                        self.store.remove(b);
                    }
                }
            }
        }
        out.emit(super::conform(&self.output, columns, n)?)
    }
}

impl Operator for SessionWindowOperator {
    fn name(&self) -> &str {
        "SessionWindowAggregate"
    }

    fn process_batch(
        &mut self,
        batch: RecordBatch,
        _out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        let ends = window_ends(batch.column(self.window_end))?;
        let keys = self.key_ids(&batch)?;
        let b = self.next_batch;
        self.next_batch += 1;
        let mut live = 0;
        for (i, (end, k)) in ends.iter().zip(&keys).enumerate() {
            if batch.column(self.window_end).is_null(i) {
                continue;
            }
            if self.add(*k, end - self.gap, *end, (b, i as u32)) {
                live += 1;
            } else {
                self.late_dropped += 1;
            }
        }
        if live > 0 {
            self.store.insert(b, Stored { batch, live });
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: i64, out: &mut dyn Output) -> Result<(), TaskError> {
        if watermark <= self.watermark {
            return Ok(());
        }
        self.watermark = watermark;
        let mut fired = Vec::new();
        while let Some(&(end, k, start)) = self.by_end.first() {
            if end - 1 > watermark {
                break;
            }
            self.by_end.pop_first();
            let list = &mut self.sessions[k as usize];
            if let Ok(i) = list.binary_search_by_key(&start, |s| s.start) {
                fired.push((k, list.remove(i)));
            }
        }
        if !fired.is_empty() {
            self.emit(fired, out)?;
        }
        out.emit_watermark(watermark)
    }

    fn late_records_dropped(&self) -> u64 {
        self.late_dropped
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
    use datafusion::arrow::array::{Int64Array, StringArray};
    use strom_plan::{AggCall, AggFunc, AggregateMode, RowSchema, SqlType};

    use crate::operators::testkit::Collect;

    use crate::operators::testkit::col;

    /// Input k, v, window_start, window_end; GROUP BY k, window_start, window_end with
    /// COUNT(*), SUM(v), COUNT(DISTINCT v); gap 10.
    fn op() -> SessionWindowOperator {
        let ts = SqlType::Timestamp(3);
        let input = RowSchema::new(vec![
            col("k", SqlType::String),
            col("v", SqlType::BigInt),
            col("window_start", ts.clone()),
            col("window_end", ts.clone()),
        ]);
        let call = |func: &str, arg, distinct, name: &str| AggCall {
            func: AggFunc::named(func).unwrap(),
            arg,
            distinct,
            name: name.into(),
            result_type: SqlType::BigInt,
            literal: None,
            ignore_nulls: false,
        };
        let spec = AggregateSpec {
            state_ttl_ms: 0,
            output: RowSchema::new(vec![
                col("k", SqlType::String),
                col("window_start", ts.clone()),
                col("window_end", ts),
                col("c", SqlType::BigInt),
                col("s", SqlType::BigInt),
                col("d", SqlType::BigInt),
            ]),
            input,
            group_by: vec![0, 2, 3],
            aggregates: vec![
                call("COUNT_STAR", None, false, "c"),
                call("SUM", Some(1), false, "s"),
                call("COUNT", Some(1), true, "d"),
            ],
            window_end_column: Some(3),
            window_key_columns: vec![2, 3],
            mode: AggregateMode::Single,
            changelog: false,
            mini_batch: false,
            session_gap_ms: Some(10),
        };
        SessionWindowOperator::new(&spec).unwrap()
    }

    fn batch(rows: &[(&str, i64, i64)]) -> RecordBatch {
        let ts = SqlType::Timestamp(3);
        let schema = RowSchema::new(vec![
            col("k", SqlType::String),
            col("v", SqlType::BigInt),
            col("window_start", ts.clone()),
            col("window_end", ts),
        ])
        .to_arrow();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMillisecondArray::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMillisecondArray::from(
                    rows.iter().map(|r| r.2 + 10).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    fn rows(out: &Collect) -> Vec<String> {
        let mut v = Vec::new();
        for b in &out.0 {
            for r in 0..b.num_rows() {
                let cells: Vec<String> = (0..b.num_columns())
                    .map(|c| {
                        datafusion::arrow::util::display::array_value_to_string(b.column(c), r)
                            .unwrap()
                    })
                    .collect();
                v.push(cells.join(","));
            }
        }
        v.sort();
        v
    }

    #[test]
    fn overlapping_rows_merge_and_sessions_fire_with_the_watermark() {
        let mut op = op();
        let mut out = Collect(vec![]);
        // a: 0, 5 (one session [0,15)), 30 (another); b: 3; then a 20 bridges nothing
        // (20 > 15) but touches 30's window start? [20,30) and [30,40) touch: they merge
        op.process_batch(
            batch(&[("a", 1, 0), ("b", 7, 3), ("a", 1, 5), ("a", 4, 30)]),
            &mut out,
        )
        .unwrap();
        op.process_watermark(11, &mut out).unwrap();
        assert!(out.0.is_empty(), "nothing fires before 12 (b's end 13 - 1)");
        op.process_watermark(14, &mut out).unwrap();
        assert_eq!(
            rows(&out),
            [
                "a,1970-01-01T00:00:00,1970-01-01T00:00:00.015,2,2,1",
                "b,1970-01-01T00:00:00.003,1970-01-01T00:00:00.013,1,7,1"
            ]
        );
        out.0.clear();
        // late: a at 1 (its window [1,11) ended and joins nothing open)
        // merging: a at 20 touches [30,40): session [20,40)
        op.process_batch(batch(&[("a", 1, 1), ("a", 2, 20)]), &mut out)
            .unwrap();
        assert_eq!(op.late_records_dropped(), 1);
        op.process_watermark(i64::MAX, &mut out).unwrap();
        assert_eq!(
            rows(&out),
            ["a,1970-01-01T00:00:00.020,1970-01-01T00:00:00.040,2,6,2"]
        );
        assert!(op.store.is_empty(), "every stored batch is released");
    }

    #[test]
    fn a_row_between_two_sessions_merges_them() {
        let mut op = op();
        let mut out = Collect(vec![]);
        op.process_batch(batch(&[("a", 1, 0), ("a", 1, 30)]), &mut out)
            .unwrap();
        // [12,22) overlaps [0,10)? no (12 > 10); with 9: [9,19) touches [0,10) ... and 21:
        // [21,31) touches [30,40); then 15: [15,25) overlaps [9,19) and [21,31): one session
        op.process_batch(batch(&[("a", 2, 9), ("a", 3, 21), ("a", 3, 15)]), &mut out)
            .unwrap();
        op.process_watermark(i64::MAX, &mut out).unwrap();
        assert_eq!(
            rows(&out),
            ["a,1970-01-01T00:00:00,1970-01-01T00:00:00.040,5,10,3"]
        );
    }
}

#[cfg(test)]
mod checkpoint_tests {
    use super::*;
    use crate::operators::state_ipc::route;
    use crate::operators::testkit::{col, Collect};
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::compute::cast;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use strom_plan::{AggCall, AggFunc, AggregateMode, RowSchema, SqlType};

    const GAP: i64 = 10;
    const KEYS: [&str; 4] = ["a", "b", "c", "d"];

    /// A row: key (index into KEYS), value, time.
    type In = (usize, i64, i64);
    type Steps = Vec<(Vec<In>, Option<i64>)>;
    /// A result: key, session start and end, COUNT(*), SUM(v), COUNT(DISTINCT v).
    type Out = (String, i64, i64, i64, i64, i64);
    /// Naive open sessions per key: (start, end, values).
    type Open = BTreeMap<usize, Vec<(i64, i64, Vec<i64>)>>;

    fn input() -> RowSchema {
        let ts = SqlType::Timestamp(3);
        RowSchema::new(vec![
            col("k", SqlType::String),
            col("v", SqlType::BigInt),
            col("window_start", ts.clone()),
            col("window_end", ts),
        ])
    }

    fn spec() -> AggregateSpec {
        let ts = SqlType::Timestamp(3);
        let call = |func: &str, arg, distinct, name: &str| AggCall {
            func: AggFunc::named(func).unwrap(),
            arg,
            distinct,
            name: name.into(),
            result_type: SqlType::BigInt,
            literal: None,
            ignore_nulls: false,
        };
        AggregateSpec {
            state_ttl_ms: 0,
            output: RowSchema::new(vec![
                col("k", SqlType::String),
                col("window_start", ts.clone()),
                col("window_end", ts),
                col("c", SqlType::BigInt),
                col("s", SqlType::BigInt),
                col("d", SqlType::BigInt),
            ]),
            input: input(),
            group_by: vec![0, 2, 3],
            aggregates: vec![
                call("COUNT_STAR", None, false, "c"),
                call("SUM", Some(1), false, "s"),
                call("COUNT", Some(1), true, "d"),
            ],
            window_end_column: Some(3),
            window_key_columns: vec![2, 3],
            mode: AggregateMode::Single,
            changelog: false,
            mini_batch: false,
            session_gap_ms: Some(GAP),
        }
    }

    fn batch(rows: &[In]) -> RecordBatch {
        RecordBatch::try_new(
            input().to_arrow(),
            vec![
                Arc::new(StringArray::from(
                    rows.iter().map(|r| KEYS[r.0]).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMillisecondArray::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMillisecondArray::from(
                    rows.iter().map(|r| r.2 + GAP).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    fn results(batches: &[RecordBatch]) -> Vec<Out> {
        let mut v = Vec::new();
        for b in batches {
            let k = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
            let i = |c: usize| {
                let a = cast(b.column(c), &DataType::Int64).unwrap();
                a.as_any().downcast_ref::<Int64Array>().unwrap().clone()
            };
            let cols: Vec<Int64Array> = (1..6).map(i).collect();
            for r in 0..b.num_rows() {
                let x = |c: usize| cols[c].value(r);
                v.push((k.value(r).to_string(), x(0), x(1), x(2), x(3), x(4)));
            }
        }
        v.sort();
        v
    }

    /// Sessions computed naively, and the number of late rows.
    fn expected(steps: &Steps) -> (Vec<Out>, u64) {
        // per key: open sessions (start, end, values)
        let mut open: Open = BTreeMap::new();
        let mut out = Vec::new();
        let mut late = 0;
        let mut wm = i64::MIN;
        let fire = |open: &mut Open, wm: i64, out: &mut Vec<Out>| {
            for (k, list) in open.iter_mut() {
                list.retain(|(s, e, vs)| {
                    if e - 1 > wm {
                        return true;
                    }
                    let mut d = vs.clone();
                    d.sort();
                    d.dedup();
                    out.push((
                        KEYS[*k].to_string(),
                        *s,
                        *e,
                        vs.len() as i64,
                        vs.iter().sum(),
                        d.len() as i64,
                    ));
                    false
                });
            }
        };
        for (rows, w) in steps {
            for (k, v, t) in rows {
                let (mut s, mut e) = (*t, t + GAP);
                let list = open.entry(*k).or_default();
                let (hit, rest): (Vec<_>, Vec<_>) =
                    list.drain(..).partition(|(ss, se, _)| *ss <= e && *se >= s);
                *list = rest;
                if hit.is_empty() && e - 1 <= wm {
                    late += 1;
                    continue;
                }
                let mut vs = vec![*v];
                for (ss, se, hv) in hit {
                    s = s.min(ss);
                    e = e.max(se);
                    vs.extend(hv);
                }
                list.push((s, e, vs));
            }
            if let Some(w) = w {
                if *w > wm {
                    wm = *w;
                    fire(&mut open, wm, &mut out);
                }
            }
        }
        fire(&mut open, i64::MAX, &mut out);
        out.sort();
        (out, late)
    }

    /// Runs `steps` on `p` subtasks, checkpointed before step `cut` and restored on `p2`
    /// (None: never); the end of input is a watermark at the end of time.
    fn run(
        steps: &Steps,
        cut: Option<usize>,
        p: u32,
        p2: u32,
        max: u32,
    ) -> (Vec<RecordBatch>, u64) {
        let spec = spec();
        let new = || SessionWindowOperator::new(&spec).unwrap();
        let mut ops: Vec<SessionWindowOperator> = (0..p).map(|_| new()).collect();
        let mut out = Collect(vec![]);
        let mut late = 0;
        for i in 0..=steps.len() {
            if Some(i) == cut {
                late += super::state_ipc::rescale(&mut ops, p2, max, new);
            }
            let Some((rows, w)) = steps.get(i) else {
                break;
            };
            let n = ops.len() as u32;
            for (op, part) in ops.iter_mut().zip(route(&batch(rows), &[0], n, max)) {
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
            op.process_watermark(i64::MAX, &mut out).unwrap();
            assert!(op.store.is_empty(), "rows are released");
        }
        late += ops.iter().map(|o| o.late_records_dropped()).sum::<u64>();
        (out.0, late)
    }

    fn steps() -> impl Strategy<Value = Steps> {
        let rows = prop::collection::vec((0usize..4, 0i64..5, 0i64..100), 0..12);
        prop::collection::vec((rows, prop::option::weighted(0.5, 0i64..100)), 1..10)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Sessions checkpointed after a prefix at parallelism p and restored at p2 give the
        /// naive sessions, with the same late rows.
        #[test]
        fn sessions_survive_a_restore_at_another_parallelism(
            steps in steps(),
            cut in 0usize..12,
            p in 1u32..4,
            p2 in 1u32..4,
            max in 3u32..24,
        ) {
            let cut = cut.min(steps.len());
            let (out, late) = run(&steps, Some(cut), p, p2, max);
            let (want, want_late) = expected(&steps);
            prop_assert_eq!(results(&out), want);
            prop_assert_eq!(late, want_late);
        }

        /// Taking snapshots does not change what the operator emits.
        #[test]
        fn snapshots_do_not_change_sessions(steps in steps()) {
            let (plain, late) = run(&steps, None, 1, 1, 128);
            let mut op = SessionWindowOperator::new(&spec()).unwrap();
            let mut out = Collect(vec![]);
            for (rows, w) in &steps {
                op.snapshot_state(1).unwrap();
                op.process_batch(batch(rows), &mut out).unwrap();
                op.snapshot_state(2).unwrap();
                if let Some(w) = w {
                    op.process_watermark(*w, &mut out).unwrap();
                }
            }
            op.process_watermark(i64::MAX, &mut out).unwrap();
            prop_assert_eq!(&out.0, &plain);
            prop_assert_eq!(op.late_records_dropped(), late);
        }
    }

    /// A restored session keeps its rows in order and its span, even where its rows' own
    /// windows do not reach its ends.
    #[test]
    fn a_restored_session_is_rebuilt_exactly() {
        let mut op = SessionWindowOperator::new(&spec()).unwrap();
        let mut out = Collect(vec![]);
        op.process_batch(
            batch(&[
                (0, 1, 0),
                (0, 2, 30),
                (0, 3, 9),
                (0, 4, 21),
                (0, 6, 15),
                (1, 5, 0),
            ]),
            &mut out,
        )
        .unwrap();
        let snap = op.snapshot_state(1).unwrap().unwrap();
        let mut r = SessionWindowOperator::new(&spec()).unwrap();
        r.restore_state(&[snap], &RestoreScope::new(0, 1, 128))
            .unwrap();
        let shape = |o: &SessionWindowOperator| -> Vec<Vec<(i64, i64, usize)>> {
            o.sessions
                .iter()
                .map(|l| l.iter().map(|s| (s.start, s.end, s.rows.len())).collect())
                .collect()
        };
        assert_eq!(shape(&r), shape(&op));
        assert_eq!(shape(&r), [vec![(0, 40, 5)], vec![(0, 10, 1)]]);
        let values = |o: &SessionWindowOperator| -> Vec<i64> {
            let locs = o.sessions[0][0].rows.clone();
            let v = o.gather(&locs).unwrap().remove(1);
            v.as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        };
        assert_eq!(values(&r), values(&op));
    }
}
