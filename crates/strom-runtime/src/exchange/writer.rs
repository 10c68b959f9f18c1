//! A task's output on one edge: rows routed by the edge's ship strategy to local gates, remote
//! channels or a stored BLOCKING partition.

use super::ids::{GateKey, Message, PartitionKey, SubpartitionId};
use super::local::LocalShuffle;
use crate::element::StreamElement;
use crate::error::TaskError;
use crate::key_groups;
use crate::metrics::{Phase, TaskMetrics};
use crate::network::NetworkEnvironment;
use crossbeam_channel::Sender;
use datafusion::arrow::array::{ArrayRef, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strom_common::{JobId, VertexId};
use strom_plan::{ResultType, ShipStrategy};

/// One outgoing edge of a task, as deployed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputDescriptor {
    pub consumer: VertexId,
    pub consumer_parallelism: u32,
    pub input_index: u32,
    pub ship_strategy: ShipStrategy,
    pub result_type: ResultType,
    /// PIPELINED consumer subtasks that run on another TaskManager (reached over the network).
    #[serde(default)]
    pub remote_consumers: Vec<u32>,
    /// The consumer's key groups (`pipeline.max-parallelism`): hash exchanges route by key group.
    #[serde(default = "default_max_parallelism")]
    pub max_parallelism: u32,
}

fn default_max_parallelism() -> u32 {
    crate::key_groups::DEFAULT_MAX_PARALLELISM
}

enum Target {
    Pipelined(Vec<Sender<Message>>),
    Blocking {
        key: PartitionKey,
        parts: Vec<Vec<StreamElement>>,
    },
}

/// Returns a task to the phase it was in before waiting for room (when dropped: also when the
/// wait ends in an error).
struct Resume<'a>(Option<&'a TaskMetrics>, Option<Phase>);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        if let (Some(m), Some(p)) = (self.0, self.1) {
            m.enter(p);
        }
    }
}

/// Writes a task's output to one edge: routes rows, broadcasts watermarks and end of input.
pub struct ResultPartitionWriter {
    strategy: ShipStrategy,
    target: Target,
    /// This producer's channel index at every consumer.
    channel: u32,
    next: usize,
    hashes: Vec<u64>,
    max_parallelism: u32,
    pub backpressured: Duration,
    /// Where waiting for room is accounted as it happens (the task's time split).
    metrics: Option<Arc<TaskMetrics>>,
}

impl ResultPartitionWriter {
    #[allow(clippy::too_many_arguments)]
    pub fn connect(
        shuffle: &LocalShuffle,
        network: Option<&NetworkEnvironment>,
        job: JobId,
        round: u32,
        producer: VertexId,
        subtask: u32,
        d: &OutputDescriptor,
        cancel: &AtomicBool,
    ) -> Result<Self, TaskError> {
        let n = d.consumer_parallelism;
        let target = match d.result_type {
            ResultType::Pipelined => {
                let targets: Vec<u32> = match d.ship_strategy {
                    ShipStrategy::Forward => vec![subtask],
                    _ => (0..n).collect(),
                };
                let mut senders = Vec::new();
                for t in targets {
                    if d.remote_consumers.contains(&t) {
                        let network = network.ok_or_else(|| {
                            TaskError::Deployment(
                                "a consumer runs on another TaskManager but this one has no data port".into(),
                            )
                        })?;
                        senders.push(network.register_outgoing(SubpartitionId {
                            job,
                            round,
                            producer,
                            producer_subtask: subtask,
                            consumer: d.consumer,
                            consumer_subtask: t,
                            input_index: d.input_index,
                        }));
                        continue;
                    }
                    let key = GateKey {
                        job,
                        round,
                        vertex: d.consumer,
                        subtask: t,
                        input_index: d.input_index,
                    };
                    senders.push(shuffle.connect(key, cancel)?);
                }
                Target::Pipelined(senders)
            }
            ResultType::Blocking => Target::Blocking {
                key: PartitionKey {
                    job,
                    round,
                    vertex: producer,
                    subtask,
                    consumer: d.consumer,
                },
                parts: (0..n).map(|_| Vec::new()).collect(),
            },
        };
        Ok(Self {
            strategy: d.ship_strategy.clone(),
            target,
            channel: subtask,
            next: subtask as usize,
            hashes: Vec::new(),
            max_parallelism: d.max_parallelism,
            backpressured: Duration::ZERO,
            metrics: None,
        })
    }

    /// Accounts the time this writer waits for room as the task's backpressured phase.
    pub fn report_to(&mut self, metrics: Arc<TaskMetrics>) {
        self.metrics = Some(metrics);
    }

