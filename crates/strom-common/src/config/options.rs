//! Every configuration option Strom reads, declared once (Flink's `ConfigOption`s): its key, the
//! older keys still read, its type, its default and what it means. Code reads an option with
//! [`ConfigOption::get`]; the list of known keys ([`ALL`]) and `docs/configuration.md` come from
//! these declarations.
//!
//! Adding an option: one `pub const` here and one line in [`ALL`] (the docs test then asks for
//! the regenerated `docs/configuration.md`: `STROM_WRITE_DOCS=1 cargo test --workspace configuration_docs`).

use super::{parse_duration, parse_memory_size, ConfigError, Configuration};
use std::time::Duration;

/// One option: its key (Flink's name), older keys still read, default and meaning.
pub struct ConfigOption<T: OptionType> {
    pub key: &'static str,
    /// Read when `key` is not set, in order.
    pub deprecated_keys: &'static [&'static str],
    pub default: T::Default,
    pub description: &'static str,
}

/// How an option's text is read, and its default.
pub trait OptionType {
    /// The default as written in a declaration.
    type Default: Copy;
    /// What [`ConfigOption::get`] returns.
    type Value;
    /// The type in the docs.
    const NAME: &'static str;
    /// What a bad value is told it should be.
    const EXPECTED: &'static str;
    fn parse(text: &str) -> Option<Self::Value>;
    fn default_value(d: Self::Default) -> Self::Value;
    /// The default in the docs ("(none)" when there is none).
    fn show(d: Self::Default) -> String;
}

impl<T: OptionType> ConfigOption<T> {
    /// The option's value: the key's, else the first deprecated key's, else the default.
    pub fn get(&self, config: &Configuration) -> Result<T::Value, ConfigError> {
        match self.text(config) {
            None => Ok(T::default_value(self.default)),
            Some((key, v)) => T::parse(v).ok_or_else(|| ConfigError::BadValue {
                key: key.to_string(),
                value: v.to_string(),
                expected: T::EXPECTED,
            }),
        }
    }

    /// The key that is set (the option's or a deprecated one) and its text.
    pub fn text<'c>(&self, config: &'c Configuration) -> Option<(&'static str, &'c str)> {
        std::iter::once(self.key)
            .chain(self.deprecated_keys.iter().copied())
            .find_map(|k| config.get(k).map(|v| (k, v)))
    }

    /// Whether the option (or a deprecated key of it) is set.
    pub fn is_set(&self, config: &Configuration) -> bool {
        self.text(config).is_some()
    }
}

/// A whole number (ports, counts, parallelism).
pub struct Integer<T>(std::marker::PhantomData<T>);
/// `true` or `false`.
pub struct Boolean;
/// Flink's duration syntax: `10 s`, `500 ms`, `5 min`.
pub struct DurationOption;
/// Flink's memory size syntax: `64mb`, `1g`.
pub struct MemorySize;
/// A number.
pub struct Float;
/// Free text.
pub struct Text;
/// One of a fixed set of words (any case).
pub struct Choice;
/// An option with no default: [`ConfigOption::get`] gives `None` when it is not set.
pub struct Optional<T>(std::marker::PhantomData<T>);

macro_rules! integer {
    ($t:ty, $expected:literal) => {
        impl OptionType for Integer<$t> {
            type Default = $t;
            type Value = $t;
            const NAME: &'static str = "Integer";
            const EXPECTED: &'static str = $expected;
            fn parse(text: &str) -> Option<$t> {
                text.trim().parse().ok()
            }
            fn default_value(d: $t) -> $t {
                d
            }
            fn show(d: $t) -> String {
                d.to_string()
            }
        }
    };
}
integer!(u16, "a port number (0-65535)");
integer!(u32, "a non-negative integer");

impl OptionType for Boolean {
    type Default = bool;
    type Value = bool;
    const NAME: &'static str = "Boolean";
    const EXPECTED: &'static str = "true or false";
    fn parse(text: &str) -> Option<bool> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
    fn default_value(d: bool) -> bool {
        d
    }
    fn show(d: bool) -> String {
        d.to_string()
    }
}

impl OptionType for DurationOption {
    type Default = Duration;
    type Value = Duration;
    const NAME: &'static str = "Duration";
    const EXPECTED: &'static str = "a duration such as '10 s' or '500 ms'";
    fn parse(text: &str) -> Option<Duration> {
        parse_duration(text)
    }
    fn default_value(d: Duration) -> Duration {
        d
    }
    fn show(d: Duration) -> String {
        let ms = d.as_millis();
        if ms.is_multiple_of(60_000) && ms > 0 {
            format!("{} min", ms / 60_000)
        } else if ms.is_multiple_of(1000) && ms > 0 {
            format!("{} s", ms / 1000)
        } else {
            format!("{ms} ms")
        }
    }
}

