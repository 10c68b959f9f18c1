//! Flink's regular join of unbounded inputs (`StreamingJoinOperator`, and
//! `StreamingSemiAntiJoinOperator` for IN / EXISTS / NOT EXISTS): INNER, LEFT, RIGHT, FULL,
//! semi and anti, over append-only inputs or changelogs (a trailing `$op` column), producing a
//! changelog (an INNER or semi join of append-only inputs produces only insertions and carries
//! no `$op` column).
//!
//! Input 0 is the left side, input 1 the right; both arrive hashed on the equality keys (a join
//! without equality keys runs at parallelism 1, every row under one empty key). Each side's rows
//! are kept for good as Arrow row-format bytes, by key, with their multiplicity and partner
//! count (see [`state`], the decision core); the state grows with the distinct rows of the
//! inputs, as Flink's does, unless a state time-to-live (`table.exec.state.ttl`, the
//! `STATE_TTL` hint; per side) drops the rows not written for that long.
//!
//! For a batch of one side, the partners of its rows are the other side's kept rows of the same
//! key that pass the rest of the join condition (`filter`), evaluated in one vectorised pass
//! over the candidate pairs: the other side does not change while the batch is applied.
//!
//! **Checkpoints**: two Arrow IPC streams (left then right), each the side's columns plus each
//! kept row's multiplicity, partner count and time of last write. A restore keeps the rows whose join key (hashed as
//! the exchange in front of that input hashes it) belongs to this subtask.

pub mod state;
#[cfg(test)]
mod tests;

use super::calc::physical_expr;
use super::state_ipc;
use super::ttl::{Clock, Ttl};
use crate::error::TaskError;
use crate::operator::{Operator, Output, RestoreScope};
use datafusion::arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, Int64Array, Int8Array, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, Int8Type, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{OwnedRow, Row, RowConverter, Rows, SortField};
use datafusion::physical_expr::PhysicalExpr;
use state::{Change, Counts, JoinState, Mode};
use std::sync::Arc;
use strom_plan::{JoinSpec, JoinType, RowKind, RowSchema, OP_COLUMN};

const SNAPSHOT_FORMATS: [&str; 2] = ["strom-regular-join-v2-left", "strom-regular-join-v2-right"];

/// Candidate pairs evaluated against the join condition at once.
const PAIR_CHUNK: usize = 64 * 1024;

pub struct RegularJoinOperator {
    /// Each side's columns (without `$op`) and equality key columns.
    sides: [RowSchema; 2],
    keys: [Vec<usize>; 2],
    /// Whether each input is a changelog (carries `$op` after its columns).
    changelog: [bool; 2],
    key_converter: RowConverter,
    rows: [RowConverter; 2],
    /// Each side's all-NULL row (the padding of an outer join).
    null_rows: [OwnedRow; 2],
    mode: Mode,
    state: JoinState<OwnedRow>,
    filter: Option<Arc<dyn PhysicalExpr>>,
    /// Left then right columns: what `filter` reads.
    pair: SchemaRef,
    output: SchemaRef,
    /// The output carries `$op`.
    updating: bool,
    watermark: i64,
    /// The state time-to-live (of either side), and the processing time it is measured in.
    ttl: Option<Ttl>,
    clock: Clock,
}

fn mode(join_type: JoinType) -> Mode {
    match join_type {
        JoinType::Inner => Mode::Join {
            outer: [false, false],
        },
        JoinType::Left => Mode::Join {
            outer: [true, false],
        },
        JoinType::Right => Mode::Join {
            outer: [false, true],
        },
        JoinType::Full => Mode::Join {
            outer: [true, true],
        },
        JoinType::LeftSemi => Mode::Semi {
            side: 0,
            anti: false,
        },
        JoinType::LeftAnti => Mode::Semi {
            side: 0,
            anti: true,
        },
        JoinType::RightSemi => Mode::Semi {
            side: 1,
            anti: false,
        },
        JoinType::RightAnti => Mode::Semi {
            side: 1,
            anti: true,
        },
    }
}

