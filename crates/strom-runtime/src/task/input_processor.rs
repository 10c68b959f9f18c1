//! A task with input gates: it takes elements from its channels, aligns checkpoint barriers,
//! merges watermarks and idleness over its channels, and drives its chain.

use super::*;
use crate::barrier::{Alignment, BarrierAligner};
use crate::deployment::InputDescriptor;
use crate::element::{StreamElement, MAX_WATERMARK};
use crate::error::TaskError;
use crate::exchange::{GateKey, Message, SubpartitionId};
use crate::metrics::{Phase, TaskMetrics};
use crate::network::RemoteChannel;
use crate::operator::Chain;
use crossbeam_channel::Receiver;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::Duration;
use strom_plan::ResultType;

/// The watermark of a task's inputs: the minimum over its channels that are not idle (ended
/// channels hold the maximal watermark); `None` when every channel is idle.
pub(super) fn input_watermark(wm: &[Vec<i64>], idle: &[Vec<bool>]) -> Option<i64> {
    wm.iter()
        .flatten()
        .zip(idle.iter().flatten())
        .filter(|(_, idle)| !**idle)
        .map(|(w, _)| *w)
        .min()
}

/// One receiver of an input: in-process channels, or the channels that come over the network
/// (whose elements return credits as they are taken).
pub(super) struct InputReceiver {
    pub(super) rx: Receiver<Message>,
    /// Index of the logical input (edge) for watermark bookkeeping.
    pub(super) gate: usize,
    /// The edge's input index of the chain head (0, or 1 for a join's second input).
    pub(super) input_index: u32,
    /// Channels of the logical input (1 for FORWARD).
    pub(super) width: usize,
    /// Channels still open on this receiver.
    pub(super) open: usize,
    pub(super) remote: HashMap<u32, RemoteChannel>,
}

