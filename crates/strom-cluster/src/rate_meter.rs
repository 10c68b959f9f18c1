//! Per-second rates of monotonic counters from timestamped samples over a sliding window (Flink's
//! `MeterView`, over a short window). Sans-IO: the caller passes the sample times.

use std::collections::VecDeque;

/// At most this many samples are kept, whatever the sampling rate.
pub const MAX_SAMPLES: usize = 128;

/// Rates of `N` counters: each the increase between the newest sample and the newest one at
/// least `window_ms` older (or the oldest kept, while the meter is younger than its window),
/// divided by the time between them.
#[derive(Debug, Clone)]
pub struct RateMeter<const N: usize> {
    window_ms: i64,
    samples: VecDeque<(i64, [u64; N])>,
}

impl<const N: usize> RateMeter<N> {
    pub fn new(window_ms: i64) -> Self {
        Self {
            window_ms: window_ms.max(1),
            samples: VecDeque::new(),
        }
    }

    /// Adds the counters' values at `at_ms`. A sample older than the newest is ignored; one at
    /// the same time replaces it.
    pub fn record(&mut self, at_ms: i64, values: [u64; N]) {
        match self.samples.back_mut() {
            Some((t, _)) if at_ms < *t => return,
            Some((t, v)) if at_ms == *t => *v = values,
            _ => self.samples.push_back((at_ms, values)),
        }
        // the base is the newest sample at least a window old: everything before it goes
        while self.samples.len() > 2 && self.samples[1].0 <= at_ms - self.window_ms {
            self.samples.pop_front();
        }
        while self.samples.len() > MAX_SAMPLES {
            self.samples.pop_front();
        }
    }

    /// The newest sample.
    pub fn latest(&self) -> Option<(i64, [u64; N])> {
        self.samples.back().copied()
    }

    /// Increase per second of each counter; zeros until two samples are apart in time. A
    /// counter that went down (a new attempt) counts as no increase.
    pub fn per_second(&self) -> [f64; N] {
        let mut out = [0.0; N];
        let (Some((t0, v0)), Some((t1, v1))) = (self.samples.front(), self.samples.back()) else {
            return out;
        };
        let dt = t1 - t0;
        if dt <= 0 {
            return out;
        }
        for (o, (a, b)) in out.iter_mut().zip(v0.iter().zip(v1)) {
            *o = b.saturating_sub(*a) as f64 * 1000.0 / dt as f64;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_steady_counter_has_its_rate() {
        let mut m = RateMeter::<1>::new(5_000);
        assert_eq!(m.per_second(), [0.0]);
        for s in 0..20i64 {
            m.record(s * 1_000, [(s * 250) as u64]);
        }
        assert_eq!(m.per_second(), [250.0]);
    }

    #[test]
    fn the_window_forgets_old_bursts() {
        let mut m = RateMeter::<1>::new(5_000);
        m.record(0, [0]);
        m.record(1_000, [10_000]); // a burst
        for s in 2..=10i64 {
            m.record(s * 1_000, [10_000 + (s as u64 - 1) * 10]);
        }
        // from 5 s to 10 s: 50 more
        assert_eq!(m.per_second(), [10.0]);
    }

    #[test]
    fn sparse_samples_use_the_previous_one() {
        // remote figures every 10 s with a 5 s window: the rate spans the last 10 s
        let mut m = RateMeter::<1>::new(5_000);
        m.record(0, [0]);
        m.record(10_000, [1_000]);
        m.record(20_000, [3_000]);
        assert_eq!(m.per_second(), [200.0]);
    }

    proptest! {
        /// Against a direct computation over all samples: the rate is the increase since the
        /// newest sample at least a window older than the newest (or the first), per second.
        #[test]
        fn rate_matches_the_definition(
            steps in proptest::collection::vec((1i64..3_000, 0u64..10_000), 1..80),
            window in 1i64..20_000,
        ) {
            let mut m = RateMeter::<1>::new(window);
            let mut all = Vec::new();
            let (mut t, mut v) = (0i64, 0u64);
            for (dt, dv) in steps {
                t += dt;
                v += dv;
                m.record(t, [v]);
                all.push((t, v));
            }
            let (tn, vn) = *all.last().unwrap();
            let base = all.iter().rev().find(|(ts, _)| *ts <= tn - window).copied();
            // never more than MAX_SAMPLES kept: then the oldest kept is the base
            let base = match base {
                Some(b) if all.iter().filter(|(ts, _)| *ts >= b.0).count() <= MAX_SAMPLES => b,
                _ => all[all.len().saturating_sub(MAX_SAMPLES)],
            };
            let want = if tn > base.0 { (vn - base.1) as f64 * 1000.0 / (tn - base.0) as f64 } else { 0.0 };
            let got = m.per_second()[0];
            prop_assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
            prop_assert!(got >= 0.0);
        }
    }
}