fn converter(schema: &RowSchema, columns: &[usize]) -> Result<RowConverter, TaskError> {
    RowConverter::new(
        columns
            .iter()
            .map(|c| SortField::new(schema.columns[*c].ty.to_arrow()))
            .collect(),
    )
    .map_err(|e| {
        TaskError::Deployment(format!(
            "a regular join cannot keep rows of these column types: {e}"
        ))
    })
}

impl RegularJoinOperator {
    pub fn new(spec: &JoinSpec) -> Result<Self, TaskError> {
        let sides = [spec.left.without_op(), spec.right.without_op()];
        let changelog = [
            spec.left.index_of(OP_COLUMN).is_some(),
            spec.right.index_of(OP_COLUMN).is_some(),
        ];
        let keys = [spec.left_keys.clone(), spec.right_keys.clone()];
        let all = |s: &RowSchema| (0..s.len()).collect::<Vec<_>>();
        let rows = [
            converter(&sides[0], &all(&sides[0]))?,
            converter(&sides[1], &all(&sides[1]))?,
        ];
        let null_row = |side: usize| -> Result<OwnedRow, TaskError> {
            let cols: Vec<ArrayRef> = sides[side]
                .columns
                .iter()
                .map(|c| new_null_array(&c.ty.to_arrow(), 1))
                .collect();
            Ok(rows[side].convert_columns(&cols)?.row(0).owned())
        };
        let null_rows = [null_row(0)?, null_row(1)?];
        let pair = match &spec.pair {
            Some(p) => p.clone(),
            None => spec.output.without_op(),
        };
        let filter = spec
            .filter
            .as_ref()
            .map(|f| physical_expr(f, &pair))
            .transpose()?;
        let mode = mode(spec.join_type);
        Ok(Self {
            key_converter: converter(&sides[0], &keys[0])?,
            sides,
            keys,
            changelog,
            rows,
            null_rows,
            mode,
            state: JoinState::new(mode, spec.state_ttl_ms),
            ttl: Ttl::new(
                spec.state_ttl_ms
                    .into_iter()
                    .filter(|t| *t > 0)
                    .min()
                    .unwrap_or(0),
            ),
            clock: Clock::default(),
            filter,
            pair: pair.to_arrow(),
            output: spec.output.to_arrow(),
            updating: spec.output.index_of(OP_COLUMN).is_some(),
            watermark: i64::MIN,
        })
    }

    /// Reads processing time from `clock` (tests move it by hand).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Key bytes of each row (None where a key column is NULL: it matches nothing).
    fn row_keys(
        &self,
        side: usize,
        cols: &[ArrayRef],
    ) -> Result<Vec<Option<Box<[u8]>>>, TaskError> {
        let n = cols.first().map_or(0, |c| c.len());
        let key_cols: Vec<ArrayRef> = self.keys[side].iter().map(|k| cols[*k].clone()).collect();
        if key_cols.is_empty() {
            return Ok(vec![Some(Box::default()); n]);
        }
        let rows = self.key_converter.convert_columns(&key_cols)?;
        Ok((0..n)
            .map(|i| (!key_cols.iter().any(|c| c.is_null(i))).then(|| rows.row(i).as_ref().into()))
            .collect())
    }

