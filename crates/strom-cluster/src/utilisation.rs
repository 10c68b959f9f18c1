//! Cluster utilisation, the seed's U = Σ task busy time / (total slots × wall time), over a
//! sliding window (a minute) and since the cluster started. Sans-IO: the ResourceManager tells it
//! the slot count as TaskManagers come and go, JobMasters report busy time per slot and interval,
//! and every call carries the time.
//!
//! Time is kept in buckets (one second by default): each holds the slot time the cluster had
//! (capacity) and the busy time reported into it. A bucket never counts more busy time than its
//! capacity (a report cannot make a slot busier than there were slots), so U stays in [0, 1]
//! whatever the reports say.

use std::collections::VecDeque;

/// Bucket width.
pub const BUCKET_MS: i64 = 1_000;
/// The sliding window of `last-minute`.
pub const WINDOW_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    start: i64,
    /// Slot-milliseconds available.
    capacity: f64,
    /// Busy milliseconds reported.
    busy: f64,
}

impl Bucket {
    fn used(&self) -> f64 {
        self.busy.min(self.capacity)
    }
}

/// Busy and slot time over a span, and their ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UtilisationFigure {
    pub busy_ms: f64,
    pub slot_ms: f64,
}

impl UtilisationFigure {
    /// U in [0, 1]; 0 without slot time.
    pub fn ratio(&self) -> f64 {
        if self.slot_ms <= 0.0 {
            0.0
        } else {
            (self.busy_ms / self.slot_ms).clamp(0.0, 1.0)
        }
    }
}

#[derive(Debug, Clone)]
pub struct Utilisation {
    start_ms: i64,
    /// Capacity is integrated up to here.
    now_ms: i64,
    slots: u64,
    /// Buckets from (about) `now - WINDOW_MS` to now, oldest first, contiguous.
    buckets: VecDeque<Bucket>,
    /// Buckets that left the window, summed.
    old_capacity: f64,
    old_used: f64,
}

impl Utilisation {
    pub fn new(start_ms: i64) -> Self {
        Self {
            start_ms,
            now_ms: start_ms,
            slots: 0,
            buckets: VecDeque::new(),
            old_capacity: 0.0,
            old_used: 0.0,
        }
    }

    fn bucket_start(&self, t: i64) -> i64 {
        self.start_ms + (t - self.start_ms).div_euclid(BUCKET_MS) * BUCKET_MS
    }

    /// Integrates the slot count up to `now` (earlier times are taken as the latest seen).
    pub fn advance(&mut self, now: i64) {
        let now = now.max(self.now_ms);
        let mut t = self.now_ms;
        while t < now {
            let start = self.bucket_start(t);
            if self.buckets.back().is_none_or(|b| b.start != start) {
                self.buckets.push_back(Bucket {
                    start,
                    capacity: 0.0,
                    busy: 0.0,
                });
            }
            let end = (start + BUCKET_MS).min(now);
            let b = self.buckets.back_mut().expect("pushed above");
            b.capacity += self.slots as f64 * (end - t) as f64;
            t = end;
        }
        self.now_ms = now;
        // keep the buckets that overlap the window
        while self
            .buckets
            .front()
            .is_some_and(|b| b.start + BUCKET_MS <= now - WINDOW_MS)
        {
            let b = self.buckets.pop_front().expect("checked");
            self.old_capacity += b.capacity;
            self.old_used += b.used();
        }
    }

    /// The cluster has `slots` slots from `at` on.
    pub fn set_slots(&mut self, at: i64, slots: u64) {
        self.advance(at);
        self.slots = slots;
    }

    pub fn slots(&self) -> u64 {
        self.slots
    }

    /// One slot (or a group of them) was busy for `busy_ms` during [`from`, `to`]; the time is
    /// spread evenly over the interval (a report for an instant goes to the bucket of `to`).
    pub fn add_busy(&mut self, from: i64, to: i64, busy_ms: f64) {
        if busy_ms.is_nan() || busy_ms <= 0.0 {
            return;
        }
        self.advance(to);
        let to = to.min(self.now_ms).max(self.start_ms);
        let from = from.clamp(self.start_ms, to);
        if from == to {
            if let Some(b) = self
                .buckets
                .iter_mut()
                .rev()
                .find(|b| b.start <= to && to <= b.start + BUCKET_MS)
            {
                b.busy += busy_ms;
            } else {
                self.add_old(busy_ms);
            }
            return;
        }
        let rate = busy_ms / (to - from) as f64;
        let mut spread = 0.0;
        for b in self.buckets.iter_mut() {
            let lo = from.max(b.start);
            let hi = to.min(b.start + BUCKET_MS);
            if hi > lo {
                let part = rate * (hi - lo) as f64;
                b.busy += part;
                spread += part;
            }
        }
        // what falls before the kept buckets
        self.add_old(busy_ms - spread);
    }

    fn add_old(&mut self, busy: f64) {
        if busy > 0.0 {
            self.old_used = (self.old_used + busy).min(self.old_capacity);
        }
    }

    /// Over the last [`WINDOW_MS`] (or since the start, when the cluster is younger). A bucket
    /// partly inside the window counts with the share inside.
    pub fn last_window(&mut self, now: i64) -> UtilisationFigure {
        self.advance(now);
        let from = self.now_ms - WINDOW_MS;
        let mut f = UtilisationFigure {
            busy_ms: 0.0,
            slot_ms: 0.0,
        };
        for b in &self.buckets {
            let end = (b.start + BUCKET_MS).min(self.now_ms);
            let len = end - b.start;
            if len <= 0 {
                continue;
            }
            let share = ((end - from.max(b.start)) as f64 / len as f64).clamp(0.0, 1.0);
            f.busy_ms += b.used() * share;
            f.slot_ms += b.capacity * share;
        }
        f
    }

