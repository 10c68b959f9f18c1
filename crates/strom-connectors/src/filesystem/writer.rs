//! The filesystem sink: one part file per subtask, CSV, newline-delimited JSON or Parquet.
//!
//! Subtask `k` writes `<path>/part-<k>-0.<csv|json|parquet>`. The name is fixed (no timestamps or
//! UUIDs), so re-running the same job overwrites its previous output. The file is written as
//! the hidden `.part-<k>-0.<ext>.inprogress` (readers skip hidden files) and renamed when the
//! input ends. Subtask 0 also removes `part-<j>-0.<ext>` of an earlier run with a higher
//! parallelism (`j >= parallelism`), so the directory holds exactly this run's output.
//!
//! CSV: values as in [`crate::format`], no header. JSON: one object per line, keys = column
//! names, numbers as JSON numbers (decimals with their scale digits), timestamps and dates as
//! JSON strings in the CSV text. Parquet: see [`super::part_file`].

use super::part_file::{PartFile, PartFormat};
use super::{Format, FsOptions};
use arrow::array::RecordBatch;
use std::fs::File;
use std::path::{Path, PathBuf};
use strom_plan::TableSpec;
use strom_runtime::connector::ConnectorCounters;
use strom_runtime::{ConnectorError, SinkWriter, SubtaskInfo};

/// Flush the text buffer to the file when it reaches this size.
const FLUSH_AT: usize = 1 << 20;

/// Writes one subtask's part file.
pub struct FileSinkWriter {
    format: PartFormat,
    tmp_path: PathBuf,
    final_path: PathBuf,
    file: Option<PartFile>,
    buf: Vec<u8>,
    bytes: u64,
}

/// The part file name of subtask `index`.
pub fn part_file_name(index: u32, format: Format) -> String {
    format!("part-{index}-0.{}", format.extension())
}

fn io(path: &Path, what: &str, e: std::io::Error) -> ConnectorError {
    ConnectorError::Io(format!("cannot {what} '{}': {e}", path.display()))
}

impl FileSinkWriter {
    pub fn create(
        table: &TableSpec,
        opts: &FsOptions,
        subtask: SubtaskInfo,
    ) -> Result<Self, ConnectorError> {
        let dir = &opts.path;
        std::fs::create_dir_all(dir).map_err(|e| io(dir, "create the sink directory", e))?;
        let name = part_file_name(subtask.index, opts.format);
        let final_path = dir.join(&name);
        let tmp_path = dir.join(format!(".{name}.inprogress"));
        if subtask.index == 0 {
            remove_stale_parts(dir, subtask.parallelism, opts.format)?;
        }
        let file = File::create(&tmp_path).map_err(|e| io(&tmp_path, "create", e))?;
        let format = PartFormat::new(table, opts);
        let file = format.open(file, &tmp_path)?;
        Ok(Self {
            format,
            tmp_path,
            final_path,
            file: Some(file),
            buf: Vec::with_capacity(FLUSH_AT + (64 << 10)),
            bytes: 0,
        })
    }

    fn flush_buf(&mut self) -> Result<(), ConnectorError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let Some(f) = self.file.as_mut() else {
            return Err(ConnectorError::Other(format!(
                "write to '{}' after the sink finished",
                self.final_path.display()
            )));
        };
        f.write_text(&self.buf, &self.tmp_path)?;
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

fn remove_stale_parts(dir: &Path, parallelism: u32, format: Format) -> Result<(), ConnectorError> {
    let suffix = format!("-0.{}", format.extension());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(idx) = name
            .strip_prefix("part-")
            .and_then(|r| r.strip_suffix(suffix.as_str()))
        else {
            continue;
        };
        if idx.parse::<u32>().is_ok_and(|i| i >= parallelism) {
            let p = entry.path();
            std::fs::remove_file(&p).map_err(|e| io(&p, "remove the stale part file", e))?;
        }
    }
    Ok(())
}

impl SinkWriter for FileSinkWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        let Some(file) = self.file.as_mut() else {
            return Err(ConnectorError::Other(format!(
                "write to '{}' after the sink finished",
                self.final_path.display()
            )));
        };
        self.format
            .write(batch, file, &mut self.buf, &self.tmp_path)?;
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        if self.file.is_none() {
            return Ok(());
        }
        self.flush_buf()?;
        if let Some(f) = self.file.take() {
            self.bytes += f.parquet_bytes();
            f.close(&self.tmp_path)?;
        }
        std::fs::rename(&self.tmp_path, &self.final_path)
            .map_err(|e| io(&self.final_path, "rename into", e))?;
        Ok(())
    }

    fn counters(&self) -> ConnectorCounters {
        ConnectorCounters {
            bytes: self.bytes,
            skipped_rows: 0,
        }
    }
}
