//! Checkpoints of the group aggregate.
//!
//! **Format**: one Arrow IPC stream (see [`super::super::state_ipc`]) with one batch per group
//! table (each open window, and the table of a non-windowed aggregate). Its columns are the
//! `group_by` columns (window attributes repeated on every row, in the input's types: exactly
//! the columns the hash exchange in front of the operator hashes), then each aggregate's
//! [`Accumulator::snapshot`](super::super::accumulators::Accumulator::snapshot) columns (its
//! partial state in the accumulator's own types, plus the seen values of a DISTINCT aggregate),
//! then in changelog mode `$emitted` (whether the group's `+I` was emitted) and `$written` (the
//! processing time of the group's last change, for a state time-to-live). The schema's
//! metadata holds the format and the operator's watermark.
//!
//! **Restore**: every batch of every old subtask's snapshot is read; rows whose key
//! (`hash_keys` of the group-by columns) belongs to a key group of this subtask are folded
//! into fresh tables (window tables by window end) with merge semantics, as the Final phase
//! merges partial states (the Partial phase keeps groups anywhere, so several old subtasks may
//! hold one group: they merge).
//!
//! **Watermark**: behind a hash exchange (Single and Final modes) the restored watermark is the
//! *maximum* over the old subtasks' snapshots. With aligned checkpoints every subtask of a hashed
//! vertex has seen the same watermarks when the barrier passes, so they agree; if they did not,
//! a window behind the maximum fired in some old subtask, its result was emitted and its state is
//! gone, so its rows must stay late everywhere. A restored window table that is behind the
//! restored watermark (only possible if the old subtasks disagreed) is kept and fires with the
//! next watermark advance, or at end of input.
//!
//! The Partial phase is chained to its source, whose subtasks' watermarks do differ, and its
//! groups move to other subtasks on restore; a window that fired in a Partial subtask only sent a
//! partial result on to the Final phase, which still merges later partial results of that window
//! until the Final phase fires it (and then drops them as late). So a Partial aggregate restores
//! the *minimum* of the old subtasks' watermarks: it drops no row that one of them would have
//! kept, and the Final phase decides what is late.

use super::{window_ends, AggregateOperator, GroupTable};
use crate::error::TaskError;
use crate::operator::RestoreScope;
use crate::operators::state_ipc;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use std::collections::BTreeMap;
use std::sync::Arc;
use strom_plan::AggregateMode;

const FORMAT: &str = "strom-aggregate-v2";

impl AggregateOperator {
    /// The schema of this operator's snapshots (with the current watermark).
    pub(super) fn snapshot_schema(&self) -> Result<SchemaRef, TaskError> {
        let empty = RecordBatch::new_empty(self.spec.input.to_arrow());
        let proto = self.new_table(&empty);
        let mut fields = Vec::new();
        for g in &self.spec.group_by {
            let c = &self.spec.input.columns[*g];
            fields.push(Field::new(&c.name, c.ty.to_arrow(), true));
        }
        for (k, acc) in proto.accs.iter().enumerate() {
            for (j, col) in acc.snapshot(0)?.iter().enumerate() {
                fields.push(Field::new(
                    format!("$state{k}_{j}"),
                    col.data_type().clone(),
                    true,
                ));
            }
        }
        if self.spec.changelog {
            fields.push(Field::new("$emitted", DataType::Boolean, true));
            fields.push(Field::new("$written", DataType::Int64, true));
        }
        Ok(state_ipc::schema(fields, FORMAT, self.watermark))
    }

    /// The snapshot columns of `table`'s groups (`n` of them).
    pub(super) fn table_columns(&self, table: &GroupTable) -> Result<Vec<ArrayRef>, TaskError> {
        let n = table.groups;
        let mut cols = self.key_columns(table)?;
        for acc in &table.accs {
            cols.extend(acc.snapshot(n)?);
        }
        if self.spec.changelog {
            // (groups added by the batch in hand are not emitted nor written yet)
            let mut emitted = self.emitted.clone();
            emitted.resize(n, false);
            cols.push(Arc::new(BooleanArray::from(emitted)));
            let mut written = self.written.clone();
            written.resize(n, 0);
            cols.push(Arc::new(Int64Array::from(written)));
        }
        Ok(cols)
    }

