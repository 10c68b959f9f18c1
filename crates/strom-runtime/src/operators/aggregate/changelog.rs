//! Changelog mode of the group aggregate (a non-windowed `GROUP BY` in streaming mode): every
//! change of a group's result is emitted as it happens, as Flink's GroupAggFunction does. The
//! first row of a group gives `+I[result]`; each later row gives `-U[previous]` and
//! `+U[new]`, unless the result did not change (then nothing).
//!
//! A batch is folded vectorized all the same: each accumulator returns every row's result in
//! one call ([`crate::operators::accumulators::Accumulator::update_each`]), each row's previous
//! result is its group's result after the group's previous row (or before the batch), and the
//! output is exactly the per-row sequence. With mini-batch (`table.exec.mini-batch.enabled`) a
//! whole input batch is folded first and each group changes once per batch.
//!
//! With a state time-to-live, a group not changed for that long is dropped: a batch that
//! touches an expired group, or a quarter TTL after the last sweep, first compacts the table
//! to its live groups (through the checkpoint's columns), so an expired group starts afresh
//! with `+I`, as in Flink.

use super::{AggregateOperator, GroupTable};
use crate::error::TaskError;
use crate::operator::Output;
use crate::operators::ttl::Ttl;
use datafusion::arrow::array::make_comparator;
use datafusion::arrow::array::{ArrayRef, BooleanArray, Int8Array, RecordBatch, UInt32Array};
use datafusion::arrow::compute::kernels::cmp::not_distinct;
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::compute::{and, concat, take};
use strom_plan::RowKind;

impl AggregateOperator {
    pub(super) fn changelog_batch(
        &mut self,
        batch: &RecordBatch,
        out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        let mut table = match self.global.take() {
            Some(t) => t,
            None => self.new_table(batch),
        };
        let mut ids = std::mem::take(&mut self.group_ids);
        ids.clear();
        let keys = self.varying_columns(batch);
        self.assign_ids(&mut table, &keys, batch.num_rows(), &mut ids)?;
        let now = self.clock.now();
        if let Some(mut ttl) = self.ttl.take() {
            let due = ttl.sweep_due(now);
            self.written.resize(table.groups, now);
            let expired = |g: &u32| !ttl.live(self.written[*g as usize], now);
            if due || ids.iter().any(expired) {
                table = self.compact(table, &ttl, now)?;
                ids.clear();
                self.assign_ids(&mut table, &keys, batch.num_rows(), &mut ids)?;
                self.written.resize(table.groups, now);
            }
            for g in &ids {
                self.written[*g as usize] = now;
            }
            self.ttl = Some(ttl);
        }
        self.emitted.resize(table.groups, false);
        self.run_of.resize(table.groups, 0);
        self.last_row.resize(table.groups, 0);
        self.runs += 1;
        let result = if self.spec.mini_batch {
            self.emit_folded(&mut table, batch, &ids, out)
        } else {
            self.emit_rows(&mut table, batch, &ids, out)
        };
        self.group_ids = ids;
        self.global = Some(table);
        result
    }

    /// Each group's first row in the batch (`firsts`, the groups in order of first appearance)
    /// and, per row, the row before it of its group: `-(j + 1)` for the first row of group
    /// `firsts[j]`, the row's index otherwise.
    fn previous_rows(&mut self, ids: &[u32]) -> (Vec<u32>, Vec<u32>, Vec<i64>) {
        let run = self.runs;
        let mut firsts = Vec::new();
        let mut first_rows = Vec::new();
        let mut prev = Vec::with_capacity(ids.len());
        for (i, g) in ids.iter().enumerate() {
            let g = *g as usize;
            if self.run_of[g] == run {
                prev.push(i64::from(self.last_row[g]));
            } else {
                self.run_of[g] = run;
                prev.push(-(firsts.len() as i64) - 1);
                firsts.push(g as u32);
                first_rows.push(i as u32);
            }
            self.last_row[g] = i as u32;
        }
        (firsts, first_rows, prev)
    }

