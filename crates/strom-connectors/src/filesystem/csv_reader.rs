//! The CSV source: a hand-written parser that finds lines and fields with `memchr` and parses
//! only the projected columns straight into Arrow buffers.
//!
//! Lines without a double quote take the fast path (fields are split at the delimiter and
//! unprojected fields are skipped without parsing); a line containing a quote is split by the
//! RFC 4180 rules (quoted fields may contain the delimiter and doubled quotes `""`, but not
//! line breaks). Every row must have exactly as many fields as the table has columns.

use super::split::{next_line, SplitReader};
use super::FsOptions;
use crate::columns::{push_csv_fields, ColumnBuilder, PushError};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use memchr::{memchr, memchr_iter};
use strom_plan::{Column, TableSpec};
use strom_runtime::connector::ConnectorCounters;
use strom_runtime::{ConnectorError, SourceReader};

/// Why a row was rejected.
#[derive(Debug)]
enum RowError {
    FieldCount {
        found: usize,
    },
    Value {
        field: usize,
        err: PushError,
        text: Vec<u8>,
    },
    Quote(&'static str),
}

/// The parsing state: everything but the input.
struct Parser {
    columns: Vec<Column>,
    /// `(field index, builder index)` sorted by field index.
    plan: Vec<(usize, usize)>,
    builders: Vec<ColumnBuilder>,
    ncols: usize,
    delim: u8,
    ignore_errors: bool,
    batch_rows: usize,
    rows: usize,
    skipped: u64,
    /// Buffer position of the next `"` at or after the current line, for `quote_gen`.
    next_quote: usize,
    quote_gen: u64,
    scratch: Vec<u8>,
    fields: Vec<(usize, usize, bool)>,
}

/// Reads one subtask's share of CSV input.
pub struct CsvReader {
    lines: SplitReader,
    parser: Parser,
    schema: SchemaRef,
    failed: Option<String>,
    done: bool,
}

impl CsvReader {
    pub fn new(
        table: &TableSpec,
        opts: &FsOptions,
        projection: &[usize],
        lines: SplitReader,
        batch_rows: usize,
    ) -> Self {
        let schema = table.schema.project(projection).to_arrow();
        let builders = projection
            .iter()
            .map(|&i| ColumnBuilder::new(&table.schema.columns[i], batch_rows))
            .collect();
        let mut plan: Vec<(usize, usize)> = projection
            .iter()
            .enumerate()
            .map(|(b, &f)| (f, b))
            .collect();
        plan.sort();
        Self {
            lines,
            parser: Parser {
                columns: table.schema.columns.clone(),
                plan,
                builders,
                ncols: table.schema.columns.len(),
                delim: opts.delimiter,
                ignore_errors: opts.csv_ignore_parse_errors,
                batch_rows: batch_rows.max(1),
                rows: 0,
                skipped: 0,
                next_quote: 0,
                quote_gen: u64::MAX,
                scratch: Vec::new(),
                fields: Vec::new(),
            },
            schema,
            failed: None,
            done: false,
        }
    }

    fn emit(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        let p = &mut self.parser;
        let rows = std::mem::take(&mut p.rows);
        crate::columns::finish_batch(&self.schema, &mut p.builders, rows, "CSV").map(Some)
    }

    fn error_message(&self, line_in_slice: u64, e: RowError) -> String {
        let path = self.lines.current_path().display();
        let line = self.lines.file_line_number(line_in_slice);
        let p = &self.parser;
        let what = match e {
            RowError::FieldCount { found } => format!(
                "expected {} fields separated by '{}' but found {found}",
                p.ncols,
                crate::format::printable_char(p.delim)
            ),
            RowError::Quote(m) => m.to_string(),
            RowError::Value { field, err, text } => {
                let c = &p.columns[field];
                match err {
                    PushError::NullInNotNull => {
                        format!("column '{}' ({} NOT NULL) is empty", c.name, c.ty)
                    }
                    _ => format!(
                        "column '{}' ({}) cannot parse '{}'",
                        c.name,
                        c.ty,
                        crate::format::excerpt(&text)
                    ),
                }
            }
        };
        format!(
            "malformed CSV row in {path} line {line}: {what}; fix the row or set 'csv.ignore-parse-errors' = 'true' to skip such rows"
        )
    }
}

impl SourceReader for CsvReader {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        if let Some(m) = &self.failed {
            return Err(ConnectorError::Parse(m.clone()));
        }
        if self.done {
            return Ok(None);
        }
        loop {
            if self.parser.rows >= self.parser.batch_rows {
                return self.emit();
            }
            if !self.lines.fill()? {
                self.done = true;
                return if self.parser.rows > 0 {
                    self.emit()
                } else {
                    Ok(None)
                };
            }
            let chunk = self.lines.lines();
            let lines_before = chunk.lines_before;
            let (bytes, nlines, res) = self.parser.parse_lines(&chunk);
            if let Err((line_idx, e)) = res {
                // line_idx: 1-based index of the bad line within the chunk
                let msg = self.error_message(lines_before + line_idx, e);
                self.failed = Some(msg.clone());
                return Err(ConnectorError::Parse(msg));
            }
            self.lines.consume(bytes, nlines);
        }
    }

