//! The Parquet source (arrow's `parquet` crate): splits of whole row groups, projection and
//! predicate pushdown.
//!
//! **Splits.** The input's row groups, numbered in file order (files in natural name order), are
//! the splits: subtask `k` of `p` reads the contiguous run of row groups `j` with
//! `j * p / n == k` (`n` row groups in all), so every row group is read exactly once at any
//! parallelism.
//!
//! **Columns** are matched by name (exactly, else ignoring ASCII case, as Flink's Parquet
//! format), only the projected ones are decoded, and each is cast to the declared type (a
//! Parquet `INT32` into a `BIGINT` column, strings of any Arrow string type into `STRING`); a
//! column the file lacks reads as NULL. A value that cannot take the declared type fails the read
//! naming the column.
//!
//! **Predicates** (batch stages hand the plan's filters over, see
//! [`strom_runtime::ConnectorFactory::create_filtered_reader`]): row groups whose statistics show
//! that no row can pass are skipped (DataFusion's `PruningPredicate` over the row groups'
//! min/max/null counts). The plan applies the filters to the rows read. The rows are not
//! filtered inside the Parquet reader (a `RowFilter`, decoding the filters' columns first):
//! measured on TPC-H SF 1 that made scans slower, not faster (q6 165 ms against 108 ms, q19
//! 370 against 255), as DataFusion keeps `parquet.pushdown_filters` off by default.
//!
//! **Positions** (jobs with checkpoints): the number of rows read of each owned row group, as
//! JSON `{"version": 1, "row_groups": 6, "read": [[0, 100386], [1, 512]]}`. A restored reader
//! takes the union of every old subtask's position and resumes each row group it owns now at
//! its recorded row (skipping the rows before it unread).

use super::split::InputFile;
use arrow::array::{new_null_array, Array, ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::ScalarValue;
use datafusion::physical_expr::{conjunction, PhysicalExpr};
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::RowGroupMetaData;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use strom_plan::TableSpec;
use strom_runtime::connector::ConnectorCounters;
use strom_runtime::{ConnectorError, SourceReader, SubtaskInfo};

const VERSION: u64 = 1;

/// One input file and its footer.
struct ParquetFile {
    path: PathBuf,
    meta: ArrowReaderMetadata,
    /// Per row group: whether the pushed predicates may let a row of it through (computed when
    /// the reader first reaches the file).
    keep: Option<Vec<bool>>,
}

/// A row group of the input (a split).
#[derive(Debug, Clone, Copy)]
struct RowGroup {
    file: usize,
    index: usize,
    rows: u64,
}

fn io_err(path: &std::path::Path, e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Io(format!(
        "cannot read the Parquet file '{}': {e}",
        path.display()
    ))
}

/// Reads the footers of `files`.
fn open_files(files: &[InputFile]) -> Result<Vec<ParquetFile>, ConnectorError> {
    files
        .iter()
        .map(|f| {
            let file = File::open(&f.path).map_err(|e| io_err(&f.path, e))?;
            let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
                .map_err(|e| io_err(&f.path, e))?;
            let meta = without_views(meta).map_err(|e| io_err(&f.path, e))?;
            Ok(ParquetFile {
                path: f.path.clone(),
                meta,
                keep: None,
            })
        })
        .collect()
}

/// The footer read back with view types (`Utf8View`, `BinaryView`, which writers such as
/// tpchgen-cli record in the file's Arrow schema) as plain `Utf8` / `Binary`: the reader then
/// decodes strings straight into the type Strom's `STRING` columns have, instead of a cast that
/// copies every string of every batch.
fn without_views(meta: ArrowReaderMetadata) -> Result<ArrowReaderMetadata, ArrowError> {
    let plain = |t: &DataType| match t {
        DataType::Utf8View => Some(DataType::Utf8),
        DataType::BinaryView => Some(DataType::Binary),
        _ => None,
    };
    let schema = meta.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| plain(f.data_type()).is_some())
    {
        return Ok(meta);
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match plain(f.data_type()) {
            Some(t) => f.as_ref().clone().with_data_type(t),
            None => f.as_ref().clone(),
        })
        .collect();
    let hint = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    ArrowReaderMetadata::try_new(
        meta.metadata().clone(),
        ArrowReaderOptions::new().with_schema(hint),
    )
    .map_err(|e| ArrowError::ParquetError(e.to_string()))
}

