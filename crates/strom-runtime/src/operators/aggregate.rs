//! Group aggregation. With a window-end column it is a window aggregate: groups of a window fire
//! when the watermark reaches `window_end - 1` (and at end of input); rows of a window that has
//! already fired are late and dropped (counted). Without one, results are emitted at end of input.

use super::accumulators::Accumulator;
use crate::error::TaskError;
use crate::operator::{Operator, Output};
use datafusion::arrow::array::{Array, ArrayRef, TimestampMillisecondArray, UInt32Array};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use hashbrown::HashMap;
use std::collections::BTreeMap;
use strom_plan::{AggFunc, AggregateMode, AggregateSpec, SqlType};

/// Groups of one window (or of the whole input).
struct GroupTable {
    map: HashMap<Box<[u8]>, u32>,
    keys: Rows,
    accs: Vec<Accumulator>,
}

pub struct AggregateOperator {
    spec: AggregateSpec,
    /// Per aggregate call: the input columns it reads (argument, or state columns in Final mode).
    arg_columns: Vec<Vec<usize>>,
    /// Per aggregate call: the state column types (Partial mode output).
    state_types: Vec<Vec<SqlType>>,
    converter: RowConverter,
    output: SchemaRef,
    windows: BTreeMap<i64, GroupTable>,
    global: Option<GroupTable>,
    watermark: i64,
    late_dropped: u64,
    group_ids: Vec<u32>,
}

impl AggregateOperator {
    pub fn new(spec: &AggregateSpec) -> Result<Self, TaskError> {
        let fields: Vec<SortField> = spec
            .group_by
            .iter()
            .map(|g| SortField::new(spec.input.columns[*g].ty.to_arrow()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let mut arg_columns = Vec::new();
        let mut state_types = Vec::new();
        let partial = strom_plan::sql::planner::partial_schema(&spec.input, &spec.group_by, &spec.aggregates);
        let mut col = spec.group_by.len();
        for c in &spec.aggregates {
            let width = if c.func == AggFunc::Avg { 2 } else { 1 };
            state_types.push(partial.columns[col..col + width].iter().map(|c| c.ty.clone()).collect());
            match spec.mode {
                AggregateMode::Final => arg_columns.push((col..col + width).collect()),
                _ => arg_columns.push(c.arg.into_iter().collect()),
            }
            col += width;
        }
        Ok(Self {
            spec: spec.clone(),
            arg_columns,
            state_types,
            converter,
            output: spec.output.to_arrow(),
            windows: BTreeMap::new(),
            global: None,
            watermark: i64::MIN,
            late_dropped: 0,
            group_ids: Vec::new(),
        })
    }

    fn new_table(&self, batch: &RecordBatch) -> GroupTable {
        let merge = self.spec.mode == AggregateMode::Final;
        let accs = self
            .spec
            .aggregates
            .iter()
            .zip(&self.arg_columns)
            .map(|(c, cols)| Accumulator::new(c.func, merge, cols.first().map(|i| batch.column(*i).data_type())))
            .collect();
        GroupTable { map: HashMap::new(), keys: self.converter.empty_rows(1024, 1024 * 16), accs }
    }

    fn accumulate(&mut self, batch: &RecordBatch, window_end: Option<i64>) -> Result<(), TaskError> {
        let mut table = match window_end {
            Some(end) => self.windows.remove(&end),
            None => self.global.take(),
        }
        .unwrap_or_else(|| self.new_table(batch));
        let mut ids = std::mem::take(&mut self.group_ids);
        ids.clear();
        if self.spec.group_by.is_empty() {
            // one group for the whole input (or window)
            if table.map.is_empty() {
                table.map.insert(Box::from(&[][..]), 0);
            }
            ids.resize(batch.num_rows(), 0);
        }
        let key_cols: Vec<ArrayRef> = self.spec.group_by.iter().map(|g| batch.column(*g).clone()).collect();
        let rows = if key_cols.is_empty() { self.converter.empty_rows(0, 0) } else { self.converter.convert_columns(&key_cols)? };
        for i in 0..rows.num_rows() {
            let row = rows.row(i);
            let key = row.as_ref();
            let id = match table.map.get(key) {
                Some(id) => *id,
                None => {
                    let id = table.map.len() as u32;
                    table.map.insert(key.into(), id);
                    table.keys.push(row);
                    id
                }
            };
            ids.push(id);
        }
        let n = table.map.len();
        for (acc, cols) in table.accs.iter_mut().zip(&self.arg_columns) {
            let args: Vec<ArrayRef> = cols.iter().map(|c| batch.column(*c).clone()).collect();
            acc.update(&ids, n, &args)?;
        }
        self.group_ids = ids;
        match window_end {
            Some(end) => {
                self.windows.insert(end, table);
            }
            None => self.global = Some(table),
        }
        Ok(())
    }

    fn emit_table(&self, table: GroupTable, out: &mut dyn Output) -> Result<(), TaskError> {
        let n = table.map.len();
        if n == 0 {
            return Ok(());
        }
        let mut columns = if self.spec.group_by.is_empty() { vec![] } else { self.converter.convert_rows(table.keys.iter())? };
        for (k, acc) in table.accs.iter().enumerate() {
            match self.spec.mode {
                AggregateMode::Partial => columns.extend(acc.state(n, &self.state_types[k])?),
                _ => columns.push(acc.evaluate(n, &self.spec.aggregates[k].result_type)?),
            }
        }
        let columns = columns
            .into_iter()
            .zip(self.output.fields())
            .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c) } else { cast(&c, f.data_type()) })
            .collect::<Result<Vec<_>, _>>()?;
        let schema = if self.output.fields().iter().zip(&columns).all(|(f, c)| f.is_nullable() || c.null_count() == 0) {
            self.output.clone()
        } else {
            std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(
                self.output.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect::<Vec<_>>(),
            ))
        };
        out.emit(RecordBatch::try_new(schema, columns)?)
    }
}

