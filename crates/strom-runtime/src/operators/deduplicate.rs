//! Streaming deduplication (Flink's Deduplicate): `ROW_NUMBER() OVER (PARTITION BY k ORDER BY
//! <time attribute> [ASC | DESC])` filtered to `rownum = 1` over an append-only input keeps, per
//! partition, one row: the first in time (`ASC`) or the last (`DESC`). A row that takes a
//! partition's place gives `+I[row, 1]` when it is the first one, else `-U[old, 1]` and
//! `+U[new, 1]`. As Flink's `RowTimeDeduplicateFunction` decides: keeping the last row, a row
//! whose time is at or after the kept one's replaces it; keeping the first, only a row strictly
//! before it does (a processing-time attribute only grows, so the same rules hold).
//!
//! The decision core, [`Dedup`], is sans-IO: a partition key's bytes and a row's time in, what
//! happened out. The rows themselves are Arrow columns in a [`RowArena`], as the Top-N keeps
//! them; checkpoints are the Top-N's too (the kept rows as the input columns, see
//! [`super::rank`]), so a savepoint of either restores into the other.

use super::rank::{emit_changes, partition_keys, restore_rows, snapshot_rows, Change};
use super::row_arena::{RowArena, RowRef};
use super::ttl::{Clock, ExpiringMap, Ttl};
use crate::error::TaskError;
use crate::operator::{Operator, Output, RestoreScope};
use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::arrow::row::RowConverter;
use strom_plan::{RankSpec, RowKind};

/// What one row did to its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<R> {
    /// The partition had no row: this one is kept.
    Inserted,
    /// This row took the place of the one given.
    Replaced(R),
    /// The kept row stays.
    Dropped,
}

/// Per partition, the row kept and its time (sans-IO), under a state time-to-live.
#[derive(Debug)]
pub struct Dedup<R> {
    keep_last: bool,
    rows: ExpiringMap<(i64, R)>,
}

impl<R: Copy> Dedup<R> {
    pub fn new(keep_last: bool, ttl_ms: u64) -> Self {
        Self {
            keep_last,
            rows: ExpiringMap::new(ttl_ms),
        }
    }

    /// The processing time of the rows offered next (`sweep`: drop expired partitions).
    pub fn set_now(&mut self, now: i64, sweep: bool) {
        self.rows.set_now(now, sweep);
    }

    /// Whether a row of time `time` replaces `kept` (the time of the kept row).
    fn replaces(&self, time: i64, kept: i64) -> bool {
        if self.keep_last {
            time >= kept
        } else {
            time < kept
        }
    }

    /// Whether a row of time `time` would take partition `partition`'s place.
    pub fn enters(&self, partition: &[u8], time: i64) -> bool {
        self.rows
            .get(partition)
            .is_none_or(|(kept, _)| self.replaces(time, *kept))
    }

    /// Offers partition `partition` the row `row` of time `time`.
    pub fn offer(&mut self, partition: &[u8], time: i64, row: R) -> Outcome<R> {
        let keep_last = self.keep_last;
        self.rows.update(partition, |kept| match kept {
            None => (Some((time, row)), Outcome::Inserted),
            Some(&(t, old)) if (keep_last && time >= t) || (!keep_last && time < t) => {
                (Some((time, row)), Outcome::Replaced(old))
            }
            Some(_) => (None, Outcome::Dropped),
        })
    }

    /// Partitions held (expired ones not yet swept out included).
    pub fn partitions(&self) -> usize {
        self.rows.len()
    }

    /// Every kept row.
    pub fn rows(&self) -> impl Iterator<Item = &R> {
        self.rows.values().map(|(_, r)| r)
    }

    /// Every kept row, to rewrite in place.
    pub fn rows_mut(&mut self) -> impl Iterator<Item = &mut R> {
        self.rows.values_mut().map(|(_, r)| r)
    }
}