    /// Folds the batch row by row (vectorized) and emits each row's change.
    fn emit_rows(
        &mut self,
        table: &mut GroupTable,
        batch: &RecordBatch,
        ids: &[u32],
        out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        let n = ids.len();
        let (firsts, _, prev) = self.previous_rows(ids);
        let m = firsts.len();
        let calls = &self.spec.aggregates;
        for acc in &mut table.accs {
            acc.grow(table.groups);
        }
        // each row's previous result: the result before the batch (the first m values) or
        // after the group's previous row (the n rows' results that follow)
        let before_idx = UInt32Array::from_iter_values(prev.iter().map(|p| {
            if *p < 0 {
                (-p - 1) as u32
            } else {
                (m as i64 + p) as u32
            }
        }));
        let mut old = Vec::with_capacity(calls.len());
        let mut new = Vec::with_capacity(calls.len());
        for ((acc, cols), c) in table.accs.iter_mut().zip(&self.arg_columns).zip(calls) {
            let before = acc.evaluate_at(&firsts, &c.result_type)?;
            let args: Vec<ArrayRef> = cols.iter().map(|c| batch.column(*c).clone()).collect();
            let after = acc.update_each(ids, table.groups, &args, &c.result_type)?;
            let both = concat(&[before.as_ref(), after.as_ref()])?;
            old.push(take(both.as_ref(), &before_idx, None)?);
            new.push(after);
        }
        let same = unchanged(&old, &new)?;
        let mut take_idx: Vec<u32> = Vec::with_capacity(2 * n);
        let mut key_idx: Vec<u32> = Vec::with_capacity(2 * n);
        let mut kinds: Vec<i8> = Vec::with_capacity(2 * n);
        for (i, g) in ids.iter().enumerate() {
            let g = *g as usize;
            if !self.emitted[g] {
                self.emitted[g] = true;
                take_idx.push((n + i) as u32);
                key_idx.push(i as u32);
                kinds.push(RowKind::Insert as i8);
            } else if !same.as_ref().is_some_and(|s| s.value(i)) {
                take_idx.extend([i as u32, (n + i) as u32]);
                key_idx.extend([i as u32, i as u32]);
                kinds.extend([RowKind::UpdateBefore as i8, RowKind::UpdateAfter as i8]);
            }
        }
        self.emit_changes(batch, &key_idx, &old, &new, take_idx, kinds, out)
    }

    /// Folds the whole batch, then emits one change per group it touched.
    fn emit_folded(
        &mut self,
        table: &mut GroupTable,
        batch: &RecordBatch,
        ids: &[u32],
        out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        let (groups, rows, _) = self.previous_rows(ids);
        let calls = &self.spec.aggregates;
        for acc in &mut table.accs {
            acc.grow(table.groups);
        }
        let old: Vec<ArrayRef> = table
            .accs
            .iter()
            .zip(calls)
            .map(|(a, c)| a.evaluate_at(&groups, &c.result_type))
            .collect::<Result<_, _>>()?;
        for (acc, cols) in table.accs.iter_mut().zip(&self.arg_columns) {
            let args: Vec<ArrayRef> = cols.iter().map(|c| batch.column(*c).clone()).collect();
            acc.update(ids, table.groups, &args)?;
        }
        let new: Vec<ArrayRef> = table
            .accs
            .iter()
            .zip(calls)
            .map(|(a, c)| a.evaluate_at(&groups, &c.result_type))
            .collect::<Result<_, _>>()?;
        let same = unchanged(&old, &new)?;
        let m = groups.len();
        let mut take_idx: Vec<u32> = Vec::with_capacity(2 * m);
        let mut key_idx: Vec<u32> = Vec::with_capacity(2 * m);
        let mut kinds: Vec<i8> = Vec::with_capacity(2 * m);
        for (j, (g, row)) in groups.iter().zip(&rows).enumerate() {
            let g = *g as usize;
            if !self.emitted[g] {
                self.emitted[g] = true;
                take_idx.push((m + j) as u32);
                key_idx.push(*row);
                kinds.push(RowKind::Insert as i8);
            } else if !same.as_ref().is_some_and(|s| s.value(j)) {
                take_idx.extend([j as u32, (m + j) as u32]);
                key_idx.extend([*row, *row]);
                kinds.extend([RowKind::UpdateBefore as i8, RowKind::UpdateAfter as i8]);
            }
        }
        self.emit_changes(batch, &key_idx, &old, &new, take_idx, kinds, out)
    }

