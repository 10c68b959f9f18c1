//! A job's checkpointing options (Flink's keys and defaults), read once from its configuration:
//! the JobMaster's checkpointing and the REST views use these values, not the keys.

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
        let interval = conf.get_duration(keys::CHECKPOINTING_INTERVAL, Duration::ZERO)?;
        let retention = match conf.get(keys::CHECKPOINTING_RETENTION) {
            None => Retention::NoExternalizedCheckpoints,
            Some(v) => match v.trim().to_ascii_uppercase().as_str() {
                "NO_EXTERNALIZED_CHECKPOINTS" => Retention::NoExternalizedCheckpoints,
                "DELETE_ON_CANCELLATION" => Retention::DeleteOnCancellation,
                "RETAIN_ON_CANCELLATION" => Retention::RetainOnCancellation,
                _ => {
                    return Err(ConfigError::BadValue {
                        key: keys::CHECKPOINTING_RETENTION.to_string(),
                        value: v.to_string(),
                        expected: "RETAIN_ON_CANCELLATION, DELETE_ON_CANCELLATION or \
                                   NO_EXTERNALIZED_CHECKPOINTS",
                    })
                }
            },
        };
        Ok(Self {
            interval: (!interval.is_zero()).then_some(interval),
            timeout: conf.get_duration(keys::CHECKPOINTING_TIMEOUT, Duration::from_secs(600))?,
            min_pause: conf.get_duration(keys::CHECKPOINTING_MIN_PAUSE, Duration::ZERO)?,
            max_concurrent: conf.get_u32(keys::CHECKPOINTING_MAX_CONCURRENT, 1)?.max(1),
            num_retained: conf.get_u32(keys::CHECKPOINTS_NUM_RETAINED, 1)?.max(1),
            dir: conf
                .get(keys::CHECKPOINTING_DIR)
                .or_else(|| conf.get(keys::CHECKPOINTS_DIR))
                .map(str::to_string),
            restore_path: conf
                .get(keys::STATE_RECOVERY_PATH)
                .or_else(|| conf.get(keys::SAVEPOINT_PATH))
                .map(str::to_string),
            allow_non_restored_state: conf
                .get_bool(keys::STATE_RECOVERY_IGNORE_UNCLAIMED, false)?
                || conf.get_bool(keys::SAVEPOINT_IGNORE_UNCLAIMED, false)?,
            retention,
            tolerable_failed: conf.get_u32(keys::CHECKPOINTING_TOLERABLE_FAILED, 0)?,
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
