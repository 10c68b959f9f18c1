//! A task: one attempt of one subtask. It drives its chain from a source reader or from its input
//! gate, writes to its result partitions, and reports how it ended.
//!
//! - [`source_loop`]: a source task's loop; [`input_processor`]: a task with input gates;
//!   [`stage`]: a batch stage's task (a fragment of DataFusion's physical plan).
//! - [`crate::deployment`]: what a task is deployed with; [`crate::task_state`]: its state.

mod computed_reader;
mod input_processor;
mod source_loop;
mod stage;
#[cfg(test)]
mod tests;

use crate::connector::{ConnectorRegistry, DEFAULT_BATCH_ROWS, FINAL_CHECKPOINT};
use crate::deployment::TaskDeploymentDescriptor;
use crate::element::{StreamElement, MAX_WATERMARK};
use crate::error::TaskError;
use crate::exchange::{LocalShuffle, ResultPartitionWriter};
use crate::metrics::{Phase, TaskMetrics};
use crate::network::NetworkEnvironment;
use crate::operator::{Chain, Output};
use crate::operators::build_chain;
use crate::operators::calc::physical_expr;
use crate::task_state::RestoredState;
use crossbeam_channel::Receiver;
use datafusion::arrow::record_batch::RecordBatch;
use input_processor::{open_input, run_inputs};
use source_loop::run_source;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use strom_plan::OperatorSpec;

/// Shared handles of a running task.
#[derive(Clone)]
pub struct TaskContext {
    pub shuffle: LocalShuffle,
    /// The TaskManager's data plane (None in the embedded cluster: every exchange is in process).
    pub network: Option<Arc<NetworkEnvironment>>,
    pub connectors: Arc<ConnectorRegistry>,
    pub cancel: Arc<AtomicBool>,
    pub metrics: Arc<TaskMetrics>,
    /// Where the task acknowledges or declines checkpoints (None: checkpointing is off).
    pub checkpoints: Option<Arc<dyn CheckpointListener>>,
    /// Source tasks: checkpoint triggers from the JobMaster.
    pub checkpoint_triggers: Option<Receiver<CheckpointTrigger>>,
    /// Completed checkpoints (and [`FINAL_CHECKPOINT`]) the JobMaster announces.
    pub checkpoint_notifications: Option<Receiver<u64>>,
    /// The state this attempt starts from.
    pub restored: Option<Arc<RestoredState>>,
    /// What a batch stage may use: its slot's share of the managed memory, where it spills.
    pub batch_memory: crate::batch_memory::BatchMemory,
    /// Where a `collect` sink hands its rows (the JobMaster; None: the job has no client
    /// collecting).
    pub collect: Option<Arc<dyn crate::collect::ResultCollector>>,
}

/// A checkpoint trigger for a source task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointTrigger {
    pub id: u64,
    pub timestamp: i64,
    /// Stop-with-savepoint: after the barrier the source emits nothing more (the job ends when
    /// the savepoint completed), so the savepoint holds everything written.
    pub stop: bool,
    /// With `stop` (Flink's `stop --drain`): before its snapshot the source advances event time
    /// to the end (a watermark at +infinity), so every window fires and every timer runs
    /// before the savepoint; its state is then for a job that is not meant to resume.
    pub drain: bool,
}

/// Receives a task's checkpoint acknowledgements (its operators' snapshots, in chain order) and
/// declines.
pub trait CheckpointListener: Send + Sync {
    fn acknowledge(&self, id: u64, states: Vec<Option<Vec<u8>>>);
    fn decline(&self, id: u64, kind: strom_common::DeclineKind, reason: String);
}

struct Outputs<'a> {
    writers: Vec<ResultPartitionWriter>,
    cancel: &'a AtomicBool,
    metrics: &'a TaskMetrics,
    last_watermark: i64,
}

impl Outputs<'_> {
    /// Sends checkpoint barrier `id` to every consumer.
    fn emit_barrier(&mut self, id: u64, timestamp: i64) -> Result<(), TaskError> {
        for w in &mut self.writers {
            w.broadcast(StreamElement::Barrier { id, timestamp }, self.cancel)?;
        }
        Ok(())
    }

    /// Tells every consumer that this task is idle (see [`StreamElement::Idle`]), after the
    /// chain handed over what it must not hold back past that (see
    /// [`crate::operator::Operator::before_idle`]).
    fn emit_idle(&mut self, chain: &mut Chain) -> Result<(), TaskError> {
        chain.before_idle(self)?;
        for w in &mut self.writers {
            w.broadcast(StreamElement::Idle, self.cancel)?;
        }
        Ok(())
    }
}

