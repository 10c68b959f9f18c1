//! Streaming joins with bounded state: the window join and the interval join (inner, as
//! Flink's `IntervalJoinOperator`). Input 0 is the left side, input 1 the right; both arrive
//! hashed on the equality keys. Rows are kept in their input batches until they can no longer
//! find a partner, then released.
//!
//! **Window join**: rows are kept per window (their `window_end`); when the watermark reaches
//! `window_end - 1` the window's rows of both sides are hash-joined (INNER, LEFT, RIGHT, FULL),
//! emitted and dropped. A row of a window that already fired is late: dropped and counted.
//!
//! **Interval join** (`right.ts + lower <= left.ts <= right.ts + upper`): each arriving row is
//! joined at once with the kept rows of the other side with the same key and a time in range,
//! then kept itself. A left row is dropped once the watermark passes `left.ts - lower`, a right
//! row once it passes `right.ts + upper`: later partners would be late. Rows behind the
//! watermark on arrival are late: dropped and counted.
//!
//! **Regular INNER join of append-only inputs** (without a state TTL): an interval join without
//! time bounds, every row kept for good (the fast path: no row ever changes, so the batches are
//! kept as they came). Every other regular join is [`super::regular_join`].
//!
//! The rest of the join condition (`filter`) is evaluated on the joined candidate rows.
//!
//! **Checkpoints**: a snapshot holds two Arrow IPC streams (see [`super::state_ipc`]), the kept
//! rows of the left side then of the right side, each in its side's schema, with the watermark in
//! the schema's metadata. A restore keeps the rows whose join key (hashed on that side's key
//! columns, as the exchange in front of that input hashes them) belongs to this subtask and keeps
//! them again as if they had just arrived, without joining them (their pairs were emitted): by
//! window end for a window join, by key for an interval join. The restored watermark is the
//! maximum of the old subtasks' (see the aggregate's checkpoints); interval-join rows that expire
//! behind it are released, window-join windows behind it fire with the next watermark advance.

use super::calc::physical_expr;
use crate::error::TaskError;
use crate::operator::{Operator, Output, RestoreScope};
use crate::operators::state_ipc;
use datafusion::arrow::array::{
    new_null_array, Array, ArrayRef, BooleanArray, TimestampMillisecondArray,
};
use datafusion::arrow::compute::{cast, filter_record_batch, interleave};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;
use hashbrown::HashMap;
use std::collections::BTreeMap;
use std::sync::Arc;
use strom_plan::{JoinKind, JoinSpec, JoinType, RowSchema};

const SNAPSHOT_FORMATS: [&str; 2] = ["strom-join-v1-left", "strom-join-v1-right"];

/// Where a kept row is: (stored batch, row).
type Loc = (u64, u32);

struct Stored {
    batch: RecordBatch,
    /// Rows of the batch still kept.
    live: usize,
}

/// A kept row of an interval join.
#[derive(Clone, Copy)]
struct Entry {
    ts: i64,
    loc: Loc,
}

#[derive(Default)]
struct Side {
    store: HashMap<u64, Stored>,
    /// Interval join: kept rows by key.
    by_key: HashMap<Box<[u8]>, Vec<Entry>>,
    /// Interval join: the smallest time at which a kept row expires.
    min_expiry: i64,
}

impl Side {
    fn release(&mut self, b: u64) {
        if let Some(st) = self.store.get_mut(&b) {
            st.live -= 1;
            if st.live == 0 {
                self.store.remove(&b);
            }
        }
    }
}

pub struct JoinOperator {
    spec: JoinSpec,
    converter: RowConverter,
    filter: Option<Arc<dyn PhysicalExpr>>,
    output: SchemaRef,
    /// The columns of a joined pair of rows: `output`, or a semi or anti join's `pair`.
    pair: SchemaRef,
    sides: [Side; 2],
    /// Window join: per window end, the kept rows of each side.
    windows: BTreeMap<i64, [Vec<Loc>; 2]>,
    next_batch: u64,
    watermark: i64,
    late_dropped: u64,
}

fn millis(col: &ArrayRef) -> Result<TimestampMillisecondArray, TaskError> {
    let ms = DataType::Timestamp(TimeUnit::Millisecond, None);
    let a = if col.data_type() == &ms {
        col.clone()
    } else {
        cast(col, &ms)?
    };
    Ok(a.as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .ok_or_else(|| TaskError::Operator("a join time column is not a timestamp".into()))?
        .clone())
}

