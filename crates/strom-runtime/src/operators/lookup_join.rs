//! The lookup join (Flink's `LookupJoin` against a filesystem table, which Flink reads whole
//! into a cache): the dimension table is read through its connector when the first row
//! arrives and again once it is older than `cache_ttl_ms`; each input row is joined with the
//! table's rows of its key as they are then (INNER, or LEFT padded with NULLs). The output is
//! append-only and the operator keeps no checkpointed state (a restored job reads the table
//! again), as Flink's.

use super::calc::physical_expr;
use crate::connector::{ConnectorRegistry, SubtaskInfo};
use crate::error::TaskError;
use crate::operator::{Operator, Output};
use datafusion::arrow::array::{Array, ArrayRef, UInt32Array};
use datafusion::arrow::compute::{concat_batches, take};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strom_plan::{JoinType, LookupJoinSpec};

/// The dimension table as last read: its rows and, per key, their positions.
struct Cache {
    rows: RecordBatch,
    by_key: HashMap<Box<[u8]>, Vec<u32>>,
    loaded: Instant,
}

pub struct LookupJoinOperator {
    spec: LookupJoinSpec,
    registry: ConnectorRegistry,
    keys: RowConverter,
    filter: Option<Arc<dyn PhysicalExpr>>,
    output: SchemaRef,
    cache: Option<Cache>,
}

impl LookupJoinOperator {
    pub fn new(spec: &LookupJoinSpec, registry: &ConnectorRegistry) -> Result<Self, TaskError> {
        let keys = RowConverter::new(
            spec.dim_keys
                .iter()
                .map(|k| SortField::new(spec.dim.columns[*k].ty.to_arrow()))
                .collect(),
        )?;
        let filter = spec
            .filter
            .as_ref()
            .map(|f| physical_expr(f, &spec.output))
            .transpose()?;
        Ok(Self {
            spec: spec.clone(),
            registry: registry.clone(),
            keys,
            filter,
            output: spec.output.to_arrow(),
            cache: None,
        })
    }

    /// Key bytes of each row of `cols` (None where a key column is NULL: it matches nothing).
    fn row_keys(&self, cols: Vec<ArrayRef>) -> Result<Vec<Option<Box<[u8]>>>, TaskError> {
        let n = cols.first().map_or(0, |c| c.len());
        let rows = self.keys.convert_columns(&cols)?;
        Ok((0..n)
            .map(|i| (!cols.iter().any(|c| c.is_null(i))).then(|| rows.row(i).as_ref().into()))
            .collect())
    }

    /// Reads the whole table (again, when the cache is older than its time to live).
    fn refresh(&mut self) -> Result<(), TaskError> {
        let ttl = Duration::from_millis(self.spec.cache_ttl_ms.max(0) as u64);
        if self
            .cache
            .as_ref()
            .is_some_and(|c| c.loaded.elapsed() < ttl)
        {
            return Ok(());
        }
        let table = &self.spec.table;
        let lookup_err = |e: crate::connector::ConnectorError| {
            TaskError::Operator(format!("lookup table '{}': {e}", table.name))
        };
        let factory = self.registry.get(table).map_err(lookup_err)?;
        if !factory.is_bounded(table) {
            return Err(TaskError::Deployment(format!(
                "lookup table '{}' is unbounded: Strom looks up tables it can read whole (a filesystem table)",
                table.name
            )));
        }
        let mut reader = factory
            .create_reader(
                table,
                &self.spec.projection,
                SubtaskInfo {
                    index: 0,
                    parallelism: 1,
                },
                8192,
            )
            .map_err(lookup_err)?;
        let schema = self.spec.dim.to_arrow();
        let mut batches = Vec::new();
        while let Some(b) = reader.next_batch().map_err(lookup_err)? {
            if b.num_rows() > 0 {
                batches.push(super::conform(&schema, b.columns().to_vec(), b.num_rows())?);
            }
        }
        let rows = match batches.first() {
            Some(first) => concat_batches(&first.schema(), &batches)?,
            None => RecordBatch::new_empty(schema),
        };
        let keys = self.row_keys(
            self.spec
                .dim_keys
                .iter()
                .map(|k| rows.column(*k).clone())
                .collect(),
        )?;
        let mut by_key: HashMap<Box<[u8]>, Vec<u32>> = HashMap::new();
        for (i, k) in keys.into_iter().enumerate() {
            if let Some(k) = k {
                by_key.entry(k).or_default().push(i as u32);
            }
        }
        tracing::info!(
            "lookup table '{}' read: {} rows, {} keys",
            table.name,
            rows.num_rows(),
            by_key.len()
        );
        self.cache = Some(Cache {
            rows,
            by_key,
            loaded: Instant::now(),
        });
        Ok(())
    }

    fn process(&mut self, batch: &RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        self.refresh()?;
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        let keys = self.row_keys(
            self.spec
                .input_keys
                .iter()
                .map(|k| batch.column(*k).clone())
                .collect(),
        )?;
        // candidate pairs: (input row, table row)
        let (mut left, mut right): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
        for (i, k) in keys.iter().enumerate() {
            if let Some(rows) = k.as_ref().and_then(|k| cache.by_key.get(k)) {
                left.extend(std::iter::repeat_n(i as u32, rows.len()));
                right.extend(rows);
            }
        }
        let joined = |l: &[u32], r: &[Option<u32>]| -> Result<RecordBatch, TaskError> {
            let li = UInt32Array::from(l.to_vec());
            let ri = UInt32Array::from(r.to_vec());
            let mut cols: Vec<ArrayRef> = batch
                .columns()
                .iter()
                .take(self.spec.input.len())
                .map(|c| take(c.as_ref(), &li, None))
                .collect::<Result<_, _>>()?;
            for c in cache.rows.columns() {
                cols.push(take(c.as_ref(), &ri, None)?);
            }
            super::conform(&self.output, cols, l.len())
        };
        let right_some: Vec<Option<u32>> = right.iter().map(|r| Some(*r)).collect();
        let mut pairs = joined(&left, &right_some)?;
        let mut matched = vec![false; batch.num_rows()];
        if let Some(f) = &self.filter {
            let mask = super::calc::predicate(f, &pairs, "LookupJoin")?;
            for (p, l) in left.iter().enumerate() {
                matched[*l as usize] |= mask.value(p);
            }
            pairs = datafusion::arrow::compute::filter_record_batch(&pairs, &mask)?;
        } else {
            for l in &left {
                matched[*l as usize] = true;
            }
        }
        if pairs.num_rows() > 0 {
            out.emit(pairs)?;
        }
        if self.spec.join_type == JoinType::Left {
            let alone: Vec<u32> = (0..batch.num_rows() as u32)
                .filter(|i| !matched[*i as usize])
                .collect();
            if !alone.is_empty() {
                out.emit(joined(&alone, &vec![None; alone.len()])?)?;
            }
        }
        Ok(())
    }
}

impl Operator for LookupJoinOperator {
    fn name(&self) -> &str {
        "LookupJoin"
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        self.process(&batch, out)
    }
}
