//! Aligned checkpoint barriers at a task with several input channels (sans-IO): after a channel
//! delivers barrier `n`, the task stops taking elements from it until every other open channel
//! delivered barrier `n` too; then the task snapshots its state, forwards the barrier, and
//! unblocks all channels. A channel that ends counts as aligned. A barrier of a newer checkpoint
//! while one is being aligned aborts the older alignment (its checkpoint is declined) and starts
//! the newer one, as Flink's `SingleCheckpointBarrierHandler` does.

/// What the task must do after a barrier or an end of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alignment {
    /// Keep going (the channel is now blocked if it delivered a barrier).
    Wait,
    /// Every channel delivered barrier `id`: snapshot, forward the barrier, take input again.
    Aligned(u64),
    /// Checkpoint `id` cannot complete here (a newer barrier overtook it): decline it.
    Abort(u64),
}

#[derive(Debug, Clone)]
pub struct BarrierAligner {
    /// Per channel: still open.
    open: Vec<bool>,
    /// Per channel: delivered the barrier being aligned.
    blocked: Vec<bool>,
    /// The checkpoint being aligned.
    current: Option<u64>,
    /// The last checkpoint aligned or aborted: older barriers are stale.
    last: u64,
}

impl BarrierAligner {
    pub fn new(channels: usize) -> Self {
        Self {
            open: vec![true; channels],
            blocked: vec![false; channels],
            current: None,
            last: 0,
        }
    }

    /// Whether the task must not take elements from channel `ch` now.
    pub fn is_blocked(&self, ch: usize) -> bool {
        self.blocked[ch]
    }

    pub fn aligning(&self) -> Option<u64> {
        self.current
    }

    /// Channel `ch` delivered barrier `id`.
    pub fn on_barrier(&mut self, ch: usize, id: u64) -> Vec<Alignment> {
        let mut out = Vec::new();
        if id <= self.last || !self.open[ch] {
            return out;
        }
        match self.current {
            Some(cur) if id < cur => return out,
            Some(cur) if id > cur => {
                // a newer checkpoint overtook the one being aligned
                out.push(Alignment::Abort(cur));
                self.last = cur;
                self.blocked.iter_mut().for_each(|b| *b = false);
                self.current = Some(id);
            }
            Some(_) => {}
            None => self.current = Some(id),
        }
        self.blocked[ch] = true;
        out.extend(self.check());
        if out.is_empty() {
            out.push(Alignment::Wait);
        }
        out
    }

    /// Channel `ch` ended: it no longer holds back alignment.
    pub fn on_end(&mut self, ch: usize) -> Vec<Alignment> {
        self.open[ch] = false;
        self.blocked[ch] = false;
        self.check().into_iter().collect()
    }

    fn check(&mut self) -> Option<Alignment> {
        let id = self.current?;
        let all = self
            .open
            .iter()
            .zip(&self.blocked)
            .all(|(open, blocked)| !open || *blocked);
        if !all {
            return None;
        }
        self.current = None;
        self.last = id;
        self.blocked.iter_mut().for_each(|b| *b = false);
        Some(Alignment::Aligned(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn aligns_when_every_open_channel_delivered_the_barrier() {
        let mut a = BarrierAligner::new(3);
        assert_eq!(a.on_barrier(0, 1), vec![Alignment::Wait]);
        assert!(a.is_blocked(0) && !a.is_blocked(1));
        assert_eq!(a.on_end(2), vec![]);
        assert_eq!(a.on_barrier(1, 1), vec![Alignment::Aligned(1)]);
        assert!(!a.is_blocked(0) && !a.is_blocked(1));
        // a stale barrier is ignored
        assert_eq!(a.on_barrier(0, 1), vec![]);
    }

    #[test]
    fn a_newer_barrier_aborts_the_alignment_in_progress() {
        // channel 1 never got barrier 1 (its upstream aborted it) and delivers 2
        let mut a = BarrierAligner::new(2);
        a.on_barrier(0, 1);
        assert_eq!(a.on_barrier(1, 2), vec![Alignment::Abort(1)]);
        assert!(!a.is_blocked(0) && a.is_blocked(1));
        assert_eq!(a.on_barrier(0, 2), vec![Alignment::Aligned(2)]);
        assert_eq!(a.on_barrier(0, 1), vec![], "1 is over");
    }

    proptest! {
        /// Channels deliver barriers 1..=k in order (interleaved at random, some channels
        /// ending early): every checkpoint is aligned exactly once, in order, unless a channel
        /// ran ahead (then it is aborted), and no channel stays blocked at the end.
        #[test]
        fn in_order_barriers_align_each_checkpoint_once(
            k in 1u64..5,
            order in prop::collection::vec(0usize..3, 0..60),
            ends in prop::collection::vec(prop::option::of(0u64..6), 3),
        ) {
            let n = 3;
            let mut a = BarrierAligner::new(n);
            // per channel: next barrier to deliver; a channel may end after some barrier
            let mut next = vec![1u64; n];
            let mut ended = vec![false; n];
            let mut results = Vec::new();
            let step = |a: &mut BarrierAligner, ch: usize, next: &mut Vec<u64>, ended: &mut Vec<bool>, results: &mut Vec<Alignment>| {
                if ended[ch] { return; }
                if a.is_blocked(ch) { return; }
                if next[ch] > k || ends[ch].is_some_and(|e| next[ch] > e) {
                    ended[ch] = true;
                    results.extend(a.on_end(ch));
                    return;
                }
                results.extend(a.on_barrier(ch, next[ch]).into_iter().filter(|r| *r != Alignment::Wait));
                next[ch] += 1;
            };
            for ch in order { step(&mut a, ch, &mut next, &mut ended, &mut results); }
            // drain: every channel to its end
            for _ in 0..(n * (k as usize + 2)) {
                for ch in 0..n { step(&mut a, ch, &mut next, &mut ended, &mut results); }
            }
            prop_assert!(ended.iter().all(|e| *e));
            prop_assert_eq!(a.aligning(), None);
            let ids: Vec<u64> = results.iter().map(|r| match r { Alignment::Aligned(i) | Alignment::Abort(i) => *i, Alignment::Wait => 0 }).collect();
            // each checkpoint settled at most once, in increasing order
            for w in ids.windows(2) { prop_assert!(w[0] < w[1], "{:?}", results); }
            // with no channel blocked forever, nothing is left blocked
            for ch in 0..n { prop_assert!(!a.is_blocked(ch)); }
        }
    }
}
