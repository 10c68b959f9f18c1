//! The `print` connector: a sink that prints each row to standard output in Flink's format,
//! `+I[1001, 2024-01-01 00:00:00.000, abc]` (values comma-space separated, NULL as `null`).
//!
//! Values use the same text as the CSV writer (timestamps `YYYY-MM-DD HH:MM:SS.mmm` rather than
//! Flink's ISO `2024-01-01T00:00`, decimals with their scale digits, strings unquoted). Rows of an
//! updating query carry their kind (`+I`, `-U`, `+U`, `-D`), others are inserts (`+I`). Prefixes as in Flink: with parallelism > 1 each line starts with
//! `<subtask+1>> `; with `'print-identifier' = 'x'` it starts with `x> ` (parallelism 1) or
//! `x:<subtask+1>> `. `'standard-error' = 'true'` prints to standard error instead. Each batch
//! is formatted into a buffer and written under one lock of the stream, so lines of parallel
//! subtasks never interleave; the stream is flushed at the end of input.
//!
//! With `'print.style' = 'tableau'` (what a bare SELECT in batch mode prints through, at
//! parallelism 1) the rows come at the end as Flink's SQL client shows a batch result: a table
//! with a header, then `N rows in set` (see [`tableau`]).

pub mod tableau;

use crate::bool_option;
use crate::format::{column_texts, Style};
use arrow::array::RecordBatch;
use std::io::Write;
use strom_plan::{RowKind, TableSpec};
use strom_runtime::connector::ConnectorCounters;
use strom_runtime::{ConnectorError, ConnectorFactory, SinkWriter, SourceReader, SubtaskInfo};

const KEYS: &[&str] = &[
    "connector",
    "print-identifier",
    "standard-error",
    "sink.parallelism",
    "print.style",
];

/// The `print` connector.
#[derive(Debug, Default)]
pub struct PrintConnector;

enum Target {
    Stdout,
    Stderr,
    #[cfg(test)]
    Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>),
}

impl Target {
    fn write_all(&self, bytes: &[u8]) -> Result<(), ConnectorError> {
        let r = match self {
            Target::Stdout => std::io::stdout().lock().write_all(bytes),
            Target::Stderr => std::io::stderr().lock().write_all(bytes),
            #[cfg(test)]
            Target::Buffer(b) => {
                b.lock().map(|mut g| g.extend_from_slice(bytes)).ok();
                Ok(())
            }
        };
        r.map_err(|e| ConnectorError::Io(format!("print sink cannot write: {e}")))
    }

    fn flush(&self) -> Result<(), ConnectorError> {
        let r = match self {
            Target::Stdout => std::io::stdout().lock().flush(),
            Target::Stderr => std::io::stderr().lock().flush(),
            #[cfg(test)]
            Target::Buffer(_) => Ok(()),
        };
        r.map_err(|e| ConnectorError::Io(format!("print sink cannot flush: {e}")))
    }
}

/// Prints rows of one subtask.
pub struct PrintWriter {
    prefix: Vec<u8>,
    target: Target,
    buf: Vec<u8>,
    bytes: u64,
}

/// The line prefix for a subtask: `''`, `'k> '`, `'x> '` or `'x:k> '`.
pub fn print_prefix(identifier: Option<&str>, subtask: SubtaskInfo) -> String {
    match (identifier, subtask.parallelism > 1) {
        (None, false) => String::new(),
        (None, true) => format!("{}> ", subtask.index + 1),
        (Some(id), false) => format!("{id}> "),
        (Some(id), true) => format!("{id}:{}> ", subtask.index + 1),
    }
}

impl PrintWriter {
    fn flush_buf(&mut self) -> Result<(), ConnectorError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.target.write_all(&self.buf)?;
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// Appends the print lines of `batch`.
pub fn format_rows(
    batch: &RecordBatch,
    prefix: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ConnectorError> {
    let (batch, kinds) = strom_runtime::connector::split_changelog(batch);
    let batch = &batch;
    let cols = column_texts(batch)?;
    for row in 0..batch.num_rows() {
        out.extend_from_slice(prefix);
        let kind = kinds
            .as_ref()
            .and_then(|k| RowKind::from_byte(k.value(row)))
            .unwrap_or(RowKind::Insert);
        out.extend_from_slice(kind.short_string().as_bytes());
        out.push(b'[');
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            c.write(row, out, Style::Print);
        }
        out.extend_from_slice(b"]\n");
    }
    Ok(())
}

impl SinkWriter for PrintWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        format_rows(batch, &self.prefix, &mut self.buf)?;
        self.flush_buf()
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        self.flush_buf()?;
        self.target.flush()
    }

    fn counters(&self) -> ConnectorCounters {
        ConnectorCounters {
            bytes: self.bytes,
            skipped_rows: 0,
        }
    }
}

