//! The `filesystem` connector (Flink's option names).
//!
//! ```sql
//! CREATE TABLE bid (...) WITH (
//!   'connector' = 'filesystem',
//!   'path' = '/data/bids.csv',          -- a file, or a directory of files
//!   'format' = 'csv',                   -- 'csv' | 'json' (newline-delimited objects) | 'parquet'
//!   'csv.field-delimiter' = ',',        -- one ASCII character ('\t' for tab); default ','
//!   'csv.ignore-parse-errors' = 'false',
//!   'json.ignore-parse-errors' = 'false',
//!   'source.line.max-length' = '64mb',  -- a longer line fails the read (memory stays bounded)
//!   'parquet.compression' = 'SNAPPY'    -- the sink's codec: UNCOMPRESSED, SNAPPY, GZIP, LZ4, ZSTD
//! );
//! ```
//!
//! **Source.** A directory means every regular, non-hidden file in it (names starting with `.`
//! or `_` are hidden, as in Flink), in natural name order (`part-2` before `part-10`), not
//! recursive. The input is split by byte ranges across the source subtasks (see [`split`]).
//! CSV has no header; an empty field is NULL (a quoted empty field `""` is an empty string);
//! RFC 4180 double-quoted fields are supported, except line breaks inside quoted fields. Empty
//! lines are skipped. JSON lines are objects whose field names are the column names
//! (case-sensitive; missing or `null` = NULL; unknown fields are ignored). Parquet files are
//! split by row groups instead, read with projection and predicate pushdown (see
//! [`parquet_reader`]).
//!
//! With checkpoints, a reader's position is the offset of the next unread line of each of its
//! splits; a restored reader (at any parallelism) reads each split it owns from there, so every
//! row is read exactly once across the restart (see [`position`]). The input must not change
//! in between.
//!
//! **Sink.** Each sink subtask `k` writes the file `<path>/part-<k>-0.csv` (or `.json`,
//! `.parquet`, see [`part_file`]); the
//! directory is created if missing. The name is fixed so that re-running the same job overwrites
//! its previous output; the file is written as the hidden `.part-<k>-0.<ext>.inprogress` and
//! renamed at the end of input, and subtask 0 removes `part-<j>-0.<ext>` files of a previous run
//! with a higher parallelism (`j >= parallelism`).
//!
//! In a job with checkpoints the sink writes exactly once ([`committer`]): rows go to hidden
//! in-progress files that become `part-<k>-<checkpoint>-<random>-<n>.<ext>` when the checkpoint
//! that covers them completes (`end` instead of the checkpoint for the rows after the last
//! one, at the end of the job). Such output accumulates: nothing of earlier runs is removed.

pub mod committer;
pub mod csv_reader;
pub mod json_reader;
pub mod parquet_reader;
pub mod part_file;
pub mod partitioned;
pub mod position;
pub mod read_ahead;
pub mod split;
mod structurals;
pub mod writer;

use crate::bool_option;
use datafusion::physical_expr::PhysicalExpr;
use std::path::PathBuf;
use std::sync::Arc;
use strom_plan::TableSpec;
use strom_runtime::connector::DEFAULT_BATCH_ROWS;
use strom_runtime::{ConnectorError, ConnectorFactory, SinkWriter, SourceReader, SubtaskInfo};

/// Supported values of `'format'`.
pub const FORMATS: &str = "'csv', 'json', 'parquet'";

/// A file format of the filesystem connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Parquet,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Parquet => "parquet",
        }
    }
}

/// The parsed options of a filesystem table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsOptions {
    pub path: PathBuf,
    pub format: Format,
    pub delimiter: u8,
    pub csv_ignore_parse_errors: bool,
    pub json_ignore_parse_errors: bool,
    /// `'source.line.max-length'` (a memory size, default 64 mb): a longer line fails the read.
    pub max_line: usize,
    /// `'parquet.compression'`: the Parquet sink's codec.
    pub parquet_compression: parquet::basic::Compression,
}

/// Every option of the filesystem connector.
const KNOWN_OPTIONS: &[&str] = &[
    "connector",
    "path",
    "format",
    "csv.field-delimiter",
    "csv.ignore-parse-errors",
    "json.ignore-parse-errors",
    "source.line.max-length",
    "sink.parallelism",
    "parquet.compression",
    // PARTITIONED BY tables (see `partitioned`)
    "partition.default-name",
    "partition.time-extractor.timestamp-pattern",
    "sink.partition-commit.trigger",
    "sink.partition-commit.delay",
    "sink.partition-commit.policy.kind",
    "sink.partition-commit.success-file.name",
    "sink.rolling-policy.rollover-interval",
    "sink.rolling-policy.check-interval",
    "sink.rolling-policy.file-size",
];

