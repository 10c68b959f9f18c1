//! Strom's scheduling decision core, sans-IO: plain structs that take events and return actions,
//! with no threads, sockets or clocks (time comes in as `now` in milliseconds).
//!
//! - [`chain`]: operator chaining of a JobGraph.
//! - [`ExecutionGraph`]: subtasks, execution attempts and the task and job state machines.
//! - [`SlotPool`]: the slots of the TaskManagers, allocated all or nothing by [`SlotPolicy`].
//! - [`JobSlotPool`]: the slots one job holds, requested through a [`ResourceManagerGateway`].
//! - [`Scheduler`]: eager or lazy (pipelined region) scheduling with slot sharing.
//! - [`RestartStrategy`] / [`RestartBackoff`]: Flink's restart strategies (whether and when a
//!   failed job restarts); [`FailoverStrategy`]: what restarts (the job or its regions).
//! - [`ExceptionHistory`]: the failovers of a job, the root cause of each, and whether one must
//!   not restart the job.
//! - [`JobCore`]: the decisions of one job (placement, failover, TaskManager loss,
//!   stop-with-savepoint, cancellation, terminal states) over the ones above.
//! - [`CheckpointCoordinator`](checkpoint_coordinator::CheckpointCoordinator) and
//!   [`CheckpointFailureManager`](checkpoint_failures::CheckpointFailureManager): checkpoints,
//!   and which of their failures the job tolerates.
//!
//! The JobMaster's loop: `chain` the submitted graph, build the `ExecutionGraph` and a
//! [`JobCore`] over it, and feed the core the job's events ([`JobInput`]: start, slot changes,
//! task states, lost TaskManagers, cancel, ticks), carrying out the [`JobCommand`]s it returns.

pub mod chaining;
pub mod checkpoint_coordinator;
pub mod checkpoint_failures;
mod error;
pub mod exception_history;
pub mod execution_graph;
mod execution_vertex_id;
pub mod failover_strategy;
pub mod job_core;
pub mod job_slot_pool;
pub mod pipelined_region;
pub mod restart_strategy;
pub mod scheduling_strategy;
pub mod slot_pool;
pub mod slot_sharing;
#[cfg(test)]
mod testkit;
mod topology;

pub use chaining::{chain, is_chainable};
pub use error::SchedulerError;
pub use exception_history::{ExceptionHistory, Failure, HistoryEntry};
pub use execution_graph::{
    Execution, ExecutionGraph, ExecutionJobVertex, ExecutionVertex, ExecutionVertexId,
};
pub use failover_strategy::FailoverStrategy;
pub use job_core::{JobCommand, JobCore, JobCoreConfig, JobInput};
pub use job_slot_pool::{JobSlotPool, ResourceManagerGateway, SlotProvider};
pub use pipelined_region::{pipelined_regions, Region};
pub use restart_strategy::{RestartBackoff, RestartStrategy};
pub use scheduling_strategy::{Scheduler, SchedulerAction, SchedulerPhase, SchedulingMode};
pub use slot_pool::{NotEnoughSlots, SlotId, SlotPolicy, SlotPool, TaskManagerId};
pub use slot_sharing::required_slots;
