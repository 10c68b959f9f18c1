//! This process's log file. A cluster process with `env.log.dir` set writes its log to
//! `<dir>/jobmanager.log` (JobManager, standalone) or `<dir>/taskmanager-<rpc port>.log`
//! (TaskManager) besides stderr; [`Writer`] is what the binary's log subscriber writes into.
//! Lines logged before the configuration is read ([`buffer`]), and a TaskManager's lines before
//! it knows its port (it binds it first), are held in memory (up to [`MAX_PENDING`] bytes) until
//! the file is opened ([`open`], [`name_pending`]) or there is none ([`close`]).

use parking_lot::Mutex;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use strom_common::Configuration;

/// Where the log files are (Flink's key).
pub const LOG_DIR: &str = "env.log.dir";

/// Bytes of log kept in memory while the file has no name yet; later lines are dropped from
/// the file (never from stderr).
pub const MAX_PENDING: usize = 1 << 20;

/// The JobManager's log file name (also the standalone process's).
pub const JOBMANAGER_LOG: &str = "jobmanager.log";

enum State {
    Off,
    /// In memory; `dir`: where the file will be, once named.
    Pending {
        dir: Option<PathBuf>,
        buf: Vec<u8>,
    },
    Open {
        dir: PathBuf,
        name: String,
        file: File,
    },
}

static LOG: Mutex<State> = parking_lot::const_mutex(State::Off);

/// The log files of this process: the directory and the main log's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessFiles {
    pub dir: PathBuf,
    pub log: String,
}

impl ProcessFiles {
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(&self.log)
    }

    /// The stdout file beside the log (Flink's `.out`): `jobmanager.out` for `jobmanager.log`.
    pub fn stdout_name(&self) -> String {
        format!("{}.out", self.log.strip_suffix(".log").unwrap_or(&self.log))
    }
}

/// `env.log.dir` of a configuration, if set and not blank.
pub fn log_dir(config: &Configuration) -> Option<PathBuf> {
    config
        .get(LOG_DIR)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

fn open_file(dir: &Path, name: &str) -> std::io::Result<File> {
    std::fs::create_dir_all(dir)?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
}

/// From now on the log goes (also) to `dir/name`, appended.
pub fn open(dir: &Path, name: &str) -> std::io::Result<()> {
    let mut file = open_file(dir, name)?;
    let mut st = LOG.lock();
    if let State::Pending { buf, .. } = &*st {
        file.write_all(buf)?;
    }
    *st = State::Open {
        dir: dir.to_path_buf(),
        name: name.to_string(),
        file,
    };
    Ok(())
}

/// Keeps log lines in memory until the file is opened or [`close`]d (a process logs before it
/// has read its configuration).
pub fn buffer() {
    *LOG.lock() = State::Pending {
        dir: None,
        buf: Vec::new(),
    };
}

/// The log goes to a file in `dir` whose name [`name_pending`] gives later; until then it is
/// kept in memory (with what was kept already).
pub fn open_pending(dir: &Path) {
    let mut st = LOG.lock();
    let buf = match std::mem::replace(&mut *st, State::Off) {
        State::Pending { buf, .. } => buf,
        _ => Vec::new(),
    };
    *st = State::Pending {
        dir: Some(dir.to_path_buf()),
        buf,
    };
}

/// Names the pending log file and writes what was kept; false when no file was pending.
pub fn name_pending(name: &str) -> std::io::Result<bool> {
    let dir = match &*LOG.lock() {
        State::Pending { dir: Some(dir), .. } => dir.clone(),
        _ => return Ok(false),
    };
    open(&dir, name)?;
    Ok(true)
}

/// No log file: what was kept is dropped, later lines go to stderr only.
pub fn close() {
    *LOG.lock() = State::Off;
}

/// The files of this process's log, once the file is open.
pub fn current() -> Option<ProcessFiles> {
    match &*LOG.lock() {
        State::Open { dir, name, .. } => Some(ProcessFiles {
            dir: dir.clone(),
            log: name.clone(),
        }),
        _ => None,
    }
}

/// Appends log output (whole lines, as the subscriber formats them).
pub fn write(bytes: &[u8]) {
    match &mut *LOG.lock() {
        State::Off => {}
        State::Pending { buf, .. } => {
            if buf.len() + bytes.len() <= MAX_PENDING {
                buf.extend_from_slice(bytes);
            }
        }
        // a full disk must not stop the process: the line still reached stderr
        State::Open { file, .. } => {
            let _ = file.write_all(bytes);
        }
    }
}

/// What a log subscriber writes into: the process's log file (nothing when there is none).
#[derive(Debug, Clone, Copy, Default)]
pub struct Writer;

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_lines_reach_the_file_once_it_is_named() {
        let dir = std::env::temp_dir().join(format!("strom-process-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        buffer();
        Writer.write_all(b"before the configuration\n").unwrap();
        assert!(!name_pending("too-early.log").unwrap());
        open_pending(&dir);
        assert_eq!(current(), None);
        Writer.write_all(b"before the name\n").unwrap();
        assert!(name_pending("taskmanager-4711.log").unwrap());
        Writer.write_all(b"after the name\n").unwrap();
        let files = current().unwrap();
        assert_eq!(files.log, "taskmanager-4711.log");
        assert_eq!(files.stdout_name(), "taskmanager-4711.out");
        assert_eq!(
            std::fs::read_to_string(files.log_path()).unwrap(),
            "before the configuration\nbefore the name\nafter the name\n"
        );
        assert!(!name_pending("other.log").unwrap());
        close();
        Writer.write_all(b"after the close\n").unwrap();
        assert_eq!(current(), None);
        assert!(!std::fs::read_to_string(files.log_path())
            .unwrap()
            .contains("close"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