/// The Deduplicate operator over Arrow batches.
pub struct DeduplicateOperator {
    spec: RankSpec,
    /// Partition keys (plain row format); `None` without partition columns.
    partition: Option<RowConverter>,
    /// The input column of the time attribute.
    time: usize,
    arena: RowArena,
    output: SchemaRef,
    dedup: Dedup<RowRef>,
    ttl: Option<Ttl>,
    clock: Clock,
}

impl DeduplicateOperator {
    pub fn new(spec: &RankSpec) -> Result<Self, TaskError> {
        let [key] = spec.order_by.as_slice() else {
            return Err(TaskError::Deployment(
                "a deduplication orders by one time attribute".into(),
            ));
        };
        if spec.limit != 1 || spec.input_is_changelog() {
            return Err(TaskError::Deployment(
                "a deduplication keeps one row per partition of an append-only input".into(),
            ));
        }
        let (partition, _, _) = super::rank::converters(spec, &spec.input)?;
        Ok(Self {
            spec: spec.clone(),
            partition,
            time: key.column,
            arena: RowArena::new(spec.input.to_arrow()),
            output: spec.output.to_arrow(),
            dedup: Dedup::new(key.descending, spec.state_ttl_ms),
            ttl: Ttl::new(spec.state_ttl_ms),
            clock: Clock::default(),
        })
    }

    /// Reads processing time from `clock` (tests move it by hand).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Compacts the kept rows at every chance (tests of the compaction path).
    #[cfg(test)]
    fn compacting_eagerly(mut self) -> Self {
        self.arena = RowArena::new(self.spec.input.to_arrow()).eager();
        self
    }

    /// Each row's time (NULL first of all).
    fn times(&self, batch: &RecordBatch) -> Result<Vec<i64>, TaskError> {
        let t = cast(batch.column(self.time), &DataType::Int64)?;
        let t = t.as_primitive::<Int64Type>();
        Ok((0..t.len())
            .map(|i| if t.is_valid(i) { t.value(i) } else { i64::MIN })
            .collect())
    }

    /// Offers the rows of `batch`; returns the changes (valid until the next compaction).
    fn insert_batch(&mut self, batch: &RecordBatch) -> Result<Changes, TaskError> {
        let parts = partition_keys(&self.partition, &self.spec, batch)?;
        let times = self.times(batch)?;
        if let Some(ttl) = &mut self.ttl {
            let now = self.clock.now();
            self.dedup.set_now(now, ttl.sweep_due(now));
        }
        let part = |i: usize| -> &[u8] { parts.as_ref().map_or(&[], |p| p.row(i).data()) };
        // Keeping the first row, most rows do not enter; a row that does not enter now does
        // not later either (a partition's kept time only moves one way): only the others are
        // stored. Keeping the last row, nearly every row enters.
        let entering: Option<Vec<u32>> = (!self.dedup.keep_last).then(|| {
            (0..batch.num_rows())
                .filter(|&i| self.dedup.enters(part(i), times[i]))
                .map(|i| i as u32)
                .collect()
        });
        let (kept, rows) = match entering {
            Some(e) if e.is_empty() => {
                return Ok(Changes {
                    earlier: Vec::new(),
                    sequence: Vec::new(),
                    kept: batch.clone(),
                })
            }
            Some(e) if e.len() < batch.num_rows() => {
                (take_record_batch(batch, &UInt32Array::from(e.clone()))?, e)
            }
            _ => (batch.clone(), (0..batch.num_rows() as u32).collect()),
        };
        let at = self.arena.add(kept.clone())?;
        let mut changes = Changes {
            earlier: Vec::new(),
            sequence: Vec::with_capacity(rows.len()),
            kept,
        };
        for (j, i) in rows.into_iter().enumerate() {
            let i = i as usize;
            let new = at(j);
            match self.dedup.offer(part(i), times[i], new) {
                Outcome::Inserted => changes.sequence.push((j as u32, RowKind::Insert)),
                Outcome::Replaced(old) => {
                    match old.row_in_chunk_of(new) {
                        Some(o) => changes.sequence.push((o as u32, RowKind::UpdateBefore)),
                        None => changes.earlier.push(old),
                    }
                    changes.sequence.push((j as u32, RowKind::UpdateAfter));
                }
                Outcome::Dropped => {}
            }
        }
        Ok(changes)
    }

