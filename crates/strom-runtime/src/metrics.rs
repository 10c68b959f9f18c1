//! Per-task counters, read by the JobMaster for REST and metrics.
//!
//! A task's wall time splits into phases (the seed's T = T_cpu + T_io + T_network): CPU in
//! operators, I/O inside source reader and sink writer calls, idle (waiting for input) and
//! backpressured (waiting for room downstream). The task thread moves between phases through
//! [`TaskMetrics::enter`]; readers see the totals including the phase in progress, so a task
//! stuck in a long sink call shows that time before the call returns (as Flink's TimerGauge).

use std::sync::atomic::{fence, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

/// What a task's thread is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Not running its loop (setting up, or ended): counted nowhere.
    Untracked = 0,
    /// Operators at work.
    Cpu = 1,
    /// Inside a source reader or sink writer call.
    Io = 2,
    /// Waiting for input.
    Idle = 3,
    /// Waiting for output capacity (channel room, network credits).
    BackPressured = 4,
}

impl Phase {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Phase::Cpu,
            2 => Phase::Io,
            3 => Phase::Idle,
            4 => Phase::BackPressured,
            _ => Phase::Untracked,
        }
    }
}

/// Nanoseconds per phase, in [`Phase`] order (index 0, untracked, stays 0).
pub type PhaseTotals = [u64; 5];

/// The time split of one task: a single writer (the task's thread) moves between phases with
/// explicit clock readings (sans-IO: the caller passes the time); any thread reads consistent
/// totals (a sequence lock: a reader retries while a transition is being written).
#[derive(Debug, Default)]
pub struct TimeAccount {
    seq: AtomicU64,
    phase: AtomicU8,
    since_ns: AtomicU64,
    ns: [AtomicU64; 5],
}

impl TimeAccount {
    fn write(&self, f: impl FnOnce()) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        f();
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Moves to `next` at `now_ns`: the time since the last transition goes to the phase left.
    /// Returns that phase and the nanoseconds spent in it. Only the task's thread calls this.
    pub fn enter(&self, next: Phase, now_ns: u64) -> (Phase, u64) {
        let prev = Phase::from_u8(self.phase.load(Ordering::Relaxed));
        let since = self.since_ns.load(Ordering::Relaxed);
        let spent = now_ns.saturating_sub(since);
        self.write(|| {
            if prev != Phase::Untracked {
                let c = &self.ns[prev as usize];
                c.store(c.load(Ordering::Relaxed) + spent, Ordering::Relaxed);
            }
            self.phase.store(next as u8, Ordering::Relaxed);
            self.since_ns.store(now_ns.max(since), Ordering::Relaxed);
        });
        (prev, if prev == Phase::Untracked { 0 } else { spent })
    }

    /// Moves up to `ns` already counted in `from` to `to` (a reader call that returned nothing
    /// was waiting for input, not doing I/O).
    pub fn reassign(&self, from: Phase, to: Phase, ns: u64) {
        if from == to || from == Phase::Untracked || to == Phase::Untracked || ns == 0 {
            return;
        }
        self.write(|| {
            let f = &self.ns[from as usize];
            let moved = ns.min(f.load(Ordering::Relaxed));
            f.store(f.load(Ordering::Relaxed) - moved, Ordering::Relaxed);
            let t = &self.ns[to as usize];
            t.store(t.load(Ordering::Relaxed) + moved, Ordering::Relaxed);
        });
    }

    /// Totals at `now_ns`, the phase in progress included.
    pub fn totals(&self, now_ns: u64) -> PhaseTotals {
        // the writer's critical sections are a handful of stores: a few retries at most
        let mut out = [0u64; 5];
        for attempt in 0..10_000u32 {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 % 2 == 1 {
                if attempt > 100 {
                    std::thread::yield_now();
                }
                continue;
            }
            for (o, c) in out.iter_mut().zip(&self.ns) {
                *o = c.load(Ordering::Relaxed);
            }
            let phase = Phase::from_u8(self.phase.load(Ordering::Relaxed));
            let since = self.since_ns.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                if phase != Phase::Untracked {
                    out[phase as usize] += now_ns.saturating_sub(since);
                }
                return out;
            }
        }
        // a writer that never finishes its few stores is impossible; answer what was read
        out
    }
}

/// Counters of one task attempt.
#[derive(Debug)]
pub struct TaskMetrics {
    pub records_in: AtomicU64,
    pub records_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub late_records_dropped: AtomicU64,
    pub skipped_rows: AtomicU64,
    /// The task's input watermark (the minimum over its inputs), `i64::MIN` before any.
    pub input_watermark: AtomicI64,
    /// The last watermark the task emitted, `i64::MIN` before any.
    pub output_watermark: AtomicI64,
    pub time: TimeAccount,
    clock: Instant,
}