/// Every row group of the input, in file order.
fn row_groups(files: &[ParquetFile]) -> Vec<RowGroup> {
    files
        .iter()
        .enumerate()
        .flat_map(|(file, f)| {
            f.meta
                .metadata()
                .row_groups()
                .iter()
                .enumerate()
                .map(move |(index, rg)| RowGroup {
                    file,
                    index,
                    rows: rg.num_rows().max(0) as u64,
                })
        })
        .collect()
}

/// The subtask of `parallelism` that reads row group `j` of `n`.
fn owner(j: usize, n: usize, parallelism: u32) -> u32 {
    (j as u64 * u64::from(parallelism) / n.max(1) as u64) as u32
}

/// Checks that every file of the input is a Parquet file (reads the footers).
pub fn validate(files: &[InputFile]) -> Result<(), ConnectorError> {
    open_files(files).map(|_| ())
}

/// The index of the file's top-level field named `name` (exactly, else ignoring ASCII case).
fn field_index(schema: &Schema, name: &str) -> Option<usize> {
    let fields = schema.fields();
    fields.iter().position(|f| f.name() == name).or_else(|| {
        fields
            .iter()
            .position(|f| f.name().eq_ignore_ascii_case(name))
    })
}

fn cast_column(array: &ArrayRef, to: &DataType, column: &str) -> Result<ArrayRef, ArrowError> {
    if array.data_type() == to {
        return Ok(Arc::clone(array));
    }
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_with_options(array, to, &options).map_err(|e| {
        ArrowError::CastError(format!(
            "column '{column}' holds {} values that do not fit its declared type {to}: {e}",
            array.data_type()
        ))
    })
}

/// Reads one subtask's row groups.
pub struct ParquetReader {
    table: String,
    files: Vec<ParquetFile>,
    groups: Vec<RowGroup>,
    /// Owned row groups not finished, in order, each with the rows already read.
    todo: VecDeque<(usize, u64)>,
    /// The row group being read, the rows of it read so far, and its reader.
    current: Option<(usize, u64, ParquetRecordBatchReader)>,
    /// Rows read of every owned row group (for positions).
    read: BTreeMap<usize, u64>,
    /// The projected table columns (name, type), in output order.
    columns: Vec<Field>,
    schema: SchemaRef,
    /// The whole table's schema, which the filters are written against.
    table_schema: SchemaRef,
    filters: Vec<Arc<dyn PhysicalExpr>>,
    batch_rows: usize,
    bytes: u64,
}

impl ParquetReader {
    /// The reader of subtask `subtask`, resuming from `positions` (the union of every old
    /// subtask's position; empty for a fresh start).
    pub fn new(
        table: &TableSpec,
        projection: &[usize],
        filters: &[Arc<dyn PhysicalExpr>],
        files: &[InputFile],
        subtask: SubtaskInfo,
        positions: &[Vec<u8>],
        batch_rows: usize,
    ) -> Result<Self, ConnectorError> {
        let files = open_files(files)?;
        let groups = row_groups(&files);
        let read_before = restore(&table.name, positions, groups.len())?;
        let mut todo = VecDeque::new();
        let mut read = BTreeMap::new();
        for (j, g) in groups.iter().enumerate() {
            if owner(j, groups.len(), subtask.parallelism) != subtask.index {
                continue;
            }
            let done = read_before.get(&j).copied().unwrap_or(0).min(g.rows);
            read.insert(j, done);
            if done < g.rows {
                todo.push_back((j, done));
            }
        }
        let table_schema = table.schema.to_arrow();
        let schema = table.schema.project(projection).to_arrow();
        Ok(Self {
            table: table.name.clone(),
            files,
            groups,
            todo,
            current: None,
            read,
            columns: schema.fields().iter().map(|f| f.as_ref().clone()).collect(),
            schema,
            table_schema,
            filters: filters.to_vec(),
            batch_rows: batch_rows.max(1),
            bytes: 0,
        })
    }

    fn fail(&self, file: usize, e: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::Io(format!(
            "table '{}': cannot read the Parquet file '{}': {e}",
            self.table,
            self.files[file].path.display()
        ))
    }

