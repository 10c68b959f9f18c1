//! Message values -> Arrow rows: JSON objects, CSV lines and raw strings, straight into the
//! column builders of `crate::columns`, only for the projected columns.
//!
//! The JSON rules are those of the filesystem JSON reader (field names are the column names,
//! case-sensitive; a missing field or `null` is NULL; unknown fields are ignored; numbers fill
//! numeric columns, strings are parsed like CSV text for other columns, nested values kept as
//! JSON text in STRING columns). A CSV message is one line (a trailing line break is ignored)
//! with exactly as many fields as the table has columns; an empty field is NULL and `""` the
//! empty string; RFC 4180 quoting. A raw message is the value of the single STRING column
//! (valid UTF-8).

use super::options::KafkaFormat;
use crate::columns::{
    json_object, push_csv_fields, push_json_value, ColumnBuilder, JsonRowError, PushError,
};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use memchr::memchr;
use strom_plan::{Column, TableSpec};
use strom_runtime::ConnectorError;

/// Decodes message values of one format into builders of the projected columns.
pub struct Decoder {
    format: KafkaFormat,
    /// The table's columns (all of them: CSV fields are counted against them).
    all: Vec<Column>,
    /// Table column index of each builder.
    projection: Vec<usize>,
    /// `(field index, builder index)` sorted by field index (CSV).
    plan: Vec<(usize, usize)>,
    builders: Vec<ColumnBuilder>,
    schema: SchemaRef,
    delimiter: u8,
    rows: usize,
    scratch: Vec<u8>,
    fields: Vec<(usize, usize, bool)>,
}

impl Decoder {
    pub fn new(
        table: &TableSpec,
        format: KafkaFormat,
        delimiter: u8,
        projection: &[usize],
        capacity: usize,
    ) -> Self {
        let mut plan: Vec<(usize, usize)> = projection
            .iter()
            .enumerate()
            .map(|(b, &f)| (f, b))
            .collect();
        plan.sort();
        Self {
            format,
            all: table.schema.columns.clone(),
            projection: projection.to_vec(),
            plan,
            builders: projection
                .iter()
                .map(|&i| ColumnBuilder::new(&table.schema.columns[i], capacity))
                .collect(),
            schema: table.schema.project(projection).to_arrow(),
            delimiter,
            rows: 0,
            scratch: Vec::new(),
            fields: Vec::new(),
        }
    }

    /// Rows decoded since the last [`Decoder::finish`].
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The schema of the batches (the projected columns).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Appends the row of one message value; on error nothing is appended and the error says
    /// what was wrong. A `None` value (a tombstone) is `Ok(false)` for JSON and CSV (no row) and
    /// a NULL value for raw.
    pub fn push(&mut self, value: Option<&[u8]>) -> Result<bool, DecodeError> {
        let r = match (self.format, value) {
            (KafkaFormat::Json | KafkaFormat::Csv, None) => return Ok(false),
            (KafkaFormat::Json, Some(v)) => self.push_json(v),
            (KafkaFormat::Csv, Some(v)) => self.push_csv(v),
            (KafkaFormat::Raw, v) => self.push_raw(v),
            (KafkaFormat::DebeziumJson, _) => return Err(DecodeError::DebeziumNotReadable),
        };
        match r {
            Ok(()) => {
                self.rows += 1;
                Ok(true)
            }
            Err(e) => {
                for b in &mut self.builders {
                    b.truncate(self.rows);
                }
                Err(e)
            }
        }
    }

    /// The batch of the rows decoded so far; the decoder is empty afterwards.
    pub fn finish(&mut self) -> Result<RecordBatch, ConnectorError> {
        let rows = std::mem::take(&mut self.rows);
        let what = match self.format {
            KafkaFormat::Json => "JSON",
            KafkaFormat::Csv => "CSV",
            KafkaFormat::Raw => "raw",
            KafkaFormat::DebeziumJson => "Debezium JSON",
        };
        crate::columns::finish_batch(&self.schema, &mut self.builders, rows, what)
    }

    fn push_raw(&mut self, value: Option<&[u8]>) -> Result<(), DecodeError> {
        let Some(b) = self.builders.first_mut() else {
            // nothing projected: the row only counts
            return match value {
                Some(v) if std::str::from_utf8(v).is_err() => Err(DecodeError::NotUtf8),
                _ => Ok(()),
            };
        };
        let c = &self.all[self.projection[0]];
        match value {
            None => b.push_null().map_err(|_| DecodeError::Tombstone {
                column: c.name.clone(),
                ty: c.ty.to_string(),
            }),
            Some(v) => b.push_string(v).map_err(|_| DecodeError::NotUtf8For {
                column: c.name.clone(),
                ty: c.ty.to_string(),
                value: crate::format::excerpt(v),
            }),
        }
    }

