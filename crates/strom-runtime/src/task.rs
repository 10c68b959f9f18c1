//! A task: one attempt of one subtask. It drives its chain from a source reader or from its input
//! gate, writes to its result partitions, and reports how it ended.

use crate::barrier::{Alignment, BarrierAligner};
use crate::connector::{
    ConnectorRegistry, SourceReader, SplitState, SubtaskInfo, DEFAULT_BATCH_ROWS,
};
use crate::element::{StreamElement, MAX_WATERMARK};
use crate::error::TaskError;
use crate::exchange::{
    GateKey, LocalShuffle, Message, OutputDescriptor, ResultPartitionWriter, SubpartitionId,
};
use crate::metrics::{Phase, TaskMetrics};
use crate::network::{NetworkEnvironment, RemoteChannel};
use crate::operator::{Chain, Output};
use crate::operators::build_chain;
use crate::operators::calc::physical_expr;
use crate::watermark;
use crossbeam_channel::Receiver;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use strom_common::{AttemptId, JobId, VertexId};
use strom_plan::{OperatorSpec, ResultType};

/// One input edge of a task, as deployed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputDescriptor {
    pub producer: VertexId,
    pub producer_parallelism: u32,
    pub input_index: u32,
    pub result_type: ResultType,
    /// FORWARD: only the producer subtask with the same index feeds this task.
    pub forward: bool,
    /// Producer subtasks that run on another TaskManager, with its data address.
    #[serde(default)]
    pub remote_producers: Vec<RemoteProducer>,
}

/// A producer subtask on another TaskManager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteProducer {
    pub subtask: u32,
    pub data_address: String,
}

/// Everything a TaskManager needs to run one task (Flink's TaskDeploymentDescriptor).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskDeploymentDescriptor {
    pub job_id: JobId,
    pub round: u32,
    pub vertex: VertexId,
    pub vertex_name: String,
    pub subtask: u32,
    pub parallelism: u32,
    pub attempt_id: AttemptId,
    pub attempt_number: u32,
    pub operators: Vec<OperatorSpec>,
    pub inputs: Vec<InputDescriptor>,
    pub outputs: Vec<OutputDescriptor>,
    /// The job takes checkpoints: sinks write exactly once where they can.
    #[serde(default)]
    pub checkpointing: bool,
    /// Where the job's checkpoints go (`state.checkpoints.dir`/<job id>); None: the task takes
    /// no part in checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_dir: Option<String>,
    /// Key groups of the vertex (`pipeline.max-parallelism`).
    #[serde(default = "default_max_parallelism")]
    pub max_parallelism: u32,
    /// The checkpoint this attempt resumes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<TaskRestore>,
}

fn default_max_parallelism() -> u32 {
    crate::key_groups::DEFAULT_MAX_PARALLELISM
}

/// Where a task's state comes from, per operator of its chain: the state files (in the
/// restored checkpoint's directory) of every subtask of the previous run's vertex that held the
/// operator, and the operator's position in that vertex's chain. A file holds one subtask's
/// snapshots in chain order (see [`encode_task_state`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRestore {
    pub checkpoint_id: u64,
    /// The checkpoint's (or savepoint's) directory, as a storage URL or path.
    pub dir: String,
    /// By operator of the chain: None starts empty.
    pub operators: Vec<Option<OperatorRestore>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRestore {
    pub files: Vec<String>,
    /// The operator's position in the previous run's chain.
    pub index: usize,
}

/// A task's restored state, loaded: per operator of the chain (a leading source included), the
/// snapshots of every subtask of the previous run that had one.
#[derive(Debug, Clone, Default)]
pub struct RestoredState {
    pub checkpoint_id: u64,
    pub operators: Vec<Vec<Vec<u8>>>,
}

