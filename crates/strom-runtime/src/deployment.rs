//! What a task is deployed with: its chain, its input and output edges (local or remote), and the
//! state it restores.

use crate::connector::SubtaskInfo;
use crate::exchange::OutputDescriptor;
use crate::task_state::TaskRestore;
use serde::{Deserialize, Serialize};
use strom_common::{AttemptId, JobId, VertexId};
use strom_plan::{OperatorSpec, ResultType};

/// One input edge of a task, as deployed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputDescriptor {
    pub producer: VertexId,
    pub producer_parallelism: u32,
    pub input_index: u32,
    pub result_type: ResultType,
    /// FORWARD: only the producer subtask with the same index feeds this task.
    pub forward: bool,
    /// Producer subtasks that run on another TaskManager, with its data address.
    #[serde(default)]
    pub remote_producers: Vec<RemoteProducer>,
    /// BLOCKING inputs: `(producer subtask, round)` of the producers whose results were made in
    /// another execution round than this task's (they finished before a region failover
    /// restarted this task), ascending by subtask. Empty in the usual case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub producer_rounds: Vec<(u32, u32)>,
}

impl InputDescriptor {
    /// The execution round of producer subtask `p`'s results for a task of round `own`.
    pub fn producer_round(&self, p: u32, own: u32) -> u32 {
        self.producer_rounds
            .binary_search_by_key(&p, |(s, _)| *s)
            .map_or(own, |i| self.producer_rounds[i].1)
    }
}

/// A producer subtask on another TaskManager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteProducer {
    pub subtask: u32,
    pub data_address: String,
}

/// Everything a TaskManager needs to run one task (Flink's TaskDeploymentDescriptor).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskDeploymentDescriptor {
    pub job_id: JobId,
    pub round: u32,
    pub vertex: VertexId,
    pub vertex_name: String,
    pub subtask: u32,
    pub parallelism: u32,
    pub attempt_id: AttemptId,
    pub attempt_number: u32,
    pub operators: Vec<OperatorSpec>,
    pub inputs: Vec<InputDescriptor>,
    pub outputs: Vec<OutputDescriptor>,
    /// The job takes checkpoints: sinks write exactly once where they can.
    #[serde(default)]
    pub checkpointing: bool,
    /// Where the job's checkpoints go (`state.checkpoints.dir`/<job id>); None: the task takes
    /// no part in checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_dir: Option<String>,
    /// Key groups of the vertex (`pipeline.max-parallelism`).
    #[serde(default = "default_max_parallelism")]
    pub max_parallelism: u32,
    /// The checkpoint this attempt resumes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<TaskRestore>,
}

fn default_max_parallelism() -> u32 {
    crate::key_groups::DEFAULT_MAX_PARALLELISM
}

impl TaskDeploymentDescriptor {
    pub fn subtask_info(&self) -> SubtaskInfo {
        SubtaskInfo {
            index: self.subtask,
            parallelism: self.parallelism,
        }
    }
}