    fn push_json(&mut self, value: &[u8]) -> Result<(), DecodeError> {
        let obj = json_object(value)?;
        for (&ci, b) in self.projection.iter().zip(self.builders.iter_mut()) {
            let c = &self.all[ci];
            push_json_value(c, b, obj.get(&c.name)).map_err(JsonRowError::from)?;
        }
        Ok(())
    }

    fn push_csv(&mut self, value: &[u8]) -> Result<(), DecodeError> {
        let mut line = value;
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l;
        }
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        split_csv_line(line, self.delimiter, &mut self.scratch, &mut self.fields)?;
        if self.fields.len() != self.all.len() {
            return Err(DecodeError::FieldCount {
                expected: self.all.len(),
                delimiter: crate::format::printable_char(self.delimiter),
                found: self.fields.len(),
            });
        }
        push_csv_fields(&self.plan, &self.fields, &self.scratch, &mut self.builders).map_err(
            |(fi, err, field)| {
                let c = &self.all[fi];
                match err {
                    PushError::NullInNotNull => DecodeError::EmptyNotNull {
                        column: c.name.clone(),
                        ty: c.ty.to_string(),
                    },
                    _ => DecodeError::Unparsable {
                        column: c.name.clone(),
                        ty: c.ty.to_string(),
                        value: crate::format::excerpt(field),
                    },
                }
            },
        )?;
        Ok(())
    }
}

/// Why a message value cannot be decoded into a row: which column, what value.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("'format' = 'debezium-json' can only be written, not read")]
    DebeziumNotReadable,
    /// A raw message that is not UTF-8 (nothing projected).
    #[error("the value is not valid UTF-8")]
    NotUtf8,
    #[error("a message without a value (tombstone) for column '{column}' ({ty} NOT NULL)")]
    Tombstone { column: String, ty: String },
    #[error("the value is not valid UTF-8 for column '{column}' ({ty}): {value}")]
    NotUtf8For {
        column: String,
        ty: String,
        value: String,
    },
    #[error(transparent)]
    Json(#[from] JsonRowError),
    #[error(transparent)]
    Csv(#[from] CsvLineError),
    #[error("expected {expected} fields separated by '{delimiter}' but found {found}")]
    FieldCount {
        expected: usize,
        delimiter: String,
        found: usize,
    },
    #[error("column '{column}' ({ty} NOT NULL) is empty")]
    EmptyNotNull { column: String, ty: String },
    #[error("column '{column}' ({ty}) cannot parse '{value}'")]
    Unparsable {
        column: String,
        ty: String,
        value: String,
    },
}

/// Why a CSV line cannot be split into fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvLineError {
    #[error("unterminated quoted field")]
    UnterminatedQuote,
    #[error("unexpected character after a closing quote")]
    AfterClosingQuote,
}

/// Splits one CSV line into fields (RFC 4180 quoting, no line breaks): the unquoted field texts
/// go to `scratch`, `fields` gets `(start, end, quoted)` ranges of it.
pub fn split_csv_line(
    line: &[u8],
    d: u8,
    scratch: &mut Vec<u8>,
    fields: &mut Vec<(usize, usize, bool)>,
) -> Result<(), CsvLineError> {
    scratch.clear();
    fields.clear();
    let len = line.len();
    let mut i = 0;
    loop {
        if i < len && line[i] == b'"' {
            i += 1;
            let start = scratch.len();
            loop {
                match memchr(b'"', &line[i..]) {
                    None => return Err(CsvLineError::UnterminatedQuote),
                    Some(k) => {
                        scratch.extend_from_slice(&line[i..i + k]);
                        i += k + 1;
                        if i < len && line[i] == b'"' {
                            scratch.push(b'"');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            fields.push((start, scratch.len(), true));
            if i == len {
                break;
            }
            if line[i] != d {
                return Err(CsvLineError::AfterClosingQuote);
            }
            i += 1;
        } else {
            let e = memchr(d, &line[i..]).map_or(len, |k| i + k);
            let start = scratch.len();
            scratch.extend_from_slice(&line[i..e]);
            fields.push((start, scratch.len(), false));
            if e == len {
                break;
            }
            i = e + 1;
        }
        if i == len {
            // a trailing delimiter: one more, empty field
            fields.push((scratch.len(), scratch.len(), false));
            break;
        }
    }
    Ok(())
}