fn window_ends(col: &ArrayRef) -> Result<Vec<i64>, TaskError> {
    let ts = if col.data_type() == &DataType::Timestamp(TimeUnit::Millisecond, None) {
        col.clone()
    } else {
        cast(col, &DataType::Timestamp(TimeUnit::Millisecond, None))?
    };
    let a = ts
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .ok_or_else(|| TaskError::Operator("window_end is not a timestamp".into()))?;
    Ok(a.values().to_vec())
}

impl Operator for AggregateOperator {
    fn name(&self) -> &str {
        "Aggregate"
    }

    fn process_batch(&mut self, batch: RecordBatch, _out: &mut dyn Output) -> Result<(), TaskError> {
        let Some(we) = self.spec.window_end_column else {
            return self.accumulate(&batch, None);
        };
        let ends = window_ends(batch.column(we))?;
        let first = ends[0];
        if ends.iter().all(|e| *e == first) {
            if first - 1 <= self.watermark {
                self.late_dropped += ends.len() as u64;
                return Ok(());
            }
            return self.accumulate(&batch, Some(first));
        }
        let mut by_end: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for (i, e) in ends.iter().enumerate() {
            by_end.entry(*e).or_default().push(i as u32);
        }
        for (end, idx) in by_end {
            if end - 1 <= self.watermark {
                self.late_dropped += idx.len() as u64;
                continue;
            }
            let idx = UInt32Array::from(idx);
            let cols = batch.columns().iter().map(|c| take(c.as_ref(), &idx, None)).collect::<Result<Vec<_>, _>>()?;
            let sub = RecordBatch::try_new(batch.schema(), cols)?;
            self.accumulate(&sub, Some(end))?;
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: i64, out: &mut dyn Output) -> Result<(), TaskError> {
        if watermark <= self.watermark {
            return Ok(());
        }
        self.watermark = watermark;
        while let Some(entry) = self.windows.first_entry() {
            if *entry.key() - 1 > watermark {
                break;
            }
            let table = entry.remove();
            self.emit_table(table, out)?;
        }
        out.emit_watermark(watermark)
    }

    fn finish(&mut self, out: &mut dyn Output) -> Result<(), TaskError> {
        let windows = std::mem::take(&mut self.windows);
        for (_, table) in windows {
            self.emit_table(table, out)?;
        }
        if let Some(t) = self.global.take() {
            self.emit_table(t, out)?;
        } else if self.spec.group_by.is_empty() && self.spec.window_end_column.is_none() && self.spec.mode != AggregateMode::Partial {
            // a global aggregate over no rows still yields one row (COUNT(*) = 0)
            let empty = RecordBatch::new_empty(self.spec.input.to_arrow());
            let mut t = self.new_table(&empty);
            t.map.insert(Box::from(&[][..]), 0);
            for a in &mut t.accs {
                a.update(&[], 1, &[])?;
            }
            self.emit_table(t, out)?;
        }
        Ok(())
    }

    fn late_records_dropped(&self) -> u64 {
        self.late_dropped
    }
}
