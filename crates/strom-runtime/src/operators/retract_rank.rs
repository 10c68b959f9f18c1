//! Top-N over a changelog, and RANK / DENSE_RANK (Flink's `RetractableTopNFunction`): per
//! partition every row is kept, ordered by its sort key (rows of equal keys in arrival order),
//! because a retraction of a ranked row lets the next one move up. Each change of a partition
//! is emitted as the difference of its ranked rows before and after: by rank for ROW_NUMBER
//! (`-U`/`+U` where a rank's row changes, `+I` for a new rank, `-D` for a rank no longer
//! filled), as rows for RANK and DENSE_RANK (`-D` for a `(row, rank)` that left, `+I` for one
//! that came).
//!
//! The decision core, [`Ranking`], is sans-IO. State: every row, by partition, checkpointed as
//! the input columns in order; a restore keeps the partitions whose key group it owns and adds
//! their rows again in that order.

use super::rank::Change;
use super::state_ipc;
use super::ttl::{Clock, ExpiringMap, Ttl};
use crate::error::TaskError;
use crate::operator::{Operator, Output, RestoreScope};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Int8Type, SchemaRef};
use datafusion::arrow::row::{OwnedRow, RowConverter};
use std::collections::BTreeMap;
use strom_plan::{RankSpec, RankType, RowKind};

const SNAPSHOT_FORMAT: &str = "retract-rank/v1";

/// Every row of every partition, by sort key; the changes each addition or retraction makes
/// to the ranked rows (sans-IO).
#[derive(Debug)]
pub struct Ranking<K, R> {
    rank_type: RankType,
    limit: u64,
    /// With a state time-to-live a partition not changed for that long is dropped.
    partitions: ExpiringMap<BTreeMap<K, Vec<R>>>,
}

impl<K: Ord + Clone, R: PartialEq + Clone> Ranking<K, R> {
    pub fn new(rank_type: RankType, limit: u64, ttl_ms: u64) -> Self {
        Self {
            rank_type,
            limit: limit.max(1),
            partitions: ExpiringMap::new(ttl_ms),
        }
    }

    /// The processing time of the rows applied next (`sweep`: drop expired partitions).
    pub fn set_now(&mut self, now: i64, sweep: bool) {
        self.partitions.set_now(now, sweep);
    }