impl Output for Outputs<'_> {
    fn emit(&mut self, batch: RecordBatch) -> Result<(), TaskError> {
        TaskMetrics::add(&self.metrics.records_out, batch.num_rows() as u64);
        TaskMetrics::add(
            &self.metrics.bytes_out,
            batch.get_array_memory_size() as u64,
        );
        let n = self.writers.len();
        for (i, w) in self.writers.iter_mut().enumerate() {
            if i + 1 == n {
                return w.write(batch, self.cancel);
            }
            w.write(batch.clone(), self.cancel)?;
        }
        Ok(())
    }

    fn emit_watermark(&mut self, watermark: i64) -> Result<(), TaskError> {
        if watermark <= self.last_watermark {
            return Ok(());
        }
        self.last_watermark = watermark;
        self.metrics
            .output_watermark
            .store(watermark, Ordering::Relaxed);
        for w in &mut self.writers {
            w.broadcast(StreamElement::Watermark(watermark), self.cancel)?;
        }
        Ok(())
    }
}

/// Runs a task to its end on the calling thread.
/// A source's watermark: its expression over the source's output, the delay when it is
/// `rowtime - INTERVAL ...`, and the rowtime column.
type WatermarkExpr = (
    Arc<dyn datafusion::physical_expr::PhysicalExpr>,
    Option<i64>,
    usize,
);

/// A source's reader (restored at its checkpointed position, computing the table's computed
/// columns) and its watermark expression, delay and rowtime column.
fn source_reader(
    s: &strom_plan::SourceSpec,
    tdd: &TaskDeploymentDescriptor,
    ctx: &TaskContext,
) -> Result<
    (
        Box<dyn crate::connector::SourceReader>,
        Option<WatermarkExpr>,
    ),
    TaskError,
> {
    let factory = ctx.connectors.get(&s.table)?;
    let reader = match &ctx.restored {
        Some(r) => factory.restore_reader(
            &s.table,
            &s.projection,
            tdd.subtask_info(),
            DEFAULT_BATCH_ROWS,
            r.operators.first().map(|v| &v[..]).unwrap_or(&[]),
        )?,
        None => factory.create_reader(
            &s.table,
            &s.projection,
            tdd.subtask_info(),
            DEFAULT_BATCH_ROWS,
        )?,
    };
    let reader: Box<dyn crate::connector::SourceReader> = match &s.computed {
        Some(exprs) => Box::new(computed_reader::ComputedReader::new(
            reader,
            exprs,
            &s.table.schema.project(&s.projection),
            &s.output,
        )?),
        None => reader,
    };
    let wm = s
        .watermark
        .as_ref()
        .map(|w| physical_expr(&w.expr, &s.output).map(|e| (e, w.delay_ms, w.rowtime)))
        .transpose()?;
    Ok((reader, wm))
}

