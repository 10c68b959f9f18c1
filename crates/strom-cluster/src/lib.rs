//! Strom's control plane: Dispatcher, ResourceManager, JobMaster and TaskExecutor, and the
//! embedded cluster that runs them in one process.

pub mod cluster;
pub mod dispatcher;
pub mod job_master;
pub mod resource_manager;
pub mod task_executor;
pub mod views;

pub use cluster::start_embedded;
pub use dispatcher::{Dispatcher, DispatcherError};
