//! The JSON source: newline-delimited JSON objects, one row per line, parsed with serde_json.
//!
//! Field names are the column names (case-sensitive); a missing field or `null` is NULL;
//! unknown fields are ignored. Numbers fill numeric columns (decimals from their shortest
//! text, so exact up to ~15 significant digits; write longer decimals as JSON strings), strings
//! are parsed like CSV text for non-string columns (timestamps as `YYYY-MM-DD HH:MM:SS[.fff]`),
//! and nested values stored in a STRING column keep their JSON text.

use super::split::{next_line, SplitReader};
use super::FsOptions;
use crate::columns::{json_object, push_json_value, ColumnBuilder, JsonRowError};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use strom_plan::{Column, TableSpec};
use strom_runtime::connector::ConnectorCounters;
use strom_runtime::{ConnectorError, SourceReader};

/// Reads one subtask's share of newline-delimited JSON input.
pub struct JsonReader {
    lines: SplitReader,
    /// Projected columns, in output order.
    columns: Vec<Column>,
    builders: Vec<ColumnBuilder>,
    schema: SchemaRef,
    ignore_errors: bool,
    batch_rows: usize,
    rows: usize,
    skipped: u64,
    failed: Option<String>,
    done: bool,
}

impl JsonReader {
    pub fn new(
        table: &TableSpec,
        opts: &FsOptions,
        projection: &[usize],
        lines: SplitReader,
        batch_rows: usize,
    ) -> Self {
        let columns: Vec<Column> = projection
            .iter()
            .map(|&i| table.schema.columns[i].clone())
            .collect();
        Self {
            lines,
            builders: columns
                .iter()
                .map(|c| ColumnBuilder::new(c, batch_rows))
                .collect(),
            columns,
            schema: table.schema.project(projection).to_arrow(),
            ignore_errors: opts.json_ignore_parse_errors,
            batch_rows: batch_rows.max(1),
            rows: 0,
            skipped: 0,
            failed: None,
            done: false,
        }
    }

    fn emit(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        let rows = std::mem::take(&mut self.rows);
        crate::columns::finish_batch(&self.schema, &mut self.builders, rows, "JSON").map(Some)
    }

    /// Appends one row; on error returns what was wrong.
    fn parse_row(&mut self, line: &[u8]) -> Result<(), JsonRowError> {
        let obj = json_object(line)?;
        for (c, b) in self.columns.iter().zip(self.builders.iter_mut()) {
            push_json_value(c, b, obj.get(&c.name))?;
        }
        Ok(())
    }
}

impl SourceReader for JsonReader {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        if let Some(m) = &self.failed {
            return Err(ConnectorError::Parse(m.clone()));
        }
        if self.done {
            return Ok(None);
        }
        loop {
            if self.rows >= self.batch_rows {
                return self.emit();
            }
            if !self.lines.fill()? {
                self.done = true;
                return if self.rows > 0 { self.emit() } else { Ok(None) };
            }
            // copy the lines out of the reader's buffer in bounded pieces to keep borrows simple
            let chunk = self.lines.lines();
            let lines_before = chunk.lines_before;
            let mut off = 0;
            let mut nlines = 0u64;
            let mut pending: Vec<(u64, Vec<u8>)> = Vec::new();
            let want = self.batch_rows - self.rows;
            while off < chunk.data.len() && pending.len() < want {
                let (line, next) = next_line(chunk.data, off);
                off = next;
                nlines += 1;
                if !line.trim_ascii().is_empty() {
                    pending.push((nlines, line.to_vec()));
                }
            }
            self.lines.consume(off, nlines);
            for (idx, line) in pending {
                match self.parse_row(&line) {
                    Ok(()) => self.rows += 1,
                    Err(what) => {
                        for b in &mut self.builders {
                            b.truncate(self.rows);
                        }
                        if self.ignore_errors {
                            self.skipped += 1;
                        } else {
                            let line_no = self.lines.file_line_number(lines_before + idx);
                            let msg = format!(
                                "malformed JSON row in {} line {line_no}: {what}; fix the row or set 'json.ignore-parse-errors' = 'true' to skip such rows",
                                self.lines.current_path().display()
                            );
                            self.failed = Some(msg.clone());
                            return Err(ConnectorError::Parse(msg));
                        }
                    }
                }
            }
        }
    }

    fn counters(&self) -> ConnectorCounters {
        ConnectorCounters {
            bytes: self.lines.bytes_read(),
            skipped_rows: self.skipped,
        }
    }

    /// The next unread line of each slice (the batches returned so far hold exactly the lines
    /// before it): see [`super::position`].
    fn snapshot_position(&mut self) -> Result<Option<Vec<u8>>, ConnectorError> {
        Ok(Some(super::position::encode(&self.lines)))
    }
}
