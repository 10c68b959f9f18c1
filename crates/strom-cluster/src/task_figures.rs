//! A task's figures as REST and Prometheus show them: totals from its counters and per-second
//! rates from the JobMaster's samples, under Flink's metric names.

use crate::rate_meter::RateMeter;
use strom_runtime::TaskMetricsSnapshot;

/// Per-second rates are taken over this window.
pub const RATE_WINDOW_MS: i64 = 5_000;

/// The counters whose rates are kept, in this order.
pub const RATE_COUNTERS: usize = 9;

pub type TaskRateMeter = RateMeter<RATE_COUNTERS>;

pub fn rate_counters(m: &TaskMetricsSnapshot) -> [u64; RATE_COUNTERS] {
    [
        m.records_in,
        m.records_out,
        m.bytes_in,
        m.bytes_out,
        m.busy_ms,
        m.idle_ms,
        m.backpressured_ms,
        m.io_ms,
        m.cpu_ms,
    ]
}

/// Per-second rates of one task (0 for a task that is not running). Times are in ms per
/// second, at most 1000.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct TaskRates {
    pub records_in: f64,
    pub records_out: f64,
    pub bytes_in: f64,
    pub bytes_out: f64,
    pub busy: f64,
    pub idle: f64,
    pub backpressured: f64,
    pub io: f64,
    pub cpu: f64,
}

impl TaskRates {
    pub fn from_meter(m: &TaskRateMeter) -> Self {
        let r = m.per_second();
        let ms = |v: f64| v.min(1000.0);
        Self {
            records_in: r[0],
            records_out: r[1],
            bytes_in: r[2],
            bytes_out: r[3],
            busy: ms(r[4]),
            idle: ms(r[5]),
            backpressured: ms(r[6]),
            io: ms(r[7]),
            cpu: ms(r[8]),
        }
    }

    /// Sums rates (a vertex's records per second are its subtasks' sum).
    pub fn add(&mut self, o: &Self) {
        self.records_in += o.records_in;
        self.records_out += o.records_out;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.busy += o.busy;
        self.idle += o.idle;
        self.backpressured += o.backpressured;
        self.io += o.io;
        self.cpu += o.cpu;
    }
}

/// A metric's value: a count, a rate, or a gauge (watermarks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricValue {
    Count(u64),
    Rate(f64),
    Gauge(i64),
}

impl MetricValue {
    pub fn as_f64(self) -> f64 {
        match self {
            Self::Count(v) => v as f64,
            Self::Rate(v) => v,
            Self::Gauge(v) => v as f64,
        }
    }
}

impl std::fmt::Display for MetricValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Count(v) => write!(f, "{v}"),
            Self::Rate(v) => write!(f, "{v:?}"),
            Self::Gauge(v) => write!(f, "{v}"),
        }
    }
}

/// Totals and rates of one task (its current attempt).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct TaskFigures {
    pub totals: TaskMetricsSnapshot,
    pub rates: TaskRates,
}

/// The task metric names, as Flink names them (Strom's own: `accumulateIoTimeMs`,
/// `accumulateCpuTimeMs`, `ioTimeMsPerSecond`, `cpuTimeMsPerSecond`).
pub const TASK_METRIC_NAMES: [&str; 22] = [
    "numRecordsIn",
    "numRecordsOut",
    "numBytesIn",
    "numBytesOut",
    "numLateRecordsDropped",
    "numRecordsInErrors",
    "accumulateBusyTimeMs",
    "accumulateIdleTimeMs",
    "accumulateBackPressuredTimeMs",
    "accumulateIoTimeMs",
    "accumulateCpuTimeMs",
    "numRecordsInPerSecond",
    "numRecordsOutPerSecond",
    "numBytesInPerSecond",
    "numBytesOutPerSecond",
    "busyTimeMsPerSecond",
    "idleTimeMsPerSecond",
    "backPressuredTimeMsPerSecond",
    "ioTimeMsPerSecond",
    "cpuTimeMsPerSecond",
    "currentInputWatermark",
    "currentOutputWatermark",
];

impl TaskFigures {
    /// The value of a task metric by its name (one of [`TASK_METRIC_NAMES`]).
    pub fn get(&self, name: &str) -> Option<MetricValue> {
        use MetricValue::*;
        let (t, r) = (&self.totals, &self.rates);
        Some(match name {
            "numRecordsIn" => Count(t.records_in),
            "numRecordsOut" => Count(t.records_out),
            "numBytesIn" => Count(t.bytes_in),
            "numBytesOut" => Count(t.bytes_out),
            "numLateRecordsDropped" => Count(t.late_records_dropped),
            "numRecordsInErrors" => Count(t.skipped_rows),
            "accumulateBusyTimeMs" => Count(t.busy_ms),
            "accumulateIdleTimeMs" => Count(t.idle_ms),
            "accumulateBackPressuredTimeMs" => Count(t.backpressured_ms),
            "accumulateIoTimeMs" => Count(t.io_ms),
            "accumulateCpuTimeMs" => Count(t.cpu_ms),
            "numRecordsInPerSecond" => Rate(r.records_in),
            "numRecordsOutPerSecond" => Rate(r.records_out),
            "numBytesInPerSecond" => Rate(r.bytes_in),
            "numBytesOutPerSecond" => Rate(r.bytes_out),
            "busyTimeMsPerSecond" => Rate(r.busy),
            "idleTimeMsPerSecond" => Rate(r.idle),
            "backPressuredTimeMsPerSecond" => Rate(r.backpressured),
            "ioTimeMsPerSecond" => Rate(r.io),
            "cpuTimeMsPerSecond" => Rate(r.cpu),
            "currentInputWatermark" => Gauge(t.input_watermark),
            "currentOutputWatermark" => Gauge(t.output_watermark),
            _ => return None,
        })
    }

    /// Every metric with a value, in [`TASK_METRIC_NAMES`] order.
    pub fn named(&self) -> Vec<(&'static str, MetricValue)> {
        TASK_METRIC_NAMES
            .iter()
            .filter_map(|n| self.get(n).map(|v| (*n, v)))
            .collect()
    }

    /// The names [`TaskFigures::named`] gives.
    pub fn names() -> Vec<&'static str> {
        Self::default()
            .named()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_has_a_value() {
        let names = TaskFigures::names();
        assert_eq!(names, TASK_METRIC_NAMES);
        assert!(names.contains(&"busyTimeMsPerSecond"));
        assert!(names.contains(&"accumulateBusyTimeMs"));
    }

    #[test]
    fn time_rates_are_capped_at_a_second_per_second() {
        let mut m = TaskRateMeter::new(RATE_WINDOW_MS);
        m.record(0, [0; RATE_COUNTERS]);
        // busy 1005 ms in 1000 ms: sampling jitter, not a busier-than-possible task
        m.record(1_000, [2_000, 0, 0, 0, 1_005, 0, 0, 0, 1_005]);
        let r = TaskRates::from_meter(&m);
        assert_eq!(r.busy, 1000.0);
        assert_eq!(r.records_in, 2_000.0);
    }
}