    fn counters(&self) -> ConnectorCounters {
        ConnectorCounters {
            bytes: self.lines.bytes_read(),
            skipped_rows: self.parser.skipped,
        }
    }

    /// The next unread line of each slice (the batches returned so far hold exactly the lines
    /// before it): see [`super::position`].
    fn snapshot_position(&mut self) -> Result<Option<Vec<u8>>, ConnectorError> {
        Ok(Some(super::position::encode(&self.lines)))
    }
}

impl Parser {
    /// Parses lines of `chunk` until the batch is full or the chunk is used up. Returns the
    /// bytes and lines consumed and, on a row error (when errors are not ignored), the 1-based
    /// index of the bad line in the chunk.
    fn parse_lines(
        &mut self,
        chunk: &super::split::Lines<'_>,
    ) -> (usize, u64, Result<(), (u64, RowError)>) {
        let data = chunk.data;
        if chunk.generation != self.quote_gen {
            self.quote_gen = chunk.generation;
            self.next_quote = memchr(b'"', data).map_or(usize::MAX, |k| chunk.buf_pos + k);
        }
        let mut off = 0;
        let mut nlines = 0u64;
        while off < data.len() && self.rows < self.batch_rows {
            let line_off = off;
            let (line, next) = next_line(data, off);
            off = next;
            nlines += 1;
            if line.is_empty() {
                continue;
            }
            let abs_start = chunk.buf_pos + line_off;
            if self.next_quote < abs_start {
                self.next_quote =
                    memchr(b'"', &data[line_off..]).map_or(usize::MAX, |k| abs_start + k);
            }
            let res = if self.next_quote < chunk.buf_pos + off {
                self.parse_quoted(line)
            } else {
                self.parse_fast(line)
            };
            match res {
                Ok(()) => self.rows += 1,
                Err(e) => {
                    for b in &mut self.builders {
                        b.truncate(self.rows);
                    }
                    if self.ignore_errors {
                        self.skipped += 1;
                    } else {
                        return (line_off, nlines - 1, Err((nlines, e)));
                    }
                }
            }
        }
        (off, nlines, Ok(()))
    }

    #[inline]
    fn parse_fast(&mut self, line: &[u8]) -> Result<(), RowError> {
        let d = self.delim;
        let len = line.len();
        let mut f = 0usize;
        let mut s = 0usize;
        let mut e = memchr(d, line).unwrap_or(len);
        for &(fi, bi) in &self.plan {
            while f < fi {
                if e >= len {
                    return Err(RowError::FieldCount {
                        found: 1 + memchr_iter(d, line).count(),
                    });
                }
                s = e + 1;
                f += 1;
                e = memchr(d, &line[s..]).map_or(len, |k| s + k);
            }
            let field = &line[s..e];
            if let Err(err) = self.builders[bi].push_text(field) {
                return Err(RowError::Value {
                    field: fi,
                    err,
                    text: field.to_vec(),
                });
            }
        }
        let rest = if e >= len {
            0
        } else {
            1 + memchr_iter(d, &line[e + 1..]).count()
        };
        if f + 1 + rest != self.ncols {
            return Err(RowError::FieldCount {
                found: f + 1 + rest,
            });
        }
        Ok(())
    }

    /// The RFC 4180 path for lines containing a quote.
    fn parse_quoted(&mut self, line: &[u8]) -> Result<(), RowError> {
        let d = self.delim;
        let len = line.len();
        self.scratch.clear();
        self.fields.clear();
        let mut i = 0;
        loop {
            if i < len && line[i] == b'"' {
                i += 1;
                let start = self.scratch.len();
                loop {
                    match memchr(b'"', &line[i..]) {
                        None => {
                            return Err(RowError::Quote(
                                "unterminated quoted field (line breaks inside quoted fields are not supported)",
                            ))
                        }
                        Some(k) => {
                            self.scratch.extend_from_slice(&line[i..i + k]);
                            i += k + 1;
                            if i < len && line[i] == b'"' {
                                self.scratch.push(b'"');
                                i += 1;
                            } else {
                                break;
                            }
                        }
                    }
                }
                self.fields.push((start, self.scratch.len(), true));
                if i == len {
                    break;
                }
                if line[i] != d {
                    return Err(RowError::Quote(
                        "unexpected character after a closing quote",
                    ));
                }
                i += 1;
            } else {
                let e = memchr(d, &line[i..]).map_or(len, |k| i + k);
                let start = self.scratch.len();
                self.scratch.extend_from_slice(&line[i..e]);
                self.fields.push((start, self.scratch.len(), false));
                if e == len {
                    break;
                }
                i = e + 1;
            }
            if i == len {
                // trailing delimiter: one more, empty field
                self.fields
                    .push((self.scratch.len(), self.scratch.len(), false));
                break;
            }
        }
        if self.fields.len() != self.ncols {
            return Err(RowError::FieldCount {
                found: self.fields.len(),
            });
        }
        push_csv_fields(&self.plan, &self.fields, &self.scratch, &mut self.builders).map_err(
            |(field, err, text)| RowError::Value {
                field,
                err,
                text: text.to_vec(),
            },
        )
    }
}