    /// The candidate pairs `(row, partner position)` of a batch of `side` that pass the rest of
    /// the join condition, among the partners alive at `now`.
    fn partners(
        &self,
        side: usize,
        cols: &[ArrayRef],
        keys: &[Option<Box<[u8]>>],
        now: i64,
    ) -> Result<Vec<(u32, u32)>, TaskError> {
        let other = 1 - side;
        let mut cand: Vec<(u32, u32)> = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            if let Some(rows) = k.as_deref().and_then(|k| self.state.rows(other, k)) {
                cand.extend(
                    rows.values()
                        .enumerate()
                        .filter(|(_, c)| self.state.live(other, c, now))
                        .map(|(j, _)| (i as u32, j as u32)),
                );
            }
        }
        let Some(filter) = &self.filter else {
            return Ok(cand);
        };
        let mut kept = Vec::with_capacity(cand.len());
        for chunk in cand.chunks(PAIR_CHUNK) {
            let mine = UInt32Array::from_iter_values(chunk.iter().map(|c| c.0));
            let mine: Vec<ArrayRef> = cols
                .iter()
                .map(|c| take(c.as_ref(), &mine, None))
                .collect::<Result<_, _>>()?;
            let theirs: Vec<Row<'_>> = chunk
                .iter()
                .map(|(i, j)| {
                    let rows = keys[*i as usize]
                        .as_deref()
                        .and_then(|k| self.state.rows(other, k))
                        .expect("a candidate's key has kept rows");
                    rows.get_index(*j as usize).expect("a kept row").0.row()
                })
                .collect();
            let theirs = self.rows[other].convert_rows(theirs)?;
            let cols = if side == 0 {
                [mine, theirs].concat()
            } else {
                [theirs, mine].concat()
            };
            let batch = super::conform(&self.pair, cols, chunk.len())?;
            let mask = super::calc::predicate(filter, &batch, "Join")?;
            kept.extend(
                chunk
                    .iter()
                    .enumerate()
                    .filter(|(p, _)| mask.value(*p))
                    .map(|(_, c)| *c),
            );
        }
        Ok(kept)
    }

    /// The output rows of `changes`.
    fn emit(&self, changes: &[Change<OwnedRow>], out: &mut dyn Output) -> Result<(), TaskError> {
        let total: usize = changes.iter().map(|c| c.times as usize).sum();
        if total == 0 {
            return Ok(());
        }
        let sides: Vec<usize> = match self.mode {
            Mode::Join { .. } => vec![0, 1],
            Mode::Semi { side, .. } => vec![side],
        };
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.output.fields().len());
        for s in sides {
            let rows = changes.iter().flat_map(|c| {
                let r = c.rows[s].as_ref().unwrap_or(&self.null_rows[s]).row();
                std::iter::repeat_n(r, c.times as usize)
            });
            cols.extend(self.rows[s].convert_rows(rows)?);
        }
        if self.updating {
            cols.push(Arc::new(Int8Array::from_iter_values(
                changes
                    .iter()
                    .flat_map(|c| std::iter::repeat_n(c.kind as i8, c.times as usize)),
            )));
        }
        out.emit(super::conform(&self.output, cols, total)?)
    }

    fn process(
        &mut self,
        side: usize,
        batch: RecordBatch,
        out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        let width = self.sides[side].len();
        if batch.num_columns() < width + usize::from(self.changelog[side]) {
            return Err(TaskError::Operator(format!(
                "a join input batch has {} columns, expected {}",
                batch.num_columns(),
                width + usize::from(self.changelog[side])
            )));
        }
        let cols = batch.columns()[..width].to_vec();
        let kinds = self.changelog[side].then(|| batch.column(width).as_primitive::<Int8Type>());
        let now = self.clock.now();
        if let Some(ttl) = &mut self.ttl {
            if ttl.sweep_due(now) {
                self.state.expire(now);
            }
        }
        let keys = self.row_keys(side, &cols)?;
        let rows: Rows = self.rows[side].convert_columns(&cols)?;
        let partners = self.partners(side, &cols, &keys, now)?;
        let mut changes = Vec::new();
        let mut next = 0;
        let mut mine: Vec<usize> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            mine.clear();
            while next < partners.len() && partners[next].0 as usize == i {
                mine.push(partners[next].1 as usize);
                next += 1;
            }
            let kind = match kinds {
                None => RowKind::Insert,
                Some(k) => RowKind::from_byte(k.value(i)).ok_or_else(|| {
                    TaskError::Operator(format!("unknown row kind {} in a changelog", k.value(i)))
                })?,
            };
            self.state.apply(
                side,
                key.as_deref(),
                rows.row(i).owned(),
                kind,
                &mine,
                now,
                &mut changes,
            );
            if changes.len() >= 8192 {
                self.emit(&changes, out)?;
                changes.clear();
            }
        }
        self.emit(&changes, out)
    }

    fn snapshot_schema(&self, side: usize) -> SchemaRef {
        let mut fields = state_ipc::fields_of(&self.sides[side]);
        fields.push(Field::new("$count", DataType::UInt64, false));
        fields.push(Field::new("$partners", DataType::UInt64, false));
        fields.push(Field::new("$written", DataType::Int64, false));
        state_ipc::schema(fields, SNAPSHOT_FORMATS[side], self.watermark)
    }

    fn snapshot(&self) -> Result<Vec<u8>, TaskError> {
        let mut sections = Vec::with_capacity(2);
        for side in 0..2 {
            let schema = self.snapshot_schema(side);
            let mut batches = Vec::new();
            let kept: Vec<(&OwnedRow, Counts)> =
                self.state.iter(side).map(|(_, r, c)| (r, c)).collect();
            for chunk in kept.chunks(8192) {
                let mut cols = self.rows[side].convert_rows(chunk.iter().map(|(r, _)| r.row()))?;
                cols.push(Arc::new(UInt64Array::from_iter_values(
                    chunk.iter().map(|(_, c)| c.count),
                )));
                cols.push(Arc::new(UInt64Array::from_iter_values(
                    chunk.iter().map(|(_, c)| c.partners),
                )));
                cols.push(Arc::new(Int64Array::from_iter_values(
                    chunk.iter().map(|(_, c)| c.written),
                )));
                batches.push(state_ipc::batch(&schema, cols, chunk.len())?);
            }
            sections.push(state_ipc::write(&schema, &batches)?);
        }
        Ok(state_ipc::concat_sections(&sections))
    }

    fn restore(&mut self, states: &[Vec<u8>], scope: &RestoreScope) -> Result<(), TaskError> {
        let expected = [self.snapshot_schema(0), self.snapshot_schema(1)];
        for bytes in states {
            let sections = state_ipc::split_sections(bytes)?;
            if sections.len() != 2 {
                return Err(TaskError::Operator(
                    "a regular join's state has two sections".into(),
                ));
            }
            for (side, bytes) in sections.into_iter().enumerate() {
                let snap = state_ipc::read(bytes, SNAPSHOT_FORMATS[side], &expected[side])?;
                self.watermark = self.watermark.max(snap.watermark);
                let width = self.sides[side].len();
                for b in snap.batches {
                    let b = state_ipc::owned(&b, &self.keys[side], scope)?;
                    let cols = b.columns()[..width].to_vec();
                    let counts = b
                        .column(width)
                        .as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
                    let partners = b
                        .column(width + 1)
                        .as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
                    let written = b
                        .column(width + 2)
                        .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                    let keys = self.row_keys(side, &cols)?;
                    let rows = self.rows[side].convert_columns(&cols)?;
                    for (i, key) in keys.iter().enumerate() {
                        let Some(key) = key else { continue };
                        self.state.restore(
                            side,
                            key,
                            rows.row(i).owned(),
                            Counts {
                                count: counts.value(i),
                                partners: partners.value(i),
                                written: written.value(i),
                            },
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

impl Operator for RegularJoinOperator {
    fn name(&self) -> &str {
        "Join"
    }

    fn process_batch(
        &mut self,
        _batch: RecordBatch,
        _out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        Err(TaskError::Operator(
            "a join must be the head of its chain (it has two inputs)".into(),
        ))
    }

    fn process_batch_from(
        &mut self,
        input: u32,
        batch: RecordBatch,
        out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        self.process((input as usize).min(1), batch, out)
    }

    fn process_watermark(&mut self, watermark: i64, out: &mut dyn Output) -> Result<(), TaskError> {
        if watermark <= self.watermark {
            return Ok(());
        }
        self.watermark = watermark;
        out.emit_watermark(watermark)
    }

    fn snapshot_state(&mut self, _checkpoint: u64) -> Result<Option<Vec<u8>>, TaskError> {
        self.snapshot().map(Some)
    }

    fn restore_state(&mut self, states: &[Vec<u8>], scope: &RestoreScope) -> Result<(), TaskError> {
        self.restore(states, scope)
    }
}
