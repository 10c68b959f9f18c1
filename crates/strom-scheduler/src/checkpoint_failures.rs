//! Which checkpoint failures a job tolerates (Flink's `CheckpointFailureManager`), sans-IO:
//! `execution.checkpointing.tolerable-failed-checkpoints` consecutive failures (Flink's default
//! 0: none) are tolerated; one more fails the job over, and the restart strategy decides whether
//! it restarts.
//!
//! Flink's counting rules:
//! - counted: a checkpoint that expired, a task's failure to take or write its snapshot (a
//!   decline of kind [`DeclineKind::Failed`]), the metadata that could not be written;
//! - not counted: a checkpoint aborted because a task failed (the job fails over anyway),
//!   subsumed by a newer one, or declined because a newer barrier overtook it or a task reached
//!   the end of its input;
//! - savepoints: failures on the JobManager's side (expiry, the metadata) are not counted (a
//!   manual action: a failover would not help); a task's failure is;
//! - each checkpoint counts once, and only when it is newer than the last completed checkpoint;
//! - a completed checkpoint resets the count, and so does failing the job over.

use crate::checkpoint_coordinator::{AbortReason, DeclineKind};
use std::collections::BTreeSet;

/// What a checkpoint failure means for the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not a failure that counts (or counted before).
    NotCounted,
    /// Counted: `consecutive` failures in a row, within the tolerance.
    Tolerated { consecutive: u32 },
    /// Past the tolerance: fail the job over (the count starts again).
    FailJob { consecutive: u32 },
}

#[derive(Debug, Clone)]
pub struct CheckpointFailureManager {
    tolerable: u32,
    consecutive: u32,
    counted: BTreeSet<u64>,
    last_succeeded: Option<u64>,
}

impl CheckpointFailureManager {
    pub fn new(tolerable: u32) -> Self {
        Self {
            tolerable,
            consecutive: 0,
            counted: BTreeSet::new(),
            last_succeeded: None,
        }
    }

    pub fn tolerable(&self) -> u32 {
        self.tolerable
    }

    /// Consecutive counted failures since the last completed checkpoint (or failover).
    pub fn consecutive(&self) -> u32 {
        self.consecutive
    }

    /// Whether a failure for `reason` counts (of a savepoint when `savepoint`).
    pub fn counts(reason: &AbortReason, savepoint: bool) -> bool {
        match reason {
            AbortReason::Declined {
                kind: DeclineKind::Failed,
                ..
            } => true,
            AbortReason::Expired | AbortReason::MetadataWriteFailed(_) => !savepoint,
            AbortReason::Declined { .. } | AbortReason::TaskFailed(_) | AbortReason::Subsumed => {
                false
            }
        }
    }

    /// Checkpoint `id` (a savepoint when `savepoint`) was aborted for `reason`.
    pub fn on_abort(&mut self, id: u64, reason: &AbortReason, savepoint: bool) -> Verdict {
        let newer = self.last_succeeded.is_none_or(|last| id > last);
        if !newer || !Self::counts(reason, savepoint) || !self.counted.insert(id) {
            return Verdict::NotCounted;
        }
        self.consecutive = self.consecutive.saturating_add(1);
        if self.consecutive > self.tolerable {
            let consecutive = self.consecutive;
            self.reset();
            Verdict::FailJob { consecutive }
        } else {
            Verdict::Tolerated {
                consecutive: self.consecutive,
            }
        }
    }

    /// Checkpoint `id` completed.
    pub fn on_success(&mut self, id: u64) {
        if self.last_succeeded.is_none_or(|last| id > last) {
            self.last_succeeded = Some(id);
            self.reset();
        }
    }

