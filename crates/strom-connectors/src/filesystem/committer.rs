//! The exactly-once filesystem sink (jobs with checkpoints): a two-phase commit over part files.
//!
//! Rows go to a hidden in-progress file, `.part-<k>-<run>-<n>.<ext>.inprogress` (`k` the
//! subtask, `run` random per writer, `n` counting its files), created at the first row (no
//! empty files). A checkpoint `c` ([`SinkWriter::prepare_commit`]) flushes, syncs and closes it
//! and gives it its final name `part-<k>-<c>-<run>-<n>.<ext>` (`end` for `c` the end of input);
//! the next rows go to a new file. The returned state lists every prepared file not yet
//! committed: its hidden path, its final path and its checkpoint. When checkpoint `c`
//! completed ([`SinkWriter::commit`]) the files of `c` and earlier checkpoints are renamed to
//! their final names (same directory, so atomically); a file already renamed is skipped. After a
//! failure, [`SinkWriter::restore`] renames the files of the restored checkpoint's states; what
//! was written after that checkpoint stays hidden forever (the hidden files are left behind).
//! At the end of input, [`SinkWriter::finish`] closes the current file without preparing it;
//! the runtime then prepares (checkpoint `u64::MAX`) and commits it.
//!
//! Readers of the directory (this connector's source, `cat dir/part-*`) ignore names starting
//! with `.` or `_`, so they only see committed files.

use super::part_file::{PartFile, PartFormat};
use super::FsOptions;
use arrow::array::RecordBatch;
use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use strom_plan::TableSpec;
use strom_runtime::connector::ConnectorCounters;
use strom_runtime::{ConnectorError, SinkWriter, SubtaskInfo};

/// Flush the text buffer to the file when it reaches this size.
const FLUSH_AT: usize = 1 << 20;
const VERSION: u64 = 1;

fn io(path: &Path, what: &str, e: std::io::Error) -> ConnectorError {
    ConnectorError::Io(format!("cannot {what} '{}': {e}", path.display()))
}

/// A file being written.
struct Open {
    hidden: PathBuf,
    file: PartFile,
    n: u64,
}

/// A closed file and what becomes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prepared {
    hidden: PathBuf,
    final_path: PathBuf,
    checkpoint: u64,
}

/// Writes one subtask's part files with a two-phase commit.
pub struct TwoPhaseFileWriter {
    format: PartFormat,
    dir: PathBuf,
    subtask: SubtaskInfo,
    /// Random, distinguishes this writer's files from every other attempt's.
    run: String,
    /// Files opened so far.
    opened: u64,
    current: Option<Open>,
    buf: Vec<u8>,
    /// Closed by `finish`, not prepared yet: `(hidden path, n)`.
    closed: Vec<(PathBuf, u64)>,
    /// Prepared, not committed yet, in order.
    prepared: Vec<Prepared>,
    finished: bool,
    bytes: u64,
}

/// A random id for a writer's file names (12 hex digits).
fn run_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seed = nanos
        ^ ((std::process::id() as u64) << 32)
        ^ N.fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{:012x}", crate::bids::splitmix64(seed) >> 16)
}

/// Syncs a directory so that renames and new names in it are durable (where supported).
fn sync_dir(dir: &Path) {
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), "cannot sync the sink directory: {e}");
    }
}

