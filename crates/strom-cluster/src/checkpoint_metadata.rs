//! The metadata of a completed checkpoint or savepoint (`_metadata`, JSON), and how a job's
//! vertices are matched with it on restore. Vertices are matched by id: ids are derived from the
//! plan, so an unchanged query restores every operator; a changed one restores what matches.

use crate::checkpoint_storage::{CheckpointStorage, StorageError};
use serde::{Deserialize, Serialize};
use strom_common::VertexId;
use strom_plan::JobGraph;
use strom_runtime::task_state::{OperatorRestore, TaskRestore};

pub const METADATA_FILE: &str = "_metadata";
pub(crate) const VERSION: u32 = 1;

/// Why a checkpoint's metadata cannot be read or written; the message names the file.
/// Why a completed checkpoint could not be copied into a savepoint directory.
#[derive(Debug, thiserror::Error)]
pub enum SavepointCopyError {
    #[error("the checkpoint's metadata is gone")]
    MetadataGone,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("{location} does not exist: not a complete checkpoint or savepoint directory")]
    Missing { location: String },
    #[error("{location} is corrupt ({source}); use another checkpoint or savepoint")]
    Corrupt {
        location: String,
        source: serde_json::Error,
    },
    #[error("{location} has format version {found}, this Strom reads version {VERSION}")]
    Version { location: String, found: u32 },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot encode the checkpoint metadata: {0}")]
    Encode(serde_json::Error),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    pub version: u32,
    pub checkpoint_id: u64,
    pub job_id: String,
    pub timestamp: i64,
    pub savepoint: bool,
    pub vertices: Vec<VertexStateMeta>,
}

/// One vertex's state at the checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VertexStateMeta {
    pub id: VertexId,
    pub name: String,
    pub parallelism: u32,
    pub max_parallelism: u32,
    /// The chain's operators, in order, and their ids.
    pub operators: Vec<String>,
    pub operator_ids: Vec<VertexId>,
    /// Whether each operator can hold state (sources, aggregates, joins, sinks).
    pub stateful: Vec<bool>,
    /// State file (relative to the checkpoint directory) by subtask; None: no state.
    pub files: Vec<Option<String>>,
    pub state_size: u64,
}

impl VertexStateMeta {
    pub fn has_state(&self) -> bool {
        self.files.iter().any(Option::is_some)
    }
}

impl CheckpointMetadata {
    pub fn new(checkpoint_id: u64, job_id: String, timestamp: i64, savepoint: bool) -> Self {
        Self {
            version: VERSION,
            checkpoint_id,
            job_id,
            timestamp,
            savepoint,
            vertices: Vec::new(),
        }
    }

    pub fn state_size(&self) -> u64 {
        self.vertices.iter().map(|v| v.state_size).sum()
    }

    /// Reads `<dir>/_metadata`; the error names the file and says what is wrong.
    pub fn read(dir: &CheckpointStorage) -> Result<Self, MetadataError> {
        let bytes = dir.get(METADATA_FILE).map_err(|e| match e {
            StorageError::NotFound { location } => MetadataError::Missing { location },
            e => MetadataError::Storage(e),
        })?;
        let m: Self = serde_json::from_slice(&bytes).map_err(|source| MetadataError::Corrupt {
            location: dir.location(METADATA_FILE),
            source,
        })?;
        if m.version != VERSION {
            return Err(MetadataError::Version {
                location: dir.location(METADATA_FILE),
                found: m.version,
            });
        }
        Ok(m)
    }

    pub fn write(&self, dir: &CheckpointStorage) -> Result<(), MetadataError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(MetadataError::Encode)?;
        Ok(dir.put(METADATA_FILE, bytes)?)
    }
}

/// What a job restores from a checkpoint: per vertex (by position in the chained graph) where
/// its operators' state comes from, and a report of what matched. Operators are matched by id,
/// whatever chain they are in now and were in then.
#[derive(Debug, Clone, Default)]
pub struct RestorePlan {
    pub checkpoint_id: u64,
    pub dir: String,
    pub vertices: Vec<Option<TaskRestore>>,
    /// Human-readable lines: which operators get state and which start empty.
    pub report: Vec<String>,
    /// Operators of the checkpoint with state that no operator of the job takes.
    pub unmatched: Vec<String>,
}

impl RestorePlan {
    /// Matches the chained job graph `graph` with checkpoint `meta` stored in `dir`.
    pub fn new(meta: &CheckpointMetadata, dir: &CheckpointStorage, graph: &JobGraph) -> Self {
        let mut plan = RestorePlan {
            checkpoint_id: meta.checkpoint_id,
            dir: dir.location(""),
            ..Default::default()
        };
        // operator id -> (old vertex, position in its chain)
        let mut old = std::collections::HashMap::new();
        for m in &meta.vertices {
            for (k, id) in m.operator_ids.iter().enumerate() {
                old.insert(*id, (m, k));
            }
        }
        let mut taken = std::collections::HashSet::new();
        for v in &graph.vertices {
            let mut ops = Vec::new();
            for (op, id) in v.operators.iter().zip(v.operator_ids()) {
                match old.get(&id) {
                    Some((m, k)) if m.has_state() => {
                        taken.insert(id);
                        let files: Vec<String> = m.files.iter().flatten().cloned().collect();
                        plan.report.push(format!(
                            "{}: state restored from {} subtask(s) (parallelism {} -> {})",
                            op.name(),
                            files.len(),
                            m.parallelism,
                            v.parallelism
                        ));
                        ops.push(Some(OperatorRestore { files, index: *k }));
                    }
                    _ => {
                        plan.report
                            .push(format!("{}: starts with empty state", op.name()));
                        ops.push(None);
                    }
                }
            }
            plan.vertices
                .push(ops.iter().any(Option::is_some).then(|| TaskRestore {
                    checkpoint_id: meta.checkpoint_id,
                    dir: plan.dir.clone(),
                    operators: ops,
                }));
        }
        for m in meta.vertices.iter().filter(|m| m.has_state()) {
            let ops = m.operator_ids.iter().zip(&m.operators).zip(&m.stateful);
            for ((id, name), stateful) in ops {
                if *stateful && !taken.contains(id) {
                    plan.unmatched.push(format!("{name} ({id})"));
                }
            }
        }
        plan
    }
}
