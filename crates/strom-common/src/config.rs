//! Configuration with Flink's key names: `conf/config.yaml` (nested or flat keys), then `-D k=v`,
//! then SQL `SET 'k' = 'v';`. Values are kept as strings and parsed by typed getters.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Errors from reading or interpreting configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("configuration file {path} is not valid YAML: {message}")]
    Yaml { path: String, message: String },
    #[error("bad value '{value}' for '{key}': expected {expected}")]
    BadValue {
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("bad dynamic property '{0}': expected key=value")]
    BadDynamic(String),
}

pub mod keys {
    //! The keys Strom understands (Flink's names).
    pub const REST_PORT: &str = "rest.port";
    pub const REST_ADDRESS: &str = "rest.address";
    pub const REST_BIND_ADDRESS: &str = "rest.bind-address";
    pub const NUM_TASK_SLOTS: &str = "taskmanager.numberOfTaskSlots";
    pub const PARALLELISM_DEFAULT: &str = "parallelism.default";
    pub const RUNTIME_MODE: &str = "execution.runtime-mode";
    pub const PIPELINE_NAME: &str = "pipeline.name";
    pub const MAX_PARALLELISM: &str = "pipeline.max-parallelism";
    pub const SLOT_REQUEST_TIMEOUT: &str = "slot.request.timeout";
    pub const TASK_SPREAD: &str = "cluster.evenly-spread-out-slots";
    pub const SLOT_POLICY: &str = "strom.scheduler.slot-assignment";
    pub const LOCAL_NUMBER_TASKMANAGER: &str = "local.number-taskmanager";
    pub const JOBMANAGER_RPC_ADDRESS: &str = "jobmanager.rpc.address";
    pub const JOBMANAGER_RPC_PORT: &str = "jobmanager.rpc.port";
    pub const WEB_REFRESH_INTERVAL: &str = "web.refresh-interval";
    pub const TABLE_DML_SYNC: &str = "table.dml-sync";
    pub const AGG_PHASE_STRATEGY: &str = "table.optimizer.agg-phase-strategy";
    /// Non-windowed aggregates emit one change per group and input batch instead of per row.
    pub const MINI_BATCH_ENABLED: &str = "table.exec.mini-batch.enabled";
    pub const HEARTBEAT_INTERVAL: &str = "heartbeat.interval";
    pub const HEARTBEAT_TIMEOUT: &str = "heartbeat.timeout";
    /// Shared secret every TaskManager and RPC caller must present (or `STROM_CLUSTER_SECRET`).
    pub const CLUSTER_SECRET: &str = "cluster.secret";
    pub const TASKMANAGER_HOST: &str = "taskmanager.host";
    pub const TASKMANAGER_BIND_HOST: &str = "taskmanager.bind-host";
    pub const TASKMANAGER_RPC_PORT: &str = "taskmanager.rpc.port";
    pub const TASKMANAGER_DATA_PORT: &str = "taskmanager.data.port";
    pub const JOBMANAGER_BIND_HOST: &str = "jobmanager.bind-host";
    pub const RESTART_STRATEGY: &str = "restart-strategy.type";
    pub const CHECKPOINTING_INTERVAL: &str = "execution.checkpointing.interval";
    pub const CHECKPOINTING_TIMEOUT: &str = "execution.checkpointing.timeout";
    pub const CHECKPOINTING_MIN_PAUSE: &str = "execution.checkpointing.min-pause";
    pub const CHECKPOINTING_MAX_CONCURRENT: &str =
        "execution.checkpointing.max-concurrent-checkpoints";
    /// Flink 2's name of the checkpoint directory; `state.checkpoints.dir` is the older one.
    pub const CHECKPOINTING_DIR: &str = "execution.checkpointing.dir";
    pub const CHECKPOINTS_DIR: &str = "state.checkpoints.dir";
    pub const CHECKPOINTS_NUM_RETAINED: &str = "state.checkpoints.num-retained";
    pub const CHECKPOINTING_RETENTION: &str =
        "execution.checkpointing.externalized-checkpoint-retention";
    /// Consecutive failed checkpoints a job tolerates before it fails over (Flink's default 0).
    pub const CHECKPOINTING_TOLERABLE_FAILED: &str =
        "execution.checkpointing.tolerable-failed-checkpoints";
    pub const SAVEPOINT_DIR: &str = "state.savepoints.dir";
    /// Flink 2's restore path key; `execution.savepoint.path` is the older one.
    pub const STATE_RECOVERY_PATH: &str = "execution.state-recovery.path";
    pub const SAVEPOINT_PATH: &str = "execution.savepoint.path";
    pub const STATE_RECOVERY_IGNORE_UNCLAIMED: &str =
        "execution.state-recovery.ignore-unclaimed-state";
    pub const SAVEPOINT_IGNORE_UNCLAIMED: &str = "execution.savepoint.ignore-unclaimed-state";

