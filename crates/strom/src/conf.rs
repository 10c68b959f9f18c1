//! Configuration loading: `conf/config.yaml` (or `$STROM_CONF_DIR/config.yaml`), then `-D`.

use anyhow::{Context, Result};
use std::path::PathBuf;
use strom_common::Configuration;

pub fn load(dynamic: &[String]) -> Result<Configuration> {
    let dir = std::env::var("STROM_CONF_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("conf"));
    let file = dir.join("config.yaml");
    let mut config = if file.exists() {
        Configuration::from_yaml_file(&file)
            .with_context(|| format!("reading {}", file.display()))?
    } else {
        Configuration::new()
    };
    for kv in dynamic {
        config.set_dynamic(kv)?;
    }
    for k in config.unknown_keys() {
        tracing::warn!("unknown configuration key '{k}' (ignored)");
    }
    Ok(config)
}