    /// Emits `changes`: first the retractions of rows of earlier batches, then the changes
    /// among the batch's own rows in their order (each partition's changes stay in order).
    fn emit(&mut self, changes: Changes, out: &mut dyn Output) -> Result<(), TaskError> {
        if !changes.earlier.is_empty() {
            let rows = self.arena.gather(changes.earlier.iter().copied())?;
            let retract: Vec<Change<()>> = changes
                .earlier
                .iter()
                .map(|_| change((), RowKind::UpdateBefore))
                .collect();
            emit_changes(rows, &self.output, &retract, out)?;
        }
        if changes.sequence.is_empty() {
            return Ok(());
        }
        let whole = changes.sequence.len() == changes.kept.num_rows()
            && changes
                .sequence
                .iter()
                .enumerate()
                .all(|(i, (j, _))| i == *j as usize);
        let rows = if whole {
            changes.kept.columns().to_vec()
        } else {
            let idx = UInt32Array::from_iter_values(changes.sequence.iter().map(|(j, _)| *j));
            take_record_batch(&changes.kept, &idx)?.columns().to_vec()
        };
        let kinds: Vec<Change<()>> = changes
            .sequence
            .iter()
            .map(|(_, kind)| change((), *kind))
            .collect();
        emit_changes(rows, &self.output, &kinds, out)
    }

    /// Compacts the kept rows once the arena holds too many that were replaced.
    fn compact_if_due(&mut self) -> Result<(), TaskError> {
        if self.arena.wants_compaction(self.dedup.partitions()) {
            if self.ttl.is_some() {
                self.dedup.set_now(self.clock.now(), true);
            }
            self.arena.compact(self.dedup.rows_mut())?;
        }
        Ok(())
    }
}

fn change(row: (), kind: RowKind) -> Change<()> {
    Change { row, rank: 1, kind }
}

/// What a batch changed: `-U` of rows of earlier batches, then, in order, changes among the
/// rows of the batch (`kept`: the rows of it that were offered).
struct Changes {
    earlier: Vec<RowRef>,
    sequence: Vec<(u32, RowKind)>,
    kept: RecordBatch,
}

impl Operator for DeduplicateOperator {
    fn name(&self) -> &str {
        "Deduplicate"
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        let changes = self.insert_batch(&batch)?;
        self.emit(changes, out)?;
        self.compact_if_due()
    }

    fn snapshot_state(&mut self, _checkpoint: u64) -> Result<Option<Vec<u8>>, TaskError> {
        let rows: Vec<RowRef> = self.dedup.rows().copied().collect();
        snapshot_rows(&self.spec, &mut self.arena, rows).map(Some)
    }

