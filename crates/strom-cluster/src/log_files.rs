//! The log files a cluster process serves (`/jobmanager/log`, `/taskmanagers/:id/logs`, ...):
//! the listing of its log directory and one file's text, the same code for the JobManager and
//! every TaskManager (in process, or answering over gRPC).

use crate::process_log::ProcessFiles;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// A file larger than this is served from its last this many bytes (its newest lines).
pub const MAX_FILE_BYTES: u64 = 32 << 20;

/// Which file: the main log, the stdout file, or one by name from the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFile {
    Log,
    Stdout,
    Named(String),
}

/// One entry of a log listing (Flink's `LogInfo`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogFileInfo {
    pub name: String,
    pub size: u64,
    /// Last modification, epoch ms.
    pub mtime: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogFileError {
    /// No such file (the message says what to set or where to look).
    #[error("{0}")]
    NotFound(String),
    #[error("cannot read {file}: {reason}")]
    Unreadable { file: String, reason: String },
}

/// The files in `dir`, by name (none when `dir` is None or cannot be read).
pub fn list(dir: Option<&Path>) -> Vec<LogFileInfo> {
    let Some(Ok(rd)) = dir.map(std::fs::read_dir) else {
        return Vec::new();
    };
    let mut out: Vec<LogFileInfo> = rd
        .flatten()
        .take(10_000)
        .filter_map(|e| {
            let meta = e.metadata().ok().filter(|m| m.is_file())?;
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|t| t.as_millis() as i64)
                .unwrap_or(0);
            Some(LogFileInfo {
                name: e.file_name().to_string_lossy().into_owned(),
                size: meta.len(),
                mtime,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Whether `name` names a file directly inside the log directory.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0'])
}

/// The text of a file of `files` (the process's log files; None: it logs to stderr only) on
/// `who` ("JobManager", "TaskExecutor").
pub fn read(
    files: Option<&ProcessFiles>,
    which: &LogFile,
    who: &str,
) -> Result<Vec<u8>, LogFileError> {
    let no_dir = |what: &str| {
        LogFileError::NotFound(format!(
            "The file {what} does not exist on the {who}: this process logs to stderr only; \
             start it with env.log.dir set (-D env.log.dir=DIR) to keep its log in DIR"
        ))
    };
    let (path, what) = match which {
        LogFile::Log => {
            let f = files.ok_or_else(|| no_dir("LOG"))?;
            (f.log_path(), "LOG".to_string())
        }
        LogFile::Stdout => {
            let f = files.ok_or_else(|| no_dir("STDOUT"))?;
            let path = f.dir.join(f.stdout_name());
            if !path.is_file() {
                return Err(LogFileError::NotFound(format!(
                    "The file STDOUT does not exist on the {who}: Strom does not redirect stdout; \
                     start the process with its stdout sent to {} to see it here",
                    path.display()
                )));
            }
            (path, "STDOUT".to_string())
        }
        LogFile::Named(name) => {
            let missing = || {
                LogFileError::NotFound(format!(
                    "The file {name} does not exist on the {who}; see its list of log files"
                ))
            };
            let f = files.ok_or_else(missing)?;
            if !plain_name(name) {
                return Err(missing());
            }
            let path = f.dir.join(name);
            if !path.is_file() {
                return Err(missing());
            }
            (path, name.clone())
        }
    };
    if !path.is_file() {
        return Err(LogFileError::NotFound(format!(
            "The file {what} does not exist on the {who} ({} is missing)",
            path.display()
        )));
    }
    read_tail(&path, MAX_FILE_BYTES).map_err(|e| LogFileError::Unreadable {
        file: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// The file, or its last `max` bytes from the first line start among them.
fn read_tail(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len <= max {
        let mut buf = Vec::with_capacity(len as usize);
        f.read_to_end(&mut buf)?;
        return Ok(buf);
    }
    f.seek(SeekFrom::Start(len - max))?;
    let mut buf = Vec::with_capacity(max as usize);
    f.take(max).read_to_end(&mut buf)?;
    let start = buf.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1);
    Ok(buf.split_off(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lists_and_refuses_what_is_not_there() {
        let dir = std::env::temp_dir().join(format!("strom-log-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("taskmanager-1.log"), "a\nb\n").unwrap();
        let files = ProcessFiles {
            dir: dir.clone(),
            log: "taskmanager-1.log".into(),
        };
        assert_eq!(
            read(Some(&files), &LogFile::Log, "TaskExecutor").unwrap(),
            b"a\nb\n"
        );
        let listed = list(Some(&dir));
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].name.as_str(), listed[0].size),
            ("taskmanager-1.log", 4)
        );
        let named = LogFile::Named("taskmanager-1.log".into());
        assert_eq!(
            read(Some(&files), &named, "TaskExecutor").unwrap(),
            b"a\nb\n"
        );
        for bad in ["../etc/passwd", ".hidden", "", "missing.log"] {
            let e = read(Some(&files), &LogFile::Named(bad.into()), "TaskExecutor");
            assert!(matches!(e, Err(LogFileError::NotFound(_))), "{bad}: {e:?}");
        }
        let Err(LogFileError::NotFound(m)) = read(Some(&files), &LogFile::Stdout, "TaskExecutor")
        else {
            panic!("no stdout file")
        };
        assert!(m.contains("taskmanager-1.out"), "{m}");
        let Err(LogFileError::NotFound(m)) = read(None, &LogFile::Log, "JobManager") else {
            panic!("no log")
        };
        assert!(
            m.starts_with("The file LOG does not exist on the JobManager"),
            "{m}"
        );
        assert!(m.contains("env.log.dir"), "{m}");
        assert!(list(None).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn large_files_are_served_from_a_line_start_near_their_end() {
        let p = std::env::temp_dir().join(format!("strom-log-tail-{}", std::process::id()));
        std::fs::write(&p, "first line\nsecond\nthird\n").unwrap();
        assert_eq!(read_tail(&p, 10).unwrap(), b"third\n");
        assert_eq!(read_tail(&p, 100).unwrap().len(), 24);
        let _ = std::fs::remove_file(&p);
    }
}
