//! Restart strategies (Flink's `RestartBackoffTimeStrategy`s), sans-IO.
//!
//! [`RestartStrategy`] is the configured strategy, read from Flink's `restart-strategy.*` keys by
//! [`RestartStrategy::from_config`]. [`RestartBackoff`] is the restart state of one job: the
//! JobMaster reports each failure with [`RestartBackoff::notify_failure`] (passing the time and a
//! random draw for jitter), then asks [`RestartBackoff::can_restart`] and, if so, waits
//! [`RestartBackoff::backoff_ms`] before restarting. Nothing here reads a clock or a random
//! number generator, so every decision is reproducible.
//!
//! Restart storms are impossible: whatever the failure sequence, a strategy either refuses or
//! imposes a backoff of at least [`RestartStrategy::min_delay_ms`] on every new restart attempt,
//! and none restarts more often than its bound (fixed-delay: `attempts` in total; failure-rate:
//! `max_failures_per_interval` per `interval_ms`; exponential-delay: one new attempt per
//! `initial_backoff_ms`, and `attempts_before_reset` in a row).
//!
//! Where this follows Flink 1.19+ rather than a simpler reading of the options:
//! - exponential-delay merges a failure that happens while a restart is still pending (`now` at or
//!   before the scheduled restart time) into that restart: it is not a new attempt, does not grow
//!   the backoff, and [`RestartBackoff::backoff_ms`] is the time left until the pending restart
//!   (as Flink's `getBackoffTime`, `max(0, nextRestartTimestamp - now)`).
//! - exponential-delay resets its backoff when the failure comes at least
//!   `reset_threshold_ms` after the previous *scheduled restart* (the job ran that long), not after
//!   the previous failure.
//! - exponential-delay's jitter is clamped with the backoff: the backoff is
//!   `max(initial, min(base ± jitter, max))`, so it never leaves `[initial, max]` (tighter than
//!   `[initial * (1 - jitter_factor), max * (1 + jitter_factor)]`).
//! - failure-rate refuses when more than `max_failures_per_interval` failures (counting the new
//!   one) fall within `interval_ms`, both ends inclusive (Flink: the `max + 1` most recent failures
//!   are no more than `interval_ms` apart).
//!
//! Deviations from Flink (sans-IO):
//! - Flink's strategies read the clock in `canRestart`/`getBackoffTime`; here the time of the last
//!   [`RestartBackoff::notify_failure`] is used, which is when the JobMaster asks in Flink too.
//! - Time never goes backwards: a `now` earlier than a previous failure's counts as that time.
//! - Before any failure, [`RestartBackoff::backoff_ms`] is the strategy's minimum delay (Flink's
//!   exponential-delay throws there).
//! - With no `restart-strategy.type` and checkpointing on, the `restart-strategy.exponential-delay.*`
//!   keys are honoured (their defaults are Flink's defaults).

use std::collections::VecDeque;
use std::fmt;
use strom_common::config::options::{self as o, ConfigOption, DurationOption, Float, Integer};
use strom_common::config::parse_duration;
use strom_common::Configuration;

/// The configuration keys (Flink's names; declared with their defaults in
/// [`strom_common::config::options`]).
pub mod keys {
    use strom_common::config::options as o;
    pub const TYPE: &str = o::RESTART_STRATEGY.key;
    /// Deprecated in Flink, still read when [`TYPE`] is not set.
    pub const TYPE_DEPRECATED: &str = o::RESTART_STRATEGY.deprecated_keys[0];
    pub const FIXED_DELAY_ATTEMPTS: &str = o::FIXED_DELAY_ATTEMPTS.key;
    pub const FIXED_DELAY_DELAY: &str = o::FIXED_DELAY_DELAY.key;
    pub const FAILURE_RATE_MAX_FAILURES: &str = o::FAILURE_RATE_MAX_FAILURES.key;
    pub const FAILURE_RATE_INTERVAL: &str = o::FAILURE_RATE_INTERVAL.key;
    pub const FAILURE_RATE_DELAY: &str = o::FAILURE_RATE_DELAY.key;
    pub const EXP_INITIAL_BACKOFF: &str = o::EXP_INITIAL_BACKOFF.key;
    pub const EXP_MAX_BACKOFF: &str = o::EXP_MAX_BACKOFF.key;
    pub const EXP_MULTIPLIER: &str = o::EXP_MULTIPLIER.key;
    pub const EXP_RESET_THRESHOLD: &str = o::EXP_RESET_THRESHOLD.key;
    pub const EXP_JITTER: &str = o::EXP_JITTER.key;
    pub const EXP_ATTEMPTS: &str = o::EXP_ATTEMPTS.key;
    /// Read to choose the default strategy (not owned by this module).
    pub const CHECKPOINTING_INTERVAL: &str = o::CHECKPOINTING_INTERVAL.key;

    /// Every restart-strategy key read here.
    pub const ALL: &[&str] = &[
        TYPE,
        TYPE_DEPRECATED,
        FIXED_DELAY_ATTEMPTS,
        FIXED_DELAY_DELAY,
        FAILURE_RATE_MAX_FAILURES,
        FAILURE_RATE_INTERVAL,
        FAILURE_RATE_DELAY,
        EXP_INITIAL_BACKOFF,
        EXP_MAX_BACKOFF,
        EXP_MULTIPLIER,
        EXP_RESET_THRESHOLD,
        EXP_JITTER,
        EXP_ATTEMPTS,
    ];
}

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

/// The accepted values of `restart-strategy.type`.
const TYPES: &str = "one of none, off, disable, fixed-delay, fixeddelay, failure-rate, \
                     failurerate, exponential-delay, exponentialdelay (case-insensitive)";

/// A restart-strategy option with a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestartStrategyError {
    #[error("bad value '{value}' for '{key}': expected {expected}")]
    BadValue {
        key: String,
        value: String,
        expected: String,
    },
}

fn bad(key: &str, value: &str, expected: impl Into<String>) -> RestartStrategyError {
    RestartStrategyError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        expected: expected.into(),
    }
}