impl OptionType for MemorySize {
    type Default = u64;
    type Value = u64;
    const NAME: &'static str = "MemorySize";
    const EXPECTED: &'static str = "a memory size such as '64mb' or '1g'";
    fn parse(text: &str) -> Option<u64> {
        parse_memory_size(text)
    }
    fn default_value(d: u64) -> u64 {
        d
    }
    fn show(d: u64) -> String {
        match d {
            d if d >= 1 << 20 && d % (1 << 20) == 0 => format!("{}mb", d >> 20),
            d if d >= 1 << 10 && d % (1 << 10) == 0 => format!("{}kb", d >> 10),
            d => format!("{d}b"),
        }
    }
}

impl OptionType for Float {
    type Default = f64;
    type Value = f64;
    const NAME: &'static str = "Double";
    const EXPECTED: &'static str = "a number";
    fn parse(text: &str) -> Option<f64> {
        text.trim().parse().ok().filter(|x: &f64| x.is_finite())
    }
    fn default_value(d: f64) -> f64 {
        d
    }
    fn show(d: f64) -> String {
        d.to_string()
    }
}

impl OptionType for Text {
    type Default = &'static str;
    type Value = String;
    const NAME: &'static str = "String";
    const EXPECTED: &'static str = "text";
    fn parse(text: &str) -> Option<String> {
        Some(text.to_string())
    }
    fn default_value(d: &'static str) -> String {
        d.to_string()
    }
    fn show(d: &'static str) -> String {
        format!("\"{d}\"")
    }
}

/// A choice's default and the words it accepts, lower case.
#[derive(Clone, Copy)]
pub struct Words {
    pub default: &'static str,
    pub accepted: &'static [&'static str],
}

impl OptionType for Choice {
    type Default = Words;
    /// The chosen word, lower case.
    type Value = String;
    const NAME: &'static str = "Enum";
    const EXPECTED: &'static str = "one of the option's words (see docs/configuration.md)";
    fn parse(text: &str) -> Option<String> {
        Some(text.trim().to_ascii_lowercase())
    }
    fn default_value(d: Words) -> String {
        d.default.to_string()
    }
    fn show(d: Words) -> String {
        format!("\"{}\" (one of: {})", d.default, d.accepted.join(", "))
    }
}

impl<T: OptionType> OptionType for Optional<T> {
    type Default = ();
    type Value = Option<T::Value>;
    const NAME: &'static str = T::NAME;
    const EXPECTED: &'static str = T::EXPECTED;
    fn parse(text: &str) -> Option<Self::Value> {
        T::parse(text).map(Some)
    }
    fn default_value(_: ()) -> Self::Value {
        None
    }
    fn show(_: ()) -> String {
        "(none)".to_string()
    }
}

impl ConfigOption<Choice> {
    /// The chosen word (lower case), refusing a word the option does not accept.
    pub fn choice(&self, config: &Configuration) -> Result<String, ConfigError> {
        let v = self.get(config)?;
        if self.default.accepted.contains(&v.as_str()) {
            return Ok(v);
        }
        let (key, text) = self.text(config).unwrap_or((self.key, ""));
        Err(ConfigError::BadChoice {
            key: key.to_string(),
            value: text.to_string(),
            accepted: self.default.accepted.join("', '"),
        })
    }
}

/// What the docs and the known-key list read of any option.
pub trait Documented: Sync {
    fn key(&self) -> &'static str;
    fn deprecated_keys(&self) -> &'static [&'static str];
    fn type_name(&self) -> &'static str;
    fn default_text(&self) -> String;
    fn description(&self) -> &'static str;
}

impl<T: OptionType> Documented for ConfigOption<T>
where
    T::Default: Sync,
{
    fn key(&self) -> &'static str {
        self.key
    }
    fn deprecated_keys(&self) -> &'static [&'static str] {
        self.deprecated_keys
    }
    fn type_name(&self) -> &'static str {
        T::NAME
    }
    fn default_text(&self) -> String {
        T::show(self.default)
    }
    fn description(&self) -> &'static str {
        self.description
    }
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// --- the options -------------------------------------------------------------------------------