    /// Whether row group `j` may hold rows passing the filters.
    fn may_match(&mut self, j: usize) -> bool {
        let RowGroup { file, index, .. } = self.groups[j];
        if self.filters.is_empty() {
            return true;
        }
        if self.files[file].keep.is_none() {
            let keep = prune(&self.files[file].meta, &self.filters, &self.table_schema);
            self.files[file].keep = Some(keep);
        }
        self.files[file]
            .keep
            .as_ref()
            .and_then(|k| k.get(index).copied())
            .unwrap_or(true)
    }

    /// Opens row group `j` at row `skip`.
    fn open(&self, j: usize, skip: u64) -> Result<ParquetRecordBatchReader, ConnectorError> {
        let RowGroup { file, index, rows } = self.groups[j];
        let f = &self.files[file];
        let handle = File::open(&f.path).map_err(|e| self.fail(file, e))?;
        let file_schema = f.meta.schema();
        let roots: Vec<usize> = self
            .columns
            .iter()
            .filter_map(|c| field_index(file_schema, c.name()))
            .collect();
        let parquet_schema = f.meta.metadata().file_metadata().schema_descr();
        let mut builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(handle, f.meta.clone())
                .with_row_groups(vec![index])
                .with_projection(ProjectionMask::roots(parquet_schema, roots))
                .with_batch_size(self.batch_rows);
        if skip > 0 {
            builder = builder.with_row_selection(RowSelection::from(vec![
                RowSelector::skip(skip as usize),
                RowSelector::select((rows - skip) as usize),
            ]));
        }
        builder.build().map_err(|e| self.fail(file, e))
    }

    /// `batch` (the file's projected columns, in file order) as the output schema.
    fn conform(&self, file: usize, batch: &RecordBatch) -> Result<RecordBatch, ConnectorError> {
        let got = batch.schema();
        let columns = self
            .columns
            .iter()
            .map(|c| match field_index(&got, c.name()) {
                Some(i) => cast_column(batch.column(i), c.data_type(), c.name()),
                None => Ok(new_null_array(c.data_type(), batch.num_rows())),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.fail(file, e))?;
        let options =
            arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        RecordBatch::try_new_with_options(Arc::clone(&self.schema), columns, &options)
            .map_err(|e| self.fail(file, e))
    }
}

impl SourceReader for ParquetReader {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        loop {
            if let Some((j, read, reader)) = self.current.as_mut() {
                let j = *j;
                match reader.next() {
                    Some(Ok(batch)) => {
                        *read += batch.num_rows() as u64;
                        let read = *read;
                        self.read.insert(j, read);
                        self.bytes += batch.get_array_memory_size() as u64;
                        if batch.num_rows() == 0 {
                            continue;
                        }
                        let file = self.groups[j].file;
                        return self.conform(file, &batch).map(Some);
                    }
                    Some(Err(e)) => return Err(self.fail(self.groups[j].file, e)),
                    None => {
                        self.read.insert(j, self.groups[j].rows);
                        self.current = None;
                    }
                }
            }
            let Some((j, skip)) = self.todo.pop_front() else {
                return Ok(None);
            };
            if !self.may_match(j) {
                self.read.insert(j, self.groups[j].rows);
                continue;
            }
            let reader = self.open(j, skip)?;
            self.current = Some((j, skip, reader));
        }
    }

    fn counters(&self) -> ConnectorCounters {
        ConnectorCounters {
            bytes: self.bytes,
            skipped_rows: 0,
        }
    }

    fn snapshot_position(&mut self) -> Result<Option<Vec<u8>>, ConnectorError> {
        if !self.filters.is_empty() {
            // a restored reader would have to prune the same row groups to resume in place
            return Err(ConnectorError::Other(format!(
                "table '{}': a Parquet source with pushed-down filters cannot be checkpointed",
                self.table
            )));
        }
        let read: Vec<Value> = self.read.iter().map(|(j, n)| json!([j, n])).collect();
        Ok(Some(
            serde_json::to_vec(&json!({
                "version": VERSION,
                "row_groups": self.groups.len(),
                "read": read,
            }))
            .map_err(|e| ConnectorError::Other(e.to_string()))?,
        ))
    }
}

