//! A stage's inputs: what the task's input gates receive from the stages before it, read by
//! the fragment's input leaves. A leaf in [`InputMode::Merged`] mode reads everything of its
//! input as one partition; in [`InputMode::PerProducer`] mode, partition `k` is what producer
//! subtask `k` sent.
//!
//! The leaves read on the fragment's thread: a read waits (counted as idle time) until the
//! gate has something. Producers of BLOCKING results have finished, so everything a leaf
//! waits for is on its way; what arrives for another partition or input waits in a queue.

use super::super::input_processor::InputReceiver;
use super::{conform, external, Opener, TaskContext};
use crate::element::StreamElement;
use crate::error::TaskError;
use crate::metrics::{Phase, TaskMetrics};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::ExecutionPlan;
use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use strom_plan::stage::{InputMode, StageInputExec};

/// The task's inputs, by input index.
pub(super) struct Inputs {
    gates: BTreeMap<u32, Arc<Mutex<Gate>>>,
}

/// One input: its receivers (in-process and over the network) and what arrived for
/// partitions not read yet.
struct Gate {
    receivers: Vec<InputReceiver>,
    /// By channel (the producer subtask; one channel for a FORWARD input).
    queues: Vec<VecDeque<RecordBatch>>,
    ended: Vec<bool>,
    cancel: Arc<AtomicBool>,
    metrics: Arc<TaskMetrics>,
}

impl Inputs {
    pub(super) fn new(receivers: Vec<InputReceiver>, ctx: &TaskContext) -> Self {
        let mut by_input: BTreeMap<u32, Vec<InputReceiver>> = BTreeMap::new();
        for r in receivers {
            by_input.entry(r.input_index).or_default().push(r);
        }
        let gates = by_input
            .into_iter()
            .map(|(input, receivers)| {
                let width = receivers.first().map_or(1, |r| r.width);
                let gate = Gate {
                    receivers,
                    queues: (0..width).map(|_| VecDeque::new()).collect(),
                    ended: vec![false; width],
                    cancel: Arc::clone(&ctx.cancel),
                    metrics: Arc::clone(&ctx.metrics),
                };
                (input, Arc::new(Mutex::new(gate)))
            })
            .collect();
        Self { gates }
    }

    /// Opens the partitions of leaf `leaf`.
    pub(super) fn opener(&self, leaf: &StageInputExec) -> Result<Opener, TaskError> {
        let gate = self.gates.get(&leaf.input).cloned().ok_or_else(|| {
            TaskError::Deployment(format!(
                "the stage reads input {} but the task has no such input",
                leaf.input
            ))
        })?;
        let schema = leaf.schema();
        let mode = leaf.mode;
        Ok(Arc::new(move |partition| {
            let gate = Arc::clone(&gate);
            let out = Arc::clone(&schema);
            let channel = match mode {
                InputMode::Merged => None,
                InputMode::PerProducer => Some(partition),
            };
            let batches = futures::stream::poll_fn(move |_| {
                std::task::Poll::Ready(match gate.lock().next(channel) {
                    Ok(Some(b)) => Some(conform(b, &out)),
                    Ok(None) => None,
                    Err(e) => Some(Err(external(e))),
                })
            });
            Ok(Box::pin(RecordBatchStreamAdapter::new(
                Arc::clone(&schema),
                batches,
            )))
        }))
    }
}

impl Gate {
    /// The next batch of channel `channel` (any channel: `None`), or `None` at its end.
    fn next(&mut self, channel: Option<usize>) -> Result<Option<RecordBatch>, TaskError> {
        loop {
            let queued = match channel {
                Some(c) => self.queues.get_mut(c).and_then(VecDeque::pop_front),
                None => self.queues.iter_mut().find_map(VecDeque::pop_front),
            };
            if queued.is_some() {
                return Ok(queued);
            }
            let done = match channel {
                Some(c) => self.ended.get(c).copied().unwrap_or(true),
                None => self.receivers.iter().all(|r| r.open == 0),
            };
            if done {
                return Ok(None);
            }
            self.receive()?;
        }
    }

    /// Waits for one element from any receiver still open and files it.
    fn receive(&mut self) -> Result<(), TaskError> {
        let live: Vec<usize> = (0..self.receivers.len())
            .filter(|i| self.receivers[*i].open > 0)
            .collect();
        if live.is_empty() {
            return Ok(());
        }
        let was = self.metrics.enter(Phase::Idle).0;
        let received = loop {
            if self.cancel.load(Ordering::Relaxed) {
                self.metrics.enter(was);
                return Err(TaskError::Canceled);
            }
            let mut sel = crossbeam_channel::Select::new();
            for i in &live {
                sel.recv(&self.receivers[*i].rx);
            }
            if let Ok(op) = sel.select_timeout(Duration::from_millis(50)) {
                let r = live[op.index()];
                break (r, op.recv(&self.receivers[r].rx));
            }
        };
        self.metrics.enter(was);
        let (r, msg) = received;
        let receiver = &mut self.receivers[r];
        let (tag, element) = msg.map_err(|_| {
            TaskError::Disconnected(if receiver.remote.is_empty() {
                "an upstream task ended without end of input".into()
            } else {
                "the connection to an upstream TaskManager was lost".into()
            })
        })?;
        if let Some(ch) = receiver.remote.get(&tag) {
            ch.consumed();
        }
        let c = if receiver.width == 1 { 0 } else { tag as usize };
        match element {
            StreamElement::Batch(b) => {
                TaskMetrics::add(&self.metrics.records_in, b.num_rows() as u64);
                TaskMetrics::add(&self.metrics.bytes_in, b.get_array_memory_size() as u64);
                self.queues
                    .get_mut(c)
                    .ok_or_else(|| {
                        TaskError::Deployment(format!("input channel {c} does not exist"))
                    })?
                    .push_back(b);
            }
            StreamElement::EndOfInput => {
                receiver.open = receiver.open.saturating_sub(1);
                if let Some(e) = self.ended.get_mut(c) {
                    *e = true;
                }
            }
            // batch exchanges carry no event time and no checkpoints
            StreamElement::Watermark(_) | StreamElement::Idle | StreamElement::Barrier { .. } => {}
        }
        Ok(())
    }
}
