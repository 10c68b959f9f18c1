//! High availability of the JobManager (`high-availability.type: etcd`): the JobManagers of one
//! cluster (`high-availability.cluster-id`) elect a leader through etcd; the others stand by
//! and one of them takes over when the leader's lease runs out. TaskManagers find the leader's
//! RPC address, and clients its REST address, in the leader record.
//!
//! - Election ([`etcd::campaign`]): a JobManager holds an etcd lease of
//!   `high-availability.etcd.lease-ttl`, renewed every third of it, and becomes leader by
//!   creating the key `/strom/<cluster-id>/leader` bound to that lease, in a transaction that
//!   succeeds only while the key does not exist. The revision that created it is the leader's
//!   fencing token: the leader writes its record only while the key still has that creation
//!   revision. A standby watches the key and campaigns again when it is deleted (the leader's
//!   lease expired or was revoked).
//! - Stepping down: a leader that cannot renew its lease for the lease's time to live has lost
//!   it (a standby may lead already); its process exits, so its TaskManagers lose it and cancel
//!   its tasks, and nothing it would write after that can land.

pub mod etcd;
pub mod job_store;

use serde::{Deserialize, Serialize};
use std::time::Duration;
use strom_common::config::{options, ConfigError};
use strom_common::Configuration;

/// How a cluster is highly available, from its configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum HaMode {
    /// One JobManager, no election (`high-availability.type: none`).
    None,
    /// Leader election through etcd.
    Etcd(EtcdConfig),
}

/// `high-availability.etcd.*` and the cluster id.
#[derive(Debug, Clone, PartialEq)]
pub struct EtcdConfig {
    /// Client endpoints, as `http://HOST:PORT`.
    pub endpoints: Vec<String>,
    pub cluster_id: String,
    /// The leader's lease, whole seconds.
    pub lease_ttl_secs: i64,
}

impl EtcdConfig {
    /// The key under which the cluster's leader record is.
    pub fn leader_key(&self) -> String {
        format!("/strom/{}/leader", self.cluster_id)
    }

    /// How long a call to etcd may take before it counts as failed.
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis((self.lease_ttl_secs as u64 * 1000 / 3).clamp(500, 5000))
    }
}

impl HaMode {
    pub fn from_config(config: &Configuration) -> Result<Self, ConfigError> {
        if options::HA_TYPE.choice(config)? != "etcd" {
            return Ok(HaMode::None);
        }
        let endpoints: Vec<String> = options::HA_ETCD_ENDPOINTS
            .get(config)?
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| {
                if e.contains("://") {
                    e.to_string()
                } else {
                    format!("http://{e}")
                }
            })
            .collect();
        if endpoints.is_empty() {
            return Err(ConfigError::BadValue {
                key: options::HA_ETCD_ENDPOINTS.key.to_string(),
                value: options::HA_ETCD_ENDPOINTS.get(config)?,
                expected: "etcd endpoints, HOST:PORT or http://HOST:PORT, comma separated",
            });
        }
        let cluster_id = options::HA_CLUSTER_ID
            .get(config)?
            .trim()
            .trim_matches('/')
            .to_string();
        let ttl = options::HA_ETCD_LEASE_TTL.get(config)?;
        Ok(HaMode::Etcd(EtcdConfig {
            endpoints,
            cluster_id: if cluster_id.is_empty() {
                "default".into()
            } else {
                cluster_id
            },
            lease_ttl_secs: ttl.as_secs().max(1) as i64,
        }))
    }
}

/// How a JobManager names itself in the leader record: its host and process id.
pub fn process_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// What the leader publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LeaderRecord {
    /// The leader's REST address (`http://HOST:PORT`); empty until its services are up.
    #[serde(default)]
    pub rest: String,
    /// The RPC address TaskManagers register at (`HOST:PORT`); empty until its services are up.
    #[serde(default)]
    pub rpc: String,
    /// Who leads (a name for logs: host and process id).
    #[serde(default)]
    pub name: String,
    /// The leader's fencing token: a later leader's is greater.
    #[serde(default)]
    pub token: i64,
}

impl LeaderRecord {
    /// Whether the leader's services are up (an elected leader publishes its addresses once
    /// they are bound).
    pub fn serving(&self) -> bool {
        !self.rpc.is_empty() && !self.rest.is_empty()
    }

    /// The record in a leader key's value; an unreadable value reads as not serving yet.
    pub fn parse(value: &[u8]) -> Self {
        serde_json::from_slice(value).unwrap_or_default()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_settings_from_flink_style_keys() {
        let mut c = Configuration::new();
        assert_eq!(HaMode::from_config(&c).unwrap(), HaMode::None);
        c.set("high-availability.type", "ETCD");
        c.set(
            "high-availability.etcd.endpoints",
            "127.0.0.1:2379, https://e2:2379,",
        );
        c.set("high-availability.cluster-id", "/prod/");
        c.set("high-availability.etcd.lease-ttl", "2 s");
        let HaMode::Etcd(e) = HaMode::from_config(&c).unwrap() else {
            panic!("etcd")
        };
        assert_eq!(e.endpoints, ["http://127.0.0.1:2379", "https://e2:2379"]);
        assert_eq!(e.leader_key(), "/strom/prod/leader");
        assert_eq!(e.lease_ttl_secs, 2);
        c.set("high-availability.etcd.endpoints", " , ");
        let err = HaMode::from_config(&c).unwrap_err().to_string();
        assert!(err.contains("high-availability.etcd.endpoints"), "{err}");
        c.set("high-availability.type", "zookeeper");
        assert!(HaMode::from_config(&c).is_err());
    }

    #[test]
    fn a_leader_record_serves_once_both_addresses_are_in() {
        let r = LeaderRecord {
            rest: "http://127.0.0.1:1".into(),
            rpc: "127.0.0.1:2".into(),
            name: "a".into(),
            token: 7,
        };
        assert!(LeaderRecord::parse(&r.to_bytes()).serving());
        assert!(!LeaderRecord::parse(b"").serving());
        assert!(!LeaderRecord::parse(b"{\"name\":\"b\"}").serving());
    }
}
