//! Group aggregation. With a window-end column it is a window aggregate: groups of a window fire
//! when the watermark reaches `window_end - 1` (and at end of input); rows of a window that has
//! already fired are late and dropped (counted). Without one, results are emitted at end of input.
//!
//! Groups are kept per window: window attribute keys (`window_start`, `window_end`, ...) are
//! constant within a window and are not hashed per row; the other keys are hashed as one BIGINT
//! (fast path) or in Arrow's row format.

mod changelog;
mod checkpoint;

use super::accumulators::Accumulator;
use super::distinct_sets::SharedInts;
use super::ttl::{Clock, Ttl};
use crate::error::TaskError;
use crate::operator::{Operator, Output, RestoreScope};
use datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, TimestampMillisecondArray, UInt32Array,
};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use hashbrown::HashMap;
use std::collections::BTreeMap;
use std::sync::Arc;
use strom_plan::{AggregateMode, AggregateSpec, SqlType};

/// The group keys of one table.
enum Keys {
    /// No keys to hash: one group.
    Single,
    /// One BIGINT key.
    Int {
        map: HashMap<i64, u32>,
        vals: Vec<Option<i64>>,
        null_id: Option<u32>,
    },
    /// Any other keys, in Arrow's row format.
    Rows {
        map: HashMap<Box<[u8]>, u32>,
        rows: Rows,
    },
}

/// Groups of one window (or of the whole input).
struct GroupTable {
    keys: Keys,
    groups: usize,
    accs: Vec<Accumulator>,
    /// One-row arrays with the window attribute values of this window.
    window_values: Vec<ArrayRef>,
}

pub struct AggregateOperator {
    spec: AggregateSpec,
    /// Group-by columns hashed per row (the window attributes excluded).
    varying: Vec<usize>,
    int_key: bool,
    /// Per aggregate call: the input columns it reads (argument, or state columns in Final mode).
    arg_columns: Vec<Vec<usize>>,
    /// Per aggregate call: the state column types (Partial mode output).
    state_types: Vec<Vec<SqlType>>,
    converter: RowConverter,
    output: SchemaRef,
    windows: BTreeMap<i64, GroupTable>,
    global: Option<GroupTable>,
    watermark: i64,
    late_dropped: u64,
    group_ids: Vec<u32>,
    /// Changelog mode: per group, whether its result was emitted (+I) already.
    emitted: Vec<bool>,
    /// Changelog mode: per group, the last batch it appeared in, and its last row there.
    run_of: Vec<u64>,
    last_row: Vec<u32>,
    runs: u64,
    /// Changelog mode: per group, the processing time of its last change, and the state
    /// time-to-live (`table.exec.state.ttl`, `STATE_TTL`) that drops groups not changed for it.
    written: Vec<i64>,
    ttl: Option<Ttl>,
    clock: Clock,
}