    /// The ranked rows of a partition: (row, rank) with rank <= limit, in order.
    fn ranked(&self, partition: &[u8]) -> Vec<(R, u64)> {
        match self.partitions.get(partition) {
            Some(rows) => ranks(self.rank_type, self.limit, rows.values())
                .into_iter()
                .map(|(r, rank)| (r.clone(), rank))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Adds (`add`) or retracts `row` of sort key `key` in `partition`; returns the changes of
    /// the ranked rows. A retraction of a row that is not there changes nothing.
    pub fn apply(&mut self, partition: &[u8], key: K, row: R, add: bool) -> Vec<Change<R>> {
        let before = self.ranked(partition);
        if add {
            self.partitions
                .entry(partition)
                .entry(key)
                .or_default()
                .push(row);
        } else {
            let Some(rows) = self.partitions.get_mut(partition) else {
                return Vec::new();
            };
            let Some(group) = rows.get_mut(&key) else {
                return Vec::new();
            };
            let Some(p) = group.iter().position(|r| *r == row) else {
                return Vec::new();
            };
            group.remove(p);
            if group.is_empty() {
                rows.remove(&key);
            }
            if rows.is_empty() {
                self.partitions.remove(partition);
            }
        }
        let after = self.ranked(partition);
        diff(self.rank_type, before, after)
    }

    /// Every row of every partition, in order.
    pub fn rows(&self) -> impl Iterator<Item = &R> {
        self.partitions
            .values()
            .flat_map(|p| p.values().flat_map(|g| g.iter()))
    }
}

/// The rows of `groups` (the rows of one partition grouped by sort key, in order) with their
/// ranks by `rank_type`, up to rank `limit`.
pub fn ranks<'a, R: 'a>(
    rank_type: RankType,
    limit: u64,
    groups: impl Iterator<Item = &'a Vec<R>>,
) -> Vec<(&'a R, u64)> {
    let mut out = Vec::new();
    let (mut position, mut dense) = (0u64, 0u64);
    for group in groups {
        dense += 1;
        let rank_of_group = position + 1;
        for r in group {
            position += 1;
            let rank = match rank_type {
                RankType::RowNumber => position,
                RankType::Rank => rank_of_group,
                RankType::DenseRank => dense,
            };
            if rank > limit {
                return out;
            }
            out.push((r, rank));
        }
    }
    out
}

/// The changes from ranked rows `before` to `after`.
fn diff<R: PartialEq + Clone>(
    rank_type: RankType,
    before: Vec<(R, u64)>,
    after: Vec<(R, u64)>,
) -> Vec<Change<R>> {
    let change = |(row, rank): (R, u64), kind| Change { row, rank, kind };
    let mut out = Vec::new();
    if rank_type == RankType::RowNumber {
        let n = before.len().max(after.len());
        let (mut b, mut a) = (before.into_iter(), after.into_iter());
        for _ in 0..n {
            match (b.next(), a.next()) {
                (Some(x), Some(y)) if x.0 != y.0 => {
                    out.push(change(x, RowKind::UpdateBefore));
                    out.push(change(y, RowKind::UpdateAfter));
                }
                (Some(_), Some(_)) => {}
                (Some(x), None) => out.push(change(x, RowKind::Delete)),
                (None, Some(y)) => out.push(change(y, RowKind::Insert)),
                (None, None) => {}
            }
        }
        return out;
    }
    let mut added = after;
    for x in before {
        match added.iter().position(|y| *y == x) {
            Some(p) => {
                added.remove(p);
            }
            None => out.push(change(x, RowKind::Delete)),
        }
    }
    out.extend(added.into_iter().map(|y| change(y, RowKind::Insert)));
    out
}

/// The ranking of a changelog, or by RANK / DENSE_RANK, over Arrow batches.
pub struct RetractRankOperator {
    spec: RankSpec,
    partition: Option<RowConverter>,
    sort: RowConverter,
    rows: RowConverter,
    /// The input's columns (without `$op`).
    width: usize,
    changelog: bool,
    output: SchemaRef,
    ranking: Ranking<OwnedRow, OwnedRow>,
    /// `table.exec.state.ttl`: when expired partitions are swept out.
    ttl: Option<Ttl>,
    clock: Clock,
}

impl RetractRankOperator {
    pub fn new(spec: &RankSpec) -> Result<Self, TaskError> {
        let input = spec.input.without_op();
        let (partition, sort, rows) = super::rank::converters(spec, &input)?;
        Ok(Self {
            spec: spec.clone(),
            partition,
            sort,
            rows,
            width: input.len(),
            changelog: spec.input_is_changelog(),
            output: spec.output.to_arrow(),
            ranking: Ranking::new(spec.rank_type, spec.limit, spec.state_ttl_ms),
            ttl: Ttl::new(spec.state_ttl_ms),
            clock: Clock::default(),
        })
    }

    /// Reads processing time from `clock` (tests move it by hand).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Applies the rows of `batch` (additions unless its `$op` says otherwise).
    fn apply_batch(
        &mut self,
        batch: &RecordBatch,
        changelog: bool,
    ) -> Result<Vec<Change<OwnedRow>>, TaskError> {
        let (parts, keys, rows) = super::rank::convert_batch(
            (&self.partition, &self.sort, &self.rows),
            &self.spec,
            batch,
            self.width,
        )?;
        let kinds = changelog.then(|| batch.column(self.width).as_primitive::<Int8Type>());
        if let Some(ttl) = &mut self.ttl {
            let now = self.clock.now();
            self.ranking.set_now(now, ttl.sweep_due(now));
        }
        let mut changes = Vec::new();
        for i in 0..batch.num_rows() {
            let part: &[u8] = parts.as_ref().map_or(&[], |p| p.row(i).data());
            let add = match kinds {
                None => true,
                Some(k) => RowKind::from_byte(k.value(i))
                    .ok_or_else(|| {
                        TaskError::Operator(format!(
                            "unknown row kind {} in a changelog",
                            k.value(i)
                        ))
                    })?
                    .is_addition(),
            };
            changes.extend(
                self.ranking
                    .apply(part, keys.row(i).owned(), rows.row(i).owned(), add),
            );
        }
        Ok(changes)
    }

    fn emit(&self, changes: &[Change<OwnedRow>], out: &mut dyn Output) -> Result<(), TaskError> {
        if changes.is_empty() {
            return Ok(());
        }
        let rows = self
            .rows
            .convert_rows(changes.iter().map(|c| c.row.row()))?;
        super::rank::emit_changes(rows, &self.output, changes, out)
    }

    fn snapshot_schema(&self) -> SchemaRef {
        let fields = state_ipc::fields_of(&self.spec.input.without_op());
        state_ipc::schema(fields, SNAPSHOT_FORMAT, i64::MIN)
    }
}

impl Operator for RetractRankOperator {
    fn name(&self) -> &str {
        "Rank"
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        let changes = self.apply_batch(&batch, self.changelog)?;
        self.emit(&changes, out)
    }

    fn snapshot_state(&mut self, _checkpoint: u64) -> Result<Option<Vec<u8>>, TaskError> {
        let schema = self.snapshot_schema();
        state_ipc::write_rows(&schema, &self.rows, self.ranking.rows().map(|r| r.row())).map(Some)
    }

    fn restore_state(&mut self, states: &[Vec<u8>], scope: &RestoreScope) -> Result<(), TaskError> {
        let expected = self.snapshot_schema();
        let input = state_ipc::nullable(&self.spec.input.without_op().to_arrow());
        let partition_by = self.spec.partition_by.clone();
        // every row in order: added again in that order, they keep it (their ranks were
        // emitted before the checkpoint)
        state_ipc::restore_owned(
            states,
            (SNAPSHOT_FORMAT, &expected),
            &partition_by,
            scope,
            |b| {
                let b = RecordBatch::try_new(input.clone(), b.columns().to_vec())?;
                self.apply_batch(&b, false).map(|_| ())
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::state_ipc::{rescale, route};
    use crate::operators::testkit::{col, Collect};
    use datafusion::arrow::array::{Array, Int64Array, Int8Array};
    use datafusion::arrow::datatypes::Int64Type;
    use proptest::prelude::*;
    use std::sync::Arc;
    use strom_plan::{RowSchema, SortKey, SqlType};

    /// A row (partition, sort key, payload) and whether it is added.
    type In = ((i64, Option<i64>, i64), bool);
    type Out = (i64, Option<i64>, i64, i64);

    fn spec(rank_type: RankType, limit: u64, descending: bool) -> RankSpec {
        let input = RowSchema::new(vec![
            col("p", SqlType::BigInt),
            col("k", SqlType::BigInt),
            col("v", SqlType::BigInt),
        ])
        .with_op();
        let mut output = input.without_op();
        output.columns.push(col("rn", SqlType::BigInt));
        RankSpec {
            state_ttl_ms: 0,
            window_end: None,
            deduplicate: None,
            input,
            partition_by: vec![0],
            order_by: vec![SortKey {
                column: 1,
                descending,
                nulls_first: false,
            }],
            limit,
            rank_type,
            output: output.with_op(),
        }
    }

    fn batch(s: &RankSpec, rows: &[In]) -> RecordBatch {
        RecordBatch::try_new(
            s.input.to_arrow(),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0 .0))),
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.0 .1))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0 .2))),
                Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| {
                    if r.1 {
                        RowKind::Insert as i8
                    } else {
                        RowKind::Delete as i8
                    }
                }))),
            ],
        )
        .unwrap()
    }

    fn replay(batches: &[RecordBatch]) -> Result<Vec<Out>, String> {
        let mut table: Vec<Out> = Vec::new();
        for b in batches {
            let c = |i: usize| b.column(i).as_primitive::<Int64Type>().clone();
            let (p, k, v, rn) = (c(0), c(1), c(2), c(3));
            let op = b.column(4).as_primitive::<Int8Type>();
            for r in 0..b.num_rows() {
                let row = (
                    p.value(r),
                    k.is_valid(r).then(|| k.value(r)),
                    v.value(r),
                    rn.value(r),
                );
                if RowKind::from_byte(op.value(r)).unwrap().is_addition() {
                    table.push(row);
                } else {
                    let i = table
                        .iter()
                        .position(|x| *x == row)
                        .ok_or_else(|| format!("retraction of {row:?}, not in the table"))?;
                    table.remove(i);
                }
            }
        }
        table.sort();
        Ok(table)
    }

    /// The ranking of what remains, computed naively.
    fn expected(steps: &[Vec<In>], s: &RankSpec) -> Vec<Out> {
        let mut rows: Vec<(i64, Option<i64>, i64)> = Vec::new();
        for step in steps {
            for (r, add) in step {
                if *add {
                    rows.push(*r);
                } else if let Some(i) = rows.iter().position(|x| x == r) {
                    rows.remove(i);
                }
            }
        }
        let desc = s.order_by[0].descending;
        let mut out = Vec::new();
        let mut parts: Vec<i64> = rows.iter().map(|r| r.0).collect();
        parts.sort();
        parts.dedup();
        for p in parts {
            let mut part: Vec<&(i64, Option<i64>, i64)> =
                rows.iter().filter(|r| r.0 == p).collect();
            // NULLs last, in either direction; stable: ties keep arrival order
            part.sort_by(|a, b| match (a.1, b.1) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, _) => std::cmp::Ordering::Greater,
                (_, None) => std::cmp::Ordering::Less,
                (Some(x), Some(y)) if desc => y.cmp(&x),
                (Some(x), Some(y)) => x.cmp(&y),
            });
            let mut dense = 0;
            for (i, r) in part.iter().enumerate() {
                let first = part.iter().position(|x| x.1 == r.1).unwrap();
                if first == i {
                    dense += 1;
                }
                let rank = match s.rank_type {
                    RankType::RowNumber => i as u64 + 1,
                    RankType::Rank => first as u64 + 1,
                    RankType::DenseRank => dense,
                };
                if rank <= s.limit {
                    out.push((r.0, r.1, r.2, rank as i64));
                }
            }
        }
        out.sort();
        out
    }

    fn steps() -> impl Strategy<Value = Vec<Vec<In>>> {
        let row = (
            (0i64..3, prop::option::weighted(0.9, 0i64..5), 0i64..3),
            prop::bool::weighted(0.3),
            any::<prop::sample::Index>(),
        );
        prop::collection::vec(prop::collection::vec(row, 0..8), 1..8).prop_map(|raw| {
            let mut kept: Vec<(i64, Option<i64>, i64)> = Vec::new();
            raw.into_iter()
                .map(|step| {
                    step.into_iter()
                        .map(|(r, retract, idx)| {
                            if retract && !kept.is_empty() {
                                (kept.remove(idx.index(kept.len())), false)
                            } else {
                                kept.push(r);
                                (r, true)
                            }
                        })
                        .collect()
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(192))]

        /// Checkpointed before step `cut` at parallelism p and restored at p2, the ranking of
        /// a changelog replays to the naive ranking of the rows that remain.
        #[test]
        fn a_ranking_of_a_changelog_replays_to_the_naive_ranking(
            rank_type in prop_oneof![
                Just(RankType::RowNumber),
                Just(RankType::Rank),
                Just(RankType::DenseRank)
            ],
            limit in 1u64..4,
            descending in any::<bool>(),
            steps in steps(),
            cut in 0usize..10,
            p in 1u32..4,
            p2 in 1u32..4,
            max in 3u32..24,
        ) {
            let s = spec(rank_type, limit, descending);
            let new = || RetractRankOperator::new(&s).unwrap();
            let mut ops: Vec<RetractRankOperator> = (0..p).map(|_| new()).collect();
            let mut out = Collect(vec![]);
            for (i, step) in steps.iter().enumerate() {
                if i == cut {
                    rescale(&mut ops, p2, max, new);
                }
                let n = ops.len() as u32;
                for (op, part) in ops.iter_mut().zip(route(&batch(&s, step), &[0], n, max)) {
                    if part.num_rows() > 0 {
                        op.process_batch(part, &mut out).unwrap();
                    }
                }
            }
            let got = replay(&out.0).map_err(TestCaseError::fail)?;
            prop_assert_eq!(got, expected(&steps, &s));
        }
    }

    /// With a state TTL, a partition not changed for that long starts afresh: a retraction for
    /// it changes nothing, an addition ranks first.
    #[test]
    fn a_state_ttl_drops_partitions_not_changed_for_that_long() {
        use crate::operators::ttl::Clock;
        use std::sync::atomic::{AtomicI64, Ordering};
        let s = RankSpec {
            state_ttl_ms: 100,
            ..spec(RankType::RowNumber, 2, false)
        };
        let now = Arc::new(AtomicI64::new(0));
        let mut op = RetractRankOperator::new(&s)
            .unwrap()
            .with_clock(Clock::manual(now.clone()));
        let mut out = Collect(vec![]);
        let steps = [
            (0, ((1, Some(5), 100), true)),
            (50, ((1, Some(7), 101), true)),
            (160, ((1, Some(5), 100), false)),
            (170, ((1, Some(9), 102), true)),
        ];
        for (t, row) in steps {
            now.store(t, Ordering::Relaxed);
            op.process_batch(batch(&s, &[row]), &mut out).unwrap();
        }
        let changes: Vec<(i8, i64, i64)> = out
            .0
            .iter()
            .flat_map(|b| {
                let v = b.column(2).as_primitive::<Int64Type>().clone();
                let rn = b.column(3).as_primitive::<Int64Type>().clone();
                let op = b.column(4).as_primitive::<Int8Type>().clone();
                (0..b.num_rows()).map(move |r| (op.value(r), v.value(r), rn.value(r)))
            })
            .collect();
        assert_eq!(changes, vec![(0, 100, 1), (0, 101, 2), (0, 102, 1)]);
    }
}