    pub(super) fn snapshot(&self) -> Result<Vec<u8>, TaskError> {
        let schema = self.snapshot_schema()?;
        let mut batches = Vec::new();
        for table in self.windows.values().chain(self.global.as_ref()) {
            let n = table.groups;
            if n == 0 {
                continue;
            }
            batches.push(state_ipc::batch(&schema, self.table_columns(table)?, n)?);
        }
        state_ipc::write(&schema, &batches)
    }

    pub(super) fn restore(
        &mut self,
        states: &[Vec<u8>],
        scope: &RestoreScope,
    ) -> Result<(), TaskError> {
        let expected = self.snapshot_schema()?;
        let keys: Vec<usize> = (0..self.spec.group_by.len()).collect();
        let mut watermark: Option<i64> = None;
        for bytes in states {
            let snap = state_ipc::read(bytes, FORMAT, &expected)?;
            let w = snap.watermark;
            watermark = Some(match watermark {
                None => w,
                Some(v) if self.spec.mode == AggregateMode::Partial => v.min(w),
                Some(v) => v.max(w),
            });
            for b in snap.batches {
                let b = state_ipc::owned(&b, &keys, scope)?;
                if b.num_rows() > 0 {
                    self.restore_batch(&b)?;
                }
            }
        }
        if let Some(w) = watermark {
            self.watermark = self.watermark.max(w);
        }
        Ok(())
    }

    /// The position of input column `c` among the group-by columns (snapshot columns).
    fn key_pos(&self, c: usize) -> Result<usize, TaskError> {
        self.spec
            .group_by
            .iter()
            .position(|g| *g == c)
            .ok_or_else(|| TaskError::Operator(format!("column {c} is not a group key")))
    }

