//! The binary's log: stderr always (in colour on a terminal only); a cluster process with `env.log.dir` set also writes it to
//! `<dir>/jobmanager.log` (jobmanager, standalone) or `<dir>/taskmanager-<rpc port>.log`
//! (taskmanager), without colours, which `/jobmanager/log` and `/taskmanagers/:id/log` serve.

use std::io::IsTerminal;
use strom_cluster::process_log;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Which process this is, for the name of its log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    JobManager,
    TaskManager,
}

/// Logs at `level` (or `STROM_LOG`) to stderr; with `to_file`, lines are also kept for a log
/// file that [`open_file`] opens once the configuration is read.
pub fn init(level: &str, to_file: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STROM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let file = to_file.then(|| {
        process_log::buffer();
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(|| process_log::Writer)
    });
    tracing_subscriber::registry()
        .with(filter)
        // colours only on a terminal: redirected logs and CI output get plain text
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr),
        )
        .with(file)
        .init();
}

/// Opens the log file in `env.log.dir` (a TaskManager's is named once it has bound its port),
/// or drops the kept lines when it is not set.
pub fn open_file(config: &strom_common::Configuration, role: Role) {
    let Some(dir) = process_log::log_dir(config) else {
        process_log::close();
        return;
    };
    match role {
        Role::TaskManager => process_log::open_pending(&dir),
        Role::JobManager => match process_log::open(&dir, process_log::JOBMANAGER_LOG) {
            Ok(()) => tracing::info!(
                "logging to {}",
                dir.join(process_log::JOBMANAGER_LOG).display()
            ),
            Err(e) => {
                process_log::close();
                tracing::warn!(
                    "cannot write the log file in {} ({}): {e}; logging to stderr only",
                    dir.display(),
                    process_log::LOG_DIR
                );
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_process_logs_to_stderr_and_to_its_file_in_env_log_dir() {
        let dir = std::env::temp_dir().join(format!("strom-logging-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        init("info", true);
        tracing::info!("logged before the configuration was read");
        let mut config = strom_common::Configuration::new();
        config.set(process_log::LOG_DIR, dir.to_str().unwrap());
        open_file(&config, Role::JobManager);
        tracing::info!(job = "j1", "logged after");
        tracing::debug!("below the level");
        let text = std::fs::read_to_string(dir.join(process_log::JOBMANAGER_LOG)).unwrap();
        assert!(
            text.contains("INFO strom::logging::tests: logged before the configuration was read\n"),
            "{text}"
        );
        assert!(text.contains("logged after job=\"j1\"\n"), "{text}");
        assert!(!text.contains("below the level"), "{text}");
        assert!(!text.contains('\u{1b}'), "no colours in the file: {text}");
        assert_eq!(
            process_log::current().map(|f| f.log_path()),
            Some(dir.join(process_log::JOBMANAGER_LOG))
        );
        process_log::close();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