/// A configured strategy (Flink's keys, values and defaults).
#[derive(Debug, Clone, PartialEq)]
pub enum RestartStrategy {
    /// Never restart (`none`, `off`, `disable`).
    None,
    /// At most `attempts` restarts in total, each after `delay_ms`.
    FixedDelay { attempts: u32, delay_ms: i64 },
    /// Restart after `delay_ms` unless more than `max_failures_per_interval` failures happened
    /// within `interval_ms`.
    FailureRate {
        max_failures_per_interval: u32,
        interval_ms: i64,
        delay_ms: i64,
    },
    /// Backoff `initial_backoff_ms * multiplier^n` (±`jitter_factor`), within
    /// `[initial_backoff_ms, max_backoff_ms]`; `n` resets after the job ran `reset_threshold_ms`;
    /// at most `attempts_before_reset` restarts in a row without a reset.
    ExponentialDelay {
        initial_backoff_ms: i64,
        max_backoff_ms: i64,
        multiplier: f64,
        reset_threshold_ms: i64,
        jitter_factor: f64,
        attempts_before_reset: u32,
    },
}

impl RestartStrategy {
    /// Flink's fixed-delay defaults: 1 attempt, 1 s.
    pub const DEFAULT_FIXED_DELAY: RestartStrategy = RestartStrategy::FixedDelay {
        attempts: 1,
        delay_ms: SECOND,
    };

    /// Flink's failure-rate defaults: 1 failure per 1 min, 1 s delay.
    pub const DEFAULT_FAILURE_RATE: RestartStrategy = RestartStrategy::FailureRate {
        max_failures_per_interval: 1,
        interval_ms: MINUTE,
        delay_ms: SECOND,
    };

    /// Flink's exponential-delay defaults: 1 s to 1 min, x1.5, reset after 1 h, jitter 0.1,
    /// unbounded attempts.
    pub const DEFAULT_EXPONENTIAL_DELAY: RestartStrategy = RestartStrategy::ExponentialDelay {
        initial_backoff_ms: SECOND,
        max_backoff_ms: MINUTE,
        multiplier: 1.5,
        reset_threshold_ms: HOUR,
        jitter_factor: 0.1,
        attempts_before_reset: u32::MAX,
    };

    /// From `restart-strategy.type` (falling back to the deprecated `restart-strategy`):
    /// none|off|disable, fixed-delay|fixeddelay, failure-rate|failurerate,
    /// exponential-delay|exponentialdelay (case-insensitive), with Flink's option keys (see
    /// [`keys`]) and defaults. When no type is set: `exponential-delay` if checkpointing is on
    /// (`execution.checkpointing.interval` set and > 0), else `none` (Flink's defaults).
    ///
    /// An unknown type or a bad value is an error naming the key, the value and what is accepted.
    pub fn from_config(config: &Configuration) -> Result<Self, RestartStrategyError> {
        let type_value = config.get(keys::TYPE).map(|v| (keys::TYPE, v)).or_else(|| {
            config
                .get(keys::TYPE_DEPRECATED)
                .map(|v| (keys::TYPE_DEPRECATED, v))
        });
        let kind = match type_value {
            Some((key, value)) => match value.trim().to_ascii_lowercase().as_str() {
                "none" | "off" | "disable" => Kind::None,
                "fixed-delay" | "fixeddelay" => Kind::FixedDelay,
                "failure-rate" | "failurerate" => Kind::FailureRate,
                "exponential-delay" | "exponentialdelay" => Kind::ExponentialDelay,
                _ => return Err(bad(key, value, TYPES)),
            },
            None if checkpointing_enabled(config)? => Kind::ExponentialDelay,
            None => Kind::None,
        };
        match kind {
            Kind::None => Ok(RestartStrategy::None),
            Kind::FixedDelay => Ok(RestartStrategy::FixedDelay {
                attempts: uint(config, &o::FIXED_DELAY_ATTEMPTS, 0)?,
                delay_ms: duration_ms(config, &o::FIXED_DELAY_DELAY, 0)?,
            }),
            Kind::FailureRate => Ok(RestartStrategy::FailureRate {
                max_failures_per_interval: uint(config, &o::FAILURE_RATE_MAX_FAILURES, 1)?,
                interval_ms: duration_ms(config, &o::FAILURE_RATE_INTERVAL, 1)?,
                delay_ms: duration_ms(config, &o::FAILURE_RATE_DELAY, 0)?,
            }),
            Kind::ExponentialDelay => {
                let initial_backoff_ms = duration_ms(config, &o::EXP_INITIAL_BACKOFF, 1)?;
                let max_backoff_ms = duration_ms(config, &o::EXP_MAX_BACKOFF, 1)?;
                if max_backoff_ms < initial_backoff_ms {
                    let value = config
                        .get(keys::EXP_MAX_BACKOFF)
                        .map_or_else(|| format_ms(max_backoff_ms), str::to_string);
                    return Err(bad(
                        keys::EXP_MAX_BACKOFF,
                        &value,
                        format!(
                            "a duration not below '{}' ({})",
                            keys::EXP_INITIAL_BACKOFF,
                            format_ms(initial_backoff_ms)
                        ),
                    ));
                }
                Ok(RestartStrategy::ExponentialDelay {
                    initial_backoff_ms,
                    max_backoff_ms,
                    multiplier: float(
                        config,
                        &o::EXP_MULTIPLIER,
                        |m| m > 1.0,
                        "a number greater than 1.0, such as 1.5",
                    )?,
                    reset_threshold_ms: duration_ms(config, &o::EXP_RESET_THRESHOLD, 1)?,
                    jitter_factor: float(
                        config,
                        &o::EXP_JITTER,
                        |j| (0.0..=1.0).contains(&j),
                        "a number from 0.0 to 1.0, such as 0.1",
                    )?,
                    attempts_before_reset: uint(config, &o::EXP_ATTEMPTS, 1)?,
                })
            }
        }
    }

    /// A fresh restart state for one job under this strategy.
    pub fn backoff(&self) -> RestartBackoff {
        RestartBackoff::new(self.clone())
    }

    /// The shortest delay this strategy imposes on any new restart attempt (the fixed or
    /// failure-rate delay, the exponential initial backoff; 0 for `None`, which never restarts).
    pub fn min_delay_ms(&self) -> i64 {
        match *self {
            RestartStrategy::None => 0,
            RestartStrategy::FixedDelay { delay_ms, .. }
            | RestartStrategy::FailureRate { delay_ms, .. } => delay_ms.max(0),
            RestartStrategy::ExponentialDelay {
                initial_backoff_ms, ..
            } => initial_backoff_ms.max(0),
        }
    }

