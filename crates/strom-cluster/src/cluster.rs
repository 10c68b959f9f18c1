//! The embedded cluster (`strom standalone`, and `strom sql` without `--jobmanager`): a Dispatcher,
//! a ResourceManager and N in-process TaskManagers sharing the code paths of a real cluster.

use crate::dispatcher::Dispatcher;
use crate::resource_manager::ResourceManager;
use crate::task_executor::TaskExecutor;
use std::sync::Arc;
use strom_common::config::{keys, ConfigError};
use strom_common::Configuration;
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
    let slots = config.get_u32(keys::NUM_TASK_SLOTS, 1)?.max(1);
    let rm = Arc::new(ResourceManager::new());
    let shuffle = LocalShuffle::new();
    let connectors = Arc::new(connectors);
    for i in 0..taskmanagers.max(1) {
        let id = TaskManagerId(format!("localhost:{}-{:06x}", i, rand_suffix(i)));
        rm.register(Arc::new(TaskExecutor::new(
            id,
            slots,
            shuffle.clone(),
            connectors.clone(),
        )));
    }
    Ok(Arc::new(Dispatcher::new(config, rm, shuffle, connectors)))
}

fn rand_suffix(i: u32) -> u32 {
    (strom_common::ids::AttemptId::random().0 as u32 ^ i) & 0xff_ffff
}
