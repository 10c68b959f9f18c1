//! The group aggregate over a changelog (a `GROUP BY` over a join's or another `GROUP BY`'s
//! updates), as Flink's GroupAggFunction with retraction: `+I`/`+U` rows are accumulated, `-U`/`-D`
//! rows retracted, and every change of a group's result is emitted as it happens (`+I` for a
//! new group, `-U`/`+U` for a changed result, `-D` when the group's last row is retracted).
//!
//! Per group it keeps the number of rows and, per call, a retractable state (see
//! [`super::retracting`]).
//!
//! **Checkpoints**: one Arrow IPC stream of rows `(group keys..., call, value, n, isum, fsum)`:
//! per group one row with `call = -1` and its row count in `n`, one row per running call and
//! one per value of a multiset (its multiplicity in `n`); with a state time-to-live one row with
//! `call = -2` and the time of the group's last write in `n`. A restore keeps the groups whose key
//! group it owns; what was emitted before is each group's current result.

use super::retracting::{Calls, State, StateRow};
use super::state_ipc;
use super::ttl::{self, Clock, Ttl};
use crate::error::TaskError;
use crate::operator::{Operator, Output, RestoreScope};
use datafusion::arrow::array::{ArrayRef, AsArray, Int8Array, RecordBatch};
use datafusion::arrow::datatypes::{Field, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::scalar::ScalarValue;
use std::collections::HashMap;
use std::sync::Arc;
use strom_plan::{AggregateSpec, RowKind};

const SNAPSHOT_FORMAT: &str = "retract-aggregate/v1";

#[derive(Debug, Clone)]
struct Group {
    rows: i64,
    states: Vec<State>,
    /// The result last emitted (None: nothing, or retracted).
    emitted: Option<Vec<ScalarValue>>,
    /// The processing time of the group's last change (with a state time-to-live).
    written: i64,
}

/// The aggregate over a changelog.
pub struct RetractAggregateOperator {
    spec: AggregateSpec,
    keys: Option<RowConverter>,
    calls: Calls,
    groups: HashMap<Vec<u8>, Group>,
    output: SchemaRef,
    /// `table.exec.state.ttl` / `STATE_TTL`: a group not changed for this long is dropped.
    ttl: Option<Ttl>,
    clock: Clock,
}

fn err(e: impl std::fmt::Display) -> TaskError {
    TaskError::Operator(format!("aggregate over a changelog: {e}"))
}

impl RetractAggregateOperator {
    pub fn new(spec: &AggregateSpec) -> Result<Self, TaskError> {
        let input = &spec.input;
        let keys = (!spec.group_by.is_empty())
            .then(|| {
                RowConverter::new(
                    spec.group_by
                        .iter()
                        .map(|c| SortField::new(input.columns[*c].ty.to_arrow()))
                        .collect(),
                )
            })
            .transpose()?;
        let calls = Calls::new(input, &spec.aggregates, "an aggregate over a changelog")?;
        Ok(Self {
            spec: spec.clone(),
            keys,
            calls,
            groups: HashMap::new(),
            output: spec.output.to_arrow(),
            ttl: Ttl::new(spec.state_ttl_ms),
            clock: Clock::default(),
        })
    }

    /// Reads processing time from `clock` (tests move it by hand).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn new_group(&self) -> Group {
        Group {
            rows: 0,
            states: self.calls.new_states(),
            emitted: None,
            written: 0,
        }
    }

    /// The group's result.
    fn results(&self, g: &Group) -> Result<Vec<ScalarValue>, TaskError> {
        self.calls.results(&g.states)
    }

    fn process(&mut self, batch: &RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        let n = batch.num_rows();
        let op_col = batch.num_columns() - 1;
        let kinds = batch
            .column(op_col)
            .as_primitive::<datafusion::arrow::datatypes::Int8Type>();
        let keys = match &self.keys {
            Some(k) => Some(
                k.convert_columns(
                    &self
                        .spec
                        .group_by
                        .iter()
                        .map(|c| batch.column(*c).clone())
                        .collect::<Vec<_>>(),
                )?,
            ),
            None => None,
        };
        let args = self.calls.prepare(batch)?;
        let now = self.clock.now();
        if let Some(t) = &mut self.ttl {
            if t.sweep_due(now) {
                let t = &*t;
                self.groups.retain(|_, g| t.live(g.written, now));
            }
        }
        let mut changes = Changes::default();
        for i in 0..n {
            let kind = RowKind::from_byte(kinds.value(i))
                .ok_or_else(|| err(format!("row kind {} is not one", kinds.value(i))))?;
            let sign: i64 = if kind.is_addition() { 1 } else { -1 };
            let key: Vec<u8> = keys
                .as_ref()
                .map_or(Vec::new(), |k| k.row(i).as_ref().to_vec());
            // an expired group starts afresh (a retraction for it is then ignored, as Flink's)
            let mut g = match self.groups.remove(&key) {
                Some(g) if ttl::live(self.ttl.as_ref(), g.written, now) => g,
                _ => self.new_group(),
            };
            g.written = now;
            g.rows += sign;
            self.calls
                .accumulate(&mut g.states, &Calls::values(&args, i), sign);
            if g.rows <= 0 {
                if let Some(old) = g.emitted.take() {
                    changes.push(&key, old, RowKind::Delete);
                }
                continue;
            }
            let new = self.results(&g)?;
            match g.emitted.take() {
                None => changes.push(&key, new.clone(), RowKind::Insert),
                Some(old) if old != new => {
                    changes.push(&key, old, RowKind::UpdateBefore);
                    changes.push(&key, new.clone(), RowKind::UpdateAfter);
                }
                Some(_) => {}
            }
            g.emitted = Some(new);
            self.groups.insert(key, g);
        }
        self.emit(changes, out)
    }

    fn emit(&self, changes: Changes, out: &mut dyn Output) -> Result<(), TaskError> {
        if changes.kinds.is_empty() {
            return Ok(());
        }
        let n = changes.kinds.len();
        let mut cols: Vec<ArrayRef> = match &self.keys {
            Some(k) => {
                let parser = k.parser();
                let rows: Vec<_> = changes.keys.iter().map(|b| parser.parse(b)).collect();
                k.convert_rows(rows)?
            }
            None => Vec::new(),
        };
        cols.extend(self.calls.result_columns(changes.results.iter())?);
        cols.push(Arc::new(Int8Array::from(changes.kinds)));
        out.emit(super::conform(&self.output, cols, n)?)
    }

    fn snapshot_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .spec
            .group_by
            .iter()
            .map(|c| {
                let col = &self.spec.input.columns[*c];
                Field::new(&col.name, col.ty.to_arrow(), true)
            })
            .collect();
        fields.extend(Calls::snapshot_fields());
        state_ipc::schema(fields, SNAPSHOT_FORMAT, i64::MIN)
    }
}