    fn width(&self) -> usize {
        match &self.target {
            Target::Pipelined(s) => s.len(),
            Target::Blocking { parts, .. } => parts.len(),
        }
    }

    /// The single target of a FORWARD edge: the only sender (pipelined) or the partition with this
    /// producer's index (blocking).
    fn forward_target(&self) -> usize {
        match &self.target {
            Target::Pipelined(_) => 0,
            Target::Blocking { .. } => self.channel as usize,
        }
    }

    fn send(
        &mut self,
        target: usize,
        e: StreamElement,
        cancel: &AtomicBool,
    ) -> Result<(), TaskError> {
        match &mut self.target {
            Target::Pipelined(senders) => {
                let tx = &senders[target];
                let mut msg = (self.channel, e);
                // fast path: room in the channel
                match tx.try_send(msg) {
                    Ok(()) => return Ok(()),
                    Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                        return Err(TaskError::Disconnected("the consumer task ended".into()))
                    }
                    Err(crossbeam_channel::TrySendError::Full(m)) => msg = m,
                }
                let start = Instant::now();
                let resume = self
                    .metrics
                    .as_ref()
                    .map(|m| m.enter(Phase::BackPressured).0);
                let _back = Resume(self.metrics.as_deref(), resume);
                loop {
                    match tx.send_timeout(msg, Duration::from_millis(50)) {
                        Ok(()) => break,
                        Err(crossbeam_channel::SendTimeoutError::Timeout(m)) => {
                            if cancel.load(Ordering::Relaxed) {
                                return Err(TaskError::Canceled);
                            }
                            msg = m;
                        }
                        Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => {
                            return Err(TaskError::Disconnected("the consumer task ended".into()))
                        }
                    }
                }
                self.backpressured += start.elapsed();
                Ok(())
            }
            Target::Blocking { parts, .. } => {
                parts[target].push(e);
                Ok(())
            }
        }
    }

    /// Routes a batch; returns the number of rows written.
    pub fn write(&mut self, batch: RecordBatch, cancel: &AtomicBool) -> Result<(), TaskError> {
        let n = self.width();
        match &self.strategy {
            ShipStrategy::Forward => {
                self.send(self.forward_target(), StreamElement::Batch(batch), cancel)
            }
            ShipStrategy::Broadcast => {
                for t in 0..n {
                    self.send(t, StreamElement::Batch(batch.clone()), cancel)?;
                }
                Ok(())
            }
            ShipStrategy::Rebalance => {
                let t = self.next % n;
                self.next += 1;
                self.send(t, StreamElement::Batch(batch), cancel)
            }
            ShipStrategy::Hash { keys } => {
                if n == 1 {
                    return self.send(0, StreamElement::Batch(batch), cancel);
                }
                let cols: Vec<ArrayRef> = keys.iter().map(|k| batch.column(*k).clone()).collect();
                key_groups::hash_keys(&cols, batch.num_rows(), &mut self.hashes)?;
                let mut idx: Vec<Vec<u32>> = vec![Vec::new(); n];
                let max = self.max_parallelism;
                for (i, h) in self.hashes.iter().enumerate() {
                    let g = key_groups::key_group(*h, max);
                    idx[key_groups::subtask_for_key_group(g, max, n as u32) as usize]
                        .push(i as u32);
                }
                for (t, rows) in idx.into_iter().enumerate() {
                    if rows.is_empty() {
                        continue;
                    }
                    let part = if rows.len() == batch.num_rows() {
                        batch.clone()
                    } else {
                        let rows = UInt32Array::from(rows);
                        let columns = batch
                            .columns()
                            .iter()
                            .map(|c| take(c.as_ref(), &rows, None))
                            .collect::<Result<Vec<_>, _>>()?;
                        RecordBatch::try_new(batch.schema(), columns)?
                    };
                    self.send(t, StreamElement::Batch(part), cancel)?;
                }
                Ok(())
            }
        }
    }

    /// Sends a control element (watermark, end of input) to every consumer channel.
    pub fn broadcast(&mut self, e: StreamElement, cancel: &AtomicBool) -> Result<(), TaskError> {
        if self.strategy == ShipStrategy::Forward {
            return self.send(self.forward_target(), e, cancel);
        }
        for t in 0..self.width() {
            self.send(t, e.clone(), cancel)?;
        }
        Ok(())
    }

    /// End of input: BLOCKING results are published for their consumers.
    pub fn close(self, shuffle: &LocalShuffle) {
        if let Target::Blocking { key, parts } = self.target {
            shuffle.store(key, parts);
        }
    }
}