impl JoinOperator {
    pub fn new(spec: &JoinSpec) -> Result<Self, TaskError> {
        let converter = RowConverter::new(
            spec.left_keys
                .iter()
                .map(|k| SortField::new(spec.left.columns[*k].ty.to_arrow()))
                .collect(),
        )?;
        let pair = spec.pair.as_ref().unwrap_or(&spec.output);
        let filter = spec
            .filter
            .as_ref()
            .map(|f| physical_expr(f, pair))
            .transpose()?;
        if spec.join_type.semi_side().is_some() && spec.pair.is_none() {
            return Err(TaskError::Deployment(
                "a semi or anti join needs the columns of its pairs".into(),
            ));
        }
        match spec.kind {
            JoinKind::Interval { .. } if spec.join_type != JoinType::Inner => {
                return Err(TaskError::Deployment(
                    "interval joins are inner joins only".into(),
                ))
            }
            JoinKind::Regular if !spec.is_inner_of_appends() => {
                return Err(TaskError::Deployment(
                    "only a regular INNER join of append-only inputs is the JoinOperator".into(),
                ))
            }
            _ => {}
        }
        Ok(Self {
            spec: spec.clone(),
            converter,
            filter,
            output: spec.output.to_arrow(),
            pair: pair.to_arrow(),
            sides: [Side::default(), Side::default()],
            windows: BTreeMap::new(),
            next_batch: 0,
            watermark: i64::MIN,
            late_dropped: 0,
        })
    }

    fn keys(&self, side: usize) -> &[usize] {
        if side == 0 {
            &self.spec.left_keys
        } else {
            &self.spec.right_keys
        }
    }

    fn schema(&self, side: usize) -> &RowSchema {
        if side == 0 {
            &self.spec.left
        } else {
            &self.spec.right
        }
    }

    /// Key bytes of each row of `batch` (None where a key column is NULL: it matches nothing).
    fn row_keys(
        &self,
        side: usize,
        batch: &RecordBatch,
    ) -> Result<Vec<Option<Box<[u8]>>>, TaskError> {
        let cols: Vec<ArrayRef> = self
            .keys(side)
            .iter()
            .map(|k| batch.column(*k).clone())
            .collect();
        if cols.is_empty() {
            // joined on the window alone (ON window_start, window_end): one key for every row;
            // Arrow's row format has no rows without columns
            return Ok(vec![Some(Box::default()); batch.num_rows()]);
        }
        let rows = self.converter.convert_columns(&cols)?;
        Ok((0..batch.num_rows())
            .map(|i| (!cols.iter().any(|c| c.is_null(i))).then(|| rows.row(i).as_ref().into()))
            .collect())
    }

    /// The columns of `side` for `locs` (NULLs for `None`).
    fn gather(&self, side: usize, locs: &[Option<Loc>]) -> Result<Vec<ArrayRef>, TaskError> {
        let store = &self.sides[side].store;
        let schema = self.schema(side);
        let mut pos: HashMap<u64, usize> = HashMap::new();
        let mut batches: Vec<&RecordBatch> = Vec::new();
        let mut idx: Vec<(usize, usize)> = Vec::with_capacity(locs.len());
        let mut nulls = false;
        for l in locs {
            match l {
                Some((b, r)) => {
                    let p = *pos.entry(*b).or_insert_with(|| {
                        batches.push(&store[b].batch);
                        batches.len() - 1
                    });
                    idx.push((p, *r as usize));
                }
                None => {
                    nulls = true;
                    idx.push((usize::MAX, 0));
                }
            }
        }
        let null_pos = batches.len();
        for i in &mut idx {
            if i.0 == usize::MAX {
                i.0 = null_pos;
            }
        }
        (0..schema.len())
            .map(|c| {
                let ty = schema.columns[c].ty.to_arrow();
                let null = nulls.then(|| new_null_array(&ty, 1));
                let mut arrays: Vec<&dyn Array> =
                    batches.iter().map(|b| b.column(c).as_ref()).collect();
                if let Some(n) = &null {
                    arrays.push(n.as_ref());
                }
                if arrays.is_empty() {
                    return Ok(new_null_array(&ty, 0));
                }
                Ok(interleave(&arrays, &idx)?)
            })
            .collect()
    }

    /// The joined rows of `pairs`.
    fn joined(&self, pairs: &[(Option<Loc>, Option<Loc>)]) -> Result<RecordBatch, TaskError> {
        let left: Vec<Option<Loc>> = pairs.iter().map(|p| p.0).collect();
        let right: Vec<Option<Loc>> = pairs.iter().map(|p| p.1).collect();
        let mut cols = self.gather(0, &left)?;
        cols.extend(self.gather(1, &right)?);
        super::conform(&self.pair, cols, pairs.len())
    }