pub const REST_PORT: ConfigOption<Integer<u16>> = ConfigOption {
    key: "rest.port",
    deprecated_keys: &[],
    default: 8081,
    description: "Port of the REST API and Web UI (0 picks a free one).",
};
pub const REST_ADDRESS: ConfigOption<Optional<Text>> = ConfigOption {
    key: "rest.address",
    deprecated_keys: &[],
    default: (),
    description:
        "Address clients use to reach the REST API; also bound when `rest.bind-address` is not set.",
};
pub const REST_BIND_ADDRESS: ConfigOption<Text> = ConfigOption {
    key: "rest.bind-address",
    deprecated_keys: &[],
    default: "127.0.0.1",
    description: "Address the REST API binds (when unset: `rest.address`, else this default).",
};
pub const REST_AUTH_TOKEN: ConfigOption<Optional<Text>> = ConfigOption {
    key: "rest.auth.token",
    deprecated_keys: &[],
    default: (),
    description: "Bearer token every mutating REST call must present (Strom's; none: no check).",
};
pub const REST_MAX_CONTENT_LENGTH: ConfigOption<MemorySize> = ConfigOption {
    key: "rest.server.max-content-length",
    deprecated_keys: &[],
    default: 100 << 20,
    description: "Largest request body the REST API reads; larger ones are 413.",
};
pub const WEB_REFRESH_INTERVAL: ConfigOption<Integer<u32>> = ConfigOption {
    key: "web.refresh-interval",
    deprecated_keys: &[],
    default: 3000,
    description: "How often the Web UI refreshes, in milliseconds.",
};
pub const NUM_TASK_SLOTS: ConfigOption<Integer<u32>> = ConfigOption {
    key: "taskmanager.numberOfTaskSlots",
    deprecated_keys: &[],
    default: 1,
    description: "Slots of each TaskManager.",
};
pub const LOCAL_NUMBER_TASKMANAGER: ConfigOption<Integer<u32>> = ConfigOption {
    key: "local.number-taskmanager",
    deprecated_keys: &[],
    default: 1,
    description: "TaskManagers of the embedded cluster (`strom sql` without `--jobmanager`).",
};
pub const PARALLELISM_DEFAULT: ConfigOption<Integer<u32>> = ConfigOption {
    key: "parallelism.default",
    deprecated_keys: &[],
    default: 1,
    description: "Parallelism of a job's operators unless the job sets its own.",
};
pub const RUNTIME_MODE: ConfigOption<Choice> = ConfigOption {
    key: "execution.runtime-mode",
    deprecated_keys: &[],
    default: Words {
        default: "streaming",
        accepted: &["streaming", "batch"],
    },
    description: "Whether SQL runs as a streaming or a batch job.",
};
pub const PIPELINE_NAME: ConfigOption<Optional<Text>> = ConfigOption {
    key: "pipeline.name",
    deprecated_keys: &[],
    default: (),
    description: "The job's name (default: from its INSERT statements).",
};
pub const MAX_PARALLELISM: ConfigOption<Optional<Integer<u32>>> = ConfigOption {
    key: "pipeline.max-parallelism",
    deprecated_keys: &[],
    default: (),
    description: "Key groups of keyed state: the most a job can be rescaled to (default: from the parallelism, as Flink).",
};
pub const SLOT_REQUEST_TIMEOUT: ConfigOption<DurationOption> = ConfigOption {
    key: "slot.request.timeout",
    deprecated_keys: &[],
    default: secs(300),
    description: "How long a job waits for slots before it fails.",
};
pub const TASK_SPREAD: ConfigOption<Boolean> = ConfigOption {
    key: "cluster.evenly-spread-out-slots",
    deprecated_keys: &[],
    default: true,
    description: "Accepted for Flink's configurations; Strom spreads unless `strom.scheduler.slot-assignment` is `pack`.",
};
pub const SLOT_POLICY: ConfigOption<Choice> = ConfigOption {
    key: "strom.scheduler.slot-assignment",
    deprecated_keys: &[],
    default: Words {
        default: "spread",
        accepted: &["spread", "pack"],
    },
    description: "Which TaskManager a slot comes from: the least used (`spread`) or the most used with a free slot (`pack`).",
};
pub const SELECT_RESULTS: ConfigOption<Choice> = ConfigOption {
    key: "strom.sql.select-results",
    deprecated_keys: &[],
    default: Words {
        default: "print",
        accepted: &["print", "collect"],
    },
    description: "Where the rows of a bare SELECT go: `print` (the standard output of the TaskManager running the sink; the embedded `strom sql` runs it in its own process) or `collect` (through the JobManager to the client, as Flink's `collect()`; what `strom sql --jobmanager` sets).",
};
pub const JOBMANAGER_RPC_ADDRESS: ConfigOption<Optional<Text>> = ConfigOption {
    key: "jobmanager.rpc.address",
    deprecated_keys: &[],
    default: (),
    description:
        "Address of the JobManager's RPC endpoint (TaskManagers and clients connect to it).",
};
pub const JOBMANAGER_RPC_PORT: ConfigOption<Integer<u16>> = ConfigOption {
    key: "jobmanager.rpc.port",
    deprecated_keys: &[],
    default: 6123,
    description: "Port of the JobManager's RPC endpoint.",
};
pub const JOBMANAGER_BIND_HOST: ConfigOption<Optional<Text>> = ConfigOption {
    key: "jobmanager.bind-host",
    deprecated_keys: &[],
    default: (),
    description: "Address the JobManager's RPC endpoint binds (default: `jobmanager.rpc.address`, else 127.0.0.1).",
};
pub const TABLE_DML_SYNC: ConfigOption<Boolean> = ConfigOption {
    key: "table.dml-sync",
    deprecated_keys: &[],
    default: false,
    description:
        "Whether `strom sql` waits for each INSERT's job to end before the next statement.",
};
pub const AGG_PHASE_STRATEGY: ConfigOption<Choice> = ConfigOption {
    key: "table.optimizer.agg-phase-strategy",
    deprecated_keys: &[],
    default: Words {
        default: "auto",
        accepted: &["auto", "one_phase", "two_phase"],
    },
    description: "Whether aggregations pre-aggregate before the shuffle (`two_phase`; `auto` does where it can).",
};
pub const DISABLED_OPERATORS: ConfigOption<Text> = ConfigOption {
    key: "table.exec.disabled-operators",
    deprecated_keys: &[],
    default: "",
    description: "Batch join strategies the planner must not use, comma separated (Flink's names): `ShuffleHashJoin` and `BroadcastHashJoin` both disabled plan equi-joins as sort-merge joins, which spill when the slot's managed memory is too small for a hash table; `BroadcastHashJoin` alone stops broadcasting small sides; `ShuffleHashJoin` alone changes nothing (DataFusion picks partitioned or broadcast hash joins by size). `SortMergeJoin`, `NestedLoopJoin`, `HashAgg` and `SortAgg` cannot be disabled (Strom has no other strategy for them).",
};
pub const MINI_BATCH_ENABLED: ConfigOption<Boolean> = ConfigOption {
    key: "table.exec.mini-batch.enabled",
    deprecated_keys: &[],
    default: false,
    description:
        "Non-windowed aggregates emit one change per group and input batch instead of per row.",
};
pub const STATE_TTL: ConfigOption<DurationOption> = ConfigOption {
    key: "table.exec.state.ttl",
    deprecated_keys: &[],
    default: Duration::ZERO,
    description: "How long the state of a key of a regular join, a non-windowed GROUP BY or a Top-N is kept after its last change (processing time); 0 keeps it for good. Expired state is dropped, so later rows of that key may give results that differ from the query's answer over all rows, as in Flink. The `STATE_TTL` hint sets it per join input or aggregate.",
};
pub const SINK_UPSERT_MATERIALIZE: ConfigOption<Choice> = ConfigOption {
    key: "table.exec.sink.upsert-materialize",
    deprecated_keys: &[],
    default: Words {
        default: "auto",
        accepted: &["none", "auto", "force"],
    },
    description: "Whether an updating result written into a table with a PRIMARY KEY passes through a SinkMaterializer, which keeps every row per key and turns the changes into upserts and deletes of that key (Flink's SinkUpsertMaterializer): `auto` adds one where the result's own unique key is not the table's key, `force` wherever a changelog meets a key, `none` never (rows may then be wrong in the table).",
};
pub const HA_TYPE: ConfigOption<Choice> = ConfigOption {
    key: "high-availability.type",
    deprecated_keys: &["high-availability"],
    default: Words {
        default: "none",
        accepted: &["none", "etcd"],
    },
    description: "High availability of the JobManager: `etcd` elects one leader among the JobManagers started with the same `high-availability.cluster-id` through etcd (`high-availability.etcd.endpoints`); the others stand by and one of them takes over when the leader is gone. TaskManagers find the leader through etcd.",
};
pub const HA_ETCD_ENDPOINTS: ConfigOption<Text> = ConfigOption {
    key: "high-availability.etcd.endpoints",
    deprecated_keys: &[],
    default: "127.0.0.1:2379",
    description:
        "The etcd cluster's client endpoints (HOST:PORT or http://HOST:PORT), comma separated.",
};
pub const HA_CLUSTER_ID: ConfigOption<Text> = ConfigOption {
    key: "high-availability.cluster-id",
    deprecated_keys: &[],
    default: "default",
    description: "The cluster's name in etcd: its JobManagers and TaskManagers use the keys under `/strom/<cluster-id>/`.",
};
pub const HA_STORAGE_DIR: ConfigOption<Optional<Text>> = ConfigOption {
    key: "high-availability.storageDir",
    deprecated_keys: &["high-availability.storage-dir"],
    default: (),
    description: "Where the leader keeps the JobGraphs of the jobs it runs (a directory or an object store URL, as `state.checkpoints.dir`); etcd holds only their locations. Required with `high-availability.type: etcd`: a new leader resumes every job found there from its latest checkpoint.",
};
pub const HA_ETCD_LEASE_TTL: ConfigOption<DurationOption> = ConfigOption {
    key: "high-availability.etcd.lease-ttl",
    deprecated_keys: &[],
    default: secs(15),
    description: "How long the leader's etcd lease outlives the leader (whole seconds, at least 1): a standby takes over at most this long after the leader is gone. The leader renews it every third of it; a leader that cannot renew it for that long steps down (its process exits). Flink's Kubernetes lease is 15 s.",
};
pub const HEARTBEAT_INTERVAL: ConfigOption<DurationOption> = ConfigOption {
    key: "heartbeat.interval",
    deprecated_keys: &[],
    default: secs(10),
    description: "How often the JobManager and TaskManagers exchange heartbeats.",
};
pub const HEARTBEAT_TIMEOUT: ConfigOption<DurationOption> = ConfigOption {
    key: "heartbeat.timeout",
    deprecated_keys: &[],
    default: secs(50),
    description: "A TaskManager silent this long is lost (its tasks fail over).",
};
pub const CLUSTER_SECRET: ConfigOption<Optional<Text>> = ConfigOption {
    key: "cluster.secret",
    deprecated_keys: &[],
    default: (),
    description: "Shared secret every TaskManager and RPC caller presents (else `STROM_CLUSTER_SECRET`; none: no check).",
};
pub const SSL_INTERNAL_ENABLED: ConfigOption<Boolean> = ConfigOption {
    key: "security.ssl.internal.enabled",
    deprecated_keys: &["security.ssl.enabled"],
    default: false,
    description: "Mutual TLS on every connection between the cluster's processes: the JobManager's and TaskManagers' RPC and the data plane between TaskManagers. Each side presents `security.ssl.internal.keystore` and accepts only peers whose certificate `security.ssl.internal.truststore` trusts, so the cluster secret and the data never travel in clear.",
};
pub const SSL_INTERNAL_KEYSTORE: ConfigOption<Optional<Text>> = ConfigOption {
    key: "security.ssl.internal.keystore",
    deprecated_keys: &["security.ssl.keystore"],
    default: (),
    description: "With internal TLS: a PEM file holding this process's certificate chain and its unencrypted private key (PKCS#8, PKCS#1 or SEC1). Flink's JKS/PKCS12 keystores are not read: convert them with `openssl pkcs12 -nodes`.",
};
pub const SSL_INTERNAL_TRUSTSTORE: ConfigOption<Optional<Text>> = ConfigOption {
    key: "security.ssl.internal.truststore",
    deprecated_keys: &["security.ssl.truststore"],
    default: (),
    description: "With internal TLS: a PEM file of the certificates (usually one CA) a peer's certificate must chain to.",
};
pub const SSL_REST_ENABLED: ConfigOption<Boolean> = ConfigOption {
    key: "security.ssl.rest.enabled",
    deprecated_keys: &[],
    default: false,
    description: "HTTPS on the REST endpoint (and the Web UI) with `security.ssl.rest.keystore`; the CLI then connects with `https://` and trusts `security.ssl.rest.truststore`.",
};
pub const SSL_REST_KEYSTORE: ConfigOption<Optional<Text>> = ConfigOption {
    key: "security.ssl.rest.keystore",
    deprecated_keys: &[],
    default: (),
    description: "With REST TLS: a PEM file with the REST endpoint's certificate chain and unencrypted private key (on clients, their own, when `security.ssl.rest.authentication-enabled`).",
};
pub const SSL_REST_TRUSTSTORE: ConfigOption<Optional<Text>> = ConfigOption {
    key: "security.ssl.rest.truststore",
    deprecated_keys: &[],
    default: (),
    description: "With REST TLS: a PEM file of the certificates a client trusts the REST endpoint by (and the endpoint trusts clients by, when `security.ssl.rest.authentication-enabled`).",
};
pub const SSL_REST_AUTHENTICATION: ConfigOption<Boolean> = ConfigOption {
    key: "security.ssl.rest.authentication-enabled",
    deprecated_keys: &[],
    default: false,
    description: "With REST TLS: the REST endpoint accepts only clients presenting a certificate its truststore trusts (mutual TLS).",
};
pub const SSL_VERIFY_HOSTNAME: ConfigOption<Boolean> = ConfigOption {
    key: "security.ssl.verify-hostname",
    deprecated_keys: &[],
    default: true,
    description: "Whether a TLS client checks that the server's certificate names the host it connects to. With `false`, internal connections accept any certificate of the truststore's chain, for a cluster sharing one certificate across hosts (the CLI's REST client always checks).",
};
pub const TASKMANAGER_BIND_HOST: ConfigOption<Text> = ConfigOption {
    key: "taskmanager.bind-host",
    deprecated_keys: &[],
    default: "127.0.0.1",
    description: "Address a TaskManager's RPC and data endpoints bind.",
};
pub const TASKMANAGER_HOST: ConfigOption<Optional<Text>> = ConfigOption {
    key: "taskmanager.host",
    deprecated_keys: &[],
    default: (),
    description: "Address others reach a TaskManager at (default: its bind host).",
};
pub const TASKMANAGER_RPC_PORT: ConfigOption<Integer<u16>> = ConfigOption {
    key: "taskmanager.rpc.port",
    deprecated_keys: &[],
    default: 0,
    description: "Port of a TaskManager's RPC endpoint (0 picks a free one).",
};
pub const TASKMANAGER_DATA_PORT: ConfigOption<Integer<u16>> = ConfigOption {
    key: "taskmanager.data.port",
    deprecated_keys: &[],
    default: 0,
    description: "Port of a TaskManager's data plane (0 picks a free one).",
};
pub const JOBMANAGER_MEMORY: ConfigOption<Optional<MemorySize>> = ConfigOption {
    key: "jobmanager.memory.process.size",
    deprecated_keys: &[],
    default: (),
    description: "Accepted for Flink's configurations; shown by the REST API, not enforced.",
};
pub const TASKMANAGER_MEMORY: ConfigOption<Optional<MemorySize>> = ConfigOption {
    key: "taskmanager.memory.process.size",
    deprecated_keys: &[],
    default: (),
    description: "A TaskManager's memory, as Flink's (1728 MiB when unset): its managed part (`taskmanager.memory.managed.fraction`) is what batch stages sort, join and aggregate in; the rest is not enforced.",
};
pub const MANAGED_MEMORY_SIZE: ConfigOption<Optional<MemorySize>> = ConfigOption {
    key: "taskmanager.memory.managed.size",
    deprecated_keys: &[],
    default: (),
    description: "A TaskManager's managed memory, shared equally by its slots: a batch stage's task sorts, joins and aggregates within its slot's share and spills to `io.tmp.dirs` beyond it. Unset: `taskmanager.memory.managed.fraction` of `taskmanager.memory.process.size`.",
};
pub const MANAGED_MEMORY_FRACTION: ConfigOption<Float> = ConfigOption {
    key: "taskmanager.memory.managed.fraction",
    deprecated_keys: &[],
    default: 0.4,
    description: "The part of `taskmanager.memory.process.size` that is managed memory, when `taskmanager.memory.managed.size` is unset.",
};
pub const IO_TMP_DIRS: ConfigOption<Optional<Text>> = ConfigOption {
    key: "io.tmp.dirs",
    deprecated_keys: &[],
    default: (),
    description: "Directories (separated by ',' or the path separator) where batch stages spill what does not fit their memory. Unset: the system's temporary directory.",
};
pub const FAILOVER_STRATEGY: ConfigOption<Choice> = ConfigOption {
    key: "jobmanager.execution.failover-strategy",
    deprecated_keys: &[],
    default: Words {
        default: "region",
        accepted: &["full", "region"],
    },
    description: "What restarts on a failure: `region` (Flink's default) restarts only the pipelined regions the failure touches in a batch job (its finished BLOCKING results are read again; lost ones are recomputed), `full` the whole job. Streaming jobs restart whole from their latest checkpoint.",
};
pub const RESTART_STRATEGY: ConfigOption<Optional<Choice>> = ConfigOption {
    key: "restart-strategy.type",
    deprecated_keys: &["restart-strategy"],
    default: (),
    description: "`none`, `fixed-delay`, `failure-rate` or `exponential-delay` (default: `exponential-delay` with checkpointing, else `none`).",
};
pub const FIXED_DELAY_ATTEMPTS: ConfigOption<Integer<u32>> = ConfigOption {
    key: "restart-strategy.fixed-delay.attempts",
    deprecated_keys: &[],
    default: 1,
    description: "Restarts before a fixed-delay job fails.",
};
pub const FIXED_DELAY_DELAY: ConfigOption<DurationOption> = ConfigOption {
    key: "restart-strategy.fixed-delay.delay",
    deprecated_keys: &[],
    default: secs(1),
    description: "Wait before each fixed-delay restart.",
};
pub const FAILURE_RATE_MAX_FAILURES: ConfigOption<Integer<u32>> = ConfigOption {
    key: "restart-strategy.failure-rate.max-failures-per-interval",
    deprecated_keys: &[],
    default: 1,
    description: "Failures within the interval a failure-rate job tolerates.",
};
pub const FAILURE_RATE_INTERVAL: ConfigOption<DurationOption> = ConfigOption {
    key: "restart-strategy.failure-rate.failure-rate-interval",
    deprecated_keys: &[],
    default: secs(60),
    description: "The failure-rate interval.",
};
pub const FAILURE_RATE_DELAY: ConfigOption<DurationOption> = ConfigOption {
    key: "restart-strategy.failure-rate.delay",
    deprecated_keys: &[],
    default: secs(1),
    description: "Wait before each failure-rate restart.",
};
pub const EXP_INITIAL_BACKOFF: ConfigOption<DurationOption> = ConfigOption {
    key: "restart-strategy.exponential-delay.initial-backoff",
    deprecated_keys: &[],
    default: secs(1),
    description: "First exponential-delay backoff.",
};
pub const EXP_MAX_BACKOFF: ConfigOption<DurationOption> = ConfigOption {
    key: "restart-strategy.exponential-delay.max-backoff",
    deprecated_keys: &[],
    default: secs(60),
    description: "Largest exponential-delay backoff.",
};
pub const EXP_MULTIPLIER: ConfigOption<Float> = ConfigOption {
    key: "restart-strategy.exponential-delay.backoff-multiplier",
    deprecated_keys: &[],
    default: 1.5,
    description: "Factor of each next backoff (greater than 1).",
};
pub const EXP_RESET_THRESHOLD: ConfigOption<DurationOption> = ConfigOption {
    key: "restart-strategy.exponential-delay.reset-backoff-threshold",
    deprecated_keys: &[],
    default: secs(3600),
    description:
        "A job that ran this long since its last restart starts again at the initial backoff.",
};
pub const EXP_JITTER: ConfigOption<Float> = ConfigOption {
    key: "restart-strategy.exponential-delay.jitter-factor",
    deprecated_keys: &[],
    default: 0.1,
    description: "Random share of each backoff, 0 to 1.",
};
pub const EXP_ATTEMPTS: ConfigOption<Integer<u32>> = ConfigOption {
    key: "restart-strategy.exponential-delay.attempts-before-reset-backoff",
    deprecated_keys: &[],
    default: u32::MAX,
    description: "Restarts in a row before an exponential-delay job fails.",
};
pub const CHECKPOINTING_INTERVAL: ConfigOption<Optional<DurationOption>> = ConfigOption {
    key: "execution.checkpointing.interval",
    deprecated_keys: &[],
    default: (),
    description: "Time between periodic checkpoints (none: no periodic checkpoints).",
};
pub const CHECKPOINTING_TIMEOUT: ConfigOption<DurationOption> = ConfigOption {
    key: "execution.checkpointing.timeout",
    deprecated_keys: &[],
    default: secs(600),
    description: "A checkpoint not complete after this long fails.",
};
pub const CHECKPOINTING_MIN_PAUSE: ConfigOption<DurationOption> = ConfigOption {
    key: "execution.checkpointing.min-pause",
    deprecated_keys: &[],
    default: Duration::ZERO,
    description: "Least time between the end of a checkpoint and the start of the next.",
};
pub const CHECKPOINTING_MAX_CONCURRENT: ConfigOption<Integer<u32>> = ConfigOption {
    key: "execution.checkpointing.max-concurrent-checkpoints",
    deprecated_keys: &[],
    default: 1,
    description: "Checkpoints in flight at once.",
};
pub const CHECKPOINTS_DIR: ConfigOption<Optional<Text>> = ConfigOption {
    key: "execution.checkpointing.dir",
    deprecated_keys: &["state.checkpoints.dir"],
    default: (),
    description: "Where checkpoints are written (a directory per job).",
};
pub const CHECKPOINTS_NUM_RETAINED: ConfigOption<Integer<u32>> = ConfigOption {
    key: "state.checkpoints.num-retained",
    deprecated_keys: &[],
    default: 1,
    description: "Completed checkpoints kept.",
};
pub const CHECKPOINTING_RETENTION: ConfigOption<Choice> = ConfigOption {
    key: "execution.checkpointing.externalized-checkpoint-retention",
    deprecated_keys: &[],
    default: Words {
        default: "no_externalized_checkpoints",
        accepted: &[
            "no_externalized_checkpoints",
            "delete_on_cancellation",
            "retain_on_cancellation",
        ],
    },
    description: "Whether a canceled job keeps its checkpoints.",
};
pub const CHECKPOINTING_TOLERABLE_FAILED: ConfigOption<Integer<u32>> = ConfigOption {
    key: "execution.checkpointing.tolerable-failed-checkpoints",
    deprecated_keys: &[],
    default: 0,
    description: "Consecutive failed checkpoints a job tolerates before it fails over.",
};
pub const SAVEPOINT_DIR: ConfigOption<Optional<Text>> = ConfigOption {
    key: "state.savepoints.dir",
    deprecated_keys: &[],
    default: (),
    description: "Default directory of savepoints taken without a target.",
};
pub const STATE_RECOVERY_PATH: ConfigOption<Optional<Text>> = ConfigOption {
    key: "execution.state-recovery.path",
    deprecated_keys: &["execution.savepoint.path"],
    default: (),
    description: "Savepoint or retained checkpoint a new job starts from.",
};
pub const STATE_RECOVERY_IGNORE_UNCLAIMED: ConfigOption<Boolean> = ConfigOption {
    key: "execution.state-recovery.ignore-unclaimed-state",
    deprecated_keys: &["execution.savepoint.ignore-unclaimed-state"],
    default: false,
    description: "Start even when the restored state holds operators the job does not have.",
};

