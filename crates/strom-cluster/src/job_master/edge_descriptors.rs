//! A subtask's input and output edges as deployed: for each, which peers run on another
//! TaskManager (reached over the network, by their data addresses) and which in this process.

use crate::resource_manager::ResourceManager;
use strom_common::VertexId;
use strom_plan::{ResultType, ShipStrategy};
use strom_runtime::deployment::RemoteProducer;
use strom_runtime::exchange::OutputDescriptor;
use strom_runtime::InputDescriptor;
use strom_scheduler::execution_graph::{ExecutionGraph, ExecutionVertexId};
use strom_scheduler::slot_pool::SlotId;

/// The edges of a job's subtasks, where their peers run now.
pub(super) struct EdgeDescriptors<'a> {
    pub graph: &'a ExecutionGraph,
    pub rm: &'a ResourceManager,
}

impl EdgeDescriptors<'_> {
    /// The data address of the TaskManager holding `slot` ("" in process or unknown).
    pub fn data_address(&self, slot: Option<&SlotId>) -> String {
        slot.and_then(|s| self.rm.task_executor(&s.task_manager))
            .map(|te| te.info().data_address.clone())
            .unwrap_or_default()
    }

    fn slot_of(&self, vertex: VertexId, subtask: u32) -> Option<SlotId> {
        self.graph
            .job_vertex(vertex)
            .and_then(|jv| jv.subtasks.get(subtask as usize))
            .and_then(|e| e.current.slot.clone())
    }

    /// The execution round of a subtask's current attempt.
    fn round_of(&self, vertex: VertexId, subtask: u32) -> u32 {
        self.graph
            .job_vertex(vertex)
            .and_then(|jv| jv.subtasks.get(subtask as usize))
            .map_or(0, |e| e.current.round)
    }

    fn parallelism(&self, vertex: VertexId) -> u32 {
        self.graph
            .job_vertex(vertex)
            .map(|v| v.parallelism())
            .unwrap_or(1)
    }

    /// The input edges of subtask `id`, which runs at data address `here`.
    pub fn inputs(&self, id: ExecutionVertexId, here: &str) -> Vec<InputDescriptor> {
        self.graph
            .edges
            .iter()
            .filter(|e| e.target == id.vertex)
            .map(|e| {
                let producer_parallelism = self.parallelism(e.source);
                let forward = e.ship_strategy == ShipStrategy::Forward;
                let producers = if forward {
                    id.subtask..id.subtask + 1
                } else {
                    0..producer_parallelism
                };
                // results of producers that finished in an earlier round than this attempt's
                let own = self.round_of(id.vertex, id.subtask);
                let producer_rounds = match e.result_type {
                    ResultType::Pipelined => Vec::new(),
                    ResultType::Blocking => producers
                        .clone()
                        .map(|p| (p, self.round_of(e.source, p)))
                        .filter(|(_, r)| *r != own)
                        .collect(),
                };
                let remote_producers = producers
                    .filter_map(|p| {
                        let addr = self.data_address(self.slot_of(e.source, p).as_ref());
                        (addr != here).then_some(RemoteProducer {
                            subtask: p,
                            data_address: addr,
                        })
                    })
                    .collect();
                InputDescriptor {
                    producer: e.source,
                    producer_parallelism,
                    input_index: e.input_index,
                    result_type: e.result_type,
                    forward,
                    remote_producers,
                    producer_rounds,
                }
            })
            .collect()
    }

    /// The output edges of subtask `id`, which runs at data address `here`.
    pub fn outputs(&self, id: ExecutionVertexId, here: &str) -> Vec<OutputDescriptor> {
        self.graph
            .edges
            .iter()
            .filter(|e| e.source == id.vertex)
            .map(|e| {
                let consumer_parallelism = self.parallelism(e.target);
                let consumers = if e.ship_strategy == ShipStrategy::Forward {
                    id.subtask..id.subtask + 1
                } else {
                    0..consumer_parallelism
                };
                let remote_consumers = match e.result_type {
                    // stored results are fetched by the consumers wherever they run
                    ResultType::Blocking => Vec::new(),
                    ResultType::Pipelined => consumers
                        .filter(|c| self.data_address(self.slot_of(e.target, *c).as_ref()) != here)
                        .collect(),
                };
                OutputDescriptor {
                    max_parallelism: self
                        .graph
                        .job_vertex(e.target)
                        .map(|v| v.vertex.max_parallelism)
                        .unwrap_or(128),
                    consumer: e.target,
                    consumer_parallelism,
                    input_index: e.input_index,
                    ship_strategy: e.ship_strategy.clone(),
                    result_type: e.result_type,
                    remote_consumers,
                }
            })
            .collect()
    }
}