impl ConnectorFactory for PrintConnector {
    fn name(&self) -> &'static str {
        "print"
    }

    fn validate(&self, table: &TableSpec, as_source: bool) -> Result<(), ConnectorError> {
        let bad = |message: String| ConnectorError::BadOption {
            table: table.name.clone(),
            message,
        };
        if as_source {
            return Err(bad(
                "the print connector is a sink only; read from 'filesystem' or 'datagen' instead"
                    .into(),
            ));
        }
        if let Some(k) = table.options.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(bad(format!(
                "unsupported print option '{k}'; supported: {}",
                KEYS.join(", ")
            )));
        }
        bool_option(table, "standard-error", false)?;
        tableau_style(table)?;
        Ok(())
    }

    fn create_reader(
        &self,
        table: &TableSpec,
        _projection: &[usize],
        _subtask: SubtaskInfo,
        _batch_rows: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        crate::unreadable(
            table,
            "the print connector is a sink only; it cannot be read",
        )
    }

    fn supports_changelog(&self, _table: &TableSpec) -> bool {
        true
    }

    fn create_writer(
        &self,
        table: &TableSpec,
        subtask: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        let target = if bool_option(table, "standard-error", false)? {
            Target::Stderr
        } else {
            Target::Stdout
        };
        if tableau_style(table)? {
            return Ok(Box::new(tableau::TableauWriter::new(table, target)));
        }
        Ok(Box::new(PrintWriter {
            prefix: print_prefix(table.option("print-identifier"), subtask).into_bytes(),
            target,
            buf: Vec::new(),
            bytes: 0,
        }))
    }
}

/// Whether `'print.style'` is `'tableau'` (else `'changelog'`, the default).
fn tableau_style(table: &TableSpec) -> Result<bool, ConnectorError> {
    match table
        .option("print.style")
        .map(|s| s.trim().to_ascii_lowercase())
    {
        None => Ok(false),
        Some(s) if s == "changelog" => Ok(false),
        Some(s) if s == "tableau" => Ok(true),
        Some(s) => Err(ConnectorError::BadOption {
            table: table.name.clone(),
            message: format!("'print.style' = '{s}' must be 'changelog' or 'tableau'"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        ArrayRef, Decimal128Array, Int64Array, StringArray, TimestampMillisecondArray,
    };
    use std::sync::{Arc, Mutex};

    #[test]
    fn prints_flink_rows() {
        let batch = RecordBatch::try_from_iter([
            (
                "a",
                Arc::new(Int64Array::from(vec![Some(1001), None])) as ArrayRef,
            ),
            (
                "t",
                Arc::new(TimestampMillisecondArray::from(vec![
                    1_704_067_200_000,
                    1_704_067_200_005,
                ])) as ArrayRef,
            ),
            (
                "s",
                Arc::new(StringArray::from(vec!["abc", "x, y"])) as ArrayRef,
            ),
            (
                "d",
                Arc::new(
                    Decimal128Array::from(vec![90_800, 1])
                        .with_precision_and_scale(23, 3)
                        .expect("ok"),
                ) as ArrayRef,
            ),
        ])
        .expect("batch");
        let sink = Arc::new(Mutex::new(Vec::new()));
        let mut w = PrintWriter {
            prefix: print_prefix(
                Some("x"),
                SubtaskInfo {
                    index: 1,
                    parallelism: 2,
                },
            )
            .into_bytes(),
            target: Target::Buffer(sink.clone()),
            buf: Vec::new(),
            bytes: 0,
        };
        w.write(&batch).expect("write");
        w.finish().expect("finish");
        let text = String::from_utf8(sink.lock().expect("lock").clone()).expect("utf8");
        assert_eq!(
            text,
            "x:2> +I[1001, 2024-01-01 00:00:00.000, abc, 90.800]\nx:2> +I[null, 2024-01-01 00:00:00.005, x, y, 0.001]\n"
        );
        assert_eq!(
            print_prefix(
                None,
                SubtaskInfo {
                    index: 0,
                    parallelism: 1
                }
            ),
            ""
        );
        assert_eq!(
            print_prefix(
                None,
                SubtaskInfo {
                    index: 2,
                    parallelism: 3
                }
            ),
            "3> "
        );
        assert_eq!(
            print_prefix(
                Some("out"),
                SubtaskInfo {
                    index: 0,
                    parallelism: 1
                }
            ),
            "out> "
        );
    }
}