/// Every option, in the order of `docs/configuration.md`.
pub const ALL: &[&dyn Documented] = &[
    &REST_PORT,
    &REST_ADDRESS,
    &REST_BIND_ADDRESS,
    &REST_AUTH_TOKEN,
    &REST_MAX_CONTENT_LENGTH,
    &WEB_REFRESH_INTERVAL,
    &NUM_TASK_SLOTS,
    &LOCAL_NUMBER_TASKMANAGER,
    &PARALLELISM_DEFAULT,
    &RUNTIME_MODE,
    &PIPELINE_NAME,
    &MAX_PARALLELISM,
    &SLOT_REQUEST_TIMEOUT,
    &TASK_SPREAD,
    &SLOT_POLICY,
    &SELECT_RESULTS,
    &JOBMANAGER_RPC_ADDRESS,
    &JOBMANAGER_RPC_PORT,
    &JOBMANAGER_BIND_HOST,
    &TABLE_DML_SYNC,
    &AGG_PHASE_STRATEGY,
    &DISABLED_OPERATORS,
    &MINI_BATCH_ENABLED,
    &STATE_TTL,
    &SINK_UPSERT_MATERIALIZE,
    &HA_TYPE,
    &HA_ETCD_ENDPOINTS,
    &HA_CLUSTER_ID,
    &HA_STORAGE_DIR,
    &HA_ETCD_LEASE_TTL,
    &HEARTBEAT_INTERVAL,
    &HEARTBEAT_TIMEOUT,
    &CLUSTER_SECRET,
    &SSL_INTERNAL_ENABLED,
    &SSL_INTERNAL_KEYSTORE,
    &SSL_INTERNAL_TRUSTSTORE,
    &SSL_REST_ENABLED,
    &SSL_REST_KEYSTORE,
    &SSL_REST_TRUSTSTORE,
    &SSL_REST_AUTHENTICATION,
    &SSL_VERIFY_HOSTNAME,
    &TASKMANAGER_BIND_HOST,
    &TASKMANAGER_HOST,
    &TASKMANAGER_RPC_PORT,
    &TASKMANAGER_DATA_PORT,
    &JOBMANAGER_MEMORY,
    &TASKMANAGER_MEMORY,
    &MANAGED_MEMORY_SIZE,
    &MANAGED_MEMORY_FRACTION,
    &IO_TMP_DIRS,
    &FAILOVER_STRATEGY,
    &RESTART_STRATEGY,
    &FIXED_DELAY_ATTEMPTS,
    &FIXED_DELAY_DELAY,
    &FAILURE_RATE_MAX_FAILURES,
    &FAILURE_RATE_INTERVAL,
    &FAILURE_RATE_DELAY,
    &EXP_INITIAL_BACKOFF,
    &EXP_MAX_BACKOFF,
    &EXP_MULTIPLIER,
    &EXP_RESET_THRESHOLD,
    &EXP_JITTER,
    &EXP_ATTEMPTS,
    &CHECKPOINTING_INTERVAL,
    &CHECKPOINTING_TIMEOUT,
    &CHECKPOINTING_MIN_PAUSE,
    &CHECKPOINTING_MAX_CONCURRENT,
    &CHECKPOINTS_DIR,
    &CHECKPOINTS_NUM_RETAINED,
    &CHECKPOINTING_RETENTION,
    &CHECKPOINTING_TOLERABLE_FAILED,
    &SAVEPOINT_DIR,
    &STATE_RECOVERY_PATH,
    &STATE_RECOVERY_IGNORE_UNCLAIMED,
];

