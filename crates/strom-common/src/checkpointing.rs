//! A job's checkpointing options (Flink's keys and defaults), read once from its configuration:
//! the JobMaster's checkpointing and the REST views use these values, not the keys.

use crate::config::options as o;
use crate::config::{keys, ConfigError, Configuration};
use std::time::Duration;

/// `execution.checkpointing.externalized-checkpoint-retention`: what happens to a job's
/// checkpoints when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Flink's default: deleted when the job finishes or is canceled, kept when it fails.
    NoExternalizedCheckpoints,
    DeleteOnCancellation,
    RetainOnCancellation,
}

impl Retention {
    pub fn retains_on_cancellation(self) -> bool {
        self == Retention::RetainOnCancellation
    }
}

/// How a job takes, keeps and restores checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointingOptions {
    /// `execution.checkpointing.interval`; None (unset or 0): no periodic checkpoints, only
    /// savepoints and checkpoints on request.
    pub interval: Option<Duration>,
    /// `execution.checkpointing.timeout` (10 min).
    pub timeout: Duration,
    /// `execution.checkpointing.min-pause` (0).
    pub min_pause: Duration,
    /// `execution.checkpointing.max-concurrent-checkpoints` (1, at least 1).
    pub max_concurrent: u32,
    /// `state.checkpoints.num-retained` (1, at least 1).
    pub num_retained: u32,
    /// `execution.checkpointing.dir`, else `state.checkpoints.dir`; None: a directory under the
    /// system's temporary directory.
    pub dir: Option<String>,
    /// `execution.state-recovery.path`, else `execution.savepoint.path`: the state to start from.
    pub restore_path: Option<String>,
    /// `execution.state-recovery.ignore-unclaimed-state` or
    /// `execution.savepoint.ignore-unclaimed-state` (false).
    pub allow_non_restored_state: bool,
    pub retention: Retention,
    /// `execution.checkpointing.tolerable-failed-checkpoints` (0, Flink's default).
    pub tolerable_failed: u32,
}

impl CheckpointingOptions {
    pub fn from_config(conf: &Configuration) -> Result<Self, ConfigError> {
        let interval = o::CHECKPOINTING_INTERVAL.get(conf)?.unwrap_or_default();
        let retention = match o::CHECKPOINTING_RETENTION.choice(conf)?.as_str() {
            "delete_on_cancellation" => Retention::DeleteOnCancellation,
            "retain_on_cancellation" => Retention::RetainOnCancellation,
            _ => Retention::NoExternalizedCheckpoints,
        };
        // either name of the unclaimed-state key allows it
        let ignore_unclaimed = |key: &str| {
            let mut only = Configuration::new();
            if let Some(v) = conf.get(key) {
                only.set(o::STATE_RECOVERY_IGNORE_UNCLAIMED.key, v);
            }
            o::STATE_RECOVERY_IGNORE_UNCLAIMED.get(&only)
        };
        Ok(Self {
            interval: (!interval.is_zero()).then_some(interval),
            timeout: o::CHECKPOINTING_TIMEOUT.get(conf)?,
            min_pause: o::CHECKPOINTING_MIN_PAUSE.get(conf)?,
            max_concurrent: o::CHECKPOINTING_MAX_CONCURRENT.get(conf)?.max(1),
            num_retained: o::CHECKPOINTS_NUM_RETAINED.get(conf)?.max(1),
            dir: o::CHECKPOINTS_DIR.get(conf)?,
            restore_path: o::STATE_RECOVERY_PATH.get(conf)?,
            allow_non_restored_state: ignore_unclaimed(keys::STATE_RECOVERY_IGNORE_UNCLAIMED)?
                || ignore_unclaimed(keys::SAVEPOINT_IGNORE_UNCLAIMED)?,
            retention,
            tolerable_failed: o::CHECKPOINTING_TOLERABLE_FAILED.get(conf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> Configuration {
        let mut c = Configuration::default();
        for (k, v) in pairs {
            c.set(*k, *v);
        }
        c
    }

    #[test]
    fn flinks_defaults() {
        let o = CheckpointingOptions::from_config(&Configuration::default()).unwrap();
        assert_eq!(o.interval, None);
        assert_eq!(o.timeout, Duration::from_secs(600));
        assert_eq!(
            (o.max_concurrent, o.num_retained, o.tolerable_failed),
            (1, 1, 0)
        );
        assert_eq!(o.retention, Retention::NoExternalizedCheckpoints);
        assert!(!o.allow_non_restored_state);
        assert_eq!((o.dir, o.restore_path), (None, None));
    }

    #[test]
    fn newer_keys_win_over_the_deprecated_ones() {
        let o = CheckpointingOptions::from_config(&conf(&[
            (keys::CHECKPOINTING_INTERVAL, "5 s"),
            (keys::CHECKPOINTING_DIR, "/a"),
            (keys::CHECKPOINTS_DIR, "/b"),
            (keys::SAVEPOINT_PATH, "/sp"),
            (keys::SAVEPOINT_IGNORE_UNCLAIMED, "true"),
            (keys::CHECKPOINTING_RETENTION, "retain_on_cancellation"),
            (keys::CHECKPOINTING_MAX_CONCURRENT, "0"),
        ]))
        .unwrap();
        assert_eq!(o.interval, Some(Duration::from_secs(5)));
        assert_eq!(o.dir.as_deref(), Some("/a"));
        assert_eq!(o.restore_path.as_deref(), Some("/sp"));
        assert!(o.allow_non_restored_state);
        assert!(o.retention.retains_on_cancellation());
        assert_eq!(o.max_concurrent, 1);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (k, v) in [
            (keys::CHECKPOINTING_RETENTION, "KEEP"),
            (keys::CHECKPOINTING_INTERVAL, "soon"),
            (keys::CHECKPOINTING_TOLERABLE_FAILED, "-1"),
        ] {
            let e = CheckpointingOptions::from_config(&conf(&[(k, v)])).unwrap_err();
            assert!(e.to_string().contains(k), "{e}");
        }
    }
}
