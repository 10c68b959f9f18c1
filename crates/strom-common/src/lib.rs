//! Shared vocabulary of Strom: ids, configuration, Flink's task and job states, errors.

pub mod checkpointing;
pub mod config;
pub mod failure;
pub mod ids;
pub mod states;
pub mod time;
pub mod tls;

pub use config::{ConfigError, Configuration};
pub use failure::{DeclineKind, FailureKind};
pub use ids::{AttemptId, JobId, VertexId};
pub use states::{ExecutionState, JobStatus, JobType};

/// The version Strom reports where Flink reports `flink-version`.
pub const STROM_VERSION: &str = env!("CARGO_PKG_VERSION");