/// The changes of one input batch.
#[derive(Default)]
struct Changes {
    keys: Vec<Vec<u8>>,
    results: Vec<Vec<ScalarValue>>,
    kinds: Vec<i8>,
}

impl Changes {
    fn push(&mut self, key: &[u8], result: Vec<ScalarValue>, kind: RowKind) {
        self.keys.push(key.to_vec());
        self.results.push(result);
        self.kinds.push(kind as i8);
    }
}

impl Operator for RetractAggregateOperator {
    fn name(&self) -> &str {
        "GroupAggregate"
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        self.process(&batch, out)
    }

    fn snapshot_state(&mut self, _checkpoint: u64) -> Result<Option<Vec<u8>>, TaskError> {
        let schema = self.snapshot_schema();
        let mut keys: Vec<&[u8]> = Vec::new();
        let mut rows: Vec<StateRow<'_>> = Vec::new();
        for (k, g) in &self.groups {
            // the group's row count, as call -1
            rows.push((-1, None, g.rows, None, None));
            if self.ttl.is_some() {
                rows.push((-2, None, g.written, None, None));
            }
            rows.extend(Calls::state_rows(&g.states));
            keys.resize(rows.len(), k);
        }
        let batches = Calls::keyed_state_batches(&schema, self.keys.as_ref(), &keys, &rows)?;
        state_ipc::write(&schema, &batches).map(Some)
    }

