//! Window Top-N (Flink's `WindowRank`): `ROW_NUMBER()`, `RANK()` or `DENSE_RANK()` `OVER
//! (PARTITION BY window_start, window_end, ... ORDER BY ...)` filtered by `rownum <= N`, over the
//! rows of a window table function or a window aggregate. Each window's ranking is emitted once,
//! when the watermark passes the window's end (and at end of input), as append-only rows (the
//! input's columns and the rank); the window's state is then dropped. Rows of a window that has
//! fired are late: dropped and counted.
//!
//! The decision core, [`Ranked`], is sans-IO: per partition, the rows by sort key (ties in
//! arrival order), pruned as rows come to those that can still rank within N, so a window holds
//! at most about N rows per partition (more only for ties under RANK and DENSE_RANK).
//!
//! **Checkpoints**: the kept rows of every open window (input columns, which include the window
//! end), with the watermark; a restore keeps the rows whose partition (hashed as the exchange in
//! front hashes it) belongs to this subtask and inserts them again.

use super::retract_rank::ranks;
use super::state_ipc;
use crate::error::TaskError;
use crate::operator::{Operator, Output, RestoreScope};
use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{OwnedRow, RowConverter};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use strom_plan::{RankSpec, RankType};

const SNAPSHOT_FORMAT: &str = "window-rank/v1";

/// The rows of every partition of one window that can still rank within the limit (sans-IO).
#[derive(Debug)]
pub struct Ranked<K, R> {
    rank_type: RankType,
    limit: usize,
    partitions: HashMap<Vec<u8>, Groups<K, R>>,
}

/// One partition's rows by sort key.
#[derive(Debug)]
struct Groups<K, R> {
    groups: BTreeMap<K, Vec<R>>,
    rows: usize,
}

impl<K, R> Default for Groups<K, R> {
    fn default() -> Self {
        Self {
            groups: BTreeMap::new(),
            rows: 0,
        }
    }
}

impl<K: Ord + Clone, R: Clone> Ranked<K, R> {
    pub fn new(rank_type: RankType, limit: u64) -> Self {
        Self {
            rank_type,
            limit: usize::try_from(limit.max(1)).unwrap_or(usize::MAX),
            partitions: HashMap::new(),
        }
    }

    /// Whether a row of sort key `key` could rank within the limit in `partition` (a cheap test
    /// before the row is copied: most rows of a large window cannot).
    pub fn admits(&self, partition: &[u8], key: impl Fn(&K) -> std::cmp::Ordering) -> bool {
        let Some(p) = self.partitions.get(partition) else {
            return true;
        };
        let Some((last, _)) = p.groups.last_key_value() else {
            return true;
        };
        let full = match self.rank_type {
            RankType::RowNumber | RankType::Rank => p.rows >= self.limit,
            RankType::DenseRank => p.groups.len() >= self.limit,
        };
        // `key(last)`: how the last kept key compares with the row's
        match key(last) {
            std::cmp::Ordering::Greater => true,
            // a tie joins the last rank, except under ROW_NUMBER (it would come after N)
            std::cmp::Ordering::Equal => !full || self.rank_type != RankType::RowNumber,
            std::cmp::Ordering::Less => !full,
        }
    }

    /// Adds `row` of sort key `key` to `partition`, then drops what can no longer rank within
    /// the limit.
    pub fn insert(&mut self, partition: &[u8], key: K, row: R) {
        let limit = self.limit;
        let p = match self.partitions.get_mut(partition) {
            Some(p) => p,
            None => self.partitions.entry(partition.to_vec()).or_default(),
        };
        p.groups.entry(key).or_default().push(row);
        p.rows += 1;
        loop {
            let keys = p.groups.len();
            let Some(mut last) = p.groups.last_entry() else {
                break;
            };
            let last_len = last.get().len();
            match self.rank_type {
                // the last row (the latest of the last key) is past N
                RankType::RowNumber if p.rows > limit => {
                    last.get_mut().pop();
                    p.rows -= 1;
                    if last.get().is_empty() {
                        last.remove();
                    }
                }
                // the last key's rank (the rows before it, plus one) is past N
                RankType::Rank if p.rows - last_len >= limit => {
                    last.remove();
                    p.rows -= last_len;
                }
                RankType::DenseRank if keys > limit => {
                    last.remove();
                    p.rows -= last_len;
                }
                _ => break,
            }
        }
    }

