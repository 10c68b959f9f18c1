//! A part file being written by either filesystem sink, in the table's format: CSV and JSON
//! lines are text the writer buffers and appends ([`batch_to_csv`], [`batch_to_json`]); Parquet goes through arrow's `ArrowWriter`
//! (row groups of up to 1 Mi rows, the table's column names and types, the codec of
//! `'parquet.compression'`, Flink's default SNAPPY), whose footer is written when the file
//! closes.

use super::{Format, FsOptions};
use crate::format::{column_texts, write_json_string, Style};
use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use strom_plan::TableSpec;
use strom_runtime::ConnectorError;

/// How a sink writes its table's rows.
#[derive(Debug, Clone)]
pub struct PartFormat {
    pub format: Format,
    delimiter: u8,
    names: Vec<String>,
    /// The table's columns, every one nullable (Parquet's schema).
    schema: SchemaRef,
    compression: Compression,
}

/// An open part file.
pub enum PartFile {
    Text(File),
    Parquet(Box<ArrowWriter<File>>),
}

fn io(path: &Path, what: &str, e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Io(format!("cannot {what} '{}': {e}", path.display()))
}

impl PartFormat {
    pub fn new(table: &TableSpec, opts: &FsOptions) -> Self {
        let schema = table.schema.to_arrow();
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        Self {
            format: opts.format,
            delimiter: opts.delimiter,
            names: table.schema.names(),
            schema: Arc::new(Schema::new(fields)),
            compression: opts.parquet_compression,
        }
    }

    pub fn extension(&self) -> &'static str {
        self.format.extension()
    }

    /// Starts writing `file` (at `path`, for messages).
    pub fn open(&self, file: File, path: &Path) -> Result<PartFile, ConnectorError> {
        Ok(match self.format {
            Format::Csv | Format::Json => PartFile::Text(file),
            Format::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(self.compression)
                    .set_max_row_group_row_count(Some(1 << 20))
                    .build();
                let writer = ArrowWriter::try_new(file, Arc::clone(&self.schema), Some(props))
                    .map_err(|e| io(path, "start the Parquet file", e))?;
                PartFile::Parquet(Box::new(writer))
            }
        })
    }

    /// Appends the text of `batch` to `buf` (text formats), or writes it to `file` (Parquet).
    pub fn write(
        &self,
        batch: &RecordBatch,
        file: &mut PartFile,
        buf: &mut Vec<u8>,
        path: &Path,
    ) -> Result<(), ConnectorError> {
        match (self.format, file) {
            (Format::Csv, _) => batch_to_csv(batch, self.delimiter, buf),
            (Format::Json, _) => batch_to_json(batch, &self.names, buf),
            (Format::Parquet, PartFile::Parquet(w)) => {
                let columns = batch
                    .columns()
                    .iter()
                    .zip(self.schema.fields())
                    .map(|(a, f)| {
                        if a.data_type() == f.data_type() {
                            Ok(Arc::clone(a))
                        } else {
                            cast(a, f.data_type())
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .and_then(|c| RecordBatch::try_new(Arc::clone(&self.schema), c))
                    .map_err(|e| io(path, "write rows to", e))?;
                w.write(&columns).map_err(|e| io(path, "write rows to", e))
            }
            (Format::Parquet, PartFile::Text(_)) => Err(ConnectorError::Other(format!(
                "'{}' was opened as text, not Parquet",
                path.display()
            ))),
        }
    }
}

impl PartFile {
    /// Appends text (nothing to do for Parquet, which writes batches).
    pub fn write_text(&mut self, bytes: &[u8], path: &Path) -> Result<(), ConnectorError> {
        match self {
            PartFile::Text(f) => f.write_all(bytes).map_err(|e| io(path, "write", e)),
            PartFile::Parquet(_) => Ok(()),
        }
    }

    /// Bytes written to the file so far (Parquet: encoded so far).
    pub fn parquet_bytes(&self) -> u64 {
        match self {
            PartFile::Text(_) => 0,
            PartFile::Parquet(w) => w.bytes_written() as u64,
        }
    }

    /// Ends the file (Parquet: flushes the last row group and writes the footer) and returns
    /// it, flushed.
    pub fn close(self, path: &Path) -> Result<File, ConnectorError> {
        let mut file = match self {
            PartFile::Text(f) => f,
            PartFile::Parquet(w) => w
                .into_inner()
                .map_err(|e| io(path, "finish the Parquet file", e))?,
        };
        file.flush().map_err(|e| io(path, "write", e))?;
        Ok(file)
    }
}

/// Appends the CSV text of `batch` (one line per row).
pub fn batch_to_csv(
    batch: &RecordBatch,
    delimiter: u8,
    out: &mut Vec<u8>,
) -> Result<(), ConnectorError> {
    let cols = column_texts(batch)?;
    let style = Style::Csv { delimiter };
    for row in 0..batch.num_rows() {
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                out.push(delimiter);
            }
            c.write(row, out, style);
        }
        out.push(b'\n');
    }
    Ok(())
}

/// Appends the JSON lines of `batch` with keys `names` (the batch's field names if the count
/// differs).
pub fn batch_to_json(
    batch: &RecordBatch,
    names: &[String],
    out: &mut Vec<u8>,
) -> Result<(), ConnectorError> {
    let cols = column_texts(batch)?;
    let schema = batch.schema();
    let keys: Vec<Vec<u8>> = (0..cols.len())
        .map(|i| {
            let name = if names.len() == cols.len() {
                names[i].as_str()
            } else {
                schema.field(i).name().as_str()
            };
            let mut k = Vec::new();
            write_json_string(&mut k, name.as_bytes());
            k.push(b':');
            k
        })
        .collect();
    for row in 0..batch.num_rows() {
        out.push(b'{');
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&keys[i]);
            c.write(row, out, Style::Json);
        }
        out.extend_from_slice(b"}\n");
    }
    Ok(())
}