impl Default for TaskMetrics {
    fn default() -> Self {
        Self {
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            late_records_dropped: AtomicU64::new(0),
            skipped_rows: AtomicU64::new(0),
            input_watermark: AtomicI64::new(i64::MIN),
            output_watermark: AtomicI64::new(i64::MIN),
            time: TimeAccount::default(),
            clock: Instant::now(),
        }
    }
}

/// A point-in-time copy of [`TaskMetrics`]. `busy_ms` is Flink's busy time: CPU and I/O
/// (`cpu_ms` + `io_ms`); with `idle_ms` and `backpressured_ms` it covers the task's loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskMetricsSnapshot {
    pub records_in: u64,
    pub records_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub busy_ms: u64,
    pub idle_ms: u64,
    pub backpressured_ms: u64,
    #[serde(default)]
    pub io_ms: u64,
    #[serde(default)]
    pub cpu_ms: u64,
    pub late_records_dropped: u64,
    pub skipped_rows: u64,
    #[serde(default = "min_watermark")]
    pub input_watermark: i64,
    #[serde(default = "min_watermark")]
    pub output_watermark: i64,
}

fn min_watermark() -> i64 {
    i64::MIN
}

impl Default for TaskMetricsSnapshot {
    /// Nothing counted, no watermark yet.
    fn default() -> Self {
        Self {
            records_in: 0,
            records_out: 0,
            bytes_in: 0,
            bytes_out: 0,
            busy_ms: 0,
            idle_ms: 0,
            backpressured_ms: 0,
            io_ms: 0,
            cpu_ms: 0,
            late_records_dropped: 0,
            skipped_rows: 0,
            input_watermark: i64::MIN,
            output_watermark: i64::MIN,
        }
    }
}

/// Ends the time accounting of a task when dropped (whatever way its loop ended).
pub struct Accounting<'a>(&'a TaskMetrics);

impl Drop for Accounting<'_> {
    fn drop(&mut self) {
        self.0.enter(Phase::Untracked);
    }
}

impl TaskMetrics {
    pub fn add(counter: &AtomicU64, v: u64) {
        counter.fetch_add(v, Ordering::Relaxed);
    }

    fn now_ns(&self) -> u64 {
        self.clock.elapsed().as_nanos() as u64
    }

    /// The task's thread moves to `next`; returns the phase it left and the nanoseconds spent
    /// in it.
    pub fn enter(&self, next: Phase) -> (Phase, u64) {
        self.time.enter(next, self.now_ns())
    }

    /// Starts accounting in `first`; the guard stops it (untracked) when dropped.
    pub fn account(&self, first: Phase) -> Accounting<'_> {
        self.enter(first);
        Accounting(self)
    }

    /// Runs `f` as I/O (a reader or writer call) and returns to the phase before.
    pub fn io<T>(&self, f: impl FnOnce() -> T) -> T {
        let (prev, _) = self.enter(Phase::Io);
        let r = f();
        self.enter(prev);
        r
    }

    /// Moves up to `ns` from one phase's total to another's.
    pub fn reassign(&self, from: Phase, to: Phase, ns: u64) {
        self.time.reassign(from, to, ns);
    }

    pub fn snapshot(&self) -> TaskMetricsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let t = self.time.totals(self.now_ns());
        let ms = |p: Phase| t[p as usize] / 1_000_000;
        let (cpu, io) = (ms(Phase::Cpu), ms(Phase::Io));
        TaskMetricsSnapshot {
            records_in: g(&self.records_in),
            records_out: g(&self.records_out),
            bytes_in: g(&self.bytes_in),
            bytes_out: g(&self.bytes_out),
            busy_ms: cpu + io,
            idle_ms: ms(Phase::Idle),
            backpressured_ms: ms(Phase::BackPressured),
            io_ms: io,
            cpu_ms: cpu,
            late_records_dropped: g(&self.late_records_dropped),
            skipped_rows: g(&self.skipped_rows),
            input_watermark: self.input_watermark.load(Ordering::Relaxed),
            output_watermark: self.output_watermark.load(Ordering::Relaxed),
        }
    }
}

