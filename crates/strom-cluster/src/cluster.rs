//! The embedded cluster (`strom standalone`, and `strom sql` without `--jobmanager`): a Dispatcher,
//! a ResourceManager and N in-process TaskManagers behind the same gateway traits as a real
//! cluster's, exchanging data in memory.

use crate::dispatcher::Dispatcher;
use crate::gateway::{Hardware, JobMasterRegistry, TaskManagerInfo};
use crate::resource_manager::ResourceManager;
use crate::task_executor::{LocalTaskExecutor, TaskExecutor};
use std::sync::Arc;
use strom_common::config::{options, ConfigError};
use strom_common::Configuration;
use strom_runtime::batch_memory::BatchMemory;
use strom_runtime::exchange::LocalShuffle;
use strom_runtime::ConnectorRegistry;
use strom_scheduler::slot_pool::TaskManagerId;

/// Starts an embedded cluster with `taskmanagers` TaskManagers of `taskmanager.numberOfTaskSlots`
/// slots each.
pub fn start_embedded(
    config: Configuration,
    taskmanagers: u32,
    connectors: ConnectorRegistry,
) -> Result<Arc<Dispatcher>, ConfigError> {
    let slots = options::NUM_TASK_SLOTS.get(&config)?.max(1);
    let registry = Arc::new(JobMasterRegistry::default());
    let rm = Arc::new(ResourceManager::new(registry.clone()));
    let shuffle = LocalShuffle::new();
    let connectors = Arc::new(connectors);
    let memory = BatchMemory::from_config(&config)?;
    for i in 0..taskmanagers.max(1) {
        let id = TaskManagerId(format!("localhost:{}-{}", i, short_random_id()));
        let executor = Arc::new(
            TaskExecutor::new(shuffle.clone(), None, connectors.clone())
                .with_batch_memory(memory.clone()),
        );
        rm.register(Arc::new(LocalTaskExecutor {
            info: TaskManagerInfo::new(id, String::new(), String::new(), slots, Hardware::detect()),
            executor,
            listener: registry.clone(),
        }));
    }
    Ok(Arc::new(Dispatcher::new(config, rm, connectors)))
}

/// Six hex digits, to tell TaskManagers (and their re-registrations) apart.
pub fn short_random_id() -> String {
    format!("{:06x}", rand::random::<u32>() & 0xff_ffff)
}
