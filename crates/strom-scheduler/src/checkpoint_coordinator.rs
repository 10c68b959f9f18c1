//! The checkpoint coordinator (Flink's `CheckpointCoordinator`), sans-IO: it decides when to
//! trigger a checkpoint, collects the acknowledgements of every task, and completes a checkpoint
//! only when all tasks acknowledged **and** its metadata is durably written. The caller performs
//! the [`CheckpointCommand`]s (inject barriers at the sources, write the metadata, notify tasks)
//! and feeds back what happened; time comes in as `now` (epoch ms).
//!
//! Rules:
//! - periodic triggering every `interval_ms`, never within `min_pause_ms` after the last
//!   completion (or abort) and never with `max_concurrent` checkpoints pending;
//! - a checkpoint still pending `timeout_ms` after its trigger is aborted;
//! - a decline or a task failure aborts the pending checkpoints (a failed task's acknowledgements
//!   cannot be trusted); acknowledgements of unknown, aborted or completed checkpoints are
//!   ignored;
//! - completing checkpoint `n` subsumes every pending checkpoint older than `n` (aborted as
//!   subsumed), and completed checkpoints are retained up to `num_retained`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
pub use strom_common::DeclineKind;

/// A task that takes part in checkpoints: (vertex index, subtask index).
pub type TaskKey = (u32, u32);

/// `execution.checkpointing.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointConfig {
    pub interval_ms: i64,
    pub timeout_ms: i64,
    pub min_pause_ms: i64,
    pub max_concurrent: usize,
    pub num_retained: usize,
}

impl Default for CheckpointConfig {
    /// Flink's defaults, with a 1 s interval.
    fn default() -> Self {
        Self {
            interval_ms: 1_000,
            timeout_ms: 600_000,
            min_pause_ms: 0,
            max_concurrent: 1,
            num_retained: 1,
        }
    }
}

/// Why a checkpoint was aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbortReason {
    Expired,
    Declined {
        task: TaskKey,
        kind: DeclineKind,
        reason: String,
    },
    TaskFailed(TaskKey),
    Subsumed,
    MetadataWriteFailed(String),
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointCommand {
    /// Inject barrier `id` at every source task.
    Trigger { id: u64, timestamp: i64 },
    /// Every task acknowledged: write the metadata (the handles, in task order) durably, then
    /// call [`CheckpointCoordinator::metadata_written`].
    WriteMetadata {
        id: u64,
        handles: Vec<(TaskKey, String)>,
    },
    /// The checkpoint is complete: tasks may commit side effects (two-phase commit sinks).
    NotifyComplete { id: u64 },
    /// The checkpoint is aborted: tasks drop what they prepared for it.
    NotifyAborted { id: u64, reason: AbortReason },
    /// A retained checkpoint fell out of retention: its files may be deleted.
    Discard { id: u64 },
}

#[derive(Debug, Clone)]
struct Pending {
    timestamp: i64,
    awaiting: BTreeSet<TaskKey>,
    handles: BTreeMap<TaskKey, String>,
    /// All acknowledged; the metadata is being written.
    writing: bool,
}

/// A completed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedCheckpoint {
    pub id: u64,
    pub timestamp: i64,
    pub completed_at: i64,
    pub handles: Vec<(TaskKey, String)>,
}

/// Counts for `/jobs/:id/checkpoints`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointCounts {
    pub triggered: u64,
    pub completed: u64,
    pub failed: u64,
}

pub struct CheckpointCoordinator {
    config: CheckpointConfig,
    tasks: BTreeSet<TaskKey>,
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
    completed: VecDeque<CompletedCheckpoint>,
    /// When the last checkpoint completed or was aborted (for the minimum pause).
    last_finished: Option<i64>,
    last_trigger: Option<i64>,
    counts: CheckpointCounts,
    stopped: bool,
}

impl CheckpointCoordinator {
    /// A coordinator for a job whose tasks are `tasks`; the first id is `first_id` (after a
    /// restore: the restored id + 1).
    pub fn new(
        config: CheckpointConfig,
        tasks: impl IntoIterator<Item = TaskKey>,
        first_id: u64,
    ) -> Self {
        Self {
            config,
            tasks: tasks.into_iter().collect(),
            next_id: first_id.max(1),
            pending: BTreeMap::new(),
            completed: VecDeque::new(),
            last_finished: None,
            last_trigger: None,
            counts: CheckpointCounts::default(),
            stopped: false,
        }
    }

    pub fn counts(&self) -> &CheckpointCounts {
        &self.counts
    }

    pub fn pending_ids(&self) -> Vec<u64> {
        self.pending.keys().copied().collect()
    }

    pub fn latest_completed(&self) -> Option<&CompletedCheckpoint> {
        self.completed.back()
    }

