//! Configuration with Flink's key names: `conf/config.yaml` (nested or flat keys), then `-D k=v`,
//! then SQL `SET 'k' = 'v';`. Values are kept as strings and read through the typed options of
//! [`options`] (each declared once with its default and meaning; `docs/configuration.md` is
//! generated from them).

pub mod options;

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
    #[error("configuration file {path} is not valid YAML: {source}")]
    Yaml {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("bad value '{value}' for '{key}': expected {expected}")]
    BadValue {
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("bad value '{value}' for '{key}': expected '{accepted}'")]
    BadChoice {
        key: String,
        value: String,
        accepted: String,
    },
    #[error("bad dynamic property '{0}': expected key=value")]
    BadDynamic(String),
}

pub mod keys {
    //! The keys of [`super::options`], for code that sets them.
    use super::options as o;
    pub const REST_PORT: &str = o::REST_PORT.key;
    pub const REST_ADDRESS: &str = o::REST_ADDRESS.key;
    pub const REST_BIND_ADDRESS: &str = o::REST_BIND_ADDRESS.key;
    pub const NUM_TASK_SLOTS: &str = o::NUM_TASK_SLOTS.key;
    pub const PARALLELISM_DEFAULT: &str = o::PARALLELISM_DEFAULT.key;
    pub const RUNTIME_MODE: &str = o::RUNTIME_MODE.key;
    pub const PIPELINE_NAME: &str = o::PIPELINE_NAME.key;
    pub const MAX_PARALLELISM: &str = o::MAX_PARALLELISM.key;
    pub const SLOT_REQUEST_TIMEOUT: &str = o::SLOT_REQUEST_TIMEOUT.key;
    pub const TASK_SPREAD: &str = o::TASK_SPREAD.key;
    pub const SLOT_POLICY: &str = o::SLOT_POLICY.key;
    pub const LOCAL_NUMBER_TASKMANAGER: &str = o::LOCAL_NUMBER_TASKMANAGER.key;
    pub const JOBMANAGER_RPC_ADDRESS: &str = o::JOBMANAGER_RPC_ADDRESS.key;
    pub const JOBMANAGER_RPC_PORT: &str = o::JOBMANAGER_RPC_PORT.key;
    pub const WEB_REFRESH_INTERVAL: &str = o::WEB_REFRESH_INTERVAL.key;
    pub const TABLE_DML_SYNC: &str = o::TABLE_DML_SYNC.key;
    pub const AGG_PHASE_STRATEGY: &str = o::AGG_PHASE_STRATEGY.key;
    pub const MINI_BATCH_ENABLED: &str = o::MINI_BATCH_ENABLED.key;
    pub const STATE_TTL: &str = o::STATE_TTL.key;
    pub const HEARTBEAT_INTERVAL: &str = o::HEARTBEAT_INTERVAL.key;
    pub const HEARTBEAT_TIMEOUT: &str = o::HEARTBEAT_TIMEOUT.key;
    pub const CLUSTER_SECRET: &str = o::CLUSTER_SECRET.key;
    pub const TASKMANAGER_HOST: &str = o::TASKMANAGER_HOST.key;
    pub const TASKMANAGER_BIND_HOST: &str = o::TASKMANAGER_BIND_HOST.key;
    pub const TASKMANAGER_RPC_PORT: &str = o::TASKMANAGER_RPC_PORT.key;
    pub const TASKMANAGER_DATA_PORT: &str = o::TASKMANAGER_DATA_PORT.key;
    pub const JOBMANAGER_BIND_HOST: &str = o::JOBMANAGER_BIND_HOST.key;
    pub const RESTART_STRATEGY: &str = o::RESTART_STRATEGY.key;
    pub const CHECKPOINTING_INTERVAL: &str = o::CHECKPOINTING_INTERVAL.key;
    pub const CHECKPOINTING_TIMEOUT: &str = o::CHECKPOINTING_TIMEOUT.key;
    pub const CHECKPOINTING_MIN_PAUSE: &str = o::CHECKPOINTING_MIN_PAUSE.key;
    pub const CHECKPOINTING_MAX_CONCURRENT: &str = o::CHECKPOINTING_MAX_CONCURRENT.key;
    pub const CHECKPOINTING_DIR: &str = o::CHECKPOINTS_DIR.key;
    pub const CHECKPOINTS_NUM_RETAINED: &str = o::CHECKPOINTS_NUM_RETAINED.key;
    pub const CHECKPOINTING_RETENTION: &str = o::CHECKPOINTING_RETENTION.key;
    pub const CHECKPOINTING_TOLERABLE_FAILED: &str = o::CHECKPOINTING_TOLERABLE_FAILED.key;
    pub const SAVEPOINT_DIR: &str = o::SAVEPOINT_DIR.key;
    pub const STATE_RECOVERY_PATH: &str = o::STATE_RECOVERY_PATH.key;
    pub const STATE_RECOVERY_IGNORE_UNCLAIMED: &str = o::STATE_RECOVERY_IGNORE_UNCLAIMED.key;
    /// The older name of the checkpoint directory key.
    pub const CHECKPOINTS_DIR: &str = o::CHECKPOINTS_DIR.deprecated_keys[0];
    /// The older name of the restore path key.
    pub const SAVEPOINT_PATH: &str = o::STATE_RECOVERY_PATH.deprecated_keys[0];
    pub const SAVEPOINT_IGNORE_UNCLAIMED: &str =
        o::STATE_RECOVERY_IGNORE_UNCLAIMED.deprecated_keys[0];
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
        Self::from_yaml_str(&text).map_err(|source| ConfigError::Yaml {
            path: path.display().to_string(),
            source,
        })
    }

    /// Parses YAML text; the error says what and where.
    pub fn from_yaml_str(text: &str) -> Result<Self, serde_yaml::Error> {
        let value: serde_yaml::Value = serde_yaml::from_str(text)?;
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
                !options::is_known(k)
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

    /// `docs/configuration.md` is what the options say (`STROM_WRITE_DOCS=1` rewrites it).
    #[test]
    fn configuration_docs_are_generated_from_the_options() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
        let want = options::markdown();
        if std::env::var_os("STROM_WRITE_DOCS").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/configuration.md is stale: run STROM_WRITE_DOCS=1 cargo test --workspace configuration_docs"
        );
    }

    #[test]
    fn options_read_their_key_then_older_keys_then_the_default() {
        use options::*;
        let mut c = Configuration::new();
        assert_eq!(CHECKPOINTS_DIR.get(&c).unwrap(), None);
        assert_eq!(REST_PORT.get(&c).unwrap(), 8081);
        assert_eq!(HEARTBEAT_TIMEOUT.get(&c).unwrap(), Duration::from_secs(50));
        c.set("state.checkpoints.dir", "/old");
        assert_eq!(CHECKPOINTS_DIR.get(&c).unwrap().as_deref(), Some("/old"));
        c.set("execution.checkpointing.dir", "/new");
        assert_eq!(CHECKPOINTS_DIR.get(&c).unwrap().as_deref(), Some("/new"));
        c.set("rest.port", "x");
        let e = REST_PORT.get(&c).unwrap_err().to_string();
        assert!(e.contains("rest.port") && e.contains("'x'"), "{e}");
        c.set("strom.scheduler.slot-assignment", "PACK");
        assert_eq!(SLOT_POLICY.choice(&c).unwrap(), "pack");
        c.set("strom.scheduler.slot-assignment", "random");
        let e = SLOT_POLICY.choice(&c).unwrap_err().to_string();
        assert!(e.contains("'spread', 'pack'"), "{e}");
        // every key is declared once
        let mut keys: Vec<&str> = ALL
            .iter()
            .flat_map(|o| std::iter::once(o.key()).chain(o.deprecated_keys().iter().copied()))
            .collect();
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), n, "a key is declared twice");
        assert!(is_known("restart-strategy") && !is_known("rest.prot"));
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
