//! Streaming Top-N (Flink's Rank with the append-fast strategy): per partition, the first N rows
//! in `ORDER BY` order, emitted as a changelog of `(row, rank)`. Deduplication (`N = 1` ordered
//! by a time attribute) is the same operator.
//!
//! The decision core, [`TopN`], is sans-IO: rows are Arrow row-format bytes (a sort key that
//! compares as the `ORDER BY` says, and the row itself), and inserting one returns the changes.
//! A row placed after every row of an equal sort key (the arrival order breaks ties, as Flink
//! does). A row at position `p` shifts the rows after it down one rank: each rank from `p` on
//! whose row changes gives `-U[old row, rank]` and `+U[new row, rank]`; a rank that had no row
//! gives `+I`; the row pushed past `N` is dropped (its `-U` was the last rank's).
//!
//! State: the kept rows, by partition, checkpointed as the input columns (so that a restore at
//! another parallelism keeps the partitions whose key group it owns, hashed as the exchange in
//! front hashes them) in rank order.

use super::row_arena::{RowArena, RowRef};
use super::state_ipc;
use super::ttl::{Clock, ExpiringMap, Ttl};
use crate::error::TaskError;
use crate::operator::{Operator, Output, RestoreScope};
use datafusion::arrow::array::{ArrayRef, Int64Array, Int8Array, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{take_record_batch, SortOptions};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{OwnedRow, RowConverter, Rows, SortField};
use std::sync::Arc;
use strom_plan::{RankSpec, RowKind, RowSchema};

const SNAPSHOT_FORMAT: &str = "rank/v1";

/// One change of the ranked table: the row (an index into [`TopN`]'s rows), its rank (1-based)
/// and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<R> {
    pub row: R,
    pub rank: u64,
    pub kind: RowKind,
}

/// The kept rows of every partition (sans-IO): sort key and row, in rank order. With a state
/// time-to-live a partition no row entered for that long is dropped (see [`ExpiringMap`]).
#[derive(Debug)]
pub struct TopN<K, R> {
    limit: usize,
    partitions: ExpiringMap<Vec<(K, R)>>,
    /// Rows kept in all partitions (counted again at each sweep; until then it may count the
    /// rows of partitions that expired).
    len: usize,
}

impl<K: Ord + Clone, R: Clone> TopN<K, R> {
    pub fn new(limit: u64, ttl_ms: u64) -> Self {
        Self {
            limit: usize::try_from(limit.max(1)).unwrap_or(usize::MAX),
            partitions: ExpiringMap::new(ttl_ms),
            len: 0,
        }
    }

    /// The processing time of the rows inserted next (`sweep`: drop expired partitions).
    pub fn set_now(&mut self, now: i64, sweep: bool) {
        self.partitions.set_now(now, sweep);
        if sweep {
            self.len = self.partitions.values().map(Vec::len).sum();
        }
    }

    /// Rows kept (see `len`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Inserts `row` of sort key `key` into partition `partition`; returns the changes.
    pub fn insert(&mut self, partition: &[u8], key: K, row: R) -> Vec<Change<R>> {
        match self.position(partition, |k| *k <= key) {
            Some(p) => self.insert_at(partition, p, key, row),
            None => Vec::new(),
        }
    }

    /// Where a row goes in partition `partition`, `at_or_before(k)` telling whether a kept key
    /// `k` sorts at or before its key; `None` when it falls outside the first N (then nothing
    /// needs to be built for it).
    pub fn position(&self, partition: &[u8], at_or_before: impl Fn(&K) -> bool) -> Option<usize> {
        let p = self
            .partitions
            .get(partition)
            .map_or(0, |rows| rows.partition_point(|(k, _)| at_or_before(k)));
        (p < self.limit).then_some(p)
    }

    /// Inserts `row` at position `p` (from [`TopN::position`]); returns the changes.
    pub fn insert_at(&mut self, partition: &[u8], p: usize, key: K, row: R) -> Vec<Change<R>> {
        let rows = self.partitions.entry(partition);
        let old_len = rows.len();
        rows.insert(p, (key, row));
        let mut changes = Vec::with_capacity(2 * (rows.len() - p));
        for r in p..rows.len().min(self.limit) {
            let rank = r as u64 + 1;
            if r < old_len {
                // the row that held rank r + 1 was at index r, shifted to r + 1 now
                changes.push(Change {
                    row: rows[r + 1].1.clone(),
                    rank,
                    kind: RowKind::UpdateBefore,
                });
                changes.push(Change {
                    row: rows[r].1.clone(),
                    rank,
                    kind: RowKind::UpdateAfter,
                });
            } else {
                changes.push(Change {
                    row: rows[r].1.clone(),
                    rank,
                    kind: RowKind::Insert,
                });
            }
        }
        if rows.len() > self.limit {
            rows.pop();
        } else {
            self.len += 1;
        }
        changes
    }