    /// Every partition's ranked rows: (row, rank), rank <= limit.
    pub fn ranked(&self) -> Vec<(&R, u64)> {
        self.partitions
            .values()
            .flat_map(|p| ranks(self.rank_type, self.limit as u64, p.groups.values()))
            .collect()
    }

    /// Every kept row.
    pub fn rows(&self) -> impl Iterator<Item = &R> {
        self.partitions
            .values()
            .flat_map(|p| p.groups.values().flatten())
    }
}

/// The window Top-N over Arrow batches.
pub struct WindowRankOperator {
    spec: RankSpec,
    /// The input column holding `window_end`.
    window_end: usize,
    partition: Option<RowConverter>,
    sort: RowConverter,
    rows: RowConverter,
    output: SchemaRef,
    windows: BTreeMap<i64, Ranked<OwnedRow, OwnedRow>>,
    watermark: i64,
    late_dropped: u64,
}

impl WindowRankOperator {
    pub fn new(spec: &RankSpec, window_end: usize) -> Result<Self, TaskError> {
        let (partition, sort, rows) = super::rank::converters(spec, &spec.input)?;
        Ok(Self {
            spec: spec.clone(),
            window_end,
            partition,
            sort,
            rows,
            output: spec.output.to_arrow(),
            windows: BTreeMap::new(),
            watermark: i64::MIN,
            late_dropped: 0,
        })
    }

    /// Keeps the rows of `batch` that can rank in their window (`late`: drop and count the
    /// rows of windows that have fired).
    fn insert_batch(&mut self, batch: &RecordBatch, late: bool) -> Result<(), TaskError> {
        let ends = super::aggregate::window_ends(batch.column(self.window_end))?;
        let (parts, keys, rows) = super::rank::convert_batch(
            (&self.partition, &self.sort, &self.rows),
            &self.spec,
            batch,
            batch.num_columns(),
        )?;
        let (rank_type, limit) = (self.spec.rank_type, self.spec.limit);
        for (i, end) in ends.iter().enumerate() {
            if late && end - 1 <= self.watermark {
                self.late_dropped += 1;
                continue;
            }
            let part: &[u8] = parts.as_ref().map_or(&[], |p| p.row(i).data());
            let key = keys.row(i);
            let window = self
                .windows
                .entry(*end)
                .or_insert_with(|| Ranked::new(rank_type, limit));
            if window.admits(part, |k| k.row().cmp(&key)) {
                window.insert(part, key.owned(), rows.row(i).owned());
            }
        }
        Ok(())
    }

    /// Emits the rankings of the windows ending at or before `watermark + 1`, and drops them.
    fn fire(&mut self, watermark: i64, out: &mut dyn Output) -> Result<(), TaskError> {
        let due: Vec<i64> = self
            .windows
            .range(..=watermark.saturating_add(1))
            .map(|(e, _)| *e)
            .collect();
        for end in due {
            let Some(window) = self.windows.remove(&end) else {
                continue;
            };
            let ranked = window.ranked();
            if ranked.is_empty() {
                continue;
            }
            let mut cols = self
                .rows
                .convert_rows(ranked.iter().map(|(r, _)| r.row()))?;
            cols.push(Arc::new(Int64Array::from_iter_values(
                ranked.iter().map(|(_, rank)| *rank as i64),
            )));
            out.emit(super::conform(&self.output, cols, ranked.len())?)?;
        }
        Ok(())
    }

    fn snapshot_schema(&self) -> SchemaRef {
        let fields = state_ipc::fields_of(&self.spec.input);
        state_ipc::schema(fields, SNAPSHOT_FORMAT, self.watermark)
    }
}

impl Operator for WindowRankOperator {
    fn name(&self) -> &str {
        "WindowRank"
    }

