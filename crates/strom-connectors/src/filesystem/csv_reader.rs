//! The CSV source: a hand-written parser that finds lines and fields with SIMD compares and parses
//! only the projected columns straight into Arrow buffers.
//!
//! Lines without a double quote take the fast path: one pass of SIMD compares finds every
//! delimiter, line end and quote ([`super::structurals`]), and unprojected fields are skipped
//! without parsing. A line containing a quote is split by the RFC 4180 rules (quoted fields may contain the delimiter and doubled quotes `""`, but not
//! line breaks). Every row must have exactly as many fields as the table has columns.

use super::split::{next_line, SplitReader};
use super::structurals::Structurals;
use super::FsOptions;
use crate::columns::{push_csv_fields, ColumnBuilder, PushError};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use memchr::memchr;
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

/// A field no builder reads.
const NOT_READ: u32 = u32::MAX;

/// What became of one line.
enum Line {
    Row,
    /// An empty line: skipped.
    Empty,
    Bad(RowError),
}

/// The parsing state: everything but the input.
struct Parser {
    columns: Vec<Column>,
    /// `(field index, builder index)` of the projected fields, sorted by field index.
    plan: Vec<(usize, usize)>,
    /// The builder of each field ([`NOT_READ`]: not projected).
    targets: Vec<u32>,
    /// The builder of each projected column (a column may be projected twice).
    order: Vec<usize>,
    builders: Vec<ColumnBuilder>,
    ncols: usize,
    delim: u8,
    ignore_errors: bool,
    batch_rows: usize,
    rows: usize,
    skipped: u64,
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
        // each field is parsed once, however often it is projected
        let mut fields = projection.to_vec();
        fields.sort_unstable();
        fields.dedup();
        let builders = fields
            .iter()
            .map(|&i| ColumnBuilder::new(&table.schema.columns[i], batch_rows))
            .collect();
        let plan: Vec<(usize, usize)> = fields.iter().enumerate().map(|(b, &f)| (f, b)).collect();
        let mut targets = vec![NOT_READ; table.schema.columns.len()];
        for &(f, b) in &plan {
            targets[f] = b as u32;
        }
        let order = projection
            .iter()
            .map(|f| fields.binary_search(f).unwrap_or_default())
            .collect();
        Self {
            lines,
            parser: Parser {
                columns: table.schema.columns.clone(),
                plan,
                targets,
                order,
                builders,
                ncols: table.schema.columns.len(),
                delim: opts.delimiter,
                ignore_errors: opts.csv_ignore_parse_errors,
                batch_rows: batch_rows.max(1),
                rows: 0,
                skipped: 0,
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
        crate::columns::finish_batch_in(&self.schema, &mut p.builders, Some(&p.order), rows, "CSV")
            .map(Some)
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

/// Moves `ends` past the line whose field ends at `end`: returns where the next line starts and
/// how many more fields the line has.
#[inline]
fn skip_line(data: &[u8], mut end: usize, ends: &mut Structurals<'_>) -> (usize, usize) {
    let len = data.len();
    let mut more = 0;
    while end < len && data[end] != b'\n' {
        end = ends.next().unwrap_or(len);
        more += 1;
    }
    ((end + 1).min(len), more)
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
        // positioned at the start of the next line throughout
        let mut ends = Structurals::new(data, self.delim);
        let mut off = 0;
        let mut nlines = 0u64;
        while off < data.len() && self.rows < self.batch_rows {
            let line_off = off;
            nlines += 1;
            let (next, line) = self.parse_fields(data, line_off, &mut ends);
            off = next;
            match line {
                Line::Row => self.rows += 1,
                Line::Empty => {}
                Line::Bad(e) => {
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

    /// Parses the line starting at `line_off` (no quotes in it), `ends` positioned there: its
    /// projected fields go into the builders (a bad row leaves them for the caller to roll
    /// back). Returns where the next line starts, with `ends` moved there.
    #[inline]
    fn parse_fields(
        &mut self,
        data: &[u8],
        line_off: usize,
        ends: &mut Structurals<'_>,
    ) -> (usize, Line) {
        let len = data.len();
        let mut start = line_off;
        let mut field = 0usize;
        loop {
            let end = ends.next().unwrap_or(len);
            let last = match data.get(end) {
                None | Some(b'\n') => true,
                Some(b'"') => return self.quoted_line(data, line_off, ends),
                Some(_) => false,
            };
            let mut value_end = end;
            if last {
                if value_end > start && data[value_end - 1] == b'\r' {
                    value_end -= 1;
                }
                if field == 0 && value_end == start {
                    return ((end + 1).min(len), Line::Empty);
                }
            }
            let b = self.targets.get(field).copied().unwrap_or(NOT_READ);
            if b != NOT_READ {
                let text = &data[start..value_end];
                if let Err(err) = self.builders[b as usize].push_text(text) {
                    let e = RowError::Value {
                        field,
                        err,
                        text: text.to_vec(),
                    };
                    return (skip_line(data, end, ends).0, Line::Bad(e));
                }
            }
            field += 1;
            if last || field == self.ncols {
                let (next, more) = skip_line(data, end, ends);
                let line = if more == 0 && field == self.ncols {
                    Line::Row
                } else {
                    Line::Bad(RowError::FieldCount {
                        found: field + more,
                    })
                };
                return (next, line);
            }
            start = end + 1;
        }
    }

    /// A line with a quote in it, after [`parse_fields`](Self::parse_fields) met the quote:
    /// its fields pushed so far are taken back and the whole line is parsed by
    /// [`parse_quoted`](Self::parse_quoted).
    #[cold]
    #[inline(never)]
    fn quoted_line(
        &mut self,
        data: &[u8],
        line_off: usize,
        ends: &mut Structurals<'_>,
    ) -> (usize, Line) {
        for b in &mut self.builders {
            b.truncate(self.rows);
        }
        let (line, next) = next_line(data, line_off);
        ends.seek(next);
        let line = match self.parse_quoted(line) {
            Ok(()) => Line::Row,
            Err(e) => Line::Bad(e),
        };
        (next, line)
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