    fn reset(&mut self) {
        self.consecutive = 0;
        self.counted.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn declined(kind: DeclineKind) -> AbortReason {
        AbortReason::Declined {
            task: (0, 0),
            kind,
            reason: "disk full".into(),
        }
    }

    #[test]
    fn flinks_default_fails_over_on_the_first_counted_failure() {
        let mut m = CheckpointFailureManager::new(0);
        assert_eq!(
            m.on_abort(1, &AbortReason::Subsumed, false),
            Verdict::NotCounted
        );
        assert_eq!(
            m.on_abort(2, &AbortReason::TaskFailed((1, 0)), false),
            Verdict::NotCounted
        );
        assert_eq!(
            m.on_abort(3, &declined(DeclineKind::TaskFinished), false),
            Verdict::NotCounted
        );
        assert_eq!(
            m.on_abort(4, &declined(DeclineKind::Subsumed), false),
            Verdict::NotCounted
        );
        assert_eq!(
            m.on_abort(5, &AbortReason::MetadataWriteFailed("EROFS".into()), false),
            Verdict::FailJob { consecutive: 1 }
        );
        // the failover reset the count
        assert_eq!(m.consecutive(), 0);
    }

    #[test]
    fn consecutive_failures_past_the_tolerance_and_a_success_resets() {
        let mut m = CheckpointFailureManager::new(2);
        assert_eq!(
            m.on_abort(1, &AbortReason::Expired, false),
            Verdict::Tolerated { consecutive: 1 }
        );
        // one checkpoint counts once (two tasks declined it)
        assert_eq!(
            m.on_abort(2, &declined(DeclineKind::Failed), false),
            Verdict::Tolerated { consecutive: 2 }
        );
        assert_eq!(
            m.on_abort(2, &declined(DeclineKind::Failed), false),
            Verdict::NotCounted
        );
        m.on_success(3);
        assert_eq!(m.consecutive(), 0);
        // older than the last success: not counted
        assert_eq!(
            m.on_abort(2, &AbortReason::Expired, false),
            Verdict::NotCounted
        );
        for (id, n) in [(4, 1), (5, 2)] {
            assert_eq!(
                m.on_abort(id, &AbortReason::Expired, false),
                Verdict::Tolerated { consecutive: n }
            );
        }
        assert_eq!(
            m.on_abort(6, &AbortReason::Expired, false),
            Verdict::FailJob { consecutive: 3 }
        );
    }

    #[test]
    fn savepoints_count_only_the_failures_of_tasks() {
        let mut m = CheckpointFailureManager::new(0);
        assert_eq!(
            m.on_abort(1, &AbortReason::Expired, true),
            Verdict::NotCounted
        );
        assert_eq!(
            m.on_abort(2, &AbortReason::MetadataWriteFailed("x".into()), true),
            Verdict::NotCounted
        );
        assert_eq!(
            m.on_abort(3, &declined(DeclineKind::Failed), true),
            Verdict::FailJob { consecutive: 1 }
        );
    }

    #[derive(Debug, Clone)]
    enum Ev {
        Abort(u64, u8, bool),
        Success(u64),
    }

    fn reason(r: u8) -> AbortReason {
        match r % 7 {
            0 => AbortReason::Expired,
            1 => AbortReason::Subsumed,
            2 => AbortReason::TaskFailed((0, 0)),
            3 => AbortReason::MetadataWriteFailed("x".into()),
            4 => declined(DeclineKind::Failed),
            5 => declined(DeclineKind::Subsumed),
            _ => declined(DeclineKind::TaskFinished),
        }
    }

    proptest! {
        /// Against a model of the rules: the job fails over exactly when the counted failures
        /// since the last newer success (or failover) exceed the tolerance, each id at most once.
        #[test]
        fn matches_a_model_of_flinks_rules(
            tolerable in 0u32..4,
            events in prop::collection::vec(
                prop_oneof![
                    4 => (1u64..30, any::<u8>(), any::<bool>()).prop_map(|(i, r, s)| Ev::Abort(i, r, s)),
                    1 => (1u64..30).prop_map(Ev::Success),
                ],
                1..80,
            ),
        ) {
            let mut m = CheckpointFailureManager::new(tolerable);
            let mut last_success: Option<u64> = None;
            let mut counted: Vec<u64> = Vec::new();
            for e in events {
                match e {
                    Ev::Success(id) => {
                        m.on_success(id);
                        if last_success.is_none_or(|l| id > l) {
                            last_success = Some(id);
                            counted.clear();
                        }
                    }
                    Ev::Abort(id, r, savepoint) => {
                        let reason = reason(r);
                        let counts = last_success.is_none_or(|l| id > l)
                            && !counted.contains(&id)
                            && match &reason {
                                AbortReason::Expired | AbortReason::MetadataWriteFailed(_) => !savepoint,
                                AbortReason::Declined { kind, .. } => *kind == DeclineKind::Failed,
                                _ => false,
                            };
                        let want = if !counts {
                            Verdict::NotCounted
                        } else {
                            counted.push(id);
                            let n = counted.len() as u32;
                            if n > tolerable {
                                counted.clear();
                                Verdict::FailJob { consecutive: n }
                            } else {
                                Verdict::Tolerated { consecutive: n }
                            }
                        };
                        prop_assert_eq!(m.on_abort(id, &reason, savepoint), want);
                        prop_assert!(m.consecutive() <= tolerable);
                    }
                }
            }
        }
    }
}
