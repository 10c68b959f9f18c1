//! A job's exception history and the root cause of each failover, sans-IO (Flink's
//! `ExceptionHistoryEntry` with its concurrent exceptions).
//!
//! A failover starts with a failure while the job runs; every failure after it, until the job
//! runs again or ends, belongs to the same failover (an entry of the history). The entry's root
//! is its most telling failure:
//! - a symptom ([`FailureKind::PeerLost`]: a task whose peer went away) yields to any other
//!   failure. When a TaskManager process dies, the tasks that exchanged data with it notice
//!   before the JobManager learns that the process is gone (from a failed call or the heartbeat
//!   timeout), so the first failure seen is rarely the cause;
//! - a lost TaskManager explains the failures of the tasks it ran and of their peers, so it
//!   outranks a task's own recoverable failure;
//! - a failure that suppresses restarts ([`FailureKind::NonRecoverable`]) outranks all: it is
//!   why the job fails;
//! - among failures of the same rank, the first stays the root.
//!
//! A failover whose failures include a non-recoverable one must not restart the job.

use std::collections::VecDeque;
use strom_common::FailureKind;

/// One failure (or a note the history keeps with the failures, such as a checkpoint that could
/// not be restored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub timestamp: i64,
    pub message: String,
    /// The task that failed, as "name (subtask/parallelism)".
    pub task: Option<String>,
    /// The TaskManager it ran on (or the one that was lost).
    pub task_manager: Option<String>,
    pub kind: FailureKind,
}

impl Failure {
    /// How telling this failure is as a root cause (higher: more).
    fn rank(&self) -> u8 {
        match self.kind {
            FailureKind::PeerLost => 0,
            FailureKind::Recoverable => 1,
            FailureKind::TaskManagerLost => 2,
            FailureKind::NonRecoverable => 3,
        }
    }
}

/// One failover: its root cause and the failures that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub root: Failure,
    /// The other failures of the failover, in arrival order.
    pub concurrent: Vec<Failure>,
}

impl HistoryEntry {
    /// Every failure of the failover, the root first.
    pub fn failures(&self) -> impl Iterator<Item = &Failure> {
        std::iter::once(&self.root).chain(&self.concurrent)
    }
}

/// The failovers of a job, oldest first, at most `capacity` of them.
#[derive(Debug, Clone)]
pub struct ExceptionHistory {
    entries: VecDeque<HistoryEntry>,
    capacity: usize,
    /// Whether the newest entry is the failover in progress.
    open: bool,
    /// Entries dropped for the capacity.
    truncated: bool,
}

/// Concurrent failures kept per entry (a job of many subtasks fails in many places at once).
const MAX_CONCURRENT: usize = 64;