impl RestoredState {
    /// Gathers each operator's snapshots from decoded state files (`load` reads and decodes one
    /// file; each file is read once).
    pub fn load(
        r: &TaskRestore,
        mut load: impl FnMut(&str) -> Result<Vec<Option<Vec<u8>>>, String>,
    ) -> Result<Self, String> {
        let mut files: HashMap<&str, Vec<Option<Vec<u8>>>> = HashMap::new();
        let mut operators = Vec::with_capacity(r.operators.len());
        for op in &r.operators {
            let mut states = Vec::new();
            for f in op.iter().flat_map(|o| o.files.iter()) {
                if !files.contains_key(f.as_str()) {
                    files.insert(f, load(f)?);
                }
                let index = op.as_ref().map(|o| o.index).unwrap_or(0);
                if let Some(Some(s)) = files[f.as_str()].get(index) {
                    states.push(s.clone());
                }
            }
            operators.push(states);
        }
        Ok(Self {
            checkpoint_id: r.checkpoint_id,
            operators,
        })
    }
}

/// The checkpoint id of the last commit, made when a job with checkpoints reached its end.
pub const FINAL_CHECKPOINT: u64 = u64::MAX;

/// One subtask's snapshots (in chain order) as the bytes of its state file: `STRM1`, the count,
/// then per snapshot a presence byte, a little-endian u64 length and the bytes.
pub fn encode_task_state(states: &[Option<Vec<u8>>]) -> Vec<u8> {
    let size: usize = states.iter().flatten().map(|s| s.len() + 9).sum();
    let mut out = Vec::with_capacity(size + 9);
    out.extend_from_slice(b"STRM1");
    out.extend_from_slice(&(states.len() as u32).to_le_bytes());
    for s in states {
        match s {
            None => out.push(0),
            Some(b) => {
                out.push(1);
                out.extend_from_slice(&(b.len() as u64).to_le_bytes());
                out.extend_from_slice(b);
            }
        }
    }
    out
}

/// Reads a state file written by [`encode_task_state`]; the error says what is wrong.
pub fn decode_task_state(bytes: &[u8]) -> Result<Vec<Option<Vec<u8>>>, String> {
    let rest = bytes
        .strip_prefix(b"STRM1")
        .ok_or("not a Strom state file (bad magic)")?;
    let (n, mut rest) = rest.split_at_checked(4).ok_or("truncated header")?;
    let n = u32::from_le_bytes(n.try_into().expect("4 bytes"));
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let (&flag, r) = rest
            .split_first()
            .ok_or(format!("truncated at snapshot {i}"))?;
        rest = r;
        if flag == 0 {
            out.push(None);
            continue;
        }
        let (len, r) = rest
            .split_at_checked(8)
            .ok_or(format!("truncated at snapshot {i}"))?;
        let len = u64::from_le_bytes(len.try_into().expect("8 bytes")) as usize;
        let (b, r) = r
            .split_at_checked(len)
            .ok_or(format!("snapshot {i} is truncated ({len} bytes announced)"))?;
        out.push(Some(b.to_vec()));
        rest = r;
    }
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes", rest.len()));
    }
    Ok(out)
}

impl TaskDeploymentDescriptor {
    pub fn subtask_info(&self) -> SubtaskInfo {
        SubtaskInfo {
            index: self.subtask,
            parallelism: self.parallelism,
        }
    }
}

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
pub fn run_task(tdd: &TaskDeploymentDescriptor, ctx: &TaskContext) -> Result<(), TaskError> {
    let cancel = &*ctx.cancel;
    let (source, chain_specs) = match tdd.operators.split_first() {
        Some((OperatorSpec::Source(s), rest)) => (Some(s), rest),
        Some(_) => (None, &tdd.operators[..]),
        None => return Err(TaskError::Deployment("empty operator chain".into())),
    };
    let mut chain = build_chain(
        chain_specs,
        &ctx.connectors,
        tdd.subtask_info(),
        &ctx.metrics,
        tdd.checkpointing,
    )?;
    let scope =
        crate::operator::RestoreScope::new(tdd.subtask, tdd.parallelism, tdd.max_parallelism);
    let offset = usize::from(source.is_some());
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
                let wm = s
                    .watermark
                    .as_ref()
                    .map(|w| physical_expr(&w.expr, &s.output).map(|e| (e, w.delay_ms, w.rowtime)))
                    .transpose()?;
                run_source(reader, wm, &mut chain, &mut out, ctx)
            },
        ),
        None => run_inputs(gates, &mut chain, &mut out, ctx),
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