    /// A semi or anti join's output for a window: the rows of the output side with a partner
    /// among `matched` (semi) or without (anti), each once, in arrival order.
    fn semi_rows(
        &self,
        (side, semi): (usize, bool),
        rows: &[Loc],
        matched: &[(usize, usize)],
    ) -> Result<Option<RecordBatch>, TaskError> {
        let mut hit = vec![false; rows.len()];
        for (i, j) in matched {
            hit[if side == 0 { *i } else { *j }] = true;
        }
        let keep: Vec<Option<Loc>> = rows
            .iter()
            .zip(&hit)
            .filter(|(_, h)| **h == semi)
            .map(|(l, _)| Some(*l))
            .collect();
        if keep.is_empty() {
            return Ok(None);
        }
        let cols = self.gather(side, &keep)?;
        super::conform(&self.output, cols, keep.len()).map(Some)
    }

    /// Which rows of `batch` pass the rest of the join condition.
    fn passes(&self, batch: &RecordBatch) -> Result<Option<BooleanArray>, TaskError> {
        self.filter
            .as_ref()
            .map(|f| super::calc::predicate(f, batch, "Join"))
            .transpose()
    }

    fn store(&mut self, side: usize, batch: RecordBatch, live: usize) -> u64 {
        let b = self.next_batch;
        self.next_batch += 1;
        if live > 0 {
            self.sides[side].store.insert(b, Stored { batch, live });
        }
        b
    }

    fn window_batch(
        &mut self,
        side: usize,
        batch: RecordBatch,
        end_col: usize,
    ) -> Result<(), TaskError> {
        let ends = millis(batch.column(end_col))?;
        let mut kept: Vec<(i64, u32)> = Vec::new();
        for i in 0..ends.len() {
            if ends.is_null(i) {
                continue;
            }
            let e = ends.value(i);
            if e - 1 <= self.watermark {
                self.late_dropped += 1;
            } else {
                kept.push((e, i as u32));
            }
        }
        let b = self.store(side, batch, kept.len());
        for (e, r) in kept {
            self.windows.entry(e).or_default()[side].push((b, r));
        }
        Ok(())
    }

    fn fire_window(&mut self, rows: [Vec<Loc>; 2], out: &mut dyn Output) -> Result<(), TaskError> {
        let [left, right] = rows;
        let keys_of =
            |this: &Self, side: usize, locs: &[Loc]| -> Result<Vec<Option<Box<[u8]>>>, TaskError> {
                let some: Vec<Option<Loc>> = locs.iter().map(|l| Some(*l)).collect();
                let cols = this.gather(side, &some)?;
                let schema = this.schema(side).to_arrow();
                let b = super::conform(&schema, cols, locs.len())?;
                this.row_keys(side, &b)
            };
        let lk = keys_of(self, 0, &left)?;
        let rk = keys_of(self, 1, &right)?;
        let mut index: HashMap<&[u8], Vec<usize>> = HashMap::new();
        for (j, k) in rk.iter().enumerate() {
            if let Some(k) = k {
                index.entry(k.as_ref()).or_default().push(j);
            }
        }
        let mut cand: Vec<(usize, usize)> = Vec::new();
        for (i, k) in lk.iter().enumerate() {
            if let Some(js) = k.as_ref().and_then(|k| index.get(k.as_ref())) {
                cand.extend(js.iter().map(|j| (i, *j)));
            }
        }
        let jt = self.spec.join_type;
        let semi = jt.semi_side();
        let mut matched: Vec<(usize, usize)> = cand;
        // a semi or anti join without a residual condition needs no joined rows
        if semi.is_none() || self.filter.is_some() {
            let pairs: Vec<(Option<Loc>, Option<Loc>)> = matched
                .iter()
                .map(|(i, j)| (Some(left[*i]), Some(right[*j])))
                .collect();
            let mut batch = self.joined(&pairs)?;
            if let Some(mask) = self.passes(&batch)? {
                matched = matched
                    .into_iter()
                    .zip(mask.iter())
                    .filter(|(_, m)| *m == Some(true))
                    .map(|(p, _)| p)
                    .collect();
                batch = filter_record_batch(&batch, &mask)?;
            }
            if semi.is_none() {
                out.emit(batch)?;
            }
        }
        if let Some(semi) = semi {
            let rows = if semi.0 == 0 { &left } else { &right };
            if let Some(b) = self.semi_rows(semi, rows, &matched)? {
                out.emit(b)?;
            }
        }
        let mut extra: Vec<(Option<Loc>, Option<Loc>)> = Vec::new();
        if matches!(jt, JoinType::Left | JoinType::Full) {
            let mut hit = vec![false; left.len()];
            for (i, _) in &matched {
                hit[*i] = true;
            }
            extra.extend(
                left.iter()
                    .zip(&hit)
                    .filter(|(_, h)| !**h)
                    .map(|(l, _)| (Some(*l), None)),
            );
        }
        if matches!(jt, JoinType::Right | JoinType::Full) {
            let mut hit = vec![false; right.len()];
            for (_, j) in &matched {
                hit[*j] = true;
            }
            extra.extend(
                right
                    .iter()
                    .zip(&hit)
                    .filter(|(_, h)| !**h)
                    .map(|(r, _)| (None, Some(*r))),
            );
        }
        if !extra.is_empty() {
            out.emit(self.joined(&extra)?)?;
        }
        for (b, _) in &left {
            self.sides[0].release(*b);
        }
        for (b, _) in &right {
            self.sides[1].release(*b);
        }
        Ok(())
    }

