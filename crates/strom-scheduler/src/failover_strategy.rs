//! Which subtasks restart after a failure (Flink's `jobmanager.execution.failover-strategy`):
//! `full` restarts the whole job, `region` (the default, as in Flink) only the pipelined regions
//! the failure touches (Flink's `RestartPipelinedRegionFailoverStrategy`):
//!
//! - the regions of the failed subtasks;
//! - every region whose BLOCKING results are lost (their TaskManager is gone) while a region
//!   that has not finished still needs them, and, for every region restarted, the regions
//!   producing lost results it consumes;
//! - every region consuming the results of a restarted region that has not finished yet (a
//!   finished consumer read all it needed and keeps its own results).
//!
//! Computed over regions, not subtask pairs: `O(regions + region edges)`.

use crate::pipelined_region::RegionGraph;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Flink's `jobmanager.execution.failover-strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailoverStrategy {
    /// Restart the whole job on any failure.
    Full,
    /// Restart only the pipelined regions a failure touches.
    #[default]
    Region,
}

impl FailoverStrategy {
    /// The strategy named by a `jobmanager.execution.failover-strategy` value.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "full" => Some(Self::Full),
            "region" => Some(Self::Region),
            _ => None,
        }
    }
}

/// The regions to restart (ascending): `failed` are the regions of failed subtasks,
/// `finished(r)` whether region r finished, `lost(r)` whether results region r produced are
/// lost.
pub(crate) fn regions_to_restart(
    regions: &RegionGraph,
    consumers: &[Vec<usize>],
    failed: impl IntoIterator<Item = usize>,
    finished: &dyn Fn(usize) -> bool,
    lost: &dyn Fn(usize) -> bool,
) -> BTreeSet<usize> {
    let mut restart = BTreeSet::new();
    let mut queue: Vec<usize> = failed.into_iter().collect();
    // lost results that a region still to run needs
    queue.extend(
        (0..regions.members.len())
            .filter(|r| lost(*r) && consumers[*r].iter().any(|c| !finished(*c))),
    );
    while let Some(r) = queue.pop() {
        if !restart.insert(r) {
            continue;
        }
        queue.extend(regions.inputs[r].iter().copied().filter(|i| lost(*i)));
        queue.extend(consumers[r].iter().copied().filter(|c| !finished(*c)));
    }
    restart
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regions 0 -> 2, 1 -> 2, 2 -> 3 (BLOCKING), 4 on its own.
    fn diamond() -> (RegionGraph, Vec<Vec<usize>>) {
        let inputs = vec![vec![], vec![], vec![0, 1], vec![2], vec![]];
        let mut consumers = vec![Vec::new(); inputs.len()];
        for (r, i) in inputs.iter().enumerate() {
            for p in i {
                consumers[*p].push(r);
            }
        }
        let g = RegionGraph {
            members: (0..inputs.len()).map(|r| vec![r]).collect(),
            region_of: (0..inputs.len()).collect(),
            inputs,
        };
        (g, consumers)
    }

    fn run(failed: &[usize], finished: &[usize], lost: &[usize]) -> Vec<usize> {
        let (g, c) = diamond();
        regions_to_restart(
            &g,
            &c,
            failed.iter().copied(),
            &|r| finished.contains(&r),
            &|r| lost.contains(&r),
        )
        .into_iter()
        .collect()
    }

    #[test]
    fn a_failed_region_restarts_with_its_unfinished_consumers_only() {
        // region 1 fails while 0 finished: 0 keeps its results, 4 is independent
        assert_eq!(run(&[1], &[0], &[]), [1, 2, 3]);
        // region 3 fails after 0, 1, 2 finished: only 3
        assert_eq!(run(&[3], &[0, 1, 2], &[]), [3]);
        assert_eq!(run(&[4], &[], &[]), [4]);
    }

    #[test]
    fn lost_results_rerun_when_still_needed() {
        // 2 fails and the results of 0 are lost: 0 runs again for it
        assert_eq!(run(&[2], &[0, 1], &[0]), [0, 2, 3]);
        // 0's results lost while 2 still waits for them: 0 reruns without any failure
        assert_eq!(run(&[], &[0], &[0]), [0, 2, 3]);
        // lost results no one needs any more: nothing
        assert_eq!(run(&[], &[0, 1, 2, 3], &[0, 2]), Vec::<usize>::new());
        // 3 still needs 2's lost results, 2 needs none of the lost 0's any more... but 2 reruns
        // and then needs them again
        assert_eq!(run(&[], &[0, 1, 2], &[0, 2]), [0, 2, 3]);
    }
}
