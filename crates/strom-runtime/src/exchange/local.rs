//! The in-process shuffle service: pipelined input gates (bounded channels) and stored BLOCKING
//! partitions of the tasks of one process.

use super::ids::{GateKey, Message, PartitionKey, CHANNEL_CAPACITY};
use crate::element::StreamElement;
use crate::error::TaskError;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use strom_common::{JobId, VertexId};

#[derive(Default)]
struct Registry {
    gates: HashMap<GateKey, Sender<Message>>,
    stored: HashMap<PartitionKey, Vec<Vec<StreamElement>>>,
}

/// The in-process shuffle service shared by the TaskManagers of one process.
#[derive(Clone, Default)]
pub struct LocalShuffle {
    inner: Arc<(Mutex<Registry>, Condvar)>,
}

impl LocalShuffle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a pipelined input gate fed by `channels` producer channels.
    pub fn open_gate(&self, key: GateKey, channels: usize) -> Receiver<Message> {
        let (tx, rx) = bounded(CHANNEL_CAPACITY * channels.max(1));
        let (lock, cv) = &*self.inner;
        lock.lock().gates.insert(key, tx);
        cv.notify_all();
        rx
    }

    /// Creates an input gate over BLOCKING partitions already produced by `producers` subtasks of
    /// `producer` in this process, subtask p's in round `round_of(p)` (those in `remote` are
    /// fetched over the network instead). The partitions stay for another attempt of the
    /// consumer until [`Self::release_results`].
    pub fn open_stored_gate(
        &self,
        gate: GateKey,
        producer: VertexId,
        producers: u32,
        forward: bool,
        round_of: impl Fn(u32) -> u32,
        remote: &[u32],
    ) -> Result<Receiver<Message>, TaskError> {
        let GateKey {
            job,
            vertex: consumer,
            subtask,
            ..
        } = gate;
        let (tx, rx) = unbounded();
        let reg = self.inner.0.lock();
        let range = if forward {
            subtask..subtask + 1
        } else {
            0..producers
        };
        for p in range.filter(|p| !remote.contains(p)) {
            let key = PartitionKey {
                job,
                round: round_of(p),
                vertex: producer,
                subtask: p,
                consumer,
            };
            let elements = reg
                .stored
                .get(&key)
                .and_then(|parts| parts.get(subtask as usize))
                .ok_or_else(|| {
                    TaskError::Deployment(format!(
                        "the result of {producer} subtask {p} is not available"
                    ))
                })?;
            for e in elements {
                let _ = tx.send((p, e.clone()));
            }
        }
        Ok(rx)
    }

    pub(super) fn connect(
        &self,
        key: GateKey,
        cancel: &AtomicBool,
    ) -> Result<Sender<Message>, TaskError> {
        let (lock, cv) = &*self.inner;
        let mut reg = lock.lock();
        loop {
            if let Some(tx) = reg.gates.get(&key) {
                return Ok(tx.clone());
            }
            if cancel.load(Ordering::Relaxed) {
                return Err(TaskError::Canceled);
            }
            cv.wait_for(&mut reg, Duration::from_millis(50));
        }
    }

    /// The stored elements a BLOCKING producer subtask wrote for consumer subtask
    /// `consumer_subtask` (`None` when the partition is not (or no longer) there). They stay for
    /// another attempt of the consumer until [`Self::release_results`].
    pub fn stored(&self, key: PartitionKey, consumer_subtask: u32) -> Option<Vec<StreamElement>> {
        let reg = self.inner.0.lock();
        reg.stored
            .get(&key)?
            .get(consumer_subtask as usize)
            .cloned()
    }

    pub(super) fn store(&self, key: PartitionKey, parts: Vec<Vec<StreamElement>>) {
        self.inner.0.lock().stored.insert(key, parts);
    }

    /// Forgets the stored partitions of `producer` in every round: their consumers finished.
    pub fn release_results(&self, job: JobId, producer: VertexId) {
        self.inner
            .0
            .lock()
            .stored
            .retain(|k, _| !(k.job == job && k.vertex == producer));
    }

    /// Forgets every gate and stored partition of a job round (job end or restart).
    pub fn release(&self, job: JobId, round: u32) {
        let mut reg = self.inner.0.lock();
        reg.gates.retain(|k, _| !(k.job == job && k.round == round));
        reg.stored
            .retain(|k, _| !(k.job == job && k.round == round));
    }
}