impl TwoPhaseFileWriter {
    pub fn create(
        table: &TableSpec,
        opts: &FsOptions,
        subtask: SubtaskInfo,
    ) -> Result<Self, ConnectorError> {
        let dir = opts.path.clone();
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, "create the sink directory", e))?;
        Ok(Self {
            format: PartFormat::new(table, opts),
            dir,
            subtask,
            run: run_id(),
            opened: 0,
            current: None,
            buf: Vec::with_capacity(FLUSH_AT + (64 << 10)),
            closed: Vec::new(),
            prepared: Vec::new(),
            finished: false,
            bytes: 0,
        })
    }

    fn ext(&self) -> &'static str {
        self.format.extension()
    }

    /// The file being written, opened if there is none.
    fn open(&mut self) -> Result<&mut Open, ConnectorError> {
        if self.current.is_none() {
            let n = self.opened;
            let hidden = self.dir.join(format!(
                ".part-{}-{}-{n}.{}.inprogress",
                self.subtask.index,
                self.run,
                self.ext()
            ));
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&hidden)
                .map_err(|e| io(&hidden, "create the in-progress part file", e))?;
            let file = self.format.open(file, &hidden)?;
            self.opened += 1;
            self.current = Some(Open { hidden, file, n });
        }
        Ok(self.current.as_mut().expect("just opened"))
    }

    fn flush_buf(&mut self) -> Result<(), ConnectorError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        let open = self.open()?;
        let res = open.file.write_text(&buf, &open.hidden);
        self.bytes += buf.len() as u64;
        self.buf = buf;
        self.buf.clear();
        res
    }

    /// Flushes, syncs and closes the current file (if rows were written to it).
    fn close_current(&mut self) -> Result<(), ConnectorError> {
        self.flush_buf()?;
        if let Some(open) = self.current.take() {
            self.bytes += open.file.parquet_bytes();
            open.file
                .close(&open.hidden)?
                .sync_all()
                .map_err(|e| io(&open.hidden, "sync", e))?;
            self.closed.push((open.hidden, open.n));
        }
        Ok(())
    }

    fn final_path(&self, checkpoint: u64, n: u64) -> PathBuf {
        let cp = if checkpoint == u64::MAX {
            "end".to_string()
        } else {
            checkpoint.to_string()
        };
        self.dir.join(format!(
            "part-{}-{cp}-{}-{n}.{}",
            self.subtask.index,
            self.run,
            self.ext()
        ))
    }
}

/// The state of prepared files, as JSON.
fn encode_state(files: &[Prepared]) -> Vec<u8> {
    let files: Vec<Value> = files
        .iter()
        .map(|f| {
            json!({
                "hidden": f.hidden.to_string_lossy(),
                "final": f.final_path.to_string_lossy(),
                "checkpoint": f.checkpoint,
            })
        })
        .collect();
    json!({ "version": VERSION, "files": files })
        .to_string()
        .into_bytes()
}

fn decode_state(bytes: &[u8]) -> Result<Vec<Prepared>, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON ({e})"))?;
    if v.get("version").and_then(Value::as_u64) != Some(VERSION) {
        return Err("unknown or missing version".into());
    }
    let files = v
        .get("files")
        .and_then(Value::as_array)
        .ok_or("'files' is missing")?;
    files
        .iter()
        .map(|f| {
            let path = |k: &str| {
                f.get(k)
                    .and_then(Value::as_str)
                    .map(PathBuf::from)
                    .ok_or(format!("a file without '{k}'"))
            };
            Ok(Prepared {
                hidden: path("hidden")?,
                final_path: path("final")?,
                checkpoint: f
                    .get("checkpoint")
                    .and_then(Value::as_u64)
                    .ok_or("a file without 'checkpoint'")?,
            })
        })
        .collect()
}

/// Renames a prepared file to its final name. `Ok(false)`: neither name exists.
fn publish(f: &Prepared) -> Result<bool, ConnectorError> {
    match std::fs::rename(&f.hidden, &f.final_path) {
        Ok(()) => Ok(true),
        // committed before (a repeated commit, or by the run that prepared it)
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(f.final_path.exists()),
        Err(e) => Err(io(&f.final_path, "rename a prepared part file to", e)),
    }
}