    /// When a kept row of `side` with time `ts` can no longer find a partner.
    fn expiry(&self, side: usize, ts: i64) -> i64 {
        let JoinKind::Interval {
            lower_ms, upper_ms, ..
        } = self.spec.kind
        else {
            return i64::MAX;
        };
        if side == 0 {
            ts.saturating_sub(lower_ms)
        } else {
            ts.saturating_add(upper_ms)
        }
    }

    /// A batch of an interval join (`time_col`: its rowtime) or of a regular join (no time).
    fn interval_batch(
        &mut self,
        side: usize,
        batch: RecordBatch,
        time_col: Option<usize>,
        out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        let (lower_ms, upper_ms) = match self.spec.kind {
            JoinKind::Interval {
                lower_ms, upper_ms, ..
            } => (lower_ms, upper_ms),
            _ => (i64::MIN, i64::MAX),
        };
        let times = match time_col {
            Some(c) => millis(batch.column(c))?,
            None => TimestampMillisecondArray::from(vec![0; batch.num_rows()]),
        };
        let keys = self.row_keys(side, &batch)?;
        let b = self.next_batch;
        let other = 1 - side;
        let mut pairs: Vec<(Option<Loc>, Option<Loc>)> = Vec::new();
        let mut kept: Vec<(Box<[u8]>, Entry)> = Vec::new();
        for (i, key) in keys.into_iter().enumerate() {
            if times.is_null(i) {
                continue;
            }
            let ts = times.value(i);
            if time_col.is_some() && ts < self.watermark {
                self.late_dropped += 1;
                continue;
            }
            let Some(key) = key else { continue };
            let me: Loc = (b, i as u32);
            if let Some(entries) = self.sides[other].by_key.get(&key) {
                for e in entries {
                    let (l, r, lt, rt) = if side == 0 {
                        (me, e.loc, ts, e.ts)
                    } else {
                        (e.loc, me, e.ts, ts)
                    };
                    if rt.saturating_add(lower_ms) <= lt && lt <= rt.saturating_add(upper_ms) {
                        pairs.push((Some(l), Some(r)));
                    }
                }
            }
            kept.push((key, Entry { ts, loc: me }));
        }
        // the batch is stored before the output is gathered (its rows are in the pairs)
        let live = kept.len();
        self.sides[side].store.insert(
            b,
            Stored {
                batch,
                live: live.max(1),
            },
        );
        self.next_batch += 1;
        if !pairs.is_empty() {
            let mut joined = self.joined(&pairs)?;
            if let Some(mask) = self.passes(&joined)? {
                joined = filter_record_batch(&joined, &mask)?;
            }
            out.emit(joined)?;
        }
        if live == 0 {
            self.sides[side].store.remove(&b);
        }
        for (key, e) in kept {
            let x = self.expiry(side, e.ts);
            let s = &mut self.sides[side];
            s.min_expiry = if s.by_key.is_empty() {
                x
            } else {
                s.min_expiry.min(x)
            };
            s.by_key.entry(key).or_default().push(e);
        }
        Ok(())
    }

    /// The kept rows of `side`.
    fn kept(&self, side: usize) -> Vec<Option<Loc>> {
        match self.spec.kind {
            JoinKind::Window { .. } => self
                .windows
                .values()
                .flat_map(|w| w[side].iter().map(|l| Some(*l)))
                .collect(),
            JoinKind::Interval { .. } | JoinKind::Regular => self.sides[side]
                .by_key
                .values()
                .flat_map(|es| es.iter().map(|e| Some(e.loc)))
                .collect(),
        }
    }

    fn snapshot_schema(&self, side: usize) -> SchemaRef {
        let fields = state_ipc::fields_of(self.schema(side));
        state_ipc::schema(fields, SNAPSHOT_FORMATS[side], self.watermark)
    }

    fn snapshot(&self) -> Result<Vec<u8>, TaskError> {
        let mut sections = Vec::new();
        for side in 0..2 {
            let schema = self.snapshot_schema(side);
            let locs = self.kept(side);
            let batches = if locs.is_empty() {
                vec![]
            } else {
                let cols = self.gather(side, &locs)?;
                vec![state_ipc::batch(&schema, cols, locs.len())?]
            };
            sections.push(state_ipc::write(&schema, &batches)?);
        }
        Ok(state_ipc::concat_sections(&sections))
    }