    /// Folds snapshot rows (of any windows) into the tables.
    fn restore_batch(&mut self, b: &RecordBatch) -> Result<(), TaskError> {
        let Some(we) = self.spec.window_end_column else {
            return self.restore_rows(b, None);
        };
        let ends = window_ends(b.column(self.key_pos(we)?))?;
        let mut by_end: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for (i, e) in ends.iter().enumerate() {
            by_end.entry(*e).or_default().push(i as u32);
        }
        if by_end.len() == 1 {
            return self.restore_rows(b, Some(ends[0]));
        }
        for (end, idx) in by_end {
            let idx = UInt32Array::from(idx);
            let cols = b
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &idx, None))
                .collect::<Result<Vec<_>, _>>()?;
            self.restore_rows(&RecordBatch::try_new(b.schema(), cols)?, Some(end))?;
        }
        Ok(())
    }

    /// Folds snapshot rows of one table (window `window_end`, or the non-windowed table).
    pub(super) fn restore_rows(
        &mut self,
        b: &RecordBatch,
        window_end: Option<i64>,
    ) -> Result<(), TaskError> {
        let existing = match window_end {
            Some(end) => self.windows.remove(&end),
            None => self.global.take(),
        };
        let mut table = match existing {
            Some(t) => t,
            None => {
                let empty = RecordBatch::new_empty(self.spec.input.to_arrow());
                let mut t = self.new_table(&empty);
                t.window_values = self
                    .spec
                    .window_key_columns
                    .iter()
                    .map(|c| Ok(b.column(self.key_pos(*c)?).slice(0, 1)))
                    .collect::<Result<_, TaskError>>()?;
                t
            }
        };
        let key_cols: Vec<ArrayRef> = self
            .varying
            .iter()
            .map(|v| Ok(b.column(self.key_pos(*v)?).clone()))
            .collect::<Result<_, TaskError>>()?;
        let mut ids = Vec::with_capacity(b.num_rows());
        self.assign_ids(&mut table, &key_cols, b.num_rows(), &mut ids)?;
        let n = table.groups;
        let mut col = self.spec.group_by.len();
        for acc in &mut table.accs {
            let w = acc.snapshot_width();
            acc.restore(&ids, n, &b.columns()[col..col + w])?;
            col += w;
        }
        if self.spec.changelog {
            let emitted = b.column(col).as_boolean();
            self.emitted.resize(n, false);
            self.run_of.resize(n, 0);
            for (i, g) in ids.iter().enumerate() {
                if emitted.is_valid(i) && emitted.value(i) {
                    self.emitted[*g as usize] = true;
                }
            }
            // (a group saved without a time of last write is as new at the restore)
            let written = b.column(col + 1).as_primitive::<Int64Type>();
            let now = self.clock.now();
            self.written.resize(n, 0);
            for (i, g) in ids.iter().enumerate() {
                let w = match written.is_valid(i) && written.value(i) != 0 {
                    true => written.value(i),
                    false => now,
                };
                let g = &mut self.written[*g as usize];
                *g = (*g).max(w);
            }
        }
        match window_end {
            Some(end) => {
                self.windows.insert(end, table);
            }
            None => self.global = Some(table),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::Operator;
    use crate::operators::state_ipc::route;
    use crate::operators::testkit::{col, Collect};
    use datafusion::arrow::array::{Int64Array, Int8Array, TimestampMillisecondArray};
    use datafusion::arrow::compute::cast;
    use proptest::prelude::*;
    use std::collections::BTreeMap as Map;
    use strom_plan::partial_schema;
    use strom_plan::{AggCall, AggFunc, AggregateMode, AggregateSpec, RowKind, RowSchema, SqlType};

    /// Tumbling windows of 10 ms.
    const SIZE: i64 = 10;

    /// An input row: key, value, event time.
    type In = (Option<i64>, Option<i64>, i64);
    /// Input batches, each followed by a watermark or not.
    type Steps = Vec<(Vec<In>, Option<i64>)>;
    /// A result row: key, window end (0 without windows), the aggregates as text.
    type Out = (Option<i64>, i64, Vec<String>);

    fn input(key: &SqlType) -> RowSchema {
        let ts = SqlType::Timestamp(3);
        RowSchema::new(vec![
            col("k", key.clone()),
            col("v", SqlType::BigInt),
            col("window_start", ts.clone()),
            col("window_end", ts),
        ])
    }

    /// COUNT(*), COUNT(v), SUM(v), MIN(v), MAX(v), AVG(v), DISTINCT but COUNT(*) if `distinct`.
    fn calls(distinct: bool) -> Vec<AggCall> {
        let call = |func: &str, arg, name: &str, result_type| AggCall {
            func: AggFunc::named(func).unwrap(),
            arg,
            distinct: distinct && arg.is_some(),
            name: name.into(),
            result_type,
            literal: None,
            ignore_nulls: false,
        };
        vec![
            call("COUNT_STAR", None, "c", SqlType::BigInt),
            call("COUNT", Some(1), "cv", SqlType::BigInt),
            call("SUM", Some(1), "s", SqlType::BigInt),
            call("MIN", Some(1), "mi", SqlType::BigInt),
            call("MAX", Some(1), "ma", SqlType::BigInt),
            call("AVG", Some(1), "a", SqlType::Double),
        ]
    }

    /// `windowed`: GROUP BY k, window_start, window_end (tumbling windows); otherwise GROUP BY k
    /// in changelog mode.
    fn spec(mode: AggregateMode, key: &SqlType, windowed: bool, distinct: bool) -> AggregateSpec {
        let input = input(key);
        let calls = calls(distinct);
        let group_by = if windowed { vec![0, 2, 3] } else { vec![0] };
        let mut out: Vec<_> = group_by.iter().map(|g| input.columns[*g].clone()).collect();
        out.extend(calls.iter().map(|c| col(&c.name, c.result_type.clone())));
        let out = RowSchema::new(out);
        let partial = partial_schema(&input, &group_by, &calls);
        let single = AggregateSpec {
            state_ttl_ms: 0,
            input,
            group_by,
            aggregates: calls,
            window_end_column: windowed.then_some(3),
            window_key_columns: if windowed { vec![2, 3] } else { vec![] },
            mode: AggregateMode::Single,
            changelog: !windowed,
            mini_batch: false,
            session_gap_ms: None,
            output: if windowed { out } else { out.with_op() },
        };
        match mode {
            AggregateMode::Single => single,
            AggregateMode::Partial => AggregateSpec {
                mode,
                output: partial,
                ..single
            },
            AggregateMode::Final => AggregateSpec {
                input: partial,
                group_by: vec![0, 1, 2],
                window_end_column: Some(2),
                window_key_columns: vec![1, 2],
                mode,
                ..single
            },
        }
    }

    fn batch(rows: &[In], key: &SqlType) -> RecordBatch {
        let k: ArrayRef = Arc::new(Int64Array::from(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        ));
        let ws: Vec<i64> = rows.iter().map(|r| r.2 - r.2.rem_euclid(SIZE)).collect();
        RecordBatch::try_new(
            input(key).to_arrow(),
            vec![
                cast(&k, &key.to_arrow()).unwrap(),
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMillisecondArray::from(ws.clone())),
                Arc::new(TimestampMillisecondArray::from(
                    ws.iter().map(|s| s + SIZE).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    /// The subtasks of one aggregate vertex.
    struct Stage {
        spec: AggregateSpec,
        /// Hash-exchanged on these columns; None: batches go round robin.
        keys: Option<Vec<usize>>,
        ops: Vec<AggregateOperator>,
        max: u32,
        /// Late rows of subtasks that are gone.
        late: u64,
        next: usize,
    }

    impl Stage {
        fn new(spec: AggregateSpec, keys: Option<Vec<usize>>, p: u32, max: u32) -> Self {
            let ops = (0..p)
                .map(|_| AggregateOperator::new(&spec).unwrap())
                .collect();
            Self {
                spec,
                keys,
                ops,
                max,
                late: 0,
                next: 0,
            }
        }

        fn push(&mut self, b: RecordBatch, out: &mut Collect) {
            if b.num_rows() == 0 {
                return;
            }
            match &self.keys {
                Some(keys) => {
                    let parts = route(&b, keys, self.ops.len() as u32, self.max);
                    for (op, part) in self.ops.iter_mut().zip(parts) {
                        if part.num_rows() > 0 {
                            op.process_batch(part, out).unwrap();
                        }
                    }
                }
                None => {
                    let n = self.ops.len();
                    self.ops[self.next % n].process_batch(b, out).unwrap();
                    self.next += 1;
                }
            }
        }

        /// A checkpoint, a failure, and a restore at parallelism `p2`.
        fn rescale(&mut self, p2: u32) {
            let spec = &self.spec;
            self.late += crate::operators::state_ipc::rescale(&mut self.ops, p2, self.max, || {
                AggregateOperator::new(spec).unwrap()
            });
        }

        fn late(&self) -> u64 {
            self.late
                + self
                    .ops
                    .iter()
                    .map(|o| o.late_records_dropped())
                    .sum::<u64>()
        }
    }

    /// Runs `steps` through `stages` (each one's output is the next one's input); before step
    /// `cut` (or at the end) every stage is checkpointed and restored at parallelism `p2`.
    /// Returns the last stage's output and the late rows of the first.
    fn run(
        mut stages: Vec<Stage>,
        key: &SqlType,
        steps: &Steps,
        cut: usize,
        p2: u32,
    ) -> (Vec<RecordBatch>, u64) {
        let mut out = Vec::new();
        for i in 0..=steps.len() {
            if i == cut {
                for s in &mut stages {
                    s.rescale(p2);
                }
            }
            let mut pending: Vec<RecordBatch> = match steps.get(i) {
                Some((rows, _)) => vec![batch(rows, key)],
                None => vec![],
            };
            for s in &mut stages {
                let mut o = Collect(vec![]);
                for b in pending {
                    s.push(b, &mut o);
                }
                match steps.get(i) {
                    Some((_, Some(w))) => {
                        for op in &mut s.ops {
                            op.process_watermark(*w, &mut o).unwrap();
                        }
                    }
                    Some((_, None)) => {}
                    None => {
                        for op in &mut s.ops {
                            op.finish(&mut o).unwrap();
                        }
                    }
                }
                pending = o.0;
            }
            out.extend(pending);
        }
        (out, stages[0].late())
    }

    fn cell(a: &ArrayRef, r: usize) -> String {
        if a.is_null(r) {
            return "null".into();
        }
        match a.data_type() {
            DataType::Float64 => format!(
                "{:.6}",
                a.as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                    .value(r)
            ),
            _ => {
                let i = cast(&a.slice(r, 1), &DataType::Int64).unwrap();
                i.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                    .value(0)
                    .to_string()
            }
        }
    }

    fn out_rows(batches: &[RecordBatch], windowed: bool) -> Vec<Out> {
        let mut v = Vec::new();
        for b in batches {
            let first = if windowed { 3 } else { 1 };
            for r in 0..b.num_rows() {
                let k = b.column(0);
                let k = k.is_valid(r).then(|| cell(k, r).parse().unwrap());
                let we = if windowed {
                    cell(b.column(2), r).parse().unwrap()
                } else {
                    0
                };
                let aggs = (first..first + 6).map(|c| cell(b.column(c), r)).collect();
                v.push((k, we, aggs));
            }
        }
        v.sort();
        v
    }

    fn aggregates(vs: &[Option<i64>], distinct: bool) -> Vec<String> {
        let mut vals: Vec<i64> = vs.iter().flatten().copied().collect();
        if distinct {
            vals.sort();
            vals.dedup();
        }
        let or_null = |x: Option<String>| x.unwrap_or_else(|| "null".into());
        let sum: i64 = vals.iter().sum();
        let some = !vals.is_empty();
        vec![
            vs.len().to_string(),
            vals.len().to_string(),
            or_null(some.then(|| sum.to_string())),
            or_null(vals.iter().min().map(|x| x.to_string())),
            or_null(vals.iter().max().map(|x| x.to_string())),
            or_null(some.then(|| format!("{:.6}", sum as f64 / vals.len() as f64))),
        ]
    }

    /// The window aggregate computed naively, and the number of late rows.
    fn expected_windows(steps: &Steps, distinct: bool) -> (Vec<Out>, u64) {
        let mut wm = i64::MIN;
        let mut late = 0;
        let mut groups: Map<(Option<i64>, i64), Vec<Option<i64>>> = Map::new();
        for (rows, w) in steps {
            for (k, v, t) in rows {
                let end = t - t.rem_euclid(SIZE) + SIZE;
                if end - 1 <= wm {
                    late += 1;
                } else {
                    groups.entry((*k, end)).or_default().push(*v);
                }
            }
            if let Some(w) = w {
                wm = wm.max(*w);
            }
        }
        let rows = groups
            .into_iter()
            .map(|((k, end), vs)| (k, end, aggregates(&vs, distinct)))
            .collect();
        (rows, late)
    }

    /// Replays a changelog: each -U must retract the current row, each +I/+U add an absent
    /// one. Returns the final rows and the number of +I/+U.
    fn replay(batches: &[RecordBatch]) -> (Vec<Out>, usize) {
        let mut table: Map<Option<i64>, Out> = Map::new();
        let mut additions = 0;
        for b in batches {
            let op = b.num_columns() - 1;
            let kinds = b.column(op).as_any().downcast_ref::<Int8Array>().unwrap();
            let data = b.project(&(0..op).collect::<Vec<_>>()).unwrap();
            for r in 0..b.num_rows() {
                let row = out_rows(&[data.slice(r, 1)], false).remove(0);
                match RowKind::from_byte(kinds.value(r)).unwrap() {
                    RowKind::UpdateBefore => assert_eq!(
                        table.remove(&row.0).as_ref(),
                        Some(&row),
                        "-U of a row not in the result"
                    ),
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

    fn key_type(int_key: bool) -> SqlType {
        // BIGINT keys take the hashed-integer path, INT keys the row-format path
        if int_key {
            SqlType::BigInt
        } else {
            SqlType::Int
        }
    }

    fn steps() -> impl Strategy<Value = Steps> {
        let row = (
            prop::option::weighted(0.9, 0i64..6),
            prop::option::weighted(0.8, -50i64..50),
            0i64..80,
        );
        prop::collection::vec(
            (
                prop::collection::vec(row, 0..20),
                prop::option::weighted(0.5, 0i64..80),
            ),
            1..10,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Window aggregates (one phase, or Partial + Final) checkpointed after a prefix at
        /// parallelism p and restored at p2 give the naive result, with the same late rows.
        #[test]
        fn windows_survive_a_restore_at_another_parallelism(
            steps in steps(),
            cut in 0usize..12,
            p in 1u32..4,
            p2 in 1u32..4,
            max in 3u32..24,
            int_key in any::<bool>(),
            two_phase in any::<bool>(),
            distinct in any::<bool>(),
        ) {
            let key = key_type(int_key);
            // DISTINCT aggregates run in one phase
            let distinct = distinct && !two_phase;
            let cut = cut.min(steps.len());
            let stages = if two_phase {
                vec![
                    Stage::new(spec(AggregateMode::Partial, &key, true, false), None, p, max),
                    Stage::new(spec(AggregateMode::Final, &key, true, false), Some(vec![0, 1, 2]), p, max),
                ]
            } else {
                vec![Stage::new(spec(AggregateMode::Single, &key, true, distinct), Some(vec![0, 2, 3]), p, max)]
            };
            let (out, late) = run(stages, &key, &steps, cut, p2);
            let (want, want_late) = expected_windows(&steps, distinct);
            prop_assert_eq!(out_rows(&out, true), want);
            prop_assert_eq!(late, want_late);
        }

        /// A changelog aggregate checkpointed and restored at another parallelism emits a
        /// changelog that replays to the naive result, with one +I/+U per row (no second +I
        /// for a restored group).
        #[test]
        fn a_restored_changelog_replays_to_the_final_aggregate(
            steps in steps(),
            cut in 0usize..12,
            p in 1u32..4,
            p2 in 1u32..4,
            max in 3u32..24,
            int_key in any::<bool>(),
            mini_batch in any::<bool>(),
            distinct in any::<bool>(),
        ) {
            let key = key_type(int_key);
            let cut = cut.min(steps.len());
            let s = AggregateSpec { mini_batch, ..spec(AggregateMode::Single, &key, false, distinct) };
            let (out, late) = run(vec![Stage::new(s, Some(vec![0]), p, max)], &key, &steps, cut, p2);
            let (table, additions) = replay(&out);
            let mut groups: Map<Option<i64>, Vec<Option<i64>>> = Map::new();
            for (k, v, _) in steps.iter().flat_map(|s| &s.0) {
                groups.entry(*k).or_default().push(*v);
            }
            let want: Vec<Out> = groups.into_iter().map(|(k, vs)| (k, 0, aggregates(&vs, distinct))).collect();
            prop_assert_eq!(table, want);
            prop_assert_eq!(late, 0);
            if !mini_batch {
                // COUNT(*) changes with every row: one +I or +U per input row
                prop_assert_eq!(additions, steps.iter().map(|s| s.0.len()).sum::<usize>());
            }
        }

        /// Taking snapshots does not change what an operator emits.
        #[test]
        fn snapshots_do_not_change_the_output(
            steps in steps(),
            int_key in any::<bool>(),
            windowed in any::<bool>(),
            distinct in any::<bool>(),
            mode in 0usize..2,
        ) {
            let key = key_type(int_key);
            let mode = [AggregateMode::Single, AggregateMode::Partial][mode];
            let distinct = distinct && mode == AggregateMode::Single;
            let spec = if windowed || mode == AggregateMode::Partial {
                spec(mode, &key, true, distinct)
            } else {
                spec(mode, &key, false, distinct)
            };
            let mut outs = Vec::new();
            for snapshots in [false, true] {
                let mut op = AggregateOperator::new(&spec).unwrap();
                let mut out = Collect(vec![]);
                for (rows, w) in &steps {
                    if snapshots {
                        op.snapshot_state(1).unwrap();
                    }
                    if !rows.is_empty() {
                        op.process_batch(batch(rows, &key), &mut out).unwrap();
                    }
                    if snapshots {
                        op.snapshot_state(2).unwrap();
                    }
                    if let Some(w) = w {
                        op.process_watermark(*w, &mut out).unwrap();
                    }
                }
                op.finish(&mut out).unwrap();
                outs.push((out.0, op.late_records_dropped()));
            }
            prop_assert_eq!(&outs[0], &outs[1]);
        }
    }

    #[test]
    fn rows_of_a_window_fired_before_the_checkpoint_stay_late() {
        let key = SqlType::BigInt;
        let s = spec(AggregateMode::Single, &key, true, false);
        // old subtask 0 has seen watermark 5 and holds window [0, 10); old subtask 1 has seen
        // watermark 25, so window [0, 10) fired there (its rows are gone from its state)
        let mut a = AggregateOperator::new(&s).unwrap();
        let mut b = AggregateOperator::new(&s).unwrap();
        let mut out = Collect(vec![]);
        a.process_batch(batch(&[(Some(1), Some(4), 3)], &key), &mut out)
            .unwrap();
        a.process_watermark(5, &mut out).unwrap();
        b.process_batch(batch(&[(Some(2), Some(9), 3)], &key), &mut out)
            .unwrap();
        b.process_watermark(25, &mut out).unwrap();
        assert_eq!(out_rows(&out.0, true).len(), 1, "k=2 of [0, 10) fired");
        let snaps = vec![
            a.snapshot_state(1).unwrap().unwrap(),
            b.snapshot_state(1).unwrap().unwrap(),
        ];
        let mut r = AggregateOperator::new(&s).unwrap();
        r.restore_state(&snaps, &RestoreScope::new(0, 1, 128))
            .unwrap();
        let mut out = Collect(vec![]);
        // [0, 10) is behind the restored watermark (25): late, for any key
        r.process_batch(
            batch(
                &[
                    (Some(1), Some(1), 4),
                    (Some(3), Some(1), 9),
                    (Some(1), Some(5), 27),
                ],
                &key,
            ),
            &mut out,
        )
        .unwrap();
        assert_eq!(r.late_records_dropped(), 2);
        // a watermark that is not ahead of the restored one fires nothing
        r.process_watermark(20, &mut out).unwrap();
        assert!(out.0.is_empty());
        // the restored window [0, 10) fires with the next advance, with its restored state only
        r.process_watermark(26, &mut out).unwrap();
        let ints = |v: [&str; 6]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            out_rows(&out.0, true),
            [(Some(1), 10, ints(["1", "1", "4", "4", "4", "4.000000"]))]
        );
        r.finish(&mut out).unwrap();
        assert_eq!(
            out_rows(&out.0, true)[1],
            (Some(1), 30, ints(["1", "1", "5", "5", "5", "5.000000"]))
        );
    }

    #[test]
    fn a_restored_partial_aggregate_takes_the_lowest_watermark() {
        let key = SqlType::BigInt;
        let s = spec(AggregateMode::Partial, &key, true, false);
        let mut a = AggregateOperator::new(&s).unwrap();
        let mut b = AggregateOperator::new(&s).unwrap();
        let mut out = Collect(vec![]);
        a.process_watermark(5, &mut out).unwrap();
        b.process_watermark(25, &mut out).unwrap();
        let snaps = vec![
            a.snapshot_state(1).unwrap().unwrap(),
            b.snapshot_state(1).unwrap().unwrap(),
        ];
        let mut r = AggregateOperator::new(&s).unwrap();
        r.restore_state(&snaps, &RestoreScope::new(0, 1, 128))
            .unwrap();
        // [0, 10) had not fired in `a`: its rows are pre-aggregated (the Final phase decides)
        r.process_batch(batch(&[(Some(1), Some(1), 4)], &key), &mut out)
            .unwrap();
        assert_eq!(r.late_records_dropped(), 0);
        r.process_watermark(9, &mut out).unwrap();
        assert_eq!(out.0.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    }

    /// Before its task announces idleness, a Partial window aggregate hands over its open
    /// windows: the Final phase may then fire them on the other subtasks' watermarks, and
    /// merges what the Partial phase sends for them later (issue 15).
    #[test]
    fn a_partial_window_aggregate_hands_over_its_windows_before_idleness() {
        let key = SqlType::BigInt;
        let mut partial =
            AggregateOperator::new(&spec(AggregateMode::Partial, &key, true, false)).unwrap();
        let mut fin =
            AggregateOperator::new(&spec(AggregateMode::Final, &key, true, false)).unwrap();
        let mut handed = Collect(vec![]);
        let rows = [
            (Some(1), Some(5), 3),
            (Some(1), Some(7), 4),
            (Some(2), Some(1), 14),
        ];
        partial
            .process_batch(batch(&rows, &key), &mut handed)
            .unwrap();
        // its own watermark closes no window: nothing goes out
        partial.process_watermark(8, &mut handed).unwrap();
        assert!(handed.0.is_empty());
        partial.before_idle(&mut handed).unwrap();
        assert_eq!(handed.0.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        // a row of a handed-over window that comes later is sent again at its watermark
        partial
            .process_batch(batch(&[(Some(2), Some(3), 15)], &key), &mut handed)
            .unwrap();
        partial.process_watermark(19, &mut handed).unwrap();
        let mut out = Collect(vec![]);
        for b in std::mem::take(&mut handed.0) {
            fin.process_batch(b, &mut out).unwrap();
        }
        fin.process_watermark(100, &mut out).unwrap();
        assert_eq!(fin.late_records_dropped(), 0);
        let ints = |v: [&str; 6]| v.map(String::from).to_vec();
        assert_eq!(
            out_rows(&out.0, true),
            vec![
                (Some(1), 10, ints(["2", "2", "12", "5", "7", "6.000000"])),
                (Some(2), 20, ints(["2", "2", "4", "1", "3", "2.000000"])),
            ]
        );
        // the Final phase holds nothing it could send before the watermark
        partial
            .process_batch(batch(&[(Some(3), Some(1), 105)], &key), &mut handed)
            .unwrap();
        partial.before_idle(&mut handed).unwrap();
        let mut nothing = Collect(vec![]);
        for b in handed.0 {
            fin.process_batch(b, &mut nothing).unwrap();
        }
        fin.before_idle(&mut nothing).unwrap();
        assert!(nothing.0.is_empty());
        fin.finish(&mut nothing).unwrap();
        assert_eq!(nothing.0.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    }

    #[test]
    fn a_snapshot_of_another_query_is_rejected() {
        let key = SqlType::BigInt;
        let windowed = AggregateOperator::new(&spec(AggregateMode::Single, &key, true, false))
            .unwrap()
            .snapshot()
            .unwrap();
        let mut changelog =
            AggregateOperator::new(&spec(AggregateMode::Single, &key, false, false)).unwrap();
        let e = changelog
            .restore_state(&[windowed], &RestoreScope::new(0, 1, 128))
            .unwrap_err();
        assert!(e.to_string().contains("column"), "{e}");
        let mut op =
            AggregateOperator::new(&spec(AggregateMode::Single, &key, true, false)).unwrap();
        assert!(op
            .restore_state(&[b"garbage".to_vec()], &RestoreScope::new(0, 1, 128))
            .is_err());
    }
}
