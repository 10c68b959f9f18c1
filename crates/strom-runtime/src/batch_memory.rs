//! The memory a batch stage's task works in (Flink's managed memory): a TaskManager's managed
//! memory shared equally by its slots. A task sorts, joins and aggregates within its slot's
//! share through a DataFusion memory pool and spills to `io.tmp.dirs` beyond it.

use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use std::path::PathBuf;
use std::sync::Arc;
use strom_common::config::{options, ConfigError};
use strom_common::Configuration;

/// Flink's default `taskmanager.memory.process.size`.
const DEFAULT_PROCESS_BYTES: u64 = 1728 << 20;

/// What a batch task may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchMemory {
    /// Bytes of one slot's share of the managed memory.
    pub slot_bytes: u64,
    /// Where spills go (empty: the system's temporary directory).
    pub spill_dirs: Vec<PathBuf>,
}

impl Default for BatchMemory {
    fn default() -> Self {
        Self {
            slot_bytes: (DEFAULT_PROCESS_BYTES as f64 * 0.4) as u64,
            spill_dirs: Vec::new(),
        }
    }
}

impl BatchMemory {
    /// A TaskManager's batch memory per slot, from its configuration.
    pub fn from_config(config: &Configuration) -> Result<Self, ConfigError> {
        let slots = u64::from(options::NUM_TASK_SLOTS.get(config)?.max(1));
        let managed = match options::MANAGED_MEMORY_SIZE.get(config)? {
            Some(bytes) => bytes,
            None => {
                let process = options::TASKMANAGER_MEMORY
                    .get(config)?
                    .unwrap_or(DEFAULT_PROCESS_BYTES);
                let fraction = options::MANAGED_MEMORY_FRACTION
                    .get(config)?
                    .clamp(0.0, 1.0);
                (process as f64 * fraction) as u64
            }
        };
        let spill_dirs = options::IO_TMP_DIRS
            .get(config)?
            .map(|dirs| {
                dirs.split([',', ':'])
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            slot_bytes: (managed / slots).max(1 << 20),
            spill_dirs,
        })
    }

    /// What a sort keeps for merging its spilled runs: a quarter of the slot's share, at most
    /// DataFusion's default (10 MiB).
    pub fn sort_reservation(&self) -> usize {
        (self.slot_bytes / 4).min(10 << 20) as usize
    }

    /// A DataFusion runtime for one task: a pool of the slot's share, spilling to the
    /// configured directories.
    pub fn runtime(&self) -> datafusion::error::Result<Arc<RuntimeEnv>> {
        let mode = if self.spill_dirs.is_empty() {
            DiskManagerMode::OsTmpDirectory
        } else {
            DiskManagerMode::Directories(self.spill_dirs.clone())
        };
        RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(self.slot_bytes as usize)))
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(mode))
            .build_arc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_gets_its_share_of_the_managed_memory() {
        let mut c = Configuration::default();
        c.set("taskmanager.numberOfTaskSlots", "4");
        c.set("taskmanager.memory.process.size", "1g");
        c.set("taskmanager.memory.managed.fraction", "0.5");
        c.set("io.tmp.dirs", "/a, /b");
        let m = BatchMemory::from_config(&c).unwrap();
        assert_eq!(m.slot_bytes, 128 << 20);
        assert_eq!(m.spill_dirs, [PathBuf::from("/a"), PathBuf::from("/b")]);
        c.set("taskmanager.memory.managed.size", "64m");
        assert_eq!(BatchMemory::from_config(&c).unwrap().slot_bytes, 16 << 20);
        c.set("taskmanager.memory.managed.size", "lots");
        assert!(BatchMemory::from_config(&c).is_err());
    }
}