impl std::ops::AddAssign for TaskMetricsSnapshot {
    /// Sums counters and times; watermarks take the minimum (a vertex's watermark is its
    /// slowest subtask's).
    fn add_assign(&mut self, o: Self) {
        let first = *self == Self::default();
        self.records_in += o.records_in;
        self.records_out += o.records_out;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.busy_ms += o.busy_ms;
        self.idle_ms += o.idle_ms;
        self.backpressured_ms += o.backpressured_ms;
        self.io_ms += o.io_ms;
        self.cpu_ms += o.cpu_ms;
        self.late_records_dropped += o.late_records_dropped;
        self.skipped_rows += o.skipped_rows;
        if first {
            self.input_watermark = o.input_watermark;
            self.output_watermark = o.output_watermark;
        } else {
            self.input_watermark = self.input_watermark.min(o.input_watermark);
            self.output_watermark = self.output_watermark.min(o.output_watermark);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn phases_split_the_time_between_transitions() {
        let t = TimeAccount::default();
        t.enter(Phase::Idle, 100);
        t.enter(Phase::Cpu, 400); // 300 idle
        t.enter(Phase::Io, 450); // 50 cpu
        t.enter(Phase::Cpu, 1450); // 1000 io
        t.enter(Phase::BackPressured, 1500); // 50 cpu
        t.enter(Phase::Untracked, 1700); // 200 backpressured
        assert_eq!(t.totals(99_999), [0, 100, 1000, 300, 200]);
    }

    #[test]
    fn the_phase_in_progress_counts_when_read() {
        let t = TimeAccount::default();
        t.enter(Phase::Io, 0);
        assert_eq!(t.totals(5_000)[Phase::Io as usize], 5_000);
        t.enter(Phase::Cpu, 6_000);
        assert_eq!(t.totals(6_500), [0, 500, 6_000, 0, 0]);
    }

    #[test]
    fn reassign_moves_at_most_what_is_there() {
        let t = TimeAccount::default();
        t.enter(Phase::Io, 0);
        t.enter(Phase::Cpu, 700);
        t.reassign(Phase::Io, Phase::Idle, 500);
        t.reassign(Phase::Io, Phase::Idle, 500);
        t.enter(Phase::Untracked, 700);
        assert_eq!(t.totals(700), [0, 0, 0, 700, 0]);
    }

    #[test]
    fn readers_on_other_threads_see_consistent_totals() {
        // the writer keeps the sum of its phases equal to the clock it passes; a torn read
        // would see a sum that is neither the old nor the new clock
        let t = std::sync::Arc::new(TimeAccount::default());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (t2, stop2) = (t.clone(), stop.clone());
        let writer = std::thread::spawn(move || {
            let phases = [Phase::Cpu, Phase::Io, Phase::Idle, Phase::BackPressured];
            let mut now = 0u64;
            t2.enter(Phase::Cpu, 0);
            for i in 0..200_000u64 {
                now += 1 + i % 7;
                t2.enter(phases[(i % 4) as usize], now);
            }
            stop2.store(true, Ordering::Relaxed);
            now
        });
        let mut reads = 0;
        while !stop.load(Ordering::Relaxed) {
            let tot = t.totals(0);
            // totals at clock 0: only completed phases; their sum is the `since` of the phase
            // in progress, which the writer only raises
            let sum: u64 = tot.iter().sum();
            assert!(sum <= 200_000 * 7, "{tot:?}");
            reads += 1;
        }
        let end = writer.join().unwrap();
        let tot = t.totals(end);
        assert_eq!(
            tot.iter().sum::<u64>(),
            end,
            "every nanosecond is in one phase"
        );
        assert!(reads > 0);
    }

    fn phase() -> impl Strategy<Value = Phase> {
        prop_oneof![
            Just(Phase::Untracked),
            Just(Phase::Cpu),
            Just(Phase::Io),
            Just(Phase::Idle),
            Just(Phase::BackPressured)
        ]
    }

    proptest! {
        /// Against a model kept independently: each step's time goes to the phase it was in;
        /// the tracked totals equal the time spent outside Untracked.
        #[test]
        fn totals_match_a_step_model(steps in proptest::collection::vec((phase(), 0u64..10_000), 1..60)) {
            let t = TimeAccount::default();
            let mut model = [0u64; 5];
            let mut now = 0u64;
            let mut current = Phase::Untracked;
            for (p, dt) in steps {
                now += dt;
                model[current as usize] += dt;
                t.enter(p, now);
                current = p;
            }
            model[0] = 0;
            prop_assert_eq!(t.totals(now), model);
        }
    }

    #[test]
    fn snapshots_split_busy_into_cpu_and_io() {
        let m = TaskMetrics::default();
        {
            let _a = m.account(Phase::Cpu);
            m.io(|| std::thread::sleep(std::time::Duration::from_millis(30)));
        }
        let s = m.snapshot();
        assert!(s.io_ms >= 30, "{s:?}");
        assert_eq!(s.busy_ms, s.cpu_ms + s.io_ms);
        // ended: nothing more accrues
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(m.snapshot(), s);
    }
}
