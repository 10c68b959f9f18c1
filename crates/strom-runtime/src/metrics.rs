//! Per-task counters, read by the JobMaster for REST and metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one task attempt. Times are in nanoseconds: busy (CPU in operators), idle
/// (waiting for input), backpressured (waiting for downstream capacity).
#[derive(Debug, Default)]
pub struct TaskMetrics {
    pub records_in: AtomicU64,
    pub records_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub busy_ns: AtomicU64,
    pub idle_ns: AtomicU64,
    pub backpressured_ns: AtomicU64,
    pub late_records_dropped: AtomicU64,
    pub skipped_rows: AtomicU64,
}

/// A point-in-time copy of [`TaskMetrics`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskMetricsSnapshot {
    pub records_in: u64,
    pub records_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub busy_ms: u64,
    pub idle_ms: u64,
    pub backpressured_ms: u64,
    pub late_records_dropped: u64,
    pub skipped_rows: u64,
}

impl TaskMetrics {
    pub fn add(counter: &AtomicU64, v: u64) {
        counter.fetch_add(v, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> TaskMetricsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TaskMetricsSnapshot {
            records_in: g(&self.records_in),
            records_out: g(&self.records_out),
            bytes_in: g(&self.bytes_in),
            bytes_out: g(&self.bytes_out),
            busy_ms: g(&self.busy_ns) / 1_000_000,
            idle_ms: g(&self.idle_ns) / 1_000_000,
            backpressured_ms: g(&self.backpressured_ns) / 1_000_000,
            late_records_dropped: g(&self.late_records_dropped),
            skipped_rows: g(&self.skipped_rows),
        }
    }
}

impl std::ops::AddAssign for TaskMetricsSnapshot {
    fn add_assign(&mut self, o: Self) {
        self.records_in += o.records_in;
        self.records_out += o.records_out;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.busy_ms += o.busy_ms;
        self.idle_ms += o.idle_ms;
        self.backpressured_ms += o.backpressured_ms;
        self.late_records_dropped += o.late_records_dropped;
        self.skipped_rows += o.skipped_rows;
    }
}