    /// Every key Strom reads; others are kept (and shown) but warned about.
    pub const KNOWN: &[&str] = &[
        REST_PORT,
        REST_ADDRESS,
        REST_BIND_ADDRESS,
        NUM_TASK_SLOTS,
        PARALLELISM_DEFAULT,
        RUNTIME_MODE,
        PIPELINE_NAME,
        MAX_PARALLELISM,
        SLOT_REQUEST_TIMEOUT,
        TASK_SPREAD,
        SLOT_POLICY,
        LOCAL_NUMBER_TASKMANAGER,
        JOBMANAGER_RPC_ADDRESS,
        JOBMANAGER_RPC_PORT,
        WEB_REFRESH_INTERVAL,
        TABLE_DML_SYNC,
        AGG_PHASE_STRATEGY,
        MINI_BATCH_ENABLED,
        HEARTBEAT_INTERVAL,
        HEARTBEAT_TIMEOUT,
        CLUSTER_SECRET,
        TASKMANAGER_HOST,
        TASKMANAGER_BIND_HOST,
        TASKMANAGER_RPC_PORT,
        TASKMANAGER_DATA_PORT,
        JOBMANAGER_BIND_HOST,
        RESTART_STRATEGY,
        "restart-strategy.fixed-delay.attempts",
        "restart-strategy.fixed-delay.delay",
        "restart-strategy.failure-rate.max-failures-per-interval",
        "restart-strategy.failure-rate.failure-rate-interval",
        "restart-strategy.failure-rate.delay",
        "restart-strategy.exponential-delay.initial-backoff",
        "restart-strategy.exponential-delay.max-backoff",
        "restart-strategy.exponential-delay.backoff-multiplier",
        "restart-strategy.exponential-delay.reset-backoff-threshold",
        "restart-strategy.exponential-delay.jitter-factor",
        "restart-strategy.exponential-delay.attempts-before-reset-backoff",
        CHECKPOINTING_INTERVAL,
        CHECKPOINTING_TIMEOUT,
        CHECKPOINTING_MIN_PAUSE,
        CHECKPOINTING_MAX_CONCURRENT,
        CHECKPOINTING_DIR,
        CHECKPOINTS_DIR,
        CHECKPOINTS_NUM_RETAINED,
        CHECKPOINTING_RETENTION,
        CHECKPOINTING_TOLERABLE_FAILED,
        SAVEPOINT_DIR,
        STATE_RECOVERY_PATH,
        SAVEPOINT_PATH,
        STATE_RECOVERY_IGNORE_UNCLAIMED,
        SAVEPOINT_IGNORE_UNCLAIMED,
        "jobmanager.memory.process.size",
        "taskmanager.memory.process.size",
        "jobmanager.execution.failover-strategy",
        "rest.auth.token",
        "rest.server.max-content-length",
    ];
}

/// A flat map of Flink-style keys to string values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Configuration {
    entries: BTreeMap<String, String>,
}

impl Configuration {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a Flink `config.yaml` (nested maps are flattened with dots: `rest: {port: 8081}`
    /// becomes `rest.port`).
    pub fn from_yaml_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml_str(&text).map_err(|message| ConfigError::Yaml {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses YAML text; the error is a message with the position.
    pub fn from_yaml_str(text: &str) -> Result<Self, String> {
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let mut conf = Self::new();
        flatten("", &value, &mut conf.entries);
        Ok(conf)
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.entries.insert(key.into(), value.into());
    }

    /// Applies a `key=value` dynamic property (`-D`).
    pub fn set_dynamic(&mut self, kv: &str) -> Result<(), ConfigError> {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| ConfigError::BadDynamic(kv.to_string()))?;
        if k.trim().is_empty() {
            return Err(ConfigError::BadDynamic(kv.to_string()));
        }
        self.set(k.trim(), v.trim());
        Ok(())
    }

    /// Overlays `other` on top of `self`.
    pub fn merge(&mut self, other: &Configuration) {
        for (k, v) in &other.entries {
            self.entries.insert(k.clone(), v.clone());
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn get_string(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_string()
    }

    pub fn get_u32(&self, key: &str, default: u32) -> Result<u32, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| bad(key, v, "a non-negative integer")),
        }
    }

    pub fn get_u16(&self, key: &str, default: u16) -> Result<u16, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| bad(key, v, "a port number (0-65535)")),
        }
    }

    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(v) => Err(bad(key, &v, "true or false")),
        }
    }

    /// Flink durations: `100 ms`, `10s`, `5 min`, `1h`, or a bare number of milliseconds.
    pub fn get_duration(&self, key: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => parse_duration(v)
                .ok_or_else(|| bad(key, v, "a duration such as '10 s' or '500 ms'")),
        }
    }

    /// Keys that Strom does not read (for a warning).
    pub fn unknown_keys(&self) -> Vec<&str> {
        self.entries
            .keys()
            .map(String::as_str)
            .filter(|k| {
                !keys::KNOWN.contains(k)
                    && !k.starts_with("table.")
                    && !k.starts_with("env.")
                    && !k.starts_with("execution.")
                    && !k.starts_with("pipeline.")
                    && !k.starts_with("strom.")
            })
            .collect()
    }
}

