//! Flink's SinkUpsertMaterializer: between an updating result and a sink that upserts by its
//! primary key, when the result's own unique key is not that key (a join, an aggregate grouped
//! by other columns). An upsert sink writes `+I`/`+U` by key and deletes on `-D`, skipping `-U`
//! because the `+U` after it rewrites the key; that holds only when both carry the same key.
//! Here every row of the result that is in it and not retracted is kept per sink key, in
//! arrival order, and the sink gets what its row for the key becomes:
//!
//! - a row added: `+I` if it is the key's only row, else `+U` (an equal row kept before takes
//!   its place, as Flink's `addRow`);
//! - a row retracted: nothing if a later row of the key stands; `+U` of the row before it if it
//!   was the last; `-D` if it was the key's only one. A retraction of a row not kept (its key
//!   expired under `table.exec.state.ttl`) changes nothing.
//!
//! The decision core, [`Materializer`], is sans-IO. State: the kept rows, checkpointed as the
//! sink's columns in order; a restore keeps the keys whose key group it owns and adds their
//! rows again in that order.

use super::state_ipc;
use super::ttl::{Clock, ExpiringMap, Ttl};
use crate::error::TaskError;
use crate::operator::{Operator, Output, RestoreScope};
use datafusion::arrow::array::{ArrayRef, AsArray, Int8Array, RecordBatch};
use datafusion::arrow::datatypes::{Int8Type, SchemaRef};
use datafusion::arrow::row::{OwnedRow, RowConverter, SortField};
use std::sync::Arc;
use strom_plan::{RowKind, UpsertMaterializeSpec};

const SNAPSHOT_FORMAT: &str = "sink-materializer/v1";

/// Per sink key, the rows of the result that carry it, in arrival order (sans-IO).
#[derive(Debug)]
pub struct Materializer<R> {
    keys: ExpiringMap<Vec<R>>,
}

impl<R: PartialEq + Clone> Materializer<R> {
    pub fn new(ttl_ms: u64) -> Self {
        Self {
            keys: ExpiringMap::new(ttl_ms),
        }
    }

    /// The processing time of the rows applied next (`sweep`: drop expired keys).
    pub fn set_now(&mut self, now: i64, sweep: bool) {
        self.keys.set_now(now, sweep);
    }

    /// `row` of key `key` is added to the result: what the sink gets.
    pub fn add(&mut self, key: &[u8], row: R) -> (RowKind, R) {
        let rows = self.keys.entry(key);
        match rows.iter().position(|r| *r == row) {
            Some(i) => rows[i] = row.clone(),
            None => rows.push(row.clone()),
        }
        let kind = if rows.len() == 1 {
            RowKind::Insert
        } else {
            RowKind::UpdateAfter
        };
        (kind, row)
    }

    /// `row` of key `key` is retracted from the result: what the sink gets, if anything.
    pub fn retract(&mut self, key: &[u8], row: &R) -> Option<(RowKind, R)> {
        let rows = self.keys.get_mut(key)?;
        let i = rows.iter().position(|r| r == row)?;
        rows.remove(i);
        match rows.last() {
            None => {
                self.keys.remove(key);
                Some((RowKind::Delete, row.clone()))
            }
            Some(last) if i == rows.len() => Some((RowKind::UpdateAfter, last.clone())),
            Some(_) => None,
        }
    }

    /// Every kept row, each key's in order.
    pub fn rows(&self) -> impl Iterator<Item = &R> {
        self.keys.values().flatten()
    }
}

/// The SinkMaterializer over Arrow batches.
pub struct UpsertMaterializeOperator {
    spec: UpsertMaterializeSpec,
    key: RowConverter,
    rows: RowConverter,
    /// The sink's columns (without `$op`).
    width: usize,
    output: SchemaRef,
    core: Materializer<OwnedRow>,
    /// `table.exec.state.ttl`: when expired keys are swept out.
    ttl: Option<Ttl>,
    clock: Clock,
}

impl UpsertMaterializeOperator {
    pub fn new(spec: &UpsertMaterializeSpec) -> Result<Self, TaskError> {
        let columns = spec.output.without_op();
        if spec.output.len() != columns.len() + 1
            || spec.key.is_empty()
            || spec.key.iter().any(|k| *k >= columns.len())
        {
            return Err(TaskError::Deployment(
                "a SinkMaterializer takes a changelog and a key of its columns".into(),
            ));
        }
        let field = |i: usize| SortField::new(columns.columns[i].ty.to_arrow());
        Ok(Self {
            spec: spec.clone(),
            key: RowConverter::new(spec.key.iter().map(|k| field(*k)).collect())?,
            rows: RowConverter::new((0..columns.len()).map(field).collect())?,
            width: columns.len(),
            output: spec.output.to_arrow(),
            core: Materializer::new(spec.state_ttl_ms),
            ttl: Ttl::new(spec.state_ttl_ms),
            clock: Clock::default(),
        })
    }

