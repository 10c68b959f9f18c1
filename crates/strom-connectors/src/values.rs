//! The `values` connector: the rows of a `VALUES` clause or of a `SELECT` without `FROM`,
//! which the SQL planner writes into the table's `rows` option (see [`strom_plan::values`]).
//! Bounded; subtask i of p emits rows i, i + p, ... once. A restored reader emits the rows no
//! subtask of the checkpointed run had emitted (at any parallelism).

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use strom_plan::{values, TableSpec};
use strom_runtime::{ConnectorError, ConnectorFactory, SinkWriter, SourceReader, SubtaskInfo};

/// The `values` connector (source only).
#[derive(Debug, Default)]
pub struct ValuesConnector;

fn rows(table: &TableSpec) -> Result<RecordBatch, ConnectorError> {
    let text = table
        .option(values::ROWS_OPTION)
        .ok_or_else(|| ConnectorError::BadOption {
            table: table.name.clone(),
            message: format!(
                "the '{}' connector needs the '{}' option",
                values::CONNECTOR,
                values::ROWS_OPTION
            ),
        })?;
    let batch = values::decode(text).map_err(|e| ConnectorError::BadOption {
        table: table.name.clone(),
        message: e.to_string(),
    })?;
    if batch.num_columns() != table.schema.len() {
        return Err(ConnectorError::BadOption {
            table: table.name.clone(),
            message: format!(
                "its rows have {} columns, its schema {}",
                batch.num_columns(),
                table.schema.len()
            ),
        });
    }
    Ok(batch)
}

/// Emits its rows in one batch, then ends.
struct ValuesReader {
    batch: Option<RecordBatch>,
    subtask: SubtaskInfo,
    emitted: bool,
}

impl ValuesReader {
    /// The reader of `subtask`: its share of the rows, less those `done` says were emitted.
    fn new(
        table: &TableSpec,
        projection: &[usize],
        subtask: SubtaskInfo,
        done: impl Fn(usize) -> bool,
    ) -> Result<Self, ConnectorError> {
        let arrow_error = |e: arrow::error::ArrowError| {
            ConnectorError::Other(format!("table '{}': {e}", table.name))
        };
        let all = rows(table)?.project(projection).map_err(arrow_error)?;
        let p = subtask.parallelism.max(1) as usize;
        let mine: Vec<u32> = (0..all.num_rows())
            .filter(|r| r % p == subtask.index as usize && !done(*r))
            .map(|r| r as u32)
            .collect();
        let batch = take_record_batch(&all, &UInt32Array::from(mine)).map_err(arrow_error)?;
        Ok(Self {
            batch: Some(batch),
            subtask,
            emitted: false,
        })
    }
}

impl SourceReader for ValuesReader {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        self.emitted = true;
        Ok(self.batch.take())
    }

    /// `parallelism,index,emitted`.
    fn snapshot_position(&mut self) -> Result<Option<Vec<u8>>, ConnectorError> {
        let p = format!(
            "{},{},{}",
            self.subtask.parallelism,
            self.subtask.index,
            u8::from(self.emitted)
        );
        Ok(Some(p.into_bytes()))
    }
}

/// The (parallelism, index) of the checkpointed subtasks that had emitted their rows.
fn emitted_by(
    table: &TableSpec,
    positions: &[Vec<u8>],
) -> Result<Vec<(usize, usize)>, ConnectorError> {
    let mut out = Vec::new();
    for p in positions {
        let text = String::from_utf8_lossy(p);
        let parts: Vec<usize> = text.split(',').filter_map(|x| x.parse().ok()).collect();
        let [p, i, e] = parts[..] else {
            return Err(ConnectorError::Other(format!(
                "table '{}': the checkpoint's values position '{text}' is not readable",
                table.name
            )));
        };
        if e == 1 {
            out.push((p.max(1), i));
        }
    }
    Ok(out)
}

impl ConnectorFactory for ValuesConnector {
    fn name(&self) -> &'static str {
        values::CONNECTOR
    }

    fn validate(&self, table: &TableSpec, as_source: bool) -> Result<(), ConnectorError> {
        if !as_source {
            return Err(ConnectorError::BadOption {
                table: table.name.clone(),
                message: "the 'values' connector is a source only".into(),
            });
        }
        rows(table).map(|_| ())
    }

    fn create_reader(
        &self,
        table: &TableSpec,
        projection: &[usize],
        subtask: SubtaskInfo,
        _batch_rows: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        Ok(Box::new(ValuesReader::new(
            table,
            projection,
            subtask,
            |_| false,
        )?))
    }

    fn restore_reader(
        &self,
        table: &TableSpec,
        projection: &[usize],
        subtask: SubtaskInfo,
        _batch_rows: usize,
        positions: &[Vec<u8>],
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        let done = emitted_by(table, positions)?;
        Ok(Box::new(ValuesReader::new(
            table,
            projection,
            subtask,
            |r| done.iter().any(|(p, i)| r % p == *i),
        )?))
    }

    fn create_writer(
        &self,
        table: &TableSpec,
        _subtask: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        Err(ConnectorError::BadOption {
            table: table.name.clone(),
            message: "the 'values' connector is a source only".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use strom_plan::{Column, RowSchema, SqlType};

    fn table(n: i64) -> TableSpec {
        let b = RecordBatch::try_from_iter(vec![(
            "a",
            Arc::new(Int64Array::from_iter_values(0..n)) as _,
        )])
        .unwrap();
        let mut options = BTreeMap::new();
        options.insert("connector".to_string(), values::CONNECTOR.to_string());
        options.insert(values::ROWS_OPTION.to_string(), values::encode(&b).unwrap());
        TableSpec {
            name: "v".into(),
            schema: RowSchema::new(vec![Column {
                name: "a".into(),
                ty: SqlType::BigInt,
                nullable: true,
            }]),
            options,
            watermark: None,
            primary_key: vec![],
            partition_keys: vec![],
        }
    }

    fn read(r: &mut dyn SourceReader) -> Vec<i64> {
        let mut out = Vec::new();
        while let Some(b) = r.next_batch().unwrap() {
            let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            out.extend(a.values().iter());
        }
        out
    }

    #[test]
    fn subtasks_share_the_rows_and_a_restore_emits_the_rest_once() {
        let t = table(7);
        let c = ValuesConnector;
        c.validate(&t, true).unwrap();
        assert!(c.validate(&t, false).is_err());
        let sub = |index, parallelism| SubtaskInfo { index, parallelism };
        let mut readers: Vec<_> = (0..3)
            .map(|i| c.create_reader(&t, &[0], sub(i, 3), 0).unwrap())
            .collect();
        let mut all: Vec<i64> = Vec::new();
        // subtask 0 emits before the checkpoint, the others after it
        all.extend(read(readers[0].as_mut()));
        let positions: Vec<Vec<u8>> = readers
            .iter_mut()
            .map(|r| r.snapshot_position().unwrap().unwrap())
            .collect();
        for r in &mut readers[1..] {
            read(r.as_mut());
        }
        // restored at parallelism 2: the rows of old subtasks 1 and 2, once
        for i in 0..2 {
            let mut r = c
                .restore_reader(&t, &[0], sub(i, 2), 0, &positions)
                .unwrap();
            all.extend(read(r.as_mut()));
        }
        all.sort();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
        assert_eq!(readers[0].snapshot_position().unwrap().unwrap().len(), 5);
    }
}
