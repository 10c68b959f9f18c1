//! Changelog mode of the group aggregate (a non-windowed `GROUP BY` in streaming mode): every
//! change of a group's result is emitted as it happens, as Flink's GroupAggFunction does. The
//! first row of a group gives `+I[result]`; each later row gives `-U[previous]` and
//! `+U[new]`, unless the result did not change (then nothing).
//!
//! Rows are folded vectorized in *runs*: a run holds each group at most once, so the result of
//! a group after the run equals its result after that row, and the output is exactly the
//! per-row sequence. With mini-batch (`table.exec.mini-batch.enabled`) a whole input batch is
//! one run and each group changes once per batch.
//!
//! With a state time-to-live, a group not changed for that long is dropped: a batch that
//! touches an expired group, or a quarter TTL after the last sweep, first compacts the table
//! to its live groups (through the checkpoint's columns), so an expired group starts afresh
//! with `+I`, as in Flink.

use super::{AggregateOperator, GroupTable};
use crate::error::TaskError;
use crate::operator::Output;
use crate::operators::ttl::Ttl;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int8Array, RecordBatch, UInt32Array,
};
use datafusion::arrow::compute::kernels::cmp::not_distinct;
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
        let n = ids.len();
        let mut start = 0;
        let mut result = Ok(());
        while start < n {
            self.runs += 1;
            let run = self.runs;
            // the run's groups (first appearance) and the row giving each one's keys
            let mut groups = Vec::new();
            let mut rows = Vec::new();
            let mut end = start;
            while end < n {
                let g = ids[end] as usize;
                if self.run_of[g] == run {
                    if !self.spec.mini_batch {
                        break;
                    }
                } else {
                    self.run_of[g] = run;
                    groups.push(g as u32);
                    rows.push(end as u32);
                }
                end += 1;
            }
            result = self.emit_run(&mut table, batch, &ids, start, end, &groups, &rows, out);
            if result.is_err() {
                break;
            }
            start = end;
        }
        self.group_ids = ids;
        self.global = Some(table);
        result
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

    /// Folds rows `start..end` into their groups and emits the changes of `groups`.
    #[allow(clippy::too_many_arguments)]
    fn emit_run(
        &mut self,
        table: &mut GroupTable,
        batch: &RecordBatch,
        ids: &[u32],
        start: usize,
        end: usize,
        groups: &[u32],
        rows: &[u32],
        out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        let calls = &self.spec.aggregates;
        for acc in &mut table.accs {
            acc.grow(table.groups);
        }
        let old: Vec<ArrayRef> = table
            .accs
            .iter()
            .zip(calls)
            .map(|(a, c)| a.evaluate_at(groups, &c.result_type))
            .collect::<Result<_, _>>()?;
        let len = end - start;
        for (acc, cols) in table.accs.iter_mut().zip(&self.arg_columns) {
            let args: Vec<ArrayRef> = cols
                .iter()
                .map(|c| batch.column(*c).slice(start, len))
                .collect();
            acc.update(&ids[start..end], table.groups, &args)?;
        }
        let new: Vec<ArrayRef> = table
            .accs
            .iter()
            .zip(calls)
            .map(|(a, c)| a.evaluate_at(groups, &c.result_type))
            .collect::<Result<_, _>>()?;
        // which groups' results changed
        let mut same: Option<BooleanArray> = None;
        for (o, n) in old.iter().zip(&new) {
            let eq = not_distinct(o, n)?;
            same = Some(match same {
                None => eq,
                Some(s) => and(&s, &eq)?,
            });
        }
        let m = groups.len();
        let mut take_idx: Vec<u32> = Vec::with_capacity(2 * m);
        let mut kinds: Vec<i8> = Vec::with_capacity(2 * m);
        for (j, g) in groups.iter().enumerate() {
            let g = *g as usize;
            if !self.emitted[g] {
                self.emitted[g] = true;
                take_idx.push((m + j) as u32);
                kinds.push(RowKind::Insert as i8);
            } else if !same.as_ref().is_some_and(|s| s.value(j)) {
                take_idx.push(j as u32);
                kinds.push(RowKind::UpdateBefore as i8);
                take_idx.push((m + j) as u32);
                kinds.push(RowKind::UpdateAfter as i8);
            }
        }
        if take_idx.is_empty() {
            return Ok(());
        }
        let take_idx = UInt32Array::from(take_idx);
        let key_rows = UInt32Array::from(rows.to_vec());
        let mut columns = Vec::with_capacity(self.output.fields().len());
        for g in &self.spec.group_by {
            let keys = take(batch.column(*g).as_ref(), &key_rows, None)?;
            let both = concat(&[keys.as_ref(), keys.as_ref()])?;
            columns.push(take(both.as_ref(), &take_idx, None)?);
        }
        for (o, n) in old.iter().zip(&new) {
            let both = concat(&[o.as_ref(), n.as_ref()])?;
            columns.push(take(both.as_ref(), &take_idx, None)?);
        }
        let rows_out = kinds.len();
        columns.push(std::sync::Arc::new(Int8Array::from(kinds)) as ArrayRef);
        out.emit(super::super::conform(&self.output, columns, rows_out)?)
    }
}