impl FsOptions {
    /// Parses and checks the options of `table`.
    pub fn parse(table: &TableSpec) -> Result<Self, ConnectorError> {
        let bad = |message: String| ConnectorError::BadOption {
            table: table.name.clone(),
            message,
        };
        let path = match table.option("path") {
            Some(p) if p.starts_with("file://") => PathBuf::from(&p["file://".len()..]),
            Some(p) if p.contains("://") => {
                return Err(bad(format!(
                    "'path' = '{p}': only local paths are supported (a plain path or 'file:///...')"
                )))
            }
            Some(p) if !p.trim().is_empty() => PathBuf::from(p),
            _ => {
                return Err(bad(
                    "the filesystem connector needs 'path' = '<file or directory>'; add it to the WITH clause".into(),
                ))
            }
        };
        let format = match table.option("format").map(|f| f.trim().to_ascii_lowercase()) {
            Some(f) if f == "csv" => Format::Csv,
            Some(f) if f == "json" => Format::Json,
            Some(f) if f == "parquet" => Format::Parquet,
            Some(f) => {
                return Err(bad(format!(
                    "unsupported 'format' = '{f}' for the filesystem connector; supported formats: {FORMATS}"
                )))
            }
            None => {
                return Err(bad(format!(
                    "the filesystem connector needs a 'format'; supported formats: {FORMATS}"
                )))
            }
        };
        if let Some(k) = table
            .options
            .keys()
            .find(|k| !KNOWN_OPTIONS.contains(&k.as_str()))
        {
            return Err(bad(format!(
                "unsupported option '{k}' for the filesystem connector; supported options: {}",
                KNOWN_OPTIONS[1..]
                    .iter()
                    .map(|o| format!("'{o}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let max_line = match table.option("source.line.max-length") {
            None => split::DEFAULT_MAX_LINE,
            Some(v) => strom_common::config::parse_memory_size(v)
                .filter(|n| *n > 0)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    bad(format!(
                        "'source.line.max-length' = '{v}' must be a positive memory size such as '64mb'"
                    ))
                })?,
        };
        let delimiter = match table.option("csv.field-delimiter") {
            None => b',',
            Some(d) => {
                let d = if d == "\\t" { "\t" } else { d };
                match d.as_bytes() {
                    [c] if c.is_ascii() && !matches!(c, b'"' | b'\n' | b'\r') => *c,
                    _ => {
                        return Err(bad(format!(
                            "'csv.field-delimiter' = '{d}' must be a single ASCII character other than a quote or a line break (use '\\t' for tab)"
                        )))
                    }
                }
            }
        };
        let parquet_compression = match table.option("parquet.compression") {
            None => parquet::basic::Compression::SNAPPY,
            Some(c) => parse_compression(c).ok_or_else(|| {
                bad(format!(
                    "'parquet.compression' = '{c}' is not a codec; use UNCOMPRESSED, SNAPPY, GZIP, LZ4 or ZSTD (ZSTD(level) and GZIP(level) set a level)"
                ))
            })?,
        };
        Ok(Self {
            path,
            format,
            delimiter,
            parquet_compression,
            csv_ignore_parse_errors: bool_option(table, "csv.ignore-parse-errors", false)?,
            json_ignore_parse_errors: bool_option(table, "json.ignore-parse-errors", false)?,
            max_line,
        })
    }
}

/// A Parquet codec by name (any case): a bare name takes its default level.
fn parse_compression(name: &str) -> Option<parquet::basic::Compression> {
    use parquet::basic::{Compression, GzipLevel, ZstdLevel};
    let name = name.trim().to_ascii_uppercase();
    match name.as_str() {
        "UNCOMPRESSED" | "NONE" => Some(Compression::UNCOMPRESSED),
        "SNAPPY" => Some(Compression::SNAPPY),
        "GZIP" => Some(Compression::GZIP(GzipLevel::default())),
        "LZ4" | "LZ4_RAW" => Some(Compression::LZ4_RAW),
        "ZSTD" => Some(Compression::ZSTD(ZstdLevel::default())),
        _ if name.starts_with("ZSTD(") || name.starts_with("GZIP(") => name.parse().ok(),
        _ => None,
    }
}

/// The `filesystem` connector: CSV, JSON and Parquet files as bounded sources and as sinks.
#[derive(Debug, Default)]
pub struct FileSystemConnector;

impl ConnectorFactory for FileSystemConnector {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn validate(&self, table: &TableSpec, as_source: bool) -> Result<(), ConnectorError> {
        let opts = FsOptions::parse(table)?;
        if !table.partition_keys.is_empty() {
            if as_source {
                return Err(ConnectorError::BadOption {
                    table: table.name.clone(),
                    message: "reading a PARTITIONED BY table (partition values from directory names) is not supported yet; Strom writes such tables".into(),
                });
            }
            partitioned::success_file(table)?;
        }
        if as_source {
            let files = split::list_input(&opts.path).map_err(|e| ConnectorError::BadOption {
                table: table.name.clone(),
                message: e.to_string(),
            })?;
            if opts.format != Format::Parquet {
                crate::columns::check_flat(table, table.option("format").unwrap_or("csv"))?;
            }
            if opts.format == Format::Parquet {
                parquet_reader::validate(&files).map_err(|e| ConnectorError::BadOption {
                    table: table.name.clone(),
                    message: e.to_string(),
                })?;
            }
        } else if opts.path.is_file() {
            return Err(ConnectorError::BadOption {
                table: table.name.clone(),
                message: format!(
                    "sink 'path' = '{}' is a file, but the filesystem sink writes part files into a directory; use a directory path",
                    opts.path.display()
                ),
            });
        }
        Ok(())
    }

    /// A Parquet table's rows and column figures from its footers; nothing for CSV and JSON,
    /// which would have to be read whole.
    fn statistics(&self, table: &TableSpec) -> Option<datafusion::common::Statistics> {
        let opts = FsOptions::parse(table).ok()?;
        if opts.format != Format::Parquet {
            return None;
        }
        let files = split::list_input(&opts.path).ok()?;
        parquet_reader::statistics::table_statistics(table, &files)
    }

    fn create_reader(
        &self,
        table: &TableSpec,
        projection: &[usize],
        subtask: SubtaskInfo,
        batch_rows: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        self.create_filtered_reader(table, projection, &[], subtask, batch_rows)
    }

    fn create_filtered_reader(
        &self,
        table: &TableSpec,
        projection: &[usize],
        filters: &[Arc<dyn PhysicalExpr>],
        subtask: SubtaskInfo,
        batch_rows: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        let opts = FsOptions::parse(table)?;
        crate::check_projection(table, projection)?;
        let files = split::list_input(&opts.path)?;
        if opts.format == Format::Parquet {
            let r = parquet_reader::ParquetReader::new(
                table,
                projection,
                filters,
                &files,
                subtask,
                &[],
                batch_rows_or_default(batch_rows),
            )?;
            return ahead(table, Box::new(r));
        }
        let slices = split::plan_split(&files, subtask.index, subtask.parallelism);
        reader(
            table,
            &opts,
            projection,
            files,
            slices,
            batch_rows,
            split::DEFAULT_CHUNK,
        )
    }

    fn restore_reader(
        &self,
        table: &TableSpec,
        projection: &[usize],
        subtask: SubtaskInfo,
        batch_rows: usize,
        positions: &[Vec<u8>],
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        let opts = FsOptions::parse(table)?;
        crate::check_projection(table, projection)?;
        let files = split::list_input(&opts.path)?;
        if opts.format == Format::Parquet {
            let r = parquet_reader::ParquetReader::new(
                table,
                projection,
                &[],
                &files,
                subtask,
                positions,
                batch_rows_or_default(batch_rows),
            )?;
            return ahead(table, Box::new(r));
        }
        let slices = position::restore_slices(&table.name, &opts.path, &files, positions, subtask)?;
        reader(
            table,
            &opts,
            projection,
            files,
            slices,
            batch_rows,
            split::DEFAULT_CHUNK,
        )
    }

    fn create_writer(
        &self,
        table: &TableSpec,
        subtask: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        let opts = FsOptions::parse(table)?;
        if !table.partition_keys.is_empty() {
            return Ok(Box::new(partitioned::PartitionedWriter::create(
                table, &opts, subtask, false,
            )?));
        }
        Ok(Box::new(writer::FileSinkWriter::create(
            table, &opts, subtask,
        )?))
    }

    fn create_exactly_once_writer(
        &self,
        table: &TableSpec,
        subtask: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        let opts = FsOptions::parse(table)?;
        if !table.partition_keys.is_empty() {
            return Ok(Box::new(partitioned::PartitionedWriter::create(
                table, &opts, subtask, true,
            )?));
        }
        Ok(Box::new(committer::TwoPhaseFileWriter::create(
            table, &opts, subtask,
        )?))
    }
}

/// The reader of `slices` of `files` in the table's format, reading `chunk` bytes at a time.
fn reader(
    table: &TableSpec,
    opts: &FsOptions,
    projection: &[usize],
    files: Vec<split::InputFile>,
    slices: Vec<split::FileSlice>,
    batch_rows: usize,
    chunk: usize,
) -> Result<Box<dyn SourceReader>, ConnectorError> {
    let batch_rows = batch_rows_or_default(batch_rows);
    let lines = split::SplitReader::new(files, slices, chunk).with_max_line(opts.max_line);
    let reader: Box<dyn SourceReader> = match opts.format {
        Format::Csv => Box::new(csv_reader::CsvReader::new(
            table, opts, projection, lines, batch_rows,
        )),
        Format::Json => Box::new(json_reader::JsonReader::new(
            table, opts, projection, lines, batch_rows,
        )),
        Format::Parquet => {
            return Err(ConnectorError::Other(
                "Parquet files are read by row groups, not by lines".into(),
            ))
        }
    };
    ahead(table, reader)
}

/// `reader` reading ahead on a fetcher thread of its own ([`read_ahead`]).
fn ahead(
    table: &TableSpec,
    reader: Box<dyn SourceReader>,
) -> Result<Box<dyn SourceReader>, ConnectorError> {
    Ok(Box::new(read_ahead::ReadAhead::start(
        reader,
        format!("fetch-{}", table.name),
    )?))
}

fn batch_rows_or_default(batch_rows: usize) -> usize {
    if batch_rows == 0 {
        DEFAULT_BATCH_ROWS
    } else {
        batch_rows
    }
}

#[cfg(test)]
mod tests;
