//! The session window aggregate. Its input rows carry their own window `[ts, ts + gap)` (from
//! the SESSION window function); per partition key, overlapping windows merge into sessions
//! (as Flink's `TimeWindow.intersects`: touching windows merge too). A session fires when the
//! watermark reaches `end - 1`: its rows are aggregated and one row per session is emitted with
//! the session's `window_start`/`window_end`/`window_time`.
//!
//! Rows are kept (in their input batches) until their session fires, so any aggregate works,
//! DISTINCT ones included, and merging sessions is a list concatenation. A row whose own window
//! is behind the watermark and that joins no open session is late: dropped and counted.

use super::accumulators::Accumulator;
use super::aggregate::window_ends;
use crate::error::TaskError;
use crate::operator::{Operator, Output};
use datafusion::arrow::array::{Array, ArrayRef, TimestampMillisecondArray};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::datatypes::SchemaRef;
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
            let mut acc = Accumulator::with_distinct(
                call.func,
                false,
                call.distinct,
                arg.as_ref().map(|a| a.data_type()),
            );
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
        let call = |func, arg, distinct, name: &str| AggCall {
            func,
            arg,
            distinct,
            name: name.into(),
            result_type: SqlType::BigInt,
        };
        let spec = AggregateSpec {
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
                call(AggFunc::CountStar, None, false, "c"),
                call(AggFunc::Sum, Some(1), false, "s"),
                call(AggFunc::Count, Some(1), true, "d"),
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