pub(super) fn open_input(
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
                |p| i.producer_round(p, tdd.round),
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
                round: i.producer_round(r.subtask, tdd.round),
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

/// An element taken from input `.0` (its position in the inputs), channel tag `.1`.
type Taken = (usize, u32, StreamElement);

/// What the input processor keeps between elements: per channel its watermark and idleness,
/// the barrier alignment with the elements it holds back, and the receivers still open.
struct InputState {
    /// By gate, by channel.
    channel_wm: Vec<Vec<i64>>,
    channel_idle: Vec<Vec<bool>>,
    /// Whether this task told its consumers it is idle (all its inputs are).
    idle_sent: bool,
    /// Checkpoint barriers: channels numbered gate by gate (the first channel of each gate).
    offsets: Vec<usize>,
    aligner: BarrierAligner,
    /// Elements of a blocked channel wait here and come back through `replay` once it is
    /// unblocked.
    stash: Vec<VecDeque<Taken>>,
    replay: VecDeque<Taken>,
    barrier_time: i64,
    /// The watermark passed on last.
    current: i64,
    /// Receivers still open, by position in the inputs.
    live: Vec<usize>,
}

pub(super) fn run_inputs(
    mut inputs: Vec<InputReceiver>,
    chain: &mut Chain,
    out: &mut Outputs,
    ctx: &TaskContext,
) -> Result<(), TaskError> {
    let mut st = InputState::new(&inputs);
    while !st.live.is_empty() || !st.replay.is_empty() {
        // also between elements: a backpressured task always has input waiting
        if ctx.cancel.load(Ordering::Relaxed) {
            return Err(canceled(chain, ctx));
        }
        ctx.metrics.enter(Phase::Idle);
        let (idx, tag, element) = match st.replay.pop_front() {
            Some(x) => x,
            None => match st.receive(&inputs, chain, ctx)? {
                Some(x) => x,
                None => continue,
            },
        };
        ctx.metrics.enter(Phase::Cpu);
        st.process(&mut inputs[idx], idx, tag, element, chain, out, ctx)?;
    }
    finish(chain, out, ctx)
}

impl InputState {
    fn new(inputs: &[InputReceiver]) -> Self {
        // single logical input: all gates feed the chain; watermark = min over all channels
        let gates = inputs.iter().map(|r| r.gate + 1).max().unwrap_or(0);
        let mut channel_wm: Vec<Vec<i64>> = vec![Vec::new(); gates];
        let mut channel_idle: Vec<Vec<bool>> = vec![Vec::new(); gates];
        for r in inputs {
            channel_wm[r.gate] = vec![i64::MIN; r.width];
            channel_idle[r.gate] = vec![false; r.width];
        }
        let mut offsets = vec![0usize; gates];
        let mut total = 0;
        for (g, w) in channel_wm.iter().enumerate() {
            offsets[g] = total;
            total += w.len();
        }
        Self {
            channel_wm,
            channel_idle,
            idle_sent: false,
            offsets,
            aligner: BarrierAligner::new(total),
            stash: (0..total).map(|_| Default::default()).collect(),
            replay: Default::default(),
            barrier_time: 0,
            current: i64::MIN,
            live: (0..inputs.len()).filter(|i| inputs[*i].open > 0).collect(),
        }
    }

    /// Waits for the next element of a live receiver (or a checkpoint notification, passed to
    /// the chain). None: nothing to process this time (a timeout, a notification, a receiver
    /// that closed after its ends of input were held back).
    #[inline]
    fn receive(
        &mut self,
        inputs: &[InputReceiver],
        chain: &mut Chain,
        ctx: &TaskContext,
    ) -> Result<Option<Taken>, TaskError> {
        let mut sel = crossbeam_channel::Select::new();
        for i in &self.live {
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
                return Ok(None);
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
                return Ok(None);
            }
        }
        let received = op.recv(&inputs[self.live[slot]].rx);
        drop(sel);
        let r = &inputs[self.live[slot]];
        let msg = match received {
            Ok(m) => m,
            // every open channel of this receiver already delivered its end of input,
            // held back behind a barrier: the replay will close it
            Err(_)
                if self
                    .stash
                    .iter()
                    .flatten()
                    .filter(|(i, _, e)| {
                        *i == self.live[slot] && matches!(e, StreamElement::EndOfInput)
                    })
                    .count()
                    == r.open =>
            {
                let gone = self.live[slot];
                self.live.retain(|x| *x != gone);
                return Ok(None);
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
        Ok(Some((self.live[slot], msg.0, msg.1)))
    }

    /// Processes one element of receiver `r` (at `idx` in the inputs), channel `tag`.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn process(
        &mut self,
        r: &mut InputReceiver,
        idx: usize,
        tag: u32,
        element: StreamElement,
        chain: &mut Chain,
        out: &mut Outputs,
        ctx: &TaskContext,
    ) -> Result<(), TaskError> {
        let g = r.gate;
        let ch = if r.width == 1 { 0 } else { tag as usize };
        let global = self.offsets[g] + ch;
        if self.aligner.is_blocked(global) {
            // after its barrier, a channel waits for the others (aligned checkpoints)
            self.stash[global].push_back((idx, tag, element));
            return Ok(());
        }
        let mut settled = Vec::new();
        match element {
            StreamElement::Batch(b) => {
                self.channel_idle[g][ch] = false;
                self.idle_sent = false;
                TaskMetrics::add(&ctx.metrics.records_in, b.num_rows() as u64);
                TaskMetrics::add(&ctx.metrics.bytes_in, b.get_array_memory_size() as u64);
                chain.process_batch_from(r.input_index, b, out)?;
                ctx.metrics
                    .late_records_dropped
                    .store(chain.late_records_dropped(), Ordering::Relaxed);
            }
            StreamElement::Watermark(w) => {
                self.channel_wm[g][ch] = self.channel_wm[g][ch].max(w);
                self.channel_idle[g][ch] = false;
                self.idle_sent = false;
                if let Some(min) = input_watermark(&self.channel_wm, &self.channel_idle) {
                    if min > self.current {
                        self.current = min;
                        ctx.metrics.input_watermark.store(min, Ordering::Relaxed);
                        chain.process_watermark(min, out)?;
                    }
                }
            }
            StreamElement::Idle => {
                self.channel_idle[g][ch] = true;
                match input_watermark(&self.channel_wm, &self.channel_idle) {
                    Some(min) if min > self.current => {
                        self.current = min;
                        ctx.metrics.input_watermark.store(min, Ordering::Relaxed);
                        chain.process_watermark(min, out)?;
                    }
                    None if !self.idle_sent => {
                        self.idle_sent = true;
                        out.emit_idle(chain)?;
                    }
                    _ => {}
                }
            }
            StreamElement::Barrier { id, timestamp } => {
                self.barrier_time = timestamp;
                settled = self.aligner.on_barrier(global, id);
            }
            StreamElement::EndOfInput => {
                r.open -= 1;
                if r.open == 0 {
                    self.live.retain(|x| *x != idx);
                }
                self.channel_wm[g][ch] = MAX_WATERMARK;
                self.channel_idle[g][ch] = false;
                settled = self.aligner.on_end(global);
            }
        }
        self.settle(settled, chain, out, ctx)
    }

    /// Carries out what the barrier alignment settled: a checkpoint taken (the chain's
    /// snapshot, then the barrier downstream) or aborted; unblocked channels replay the
    /// elements they held back, in order.
    #[inline]
    fn settle(
        &mut self,
        settled: Vec<Alignment>,
        chain: &mut Chain,
        out: &mut Outputs,
        ctx: &TaskContext,
    ) -> Result<(), TaskError> {
        for a in settled {
            match a {
                Alignment::Wait => {}
                Alignment::Aligned(id) => {
                    let states = chain.snapshot_state(id);
                    out.emit_barrier(id, self.barrier_time)?;
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
            for (c, held) in self.stash.iter_mut().enumerate() {
                if !self.aligner.is_blocked(c) {
                    self.replay.extend(held.drain(..));
                }
            }
        }
        Ok(())
    }
}