fn bad(key: &str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        expected,
    }
}

fn flatten(prefix: &str, value: &serde_yaml::Value, out: &mut BTreeMap<String, String>) {
    use serde_yaml::Value;
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Mapping(m) => {
            for (k, v) in m {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => scalar(other),
                };
                flatten(&join(&key), v, out);
            }
        }
        Value::Null => {}
        Value::Sequence(items) => {
            let joined: Vec<String> = items.iter().map(scalar).collect();
            out.insert(prefix.to_string(), joined.join(";"));
        }
        other => {
            out.insert(prefix.to_string(), scalar(other));
        }
    }
}

fn scalar(v: &serde_yaml::Value) -> String {
    use serde_yaml::Value;
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// Parses Flink's duration syntax.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.trim().parse().ok()?;
    let ms = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => num,
        "s" | "sec" | "secs" | "second" | "seconds" => num * 1e3,
        "min" | "m" | "minute" | "minutes" => num * 60e3,
        "h" | "hour" | "hours" => num * 3600e3,
        "d" | "day" | "days" => num * 86400e3,
        _ => return None,
    };
    if !ms.is_finite() || ms < 0.0 {
        return None;
    }
    Some(Duration::from_micros((ms * 1e3) as u64))
}

/// Parses Flink's memory size syntax (`MemorySize`): a number of bytes with an optional unit
/// `b`, `k`/`kb`, `m`/`mb`, `g`/`gb`, `t`/`tb` (powers of 1024, any case).
pub fn parse_memory_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: u64 = num.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 0,
        "k" | "kb" | "kibibytes" => 10,
        "m" | "mb" | "mebibytes" => 20,
        "g" | "gb" | "gibibytes" => 30,
        "t" | "tb" | "tebibytes" => 40,
        _ => return None,
    };
    num.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory_size("64mb"), Some(64 << 20));
        assert_eq!(parse_memory_size("64 m"), Some(64 << 20));
        assert_eq!(parse_memory_size("1G"), Some(1 << 30));
        assert_eq!(parse_memory_size("4096"), Some(4096));
        assert_eq!(parse_memory_size("10 kb"), Some(10 << 10));
        assert_eq!(parse_memory_size("lots"), None);
        assert_eq!(parse_memory_size("1.5mb"), None);
        assert_eq!(parse_memory_size("99999999999tb"), None);
    }

    #[test]
    fn nested_yaml_flattens() {
        let c = Configuration::from_yaml_str(
            "rest:\n  port: 9091\ntaskmanager:\n  numberOfTaskSlots: 4\nparallelism.default: 2\n",
        )
        .unwrap();
        assert_eq!(c.get_u16("rest.port", 0).unwrap(), 9091);
        assert_eq!(c.get_u32(keys::NUM_TASK_SLOTS, 1).unwrap(), 4);
        assert_eq!(c.get_u32(keys::PARALLELISM_DEFAULT, 1).unwrap(), 2);
    }

    #[test]
    fn bad_values_are_clear() {
        let mut c = Configuration::new();
        c.set("rest.port", "eighty");
        let e = c.get_u16("rest.port", 8081).unwrap_err().to_string();
        assert!(e.contains("rest.port") && e.contains("eighty"), "{e}");
        assert!(c.set_dynamic("novalue").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10 s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("250"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2 min"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("soon"), None);
    }
}