    /// Reads processing time from `clock` (tests move it by hand).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Applies the rows of `batch` (the sink's columns, then `$op` unless `kinds` is false:
    /// all additions); returns what the sink gets.
    fn apply(
        &mut self,
        batch: &RecordBatch,
        kinds: bool,
    ) -> Result<Vec<(RowKind, OwnedRow)>, TaskError> {
        let cols = batch.columns();
        let keys: Vec<ArrayRef> = self.spec.key.iter().map(|k| cols[*k].clone()).collect();
        let keys = self.key.convert_columns(&keys)?;
        let rows = self.rows.convert_columns(&cols[..self.width])?;
        let kinds = kinds.then(|| batch.column(self.width).as_primitive::<Int8Type>());
        if let Some(ttl) = &mut self.ttl {
            let now = self.clock.now();
            self.core.set_now(now, ttl.sweep_due(now));
        }
        let mut out = Vec::new();
        for i in 0..batch.num_rows() {
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
            let (key, row) = (keys.row(i), rows.row(i));
            if add {
                out.push(self.core.add(key.data(), row.owned()));
            } else if let Some(change) = self.core.retract(key.data(), &row.owned()) {
                out.push(change);
            }
        }
        Ok(out)
    }

    fn snapshot_schema(&self) -> SchemaRef {
        let fields = state_ipc::fields_of(&self.spec.output.without_op());
        state_ipc::schema(fields, SNAPSHOT_FORMAT, i64::MIN)
    }
}

impl Operator for UpsertMaterializeOperator {
    fn name(&self) -> &str {
        "SinkMaterializer"
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        let changes = self.apply(&batch, true)?;
        if changes.is_empty() {
            return Ok(());
        }
        let mut cols = self
            .rows
            .convert_rows(changes.iter().map(|(_, r)| r.row()))?;
        cols.push(Arc::new(Int8Array::from_iter_values(
            changes.iter().map(|(k, _)| *k as i8),
        )));
        out.emit(super::conform(&self.output, cols, changes.len())?)
    }

    fn snapshot_state(&mut self, _checkpoint: u64) -> Result<Option<Vec<u8>>, TaskError> {
        let schema = self.snapshot_schema();
        state_ipc::write_rows(&schema, &self.rows, self.core.rows().map(|r| r.row())).map(Some)
    }