    /// Emits the changes: the group keys of `batch`'s rows `key_idx`, the results at
    /// `take_idx` of `old` followed by `new`, and the row kinds.
    #[allow(clippy::too_many_arguments)]
    fn emit_changes(
        &self,
        batch: &RecordBatch,
        key_idx: &[u32],
        old: &[ArrayRef],
        new: &[ArrayRef],
        take_idx: Vec<u32>,
        kinds: Vec<i8>,
        out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        if take_idx.is_empty() {
            return Ok(());
        }
        let take_idx = UInt32Array::from(take_idx);
        let key_idx = UInt32Array::from(key_idx.to_vec());
        let mut columns = Vec::with_capacity(self.output.fields().len());
        for g in &self.spec.group_by {
            columns.push(take(batch.column(*g).as_ref(), &key_idx, None)?);
        }
        for (o, n) in old.iter().zip(new) {
            let both = concat(&[o.as_ref(), n.as_ref()])?;
            columns.push(take(both.as_ref(), &take_idx, None)?);
        }
        let rows_out = kinds.len();
        columns.push(std::sync::Arc::new(Int8Array::from(kinds)) as ArrayRef);
        out.emit(super::super::conform(&self.output, columns, rows_out)?)
    }

    /// `table` without the groups not alive at `now`.
    fn compact(
        &mut self,
        mut table: GroupTable,
        ttl: &Ttl,
        now: i64,
    ) -> Result<GroupTable, TaskError> {
        let n = table.groups;
        // (the groups the batch added have no accumulator state yet)
        for acc in &mut table.accs {
            acc.grow(n);
        }
        let keep: Vec<u32> = (0..n as u32)
            .filter(|g| ttl.live(self.written[*g as usize], now))
            .collect();
        if keep.len() == n {
            return Ok(table);
        }
        let cols = self.table_columns(&table)?;
        let keep = UInt32Array::from(keep);
        let cols = cols
            .iter()
            .map(|c| take(c.as_ref(), &keep, None))
            .collect::<Result<Vec<_>, _>>()?;
        let schema = self.snapshot_schema()?;
        let live = RecordBatch::try_new(schema, cols)?;
        self.emitted.clear();
        self.run_of.clear();
        self.written.clear();
        self.restore_rows(&live, None)?;
        self.global
            .take()
            .ok_or_else(|| TaskError::Operator("internal: the compacted table is missing".into()))
    }
}

/// Per position, whether every result is the same in `old` and `new` (none without results).
fn unchanged(old: &[ArrayRef], new: &[ArrayRef]) -> Result<Option<BooleanArray>, TaskError> {
    let mut same: Option<BooleanArray> = None;
    for (o, n) in old.iter().zip(new) {
        let eq = if o.data_type().is_nested() {
            // ARRAY_AGG's lists: compared row by row (NULL equals NULL)
            let cmp = make_comparator(o.as_ref(), n.as_ref(), SortOptions::default())?;
            (0..o.len())
                .map(|i| Some(cmp(i, i).is_eq()))
                .collect::<BooleanArray>()
        } else {
            not_distinct(o, n)?
        };
        same = Some(match same {
            None => eq,
            Some(s) => and(&s, &eq)?,
        });
    }
    Ok(same)
}
