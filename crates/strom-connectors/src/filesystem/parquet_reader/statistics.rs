//! What the Parquet footers say of a table before it is read: rows, and per table column its
//! nulls, minimum, maximum and size, for the batch planner (DataFusion's join selection puts the
//! smaller side of a hash join on its build side and broadcasts small sides).
//!
//! Everything is `Inexact`: the planner only compares sizes, and the pushed filters, a column
//! missing from some file or a value that does not fit the declared type make the figures
//! estimates anyway. A column's statistics are `Absent` where a file says nothing of it.

use super::{open_files, RowGroupStatistics};
use crate::filesystem::split::InputFile;
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::UInt64Type;
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::stats::Precision;
use datafusion::common::{Column, ColumnStatistics, ScalarValue, Statistics};
use datafusion::functions_aggregate::min_max::{MaxAccumulator, MinAccumulator};
use datafusion::logical_expr::Accumulator;
use strom_plan::TableSpec;

/// The statistics of `table` read from the footers of `files` (`None` if a footer cannot be
/// read: the reader reports that when the job runs).
pub fn table_statistics(table: &TableSpec, files: &[InputFile]) -> Option<Statistics> {
    let files = open_files(files).ok()?;
    let table_schema = table.schema.to_arrow();
    let mut rows = 0usize;
    let mut columns: Vec<Option<ColumnSummary>> = table_schema
        .fields()
        .iter()
        .map(|f| ColumnSummary::new(f.data_type()))
        .collect();
    for file in &files {
        let groups = file.meta.metadata().row_groups();
        let file_rows: usize = groups.iter().map(|g| g.num_rows().max(0) as usize).sum();
        rows += file_rows;
        let stats = RowGroupStatistics {
            meta: &file.meta,
            groups,
            table_schema: &table_schema,
        };
        for (field, summary) in table_schema.fields().iter().zip(columns.iter_mut()) {
            let Some(s) = summary else { continue };
            if !s.add_file(&stats, field.name(), file_rows) {
                *summary = None;
            }
        }
    }
    let column_statistics: Vec<ColumnStatistics> = columns
        .into_iter()
        .map(|c| c.map_or_else(ColumnStatistics::new_unknown, ColumnSummary::finish))
        .collect();
    let total_byte_size = column_statistics
        .iter()
        .map(|c| c.byte_size)
        .fold(Precision::Inexact(0), |a, b| a.add(&b));
    Some(Statistics {
        num_rows: Precision::Inexact(rows),
        total_byte_size,
        column_statistics,
    })
}

/// One column's figures over the files read so far.
struct ColumnSummary {
    nulls: usize,
    bytes: usize,
    /// Bytes per value of a fixed-width type (its Arrow size), else `None`.
    width: Option<usize>,
    min: MinAccumulator,
    max: MaxAccumulator,
    /// Whether every row group so far had a minimum and a maximum.
    bounded: bool,
}

impl ColumnSummary {
    /// `None` for a type without a minimum and a maximum (its statistics are unknown).
    fn new(data_type: &arrow::datatypes::DataType) -> Option<Self> {
        Some(Self {
            nulls: 0,
            bytes: 0,
            width: data_type.primitive_width(),
            min: MinAccumulator::try_new(data_type).ok()?,
            max: MaxAccumulator::try_new(data_type).ok()?,
            bounded: true,
        })
    }

    /// Adds one file's row groups; false when the file has no such column (the column's
    /// statistics are then unknown).
    fn add_file(&mut self, stats: &RowGroupStatistics<'_>, name: &str, rows: usize) -> bool {
        let Some(converter) = stats.converter(name) else {
            return false;
        };
        let column = Column::new_unqualified(name);
        match stats.null_counts(&column) {
            Some(counts) if counts.null_count() == 0 => {
                self.nulls += counts
                    .as_primitive::<UInt64Type>()
                    .values()
                    .iter()
                    .sum::<u64>() as usize;
            }
            _ => return false,
        }
        self.bytes += match self.width {
            Some(w) => rows * w,
            None => {
                let Some(leaf) = converter.parquet_column_index() else {
                    return false;
                };
                stats
                    .groups
                    .iter()
                    .map(|g| g.column(leaf).uncompressed_size().max(0) as usize)
                    .sum()
            }
        };
        if self.bounded {
            self.bounded = self.fold(stats.min_values(&column), true)
                && self.fold(stats.max_values(&column), false);
        }
        true
    }

    /// Folds one file's per-row-group minimums (or maximums) in; false if one is missing.
    fn fold(&mut self, values: Option<ArrayRef>, min: bool) -> bool {
        let Some(values) = values else { return false };
        if values.null_count() > 0 {
            return false;
        }
        let folded = if min {
            self.min.update_batch(&[values])
        } else {
            self.max.update_batch(&[values])
        };
        folded.is_ok()
    }

    fn finish(mut self) -> ColumnStatistics {
        let bound = |v: datafusion::common::Result<ScalarValue>, bounded: bool| match v {
            Ok(v) if bounded && !v.is_null() => Precision::Inexact(v),
            _ => Precision::Absent,
        };
        ColumnStatistics {
            null_count: Precision::Inexact(self.nulls),
            min_value: bound(self.min.evaluate(), self.bounded),
            max_value: bound(self.max.evaluate(), self.bounded),
            byte_size: Precision::Inexact(self.bytes),
            ..ColumnStatistics::new_unknown()
        }
    }
}
