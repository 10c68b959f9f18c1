//! The lookup join's spec (Flink's `LookupJoin`): `JOIN dim FOR SYSTEM_TIME AS OF s.proc_time`,
//! each input row joined with the rows the dimension table holds when it arrives.

use super::{ExprSpec, JoinType, Spec};
use crate::table::TableSpec;
use crate::types::RowSchema;
use serde::{Deserialize, Serialize};

/// Joins each row of its input (the stream, left) with the rows of `table` (the dimension,
/// right) of the same key, INNER or LEFT; append-only. The table is read whole when the first
/// row arrives and again when it is older than `cache_ttl_ms` (Flink's
/// `lookup.join.cache.ttl` of a filesystem table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LookupJoinSpec {
    pub input: RowSchema,
    pub table: TableSpec,
    /// The table's columns read (positions in its schema) and their schema.
    pub projection: Vec<usize>,
    pub dim: RowSchema,
    pub join_type: JoinType,
    /// Equality keys: columns of `input` and of `dim`, pairwise.
    pub input_keys: Vec<usize>,
    pub dim_keys: Vec<usize>,
    /// The rest of the condition, over `output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<ExprSpec>,
    pub cache_ttl_ms: i64,
    /// For a table its connector looks up by key (jdbc): Flink's `lookup.cache` = `PARTIAL`
    /// options (`None`: no cache, every batch's keys are looked up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_cache: Option<LookupCache>,
    /// Flink's `lookup.cache` = `FULL` of such a table: it is read whole, as a filesystem table
    /// is, and again on this schedule; keys are not looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_cache: Option<FullCacheReload>,
    /// `input`'s columns, then `dim`'s.
    pub output: RowSchema,
}

/// Flink's partial lookup cache: the rows of the keys looked up last, by key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupCache {
    /// The most keys kept (the least recently used go first).
    pub max_rows: u64,
    /// A key's rows are looked up again this long after they were (0: never).
    #[serde(default)]
    pub expire_after_write_ms: u64,
    /// ... or this long after they were last used (0: never).
    #[serde(default)]
    pub expire_after_access_ms: u64,
    /// Whether a key without rows is cached too.
    pub cache_missing_key: bool,
}

/// When a full lookup cache reads its table again (Flink's `lookup.full-cache.*` options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FullCacheReload {
    /// `PERIODIC`: every `interval_ms`, counted from the end of the last read (`FIXED_DELAY`) or
    /// from its start (`fixed_rate`: `FIXED_RATE`).
    Periodic { interval_ms: u64, fixed_rate: bool },
    /// `TIMED`: at `at_ms` after midnight UTC, every `interval_days` days.
    Timed { at_ms: u64, interval_days: u32 },
}

impl FullCacheReload {
    const DAY_MS: i64 = 86_400_000;

    /// When a table read from `started_ms` to `ended_ms` (epoch milliseconds) is read again;
    /// `last` is when the read before it was due (`None`: the first read). A timed reload
    /// that fell behind skips the times already past.
    pub fn next_reload(&self, started_ms: i64, ended_ms: i64, last: Option<i64>) -> i64 {
        match *self {
            FullCacheReload::Periodic {
                interval_ms,
                fixed_rate,
            } => {
                let from = if fixed_rate { started_ms } else { ended_ms };
                from.saturating_add(interval_ms.min(i64::MAX as u64) as i64)
            }
            FullCacheReload::Timed {
                at_ms,
                interval_days,
            } => {
                let step = Self::DAY_MS * i64::from(interval_days.max(1));
                let first = ended_ms.div_euclid(Self::DAY_MS) * Self::DAY_MS + at_ms as i64;
                let mut next = match last {
                    Some(due) => due + step,
                    None if first > ended_ms => first,
                    None => first + Self::DAY_MS,
                };
                if next <= ended_ms {
                    next += (ended_ms - next) / step * step + step;
                }
                next
            }
        }
    }

    /// As EXPLAIN shows it.
    pub fn describe(&self) -> String {
        match *self {
            FullCacheReload::Periodic {
                interval_ms,
                fixed_rate,
            } => format!(
                "PERIODIC({interval_ms} ms, {})",
                if fixed_rate {
                    "FIXED_RATE"
                } else {
                    "FIXED_DELAY"
                }
            ),
            FullCacheReload::Timed {
                at_ms,
                interval_days,
            } => format!(
                "TIMED({:02}:{:02}:{:02}Z, every {interval_days} days)",
                at_ms / 3_600_000,
                at_ms / 60_000 % 60,
                at_ms / 1000 % 60
            ),
        }
    }
}

impl Spec for LookupJoinSpec {
    fn name(&self) -> String {
        "LookupJoin".into()
    }

    fn output_schema(&self) -> &RowSchema {
        &self.output
    }

    fn description(&self) -> String {
        let keys: Vec<String> = self
            .input_keys
            .iter()
            .zip(&self.dim_keys)
            .map(|(l, r)| {
                format!(
                    "{}={}",
                    self.dim.columns[*r].name, self.input.columns[*l].name
                )
            })
            .collect();
        format!(
            "LookupJoin(table=[{}], joinType=[{}], lookup=[{}]{})",
            self.table.name,
            if self.join_type == JoinType::Left {
                "LeftOuterJoin"
            } else {
                "InnerJoin"
            },
            keys.join(", "),
            self.filter
                .as_ref()
                .map(|f| format!(", where=[{}]", f.sql))
                .unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::FullCacheReload;
    use proptest::prelude::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn periodic_reloads_count_from_the_end_or_the_start() {
        let delay = FullCacheReload::Periodic {
            interval_ms: 1000,
            fixed_rate: false,
        };
        let rate = FullCacheReload::Periodic {
            interval_ms: 1000,
            fixed_rate: true,
        };
        assert_eq!(delay.next_reload(5000, 5300, None), 6300);
        assert_eq!(rate.next_reload(5000, 5300, None), 6000);
    }

    proptest! {
        /// A timed reload is at its time of day, after the read ended, at most one interval
        /// after it; after the first, a whole number of intervals after the one before.
        #[test]
        fn timed_reloads_fall_on_their_time_of_day(
            at_ms in 0u64..DAY as u64,
            days in 1u32..5,
            start in 0i64..(400 * DAY),
            took in 0i64..(3 * DAY),
            late in 0i64..(12 * DAY),
        ) {
            let t = FullCacheReload::Timed { at_ms, interval_days: days };
            let first = t.next_reload(start, start + took, None);
            prop_assert_eq!(first.rem_euclid(DAY), at_ms as i64);
            prop_assert!(first > start + took && first <= start + took + DAY);
            // read again when it was due, or later
            let ended = first + late;
            let next = t.next_reload(first, ended, Some(first));
            let step = DAY * i64::from(days);
            prop_assert_eq!(next.rem_euclid(DAY), at_ms as i64);
            prop_assert_eq!((next - first) % step, 0);
            prop_assert!(next > ended && next <= ended + step);
        }
    }
}