    fn restore_state(&mut self, states: &[Vec<u8>], scope: &RestoreScope) -> Result<(), TaskError> {
        let spec = self.spec.clone();
        restore_rows(&spec, states, scope, |b| {
            self.insert_batch(b)?;
            self.compact_if_due()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::state_ipc::{rescale, route};
    use crate::operators::testkit::Collect;
    use datafusion::arrow::array::{Int64Array, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::Int8Type;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use strom_plan::{Column, RowSchema, SortKey, SqlType, TimeAttribute};

    /// Rows (partition, time, payload).
    type In = (i64, i64, i64);

    fn spec(keep_last: bool) -> RankSpec {
        let c = |name: &str, ty: SqlType| Column {
            name: name.into(),
            ty,
            nullable: false,
        };
        let input = RowSchema::new(vec![
            c("p", SqlType::BigInt),
            c("ts", SqlType::Timestamp(3)),
            c("v", SqlType::BigInt),
        ]);
        let mut output = input.clone();
        output.columns.push(c("rn", SqlType::BigInt));
        RankSpec {
            state_ttl_ms: 0,
            window_end: None,
            deduplicate: Some(TimeAttribute::Rowtime),
            input,
            partition_by: vec![0],
            order_by: vec![SortKey {
                column: 1,
                descending: keep_last,
                nulls_first: false,
            }],
            limit: 1,
            rank_type: strom_plan::RankType::RowNumber,
            output: output.with_op(),
        }
    }

    fn batch(spec: &RankSpec, rows: &[In]) -> RecordBatch {
        RecordBatch::try_new(
            spec.input.to_arrow(),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    rows.iter().map(|r| r.1),
                )),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap()
    }

    /// The changelog's rows: (kind, partition, time, payload, rank).
    fn changes(batches: &[RecordBatch]) -> Vec<(i8, In, i64)> {
        let mut out = Vec::new();
        for b in batches {
            let int = |i: usize| {
                let c = cast(b.column(i), &DataType::Int64).unwrap();
                c.as_primitive::<Int64Type>().clone()
            };
            let (p, t, v, rn) = (int(0), int(1), int(2), int(3));
            let op = b.column(4).as_primitive::<Int8Type>();
            for i in 0..b.num_rows() {
                out.push((
                    op.value(i),
                    (p.value(i), t.value(i), v.value(i)),
                    rn.value(i),
                ));
            }
        }
        out
    }

    /// The table a changelog ends with, by partition; panics on a retraction of a row that is
    /// not the partition's.
    fn replay(log: &[(i8, In, i64)]) -> BTreeMap<i64, In> {
        let mut table = BTreeMap::new();
        for (kind, row, rank) in log {
            assert_eq!(*rank, 1);
            match RowKind::from_byte(*kind).unwrap() {
                RowKind::Insert | RowKind::UpdateAfter => {
                    assert!(
                        table.insert(row.0, *row).is_none(),
                        "two rows for {}",
                        row.0
                    );
                }
                RowKind::UpdateBefore | RowKind::Delete => {
                    assert_eq!(table.remove(&row.0), Some(*row), "retracted {row:?}");
                }
            }
        }
        table
    }

    /// The answer by hand: per partition the first row of the least time, or the last row of
    /// the greatest time (a later row of an equal time wins).
    fn expected(rows: &[In], keep_last: bool) -> BTreeMap<i64, In> {
        let mut want: BTreeMap<i64, In> = BTreeMap::new();
        for r in rows {
            let e = want.entry(r.0).or_insert(*r);
            if (keep_last && r.1 >= e.1) || (!keep_last && r.1 < e.1) {
                *e = *r;
            }
        }
        want
    }

    fn run(op: &mut DeduplicateOperator, spec: &RankSpec, rows: &[In], chunk: usize) -> Collect {
        let mut out = Collect(vec![]);
        for c in rows.chunks(chunk.max(1)) {
            op.process_batch(batch(spec, c), &mut out).unwrap();
        }
        out
    }

    #[test]
    fn keeps_the_last_row_and_an_equal_time_replaces() {
        let s = spec(true);
        let mut op = DeduplicateOperator::new(&s).unwrap();
        let out = run(
            &mut op,
            &s,
            &[(1, 10, 100), (1, 5, 101), (1, 10, 102), (2, 1, 200)],
            2,
        );
        assert_eq!(
            changes(&out.0),
            vec![
                (RowKind::Insert as i8, (1, 10, 100), 1),
                (RowKind::UpdateBefore as i8, (1, 10, 100), 1),
                (RowKind::UpdateAfter as i8, (1, 10, 102), 1),
                (RowKind::Insert as i8, (2, 1, 200), 1),
            ]
        );
    }

    #[test]
    fn keeps_the_first_row_and_an_earlier_one_replaces() {
        let s = spec(false);
        let mut op = DeduplicateOperator::new(&s).unwrap();
        let out = run(
            &mut op,
            &s,
            &[(1, 10, 100), (1, 10, 101), (1, 4, 102), (1, 7, 103)],
            3,
        );
        assert_eq!(
            changes(&out.0),
            vec![
                (RowKind::Insert as i8, (1, 10, 100), 1),
                (RowKind::UpdateBefore as i8, (1, 10, 100), 1),
                (RowKind::UpdateAfter as i8, (1, 4, 102), 1),
            ]
        );
    }

    #[test]
    fn refuses_what_is_not_a_deduplication() {
        let mut s = spec(true);
        s.limit = 2;
        assert!(DeduplicateOperator::new(&s).is_err());
        let mut s = spec(true);
        s.order_by.push(s.order_by[0]);
        assert!(DeduplicateOperator::new(&s).is_err());
    }

    /// Keeping the first row, a later row of an earlier time replaces it (a write); a row that
    /// replaces nothing does not keep the partition alive, and a partition not written for the
    /// TTL starts afresh.
    #[test]
    fn a_state_ttl_drops_partitions_not_written_for_that_long() {
        use std::sync::atomic::{AtomicI64, Ordering};
        let s = RankSpec {
            state_ttl_ms: 100,
            ..spec(false)
        };
        let now = Arc::new(AtomicI64::new(0));
        let mut op = DeduplicateOperator::new(&s)
            .unwrap()
            .with_clock(Clock::manual(now.clone()));
        let mut out = Collect(vec![]);
        for (t, row) in [(0, (1, 10, 100)), (50, (1, 12, 101)), (120, (1, 11, 102))] {
            now.store(t, Ordering::Relaxed);
            op.process_batch(batch(&s, &[row]), &mut out).unwrap();
        }
        assert_eq!(
            changes(&out.0),
            vec![
                (RowKind::Insert as i8, (1, 10, 100), 1),
                (RowKind::Insert as i8, (1, 11, 102), 1),
            ]
        );
    }

    proptest! {
        /// Rows in any order of time and partition, in batches of any size, compacting at
        /// every chance or not: the replayed changelog is the row kept by hand, and the state
        /// restored at another parallelism goes on as if never stopped.
        #[test]
        fn changelog_replays_to_the_rows_kept_by_hand(
            rows in prop::collection::vec((0i64..6, 0i64..8, any::<i64>()), 0..80),
            chunk in 1usize..9,
            keep_last: bool,
            eager: bool,
            cut in 0usize..80,
        ) {
            let s = spec(keep_last);
            let fresh = || {
                let op = DeduplicateOperator::new(&s).unwrap();
                if eager { op.compacting_eagerly() } else { op }
            };
            let mut op = fresh();
            let out = run(&mut op, &s, &rows, chunk);
            prop_assert_eq!(replay(&changes(&out.0)), expected(&rows, keep_last));

            // stop after `cut` rows, restore at parallelism 3, go on with the rest
            let cut = cut.min(rows.len());
            let mut ops = vec![fresh()];
            let mut log = changes(&run(&mut ops[0], &s, &rows[..cut], chunk).0);
            rescale(&mut ops, 3, 128, fresh);
            let rest = batch(&s, &rows[cut..]);
            for (op, b) in ops.iter_mut().zip(route(&rest, &[0], 3, 128)) {
                let mut out = Collect(vec![]);
                for c in (0..b.num_rows()).step_by(chunk.max(1)) {
                    let len = chunk.min(b.num_rows() - c);
                    op.process_batch(b.slice(c, len), &mut out).unwrap();
                }
                log.extend(changes(&out.0));
            }
            prop_assert_eq!(replay(&log), expected(&rows, keep_last));
        }
    }
}
