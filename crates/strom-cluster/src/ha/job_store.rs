//! The job store and job result store of a highly available cluster (Flink's `JobGraphStore`
//! and `JobResultStore`), in etcd under `/strom/<cluster-id>/`:
//!
//! - `jobs/<job id>`: the location of the job's JobGraph, which is kept in
//!   `high-availability.storageDir` (`jobs/<job id>.json`), for every job not yet globally
//!   terminal;
//! - `results/<job id>`: the final status of a job that ended, so that a new leader never runs
//!   a finished job again;
//! - `checkpoint-ids/<job id>`: the highest checkpoint id the job's leaders took (Flink's
//!   `CheckpointIDCounter`), written before a checkpoint is triggered;
//! - `checkpoints/<job id>`: the latest completed checkpoint, `{"id": N, "location": ...}`
//!   (its data and metadata stay in `state.checkpoints.dir`), written before it counts as
//!   completed.
//!
//! Every write is a transaction conditional on the leader key still having the writer's
//! fencing token, so a deposed leader writes nothing: it can neither complete a checkpoint nor
//! take an id a new leader will use. A new leader submits every stored job again with its id,
//! from its latest completed checkpoint, its checkpoint ids going on past every id taken.

use super::etcd::{connect, HaError};
use super::EtcdConfig;
use crate::checkpoint_storage::{block, CheckpointStorage};
use crate::dispatcher::{Dispatcher, JobStore};
use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp};
use std::sync::Arc;
use strom_common::{JobId, JobStatus};
use strom_plan::JobGraph;

pub struct EtcdJobStore {
    client: Client,
    cfg: EtcdConfig,
    /// The leader's fencing token.
    token: i64,
    blobs: CheckpointStorage,
}

impl EtcdJobStore {
    /// The store of the leader holding `token`, with JobGraphs in `storage_dir`.
    pub fn open(cfg: &EtcdConfig, token: i64, storage_dir: &str) -> Result<Self, String> {
        let blobs = CheckpointStorage::open(storage_dir)
            .map_err(|e| format!("high-availability.storageDir: {e}"))?;
        let c = cfg.clone();
        let client = block(async move { connect(&c).await }).map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            cfg: cfg.clone(),
            token,
            blobs,
        })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("/strom/{}/{kind}/{id}", self.cfg.cluster_id)
    }

    /// Runs `ops` if this leader still leads.
    fn fenced(&self, ops: Vec<TxnOp>) -> Result<(), String> {
        let txn = Txn::new()
            .when([Compare::create_revision(
                self.cfg.leader_key(),
                CompareOp::Equal,
                self.token,
            )])
            .and_then(ops);
        let mut client = self.client.clone();
        let endpoints = self.cfg.endpoints.join(",");
        let r = block(async move { client.txn(txn).await })
            .map_err(|source| HaError::Etcd { endpoints, source }.to_string())?;
        if !r.succeeded() {
            return Err(
                HaError::Lost("another JobManager leads the cluster now".into()).to_string(),
            );
        }
        Ok(())
    }

    /// The values of the keys under `/strom/<cluster-id>/<kind>/`, by job id.
    fn list(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        let prefix = self.key(kind, "");
        let mut client = self.client.clone();
        let p = prefix.clone();
        let r = block(async move { client.get(p, Some(GetOptions::new().with_prefix())).await })
            .map_err(|e| e.to_string())?;
        Ok(r.kvs()
            .iter()
            .filter_map(|kv| {
                let key = kv.key_str().ok()?;
                Some((key.strip_prefix(&prefix)?.to_string(), kv.value().to_vec()))
            })
            .collect())
    }

    /// The value of `/strom/<cluster-id>/<kind>/<id>`, if any.
    fn get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, String> {
        let mut client = self.client.clone();
        let key = self.key(kind, id);
        let r = block(async move { client.get(key, None).await }).map_err(|e| e.to_string())?;
        Ok(r.kvs().first().map(|kv| kv.value().to_vec()))
    }

    /// Submits again every job of the store that has no result yet, each from its latest
    /// checkpoint; returns the ids.
    pub fn recover(&self, dispatcher: &Arc<Dispatcher>) -> Result<Vec<JobId>, String> {
        let ended: std::collections::HashSet<String> = self
            .list("results")?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let mut recovered = Vec::new();
        for (id, location) in self.list("jobs")? {
            if ended.contains(&id) {
                continue;
            }
            let rel = String::from_utf8_lossy(&location).to_string();
            let graph: JobGraph = self
                .blobs
                .get(&rel)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
                .map_err(|e| format!("job {id}: cannot read its JobGraph at {rel}: {e}"))?;
            let mut graph = graph;
            let latest = self
                .get("checkpoints", &id)?
                .and_then(|v| serde_json::from_slice::<CompletedPointer>(&v).ok());
            if let Some(latest) = latest {
                tracing::info!(
                    "job {id}: resuming from its checkpoint {} ({})",
                    latest.id,
                    latest.location
                );
                graph.config.insert(
                    strom_common::config::keys::STATE_RECOVERY_PATH.to_string(),
                    latest.location,
                );
            } else {
                tracing::info!("job {id}: no completed checkpoint; starting it over");
            }
            let taken = self
                .get("checkpoint-ids", &id)?
                .and_then(|v| String::from_utf8_lossy(&v).parse::<u64>().ok());
            if let Some(taken) = taken {
                graph.config.insert(
                    crate::dispatcher::NEXT_CHECKPOINT_ID_KEY.to_string(),
                    (taken + 1).to_string(),
                );
            }
            let job = dispatcher
                .submit_recovered(graph)
                .map_err(|e| format!("job {id}: cannot resume it: {e}"))?;
            recovered.push(job);
        }
        Ok(recovered)
    }
}

impl JobStore for EtcdJobStore {
    fn put(&self, graph: &JobGraph) -> Result<(), String> {
        let id = graph.job_id.map(|j| j.to_string()).unwrap_or_default();
        let rel = format!("jobs/{id}.json");
        let bytes = serde_json::to_vec(graph).map_err(|e| e.to_string())?;
        self.blobs.put(&rel, bytes).map_err(|e| e.to_string())?;
        self.fenced(vec![TxnOp::put(self.key("jobs", &id), rel, None)])
    }

    fn remove(&self, id: JobId, status: JobStatus) -> Result<(), String> {
        let id = id.to_string();
        self.fenced(vec![
            TxnOp::put(self.key("results", &id), status.to_string(), None),
            TxnOp::delete(self.key("jobs", &id), None),
            TxnOp::delete(self.key("checkpoints", &id), None),
            TxnOp::delete(self.key("checkpoint-ids", &id), None),
        ])?;
        self.blobs.delete(&format!("jobs/{id}.json"));
        Ok(())
    }

    fn checkpoint_id(&self, job: JobId, id: u64) -> Result<(), String> {
        self.fenced(vec![TxnOp::put(
            self.key("checkpoint-ids", &job.to_string()),
            id.to_string(),
            None,
        )])
    }

    fn checkpoint_completed(&self, job: JobId, id: u64, location: &str) -> Result<(), String> {
        let pointer = CompletedPointer {
            id,
            location: location.to_string(),
        };
        let value = serde_json::to_vec(&pointer).map_err(|e| e.to_string())?;
        self.fenced(vec![TxnOp::put(
            self.key("checkpoints", &job.to_string()),
            value,
            None,
        )])
    }
}

/// What `checkpoints/<job id>` holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct CompletedPointer {
    id: u64,
    location: String,
}