    /// Every partition's rows in rank order.
    pub fn partitions(&self) -> impl Iterator<Item = &Vec<(K, R)>> {
        self.partitions.values()
    }

    /// Every kept row, to rewrite in place.
    pub fn rows_mut(&mut self) -> impl Iterator<Item = &mut R> {
        self.partitions
            .values_mut()
            .flat_map(|rows| rows.iter_mut().map(|(_, r)| r))
    }

    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }
}

/// A batch in a rank's row formats (`converters`: see [`Converters`]): its partition keys (None
/// without partition columns), its sort keys, and its first `width` columns as whole rows.
pub(super) fn convert_batch(
    (partition, sort, rows): (&Option<RowConverter>, &RowConverter, &RowConverter),
    spec: &RankSpec,
    batch: &RecordBatch,
    width: usize,
) -> Result<(Option<Rows>, Rows, Rows), TaskError> {
    let (parts, keys) = convert_keys((partition, sort), spec, batch)?;
    let rows = rows.convert_columns(&batch.columns()[..width])?;
    Ok((parts, keys, rows))
}

/// A batch's partition keys (None without partition columns) and sort keys, in a rank's row
/// formats.
fn convert_keys(
    (partition, sort): (&Option<RowConverter>, &RowConverter),
    spec: &RankSpec,
    batch: &RecordBatch,
) -> Result<(Option<Rows>, Rows), TaskError> {
    let sort_cols: Vec<ArrayRef> = spec
        .order_by
        .iter()
        .map(|k| batch.column(k.column).clone())
        .collect();
    let keys = sort.convert_columns(&sort_cols)?;
    Ok((partition_keys(partition, spec, batch)?, keys))
}

/// A batch's partition keys in a rank's row format (None without partition columns).
pub(super) fn partition_keys(
    partition: &Option<RowConverter>,
    spec: &RankSpec,
    batch: &RecordBatch,
) -> Result<Option<Rows>, TaskError> {
    let Some(converter) = partition else {
        return Ok(None);
    };
    let cols: Vec<ArrayRef> = spec
        .partition_by
        .iter()
        .map(|i| batch.column(*i).clone())
        .collect();
    Ok(Some(converter.convert_columns(&cols)?))
}

/// A rank's row converters: partition keys, sort keys, whole rows.
pub(super) type Converters = (Option<RowConverter>, RowConverter, RowConverter);

/// A rank's row converters over its input's columns `input` (without `$op`): the partition
/// keys (none without partition columns), the sort keys (comparing as the `ORDER BY` says) and
/// whole rows; checks that the output is the input, the rank and the row kind.
pub(super) fn converters(spec: &RankSpec, input: &RowSchema) -> Result<Converters, TaskError> {
    let ty = |c: usize| input.columns[c].ty.to_arrow();
    let partition = (!spec.partition_by.is_empty())
        .then(|| {
            RowConverter::new(
                spec.partition_by
                    .iter()
                    .map(|c| SortField::new(ty(*c)))
                    .collect(),
            )
        })
        .transpose()?;
    let sort = RowConverter::new(
        spec.order_by
            .iter()
            .map(|k| {
                SortField::new_with_options(
                    ty(k.column),
                    SortOptions {
                        descending: k.descending,
                        nulls_first: k.nulls_first,
                    },
                )
            })
            .collect(),
    )?;
    let rows = RowConverter::new(
        input
            .columns
            .iter()
            .map(|c| SortField::new(c.ty.to_arrow()))
            .collect(),
    )?;
    // (a window rank's output is append-only: no row kind)
    let kinds = usize::from(spec.window_end.is_none());
    if spec.output.len() != input.len() + 1 + kinds {
        return Err(TaskError::Deployment(
            "a rank's output is its input, the rank and (but for a window rank) the row kind"
                .into(),
        ));
    }
    Ok((partition, sort, rows))
}

/// Emits a ranking's `changes` as rows of `output`: the rows (`rows`: their columns, one row
/// per change), each change's rank and its kind.
pub(super) fn emit_changes<R>(
    mut cols: Vec<ArrayRef>,
    output: &SchemaRef,
    changes: &[Change<R>],
    out: &mut dyn Output,
) -> Result<(), TaskError> {
    cols.push(Arc::new(Int64Array::from_iter_values(
        changes.iter().map(|c| c.rank as i64),
    )));
    cols.push(Arc::new(Int8Array::from_iter_values(
        changes.iter().map(|c| c.kind as i8),
    )));
    out.emit(super::conform(output, cols, changes.len())?)
}