    pub fn completed(&self) -> impl Iterator<Item = &CompletedCheckpoint> {
        self.completed.iter()
    }

    /// Stops periodic triggering (the job is ending or restarting); pending checkpoints are
    /// aborted by [`CheckpointCoordinator::task_failed`] or run to their end.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Time passes: expires overdue checkpoints and triggers a new one when due.
    pub fn tick(&mut self, now: i64) -> Vec<CheckpointCommand> {
        let mut out = Vec::new();
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| now - p.timestamp >= self.config.timeout_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.abort(id, AbortReason::Expired, now, &mut out);
        }
        if self.due(now) {
            out.push(self.trigger(now, true));
        }
        out
    }

    /// Triggers a checkpoint now regardless of the interval (a savepoint or a manual trigger),
    /// unless `max_concurrent` checkpoints are pending. The periodic schedule stays as it was
    /// (as Flink's periodic trigger runs at a fixed rate whatever is triggered in between).
    pub fn trigger_now(&mut self, now: i64) -> Option<CheckpointCommand> {
        (self.pending.len() < self.config.max_concurrent.max(1) && !self.tasks.is_empty())
            .then(|| self.trigger(now, false))
    }

    fn due(&self, now: i64) -> bool {
        !self.stopped
            && !self.tasks.is_empty()
            && self.pending.len() < self.config.max_concurrent.max(1)
            && self
                .last_trigger
                .is_none_or(|t| now - t >= self.config.interval_ms)
            && self
                .last_finished
                .is_none_or(|t| now - t >= self.config.min_pause_ms)
    }

    fn trigger(&mut self, now: i64, periodic: bool) -> CheckpointCommand {
        let id = self.next_id;
        self.next_id += 1;
        if periodic {
            self.last_trigger = Some(now);
        }
        self.counts.triggered += 1;
        self.pending.insert(
            id,
            Pending {
                timestamp: now,
                awaiting: self.tasks.clone(),
                handles: BTreeMap::new(),
                writing: false,
            },
        );
        CheckpointCommand::Trigger { id, timestamp: now }
    }

    /// Task `task` acknowledged checkpoint `id` with its state handle.
    pub fn acknowledge(
        &mut self,
        id: u64,
        task: TaskKey,
        handle: String,
    ) -> Vec<CheckpointCommand> {
        let Some(p) = self.pending.get_mut(&id) else {
            return vec![];
        };
        if p.writing || !p.awaiting.remove(&task) {
            return vec![];
        }
        p.handles.insert(task, handle);
        if !p.awaiting.is_empty() {
            return vec![];
        }
        p.writing = true;
        vec![CheckpointCommand::WriteMetadata {
            id,
            handles: p.handles.iter().map(|(k, v)| (*k, v.clone())).collect(),
        }]
    }

    /// Task `task` cannot take checkpoint `id`.
    pub fn decline(
        &mut self,
        id: u64,
        task: TaskKey,
        kind: DeclineKind,
        reason: String,
        now: i64,
    ) -> Vec<CheckpointCommand> {
        let mut out = Vec::new();
        if self.pending.contains_key(&id) {
            self.abort(
                id,
                AbortReason::Declined { task, kind, reason },
                now,
                &mut out,
            );
        }
        out
    }

    /// A task failed: every pending checkpoint is aborted.
    pub fn task_failed(&mut self, task: TaskKey, now: i64) -> Vec<CheckpointCommand> {
        let mut out = Vec::new();
        let ids: Vec<u64> = self.pending.keys().copied().collect();
        for id in ids {
            self.abort(id, AbortReason::TaskFailed(task), now, &mut out);
        }
        out
    }

    /// The metadata of checkpoint `id` is durable (`Ok`) or could not be written (`Err`).
    pub fn metadata_written(
        &mut self,
        id: u64,
        result: Result<(), String>,
        now: i64,
    ) -> Vec<CheckpointCommand> {
        let mut out = Vec::new();
        match self.pending.get(&id) {
            Some(p) if p.writing => {}
            _ => return out,
        }
        if let Err(e) = result {
            self.abort(id, AbortReason::MetadataWriteFailed(e), now, &mut out);
            return out;
        }
        let p = self.pending.remove(&id).expect("checked");
        // older pending checkpoints are subsumed by this one
        let older: Vec<u64> = self.pending.range(..id).map(|(k, _)| *k).collect();
        for o in older {
            self.abort(o, AbortReason::Subsumed, now, &mut out);
        }
        self.counts.completed += 1;
        self.last_finished = Some(now);
        self.completed.push_back(CompletedCheckpoint {
            id,
            timestamp: p.timestamp,
            completed_at: now,
            handles: p.handles.into_iter().collect(),
        });
        out.push(CheckpointCommand::NotifyComplete { id });
        while self.completed.len() > self.config.num_retained.max(1) {
            let old = self.completed.pop_front().expect("non-empty");
            out.push(CheckpointCommand::Discard { id: old.id });
        }
        out
    }

    fn abort(&mut self, id: u64, reason: AbortReason, now: i64, out: &mut Vec<CheckpointCommand>) {
        if self.pending.remove(&id).is_some() {
            self.counts.failed += 1;
            self.last_finished = Some(now);
            out.push(CheckpointCommand::NotifyAborted { id, reason });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tasks() -> Vec<TaskKey> {
        vec![(0, 0), (0, 1), (1, 0)]
    }

    fn config() -> CheckpointConfig {
        CheckpointConfig {
            interval_ms: 100,
            timeout_ms: 1_000,
            min_pause_ms: 50,
            max_concurrent: 1,
            num_retained: 2,
        }
    }

    #[test]
    fn completes_only_after_every_ack_and_the_metadata() {
        let mut c = CheckpointCoordinator::new(config(), tasks(), 1);
        assert_eq!(
            c.tick(0),
            vec![CheckpointCommand::Trigger {
                id: 1,
                timestamp: 0
            }]
        );
        assert!(c.acknowledge(1, (0, 0), "a".into()).is_empty());
        assert!(c.acknowledge(1, (0, 1), "b".into()).is_empty());
        // a duplicate ack changes nothing
        assert!(c.acknowledge(1, (0, 1), "b".into()).is_empty());
        let w = c.acknowledge(1, (1, 0), "c".into());
        assert!(
            matches!(&w[..], [CheckpointCommand::WriteMetadata { id: 1, handles }] if handles.len() == 3)
        );
        assert!(
            c.latest_completed().is_none(),
            "not before the metadata is durable"
        );
        assert_eq!(
            c.metadata_written(1, Ok(()), 10),
            vec![CheckpointCommand::NotifyComplete { id: 1 }]
        );
        assert_eq!(c.latest_completed().map(|x| x.id), Some(1));
    }

    #[test]
    fn a_manual_trigger_leaves_the_periodic_schedule_alone() {
        let mut c = CheckpointCoordinator::new(config(), tasks(), 1);
        let complete = |c: &mut CheckpointCoordinator, id: u64, at: i64| {
            for t in tasks() {
                c.acknowledge(id, t, String::new());
            }
            c.metadata_written(id, Ok(()), at);
        };
        assert_eq!(c.tick(0).len(), 1);
        complete(&mut c, 1, 10);
        // a manual checkpoint at 40 (between the periodic ones at 0 and 100)
        assert_eq!(
            c.trigger_now(40),
            Some(CheckpointCommand::Trigger {
                id: 2,
                timestamp: 40
            })
        );
        // none while it is pending (max one concurrent)
        assert_eq!(c.trigger_now(41), None);
        complete(&mut c, 2, 45);
        assert!(c.tick(99).is_empty());
        assert_eq!(
            c.tick(100),
            vec![CheckpointCommand::Trigger {
                id: 3,
                timestamp: 100
            }]
        );
        assert_eq!(c.counts().completed, 2);
        assert_eq!(c.counts().triggered, 3);
    }

    #[test]
    fn expiry_pause_and_retention() {
        let mut c = CheckpointCoordinator::new(config(), tasks(), 7);
        c.tick(0);
        // max one pending: no trigger while 7 runs
        assert!(c.tick(500).is_empty());
        let out = c.tick(1_000);
        assert_eq!(
            out,
            vec![CheckpointCommand::NotifyAborted {
                id: 7,
                reason: AbortReason::Expired
            }]
        );
        // min pause after the abort at 1000
        assert!(c.tick(1_020).is_empty());
        assert_eq!(
            c.tick(1_050),
            vec![CheckpointCommand::Trigger {
                id: 8,
                timestamp: 1_050
            }]
        );
        for t in tasks() {
            c.acknowledge(8, t, String::new());
        }
        c.metadata_written(8, Ok(()), 1_060);
        // retention 2: the third completion discards the first
        for (id, t0) in [(9, 1_200), (10, 1_400)] {
            assert_eq!(
                c.tick(t0),
                vec![CheckpointCommand::Trigger { id, timestamp: t0 }]
            );
            for t in tasks() {
                c.acknowledge(id, t, String::new());
            }
            let out = c.metadata_written(id, Ok(()), t0 + 1);
            if id == 10 {
                assert!(out.contains(&CheckpointCommand::Discard { id: 8 }));
            }
        }
        assert_eq!(c.completed().map(|x| x.id).collect::<Vec<_>>(), vec![9, 10]);
    }

    #[derive(Debug, Clone)]
    enum Ev {
        Tick(i64),
        Ack(usize, usize),
        Decline(usize, usize),
        Fail(usize),
        Written(usize, bool),
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            3 => (1i64..300).prop_map(Ev::Tick),
            8 => (0usize..4, 0usize..3).prop_map(|(c, t)| Ev::Ack(c, t)),
            1 => (0usize..4, 0usize..3).prop_map(|(c, t)| Ev::Decline(c, t)),
            1 => (0usize..3).prop_map(Ev::Fail),
            3 => (0usize..4, any::<bool>()).prop_map(|(c, ok)| Ev::Written(c, ok)),
        ]
    }

    #[test]
    fn generated_runs_reach_completions() {
        // the property below is only meaningful if its runs complete checkpoints
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let mut completed = 0;
        for _ in 0..50 {
            let events = prop::collection::vec(ev(), 100..200)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            let mut c = CheckpointCoordinator::new(config(), tasks(), 1);
            let mut now = 0;
            for e in events {
                let pending = c.pending_ids();
                let pick = |i: usize| {
                    pending
                        .get(i % pending.len().max(1))
                        .copied()
                        .unwrap_or(999)
                };
                match e {
                    Ev::Tick(d) => {
                        now += d;
                        c.tick(now);
                    }
                    Ev::Ack(i, t) => {
                        c.acknowledge(pick(i), tasks()[t], String::new());
                    }
                    Ev::Written(i, ok) => {
                        c.metadata_written(
                            pick(i),
                            if ok { Ok(()) } else { Err(String::new()) },
                            now,
                        );
                    }
                    _ => {}
                }
            }
            completed += c.counts().completed;
        }
        assert!(completed > 50, "only {completed} completions in 50 runs");
    }

    proptest! {
        /// Any interleaving of time, acks, declines, failures and metadata results leaves the
        /// coordinator consistent.
        #[test]
        fn any_interleaving_keeps_the_invariants(
            events in prop::collection::vec(ev(), 1..200),
            max_concurrent in 1usize..4,
            min_pause in 0i64..200,
        ) {
            let cfg = CheckpointConfig { max_concurrent, min_pause_ms: min_pause, ..config() };
            let ts = tasks();
            let mut c = CheckpointCoordinator::new(cfg.clone(), ts.clone(), 1);
            let mut now = 0i64;
            let mut acked: BTreeMap<u64, BTreeSet<TaskKey>> = BTreeMap::new();
            let mut written_ok: BTreeSet<u64> = BTreeSet::new();
            let mut triggers: Vec<(u64, i64)> = Vec::new();
            let mut finished_at: Vec<i64> = Vec::new();
            let mut completed: Vec<u64> = Vec::new();
            for e in events {
                let pending = c.pending_ids();
                let pick = |i: usize| pending.get(i % pending.len().max(1)).copied().unwrap_or(999);
                let out = match e {
                    Ev::Tick(d) => { now += d; c.tick(now) }
                    Ev::Ack(i, t) => {
                        let id = pick(i);
                        let r = c.acknowledge(id, ts[t], format!("h{id}"));
                        if pending.contains(&id) { acked.entry(id).or_default().insert(ts[t]); }
                        r
                    }
                    Ev::Decline(i, t) => c.decline(pick(i), ts[t], DeclineKind::Failed, "no".into(), now),
                    Ev::Fail(t) => c.task_failed(ts[t], now),
                    Ev::Written(i, ok) => {
                        let id = pick(i);
                        if ok { written_ok.insert(id); }
                        c.metadata_written(id, if ok { Ok(()) } else { Err("disk".into()) }, now)
                    }
                };
                for cmd in &out {
                    match cmd {
                        CheckpointCommand::Trigger { id, timestamp } => {
                            // min pause since the last completion or abort
                            if let Some(f) = finished_at.last() {
                                prop_assert!(timestamp - f >= min_pause);
                            }
                            if let Some((last, _)) = triggers.last() {
                                prop_assert!(id > last, "ids increase");
                            }
                            triggers.push((*id, *timestamp));
                        }
                        CheckpointCommand::NotifyComplete { id } => {
                            // every task acknowledged and the metadata is durable
                            prop_assert_eq!(acked.get(id).map(|s| s.len()), Some(ts.len()));
                            prop_assert!(written_ok.contains(id));
                            if let Some(last) = completed.last() { prop_assert!(id > last); }
                            completed.push(*id);
                            finished_at.push(now);
                        }
                        CheckpointCommand::NotifyAborted { id, .. } => {
                            prop_assert!(!completed.contains(id));
                            finished_at.push(now);
                        }
                        _ => {}
                    }
                }
                prop_assert!(c.pending_ids().len() <= max_concurrent);
                // a completed or aborted checkpoint is never pending again
                for id in c.pending_ids() { prop_assert!(!completed.contains(&id)); }
                prop_assert!(c.completed().count() <= cfg.num_retained);
                let counts = c.counts();
                prop_assert_eq!(counts.triggered, counts.completed + counts.failed + c.pending_ids().len() as u64);
            }
        }
    }
}