    /// Flink-style description for REST and logs, e.g.
    /// "Restart with fixed delay (1 s). #3 restart attempts."
    pub fn describe(&self) -> String {
        match *self {
            RestartStrategy::None => "Restart deactivated.".to_string(),
            RestartStrategy::FixedDelay { attempts, delay_ms } => format!(
                "Restart with fixed delay ({}). #{attempts} restart attempts.",
                format_ms(delay_ms)
            ),
            RestartStrategy::FailureRate {
                max_failures_per_interval,
                interval_ms,
                delay_ms,
            } => format!(
                "Failure rate restart with maximum of {max_failures_per_interval} failures within \
                 interval {} and fixed delay {}.",
                format_ms(interval_ms),
                format_ms(delay_ms)
            ),
            RestartStrategy::ExponentialDelay {
                initial_backoff_ms,
                max_backoff_ms,
                multiplier,
                reset_threshold_ms,
                jitter_factor,
                attempts_before_reset,
            } => {
                let mut s = format!(
                    "Restart with exponential delay: starting at {}, increasing by {multiplier}, \
                     with maximum {}. Delay resets after {} with jitter {jitter_factor}.",
                    format_ms(initial_backoff_ms),
                    format_ms(max_backoff_ms),
                    format_ms(reset_threshold_ms)
                );
                if attempts_before_reset != u32::MAX {
                    s.push_str(&format!(
                        " At most {attempts_before_reset} restart attempts before the delay resets."
                    ));
                }
                s
            }
        }
    }
}

impl fmt::Display for RestartStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

#[derive(Clone, Copy)]
enum Kind {
    None,
    FixedDelay,
    FailureRate,
    ExponentialDelay,
}

fn checkpointing_enabled(config: &Configuration) -> Result<bool, RestartStrategyError> {
    match config.get(keys::CHECKPOINTING_INTERVAL) {
        None => Ok(false),
        Some(v) => parse_duration(v)
            .map(|d| !d.is_zero())
            .ok_or_else(|| bad(keys::CHECKPOINTING_INTERVAL, v, "a duration such as '10 s'")),
    }
}

fn uint(
    config: &Configuration,
    option: &ConfigOption<Integer<u32>>,
    min: u32,
) -> Result<u32, RestartStrategyError> {
    let key = option.key;
    match config.get(key) {
        None => Ok(option.default),
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if n >= min => Ok(n),
            _ if min == 0 => Err(bad(key, v, "a non-negative integer")),
            _ => Err(bad(key, v, format!("an integer of at least {min}"))),
        },
    }
}

/// A duration option in milliseconds, at least `min_ms`.
fn duration_ms(
    config: &Configuration,
    option: &ConfigOption<DurationOption>,
    min_ms: i64,
) -> Result<i64, RestartStrategyError> {
    let key = option.key;
    match config.get(key) {
        None => Ok(i64::try_from(option.default.as_millis()).unwrap_or(i64::MAX)),
        Some(v) => {
            match parse_duration(v).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)) {
                Some(ms) if ms >= min_ms => Ok(ms),
                _ if min_ms <= 0 => Err(bad(key, v, "a duration such as '10 s' or '500 ms'")),
                _ => Err(bad(
                    key,
                    v,
                    format!(
                        "a duration of at least {}, such as '10 s'",
                        format_ms(min_ms)
                    ),
                )),
            }
        }
    }
}

fn float(
    config: &Configuration,
    option: &ConfigOption<Float>,
    valid: impl Fn(f64) -> bool,
    expected: &str,
) -> Result<f64, RestartStrategyError> {
    let key = option.key;
    match config.get(key) {
        None => Ok(option.default),
        Some(v) => match v.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && valid(x) => Ok(x),
            _ => Err(bad(key, v, expected)),
        },
    }
}

/// Milliseconds in the largest whole unit: "1 h", "1 min", "10 s", "500 ms".
fn format_ms(ms: i64) -> String {
    if ms != 0 && ms % HOUR == 0 {
        format!("{} h", ms / HOUR)
    } else if ms != 0 && ms % MINUTE == 0 {
        format!("{} min", ms / MINUTE)
    } else if ms != 0 && ms % SECOND == 0 {
        format!("{} s", ms / SECOND)
    } else {
        format!("{ms} ms")
    }
}

/// Per-strategy state.
#[derive(Debug, Clone, PartialEq)]
enum State {
    None,
    /// Failures seen.
    FixedDelay {
        failures: u64,
    },
    /// The failure times within `interval_ms` of the latest, at most `max + 1` of them.
    FailureRate {
        window: VecDeque<i64>,
    },
    ExponentialDelay {
        /// Restart attempts since the last reset (Flink's `currentRestartAttempt`).
        attempt: u32,
        /// When the latest attempt's restart is due (Flink's `nextRestartTimestamp`).
        next_restart: Option<i64>,
        /// The latest attempt's backoff before jitter and the `[initial, max]` clamp.
        base_backoff_ms: i64,
    },
}

/// The state of one job's restarts.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartBackoff {
    strategy: RestartStrategy,
    state: State,
    /// The latest failure time (time never goes backwards).
    last_failure: Option<i64>,
    /// The backoff decided at the latest failure.
    backoff_ms: i64,
    restarts: u32,
}

impl RestartBackoff {
    pub fn new(strategy: RestartStrategy) -> Self {
        let state = match strategy {
            RestartStrategy::None => State::None,
            RestartStrategy::FixedDelay { .. } => State::FixedDelay { failures: 0 },
            RestartStrategy::FailureRate { .. } => State::FailureRate {
                window: VecDeque::new(),
            },
            RestartStrategy::ExponentialDelay { .. } => State::ExponentialDelay {
                attempt: 0,
                next_restart: None,
                base_backoff_ms: 0,
            },
        };
        let backoff_ms = strategy.min_delay_ms();
        Self {
            strategy,
            state,
            last_failure: None,
            backoff_ms,
            restarts: 0,
        }
    }

    pub fn strategy(&self) -> &RestartStrategy {
        &self.strategy
    }

