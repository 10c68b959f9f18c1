//! The JobMaster samples its tasks' figures: once a second for tasks in this process (their live
//! counters), on arrival for remote ones (heartbeats, final reports). The samples feed each
//! task's rate meter (per-second figures in REST and Prometheus) and, as busy time per slot and
//! interval, the cluster's [`crate::utilisation::Utilisation`].

use super::{JobMaster, JobState, TaskMetricsHandle};
use crate::task_figures::{rate_counters, TaskRateMeter, RATE_WINDOW_MS};
use std::collections::HashMap;
use strom_common::time::now_millis;
use strom_common::{AttemptId, ExecutionState};
use strom_runtime::TaskMetricsSnapshot;
use strom_scheduler::slot_pool::SlotId;

/// Live counters are sampled this often.
pub const SAMPLE_INTERVAL_MS: i64 = 1_000;

/// Index of busy time in the rate counters.
const BUSY: usize = 4;

/// What the JobMaster already reported to the cluster's utilisation, per attempt: up to when,
/// and its busy total then.
#[derive(Default)]
pub(super) struct Sampling {
    last_sample: i64,
    fed: HashMap<AttemptId, (i64, u64)>,
}

impl JobState {
    /// Adds a sample of an attempt's figures taken at `at`.
    pub(super) fn record_sample(&mut self, attempt: AttemptId, at: i64, m: &TaskMetricsSnapshot) {
        self.rates
            .entry(attempt)
            .or_insert_with(|| TaskRateMeter::new(RATE_WINDOW_MS))
            .record(at, rate_counters(m));
    }
}

impl JobMaster {
    /// Samples live tasks (at most once per [`SAMPLE_INTERVAL_MS`] unless `force`) and reports
    /// the busy time since the last report to the cluster's utilisation, per slot.
    pub(super) fn sample_metrics(&mut self, force: bool) {
        let now = now_millis();
        if !force && now - self.sampling.last_sample < SAMPLE_INTERVAL_MS {
            return;
        }
        self.sampling.last_sample = now;
        let mut per_slot: HashMap<SlotId, (i64, i64, u64)> = HashMap::new();
        {
            self.dirty = true;
            let st = &mut self.state;
            // each sample with the time it was read at
            let live: Vec<(AttemptId, i64, TaskMetricsSnapshot)> = st
                .metrics
                .iter()
                .filter_map(|(a, h)| match h {
                    TaskMetricsHandle::Live(m) => Some((*a, now_millis(), m.snapshot())),
                    TaskMetricsHandle::Reported(_) => None,
                })
                .collect();
            for (a, at, m) in live {
                st.record_sample(a, at, &m);
            }
            for v in &st.graph().vertices {
                for ev in &v.subtasks {
                    let e = &ev.current;
                    let (Some(slot), Some((at, values))) = (
                        e.slot.as_ref(),
                        st.rates.get(&e.attempt_id).and_then(|m| m.latest()),
                    ) else {
                        continue;
                    };
                    let deployed = e
                        .state_timestamps
                        .get(&ExecutionState::Deploying)
                        .copied()
                        .unwrap_or(at);
                    let fed = self
                        .sampling
                        .fed
                        .entry(e.attempt_id)
                        .or_insert((deployed.min(at), 0));
                    let busy = values[BUSY].saturating_sub(fed.1);
                    if at <= fed.0 || busy == 0 {
                        fed.0 = fed.0.max(at);
                        continue;
                    }
                    let s = per_slot.entry(slot.clone()).or_insert((fed.0, at, 0));
                    s.0 = s.0.min(fed.0);
                    s.1 = s.1.max(at);
                    s.2 += busy;
                    *fed = (at, values[BUSY]);
                }
            }
        }
        if per_slot.is_empty() {
            return;
        }
        let mut u = self.rm.utilisation.lock();
        for (from, to, busy) in per_slot.into_values() {
            // the tasks sharing a slot make it at most fully busy
            u.add_busy(from, to, busy.min((to - from).max(0) as u64) as f64);
        }
    }
}
