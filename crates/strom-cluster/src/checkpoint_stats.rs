//! What REST shows of a job's checkpoints (Flink's `CheckpointStatsTracker`): counts, recent
//! history, the latest completed, failed, savepoint and restored checkpoints.

use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointStatus {
    InProgress,
    Completed,
    Failed,
}

impl CheckpointStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
        }
    }
}

/// One checkpoint's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointRecord {
    pub id: u64,
    pub status: CheckpointStatus,
    pub savepoint: bool,
    pub trigger_timestamp: i64,
    pub latest_ack_timestamp: i64,
    pub state_size: u64,
    pub num_subtasks: usize,
    pub num_acknowledged: usize,
    /// Where the checkpoint (savepoint) is, once completed.
    pub external_path: Option<String>,
    pub failure_message: Option<String>,
    pub failure_timestamp: Option<i64>,
    /// Acknowledged subtasks by vertex position: (subtask, ack time, state size).
    pub acks: Vec<Vec<(u32, i64, u64)>>,
}

impl CheckpointRecord {
    pub fn end_to_end_duration(&self) -> i64 {
        let end = match self.status {
            CheckpointStatus::Failed => self.failure_timestamp.unwrap_or(self.latest_ack_timestamp),
            _ => self.latest_ack_timestamp,
        };
        (end - self.trigger_timestamp).max(0)
    }
}

/// `execution.checkpointing.*` as configured, for `/checkpoints/config`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckpointSettingsView {
    pub enabled: bool,
    pub interval_ms: i64,
    pub timeout_ms: i64,
    pub min_pause_ms: i64,
    pub max_concurrent: usize,
    pub num_retained: usize,
    /// `execution.checkpointing.tolerable-failed-checkpoints`.
    pub tolerable_failed_checkpoints: u32,
    pub dir: String,
}

#[derive(Debug, Clone, Default)]
pub struct CheckpointStats {
    pub settings: CheckpointSettingsView,
    pub triggered: u64,
    pub completed: u64,
    pub failed: u64,
    pub in_progress: u64,
    pub restored: u64,
    pub history: VecDeque<CheckpointRecord>,
    pub latest_completed: Option<CheckpointRecord>,
    pub latest_savepoint: Option<CheckpointRecord>,
    pub latest_failed: Option<CheckpointRecord>,
    /// (checkpoint id, restore time, external path, is savepoint)
    pub latest_restored: Option<(u64, i64, String, bool)>,
    /// The job started from a savepoint: which operators got state and which start empty.
    pub restore_report: Vec<String>,
}

const HISTORY: usize = 10;

impl CheckpointStats {
    pub fn record(&self, id: u64) -> Option<&CheckpointRecord> {
        self.history.iter().find(|r| r.id == id)
    }

    fn record_mut(&mut self, id: u64) -> Option<&mut CheckpointRecord> {
        self.history.iter_mut().find(|r| r.id == id)
    }

    pub fn triggered(&mut self, id: u64, now: i64, savepoint: bool, vertices: &[usize]) {
        self.triggered += 1;
        self.in_progress += 1;
        self.history.push_front(CheckpointRecord {
            id,
            status: CheckpointStatus::InProgress,
            savepoint,
            trigger_timestamp: now,
            latest_ack_timestamp: now,
            state_size: 0,
            num_subtasks: vertices.iter().sum(),
            num_acknowledged: 0,
            external_path: None,
            failure_message: None,
            failure_timestamp: None,
            acks: vertices.iter().map(|_| Vec::new()).collect(),
        });
        while self.history.len() > HISTORY {
            self.history.pop_back();
        }
    }

    pub fn acknowledged(&mut self, id: u64, vertex: usize, subtask: u32, now: i64, size: u64) {
        if let Some(r) = self.record_mut(id) {
            r.num_acknowledged += 1;
            r.latest_ack_timestamp = now;
            r.state_size += size;
            if let Some(v) = r.acks.get_mut(vertex) {
                v.push((subtask, now, size));
            }
        }
    }

    pub fn completed(&mut self, id: u64, path: String) {
        self.completed += 1;
        self.in_progress = self.in_progress.saturating_sub(1);
        if let Some(r) = self.record_mut(id) {
            r.status = CheckpointStatus::Completed;
            r.external_path = Some(path);
            let r = r.clone();
            if r.savepoint {
                self.latest_savepoint = Some(r.clone());
            }
            self.latest_completed = Some(r);
        }
    }

    pub fn failed(&mut self, id: u64, now: i64, message: String) {
        self.failed += 1;
        self.in_progress = self.in_progress.saturating_sub(1);
        if let Some(r) = self.record_mut(id) {
            r.status = CheckpointStatus::Failed;
            r.failure_message = Some(message);
            r.failure_timestamp = Some(now);
            self.latest_failed = Some(r.clone());
        }
    }
}
