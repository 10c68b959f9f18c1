//! Key groups (Flink's `KeyGroupRangeAssignment`): a key hashes to one of `max_parallelism` key
//! groups, and a subtask of a vertex with parallelism `n` owns a contiguous range of them. Hash
//! exchanges route rows by key group, and keyed state is snapshotted with each entry's key group,
//! so that state can be restored at another parallelism: subtask `i` keeps the entries whose key
//! group falls in [`key_group_range`]`(max, n, i)`.

use datafusion::arrow::array::ArrayRef;
use datafusion::common::hash_utils::{create_hashes, RandomState};
use std::ops::Range;

/// `pipeline.max-parallelism` when not configured (Flink's default for small jobs).
pub const DEFAULT_MAX_PARALLELISM: u32 = 128;

/// The seed of the key hash: every process must hash a key the same way.
fn random_state() -> RandomState {
    RandomState::with_seed(0x5752_4f4d)
}

/// The hash of each row's key (`columns` are the key columns, in key order).
pub fn hash_keys(
    columns: &[ArrayRef],
    rows: usize,
    hashes: &mut Vec<u64>,
) -> datafusion::error::Result<()> {
    hashes.clear();
    hashes.resize(rows, 0);
    if !columns.is_empty() {
        create_hashes(columns, &random_state(), hashes)?;
    }
    Ok(())
}

/// The key group of a key hash.
pub fn key_group(hash: u64, max_parallelism: u32) -> u32 {
    (hash % max_parallelism.max(1) as u64) as u32
}

/// The subtask (of `parallelism`) that owns key group `group`.
pub fn subtask_for_key_group(group: u32, max_parallelism: u32, parallelism: u32) -> u32 {
    ((group as u64 * parallelism as u64) / max_parallelism.max(1) as u64) as u32
}

/// The key groups subtask `index` of `parallelism` owns.
pub fn key_group_range(max_parallelism: u32, parallelism: u32, index: u32) -> Range<u32> {
    let (m, n, i) = (
        max_parallelism as u64,
        parallelism.max(1) as u64,
        index as u64,
    );
    let start = (i * m).div_ceil(n);
    let end = ((i + 1) * m).div_ceil(n);
    start as u32..end as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every key group has exactly one owner, and the owner's range contains it.
        #[test]
        fn ranges_partition_the_key_groups(max in 1u32..300, n in 1u32..64) {
            let n = n.min(max);
            let mut next = 0;
            for i in 0..n {
                let r = key_group_range(max, n, i);
                prop_assert_eq!(r.start, next);
                for g in r.clone() {
                    prop_assert_eq!(subtask_for_key_group(g, max, n), i);
                }
                next = r.end;
            }
            prop_assert_eq!(next, max);
        }
    }
}
