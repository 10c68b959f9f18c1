//! Strom's control plane: Dispatcher, ResourceManager, JobMaster and TaskExecutor, the gateway
//! traits between them, their gRPC transport, and the embedded cluster that runs them in one
//! process.

pub mod checkpoint_metadata;
pub mod checkpoint_stats;
pub mod checkpoint_storage;
pub mod cluster;
pub mod cluster_metrics;
pub mod dispatcher;
pub mod gateway;
pub mod ha;
pub mod job_master;
pub mod job_store;
pub mod log_files;
pub mod process_log;
pub mod process_status;
pub mod protocol;
pub mod rate_meter;
pub mod resource_manager;
pub mod result_buffer;
pub mod retained_checkpoints;
pub mod task_executor;
pub mod task_figures;
pub mod thread_dump;
pub mod tls;
pub mod utilisation;

pub use cluster::start_embedded;
pub use dispatcher::{Dispatcher, DispatcherError};
pub mod job_manager_runner;
pub mod remote_task_executor;
pub mod rpc;
pub mod task_manager_runner;