/// The union of `positions`: rows read per row group.
fn restore(
    table: &str,
    positions: &[Vec<u8>],
    groups: usize,
) -> Result<HashMap<usize, u64>, ConnectorError> {
    let fail = |what: String| {
        ConnectorError::Other(format!(
            "table '{table}': cannot resume the Parquet source from the checkpoint: {what}; restore the input as it was at the checkpoint, or start the job without restoring from it"
        ))
    };
    let mut read = HashMap::new();
    for (i, bytes) in positions.iter().enumerate() {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| {
            fail(format!(
                "position {i} is not a Parquet source position: {e}"
            ))
        })?;
        if v["version"].as_u64() != Some(VERSION) {
            return Err(fail(format!(
                "position {i} is not a Parquet source position of version {VERSION}"
            )));
        }
        if v["row_groups"].as_u64() != Some(groups as u64) {
            return Err(fail(format!(
                "the input had {} row groups then and has {groups} now",
                v["row_groups"]
            )));
        }
        for entry in v["read"].as_array().into_iter().flatten() {
            let (Some(j), Some(n)) = (entry[0].as_u64(), entry[1].as_u64()) else {
                return Err(fail(format!("position {i} has a bad entry {entry}")));
            };
            let slot = read.entry(j as usize).or_insert(0);
            *slot = (*slot).max(n);
        }
    }
    Ok(read)
}

/// Which row groups of a file may hold rows passing `filters` (statistics pruning).
fn prune(
    meta: &ArrowReaderMetadata,
    filters: &[Arc<dyn PhysicalExpr>],
    table_schema: &SchemaRef,
) -> Vec<bool> {
    let groups = meta.metadata().row_groups();
    let all = vec![true; groups.len()];
    let predicate = conjunction(filters.iter().cloned());
    let Some(pruning) = PruningPredicateBuilder::new()
        .with_file_schema(Arc::clone(table_schema))
        .build(predicate)
    else {
        return all;
    };
    let stats = RowGroupStatistics {
        meta,
        groups,
        table_schema,
    };
    match pruning.prune(&stats) {
        Ok(keep) => keep,
        Err(e) => {
            tracing::debug!("Parquet row group pruning failed, reading every row group: {e}");
            all
        }
    }
}

/// A file's row group statistics as DataFusion's pruning sees them, typed as the table's
/// columns.
struct RowGroupStatistics<'a> {
    meta: &'a ArrowReaderMetadata,
    groups: &'a [RowGroupMetaData],
    table_schema: &'a SchemaRef,
}

impl RowGroupStatistics<'_> {
    fn converter(&self, column: &str) -> Option<StatisticsConverter<'_>> {
        let file_schema = self.meta.schema();
        let i = field_index(file_schema, column)?;
        StatisticsConverter::try_new(
            file_schema.field(i).name(),
            file_schema,
            self.meta.metadata().file_metadata().schema_descr(),
        )
        .ok()
    }

    /// `array` cast to the table column's type.
    fn typed(&self, column: &str, array: ArrayRef) -> Option<ArrayRef> {
        let (_, field) = self.table_schema.column_with_name(column)?;
        cast_column(&array, field.data_type(), column).ok()
    }
}

impl PruningStatistics for RowGroupStatistics<'_> {
    fn min_values(&self, column: &datafusion::common::Column) -> Option<ArrayRef> {
        let mins = self
            .converter(&column.name)?
            .row_group_mins(self.groups)
            .ok()?;
        self.typed(&column.name, mins)
    }

    fn max_values(&self, column: &datafusion::common::Column) -> Option<ArrayRef> {
        let maxes = self
            .converter(&column.name)?
            .row_group_maxes(self.groups)
            .ok()?;
        self.typed(&column.name, maxes)
    }

    fn num_containers(&self) -> usize {
        self.groups.len()
    }

    fn null_counts(&self, column: &datafusion::common::Column) -> Option<ArrayRef> {
        let counts = self
            .converter(&column.name)?
            .row_group_null_counts(self.groups)
            .ok()?;
        Some(Arc::new(counts))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        let counts = arrow::array::UInt64Array::from_iter_values(
            self.groups.iter().map(|g| g.num_rows().max(0) as u64),
        );
        Some(Arc::new(counts))
    }

    fn contained(
        &self,
        _column: &datafusion::common::Column,
        _values: &HashSet<ScalarValue>,
    ) -> Option<BooleanArray> {
        None
    }
}

pub mod statistics;

#[cfg(test)]
mod tests;