impl TwoPhaseFileWriter {
    /// After a restore: deletes the in-progress files of earlier attempts that no restored state
    /// refers to (rows written after the checkpoint, never to be visible). Each subtask takes the
    /// files of old subtasks `k` with `k % parallelism == index`; the current attempt's writers
    /// only create files of their own index, after their restore, so nothing live is touched.
    fn remove_abandoned(&self, states: &[Vec<u8>]) {
        let mut referenced = std::collections::HashSet::new();
        for state in states {
            match decode_state(state) {
                Ok(files) => referenced.extend(files.into_iter().map(|f| f.hidden)),
                // a state we cannot read: leave every file alone
                Err(_) => return,
            }
        }
        let (n, me) = (
            self.subtask.parallelism.max(1) as usize,
            self.subtask.index as usize,
        );
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut removed = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let owner = name
                .strip_prefix(".part-")
                .filter(|_| name.ends_with(".inprogress"))
                .and_then(|rest| rest.split('-').next())
                .and_then(|k| k.parse::<usize>().ok());
            if owner.is_some_and(|k| k % n == me)
                && !referenced.contains(&e.path())
                && std::fs::remove_file(e.path()).is_ok()
            {
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(
                "removed {removed} in-progress file(s) of earlier attempts from {}",
                self.dir.display()
            );
        }
    }
}

impl SinkWriter for TwoPhaseFileWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        if self.finished {
            return Err(ConnectorError::Other(format!(
                "write to the sink directory '{}' after the end of input",
                self.dir.display()
            )));
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        // the file exists once it has rows
        self.open()?;
        if let Some(open) = self.current.as_mut() {
            self.format
                .write(batch, &mut open.file, &mut self.buf, &open.hidden)?;
        }
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// Closes the current file; it becomes visible after `prepare_commit(u64::MAX)` and
    /// `commit(u64::MAX)`.
    fn finish(&mut self) -> Result<(), ConnectorError> {
        self.close_current()?;
        self.finished = true;
        Ok(())
    }

    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Option<Vec<u8>>, ConnectorError> {
        self.close_current()?;
        let closed = std::mem::take(&mut self.closed);
        for (hidden, n) in closed {
            let final_path = self.final_path(checkpoint, n);
            self.prepared.push(Prepared {
                hidden,
                final_path,
                checkpoint,
            });
        }
        if self.prepared.is_empty() {
            return Ok(None);
        }
        sync_dir(&self.dir);
        Ok(Some(encode_state(&self.prepared)))
    }

    fn commit(&mut self, checkpoint: u64) -> Result<(), ConnectorError> {
        let mut done = 0;
        let mut result = Ok(());
        for f in self.prepared.iter().filter(|f| f.checkpoint <= checkpoint) {
            match publish(f) {
                Ok(true) => done += 1,
                Ok(false) => {
                    result = Err(ConnectorError::Io(format!(
                        "the prepared part file '{}' of checkpoint {} is gone and '{}' does not exist: its rows are lost; make sure nothing else deletes files in the sink directory",
                        f.hidden.display(),
                        f.checkpoint,
                        f.final_path.display()
                    )));
                    break;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        // the committed ones are the first `done` of those (in order)
        let mut left = done;
        self.prepared.retain(|f| {
            if left > 0 && f.checkpoint <= checkpoint {
                left -= 1;
                false
            } else {
                true
            }
        });
        if done > 0 {
            sync_dir(&self.dir);
        }
        result
    }

    fn restore(&mut self, states: &[Vec<u8>]) -> Result<(), ConnectorError> {
        let n = self.subtask.parallelism.max(1) as usize;
        let mine = states
            .iter()
            .enumerate()
            .filter(|(j, _)| j % n == self.subtask.index as usize);
        let mut renamed = false;
        for (j, state) in mine {
            let files = decode_state(state).map_err(|e| {
                ConnectorError::Other(format!(
                    "state {j} of the filesystem sink '{}' in the checkpoint is not valid: {e}; was it taken by another sink? start the job without restoring from the checkpoint",
                    self.dir.display()
                ))
            })?;
            for f in files {
                if publish(&f)? {
                    renamed = true;
                } else {
                    tracing::warn!(
                        hidden = %f.hidden.display(),
                        final_path = %f.final_path.display(),
                        "a part file of the restored checkpoint exists under neither name (removed since?); its rows are not in the output"
                    );
                }
            }
        }
        if renamed {
            sync_dir(&self.dir);
        }
        self.remove_abandoned(states);
        Ok(())
    }

    fn counters(&self) -> ConnectorCounters {
        ConnectorCounters {
            bytes: self.bytes,
            skipped_rows: 0,
        }
    }
}