    /// A failure happened at `now` (epoch ms). `jitter` in [0, 1) is the caller's uniform random
    /// draw (only exponential-delay uses it; out-of-range values are clamped, NaN means none).
    ///
    /// Returns whether this is a new restart attempt: `false` when exponential-delay merges it
    /// into the restart already pending (Flink's `notifyFailure` result); always `true` for the
    /// other strategies. Then ask [`can_restart`](Self::can_restart) and
    /// [`backoff_ms`](Self::backoff_ms).
    pub fn notify_failure(&mut self, now: i64, jitter: f64) -> bool {
        let now = self.last_failure.map_or(now, |last| now.max(last));
        self.last_failure = Some(now);
        let new_attempt = match (&self.strategy, &mut self.state) {
            (RestartStrategy::FixedDelay { delay_ms, .. }, State::FixedDelay { failures }) => {
                *failures = failures.saturating_add(1);
                self.backoff_ms = (*delay_ms).max(0);
                true
            }
            (
                RestartStrategy::FailureRate {
                    max_failures_per_interval,
                    interval_ms,
                    delay_ms,
                },
                State::FailureRate { window },
            ) => {
                window.push_back(now);
                let cap = *max_failures_per_interval as usize + 1;
                while window.len() > cap
                    || window
                        .front()
                        .is_some_and(|&t| now.saturating_sub(t) > *interval_ms)
                {
                    window.pop_front();
                }
                self.backoff_ms = (*delay_ms).max(0);
                true
            }
            (
                &RestartStrategy::ExponentialDelay {
                    initial_backoff_ms,
                    max_backoff_ms,
                    multiplier,
                    reset_threshold_ms,
                    jitter_factor,
                    ..
                },
                State::ExponentialDelay {
                    attempt,
                    next_restart,
                    base_backoff_ms,
                },
            ) => {
                if let Some(next) = *next_restart {
                    if now <= next {
                        // A restart is pending: this failure joins it.
                        self.backoff_ms = next - now;
                        return false;
                    }
                    if now.saturating_sub(next) >= reset_threshold_ms {
                        *attempt = 0;
                    }
                }
                let base = initial_backoff_ms as f64 * multiplier.powf(f64::from(*attempt));
                // `as` saturates (and maps NaN to 0); the clamp below keeps the result in range.
                let base = base as i64;
                let offset = (base as f64 * jitter_factor) as i64;
                let backoff = base
                    .saturating_add(jitter_offset(offset, jitter))
                    .min(max_backoff_ms)
                    .max(initial_backoff_ms)
                    .max(0);
                *base_backoff_ms = base;
                *next_restart = Some(now.saturating_add(backoff));
                *attempt = attempt.saturating_add(1);
                self.backoff_ms = backoff;
                true
            }
            _ => {
                self.backoff_ms = 0;
                true
            }
        };
        if new_attempt && self.can_restart() {
            self.restarts = self.restarts.saturating_add(1);
        }
        new_attempt
    }

    /// May the job restart after the failures seen so far? (Before any failure: true, except for
    /// `None`.)
    pub fn can_restart(&self) -> bool {
        match (&self.strategy, &self.state) {
            (RestartStrategy::FixedDelay { attempts, .. }, State::FixedDelay { failures }) => {
                *failures <= u64::from(*attempts)
            }
            (
                RestartStrategy::FailureRate {
                    max_failures_per_interval,
                    ..
                },
                State::FailureRate { window },
            ) => window.len() <= *max_failures_per_interval as usize,
            (
                RestartStrategy::ExponentialDelay {
                    attempts_before_reset,
                    ..
                },
                State::ExponentialDelay { attempt, .. },
            ) => attempt <= attempts_before_reset,
            _ => false,
        }
    }

    /// How long to wait before the restart, in ms, as decided at the latest failure (meaningful
    /// when [`can_restart`](Self::can_restart)). For a failure merged into a pending
    /// exponential-delay restart, the time left until that restart.
    pub fn backoff_ms(&self) -> i64 {
        self.backoff_ms
    }

    /// Restarts granted so far (new attempts after which the job could restart), for REST
    /// "numRestarts".
    pub fn restarts(&self) -> u32 {
        self.restarts
    }
}