    fn restore_state(&mut self, states: &[Vec<u8>], scope: &RestoreScope) -> Result<(), TaskError> {
        let expected = self.snapshot_schema();
        let key = self.spec.key.clone();
        // each key's rows in order: added again in that order, they keep it (what they made
        // the sink write was emitted before the checkpoint)
        state_ipc::restore_owned(states, (SNAPSHOT_FORMAT, &expected), &key, scope, |b| {
            self.apply(&b, false).map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::state_ipc::{rescale, route};
    use crate::operators::testkit::{col, Collect};
    use datafusion::arrow::array::{Array, Int64Array};
    use datafusion::arrow::datatypes::Int64Type;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use strom_plan::{RowSchema, SqlType};

    /// A row: (sink key, other key column, payload), and whether it is added.
    type Row = (i64, i64, i64);

    fn spec(ttl_ms: u64) -> UpsertMaterializeSpec {
        UpsertMaterializeSpec {
            output: RowSchema::new(vec![
                col("a", SqlType::BigInt),
                col("b", SqlType::BigInt),
                col("v", SqlType::BigInt),
            ])
            .with_op(),
            key: vec![0, 1],
            state_ttl_ms: ttl_ms,
        }
    }

    fn batch(s: &UpsertMaterializeSpec, rows: &[(Row, RowKind)]) -> RecordBatch {
        RecordBatch::try_new(
            s.output.to_arrow(),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0 .0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0 .1))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0 .2))),
                Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.1 as i8))),
            ],
        )
        .unwrap()
    }

    fn changes(batches: &[RecordBatch]) -> Vec<(RowKind, Row)> {
        let mut out = Vec::new();
        for b in batches {
            let c = |i: usize| b.column(i).as_primitive::<Int64Type>().clone();
            let (a, k, v) = (c(0), c(1), c(2));
            let op = b.column(3).as_primitive::<Int8Type>();
            for r in 0..b.num_rows() {
                assert!(a.is_valid(r));
                let kind = RowKind::from_byte(op.value(r)).unwrap();
                out.push((kind, (a.value(r), k.value(r), v.value(r))));
            }
        }
        out
    }

    /// A changelog a query could give: rows added and retracted (each retraction takes back a
    /// row added before and not retracted yet, as `-U` or `-D`), every added row distinct.
    fn steps() -> impl Strategy<Value = Vec<Vec<(Row, RowKind)>>> {
        let row = (
            (0i64..3, 0i64..2),
            prop::bool::weighted(0.35),
            any::<bool>(),
            any::<prop::sample::Index>(),
        );
        prop::collection::vec(prop::collection::vec(row, 0..8), 1..8).prop_map(|raw| {
            let mut kept: Vec<Row> = Vec::new();
            let mut next = 0;
            raw.into_iter()
                .map(|step| {
                    let mut out = Vec::new();
                    for ((a, b), retract, update, idx) in step {
                        if retract && !kept.is_empty() {
                            let r = kept.remove(idx.index(kept.len()));
                            out.push((
                                r,
                                if update {
                                    RowKind::UpdateBefore
                                } else {
                                    RowKind::Delete
                                },
                            ));
                        } else {
                            next += 1;
                            kept.push((a, b, next));
                            let kind = if update {
                                RowKind::UpdateAfter
                            } else {
                                RowKind::Insert
                            };
                            out.push(((a, b, next), kind));
                        }
                    }
                    out
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(192))]

        /// Checkpointed before step `cut` at parallelism p and restored at p2, the changes the
        /// materializer emits, written by an upsert sink (`+I`/`+U` put the key's row, `-D`
        /// deletes it, `-U` is never emitted), leave per key the latest row added and not
        /// retracted: the table the changelog describes, one row per sink key.
        #[test]
        fn an_upsert_sink_fed_by_the_materializer_holds_each_keys_latest_row(
            steps in steps(),
            cut in 0usize..10,
            p in 1u32..4,
            p2 in 1u32..4,
            max in 3u32..24,
        ) {
            let s = spec(0);
            let new = || UpsertMaterializeOperator::new(&s).unwrap();
            let mut ops: Vec<UpsertMaterializeOperator> = (0..p).map(|_| new()).collect();
            let mut out = Collect(vec![]);
            for (i, step) in steps.iter().enumerate() {
                if i == cut {
                    rescale(&mut ops, p2, max, new);
                }
                let n = ops.len() as u32;
                for (op, part) in ops.iter_mut().zip(route(&batch(&s, step), &[0, 1], n, max)) {
                    if part.num_rows() > 0 {
                        op.process_batch(part, &mut out).unwrap();
                    }
                }
            }
            let mut table: BTreeMap<(i64, i64), Row> = BTreeMap::new();
            for (kind, row) in changes(&out.0) {
                let key = (row.0, row.1);
                match kind {
                    RowKind::Insert => {
                        prop_assert!(!table.contains_key(&key), "+I of a key the sink has: {row:?}");
                        table.insert(key, row);
                    }
                    RowKind::UpdateAfter => {
                        table.insert(key, row);
                    }
                    RowKind::Delete => {
                        prop_assert_eq!(table.remove(&key), Some(row));
                    }
                    RowKind::UpdateBefore => prop_assert!(false, "-U emitted"),
                }
            }
            // naively: the rows in the result, and per key the last one added
            let mut present: Vec<Row> = Vec::new();
            for (row, kind) in steps.iter().flatten() {
                if kind.is_addition() {
                    present.push(*row);
                } else {
                    present.retain(|r| r != row);
                }
            }
            let mut want: BTreeMap<(i64, i64), Row> = BTreeMap::new();
            for r in present {
                want.insert((r.0, r.1), r);
            }
            prop_assert_eq!(table, want);
        }
    }

    /// Flink's cases: an equal row takes its place; retracting an earlier row of a key emits
    /// nothing, the last one brings back the row before it, the only one deletes.
    #[test]
    fn the_changes_of_one_key() {
        let mut m: Materializer<&str> = Materializer::new(0);
        assert_eq!(m.add(b"k", "x"), (RowKind::Insert, "x"));
        assert_eq!(m.add(b"k", "y"), (RowKind::UpdateAfter, "y"));
        assert_eq!(m.add(b"k", "x"), (RowKind::UpdateAfter, "x"));
        assert_eq!(m.rows().copied().collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(m.retract(b"k", &"x"), None);
        assert_eq!(m.add(b"k", "z"), (RowKind::UpdateAfter, "z"));
        assert_eq!(m.retract(b"k", &"z"), Some((RowKind::UpdateAfter, "y")));
        assert_eq!(m.retract(b"k", &"w"), None);
        assert_eq!(m.retract(b"other", &"y"), None);
        assert_eq!(m.retract(b"k", &"y"), Some((RowKind::Delete, "y")));
        assert_eq!(m.rows().count(), 0);
        assert_eq!(m.add(b"k", "y"), (RowKind::Insert, "y"));
    }

    /// With a state TTL a key not changed for that long starts afresh.
    #[test]
    fn a_state_ttl_drops_keys_not_changed_for_that_long() {
        use std::sync::atomic::{AtomicI64, Ordering};
        let s = spec(100);
        let now = Arc::new(AtomicI64::new(0));
        let mut op = UpsertMaterializeOperator::new(&s)
            .unwrap()
            .with_clock(Clock::manual(now.clone()));
        let mut out = Collect(vec![]);
        for (t, row) in [
            (0, ((1, 0, 10), RowKind::Insert)),
            (50, ((1, 0, 11), RowKind::Insert)),
            (200, ((1, 0, 11), RowKind::Delete)),
            (210, ((1, 0, 12), RowKind::Insert)),
        ] {
            now.store(t, Ordering::Relaxed);
            op.process_batch(batch(&s, &[row]), &mut out).unwrap();
        }
        assert_eq!(
            changes(&out.0),
            [
                (RowKind::Insert, (1, 0, 10)),
                (RowKind::UpdateAfter, (1, 0, 11)),
                (RowKind::Insert, (1, 0, 12)),
            ]
        );
    }
}
