//! Statistics in Flink's JSON shapes, shared by the views: the percentile estimate Flink uses
//! (Commons Math), and the statistics over a vertex's subtasks (`/jobs/:id/vertices/:vid`
//! entries) in Flink's `AggregatedTaskDetailsInfo` and `StatsSummaryDto` shapes.

use serde_json::{json, Map, Value};

/// A percentile as Apache Commons Math's `Percentile` (legacy estimation, Flink's histograms)
/// computes it over sorted values; NaN without values.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    if n == 1 {
        return sorted[0];
    }
    let pos = p / 100.0 * (n as f64 + 1.0);
    if pos < 1.0 {
        return sorted[0];
    }
    if pos >= n as f64 {
        return sorted[n - 1];
    }
    let lower = pos.floor();
    let d = pos - lower;
    let i = lower as usize;
    sorted[i - 1] + d * (sorted[i] - sorted[i - 1])
}

/// The IO figures of a subtask that Flink's `IOMetricsInfo` has, in its order; the `*-complete`
/// flags go with the first four.
pub(crate) const IO_FIGURES: [&str; 7] = [
    "read-bytes",
    "write-bytes",
    "read-records",
    "write-records",
    "accumulated-backpressured-time",
    "accumulated-idle-time",
    "accumulated-busy-time",
];

/// The states of Flink's per-subtask `status-duration`.
const DURATION_STATES: [&str; 5] = [
    "CREATED",
    "SCHEDULED",
    "DEPLOYING",
    "INITIALIZING",
    "RUNNING",
];

/// Commons-math's default (legacy) percentile estimate of sorted values, as Flink computes it
/// (0 without values).
fn int_percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let values: Vec<f64> = sorted.iter().map(|v| *v as f64).collect();
    percentile(&values, p) as i64
}

/// Flink's `StatsSummaryDto` of some values: min, max, avg, sum, median, p25, p75, p95.
pub fn summary(values: &[i64]) -> Value {
    let mut v = values.to_vec();
    v.sort_unstable();
    let sum: i64 = v.iter().sum();
    json!({
        "min": v.first().copied().unwrap_or(0),
        "max": v.last().copied().unwrap_or(0),
        "avg": if v.is_empty() { 0 } else { sum / v.len() as i64 },
        "sum": sum,
        "median": int_percentile(&v, 50.0),
        "p25": int_percentile(&v, 25.0),
        "p75": int_percentile(&v, 75.0),
        "p95": int_percentile(&v, 95.0),
    })
}

pub(crate) fn figure(subtask: &Value, name: &str) -> i64 {
    let m = &subtask["metrics"][name];
    m.as_i64()
        .or_else(|| m.as_f64().map(|f| f as i64))
        .unwrap_or(0)
}

/// Flink's `AggregatedTaskDetailsInfo` of some subtasks (`/jobs/:id/vertices/:vid` entries):
/// statistics of each IO figure and of the time spent in each state.
pub fn aggregated(subtasks: &[&Value]) -> Value {
    let mut metrics = Map::new();
    for name in IO_FIGURES {
        let values: Vec<i64> = subtasks.iter().map(|s| figure(s, name)).collect();
        metrics.insert(name.to_string(), summary(&values));
    }
    let mut durations = Map::new();
    for state in DURATION_STATES {
        let values: Vec<i64> = subtasks
            .iter()
            .map(|s| s["status-duration"][state].as_i64().unwrap_or(0))
            .collect();
        durations.insert(state.to_string(), summary(&values));
    }
    json!({ "metrics": metrics, "status-duration": durations })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_match_flinks_captured_figures() {
        // from the captured vertex_detail.json: two subtasks with 0 and 79917 written records
        assert_eq!(
            summary(&[79917, 0]),
            json!({"min": 0, "max": 79917, "avg": 39958, "sum": 79917, "median": 39958,
                   "p25": 0, "p75": 79917, "p95": 79917})
        );
        assert_eq!(
            summary(&[]),
            json!({"min": 0, "max": 0, "avg": 0, "sum": 0, "median": 0, "p25": 0, "p75": 0, "p95": 0})
        );
        assert_eq!(summary(&[7])["p95"], 7);
        assert_eq!(summary(&[1, 2, 3, 4])["median"], 2);
    }
}