/// Maps a uniform draw in [0, 1) to an integer offset uniform in `[-offset, offset]` (Flink's
/// `nextLong(-offset, offset + 1)`).
fn jitter_offset(offset: i64, draw: f64) -> i64 {
    if offset <= 0 {
        return 0;
    }
    let draw = if draw.is_nan() {
        0.5
    } else {
        draw.clamp(0.0, 1.0)
    };
    let span = offset.saturating_mul(2);
    let k = (draw * (span as f64 + 1.0)).floor() as i64;
    k.clamp(0, span) - offset
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: i64 = 1_700_000_000_000;

    fn conf(pairs: &[(&str, &str)]) -> Configuration {
        let mut c = Configuration::new();
        for (k, v) in pairs {
            c.set(*k, *v);
        }
        c
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<RestartStrategy, RestartStrategyError> {
        RestartStrategy::from_config(&conf(pairs))
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        parse(pairs).unwrap_err().to_string()
    }

    fn exp(
        initial: i64,
        max: i64,
        multiplier: f64,
        reset: i64,
        jitter: f64,
        attempts: u32,
    ) -> RestartStrategy {
        RestartStrategy::ExponentialDelay {
            initial_backoff_ms: initial,
            max_backoff_ms: max,
            multiplier,
            reset_threshold_ms: reset,
            jitter_factor: jitter,
            attempts_before_reset: attempts,
        }
    }

    #[test]
    fn default_follows_checkpointing() {
        assert_eq!(parse(&[]).unwrap(), RestartStrategy::None);
        assert_eq!(
            parse(&[(keys::CHECKPOINTING_INTERVAL, "10 s")]).unwrap(),
            RestartStrategy::DEFAULT_EXPONENTIAL_DELAY
        );
        assert_eq!(
            parse(&[(keys::CHECKPOINTING_INTERVAL, "0")]).unwrap(),
            RestartStrategy::None
        );
        // The exponential-delay keys apply to the default too.
        assert_eq!(
            parse(&[
                (keys::CHECKPOINTING_INTERVAL, "1 min"),
                (keys::EXP_INITIAL_BACKOFF, "2 s")
            ])
            .unwrap(),
            exp(2_000, MINUTE, 1.5, HOUR, 0.1, u32::MAX)
        );
        let e = err(&[(keys::CHECKPOINTING_INTERVAL, "often")]);
        assert!(
            e.contains(keys::CHECKPOINTING_INTERVAL) && e.contains("often"),
            "{e}"
        );
        // An explicit type wins over checkpointing.
        assert_eq!(
            parse(&[(keys::CHECKPOINTING_INTERVAL, "10 s"), (keys::TYPE, "none")]).unwrap(),
            RestartStrategy::None
        );
    }

    #[test]
    fn flink_defaults_per_type() {
        assert_eq!(
            parse(&[(keys::TYPE, "fixed-delay")]).unwrap(),
            RestartStrategy::FixedDelay {
                attempts: 1,
                delay_ms: 1_000
            }
        );
        assert_eq!(
            parse(&[(keys::TYPE, "failure-rate")]).unwrap(),
            RestartStrategy::FailureRate {
                max_failures_per_interval: 1,
                interval_ms: 60_000,
                delay_ms: 1_000
            }
        );
        assert_eq!(
            parse(&[(keys::TYPE, "exponential-delay")]).unwrap(),
            exp(1_000, 60_000, 1.5, 3_600_000, 0.1, u32::MAX)
        );
        assert_eq!(
            parse(&[(keys::TYPE, "fixed-delay")]).unwrap(),
            RestartStrategy::DEFAULT_FIXED_DELAY
        );
        assert_eq!(
            parse(&[(keys::TYPE, "failure-rate")]).unwrap(),
            RestartStrategy::DEFAULT_FAILURE_RATE
        );
    }

    #[test]
    fn parses_every_option() {
        assert_eq!(
            parse(&[
                (keys::TYPE, "fixed-delay"),
                (keys::FIXED_DELAY_ATTEMPTS, "3"),
                (keys::FIXED_DELAY_DELAY, "10 s")
            ])
            .unwrap(),
            RestartStrategy::FixedDelay {
                attempts: 3,
                delay_ms: 10_000
            }
        );
        assert_eq!(
            parse(&[
                (keys::TYPE, "failure-rate"),
                (keys::FAILURE_RATE_MAX_FAILURES, "5"),
                (keys::FAILURE_RATE_INTERVAL, "5 min"),
                (keys::FAILURE_RATE_DELAY, "250 ms")
            ])
            .unwrap(),
            RestartStrategy::FailureRate {
                max_failures_per_interval: 5,
                interval_ms: 300_000,
                delay_ms: 250
            }
        );
        assert_eq!(
            parse(&[
                (keys::TYPE, "exponential-delay"),
                (keys::EXP_INITIAL_BACKOFF, "100 ms"),
                (keys::EXP_MAX_BACKOFF, "10 s"),
                (keys::EXP_MULTIPLIER, "2.0"),
                (keys::EXP_RESET_THRESHOLD, "30 min"),
                (keys::EXP_JITTER, "0"),
                (keys::EXP_ATTEMPTS, "7")
            ])
            .unwrap(),
            exp(100, 10_000, 2.0, 1_800_000, 0.0, 7)
        );
        // Zero attempts and zero delay are allowed for fixed-delay (as in Flink).
        assert_eq!(
            parse(&[
                (keys::TYPE, "fixed-delay"),
                (keys::FIXED_DELAY_ATTEMPTS, "0"),
                (keys::FIXED_DELAY_DELAY, "0 ms")
            ])
            .unwrap(),
            RestartStrategy::FixedDelay {
                attempts: 0,
                delay_ms: 0
            }
        );
    }

    #[test]
    fn flink_aliases_case_insensitive() {
        for v in ["none", "off", "disable", "NONE", "Off", " Disable "] {
            assert_eq!(
                parse(&[(keys::TYPE, v)]).unwrap(),
                RestartStrategy::None,
                "{v}"
            );
        }
        for v in ["fixed-delay", "fixeddelay", "FixedDelay", "FIXED-DELAY"] {
            assert_eq!(
                parse(&[(keys::TYPE, v)]).unwrap(),
                RestartStrategy::DEFAULT_FIXED_DELAY,
                "{v}"
            );
        }
        for v in ["failure-rate", "failurerate", "FailureRate"] {
            assert_eq!(
                parse(&[(keys::TYPE, v)]).unwrap(),
                RestartStrategy::DEFAULT_FAILURE_RATE,
                "{v}"
            );
        }
        for v in ["exponential-delay", "exponentialdelay", "ExponentialDelay"] {
            assert_eq!(
                parse(&[(keys::TYPE, v)]).unwrap(),
                RestartStrategy::DEFAULT_EXPONENTIAL_DELAY,
                "{v}"
            );
        }
        // The deprecated key, and the new key winning over it.
        assert_eq!(
            parse(&[(keys::TYPE_DEPRECATED, "fixed-delay")]).unwrap(),
            RestartStrategy::DEFAULT_FIXED_DELAY
        );
        assert_eq!(
            parse(&[(keys::TYPE_DEPRECATED, "fixed-delay"), (keys::TYPE, "none")]).unwrap(),
            RestartStrategy::None
        );
        // Nested YAML flattens to the same keys.
        let c = Configuration::from_yaml_str(
            "restart-strategy:\n  type: fixed-delay\n  fixed-delay:\n    attempts: 4\n    delay: 2 s\n",
        )
        .unwrap();
        assert_eq!(
            RestartStrategy::from_config(&c).unwrap(),
            RestartStrategy::FixedDelay {
                attempts: 4,
                delay_ms: 2_000
            }
        );
    }

    #[test]
    fn unknown_type_names_key_value_and_accepted_values() {
        let e = err(&[(keys::TYPE, "sometimes")]);
        assert!(e.contains("'restart-strategy.type'"), "{e}");
        assert!(e.contains("'sometimes'"), "{e}");
        for accepted in [
            "none",
            "off",
            "disable",
            "fixed-delay",
            "failure-rate",
            "exponential-delay",
        ] {
            assert!(e.contains(accepted), "{e}");
        }
        let e = err(&[(keys::TYPE_DEPRECATED, "nope")]);
        assert!(
            e.contains("'restart-strategy'") && e.contains("'nope'"),
            "{e}"
        );
        assert!(matches!(
            parse(&[(keys::TYPE, "x")]),
            Err(RestartStrategyError::BadValue { key, .. }) if key == keys::TYPE
        ));
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("fixed-delay", keys::FIXED_DELAY_ATTEMPTS, "three"),
            ("fixed-delay", keys::FIXED_DELAY_ATTEMPTS, "-1"),
            ("fixed-delay", keys::FIXED_DELAY_DELAY, "soon"),
            ("failure-rate", keys::FAILURE_RATE_MAX_FAILURES, "0"),
            ("failure-rate", keys::FAILURE_RATE_INTERVAL, "0 s"),
            ("failure-rate", keys::FAILURE_RATE_DELAY, "1 fortnight"),
            ("exponential-delay", keys::EXP_INITIAL_BACKOFF, "0 ms"),
            ("exponential-delay", keys::EXP_MAX_BACKOFF, "x"),
            ("exponential-delay", keys::EXP_MULTIPLIER, "1.0"),
            ("exponential-delay", keys::EXP_MULTIPLIER, "NaN"),
            ("exponential-delay", keys::EXP_MULTIPLIER, "fast"),
            ("exponential-delay", keys::EXP_RESET_THRESHOLD, "0"),
            ("exponential-delay", keys::EXP_JITTER, "1.5"),
            ("exponential-delay", keys::EXP_JITTER, "-0.1"),
            ("exponential-delay", keys::EXP_ATTEMPTS, "0"),
        ];
        for (ty, key, value) in cases {
            let e = err(&[(keys::TYPE, ty), (key, value)]);
            assert!(
                e.contains(&format!("'{key}'")) && e.contains(&format!("'{value}'")),
                "{key}={value}: {e}"
            );
            assert!(e.contains("expected"), "{e}");
        }
        // A value of another strategy's key is not read.
        assert!(parse(&[(keys::TYPE, "none"), (keys::EXP_JITTER, "9")]).is_ok());
        // Initial above max names max-backoff and the initial backoff.
        let e = err(&[
            (keys::TYPE, "exponential-delay"),
            (keys::EXP_INITIAL_BACKOFF, "2 min"),
        ]);
        assert!(
            e.contains(keys::EXP_MAX_BACKOFF) && e.contains("'1 min'"),
            "{e}"
        );
        assert!(
            e.contains(keys::EXP_INITIAL_BACKOFF) && e.contains("2 min"),
            "{e}"
        );
    }

    #[test]
    fn describe_is_flink_style() {
        assert_eq!(RestartStrategy::None.describe(), "Restart deactivated.");
        assert_eq!(
            RestartStrategy::FixedDelay {
                attempts: 3,
                delay_ms: 1_000
            }
            .describe(),
            "Restart with fixed delay (1 s). #3 restart attempts."
        );
        assert_eq!(
            RestartStrategy::DEFAULT_FAILURE_RATE.to_string(),
            "Failure rate restart with maximum of 1 failures within interval 1 min and fixed \
             delay 1 s."
        );
        assert_eq!(
            RestartStrategy::DEFAULT_EXPONENTIAL_DELAY.describe(),
            "Restart with exponential delay: starting at 1 s, increasing by 1.5, with maximum \
             1 min. Delay resets after 1 h with jitter 0.1."
        );
        assert!(exp(250, 1_500, 2.0, 90_000, 0.0, 4)
            .describe()
            .ends_with("starting at 250 ms, increasing by 2, with maximum 1500 ms. Delay resets \
                        after 90 s with jitter 0. At most 4 restart attempts before the delay resets."));
    }

    #[test]
    fn none_never_restarts() {
        let mut b = RestartStrategy::None.backoff();
        assert!(!b.can_restart());
        assert!(b.notify_failure(T0, 0.5));
        assert!(!b.can_restart());
        assert_eq!(b.restarts(), 0);
    }

    #[test]
    fn fixed_delay_allows_attempts_then_refuses() {
        let mut b = RestartStrategy::FixedDelay {
            attempts: 2,
            delay_ms: 500,
        }
        .backoff();
        assert!(b.can_restart());
        for i in 0..2 {
            b.notify_failure(T0 + i, 0.0);
            assert!(b.can_restart());
            assert_eq!(b.backoff_ms(), 500);
        }
        b.notify_failure(T0 + 10, 0.0);
        assert!(!b.can_restart());
        assert_eq!(b.restarts(), 2);

        let mut zero = RestartStrategy::FixedDelay {
            attempts: 0,
            delay_ms: 0,
        }
        .backoff();
        zero.notify_failure(T0, 0.0);
        assert!(!zero.can_restart());
    }

    /// Flink's FailureRateRestartBackoffTimeStrategyTest.
    #[test]
    fn failure_rate_flink_cases() {
        // Many failures within rate: 1 per 1 ms, failures 2 ms apart.
        let mut b = RestartStrategy::FailureRate {
            max_failures_per_interval: 1,
            interval_ms: 1,
            delay_ms: 0,
        }
        .backoff();
        for i in 0..3 {
            b.notify_failure(T0 + 2 * i, 0.0);
            assert!(b.can_restart());
        }
        assert_eq!(b.restarts(), 3);
        // Exceeding the rate: 3 per 10 s, four failures at once.
        let mut b = RestartStrategy::FailureRate {
            max_failures_per_interval: 3,
            interval_ms: 10_000,
            delay_ms: 7,
        }
        .backoff();
        for _ in 0..3 {
            b.notify_failure(T0, 0.0);
            assert!(b.can_restart());
            assert_eq!(b.backoff_ms(), 7);
        }
        b.notify_failure(T0, 0.0);
        assert!(!b.can_restart());
        // Both window ends are inclusive.
        let mut b = RestartStrategy::FailureRate {
            max_failures_per_interval: 1,
            interval_ms: 100,
            delay_ms: 0,
        }
        .backoff();
        b.notify_failure(T0, 0.0);
        b.notify_failure(T0 + 100, 0.0);
        assert!(!b.can_restart());
        b.notify_failure(T0 + 201, 0.0);
        assert!(b.can_restart());
    }

    #[test]
    fn exponential_grows_caps_and_resets() {
        let mut b = exp(1_000, 5_000, 2.0, 60_000, 0.0, u32::MAX).backoff();
        let mut now = T0;
        let mut got = Vec::new();
        for _ in 0..5 {
            assert!(b.notify_failure(now, 0.3));
            assert!(b.can_restart());
            got.push(b.backoff_ms());
            now += b.backoff_ms() + 10; // fails 10 ms after the restart
        }
        assert_eq!(got, [1_000, 2_000, 4_000, 5_000, 5_000]);
        assert_eq!(b.restarts(), 5);
        // Running a full threshold after the restart resets the backoff.
        let restart_at = now - 10;
        b.notify_failure(restart_at + 60_000, 0.3);
        assert_eq!(b.backoff_ms(), 1_000);
        assert!(matches!(
            b.state,
            State::ExponentialDelay { attempt: 1, .. }
        ));
        // Just under the threshold does not.
        let mut b = exp(1_000, 5_000, 2.0, 60_000, 0.0, u32::MAX).backoff();
        b.notify_failure(T0, 0.0);
        b.notify_failure(T0 + 1_000 + 59_999, 0.0);
        assert_eq!(b.backoff_ms(), 2_000);
    }

    #[test]
    fn exponential_merges_failures_while_restart_pending() {
        let mut b = exp(1_000, 60_000, 1.5, HOUR, 0.0, u32::MAX).backoff();
        assert!(b.notify_failure(T0, 0.0));
        assert_eq!(b.backoff_ms(), 1_000);
        assert!(!b.notify_failure(T0 + 400, 0.0));
        assert_eq!(b.backoff_ms(), 600);
        assert!(!b.notify_failure(T0 + 1_000, 0.0));
        assert_eq!(b.backoff_ms(), 0);
        assert_eq!(b.restarts(), 1);
        assert!(b.notify_failure(T0 + 1_001, 0.0));
        assert_eq!(b.backoff_ms(), 1_500);
        assert_eq!(b.restarts(), 2);
    }

    #[test]
    fn exponential_jitter_maps_draw_to_symmetric_offset() {
        // Base 1000, jitter 0.1: offset in [-100, 100], clamped to [initial, max].
        let backoff = |draw: f64| {
            let mut b = exp(1_000, 60_000, 2.0, HOUR, 0.1, u32::MAX).backoff();
            b.notify_failure(T0, 0.0);
            b.notify_failure(T0 + 1_001, draw);
            b.backoff_ms()
        };
        assert_eq!(backoff(0.0), 2_000 - 200);
        assert_eq!(backoff(0.5), 2_000);
        assert_eq!(backoff(0.999_999_999), 2_000 + 200);
        assert_eq!(backoff(f64::NAN), 2_000);
        assert_eq!(backoff(7.0), 2_200);
        // The first backoff cannot go below the initial backoff.
        let mut b = exp(1_000, 60_000, 2.0, HOUR, 0.5, u32::MAX).backoff();
        b.notify_failure(T0, 0.0);
        assert_eq!(b.backoff_ms(), 1_000);
        assert_eq!(jitter_offset(0, 0.9), 0);
        assert_eq!(jitter_offset(2, 0.0), -2);
        assert_eq!(jitter_offset(2, 0.99), 2);
    }

    #[test]
    fn exponential_stops_after_attempts_before_reset() {
        let mut b = exp(10, 100, 2.0, 1_000, 0.0, 2).backoff();
        let mut now = T0;
        for _ in 0..2 {
            b.notify_failure(now, 0.0);
            assert!(b.can_restart());
            now += b.backoff_ms() + 1;
        }
        b.notify_failure(now, 0.0);
        assert!(!b.can_restart());
        assert_eq!(b.restarts(), 2);
        // After a reset the attempts count again from one.
        b.notify_failure(now + 10_000, 0.0);
        assert!(b.can_restart());
        assert_eq!(b.restarts(), 3);
    }

    // ---- property tests ----

    /// Non-decreasing failure times with a jitter draw each: bursts, short and long gaps.
    fn failures() -> impl Strategy<Value = Vec<(i64, f64)>> {
        let gap = prop_oneof![
            Just(0i64),
            0i64..50,
            0i64..5_000,
            0i64..500_000,
            0i64..10_000_000,
        ];
        proptest::collection::vec((gap, 0.0f64..1.0), 0..80).prop_map(|steps| {
            let mut now = T0;
            steps
                .into_iter()
                .map(|(g, j)| {
                    now += g;
                    (now, j)
                })
                .collect()
        })
    }

    /// Failures a few ms apart, so that window edges (`now - t == interval`) are hit.
    fn dense_failures() -> impl Strategy<Value = Vec<(i64, f64)>> {
        proptest::collection::vec((0i64..6, 0.0f64..1.0), 0..60).prop_map(|steps| {
            let mut now = T0;
            steps
                .into_iter()
                .map(|(g, j)| {
                    now += g;
                    (now, j)
                })
                .collect()
        })
    }

    fn exponential() -> impl Strategy<Value = RestartStrategy> {
        (
            1i64..5_000,
            0i64..100_000,
            1.01f64..4.0,
            1i64..2_000_000,
            0.0f64..=1.0,
            prop_oneof![1u32..8, Just(u32::MAX)],
        )
            .prop_map(|(initial, extra, mult, reset, jitter, attempts)| {
                exp(initial, initial + extra, mult, reset, jitter, attempts)
            })
    }

    fn any_strategy() -> impl Strategy<Value = RestartStrategy> {
        prop_oneof![
            Just(RestartStrategy::None),
            (0u32..10, 0i64..5_000).prop_map(|(attempts, delay_ms)| RestartStrategy::FixedDelay {
                attempts,
                delay_ms
            }),
            (1u32..6, 1i64..50_000, 0i64..5_000).prop_map(|(max, interval_ms, delay_ms)| {
                RestartStrategy::FailureRate {
                    max_failures_per_interval: max,
                    interval_ms,
                    delay_ms,
                }
            }),
            exponential(),
        ]
    }

    /// One failure's outcome.
    struct Outcome {
        now: i64,
        new_attempt: bool,
        allowed: bool,
        backoff: i64,
    }

    fn run(strategy: &RestartStrategy, seq: &[(i64, f64)]) -> (RestartBackoff, Vec<Outcome>) {
        let mut b = strategy.backoff();
        let out = seq
            .iter()
            .map(|&(now, j)| {
                let new_attempt = b.notify_failure(now, j);
                Outcome {
                    now,
                    new_attempt,
                    allowed: b.can_restart(),
                    backoff: b.backoff_ms(),
                }
            })
            .collect();
        (b, out)
    }

    proptest! {
        #[test]
        fn prop_none_never_restarts(seq in failures()) {
            let (b, out) = run(&RestartStrategy::None, &seq);
            prop_assert!(out.iter().all(|o| !o.allowed));
            prop_assert_eq!(b.restarts(), 0);
        }

        #[test]
        fn prop_fixed_delay_at_most_attempts(attempts in 0u32..12, delay in 0i64..10_000, seq in failures()) {
            let s = RestartStrategy::FixedDelay { attempts, delay_ms: delay };
            let (b, out) = run(&s, &seq);
            let allowed = out.iter().filter(|o| o.allowed).count();
            prop_assert_eq!(allowed, seq.len().min(attempts as usize));
            prop_assert_eq!(b.restarts() as usize, allowed);
            // The allowed ones are the first `attempts`, each with the fixed delay.
            for (i, o) in out.iter().enumerate() {
                prop_assert_eq!(o.allowed, i < attempts as usize);
                prop_assert!(o.new_attempt);
                prop_assert_eq!(o.backoff, delay);
            }
        }

        #[test]
        fn prop_failure_rate_bounded_per_window(
            max in 1u32..6,
            interval in prop_oneof![1i64..20, 1i64..100_000],
            delay in 0i64..5_000,
            seq in prop_oneof![failures(), dense_failures()]
        ) {
            let s = RestartStrategy::FailureRate { max_failures_per_interval: max, interval_ms: interval, delay_ms: delay };
            let (b, out) = run(&s, &seq);
            for (i, o) in out.iter().enumerate() {
                // Exact model: refused iff more than `max` failures (this one included) lie in
                // [now - interval, now].
                let in_window = out[..=i].iter().filter(|p| o.now - p.now <= interval).count();
                prop_assert_eq!(o.allowed, in_window <= max as usize, "failure {}", i);
                prop_assert_eq!(o.backoff, delay);
                // No window of length `interval` ending here holds more than `max` restarts.
                let restarts = out[..=i].iter().filter(|p| p.allowed && o.now - p.now <= interval).count();
                prop_assert!(restarts <= max as usize);
            }
            prop_assert_eq!(b.restarts() as usize, out.iter().filter(|o| o.allowed).count());
        }

        #[test]
        fn prop_exponential_backoff_within_bounds(s in exponential(), seq in failures()) {
            let RestartStrategy::ExponentialDelay { initial_backoff_ms: initial, max_backoff_ms: max, jitter_factor: jf, .. } = s else { unreachable!() };
            let (_, out) = run(&s, &seq);
            let low = (initial as f64 * (1.0 - jf)).floor() as i64;
            let high = (max as f64 * (1.0 + jf)).ceil() as i64;
            for o in out.iter().filter(|o| o.new_attempt) {
                prop_assert!(o.backoff >= low && o.backoff <= high, "{} not in [{}, {}]", o.backoff, low, high);
                // Flink clamps after jitter: tighter still.
                prop_assert!(o.backoff >= initial && o.backoff <= max);
            }
            for o in out.iter().filter(|o| !o.new_attempt) {
                prop_assert!(o.backoff >= 0 && o.backoff <= max);
            }
        }

        #[test]
        fn prop_exponential_grows_until_reset(s in exponential(), seq in failures()) {
            let RestartStrategy::ExponentialDelay { initial_backoff_ms: initial, max_backoff_ms: max, multiplier, reset_threshold_ms: reset, .. } = s else { unreachable!() };
            let mut b = s.backoff();
            let mut prev: Option<(i64, i64)> = None; // (scheduled restart, capped base backoff)
            let mut since_reset = 0u32;
            for &(now, j) in &seq {
                let pending = prev.is_some_and(|(next, _)| now <= next);
                let new_attempt = b.notify_failure(now, j);
                prop_assert_eq!(new_attempt, !pending);
                if !new_attempt {
                    continue;
                }
                let State::ExponentialDelay { attempt, next_restart, base_backoff_ms } = b.state else { unreachable!() };
                let capped = base_backoff_ms.min(max);
                let reset_now = prev.is_none_or(|(next, _)| now - next >= reset);
                if reset_now {
                    since_reset = 1;
                    prop_assert_eq!(base_backoff_ms, initial, "resets to the initial backoff");
                } else {
                    since_reset += 1;
                    let (_, prev_capped) = prev.unwrap();
                    prop_assert!(capped >= prev_capped, "non-decreasing without reset");
                    let expected = (initial as f64 * multiplier.powf(f64::from(since_reset - 1))) as i64;
                    prop_assert_eq!(base_backoff_ms, expected);
                }
                prop_assert_eq!(attempt, since_reset);
                prop_assert_eq!(next_restart, Some(now + b.backoff_ms()));
                prev = Some((now + b.backoff_ms(), capped));
            }
        }

        #[test]
        fn prop_exponential_attempts_and_spacing_bounded(s in exponential(), seq in failures()) {
            let RestartStrategy::ExponentialDelay { initial_backoff_ms: initial, attempts_before_reset: n, .. } = s else { unreachable!() };
            let (b, out) = run(&s, &seq);
            let attempts: Vec<&Outcome> = out.iter().filter(|o| o.new_attempt).collect();
            // New attempts are more than `initial` apart: at most one per `initial` ms.
            for w in attempts.windows(2) {
                prop_assert!(w[1].now - w[0].now > initial);
            }
            // Never more than `n` restarts in a row without a reset: the attempt counter (restarts
            // since the last reset) decides.
            let mut b2 = s.backoff();
            for &(now, j) in &seq {
                if b2.notify_failure(now, j) {
                    let State::ExponentialDelay { attempt, .. } = b2.state else { unreachable!() };
                    prop_assert_eq!(b2.can_restart(), attempt <= n);
                }
            }
            prop_assert_eq!(b.restarts() as usize, attempts.iter().filter(|o| o.allowed).count());
        }

        /// Restart storms are impossible: every new attempt is refused or waits at least the
        /// strategy's minimum delay.
        #[test]
        fn prop_no_restart_storm(s in any_strategy(), seq in failures()) {
            let (b, out) = run(&s, &seq);
            let min = s.min_delay_ms();
            for o in out.iter().filter(|o| o.new_attempt && o.allowed) {
                prop_assert!(o.backoff >= min, "{} < {} for {}", o.backoff, min, s);
            }
            prop_assert!(b.restarts() as usize <= seq.len());
            if let RestartStrategy::FixedDelay { attempts, .. } = s {
                prop_assert!(b.restarts() <= attempts);
            }
        }

        /// Time going backwards is treated as the latest time seen.
        #[test]
        fn prop_time_never_goes_backwards(s in any_strategy(), seq in failures(), back in 1i64..1_000_000) {
            let (mut b, _) = run(&s, &seq);
            let mut c = b.clone();
            let last = seq.last().map_or(T0, |f| f.0);
            let r1 = b.notify_failure(last - back, 0.5);
            let r2 = c.notify_failure(if seq.is_empty() { last - back } else { last }, 0.5);
            prop_assert_eq!(r1, r2);
            prop_assert_eq!(b, c);
        }
    }
}