    fn restore_state(&mut self, states: &[Vec<u8>], scope: &RestoreScope) -> Result<(), TaskError> {
        let expected = self.snapshot_schema();
        let k = self.spec.group_by.len();
        let key_cols: Vec<usize> = (0..k).collect();
        for bytes in states {
            let snap = state_ipc::read(bytes, SNAPSHOT_FORMAT, &expected)?;
            for b in snap.batches {
                let b = state_ipc::owned(&b, &key_cols, scope)?;
                if b.num_rows() == 0 {
                    continue;
                }
                let keys = match &self.keys {
                    Some(conv) => Some(conv.convert_columns(&b.columns()[..k])?),
                    None => None,
                };
                let state_cols = &b.columns()[k..];
                for i in 0..b.num_rows() {
                    let key = keys
                        .as_ref()
                        .map_or(Vec::new(), |r| r.row(i).as_ref().to_vec());
                    let fresh = self.new_group();
                    let g = self.groups.entry(key).or_insert(fresh);
                    let row = Calls::state_row(state_cols, i);
                    if row.0 == -2 {
                        g.written = g.written.max(row.2);
                    } else if row.0 < 0 {
                        g.rows += row.2;
                    } else {
                        Calls::restore_row(&mut g.states, row)?;
                    }
                }
            }
        }
        // every result was emitted before the checkpoint
        // (a group saved without a time of last write is as new at the restore)
        let groups = std::mem::take(&mut self.groups);
        let now = self.clock.now();
        for (k, mut g) in groups {
            if g.written == 0 {
                g.written = now;
            }
            if g.rows > 0 {
                g.emitted = Some(self.results(&g)?);
            }
            self.groups.insert(k, g);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::state_ipc::{rescale, route};
    use crate::operators::testkit::Collect;
    use datafusion::arrow::array::Int64Array;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use strom_plan::{AggCall, AggFunc, AggregateMode, Column, RowSchema, SqlType};

    /// Input `(k, v, op)`; the aggregate `k, COUNT(*), SUM(v), MIN(v), MAX(v), AVG(v),
    /// COUNT(DISTINCT v)` grouped by k.
    fn spec() -> AggregateSpec {
        let c = |name: &str, ty: SqlType| Column {
            name: name.into(),
            ty,
            nullable: true,
        };
        let input =
            RowSchema::new(vec![c("k", SqlType::BigInt), c("v", SqlType::BigInt)]).with_op();
        let call = |f: &str, arg: Option<usize>, distinct: bool, ty: SqlType, name: &str| AggCall {
            func: AggFunc::named(f).unwrap(),
            arg,
            distinct,
            name: name.into(),
            result_type: ty,
            literal: None,
            ignore_nulls: false,
        };
        let aggregates = vec![
            call("COUNT_STAR", None, false, SqlType::BigInt, "c"),
            call("SUM", Some(1), false, SqlType::BigInt, "s"),
            call("MIN", Some(1), false, SqlType::BigInt, "mn"),
            call("MAX", Some(1), false, SqlType::BigInt, "mx"),
            call("AVG", Some(1), false, SqlType::Double, "a"),
            call("COUNT", Some(1), true, SqlType::BigInt, "d"),
        ];
        let mut out = vec![c("k", SqlType::BigInt)];
        out.extend(aggregates.iter().map(|a| c(&a.name, a.result_type.clone())));
        AggregateSpec {
            state_ttl_ms: 0,
            input,
            group_by: vec![0],
            aggregates,
            window_end_column: None,
            window_key_columns: vec![],
            mode: AggregateMode::Single,
            changelog: true,
            mini_batch: false,
            session_gap_ms: None,
            output: RowSchema::new(out).with_op(),
        }
    }

    fn batch(rows: &[(i64, Option<i64>, RowKind)]) -> RecordBatch {
        RecordBatch::try_new(
            spec().input.to_arrow(),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))),
                Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.2 as i8))),
            ],
        )
        .unwrap()
    }

    /// The final table of a changelog, rows as text, sorted.
    fn replay(batches: &[RecordBatch]) -> Vec<String> {
        let mut table: Vec<String> = Vec::new();
        for b in batches {
            let op = b
                .column(b.num_columns() - 1)
                .as_primitive::<datafusion::arrow::datatypes::Int8Type>();
            for i in 0..b.num_rows() {
                let row: Vec<String> = (0..b.num_columns() - 1)
                    .map(|c| {
                        ScalarValue::try_from_array(b.column(c), i)
                            .unwrap()
                            .to_string()
                    })
                    .collect();
                let row = row.join(",");
                if RowKind::from_byte(op.value(i)).unwrap().is_addition() {
                    table.push(row);
                } else {
                    let at = table
                        .iter()
                        .position(|r| *r == row)
                        .expect("retracted row is there");
                    table.swap_remove(at);
                }
            }
        }
        table.sort();
        table
    }

    /// The aggregate of the rows left, computed naively.
    fn naive(rows: &[(i64, Option<i64>)]) -> Vec<String> {
        let mut groups: BTreeMap<i64, Vec<Option<i64>>> = BTreeMap::new();
        for (k, v) in rows {
            groups.entry(*k).or_default().push(*v);
        }
        let mut out = Vec::new();
        for (k, vs) in groups {
            let nn: Vec<i64> = vs.iter().flatten().copied().collect();
            let opt = |x: Option<i64>| x.map_or("NULL".to_string(), |v| v.to_string());
            let distinct: std::collections::BTreeSet<i64> = nn.iter().copied().collect();
            let avg = if nn.is_empty() {
                "NULL".to_string()
            } else {
                ScalarValue::Float64(Some(nn.iter().sum::<i64>() as f64 / nn.len() as f64))
                    .to_string()
            };
            out.push(format!(
                "{k},{},{},{},{},{avg},{}",
                vs.len(),
                opt((!nn.is_empty()).then(|| nn.iter().sum())),
                opt(nn.iter().min().copied()),
                opt(nn.iter().max().copied()),
                distinct.len()
            ));
        }
        out.sort();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Random inserts and retractions of inserted rows, checkpointed after a prefix at
        /// parallelism p and restored at p2: the changelog replays to the naive aggregate of
        /// the rows left.
        #[test]
        fn the_changelog_replays_to_the_aggregate_of_the_rows_left(
            steps in prop::collection::vec(
                prop::collection::vec((0i64..3, prop::option::weighted(0.8, 0i64..5), any::<bool>(), any::<prop::sample::Index>()), 0..10),
                1..6),
            cut in 0usize..6,
            p in 1u32..4,
            p2 in 1u32..4,
        ) {
            let spec = spec();
            let max = 16;
            let mut ops: Vec<RetractAggregateOperator> =
                (0..p).map(|_| RetractAggregateOperator::new(&spec).unwrap()).collect();
            let mut out = Collect(vec![]);
            let mut live: Vec<(i64, Option<i64>)> = Vec::new();
            for (i, step) in steps.iter().enumerate() {
                if i == cut.min(steps.len() - 1) {
                    rescale(&mut ops, p2, max, || RetractAggregateOperator::new(&spec).unwrap());
                }
                let mut rows = Vec::new();
                for (k, v, retract, pick) in step {
                    if *retract && !live.is_empty() {
                        let r = live.swap_remove(pick.index(live.len()));
                        rows.push((r.0, r.1, RowKind::Delete));
                    } else {
                        live.push((*k, *v));
                        rows.push((*k, *v, RowKind::Insert));
                    }
                }
                let b = batch(&rows);
                let n = ops.len() as u32;
                for (op, part) in ops.iter_mut().zip(route(&b, &spec.group_by, n, max)) {
                    if part.num_rows() > 0 {
                        op.process_batch(part, &mut out).unwrap();
                    }
                }
            }
            prop_assert_eq!(replay(&out.0), naive(&live));
        }
    }

    /// With a state TTL, a group not changed for that long starts afresh: a retraction for it
    /// changes nothing (as Flink's), an addition gives +I.
    #[test]
    fn a_state_ttl_drops_groups_not_changed_for_that_long() {
        use crate::operators::ttl::Clock;
        use std::sync::atomic::{AtomicI64, Ordering};
        let s = AggregateSpec {
            state_ttl_ms: 100,
            ..spec()
        };
        let now = Arc::new(AtomicI64::new(0));
        let mut op = RetractAggregateOperator::new(&s)
            .unwrap()
            .with_clock(Clock::manual(now.clone()));
        let mut out = Collect(vec![]);
        let steps = [
            (0, (1, Some(5), RowKind::Insert)),
            (50, (1, Some(6), RowKind::Insert)),
            (200, (1, Some(5), RowKind::Delete)),
            (210, (1, Some(7), RowKind::Insert)),
        ];
        for (t, row) in steps {
            now.store(t, Ordering::Relaxed);
            op.process_batch(batch(&[row]), &mut out).unwrap();
        }
        let changes: Vec<(i8, i64, i64)> = out
            .0
            .iter()
            .flat_map(|b| {
                let c = b
                    .column(1)
                    .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                    .clone();
                let sum = b
                    .column(2)
                    .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                    .clone();
                let op = b
                    .column(b.num_columns() - 1)
                    .as_primitive::<datafusion::arrow::datatypes::Int8Type>()
                    .clone();
                (0..b.num_rows()).map(move |r| (op.value(r), c.value(r), sum.value(r)))
            })
            .collect();
        assert_eq!(changes, vec![(0, 1, 5), (1, 1, 5), (2, 2, 11), (0, 1, 7)]);
    }
}