/// The watermark of a task's inputs: the minimum over its channels that are not idle (ended
/// channels hold the maximal watermark); `None` when every channel is idle.
fn input_watermark(wm: &[Vec<i64>], idle: &[Vec<bool>]) -> Option<i64> {
    wm.iter()
        .flatten()
        .zip(idle.iter().flatten())
        .filter(|(_, idle)| !**idle)
        .map(|(w, _)| *w)
        .min()
}

/// One receiver of an input: in-process channels, or the channels that come over the network
/// (whose elements return credits as they are taken).
struct InputReceiver {
    rx: Receiver<Message>,
    /// Index of the logical input (edge) for watermark bookkeeping.
    gate: usize,
    /// The edge's input index of the chain head (0, or 1 for a join's second input).
    input_index: u32,
    /// Channels of the logical input (1 for FORWARD).
    width: usize,
    /// Channels still open on this receiver.
    open: usize,
    remote: HashMap<u32, RemoteChannel>,
}

fn open_input(
    tdd: &TaskDeploymentDescriptor,
    ctx: &TaskContext,
    g: usize,
    i: &InputDescriptor,
    out: &mut Vec<InputReceiver>,
) -> Result<(), TaskError> {
    let width = if i.forward {
        1
    } else {
        i.producer_parallelism as usize
    };
    let key = GateKey {
        job: tdd.job_id,
        round: tdd.round,
        vertex: tdd.vertex,
        subtask: tdd.subtask,
        input_index: i.input_index,
    };
    let remote: Vec<u32> = i.remote_producers.iter().map(|r| r.subtask).collect();
    let local = width - remote.len();
    if local > 0 {
        let rx = match i.result_type {
            ResultType::Pipelined => ctx.shuffle.open_gate(key, width),
            ResultType::Blocking => ctx.shuffle.open_stored_gate(
                key,
                i.producer,
                i.producer_parallelism,
                i.forward,
                &remote,
            )?,
        };
        out.push(InputReceiver {
            rx,
            gate: g,
            input_index: i.input_index,
            width,
            open: local,
            remote: HashMap::new(),
        });
    }
    if !remote.is_empty() {
        let network = ctx.network.as_ref().ok_or_else(|| {
            TaskError::Deployment(
                "a producer runs on another TaskManager but this one has no data port".into(),
            )
        })?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut channels = HashMap::new();
        for r in &i.remote_producers {
            let id = SubpartitionId {
                job: tdd.job_id,
                round: tdd.round,
                producer: i.producer,
                producer_subtask: r.subtask,
                consumer: tdd.vertex,
                consumer_subtask: tdd.subtask,
                input_index: i.input_index,
            };
            let blocking = i.result_type == ResultType::Blocking;
            let ch = network.request(&r.data_address, id, blocking, r.subtask, tx.clone())?;
            channels.insert(r.subtask, ch);
        }
        out.push(InputReceiver {
            rx,
            gate: g,
            input_index: i.input_index,
            width,
            open: remote.len(),
            remote: channels,
        });
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

/// Per-split watermarks of a source task (one split unless the reader has several, e.g. Kafka
/// partitions); the subtask's watermark is the minimum over its active splits (see
/// [`SplitState`]).
struct SourceWatermarks {
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
enum SubtaskWatermark {
    /// The minimum over the active splits.
    At(i64),
    /// No split is active and some are idle: the subtask is idle.
    Idle,
    /// Every split is finished: the subtask is about to end (its end is the final watermark).
    Ending,
}

/// The subtask's watermark from each split's state and watermark.
fn subtask_watermark(splits: impl IntoIterator<Item = (SplitState, i64)>) -> SubtaskWatermark {
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

fn run_source(
    mut reader: Box<dyn SourceReader>,
    watermark: Option<(Arc<dyn PhysicalExpr>, Option<i64>, usize)>,
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
        // a checkpoint: the reader's position and the chain's state after the rows emitted so
        // far, then the barrier downstream
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
        take_notifications(chain, ctx)?;
        // I/O, except where the reader waited for rows (rate limits; a call returning none)
        let waited = reader.wait_time();
        ctx.metrics.enter(Phase::Io);
        let next = reader.next_batch()?;
        let (_, io_ns) = ctx.metrics.enter(Phase::Cpu);
        let idle_ns = match &next {
            Some(b) if b.num_rows() > 0 => {
                reader.wait_time().saturating_sub(waited).as_nanos() as u64
            }
            _ => io_ns,
        };
        ctx.metrics.reassign(Phase::Io, Phase::Idle, idle_ns);
        let Some(batch) = next else { break };
        let rows = batch.num_rows() as u64;
        TaskMetrics::add(&ctx.metrics.records_in, rows);
        ctx.metrics
            .skipped_rows
            .store(reader.counters().skipped_rows, Ordering::Relaxed);
        let Some((expr, delay, rowtime)) = &watermark else {
            if rows > 0 {
                chain.process_batch(batch, out)?;
            }
            continue;
        };
        let split = reader.last_split().unwrap_or(wms.splits[0]);
        let si = wms.splits.iter().position(|s| *s == split).unwrap_or(0);
        if rows > 0 {
            // per-record watermark semantics: cut before rows the watermark has passed
            let (cuts, after) =
                watermark::cuts(expr.as_ref(), *delay, *rowtime, &batch, wms.split_wm[si])?;
            let mut from = 0;
            for c in cuts {
                chain.process_batch(batch.slice(from, c.row - from), out)?;
                wms.advance(si, c.watermark, reader.as_ref(), chain, out)?;
                from = c.row;
            }
            let rest = if from == 0 {
                batch
            } else {
                batch.slice(from, rows as usize - from)
            };
            chain.process_batch(rest, out)?;
            wms.idle = false;
            ctx.metrics
                .late_records_dropped
                .store(chain.late_records_dropped(), Ordering::Relaxed);
            wms.advance(si, after, reader.as_ref(), chain, out)?;
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

fn run_inputs(
    mut inputs: Vec<InputReceiver>,
    chain: &mut Chain,
    out: &mut Outputs,
    ctx: &TaskContext,
) -> Result<(), TaskError> {
    // single logical input: all gates feed the chain; watermark = min over all channels
    let gates = inputs.iter().map(|r| r.gate + 1).max().unwrap_or(0);
    let mut channel_wm: Vec<Vec<i64>> = vec![Vec::new(); gates];
    let mut channel_idle: Vec<Vec<bool>> = vec![Vec::new(); gates];
    for r in &inputs {
        channel_wm[r.gate] = vec![i64::MIN; r.width];
        channel_idle[r.gate] = vec![false; r.width];
    }
    // whether this task told its consumers it is idle (all its inputs are)
    let mut idle_sent = false;
    // checkpoint barriers: channels numbered gate by gate; elements of a blocked channel wait in
    // `stash` and come back through `replay` once it is unblocked
    let mut offsets = vec![0usize; gates];
    let mut total = 0;
    for (g, w) in channel_wm.iter().enumerate() {
        offsets[g] = total;
        total += w.len();
    }
    let mut aligner = BarrierAligner::new(total);
    let mut stash: Vec<std::collections::VecDeque<(usize, u32, StreamElement)>> =
        (0..total).map(|_| Default::default()).collect();
    let mut replay: std::collections::VecDeque<(usize, u32, StreamElement)> = Default::default();
    let mut barrier_time = 0i64;
    let mut current = i64::MIN;
    // receivers still open, by position in `inputs`
    let mut live: Vec<usize> = (0..inputs.len()).filter(|i| inputs[*i].open > 0).collect();
    while !live.is_empty() || !replay.is_empty() {
        // also between elements: a backpressured task always has input waiting
        if ctx.cancel.load(Ordering::Relaxed) {
            return Err(canceled(chain, ctx));
        }
        ctx.metrics.enter(Phase::Idle);
        let (idx, tag, element) = match replay.pop_front() {
            Some(x) => x,
            None => {
                let mut sel = crossbeam_channel::Select::new();
                for i in &live {
                    sel.recv(&inputs[*i].rx);
                }
                let notes = ctx.checkpoint_notifications.as_ref();
                let notes_slot = notes.map(|n| sel.recv(n));
                let op = match sel.select_timeout(Duration::from_millis(50)) {
                    Ok(op) => op,
                    Err(_) => {
                        if ctx.cancel.load(Ordering::Relaxed) {
                            return Err(canceled(chain, ctx));
                        }
                        continue;
                    }
                };
                let slot = op.index();
                if let (Some(n), Some(ns)) = (notes, notes_slot) {
                    if slot == ns {
                        let id = op.recv(n);
                        drop(sel);
                        if let Ok(id) = id {
                            chain.notify_checkpoint_complete(id)?;
                        }
                        continue;
                    }
                }
                let received = op.recv(&inputs[live[slot]].rx);
                drop(sel);
                let r = &inputs[live[slot]];
                let msg = match received {
                    Ok(m) => m,
                    // every open channel of this receiver already delivered its end of input,
                    // held back behind a barrier: the replay will close it
                    Err(_)
                        if stash
                            .iter()
                            .flatten()
                            .filter(|(i, _, e)| {
                                *i == live[slot] && matches!(e, StreamElement::EndOfInput)
                            })
                            .count()
                            == r.open =>
                    {
                        let gone = live[slot];
                        live.retain(|x| *x != gone);
                        continue;
                    }
                    Err(_) => {
                        return Err(TaskError::Disconnected(if r.remote.is_empty() {
                            "an upstream task ended without end of input".into()
                        } else {
                            "the connection to an upstream TaskManager was lost".into()
                        }))
                    }
                };
                if let Some(ch) = r.remote.get(&msg.0) {
                    ch.consumed();
                }
                (live[slot], msg.0, msg.1)
            }
        };
        ctx.metrics.enter(Phase::Cpu);
        let r = &mut inputs[idx];
        let g = r.gate;
        let ch = if r.width == 1 { 0 } else { tag as usize };
        let global = offsets[g] + ch;
        if aligner.is_blocked(global) {
            // after its barrier, a channel waits for the others (aligned checkpoints)
            stash[global].push_back((idx, tag, element));
            continue;
        }
        let mut settled = Vec::new();
        match element {
            StreamElement::Batch(b) => {
                channel_idle[g][ch] = false;
                idle_sent = false;
                TaskMetrics::add(&ctx.metrics.records_in, b.num_rows() as u64);
                TaskMetrics::add(&ctx.metrics.bytes_in, b.get_array_memory_size() as u64);
                chain.process_batch_from(r.input_index, b, out)?;
                ctx.metrics
                    .late_records_dropped
                    .store(chain.late_records_dropped(), Ordering::Relaxed);
            }
            StreamElement::Watermark(w) => {
                channel_wm[g][ch] = channel_wm[g][ch].max(w);
                channel_idle[g][ch] = false;
                idle_sent = false;
                if let Some(min) = input_watermark(&channel_wm, &channel_idle) {
                    if min > current {
                        current = min;
                        ctx.metrics.input_watermark.store(min, Ordering::Relaxed);
                        chain.process_watermark(min, out)?;
                    }
                }
            }
            StreamElement::Idle => {
                channel_idle[g][ch] = true;
                match input_watermark(&channel_wm, &channel_idle) {
                    Some(min) if min > current => {
                        current = min;
                        ctx.metrics.input_watermark.store(min, Ordering::Relaxed);
                        chain.process_watermark(min, out)?;
                    }
                    None if !idle_sent => {
                        idle_sent = true;
                        out.emit_idle(chain)?;
                    }
                    _ => {}
                }
            }
            StreamElement::Barrier { id, timestamp } => {
                barrier_time = timestamp;
                settled = aligner.on_barrier(global, id);
            }
            StreamElement::EndOfInput => {
                r.open -= 1;
                if r.open == 0 {
                    live.retain(|x| *x != idx);
                }
                channel_wm[g][ch] = MAX_WATERMARK;
                channel_idle[g][ch] = false;
                settled = aligner.on_end(global);
            }
        }
        for a in settled {
            match a {
                Alignment::Wait => {}
                Alignment::Aligned(id) => {
                    let states = chain.snapshot_state(id);
                    out.emit_barrier(id, barrier_time)?;
                    report_snapshot(ctx, id, states);
                }
                Alignment::Abort(id) => {
                    if let Some(l) = &ctx.checkpoints {
                        l.decline(
                            id,
                            strom_common::DeclineKind::Subsumed,
                            "a newer checkpoint barrier overtook it".into(),
                        );
                    }
                }
            }
            // channels no longer blocked take their held-back elements first, in order
            for (c, held) in stash.iter_mut().enumerate() {
                if !aligner.is_blocked(c) {
                    replay.extend(held.drain(..));
                }
            }
        }
    }
    finish(chain, out, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::Operator;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Mutex;

    /// Records what reaches the chain: batch values and snapshots.
    struct Record(Arc<Mutex<Vec<String>>>);

    impl Operator for Record {
        fn name(&self) -> &str {
            "record"
        }
        fn process_batch(&mut self, b: RecordBatch, _: &mut dyn Output) -> Result<(), TaskError> {
            let v = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            self.0.lock().unwrap().push(format!("v{}", v.value(0)));
            Ok(())
        }
        fn snapshot_state(&mut self, id: u64) -> Result<Option<Vec<u8>>, TaskError> {
            self.0.lock().unwrap().push(format!("snapshot {id}"));
            Ok(Some(vec![id as u8]))
        }
    }

    struct Acks(Mutex<Vec<u64>>, Mutex<Vec<Vec<Option<Vec<u8>>>>>);

    impl CheckpointListener for Acks {
        fn acknowledge(&self, id: u64, states: Vec<Option<Vec<u8>>>) {
            self.0.lock().unwrap().push(id);
            self.1.lock().unwrap().push(states);
        }
        fn decline(&self, id: u64, _kind: strom_common::DeclineKind, reason: String) {
            panic!("declined {id}: {reason}");
        }
    }

    fn batch(v: i64) -> StreamElement {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        StreamElement::Batch(
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![v]))]).unwrap(),
        )
    }

    /// Returns batches 1..=3; asks for checkpoint 1 while returning the second.
    struct Reader {
        next: i64,
        trigger: crossbeam_channel::Sender<CheckpointTrigger>,
    }

    impl SourceReader for Reader {
        fn next_batch(&mut self) -> Result<Option<RecordBatch>, crate::connector::ConnectorError> {
            self.next += 1;
            if self.next == 2 {
                self.trigger
                    .send(CheckpointTrigger {
                        id: 1,
                        timestamp: 7,
                        stop: false,
                        drain: false,
                    })
                    .unwrap();
            }
            Ok((self.next <= 3).then(|| match batch(self.next) {
                StreamElement::Batch(b) => b,
                _ => unreachable!(),
            }))
        }
        fn snapshot_position(
            &mut self,
        ) -> Result<Option<Vec<u8>>, crate::connector::ConnectorError> {
            Ok(Some(vec![self.next as u8]))
        }
    }

    #[test]
    fn a_source_snapshots_its_position_between_batches() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let acks = Arc::new(Acks(Mutex::new(Vec::new()), Mutex::new(Vec::new())));
        let (tx, rx) = crossbeam_channel::unbounded();
        let ctx = TaskContext {
            shuffle: LocalShuffle::new(),
            network: None,
            connectors: Arc::new(ConnectorRegistry::new()),
            cancel: Arc::new(AtomicBool::new(false)),
            metrics: Arc::new(TaskMetrics::default()),
            checkpoints: Some(acks.clone()),
            checkpoint_triggers: Some(rx),
            checkpoint_notifications: None,
            restored: None,
        };
        let mut chain = Chain {
            operators: vec![Box::new(Record(seen.clone()))],
        };
        let cancel = AtomicBool::new(false);
        let mut out = Outputs {
            writers: vec![],
            cancel: &cancel,
            metrics: &ctx.metrics,
            last_watermark: i64::MIN,
        };
        let reader = Box::new(Reader {
            next: 0,
            trigger: tx,
        });
        run_source(reader, None, &mut chain, &mut out, &ctx).unwrap();
        // the trigger came while batch 2 was read: the snapshot follows it
        assert_eq!(
            *seen.lock().unwrap(),
            ["v1", "v2", "snapshot 1", "v3"],
            "the operator state is taken between batches"
        );
        assert_eq!(*acks.0.lock().unwrap(), vec![1]);
        assert_eq!(
            acks.1.lock().unwrap()[0],
            vec![Some(vec![2]), Some(vec![1])],
            "reader position (after 2 batches), then the chain"
        );
    }

    #[test]
    fn barriers_are_aligned_across_inputs() {
        for _ in 0..20 {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let acks = Arc::new(Acks(Mutex::new(Vec::new()), Mutex::new(Vec::new())));
            let ctx = TaskContext {
                shuffle: LocalShuffle::new(),
                network: None,
                connectors: Arc::new(ConnectorRegistry::new()),
                cancel: Arc::new(AtomicBool::new(false)),
                metrics: Arc::new(TaskMetrics::default()),
                checkpoints: Some(acks.clone()),
                checkpoint_triggers: None,
                checkpoint_notifications: None,
                restored: None,
            };
            // two inputs, everything queued up front: the select may take them in any order
            let mut inputs = Vec::new();
            for (g, vals) in [(0usize, [1i64, 2]), (1, [10, 20])] {
                let (tx, rx) = crossbeam_channel::unbounded();
                let barrier = StreamElement::Barrier {
                    id: 1,
                    timestamp: 5,
                };
                for e in [
                    batch(vals[0]),
                    barrier,
                    batch(vals[1]),
                    StreamElement::EndOfInput,
                ] {
                    tx.send((0u32, e)).unwrap();
                }
                inputs.push(InputReceiver {
                    rx,
                    gate: g,
                    input_index: 0,
                    width: 1,
                    open: 1,
                    remote: HashMap::new(),
                });
            }
            let mut chain = Chain {
                operators: vec![Box::new(Record(seen.clone()))],
            };
            let cancel = AtomicBool::new(false);
            let mut out = Outputs {
                writers: vec![],
                cancel: &cancel,
                metrics: &ctx.metrics,
                last_watermark: i64::MIN,
            };
            run_inputs(inputs, &mut chain, &mut out, &ctx).unwrap();
            let seen = seen.lock().unwrap().clone();
            let at = |x: &str| seen.iter().position(|s| s == x).unwrap();
            let snap = at("snapshot 1");
            // what came before the barrier on both inputs is in the snapshot, nothing after it
            assert!(at("v1") < snap && at("v10") < snap, "{seen:?}");
            assert!(at("v2") > snap && at("v20") > snap, "{seen:?}");
            assert_eq!(*acks.0.lock().unwrap(), vec![1]);
            assert_eq!(acks.1.lock().unwrap()[0], vec![Some(vec![1])]);
        }
    }

    #[test]
    fn finished_splits_neither_hold_back_the_watermark_nor_make_the_subtask_idle() {
        use SplitState::{Active, Finished, Idle};
        assert_eq!(
            subtask_watermark([(Active, 5), (Active, 9)]),
            SubtaskWatermark::At(5)
        );
        // a split read to its end no longer holds back the others
        assert_eq!(
            subtask_watermark([(Finished, 5), (Active, 9)]),
            SubtaskWatermark::At(9)
        );
        assert_eq!(
            subtask_watermark([(Idle, 5), (Active, 9)]),
            SubtaskWatermark::At(9)
        );
        // every split read to its end: the subtask is ending, not idle (issue 15: its final
        // watermark comes after what its chain still holds; idleness would let the consumers'
        // watermark pass that first)
        assert_eq!(
            subtask_watermark([(Finished, 5), (Finished, 9)]),
            SubtaskWatermark::Ending
        );
        assert_eq!(
            subtask_watermark([(Finished, 5), (Idle, 9)]),
            SubtaskWatermark::Idle
        );
        assert_eq!(subtask_watermark([(Idle, 5)]), SubtaskWatermark::Idle);
    }

    #[test]
    fn idle_channels_do_not_hold_back_the_watermark() {
        // two inputs: [a, b] and [c]
        let wm = vec![vec![5, 9], vec![7]];
        let none = vec![vec![false, false], vec![false]];
        assert_eq!(input_watermark(&wm, &none), Some(5));
        // a idle: min over b and c
        let a_idle = vec![vec![true, false], vec![false]];
        assert_eq!(input_watermark(&wm, &a_idle), Some(7));
        // all idle: no watermark at all (the task itself goes idle)
        let all = vec![vec![true, true], vec![true]];
        assert_eq!(input_watermark(&wm, &all), None);
        // a channel that never sent a watermark holds everything back unless it is idle
        let fresh = vec![vec![i64::MIN, 9], vec![7]];
        assert_eq!(input_watermark(&fresh, &none), Some(i64::MIN));
        assert_eq!(input_watermark(&fresh, &a_idle), Some(7));
    }
}