/// The schema of a ranking's checkpoints: its kept rows as the input columns.
fn snapshot_schema(spec: &RankSpec) -> SchemaRef {
    state_ipc::schema(state_ipc::fields_of(&spec.input), SNAPSHOT_FORMAT, i64::MIN)
}

/// The Rank operator over Arrow batches.
pub struct RankOperator {
    spec: RankSpec,
    /// Partition keys (plain row format); `None` without partition columns.
    partition: Option<RowConverter>,
    /// Sort keys, comparing as the `ORDER BY` says.
    sort: RowConverter,
    /// The kept rows' columns.
    arena: RowArena,
    output: SchemaRef,
    top: TopN<OwnedRow, RowRef>,
    /// `table.exec.state.ttl`: when expired partitions are swept out.
    ttl: Option<Ttl>,
    clock: Clock,
}

impl RankOperator {
    pub fn new(spec: &RankSpec) -> Result<Self, TaskError> {
        let (partition, sort, _) = converters(spec, &spec.input)?;
        Ok(Self {
            spec: spec.clone(),
            partition,
            sort,
            arena: RowArena::new(spec.input.to_arrow()),
            output: spec.output.to_arrow(),
            top: TopN::new(spec.limit, spec.state_ttl_ms),
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

    /// Inserts the rows of `batch`; returns the changes (valid until the next compaction).
    fn insert_batch(&mut self, batch: &RecordBatch) -> Result<Vec<Change<RowRef>>, TaskError> {
        let (parts, keys) = convert_keys((&self.partition, &self.sort), &self.spec, batch)?;
        if let Some(ttl) = &mut self.ttl {
            let now = self.clock.now();
            self.top.set_now(now, ttl.sweep_due(now));
        }
        let part = |i: usize| -> &[u8] { parts.as_ref().map_or(&[], |p| p.row(i).data()) };
        // Most rows do not make the first N. A row that does not now enters no later state
        // either (rows only ever push a partition's N-th key up): only the others are kept.
        let top = &self.top;
        let entering: Vec<u32> = (0..batch.num_rows())
            .filter(|&i| top.position(part(i), |k| k.row() <= keys.row(i)).is_some())
            .map(|i| i as u32)
            .collect();
        if entering.is_empty() {
            return Ok(Vec::new());
        }
        let kept = if entering.len() == batch.num_rows() {
            batch.clone()
        } else {
            take_record_batch(batch, &UInt32Array::from(entering.clone()))?
        };
        let at = self.arena.add(kept)?;
        let mut changes = Vec::new();
        for (j, i) in entering.into_iter().enumerate() {
            let (part, key) = (part(i as usize), keys.row(i as usize));
            if let Some(p) = self.top.position(part, |k| k.row() <= key) {
                changes.extend(self.top.insert_at(part, p, key.owned(), at(j)));
            }
        }
        Ok(changes)
    }

    /// Compacts the kept rows once the arena holds too many that left the first N.
    fn compact_if_due(&mut self) -> Result<(), TaskError> {
        if self.arena.wants_compaction(self.top.len()) {
            if self.ttl.is_some() {
                self.top.set_now(self.clock.now(), true);
            }
            self.arena.compact(self.top.rows_mut())?;
        }
        Ok(())
    }

    fn emit(&mut self, changes: &[Change<RowRef>], out: &mut dyn Output) -> Result<(), TaskError> {
        if changes.is_empty() {
            return Ok(());
        }
        let rows = self.arena.gather(changes.iter().map(|c| c.row))?;
        emit_changes(rows, &self.output, changes, out)
    }
}

impl Operator for RankOperator {
    fn name(&self) -> &str {
        "Rank"
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        let changes = self.insert_batch(&batch)?;
        self.emit(&changes, out)?;
        self.compact_if_due()
    }

    fn snapshot_state(&mut self, _checkpoint: u64) -> Result<Option<Vec<u8>>, TaskError> {
        let rows: Vec<RowRef> = self
            .top
            .partitions()
            .flat_map(|p| p.iter().map(|(_, r)| *r))
            .collect();
        snapshot_rows(&self.spec, &mut self.arena, rows).map(Some)
    }

    fn restore_state(&mut self, states: &[Vec<u8>], scope: &RestoreScope) -> Result<(), TaskError> {
        // kept rows in rank order: inserted again in that order, they keep it
        let spec = self.spec.clone();
        restore_rows(&spec, states, scope, |b| {
            self.insert_batch(b)?;
            self.compact_if_due()
        })
    }
}

/// A ranking's checkpoint: its kept rows `rows` (of `arena`) as the input columns.
pub(super) fn snapshot_rows(
    spec: &RankSpec,
    arena: &mut RowArena,
    rows: Vec<RowRef>,
) -> Result<Vec<u8>, TaskError> {
    let schema = snapshot_schema(spec);
    let batches = if rows.is_empty() {
        vec![]
    } else {
        let n = rows.len();
        vec![state_ipc::batch(
            &schema,
            arena.gather(rows.into_iter())?,
            n,
        )?]
    };
    state_ipc::write(&schema, &batches)
}

/// Restores a ranking from the checkpoints `states` of every subtask of the previous run: each
/// batch of kept rows whose partitions `scope` owns goes to `insert`, in the order kept.
pub(super) fn restore_rows(
    spec: &RankSpec,
    states: &[Vec<u8>],
    scope: &RestoreScope,
    mut insert: impl FnMut(&RecordBatch) -> Result<(), TaskError>,
) -> Result<(), TaskError> {
    let expected = snapshot_schema(spec);
    let input = state_ipc::nullable(&spec.input.to_arrow());
    state_ipc::restore_owned(
        states,
        (SNAPSHOT_FORMAT, &expected),
        &spec.partition_by,
        scope,
        |b| insert(&RecordBatch::try_new(input.clone(), b.columns().to_vec())?),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::state_ipc::{rescale, route};
    use crate::operators::testkit::Collect;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Int64Type;
    use proptest::prelude::*;
    use strom_plan::{Column, RowSchema, SortKey, SqlType};

    /// Rows (partition, sort key, payload).
    type In = (i64, Option<i64>, i64);

    fn spec(limit: u64, descending: bool, partitioned: bool) -> RankSpec {
        let c = |name: &str| Column {
            name: name.into(),
            ty: SqlType::BigInt,
            nullable: true,
        };
        let input = RowSchema::new(vec![c("p"), c("k"), c("v")]);
        let mut output = input.clone();
        output.columns.push(c("rn"));
        RankSpec {
            state_ttl_ms: 0,
            window_end: None,
            deduplicate: None,
            input,
            partition_by: if partitioned { vec![0] } else { vec![] },
            order_by: vec![SortKey {
                column: 1,
                descending,
                nulls_first: false,
            }],
            limit,
            rank_type: strom_plan::RankType::RowNumber,
            output: output.with_op(),
        }
    }

    fn batch(spec: &RankSpec, rows: &[In]) -> RecordBatch {
        RecordBatch::try_new(
            spec.input.to_arrow(),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap()
    }

    /// The table a changelog ends with: (p, k, v, rank) rows, sorted; panics on a retraction
    /// of a row that is not there.
    fn replay(batches: &[RecordBatch]) -> Vec<(i64, Option<i64>, i64, i64)> {
        let mut table: Vec<(i64, Option<i64>, i64, i64)> = Vec::new();
        for b in batches {
            let col = |i: usize| b.column(i).as_primitive::<Int64Type>().clone();
            let (p, k, v, rn) = (col(0), col(1), col(2), col(3));
            let op = b
                .column(4)
                .as_primitive::<datafusion::arrow::datatypes::Int8Type>();
            for i in 0..b.num_rows() {
                let row = (
                    p.value(i),
                    k.is_valid(i).then(|| k.value(i)),
                    v.value(i),
                    rn.value(i),
                );
                match RowKind::from_byte(op.value(i)).unwrap() {
                    RowKind::Insert | RowKind::UpdateAfter => table.push(row),
                    _ => {
                        let at = table
                            .iter()
                            .position(|r| *r == row)
                            .expect("retracted row is there");
                        table.swap_remove(at);
                    }
                }
            }
        }
        table.sort();
        table
    }

    /// Top-N computed naively: each partition's rows stably sorted (arrival order breaks ties).
    fn naive(
        rows: &[In],
        limit: u64,
        descending: bool,
        partitioned: bool,
    ) -> Vec<(i64, Option<i64>, i64, i64)> {
        let mut parts: std::collections::BTreeMap<i64, Vec<In>> = Default::default();
        for r in rows {
            parts
                .entry(if partitioned { r.0 } else { 0 })
                .or_default()
                .push(*r);
        }
        let mut out = Vec::new();
        for (_, mut rs) in parts {
            // NULLS LAST in both directions
            rs.sort_by(|a, b| match (a.1, b.1) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, _) => std::cmp::Ordering::Greater,
                (_, None) => std::cmp::Ordering::Less,
                (Some(x), Some(y)) if descending => y.cmp(&x),
                (Some(x), Some(y)) => x.cmp(&y),
            });
            for (i, r) in rs.iter().take(limit as usize).enumerate() {
                out.push((r.0, r.1, r.2, i as i64 + 1));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn a_new_first_row_shifts_the_ranks_below_it() {
        let spec = spec(2, true, true);
        let mut op = RankOperator::new(&spec).unwrap();
        let mut out = Collect(vec![]);
        op.process_batch(batch(&spec, &[(1, Some(5), 1), (1, Some(3), 2)]), &mut out)
            .unwrap();
        op.process_batch(batch(&spec, &[(1, Some(9), 3), (1, Some(1), 4)]), &mut out)
            .unwrap();
        let ops: Vec<i8> = out
            .0
            .iter()
            .flat_map(|b| {
                b.column(4)
                    .as_primitive::<datafusion::arrow::datatypes::Int8Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        // +I 5@1, +I 3@2; then 9 comes first: -U 5@1 +U 9@1 -U 3@2 +U 5@2; 1 is not in the top 2
        assert_eq!(ops, vec![0, 0, 1, 2, 1, 2]);
        assert_eq!(replay(&out.0), vec![(1, Some(5), 1, 2), (1, Some(9), 3, 1)]);
    }

    fn input() -> impl Strategy<Value = Vec<Vec<In>>> {
        let row = (0i64..3, prop::option::weighted(0.9, 0i64..8), 0i64..1000);
        prop::collection::vec(prop::collection::vec(row, 0..12), 1..6)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// The changelog, replayed, is the naive Top-N, also when the operator is checkpointed
        /// after a prefix at parallelism p and restored at p2, and when it compacts its kept
        /// rows after every batch.
        #[test]
        fn the_changelog_replays_to_the_top_n(
            batches in input(),
            limit in 1u64..4,
            descending in any::<bool>(),
            partitioned in any::<bool>(),
            cut in 0usize..6,
            p in 1u32..4,
            p2 in 1u32..4,
            eager in any::<bool>(),
        ) {
            let spec = spec(limit, descending, partitioned);
            let (p, p2) = if partitioned { (p, p2) } else { (1, 1) };
            let max = 16;
            let make = || {
                let op = RankOperator::new(&spec).unwrap();
                if eager { op.compacting_eagerly() } else { op }
            };
            let mut ops: Vec<RankOperator> = (0..p).map(|_| make()).collect();
            let mut out = Collect(vec![]);
            for (i, rows) in batches.iter().enumerate() {
                if i == cut.min(batches.len() - 1) {
                    rescale(&mut ops, p2, max, make);
                }
                let b = batch(&spec, rows);
                let n = ops.len() as u32;
                for (op, part) in ops.iter_mut().zip(route(&b, &spec.partition_by, n, max)) {
                    if part.num_rows() > 0 {
                        op.process_batch(part, &mut out).unwrap();
                    }
                }
            }
            let all: Vec<In> = batches.concat();
            prop_assert_eq!(replay(&out.0), naive(&all, limit, descending, partitioned));
        }
    }

    /// With a state TTL, a partition no row entered for that long starts afresh.
    #[test]
    fn a_state_ttl_drops_partitions_no_row_entered_for_that_long() {
        use crate::operators::ttl::Clock;
        use std::sync::atomic::{AtomicI64, Ordering};
        let spec = RankSpec {
            state_ttl_ms: 100,
            ..spec(1, false, true)
        };
        let now = Arc::new(AtomicI64::new(0));
        let mut op = RankOperator::new(&spec)
            .unwrap()
            .with_clock(Clock::manual(now.clone()));
        let mut out = Collect(vec![]);
        for (t, row) in [
            (0, (1, Some(5), 100)),
            (50, (1, Some(7), 101)),
            (120, (1, Some(9), 102)),
        ] {
            now.store(t, Ordering::Relaxed);
            op.process_batch(batch(&spec, &[row]), &mut out).unwrap();
        }
        // 101 does not enter the top 1 (no write); 102 finds the partition expired
        let changes: Vec<(i8, i64, i64)> = out
            .0
            .iter()
            .flat_map(|b| {
                let v = b.column(2).as_primitive::<Int64Type>().clone();
                let rn = b.column(3).as_primitive::<Int64Type>().clone();
                let op = b
                    .column(4)
                    .as_primitive::<datafusion::arrow::datatypes::Int8Type>()
                    .clone();
                (0..b.num_rows()).map(move |r| (op.value(r), v.value(r), rn.value(r)))
            })
            .collect();
        assert_eq!(changes, vec![(0, 100, 1), (0, 102, 1)]);
    }
}
