//! The binary's log: stderr always; a cluster process with `env.log.dir` set also writes it to
//! `<dir>/jobmanager.log` (jobmanager, standalone) or `<dir>/taskmanager-<rpc port>.log`
//! (taskmanager), without colours, which `/jobmanager/log` and `/taskmanagers/:id/log` serve.

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
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
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