    fn restore(&mut self, states: &[Vec<u8>], scope: &RestoreScope) -> Result<(), TaskError> {
        let expected = [self.snapshot_schema(0), self.snapshot_schema(1)];
        let mut watermark = self.watermark;
        // no kept row is late while they are restored
        self.watermark = i64::MIN;
        for bytes in states {
            let sections = state_ipc::split_sections(bytes)?;
            if sections.len() != 2 {
                return Err(TaskError::Operator(
                    "a join's state has two sections".into(),
                ));
            }
            for (side, bytes) in sections.into_iter().enumerate() {
                let snap = state_ipc::read(bytes, SNAPSHOT_FORMATS[side], &expected[side])?;
                watermark = watermark.max(snap.watermark);
                let keys = self.keys(side).to_vec();
                let input = state_ipc::nullable(&self.schema(side).to_arrow());
                for b in snap.batches {
                    let b = state_ipc::owned(&b, &keys, scope)?;
                    if b.num_rows() > 0 {
                        let b = RecordBatch::try_new(input.clone(), b.columns().to_vec())?;
                        self.restore_rows(side, b)?;
                    }
                }
            }
        }
        self.watermark = watermark;
        self.expire(watermark);
        Ok(())
    }

    /// Keeps restored rows of `side` (already joined with each other: no output).
    fn restore_rows(&mut self, side: usize, batch: RecordBatch) -> Result<(), TaskError> {
        match self.spec.kind {
            JoinKind::Window {
                left_end,
                right_end,
            } => self.window_batch(side, batch, if side == 0 { left_end } else { right_end }),
            kind => {
                let times = match kind {
                    JoinKind::Interval {
                        left_time,
                        right_time,
                        ..
                    } => millis(batch.column(if side == 0 { left_time } else { right_time }))?,
                    _ => TimestampMillisecondArray::from(vec![0; batch.num_rows()]),
                };
                let keys = self.row_keys(side, &batch)?;
                let b = self.next_batch;
                let mut kept = 0;
                for (i, key) in keys.into_iter().enumerate() {
                    let (Some(key), true) = (key, times.is_valid(i)) else {
                        continue;
                    };
                    let e = Entry {
                        ts: times.value(i),
                        loc: (b, i as u32),
                    };
                    let x = self.expiry(side, e.ts);
                    let s = &mut self.sides[side];
                    s.min_expiry = if s.by_key.is_empty() {
                        x
                    } else {
                        s.min_expiry.min(x)
                    };
                    s.by_key.entry(key).or_default().push(e);
                    kept += 1;
                }
                self.store(side, batch, kept);
                Ok(())
            }
        }
    }

    /// Drops the kept rows of an interval join that can no longer find a partner.
    fn expire(&mut self, watermark: i64) {
        for side in 0..2 {
            if self.sides[side].by_key.is_empty() || self.sides[side].min_expiry >= watermark {
                continue;
            }
            let JoinKind::Interval {
                lower_ms, upper_ms, ..
            } = self.spec.kind
            else {
                return;
            };
            let expiry = |ts: i64| {
                if side == 0 {
                    ts.saturating_sub(lower_ms)
                } else {
                    ts.saturating_add(upper_ms)
                }
            };
            let s = &mut self.sides[side];
            let mut released: Vec<u64> = Vec::new();
            let mut min = i64::MAX;
            s.by_key.retain(|_, entries| {
                entries.retain(|e| {
                    let x = expiry(e.ts);
                    if x < watermark {
                        released.push(e.loc.0);
                        false
                    } else {
                        min = min.min(x);
                        true
                    }
                });
                !entries.is_empty()
            });
            s.min_expiry = min;
            for b in released {
                s.release(b);
            }
        }
    }
}

impl Operator for JoinOperator {
    fn name(&self) -> &str {
        "Join"
    }

    fn process_batch(
        &mut self,
        _batch: RecordBatch,
        _out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        Err(TaskError::Operator(
            "a join must be the head of its chain (it has two inputs)".into(),
        ))
    }

    fn process_batch_from(
        &mut self,
        input: u32,
        batch: RecordBatch,
        out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        let side = (input as usize).min(1);
        match self.spec.kind {
            JoinKind::Window {
                left_end,
                right_end,
            } => self.window_batch(side, batch, if side == 0 { left_end } else { right_end }),
            JoinKind::Interval {
                left_time,
                right_time,
                ..
            } => self.interval_batch(
                side,
                batch,
                Some(if side == 0 { left_time } else { right_time }),
                out,
            ),
            JoinKind::Regular => self.interval_batch(side, batch, None, out),
        }
    }