/// Whether Strom reads `key` (as an option's key or a deprecated one).
pub fn is_known(key: &str) -> bool {
    ALL.iter()
        .any(|o| o.key() == key || o.deprecated_keys().contains(&key))
}

/// `docs/configuration.md`: every option as a table row.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Configuration\n\n\
         Generated from `crates/strom-common/src/config/options.rs` (regenerate with\n\
         `STROM_WRITE_DOCS=1 cargo test --workspace configuration_docs`). Options go in\n\
         `conf/config.yaml` (nested or flat keys), `-D key=value`, or SQL `SET 'key' = 'value';`,\n\
         with Flink's names. Keys Strom does not read are kept and shown, with a warning (except\n\
         `table.*`, `execution.*`, `pipeline.*`, `env.*`, `strom.*`, which Flink's clients set freely).\n\n\
         | Key | Type | Default | Description |\n|---|---|---|---|\n",
    );
    for o in ALL {
        let mut key = format!("`{}`", o.key());
        for d in o.deprecated_keys() {
            key.push_str(&format!("<br>(older: `{d}`)"));
        }
        out.push_str(&format!(
            "| {key} | {} | {} | {} |\n",
            o.type_name(),
            o.default_text().replace('|', "\\|"),
            o.description().replace('|', "\\|")
        ));
    }
    out
}