    fn process_batch(
        &mut self,
        batch: RecordBatch,
        _out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        self.insert_batch(&batch, true)
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
        self.fire(i64::MAX - 1, out)
    }

    fn late_records_dropped(&self) -> u64 {
        self.late_dropped
    }

    fn snapshot_state(&mut self, _checkpoint: u64) -> Result<Option<Vec<u8>>, TaskError> {
        let schema = self.snapshot_schema();
        let rows = self
            .windows
            .values()
            .flat_map(|w| w.rows().map(|r| r.row()));
        state_ipc::write_rows(&schema, &self.rows, rows).map(Some)
    }

    fn restore_state(&mut self, states: &[Vec<u8>], scope: &RestoreScope) -> Result<(), TaskError> {
        let expected = self.snapshot_schema();
        let input = state_ipc::nullable(&self.spec.input.to_arrow());
        let mut watermark = None;
        for bytes in states {
            let snap = state_ipc::read(bytes, SNAPSHOT_FORMAT, &expected)?;
            watermark = Some(watermark.map_or(snap.watermark, |w: i64| w.max(snap.watermark)));
            for b in snap.batches {
                let b = state_ipc::owned(&b, &self.spec.partition_by, scope)?;
                if b.num_rows() > 0 {
                    let b = RecordBatch::try_new(input.clone(), b.columns().to_vec())?;
                    self.insert_batch(&b, false)?;
                }
            }
        }
        if let Some(w) = watermark {
            self.watermark = self.watermark.max(w);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::state_ipc::{rescale, route};
    use crate::operators::testkit::{col, Collect};
    use datafusion::arrow::array::{Array, AsArray, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::Int64Type;
    use proptest::prelude::*;
    use strom_plan::{RowSchema, SortKey, SqlType};

    /// (partition, sort key, payload) rows in arrival order: the naive ranking, (partition,
    /// key, payload, rank) sorted.
    fn naive(rows: &[(u8, i64, i64)], rank_type: RankType, limit: u64) -> Vec<(u8, i64, i64, u64)> {
        let mut out = Vec::new();
        for p in 0..4u8 {
            let mut mine: Vec<(i64, i64)> = rows
                .iter()
                .filter(|r| r.0 == p)
                .map(|r| (r.1, r.2))
                .collect();
            mine.sort_by_key(|r| r.0); // stable: ties in arrival order
            for (i, (k, v)) in mine.iter().enumerate() {
                let rank = match rank_type {
                    RankType::RowNumber => i as u64 + 1,
                    RankType::Rank => mine.iter().filter(|x| x.0 < *k).count() as u64 + 1,
                    RankType::DenseRank => {
                        let mut smaller: Vec<i64> =
                            mine.iter().filter(|x| x.0 < *k).map(|x| x.0).collect();
                        smaller.dedup();
                        smaller.len() as u64 + 1
                    }
                };
                if rank <= limit {
                    out.push((p, *k, *v, rank));
                }
            }
        }
        out.sort();
        out
    }

    fn rank_types() -> impl Strategy<Value = RankType> {
        prop_oneof![
            Just(RankType::RowNumber),
            Just(RankType::Rank),
            Just(RankType::DenseRank)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The pruned ranking of a window equals the naive ranking of all its rows.
        #[test]
        fn a_pruned_ranking_equals_the_naive_one(
            rows in prop::collection::vec((0u8..4, 0i64..6, 0i64..1000), 0..80),
            rank_type in rank_types(),
            limit in 1u64..5,
        ) {
            let mut r: Ranked<i64, (u8, i64, i64)> = Ranked::new(rank_type, limit);
            for (p, k, v) in &rows {
                if r.admits(&[*p], |last| last.cmp(k)) {
                    r.insert(&[*p], *k, (*p, *k, *v));
                }
            }
            // and it keeps no more than can rank within the limit
            for p in r.partitions.values() {
                let last = p.groups.values().last().map_or(0, |g| g.len());
                let bounded = match rank_type {
                    RankType::RowNumber => p.rows <= limit as usize,
                    RankType::Rank => p.rows - last < limit as usize,
                    RankType::DenseRank => p.groups.len() <= limit as usize,
                };
                prop_assert!(bounded, "{} rows in {} keys kept", p.rows, p.groups.len());
            }
            let mut got: Vec<(u8, i64, i64, u64)> =
                r.ranked().into_iter().map(|(x, rank)| (x.0, x.1, x.2, rank)).collect();
            got.sort();
            prop_assert_eq!(got, naive(&rows, rank_type, limit));
        }
    }

    fn spec(rank_type: RankType, limit: u64) -> RankSpec {
        let input = RowSchema::new(vec![
            col("we", SqlType::Timestamp(3)),
            col("k", SqlType::BigInt),
            col("v", SqlType::BigInt),
        ]);
        let mut output = input.clone();
        output.columns.push(col("rk", SqlType::BigInt));
        RankSpec {
            input,
            partition_by: vec![0],
            order_by: vec![SortKey {
                column: 1,
                descending: true,
                nulls_first: false,
            }],
            limit,
            rank_type,
            state_ttl_ms: 0,
            window_end: Some(0),
            deduplicate: None,
            output,
        }
    }

    fn batch(s: &RankSpec, rows: &[(i64, i64, i64)]) -> RecordBatch {
        RecordBatch::try_new(
            s.input.to_arrow(),
            vec![
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    rows.iter().map(|r| r.0),
                )),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap()
    }

    fn emitted(out: &Collect) -> Vec<(i64, i64, i64, i64)> {
        let mut rows: Vec<(i64, i64, i64, i64)> = out
            .0
            .iter()
            .flat_map(|b| {
                let we = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<TimestampMillisecondArray>()
                    .unwrap()
                    .clone();
                let k = b.column(1).as_primitive::<Int64Type>().clone();
                let v = b.column(2).as_primitive::<Int64Type>().clone();
                let rk = b.column(3).as_primitive::<Int64Type>().clone();
                (0..b.num_rows()).map(move |i| (we.value(i), k.value(i), v.value(i), rk.value(i)))
            })
            .collect();
        rows.sort();
        rows
    }

    /// A window fires when the watermark passes its end, once; its late rows are dropped; a
    /// checkpoint restored at another parallelism keeps the open windows.
    #[test]
    fn windows_fire_on_the_watermark_and_survive_a_restore() {
        let s = spec(RankType::RowNumber, 2);
        let max = 128;
        let new = || WindowRankOperator::new(&s, 0).unwrap();
        let mut ops = vec![new(), new()];
        let mut out = Collect(vec![]);
        let feed =
            |ops: &mut Vec<WindowRankOperator>, rows: &[(i64, i64, i64)], out: &mut Collect| {
                let b = batch(&s, rows);
                let n = ops.len() as u32;
                for (op, part) in ops.iter_mut().zip(route(&b, &[0], n, max)) {
                    if part.num_rows() > 0 {
                        op.process_batch(part, out).unwrap();
                    }
                }
            };
        feed(
            &mut ops,
            &[(10, 5, 1), (10, 7, 2), (20, 1, 3), (10, 6, 4)],
            &mut out,
        );
        for op in ops.iter_mut() {
            op.process_watermark(9, &mut out).unwrap();
        }
        // window 10 fired: its top 2 by k descending
        assert_eq!(emitted(&out), vec![(10, 6, 4, 2), (10, 7, 2, 1)]);
        feed(&mut ops, &[(10, 9, 5), (20, 3, 6)], &mut out); // (10, ...) is late
        let late: u64 = ops.iter().map(|o| o.late_records_dropped()).sum();
        assert_eq!(late, 1);
        rescale(&mut ops, 3, max, new);
        feed(&mut ops, &[(20, 2, 7)], &mut out);
        for op in ops.iter_mut() {
            op.finish(&mut out).unwrap();
        }
        assert_eq!(
            emitted(&out),
            vec![(10, 6, 4, 2), (10, 7, 2, 1), (20, 2, 7, 2), (20, 3, 6, 1)]
        );
    }
}