    fn process_watermark(&mut self, watermark: i64, out: &mut dyn Output) -> Result<(), TaskError> {
        if watermark <= self.watermark {
            return Ok(());
        }
        self.watermark = watermark;
        while let Some(entry) = self.windows.first_entry() {
            if *entry.key() - 1 > watermark {
                break;
            }
            let rows = entry.remove();
            self.fire_window(rows, out)?;
        }
        self.expire(watermark);
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
    use datafusion::arrow::array::Int64Array;
    use strom_plan::{Column, SqlType};

    use crate::operators::testkit::Collect;

    fn schema(p: &str) -> RowSchema {
        RowSchema::new(vec![
            Column {
                name: format!("{p}k"),
                ty: SqlType::BigInt,
                nullable: true,
            },
            Column {
                name: format!("{p}ts"),
                ty: SqlType::Timestamp(3),
                nullable: true,
            },
        ])
    }

    /// l.ts BETWEEN r.ts - 10 AND r.ts + 5, on k.
    fn interval() -> JoinOperator {
        let (l, r) = (schema("l"), schema("r"));
        let mut out = l.columns.clone();
        out.extend(r.columns.clone());
        JoinOperator::new(&JoinSpec {
            state_ttl_ms: [0, 0],
            left: l,
            right: r,
            join_type: JoinType::Inner,
            left_keys: vec![0],
            right_keys: vec![0],
            kind: JoinKind::Interval {
                left_time: 1,
                right_time: 1,
                lower_ms: -10,
                upper_ms: 5,
            },
            filter: None,
            output: RowSchema::new(out),
            pair: None,
        })
        .unwrap()
    }

    fn batch(p: &str, rows: &[(i64, i64)]) -> RecordBatch {
        RecordBatch::try_new(
            schema(p).to_arrow(),
            vec![
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMillisecondArray::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    fn pairs(out: &Collect) -> Vec<(i64, i64)> {
        let mut v = Vec::new();
        for b in &out.0 {
            let l = millis(b.column(1)).unwrap();
            let r = millis(b.column(3)).unwrap();
            for i in 0..b.num_rows() {
                v.push((l.value(i), r.value(i)));
            }
        }
        v.sort();
        v
    }

    #[test]
    fn interval_join_pairs_rows_in_range_whichever_arrives_first() {
        let mut j = interval();
        let mut out = Collect(vec![]);
        j.process_batch_from(0, batch("l", &[(1, 100), (1, 120), (2, 100)]), &mut out)
            .unwrap();
        // r=105: l in [95, 110] -> 100; r=111: l in [101, 116] -> none; key 2 r=200: none
        j.process_batch_from(1, batch("r", &[(1, 105), (1, 111), (2, 200)]), &mut out)
            .unwrap();
        // a later left row finds the kept right rows: 112 is in range of r=111 only
        j.process_batch_from(0, batch("l", &[(1, 112)]), &mut out)
            .unwrap();
        assert_eq!(pairs(&out), [(100, 105), (112, 111)]);
    }

    #[test]
    fn kept_rows_are_released_when_no_partner_can_come() {
        let mut j = interval();
        let mut out = Collect(vec![]);
        j.process_batch_from(0, batch("l", &[(1, 100)]), &mut out)
            .unwrap();
        j.process_batch_from(1, batch("r", &[(1, 100)]), &mut out)
            .unwrap();
        // left 100 waits for right rows up to 110, right 100 for left rows up to 105
        j.process_watermark(105, &mut out).unwrap();
        assert_eq!(j.sides[0].store.len(), 1);
        assert_eq!(j.sides[1].store.len(), 1);
        j.process_watermark(106, &mut out).unwrap();
        assert!(
            j.sides[1].store.is_empty(),
            "right 100 is released after 105"
        );
        assert_eq!(j.sides[0].store.len(), 1);
        j.process_watermark(111, &mut out).unwrap();
        assert!(j.sides[0].store.is_empty() && j.sides[0].by_key.is_empty());
        // rows behind the watermark are late
        j.process_batch_from(0, batch("l", &[(1, 50)]), &mut out)
            .unwrap();
        assert_eq!(j.late_records_dropped(), 1);
    }
}

#[cfg(test)]
mod checkpoint_tests {
    use super::*;
    use crate::operators::state_ipc::route;
    use crate::operators::testkit::Collect;
    use datafusion::arrow::array::Int64Array;
    use proptest::prelude::*;
    use strom_plan::{Column, SqlType};

    /// Tumbling windows of the window join.
    const SIZE: i64 = 10;

    /// A row: key, time.
    type In = (Option<i64>, i64);
    /// Steps: left rows, right rows, then a watermark or not.
    type Steps = Vec<(Vec<In>, Vec<In>, Option<i64>)>;
    /// An output row: left key and time, right key and time.
    type Pair = (Option<i64>, Option<i64>, Option<i64>, Option<i64>);

    fn schema(p: &str) -> RowSchema {
        let c = |name: String, ty| Column {
            name,
            ty,
            nullable: true,
        };
        RowSchema::new(vec![
            c(format!("{p}k"), SqlType::BigInt),
            c(format!("{p}ts"), SqlType::Timestamp(3)),
            c(format!("{p}window_end"), SqlType::Timestamp(3)),
        ])
    }

    /// A window join (tumbling windows of 10 ms) of type `jt`, or the interval join
    /// `l.ts BETWEEN r.ts - 10 AND r.ts + 5`, on k; with `keyless`, a window join on the window
    /// alone with the residual condition `lk >= rk` (Nexmark's "hot items" shape).
    /// `kind`: 0 the window join, 1 the interval join.
    fn spec(kind: usize, jt: JoinType, keyless: bool) -> JoinSpec {
        let interval = kind > 0;
        use datafusion::logical_expr::col;
        let (l, r) = (schema("l"), schema("r"));
        let mut out = l.columns.clone();
        out.extend(r.columns.clone());
        let (output, pair) = match jt.semi_side() {
            None => (RowSchema::new(out), None),
            Some((0, _)) => (l.clone(), Some(RowSchema::new(out))),
            Some(_) => (r.clone(), Some(RowSchema::new(out))),
        };
        let keyless = keyless && !interval;
        let keys = if keyless { vec![] } else { vec![0] };
        JoinSpec {
            state_ttl_ms: [0, 0],
            left: l,
            right: r,
            join_type: jt,
            left_keys: keys.clone(),
            right_keys: keys,
            kind: if interval {
                JoinKind::Interval {
                    left_time: 1,
                    right_time: 1,
                    lower_ms: -10,
                    upper_ms: 5,
                }
            } else {
                JoinKind::Window {
                    left_end: 2,
                    right_end: 2,
                }
            },
            filter: keyless
                .then(|| strom_plan::expr_codec::encode(&col("lk").gt_eq(col("rk"))).unwrap()),
            output,
            pair,
        }
    }

    fn end(t: i64) -> i64 {
        t - t.rem_euclid(SIZE) + SIZE
    }

    fn batch(p: &str, rows: &[In]) -> RecordBatch {
        RecordBatch::try_new(
            schema(p).to_arrow(),
            vec![
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMillisecondArray::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMillisecondArray::from(
                    rows.iter().map(|r| end(r.1)).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    /// The output rows as pairs (a semi or anti join's rows with the other side NULL).
    fn pairs(batches: &[RecordBatch], jt: JoinType) -> Vec<Pair> {
        let mut v = Vec::new();
        for b in batches {
            let c = |i: usize| {
                let a = cast(b.column(i), &DataType::Int64).unwrap();
                a.as_any().downcast_ref::<Int64Array>().unwrap().clone()
            };
            let o = |a: &Int64Array, r: usize| a.is_valid(r).then(|| a.value(r));
            for r in 0..b.num_rows() {
                v.push(match jt.semi_side() {
                    None => (o(&c(0), r), o(&c(1), r), o(&c(3), r), o(&c(4), r)),
                    Some((0, _)) => (o(&c(0), r), o(&c(1), r), None, None),
                    Some(_) => (None, None, o(&c(0), r), o(&c(1), r)),
                });
            }
        }
        v.sort();
        v
    }

    /// The join computed naively, and the number of late rows.
    fn expected(steps: &Steps, spec: &JoinSpec) -> (Vec<Pair>, u64) {
        let interval = matches!(spec.kind, JoinKind::Interval { .. });
        let keyless = spec.left_keys.is_empty();
        let jt = spec.join_type;
        let mut wm = i64::MIN;
        let mut late = 0;
        let mut kept: [Vec<In>; 2] = [vec![], vec![]];
        for (l, r, w) in steps {
            for (side, rows) in [l, r].into_iter().enumerate() {
                for row in rows {
                    let is_late = if interval {
                        row.1 < wm
                    } else {
                        end(row.1) - 1 <= wm
                    };
                    if is_late {
                        late += 1;
                    } else {
                        kept[side].push(*row);
                    }
                }
            }
            if let Some(w) = w {
                wm = wm.max(*w);
            }
        }
        let matches = |l: &In, r: &In| {
            l.0.is_some()
                && if keyless {
                    r.0.is_some() && l.0 >= r.0
                } else {
                    l.0 == r.0
                }
                && if interval {
                    r.1 - 10 <= l.1 && l.1 <= r.1 + 5
                } else {
                    end(l.1) == end(r.1)
                }
        };
        let mut out = Vec::new();
        match jt.semi_side() {
            Some((0, semi)) => {
                for l in &kept[0] {
                    if kept[1].iter().any(|r| matches(l, r)) == semi {
                        out.push((l.0, Some(l.1), None, None));
                    }
                }
            }
            Some((_, semi)) => {
                for r in &kept[1] {
                    if kept[0].iter().any(|l| matches(l, r)) == semi {
                        out.push((None, None, r.0, Some(r.1)));
                    }
                }
            }
            None => {
                for l in &kept[0] {
                    for r in &kept[1] {
                        if matches(l, r) {
                            out.push((l.0, Some(l.1), r.0, Some(r.1)));
                        }
                    }
                }
            }
        }
        if matches!(jt, JoinType::Left | JoinType::Full) {
            for l in &kept[0] {
                if !kept[1].iter().any(|r| matches(l, r)) {
                    out.push((l.0, Some(l.1), None, None));
                }
            }
        }
        if matches!(jt, JoinType::Right | JoinType::Full) {
            for r in &kept[1] {
                if !kept[0].iter().any(|l| matches(l, r)) {
                    out.push((None, None, r.0, Some(r.1)));
                }
            }
        }
        out.sort();
        (out, late)
    }

    /// Runs `steps` on `p` subtasks, checkpointed before step `cut` and restored on `p2`
    /// (None: never); the end of input is a watermark at the end of time.
    fn run(
        spec: &JoinSpec,
        steps: &Steps,
        cut: Option<usize>,
        p: u32,
        p2: u32,
        max: u32,
    ) -> (Vec<RecordBatch>, u64) {
        let mut ops: Vec<JoinOperator> = (0..p).map(|_| JoinOperator::new(spec).unwrap()).collect();
        let mut out = Collect(vec![]);
        let mut late = 0;
        for i in 0..=steps.len() {
            if Some(i) == cut {
                late += super::state_ipc::rescale(&mut ops, p2, max, || {
                    JoinOperator::new(spec).unwrap()
                });
            }
            let Some((l, r, w)) = steps.get(i) else {
                break;
            };
            for (side, rows) in [l, r].into_iter().enumerate() {
                let b = batch(if side == 0 { "l" } else { "r" }, rows);
                let n = ops.len() as u32;
                for (op, part) in ops.iter_mut().zip(route(&b, &spec.left_keys, n, max)) {
                    if part.num_rows() > 0 {
                        op.process_batch_from(side as u32, part, &mut out).unwrap();
                    }
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
            assert!(
                op.sides.iter().all(|s| s.store.is_empty()),
                "rows are released"
            );
        }
        late += ops.iter().map(|o| o.late_records_dropped()).sum::<u64>();
        (out.0, late)
    }

    fn steps() -> impl Strategy<Value = Steps> {
        let rows = prop::collection::vec((prop::option::weighted(0.9, 0i64..4), 0i64..60), 0..8);
        prop::collection::vec(
            (rows.clone(), rows, prop::option::weighted(0.5, 0i64..60)),
            1..8,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Window and interval joins checkpointed after a prefix at parallelism p and restored
        /// at p2 emit the naive join, with the same late rows.
        #[test]
        fn joins_survive_a_restore_at_another_parallelism(
            steps in steps(),
            cut in 0usize..10,
            p in 1u32..4,
            p2 in 1u32..4,
            max in 3u32..24,
            kind in 0usize..2,
            jt in 0usize..8,
            keyless in any::<bool>(),
        ) {
            let jt = if kind > 0 { JoinType::Inner } else { JoinType::ALL[jt] };
            let spec = spec(kind, jt, keyless);
            let cut = cut.min(steps.len());
            let (out, late) = run(&spec, &steps, Some(cut), p, p2, max);
            let (want, want_late) = expected(&steps, &spec);
            prop_assert_eq!(pairs(&out, jt), want);
            prop_assert_eq!(late, want_late);
        }

        /// Taking snapshots does not change what a join emits.
        #[test]
        fn snapshots_do_not_change_a_join(
            steps in steps(),
            kind in 0usize..2,
            jt in 0usize..8,
            keyless in any::<bool>(),
        ) {
            let jt = if kind > 0 { JoinType::Inner } else { JoinType::ALL[jt] };
            let spec = spec(kind, jt, keyless);
            let (plain, late) = run(&spec, &steps, None, 1, 1, 128);
            let mut j = JoinOperator::new(&spec).unwrap();
            let mut out = Collect(vec![]);
            for (l, r, w) in &steps {
                j.snapshot_state(1).unwrap();
                j.process_batch_from(0, batch("l", l), &mut out).unwrap();
                j.snapshot_state(2).unwrap();
                j.process_batch_from(1, batch("r", r), &mut out).unwrap();
                j.snapshot_state(3).unwrap();
                if let Some(w) = w {
                    j.process_watermark(*w, &mut out).unwrap();
                }
            }
            j.process_watermark(i64::MAX, &mut out).unwrap();
            prop_assert_eq!(&out.0, &plain);
            prop_assert_eq!(j.late_records_dropped(), late);
        }
    }
}