impl ExceptionHistory {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            open: false,
            truncated: false,
        }
    }

    /// Records a failure: it starts a failover when none is in progress, else joins the one in
    /// progress and becomes its root when it outranks the root so far. Returns whether the
    /// failover's root is now this failure.
    pub fn record(&mut self, failure: Failure) -> bool {
        if !self.open {
            self.push(HistoryEntry {
                root: failure,
                concurrent: Vec::new(),
            });
            self.open = true;
            return true;
        }
        let entry = self
            .entries
            .back_mut()
            .expect("an open failover has an entry");
        let becomes_root = failure.rank() > entry.root.rank();
        let other = if becomes_root {
            std::mem::replace(&mut entry.root, failure)
        } else {
            failure
        };
        // the oldest symptoms go first when there are too many
        if entry.concurrent.len() >= MAX_CONCURRENT {
            entry.concurrent.remove(0);
        }
        entry.concurrent.push(other);
        becomes_root
    }

    /// Keeps a note that is no failure of its own (a checkpoint that cannot be restored): with
    /// the latest failover (in progress, or the one the job is restarting after), else as an
    /// entry of its own.
    pub fn note(&mut self, note: Failure) {
        match self.entries.back_mut() {
            Some(e) => {
                if e.concurrent.len() >= MAX_CONCURRENT {
                    e.concurrent.remove(0);
                }
                e.concurrent.push(note);
            }
            _ => self.push(HistoryEntry {
                root: note,
                concurrent: Vec::new(),
            }),
        }
    }

    fn push(&mut self, entry: HistoryEntry) {
        self.entries.push_back(entry);
        while self.entries.len() > self.capacity {
            self.entries.pop_front();
            self.truncated = true;
        }
    }

    /// The failover ended (the job runs again): the next failure starts a new one.
    pub fn close(&mut self) {
        self.open = false;
    }

    /// Whether a failover is in progress.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The root cause of the failover in progress, or of the latest one.
    pub fn root(&self) -> Option<&Failure> {
        self.entries.back().map(|e| &e.root)
    }

    /// Whether the failover in progress must not restart the job (one of its failures is
    /// certain to happen again).
    pub fn suppresses_restarts(&self) -> bool {
        self.open
            && self
                .entries
                .back()
                .is_some_and(|e| e.failures().any(|f| f.kind == FailureKind::NonRecoverable))
    }

    /// The failovers, oldest first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &HistoryEntry> + ExactSizeIterator {
        self.entries.iter()
    }

    /// Whether older failovers were dropped.
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn failure(t: i64, kind: FailureKind) -> Failure {
        Failure {
            timestamp: t,
            message: format!("{kind} at {t}"),
            task: None,
            task_manager: None,
            kind,
        }
    }

    #[test]
    fn a_lost_taskmanager_becomes_the_root_of_the_symptoms_seen_first() {
        let mut h = ExceptionHistory::new(16);
        assert!(h.record(failure(1, FailureKind::PeerLost)));
        assert!(!h.record(failure(2, FailureKind::PeerLost)));
        assert!(h.record(failure(3, FailureKind::TaskManagerLost)));
        // a second lost TaskManager does not take the root from the first
        assert!(!h.record(failure(4, FailureKind::TaskManagerLost)));
        let root = h.root().unwrap();
        assert_eq!(
            (root.timestamp, root.kind),
            (3, FailureKind::TaskManagerLost)
        );
        let e = h.entries().next_back().unwrap();
        assert_eq!(
            e.concurrent.iter().map(|f| f.timestamp).collect::<Vec<_>>(),
            vec![2, 1, 4]
        );
        assert!(!h.suppresses_restarts());
        // the job runs again: the next failure is a failover of its own
        h.close();
        assert!(h.record(failure(10, FailureKind::Recoverable)));
        assert_eq!(h.entries().len(), 2);
        assert_eq!(h.root().unwrap().timestamp, 10);
    }

    #[test]
    fn a_non_recoverable_failure_suppresses_restarts_whenever_it_arrives() {
        let mut h = ExceptionHistory::new(16);
        h.record(failure(1, FailureKind::PeerLost));
        assert!(!h.suppresses_restarts());
        assert!(h.record(failure(2, FailureKind::NonRecoverable)));
        assert!(h.suppresses_restarts());
        assert_eq!(h.root().unwrap().kind, FailureKind::NonRecoverable);
        h.close();
        assert!(!h.suppresses_restarts(), "only the failover in progress");
    }

    #[test]
    fn notes_join_the_latest_failover_or_stand_alone_and_capacity_truncates() {
        let mut h = ExceptionHistory::new(2);
        h.note(failure(1, FailureKind::Recoverable));
        assert!(!h.is_open());
        h.record(failure(2, FailureKind::Recoverable));
        h.note(failure(3, FailureKind::Recoverable));
        assert_eq!(h.root().unwrap().timestamp, 2);
        assert!(!h.truncated());
        h.close();
        // a note while the job restarts after the failover goes with it
        h.note(failure(5, FailureKind::Recoverable));
        h.record(failure(4, FailureKind::Recoverable));
        assert!(h.truncated());
        let roots: Vec<i64> = h.entries().map(|e| e.root.timestamp).collect();
        assert_eq!(roots, vec![2, 4]);
        let first = h.entries().next().unwrap();
        let noted: Vec<i64> = first.concurrent.iter().map(|f| f.timestamp).collect();
        assert_eq!(noted, vec![3, 5]);
    }

    fn kind() -> impl Strategy<Value = FailureKind> {
        prop::sample::select(FailureKind::ALL.to_vec())
    }

    proptest! {
        /// Whatever the order of arrival, a failover's root is the first failure of the highest
        /// rank, nothing is lost, and restarts are suppressed exactly when a failure is
        /// non-recoverable.
        #[test]
        fn the_root_is_the_first_of_the_highest_rank(
            failovers in prop::collection::vec(prop::collection::vec(kind(), 1..12), 1..6)
        ) {
            let mut h = ExceptionHistory::new(100);
            let mut t = 0;
            for kinds in &failovers {
                let mut seen = Vec::new();
                for k in kinds {
                    t += 1;
                    h.record(failure(t, *k));
                    seen.push(failure(t, *k));
                    let best = seen.iter().map(Failure::rank).max().unwrap();
                    let want = seen.iter().find(|f| f.rank() == best).unwrap();
                    prop_assert_eq!(h.root(), Some(want));
                    prop_assert_eq!(
                        h.suppresses_restarts(),
                        seen.iter().any(|f| f.kind == FailureKind::NonRecoverable)
                    );
                }
                let e = h.entries().next_back().unwrap();
                let mut all: Vec<i64> = e.failures().map(|f| f.timestamp).collect();
                all.sort_unstable();
                prop_assert_eq!(all, seen.iter().map(|f| f.timestamp).collect::<Vec<_>>());
                h.close();
            }
            prop_assert_eq!(h.entries().len(), failovers.len());
        }
    }
}
