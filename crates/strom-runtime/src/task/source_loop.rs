//! A source task: it reads its splits, emits batches and watermarks (per split, merged over the
//! subtask's splits with idleness), and takes checkpoints when the JobMaster triggers them.

use super::*;
use crate::connector::{SourceReader, SplitState};
use crate::error::TaskError;
use crate::metrics::{Phase, TaskMetrics};
use crate::operator::Chain;
use crate::watermark;
use datafusion::physical_expr::PhysicalExpr;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Per-split watermarks of a source task (one split unless the reader has several, e.g. Kafka
/// partitions); the subtask's watermark is the minimum over its active splits (see
/// [`SplitState`]).
pub(super) struct SourceWatermarks {
    splits: Vec<u32>,
    split_wm: Vec<i64>,
    /// The watermark emitted last.
    current: i64,
    /// Whether the task told its consumers it is idle (every split is).
    idle: bool,
}

impl SourceWatermarks {
    /// Raises split `si`'s watermark to `wm` and emits the subtask's watermark (or idleness)
    /// when it changed.
    fn advance(
        &mut self,
        si: usize,
        wm: i64,
        reader: &dyn SourceReader,
        chain: &mut Chain,
        out: &mut Outputs,
    ) -> Result<(), TaskError> {
        self.split_wm[si] = self.split_wm[si].max(wm);
        match subtask_watermark(
            self.splits
                .iter()
                .zip(&self.split_wm)
                .map(|(s, w)| (reader.split_state(*s), *w)),
        ) {
            SubtaskWatermark::Idle if !self.idle => {
                self.idle = true;
                out.emit_idle(chain)?;
            }
            SubtaskWatermark::At(w) if w > self.current => {
                self.current = w;
                chain.process_watermark(w, out)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// What a source subtask's splits say about its watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SubtaskWatermark {
    /// The minimum over the active splits.
    At(i64),
    /// No split is active and some are idle: the subtask is idle.
    Idle,
    /// Every split is finished: the subtask is about to end (its end is the final watermark).
    Ending,
}

/// The subtask's watermark from each split's state and watermark.
pub(super) fn subtask_watermark(
    splits: impl IntoIterator<Item = (SplitState, i64)>,
) -> SubtaskWatermark {
    let mut idle = false;
    let mut min: Option<i64> = None;
    for (state, w) in splits {
        match state {
            SplitState::Active => min = Some(min.map_or(w, |m| m.min(w))),
            SplitState::Idle => idle = true,
            SplitState::Finished => {}
        }
    }
    match min {
        Some(w) => SubtaskWatermark::At(w),
        None if idle => SubtaskWatermark::Idle,
        None => SubtaskWatermark::Ending,
    }
}

pub(super) fn run_source(
    mut reader: Box<dyn SourceReader>,
    watermark: Option<WatermarkExpr>,
    processing_time: bool,
    chain: &mut Chain,
    out: &mut Outputs,
    ctx: &TaskContext,
) -> Result<(), TaskError> {
    let splits = reader.splits();
    let mut wms = SourceWatermarks {
        split_wm: vec![i64::MIN; splits.len().max(1)],
        splits: if splits.is_empty() { vec![0] } else { splits },
        current: i64::MIN,
        idle: false,
    };
    loop {
        // between batches the source waits (a stopped source stays here until canceled)
        ctx.metrics.enter(Phase::Idle);
        if ctx.cancel.load(Ordering::Relaxed) {
            return Err(canceled(chain, ctx));
        }
        take_triggers(reader.as_mut(), &mut wms, chain, out, ctx)?;
        take_notifications(chain, ctx)?;
        let Some(batch) = read_batch(reader.as_mut(), ctx)? else {
            break;
        };
        let rows = batch.num_rows() as u64;
        TaskMetrics::add(&ctx.metrics.records_in, rows);
        ctx.metrics
            .skipped_rows
            .store(reader.counters().skipped_rows, Ordering::Relaxed);
        if processing_time {
            // the wall clock: rows processed from now on get a PROCTIME() at or after it
            if rows > 0 {
                chain.process_batch(batch, out)?;
            }
            let now = now_millis();
            if now > wms.current {
                wms.current = now;
                chain.process_watermark(now, out)?;
            }
            continue;
        }
        let Some((expr, delay, rowtime)) = &watermark else {
            if rows > 0 {
                chain.process_batch(batch, out)?;
            }
            continue;
        };
        let split = reader.last_split().unwrap_or(wms.splits[0]);
        let si = wms.splits.iter().position(|s| *s == split).unwrap_or(0);
        if rows > 0 {
            let wm = (expr.as_ref(), *delay, *rowtime);
            emit_with_watermarks(batch, wm, si, reader.as_ref(), &mut wms, chain, out, ctx)?;
        } else {
            wms.advance(si, i64::MIN, reader.as_ref(), chain, out)?;
        }
    }
    let c = reader.counters();
    TaskMetrics::add(&ctx.metrics.bytes_in, c.bytes);
    ctx.metrics
        .skipped_rows
        .store(c.skipped_rows, Ordering::Relaxed);
    finish(chain, out, ctx)
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Takes the checkpoints triggered since the last batch: the reader's position and the
/// chain's state after the rows emitted so far, then the barrier downstream. After a
/// stop-with-savepoint the source stays here until the job cancels it.
#[inline]
fn take_triggers(
    reader: &mut dyn SourceReader,
    wms: &mut SourceWatermarks,
    chain: &mut Chain,
    out: &mut Outputs,
    ctx: &TaskContext,
) -> Result<(), TaskError> {
    while let Some(CheckpointTrigger {
        id,
        timestamp,
        stop,
        drain,
    }) = ctx
        .checkpoint_triggers
        .as_ref()
        .and_then(|t| t.try_recv().ok())
    {
        if stop && drain && wms.current < i64::MAX {
            wms.current = i64::MAX;
            chain.process_watermark(i64::MAX, out)?;
        }
        let states = reader
            .snapshot_position()
            .map_err(TaskError::from)
            .and_then(|p| {
                let mut states = vec![p];
                states.extend(chain.snapshot_state(id)?);
                Ok(states)
            });
        out.emit_barrier(id, timestamp)?;
        report_snapshot(ctx, id, states);
        if stop {
            // suspended until the job cancels it (after the savepoint completed)
            loop {
                if ctx.cancel.load(Ordering::Relaxed) {
                    return Err(canceled(chain, ctx));
                }
                take_notifications(chain, ctx)?;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    Ok(())
}

/// The reader's next batch (None: the input ended), its time counted as I/O except where the
/// reader waited for rows (rate limits; a call returning none).
#[inline]
fn read_batch(
    reader: &mut dyn SourceReader,
    ctx: &TaskContext,
) -> Result<Option<RecordBatch>, TaskError> {
    let waited = reader.wait_time();
    ctx.metrics.enter(Phase::Io);
    let next = reader.next_batch()?;
    let (_, io_ns) = ctx.metrics.enter(Phase::Cpu);
    let idle_ns = match &next {
        Some(b) if b.num_rows() > 0 => reader.wait_time().saturating_sub(waited).as_nanos() as u64,
        _ => io_ns,
    };
    ctx.metrics.reassign(Phase::Io, Phase::Idle, idle_ns);
    Ok(next)
}

/// Emits a non-empty batch of split `si` with per-record watermark semantics: cut before the
/// rows the watermark (`wm`: expression, delay, rowtime column) has passed.
#[inline]
#[allow(clippy::too_many_arguments)]
fn emit_with_watermarks(
    batch: RecordBatch,
    (expr, delay, rowtime): (&dyn PhysicalExpr, Option<i64>, usize),
    si: usize,
    reader: &dyn SourceReader,
    wms: &mut SourceWatermarks,
    chain: &mut Chain,
    out: &mut Outputs,
    ctx: &TaskContext,
) -> Result<(), TaskError> {
    let rows = batch.num_rows();
    let (cuts, after) = watermark::cuts(expr, delay, rowtime, &batch, wms.split_wm[si])?;
    let mut from = 0;
    for c in cuts {
        chain.process_batch(batch.slice(from, c.row - from), out)?;
        wms.advance(si, c.watermark, reader, chain, out)?;
        from = c.row;
    }
    let rest = if from == 0 {
        batch
    } else {
        batch.slice(from, rows - from)
    };
    chain.process_batch(rest, out)?;
    wms.idle = false;
    ctx.metrics
        .late_records_dropped
        .store(chain.late_records_dropped(), Ordering::Relaxed);
    wms.advance(si, after, reader, chain, out)
}