impl AggregateOperator {
    pub fn new(spec: &AggregateSpec) -> Result<Self, TaskError> {
        let varying: Vec<usize> = spec
            .group_by
            .iter()
            .copied()
            .filter(|g| !spec.window_key_columns.contains(g))
            .collect();
        let int_key = varying.len() == 1 && spec.input.columns[varying[0]].ty == SqlType::BigInt;
        let fields: Vec<SortField> = varying
            .iter()
            .map(|g| SortField::new(spec.input.columns[*g].ty.to_arrow()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let mut arg_columns = Vec::new();
        let mut state_types = Vec::new();
        let partial = strom_plan::partial_schema(&spec.input, &spec.group_by, &spec.aggregates);
        let mut col = spec.group_by.len();
        for c in &spec.aggregates {
            let width = c.state_fields(&spec.input).len();
            state_types.push(
                partial.columns[col..col + width]
                    .iter()
                    .map(|c| c.ty.clone())
                    .collect(),
            );
            match spec.mode {
                AggregateMode::Final => arg_columns.push((col..col + width).collect()),
                _ => arg_columns.push(c.arg.into_iter().collect()),
            }
            col += width;
        }
        Ok(Self {
            spec: spec.clone(),
            varying,
            int_key,
            arg_columns,
            state_types,
            converter,
            output: spec.output.to_arrow(),
            windows: BTreeMap::new(),
            global: None,
            watermark: i64::MIN,
            late_dropped: 0,
            group_ids: Vec::new(),
            emitted: Vec::new(),
            run_of: Vec::new(),
            last_row: Vec::new(),
            runs: 0,
            written: Vec::new(),
            ttl: Ttl::new(if spec.changelog { spec.state_ttl_ms } else { 0 }),
            clock: Clock::default(),
        })
    }

    /// Reads processing time from `clock` (tests move it by hand).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn new_table(&self, batch: &RecordBatch) -> GroupTable {
        let merge = self.spec.mode == AggregateMode::Final;
        let shared = SharedInts::default();
        let accs = self
            .spec
            .aggregates
            .iter()
            .zip(&self.arg_columns)
            .map(|(c, cols)| {
                Accumulator::for_call(c, merge, cols.first().map(|i| batch.column(*i).data_type()))
                    .sharing_distinct(&shared)
            })
            .collect();
        let keys = if self.varying.is_empty() {
            Keys::Single
        } else if self.int_key {
            Keys::Int {
                map: HashMap::new(),
                vals: Vec::new(),
                null_id: None,
            }
        } else {
            Keys::Rows {
                map: HashMap::new(),
                rows: self.converter.empty_rows(1024, 1024 * 16),
            }
        };
        let window_values = if batch.num_rows() > 0 {
            self.spec
                .window_key_columns
                .iter()
                .map(|c| batch.column(*c).slice(0, 1))
                .collect()
        } else {
            vec![]
        };
        GroupTable {
            keys,
            groups: 0,
            accs,
            window_values,
        }
    }

    fn accumulate(
        &mut self,
        batch: &RecordBatch,
        window_end: Option<i64>,
    ) -> Result<(), TaskError> {
        let mut table = match window_end {
            Some(end) => self.windows.remove(&end),
            None => self.global.take(),
        }
        .unwrap_or_else(|| self.new_table(batch));
        let mut ids = std::mem::take(&mut self.group_ids);
        ids.clear();
        let keys = self.varying_columns(batch);
        self.assign_ids(&mut table, &keys, batch.num_rows(), &mut ids)?;
        let n = table.groups;
        for (acc, cols) in table.accs.iter_mut().zip(&self.arg_columns) {
            let args: Vec<ArrayRef> = cols.iter().map(|c| batch.column(*c).clone()).collect();
            acc.update(&ids, n, &args)?;
        }
        self.group_ids = ids;
        match window_end {
            Some(end) => {
                self.windows.insert(end, table);
            }
            None => self.global = Some(table),
        }
        Ok(())
    }

    /// The group-by columns of `batch` hashed per row (`varying`).
    fn varying_columns(&self, batch: &RecordBatch) -> Vec<ArrayRef> {
        self.varying
            .iter()
            .map(|g| batch.column(*g).clone())
            .collect()
    }

    /// Assigns each of `rows` rows its group id in `table` (new groups are added); `key_cols`
    /// are the rows' `varying` key columns.
    fn assign_ids(
        &self,
        table: &mut GroupTable,
        key_cols: &[ArrayRef],
        rows: usize,
        ids: &mut Vec<u32>,
    ) -> Result<(), TaskError> {
        let groups = &mut table.groups;
        match &mut table.keys {
            Keys::Single => {
                *groups = 1;
                ids.resize(ids.len() + rows, 0);
            }
            Keys::Int { map, vals, null_id } => {
                let col = &key_cols[0];
                let a = col
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or_else(|| TaskError::Operator("BIGINT group key expected".into()))?;
                for i in 0..a.len() {
                    let id = if a.is_null(i) {
                        *null_id.get_or_insert_with(|| {
                            vals.push(None);
                            *groups += 1;
                            (*groups - 1) as u32
                        })
                    } else {
                        let v = a.value(i);
                        *map.entry(v).or_insert_with(|| {
                            vals.push(Some(v));
                            *groups += 1;
                            (*groups - 1) as u32
                        })
                    };
                    ids.push(id);
                }
            }
            Keys::Rows { map, rows: keys } => {
                let rows = self.converter.convert_columns(key_cols)?;
                for i in 0..rows.num_rows() {
                    let row = rows.row(i);
                    let id = match map.get(row.as_ref()) {
                        Some(id) => *id,
                        None => {
                            let id = *groups as u32;
                            map.insert(row.as_ref().into(), id);
                            keys.push(row);
                            *groups += 1;
                            id
                        }
                    };
                    ids.push(id);
                }
            }
        }
        Ok(())
    }

    fn emit_table(&self, table: GroupTable, out: &mut dyn Output) -> Result<(), TaskError> {
        let n = table.groups;
        if n == 0 {
            return Ok(());
        }
        let mut columns = self.key_columns(&table)?;
        for (k, acc) in table.accs.iter().enumerate() {
            match self.spec.mode {
                AggregateMode::Partial => columns.extend(acc.state(n, &self.state_types[k])?),
                _ => columns.push(acc.evaluate(n, &self.spec.aggregates[k].result_type)?),
            }
        }
        out.emit(super::conform(&self.output, columns, n)?)
    }

    /// The group-by columns of the groups of `table` (window attributes repeated).
    fn key_columns(&self, table: &GroupTable) -> Result<Vec<ArrayRef>, TaskError> {
        let n = table.groups;
        let varying_cols: Vec<ArrayRef> = match &table.keys {
            Keys::Single => vec![],
            Keys::Int { vals, .. } => vec![Arc::new(Int64Array::from(vals.clone())) as ArrayRef],
            Keys::Rows { rows, .. } => self.converter.convert_rows(rows.iter())?,
        };
        let zeros = UInt32Array::from(vec![0u32; n]);
        let mut columns = Vec::with_capacity(self.output.fields().len());
        for g in &self.spec.group_by {
            if let Some(w) = self.spec.window_key_columns.iter().position(|c| c == g) {
                columns.push(take(table.window_values[w].as_ref(), &zeros, None)?);
            } else {
                let v = self
                    .varying
                    .iter()
                    .position(|c| c == g)
                    .expect("a varying key");
                columns.push(varying_cols[v].clone());
            }
        }
        Ok(columns)
    }
}

pub(super) fn window_ends(col: &ArrayRef) -> Result<Vec<i64>, TaskError> {
    let ts = if col.data_type() == &DataType::Timestamp(TimeUnit::Millisecond, None) {
        col.clone()
    } else {
        cast(col, &DataType::Timestamp(TimeUnit::Millisecond, None))?
    };
    let a = ts
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .ok_or_else(|| TaskError::Operator("window_end is not a timestamp".into()))?;
    Ok(a.values().to_vec())
}

impl Operator for AggregateOperator {
    fn name(&self) -> &str {
        "Aggregate"
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        if self.spec.changelog {
            return self.changelog_batch(&batch, out);
        }
        let Some(we) = self.spec.window_end_column else {
            return self.accumulate(&batch, None);
        };
        let ends = window_ends(batch.column(we))?;
        let first = ends[0];
        if ends.iter().all(|e| *e == first) {
            if first - 1 <= self.watermark {
                self.late_dropped += ends.len() as u64;
                return Ok(());
            }
            return self.accumulate(&batch, Some(first));
        }
        let mut by_end: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for (i, e) in ends.iter().enumerate() {
            by_end.entry(*e).or_default().push(i as u32);
        }
        for (end, idx) in by_end {
            if end - 1 <= self.watermark {
                self.late_dropped += idx.len() as u64;
                continue;
            }
            let idx = UInt32Array::from(idx);
            let cols = batch
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &idx, None))
                .collect::<Result<Vec<_>, _>>()?;
            let sub = RecordBatch::try_new(batch.schema(), cols)?;
            self.accumulate(&sub, Some(end))?;
        }
        Ok(())
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
            let table = entry.remove();
            self.emit_table(table, out)?;
        }
        out.emit_watermark(watermark)
    }

    fn finish(&mut self, out: &mut dyn Output) -> Result<(), TaskError> {
        let windows = std::mem::take(&mut self.windows);
        for (_, table) in windows {
            self.emit_table(table, out)?;
        }
        if self.spec.changelog {
            // every change was emitted as it happened
            return Ok(());
        }
        if let Some(t) = self.global.take() {
            self.emit_table(t, out)?;
        } else if self.spec.group_by.is_empty()
            && self.spec.window_end_column.is_none()
            && self.spec.mode != AggregateMode::Partial
        {
            // a global aggregate over no rows still yields one row (COUNT(*) = 0)
            let empty = RecordBatch::new_empty(self.spec.input.to_arrow());
            let mut t = self.new_table(&empty);
            t.groups = 1;
            for a in &mut t.accs {
                a.update(&[], 1, &[])?;
            }
            self.emit_table(t, out)?;
        }
        Ok(())
    }

    /// A local (Partial) window aggregate hands over the partial results of its open windows:
    /// once its task is idle, the global aggregate may fire them on the other subtasks'
    /// watermarks, and what it held back would then be late. (The global aggregate merges
    /// several partial results of a window.)
    fn before_idle(&mut self, out: &mut dyn Output) -> Result<(), TaskError> {
        if self.spec.mode != AggregateMode::Partial {
            return Ok(());
        }
        for (_, table) in std::mem::take(&mut self.windows) {
            self.emit_table(table, out)?;
        }
        Ok(())
    }

    fn late_records_dropped(&self) -> u64 {
        self.late_dropped
    }

    /// See [`checkpoint`]: the open groups with their partial states, and the watermark.
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
    use datafusion::arrow::array::{Float64Array, Int64Array};
    use proptest::prelude::*;
    use std::collections::BTreeMap as Map;
    use std::sync::Arc;
    use strom_plan::{AggCall, AggFunc, RowKind, RowSchema};

    use crate::operators::testkit::Collect;

    use crate::operators::testkit::col;

    fn spec(mode: AggregateMode, key: SqlType) -> AggregateSpec {
        let input = RowSchema::new(vec![col("k", key.clone()), col("v", SqlType::BigInt)]);
        let calls = vec![
            AggCall {
                func: AggFunc::named("COUNT_STAR").unwrap(),
                arg: None,
                distinct: false,
                name: "c".into(),
                result_type: SqlType::BigInt,
                literal: None,
                ignore_nulls: false,
            },
            AggCall {
                func: AggFunc::named("SUM").unwrap(),
                arg: Some(1),
                distinct: false,
                name: "s".into(),
                result_type: SqlType::BigInt,
                literal: None,
                ignore_nulls: false,
            },
            AggCall {
                func: AggFunc::named("MIN").unwrap(),
                arg: Some(1),
                distinct: false,
                name: "mi".into(),
                result_type: SqlType::BigInt,
                literal: None,
                ignore_nulls: false,
            },
            AggCall {
                func: AggFunc::named("MAX").unwrap(),
                arg: Some(1),
                distinct: false,
                name: "ma".into(),
                result_type: SqlType::BigInt,
                literal: None,
                ignore_nulls: false,
            },
            AggCall {
                func: AggFunc::named("AVG").unwrap(),
                arg: Some(1),
                distinct: false,
                name: "a".into(),
                result_type: SqlType::Double,
                literal: None,
                ignore_nulls: false,
            },
        ];
        let out = RowSchema::new(vec![
            col("k", key),
            col("c", SqlType::BigInt),
            col("s", SqlType::BigInt),
            col("mi", SqlType::BigInt),
            col("ma", SqlType::BigInt),
            col("a", SqlType::Double),
        ]);
        let partial = strom_plan::partial_schema(&input, &[0], &calls);
        let (input, output) = match mode {
            AggregateMode::Final => (partial, out),
            AggregateMode::Partial => (input, partial),
            AggregateMode::Single => (input, out),
        };
        AggregateSpec {
            state_ttl_ms: 0,
            input,
            group_by: vec![0],
            aggregates: calls,
            window_end_column: None,
            window_key_columns: vec![],
            mode,
            changelog: false,
            mini_batch: false,
            session_gap_ms: None,
            output,
        }
    }

    fn changelog_spec(key: SqlType, mini_batch: bool) -> AggregateSpec {
        let s = spec(AggregateMode::Single, key);
        AggregateSpec {
            changelog: true,
            mini_batch,
            output: s.output.with_op(),
            ..s
        }
    }

    /// Applies a changelog to a table of results, checking that each -U retracts the current
    /// row and each +I/+U adds to an absent key; returns the table and the number of +I/+U.
    fn replay(batches: &[RecordBatch]) -> (Vec<Row>, usize) {
        let mut table: Map<i64, Row> = Map::new();
        let mut additions = 0;
        for b in batches {
            let kinds = b
                .column(b.num_columns() - 1)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Int8Array>()
                .unwrap()
                .clone();
            let data = b
                .project(&(0..b.num_columns() - 1).collect::<Vec<_>>())
                .unwrap();
            for r in 0..b.num_rows() {
                let row = rows_of(&[data.slice(r, 1)]).remove(0);
                match strom_plan::RowKind::from_byte(kinds.value(r)).unwrap() {
                    strom_plan::RowKind::UpdateBefore => {
                        assert_eq!(
                            table.remove(&row.0).as_ref(),
                            Some(&row),
                            "-U of a row not in the result"
                        )
                    }
                    k => {
                        assert!(k.is_addition());
                        assert!(
                            table.insert(row.0, row).is_none(),
                            "+I/+U over a present row"
                        );
                        additions += 1;
                    }
                }
            }
        }
        (table.into_values().collect(), additions)
    }

    fn batch(rows: &[(i64, Option<i64>)], key: &SqlType) -> RecordBatch {
        let schema = spec(AggregateMode::Single, key.clone()).input.to_arrow();
        let k: ArrayRef = Arc::new(Int64Array::from(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        ));
        let k = cast(&k, &key.to_arrow()).unwrap();
        let v = Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>());
        RecordBatch::try_new(schema, vec![k, Arc::new(v)]).unwrap()
    }

    type Row = (
        i64,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
    );

    fn rows_of(batches: &[RecordBatch]) -> Vec<Row> {
        let mut out = Vec::new();
        for b in batches {
            let i = |c: usize| {
                b.column(c)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .clone()
            };
            let a = b
                .column(5)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .clone();
            let k0 = cast(b.column(0), &DataType::Int64).unwrap();
            let k = k0.as_any().downcast_ref::<Int64Array>().unwrap().clone();
            let (c, s, mi, ma) = (i(1), i(2), i(3), i(4));
            for r in 0..b.num_rows() {
                let opt = |x: &Int64Array| x.is_valid(r).then(|| x.value(r));
                out.push((
                    k.value(r),
                    c.value(r),
                    opt(&s),
                    opt(&mi),
                    opt(&ma),
                    a.is_valid(r).then(|| format!("{:.6}", a.value(r))),
                ));
            }
        }
        out.sort();
        out
    }

    fn expected(rows: &[(i64, Option<i64>)]) -> Vec<Row> {
        let mut m: Map<i64, Vec<Option<i64>>> = Map::new();
        for (k, v) in rows {
            m.entry(*k).or_default().push(*v);
        }
        m.into_iter()
            .map(|(k, vs)| {
                let vals: Vec<i64> = vs.iter().flatten().copied().collect();
                let sum = (!vals.is_empty()).then(|| vals.iter().sum::<i64>());
                let avg = (!vals.is_empty())
                    .then(|| format!("{:.6}", vals.iter().sum::<i64>() as f64 / vals.len() as f64));
                (
                    k,
                    vs.len() as i64,
                    sum,
                    vals.iter().min().copied(),
                    vals.iter().max().copied(),
                    avg,
                )
            })
            .collect()
    }

    /// With a state TTL of 100 ms, a group not changed for that long starts afresh (+I), also
    /// after a checkpoint and a restore, with either kind of key.
    #[test]
    fn a_state_ttl_drops_groups_not_changed_for_that_long() {
        use crate::operators::ttl::Clock;
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::{Int64Type, Int8Type};
        use std::sync::atomic::{AtomicI64, Ordering};
        for key in [SqlType::BigInt, SqlType::String] {
            let spec = AggregateSpec {
                state_ttl_ms: 100,
                ..changelog_spec(key.clone(), false)
            };
            let now = Arc::new(AtomicI64::new(0));
            let new_op = || {
                AggregateOperator::new(&spec)
                    .unwrap()
                    .with_clock(Clock::manual(now.clone()))
            };
            let mut op = new_op();
            let mut out = Collect(vec![]);
            let mut at = |op: &mut AggregateOperator, t: i64, rows: &[(i64, Option<i64>)]| {
                now.store(t, Ordering::Relaxed);
                op.process_batch(batch(rows, &key), &mut out).unwrap();
            };
            at(&mut op, 0, &[(1, Some(5)), (2, Some(7))]);
            at(&mut op, 60, &[(1, Some(6))]);
            // group 2 expired at 100, group 1 lives until 160, group 3 is new
            at(&mut op, 130, &[(1, Some(1)), (2, Some(3)), (3, Some(1))]);
            let state = op.snapshot_state(1).unwrap().unwrap();
            let mut op = new_op();
            op.restore_state(&[state], &RestoreScope::new(0, 1, 128))
                .unwrap();
            at(&mut op, 150, &[(2, Some(4))]);
            at(&mut op, 235, &[(1, Some(2))]);
            let changes: Vec<(i8, i64, i64, Option<i64>)> = out
                .0
                .iter()
                .flat_map(|b| {
                    let kinds = b.column(6).as_primitive::<Int8Type>().clone();
                    let k = cast(b.column(0), &DataType::Int64).unwrap();
                    let k = k.as_primitive::<Int64Type>().clone();
                    let c = b.column(1).as_primitive::<Int64Type>().clone();
                    let s = b.column(2).as_primitive::<Int64Type>().clone();
                    (0..b.num_rows())
                        .map(|r| {
                            (
                                kinds.value(r),
                                k.value(r),
                                c.value(r),
                                s.is_valid(r).then(|| s.value(r)),
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            let (i, ub, ua) = (0, 1, 2);
            assert_eq!(
                changes,
                vec![
                    (i, 1, 1, Some(5)),
                    (i, 2, 1, Some(7)),
                    (ub, 1, 1, Some(5)),
                    (ua, 1, 2, Some(11)),
                    (ub, 1, 2, Some(11)),
                    (ua, 1, 3, Some(12)),
                    (i, 2, 1, Some(3)),
                    (i, 3, 1, Some(1)),
                    (ub, 2, 1, Some(3)),
                    (ua, 2, 2, Some(7)),
                    (i, 1, 1, Some(2)),
                ],
                "{key:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn single_and_two_phase_match_a_naive_aggregate(
            rows in prop::collection::vec((0i64..6, prop::option::weighted(0.8, -100i64..100)), 1..200),
            split in 1usize..50,
            int_key in any::<bool>(),
        ) {
            // BIGINT keys take the hashed-integer path, INT keys the row-format path
            let key = if int_key { SqlType::BigInt } else { SqlType::Int };
            let want = expected(&rows);
            // one phase, in batches of `split` rows
            let mut single = AggregateOperator::new(&spec(AggregateMode::Single, key.clone())).unwrap();
            let mut out = Collect(vec![]);
            for chunk in rows.chunks(split) {
                single.process_batch(batch(chunk, &key), &mut out).unwrap();
            }
            single.finish(&mut out).unwrap();
            prop_assert_eq!(rows_of(&out.0), want.clone());
            // two phases: two partial aggregates over alternating chunks, one final
            let mut partials = [AggregateOperator::new(&spec(AggregateMode::Partial, key.clone())).unwrap(), AggregateOperator::new(&spec(AggregateMode::Partial, key.clone())).unwrap()];
            let mut pout = Collect(vec![]);
            for (i, chunk) in rows.chunks(split).enumerate() {
                partials[i % 2].process_batch(batch(chunk, &key), &mut pout).unwrap();
            }
            for p in &mut partials {
                p.finish(&mut pout).unwrap();
            }
            let mut fin = AggregateOperator::new(&spec(AggregateMode::Final, key.clone())).unwrap();
            let mut out = Collect(vec![]);
            for b in pout.0 {
                fin.process_batch(b, &mut out).unwrap();
            }
            fin.finish(&mut out).unwrap();
            prop_assert_eq!(rows_of(&out.0), want);
        }

        /// Without mini-batch the changelog is the per-row sequence, whatever the batches:
        /// computed here row by row from each group's rows so far.
        #[test]
        fn a_changelog_is_the_sequence_of_its_rows(
            rows in prop::collection::vec((0i64..6, prop::option::weighted(0.8, -100i64..100)), 1..150),
            split in 1usize..60,
            int_key in any::<bool>(),
        ) {
            let key = if int_key { SqlType::BigInt } else { SqlType::Int };
            let mut op = AggregateOperator::new(&changelog_spec(key.clone(), false)).unwrap();
            let mut out = Collect(vec![]);
            for chunk in rows.chunks(split) {
                op.process_batch(batch(chunk, &key), &mut out).unwrap();
            }
            op.finish(&mut out).unwrap();
            let mut got = Vec::new();
            for b in &out.0 {
                let kinds = b.column(b.num_columns() - 1).as_any().downcast_ref::<datafusion::arrow::array::Int8Array>().unwrap();
                for r in 0..b.num_rows() {
                    got.push((kinds.value(r), rows_of(&[b.slice(r, 1)]).remove(0)));
                }
            }
            let mut want = Vec::new();
            let mut current: Map<i64, Row> = Map::new();
            for (i, (k, _)) in rows.iter().enumerate() {
                let own: Vec<(i64, Option<i64>)> = rows[..=i].iter().filter(|r| r.0 == *k).copied().collect();
                let row = expected(&own).remove(0);
                match current.insert(*k, row.clone()) {
                    None => want.push((RowKind::Insert as i8, row)),
                    Some(old) if old != row => {
                        want.push((RowKind::UpdateBefore as i8, old));
                        want.push((RowKind::UpdateAfter as i8, row));
                    }
                    Some(_) => {}
                }
            }
            prop_assert_eq!(got, want);
        }

        #[test]
        fn a_changelog_replays_to_the_final_aggregate(
            rows in prop::collection::vec((0i64..6, prop::option::weighted(0.8, -100i64..100)), 1..200),
            split in 1usize..50,
            int_key in any::<bool>(),
            mini_batch in any::<bool>(),
        ) {
            let key = if int_key { SqlType::BigInt } else { SqlType::Int };
            let mut op = AggregateOperator::new(&changelog_spec(key.clone(), mini_batch)).unwrap();
            let mut out = Collect(vec![]);
            for chunk in rows.chunks(split) {
                op.process_batch(batch(chunk, &key), &mut out).unwrap();
            }
            op.finish(&mut out).unwrap();
            let (table, additions) = replay(&out.0);
            prop_assert_eq!(table, expected(&rows));
            if !mini_batch {
                // COUNT(*) changes with every row: one +I or +U per input row
                prop_assert_eq!(additions, rows.len());
            }
        }
    }
}