    /// Since the start.
    pub fn since_start(&mut self, now: i64) -> UtilisationFigure {
        self.advance(now);
        UtilisationFigure {
            busy_ms: self.old_used + self.buckets.iter().map(Bucket::used).sum::<f64>(),
            slot_ms: self.old_capacity + self.buckets.iter().map(|b| b.capacity).sum::<f64>(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn two_of_four_slots_busy_is_one_half() {
        let mut u = Utilisation::new(0);
        u.set_slots(0, 4);
        for s in 0..90 {
            // two slots, each fully busy during every second
            u.add_busy(s * 1_000, (s + 1) * 1_000, 1_000.0);
            u.add_busy(s * 1_000, (s + 1) * 1_000, 1_000.0);
        }
        assert_eq!(u.since_start(90_000).ratio(), 0.5);
        assert_eq!(u.last_window(90_000).ratio(), 0.5);
        assert_eq!(u.last_window(90_000).slot_ms, 4.0 * 60_000.0);
    }

    #[test]
    fn the_window_forgets_what_is_older_than_a_minute() {
        let mut u = Utilisation::new(0);
        u.set_slots(0, 2);
        // both slots busy for the first 30 s, nothing after
        u.add_busy(0, 30_000, 30_000.0);
        u.add_busy(0, 30_000, 30_000.0);
        let w = u.last_window(120_000);
        assert_eq!(w.busy_ms, 0.0);
        assert_eq!(w.ratio(), 0.0);
        // since start: 60 s busy of 240 s slot time
        assert_eq!(u.since_start(120_000).ratio(), 0.25);
    }

    #[test]
    fn slots_that_come_and_go_count_while_registered() {
        let mut u = Utilisation::new(0);
        u.set_slots(0, 2);
        u.set_slots(10_000, 4); // a TaskManager with 2 slots joins
        u.set_slots(20_000, 2); // and is lost
                                // one slot busy all along
        u.add_busy(0, 30_000, 30_000.0);
        let f = u.since_start(30_000);
        assert_eq!(f.slot_ms, 2.0 * 10_000.0 + 4.0 * 10_000.0 + 2.0 * 10_000.0);
        assert_eq!(f.busy_ms, 30_000.0);
    }

    #[test]
    fn busier_than_the_slots_is_capped() {
        let mut u = Utilisation::new(0);
        u.set_slots(0, 1);
        u.add_busy(0, 1_000, 5_000.0);
        assert_eq!(u.since_start(1_000).ratio(), 1.0);
        let mut none = Utilisation::new(0);
        none.add_busy(0, 1_000, 500.0);
        assert_eq!(
            none.since_start(2_000).ratio(),
            0.0,
            "no slots: nothing to use"
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Slots(u64),
        Busy { back_ms: i64, len_ms: i64, ms: f64 },
        Wait(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..8).prop_map(Op::Slots),
            (0i64..90_000, 0i64..20_000, -10.0f64..50_000.0).prop_map(|(back_ms, len_ms, ms)| {
                Op::Busy {
                    back_ms,
                    len_ms,
                    ms,
                }
            }),
            (0i64..30_000).prop_map(Op::Wait),
        ]
    }

    proptest! {
        /// Any interleaving of slot registration and loss and busy reports (consistent or not,
        /// late, overlapping) keeps U in [0, 1], in the window and since the start.
        #[test]
        fn utilisation_stays_in_unit_interval(ops in proptest::collection::vec(op(), 0..80)) {
            let mut u = Utilisation::new(1_000);
            let mut now = 1_000;
            for o in ops {
                match o {
                    Op::Slots(n) => u.set_slots(now, n),
                    Op::Busy { back_ms, len_ms, ms } => u.add_busy(now - back_ms, now - back_ms + len_ms, ms),
                    Op::Wait(d) => now += d,
                }
                for f in [u.last_window(now), u.since_start(now)] {
                    let r = f.ratio();
                    prop_assert!((0.0..=1.0).contains(&r), "{r} from {f:?}");
                    prop_assert!(f.busy_ms <= f.slot_ms + 1e-6, "{f:?}");
                }
            }
        }

        /// Consistent reports (per whole second: `k` of `s` slots busy): U equals the hand
        /// computation Σ busy / Σ slot time, over the last minute and since the start.
        #[test]
        fn utilisation_equals_the_hand_computed_value(
            secs in proptest::collection::vec((0u64..6, 0u64..6), 1..150),
        ) {
            let mut u = Utilisation::new(0);
            let mut model = Vec::new();
            for (t, (s, k)) in secs.iter().enumerate() {
                let t = t as i64 * 1_000;
                let k = (*k).min(*s);
                u.set_slots(t, *s);
                for _ in 0..k {
                    u.add_busy(t, t + 1_000, 1_000.0);
                }
                model.push((*s as f64 * 1_000.0, k as f64 * 1_000.0));
            }
            let now = secs.len() as i64 * 1_000;
            let ratio = |m: &[(f64, f64)]| {
                let cap: f64 = m.iter().map(|x| x.0).sum();
                if cap == 0.0 { 0.0 } else { m.iter().map(|x| x.1).sum::<f64>() / cap }
            };
            let all = ratio(&model);
            let last = ratio(&model[model.len().saturating_sub(60)..]);
            prop_assert!((u.since_start(now).ratio() - all).abs() < 1e-9);
            prop_assert!((u.last_window(now).ratio() - last).abs() < 1e-9);
        }
    }
}