pub fn run_task(tdd: &TaskDeploymentDescriptor, ctx: &TaskContext) -> Result<(), TaskError> {
    let cancel = &*ctx.cancel;
    let (source, stage, chain_specs) = match tdd.operators.split_first() {
        Some((OperatorSpec::Source(s), rest)) => (Some(s), None, rest),
        Some((OperatorSpec::Stage(s), rest)) => (None, Some(s), rest),
        Some(_) => (None, None, &tdd.operators[..]),
        None => return Err(TaskError::Deployment("empty operator chain".into())),
    };
    let mut chain = build_chain(
        chain_specs,
        &ctx.connectors,
        tdd.subtask_info(),
        &ctx.metrics,
        tdd.checkpointing,
        ctx.collect
            .as_ref()
            .map(|c| (c.clone(), ctx.cancel.clone())),
    )?;
    let scope =
        crate::operator::RestoreScope::new(tdd.subtask, tdd.parallelism, tdd.max_parallelism);
    let offset = usize::from(source.is_some() || stage.is_some());
    if let Some(r) = &ctx.restored {
        chain.restore_state(r.operators.get(offset..).unwrap_or(&[]), &scope)?;
    }
    // open the input gates before connecting outputs, so that pipelined producers find them
    let mut gates = Vec::new();
    for (g, i) in tdd.inputs.iter().enumerate() {
        open_input(tdd, ctx, g, i, &mut gates)?;
    }
    let writers = tdd
        .outputs
        .iter()
        .map(|o| {
            ResultPartitionWriter::connect(
                &ctx.shuffle,
                ctx.network.as_deref(),
                tdd.job_id,
                tdd.round,
                tdd.vertex,
                tdd.subtask,
                o,
                cancel,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Outputs {
        writers,
        cancel,
        metrics: &ctx.metrics,
        last_watermark: i64::MIN,
    };
    // time split from here on (backpressure is counted by the writers as it happens)
    for w in &mut out.writers {
        w.report_to(ctx.metrics.clone());
    }
    let _accounting = ctx.metrics.account(Phase::Cpu);
    let result = match source {
        // a panic outside the chain (whose operators name themselves) is the source's
        Some(s) => crate::error::catch_panic(
            || format!("source '{}'", s.table.name),
            || {
                let (reader, wm) = source_reader(s, tdd, ctx)?;
                run_source(reader, wm, s.processing_time, &mut chain, &mut out, ctx)
            },
        ),
        None => match stage {
            Some(s) => crate::error::catch_panic(
                || format!("stage '{}'", s.name),
                || stage::run_stage(s, tdd, gates, &mut chain, &mut out, ctx),
            ),
            None => run_inputs(gates, &mut chain, &mut out, ctx),
        },
    };
    ctx.metrics
        .late_records_dropped
        .store(chain.late_records_dropped(), Ordering::Relaxed);
    result?;
    final_commit(&mut chain, ctx)?;
    for mut w in out.writers {
        w.broadcast(StreamElement::EndOfInput, cancel)?;
        w.close(&ctx.shuffle);
    }
    Ok(())
}

/// With checkpoints, what sinks wrote after the last checkpoint becomes visible only when the
/// whole job reached its end (a failure before that restarts from the last checkpoint): the task
/// prepares it, tells the JobMaster, and waits for the final commit (or cancellation).
fn final_commit(chain: &mut Chain, ctx: &TaskContext) -> Result<(), TaskError> {
    let (Some(listener), Some(notes)) = (&ctx.checkpoints, &ctx.checkpoint_notifications) else {
        return Ok(());
    };
    if !chain.prepare_final_commit()? {
        return Ok(());
    }
    listener.acknowledge(FINAL_CHECKPOINT, Vec::new());
    ctx.metrics.enter(Phase::Idle);
    loop {
        if ctx.cancel.load(Ordering::Relaxed) {
            return Err(canceled(chain, ctx));
        }
        match notes.recv_timeout(Duration::from_millis(50)) {
            Ok(FINAL_CHECKPOINT) => return chain.notify_checkpoint_complete(FINAL_CHECKPOINT),
            // a checkpoint that completed before the end: its files are committed on the way
            Ok(id) => chain.notify_checkpoint_complete(id)?,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(_) => return Err(TaskError::Canceled),
        }
    }
}

/// Acknowledges a checkpoint with the task's snapshots, or declines it when a snapshot failed
/// (an operator or source that cannot be checkpointed): the job goes on, the checkpoint fails.
fn report_snapshot(ctx: &TaskContext, id: u64, states: Result<Vec<Option<Vec<u8>>>, TaskError>) {
    let Some(l) = &ctx.checkpoints else { return };
    match states {
        Ok(states) => l.acknowledge(id, states),
        Err(e) => {
            tracing::warn!("checkpoint {id} declined: {e}");
            l.decline(id, strom_common::DeclineKind::Failed, e.to_string())
        }
    }
}

/// The task stops on cancellation; checkpoints announced complete before it are still committed
/// (stop-with-savepoint announces the savepoint, then cancels).
fn canceled(chain: &mut Chain, ctx: &TaskContext) -> TaskError {
    match take_notifications(chain, ctx) {
        Ok(()) => TaskError::Canceled,
        Err(e) => e,
    }
}

/// Commits the checkpoints that completed since the last look (between batches).
fn take_notifications(chain: &mut Chain, ctx: &TaskContext) -> Result<(), TaskError> {
    if let Some(notes) = &ctx.checkpoint_notifications {
        while let Ok(id) = notes.try_recv() {
            chain.notify_checkpoint_complete(id)?;
        }
    }
    Ok(())
}

fn finish(chain: &mut Chain, out: &mut Outputs, ctx: &TaskContext) -> Result<(), TaskError> {
    ctx.metrics.enter(Phase::Cpu);
    chain.process_watermark(MAX_WATERMARK, out)?;
    chain.finish(out)?;
    Ok(())
}
