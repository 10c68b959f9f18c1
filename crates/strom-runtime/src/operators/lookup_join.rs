//! The lookup join (Flink's `LookupJoin`): each input row is joined with the dimension table's
//! rows of its key as they are when it arrives (INNER, or LEFT padded with NULLs). The output
//! is append-only and the operator keeps no checkpointed state (a restored job reads the table
//! again), as Flink's.
//!
//! - A table whose connector looks rows up by key (jdbc, see
//!   [`crate::connector::LookupClient`]): the distinct keys of a batch that the partial cache
//!   (Flink's `lookup.cache` = `PARTIAL`: at most `max-rows` keys, least recently used out
//!   first, expiring after write or access; missing keys cached or not) does not hold are
//!   looked up in one call.
//! - Any other bounded table (filesystem, as Flink's filesystem lookup), and a table of the
//!   first kind with Flink's `lookup.cache` = `FULL`: read whole through its connector when the
//!   first row arrives and again once older than `cache_ttl_ms`, or on the full cache's
//!   schedule ([`FullCacheReload`]: periodic, or at a time of day). A reload reads the table
//!   on a thread of its own while the rows read before serve; the new ones take over at the
//!   next batch after it is done.

use super::calc::physical_expr;
use crate::connector::LookupClient;
use crate::connector::{ConnectorRegistry, SubtaskInfo};
use crate::error::TaskError;
use crate::operator::{Operator, Output};
use datafusion::arrow::array::{Array, ArrayRef, UInt32Array};
use datafusion::arrow::compute::{concat_batches, take};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;
use lru::LruCache;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use strom_plan::specs::FullCacheReload;
use strom_plan::{JoinType, LookupCache, LookupJoinSpec};

/// The dimension table as last read: its rows and, per key, their positions.
struct Cache {
    rows: RecordBatch,
    by_key: HashMap<Box<[u8]>, Vec<u32>>,
    /// When it is read again (epoch milliseconds).
    reload_at_ms: i64,
}

/// A key's rows in the partial cache, with when they were looked up and last used.
struct Cached {
    rows: RecordBatch,
    written: Instant,
    accessed: Instant,
}

/// Looks keys up through the connector, through the partial cache.
struct Keyed {
    client: Box<dyn LookupClient>,
    cache: Option<PartialCache>,
}

/// Flink's partial lookup cache: its options and the cached keys.
type PartialCache = (LookupCache, LruCache<Box<[u8]>, Cached>);

/// The wall clock in epoch milliseconds (a timed reload is at a time of day).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().min(i64::MAX as u128) as i64)
}

/// Rows of the dimension table and, per key, their positions.
type Dim = (RecordBatch, HashMap<Box<[u8]>, Vec<u32>>);

/// Key bytes of each row of `cols` in `converter`'s format (None where a key column is NULL:
/// it matches nothing).
fn row_keys(
    converter: &RowConverter,
    cols: Vec<ArrayRef>,
) -> Result<Vec<Option<Box<[u8]>>>, TaskError> {
    let n = cols.first().map_or(0, |c| c.len());
    let rows = converter.convert_columns(&cols)?;
    Ok((0..n)
        .map(|i| (!cols.iter().any(|c| c.is_null(i))).then(|| rows.row(i).as_ref().into()))
        .collect())
}

/// The dimension table's key columns in row format.
fn key_converter(spec: &LookupJoinSpec) -> Result<RowConverter, TaskError> {
    Ok(RowConverter::new(
        spec.dim_keys
            .iter()
            .map(|k| SortField::new(spec.dim.columns[*k].ty.to_arrow()))
            .collect(),
    )?)
}

/// The whole dimension table, read through its connector's scan.
fn read_whole(spec: &LookupJoinSpec, registry: &ConnectorRegistry) -> Result<Dim, TaskError> {
    let table = &spec.table;
    let lookup_err = |e: crate::connector::ConnectorError| {
        TaskError::Operator(format!("lookup table '{}': {e}", table.name))
    };
    let factory = registry.get(table).map_err(lookup_err)?;
    if !factory.is_bounded(table) {
        return Err(TaskError::Deployment(format!(
            "lookup table '{}' is unbounded: Strom looks up tables it can read whole (a filesystem table)",
            table.name
        )));
    }
    let mut reader = factory
        .create_reader(
            table,
            &spec.projection,
            SubtaskInfo {
                index: 0,
                parallelism: 1,
            },
            8192,
        )
        .map_err(lookup_err)?;
    let schema = spec.dim.to_arrow();
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
    let keys = row_keys(
        &key_converter(spec)?,
        spec.dim_keys
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
    Ok((rows, by_key))
}

pub struct LookupJoinOperator {
    spec: LookupJoinSpec,
    registry: ConnectorRegistry,
    keys: RowConverter,
    filter: Option<Arc<dyn PhysicalExpr>>,
    output: SchemaRef,
    /// The whole table (connectors without lookups).
    cache: Option<Cache>,
    /// A reload in the background: the table read and when the read started.
    reloading: Option<std::sync::mpsc::Receiver<Result<(Dim, i64), TaskError>>>,
    /// The connector's lookups (decided when the first row arrives).
    keyed: Option<Keyed>,
    started: bool,
}

impl LookupJoinOperator {
    pub fn new(spec: &LookupJoinSpec, registry: &ConnectorRegistry) -> Result<Self, TaskError> {
        let keys = key_converter(spec)?;
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
            reloading: None,
            keyed: None,
            started: false,
        })
    }

    fn table_error(&self, e: crate::connector::ConnectorError) -> TaskError {
        TaskError::Operator(format!("lookup table '{}': {e}", self.spec.table.name))
    }

    /// Whether the table's connector looks rows up by key (asked once).
    fn start(&mut self) -> Result<(), TaskError> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let table = &self.spec.table;
        let factory = self.registry.get(table).map_err(|e| self.table_error(e))?;
        let keys: Vec<usize> = self
            .spec
            .dim_keys
            .iter()
            .map(|k| self.spec.projection[*k])
            .collect();
        if self.spec.full_cache.is_some() {
            // the whole table is read instead
            return Ok(());
        }
        let client = factory
            .create_lookup(table, &self.spec.projection, &keys)
            .map_err(|e| self.table_error(e))?;
        self.keyed = client.map(|client| Keyed {
            client,
            cache: self.spec.partial_cache.clone().map(|c| {
                let cap = std::num::NonZeroUsize::new(c.max_rows.max(1) as usize)
                    .unwrap_or(std::num::NonZeroUsize::MIN);
                (c, LruCache::new(cap))
            }),
        });
        Ok(())
    }

    /// The rows of the distinct keys `keys` has (with the positions of their rows), from the
    /// partial cache or looked up; `key_cols` are the input's key columns.
    fn lookup(
        &mut self,
        keys: &[Option<Box<[u8]>>],
        key_cols: &[ArrayRef],
    ) -> Result<Dim, TaskError> {
        let dim = self.spec.dim.to_arrow();
        let keyed = self.keyed.as_mut().expect("a keyed lookup");
        let now = Instant::now();
        let mut found: HashMap<Box<[u8]>, RecordBatch> = HashMap::new();
        let mut missing: Vec<(Box<[u8]>, u32)> = Vec::new();
        let mut seen: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
        for (i, k) in keys.iter().enumerate() {
            let Some(k) = k else { continue };
            if !seen.insert(k.as_ref()) {
                continue;
            }
            let hit = keyed.cache.as_mut().and_then(|(c, lru)| {
                let live = lru.peek(k).is_some_and(|e| {
                    (c.expire_after_write_ms == 0
                        || now.duration_since(e.written).as_millis()
                            < c.expire_after_write_ms as u128)
                        && (c.expire_after_access_ms == 0
                            || now.duration_since(e.accessed).as_millis()
                                < c.expire_after_access_ms as u128)
                });
                if !live {
                    lru.pop(k);
                    return None;
                }
                let e = lru.get_mut(k)?;
                e.accessed = now;
                Some(e.rows.clone())
            });
            match hit {
                Some(rows) => {
                    found.insert(k.clone(), rows);
                }
                None => missing.push((k.clone(), i as u32)),
            }
        }
        if !missing.is_empty() {
            let idx = UInt32Array::from_iter_values(missing.iter().map(|(_, i)| *i));
            let cols = key_cols
                .iter()
                .map(|c| take(c.as_ref(), &idx, None))
                .collect::<Result<Vec<_>, _>>()?;
            let key_batch = RecordBatch::try_new_with_options(
                Arc::new(datafusion::arrow::datatypes::Schema::new(
                    cols.iter()
                        .enumerate()
                        .map(|(j, c)| {
                            datafusion::arrow::datatypes::Field::new(
                                format!("k{j}"),
                                c.data_type().clone(),
                                true,
                            )
                        })
                        .collect::<Vec<_>>(),
                )),
                cols,
                &datafusion::arrow::array::RecordBatchOptions::new()
                    .with_row_count(Some(missing.len())),
            )?;
            let (rows, positions) = keyed.client.lookup(&key_batch).map_err(|e| {
                TaskError::Operator(format!("lookup table '{}': {e}", self.spec.table.name))
            })?;
            let rows = super::conform(&dim, rows.columns().to_vec(), rows.num_rows())?;
            let mut of_key: Vec<Vec<u32>> = vec![Vec::new(); missing.len()];
            for (r, p) in positions.iter().enumerate() {
                if let Some(v) = of_key.get_mut(*p as usize) {
                    v.push(r as u32);
                }
            }
            for ((k, _), rs) in missing.into_iter().zip(of_key) {
                let mine = RecordBatch::try_new(
                    dim.clone(),
                    rows.columns()
                        .iter()
                        .map(|c| take(c.as_ref(), &UInt32Array::from(rs.clone()), None))
                        .collect::<Result<Vec<_>, _>>()?,
                )?;
                if let Some((c, lru)) = keyed.cache.as_mut() {
                    if mine.num_rows() > 0 || c.cache_missing_key {
                        lru.put(
                            k.clone(),
                            Cached {
                                rows: mine.clone(),
                                written: now,
                                accessed: now,
                            },
                        );
                    }
                }
                found.insert(k, mine);
            }
        }
        assemble(found, dim)
    }

    /// Key bytes of each row of `cols` (None where a key column is NULL: it matches nothing).
    fn row_keys(&self, cols: Vec<ArrayRef>) -> Result<Vec<Option<Box<[u8]>>>, TaskError> {
        row_keys(&self.keys, cols)
    }

    /// Reads the whole table the first time (the task waits for it, as Flink's first load),
    /// and again in the background when its reload is due: until the new rows are read the
    /// old ones serve, then they take their place at the next batch (Flink's full cache). A
    /// reload that fails fails the task.
    fn refresh(&mut self) -> Result<(), TaskError> {
        if let Some(rx) = &self.reloading {
            let loaded = match rx.try_recv() {
                Ok(loaded) => loaded,
                Err(std::sync::mpsc::TryRecvError::Empty) => return Ok(()),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    Err(TaskError::Operator("the reload thread stopped".into()))
                }
            };
            self.reloading = None;
            let (dim, started_ms) = loaded.map_err(|e| {
                TaskError::Operator(format!(
                    "lookup table '{}': reloading it failed: {e}",
                    self.spec.table.name
                ))
            })?;
            let due = self.cache.as_ref().map(|c| c.reload_at_ms);
            self.install(dim, started_ms, due);
            return Ok(());
        }
        let started_ms = now_ms();
        match &self.cache {
            None => {
                let dim = read_whole(&self.spec, &self.registry)?;
                self.install(dim, started_ms, None);
            }
            Some(c) if started_ms < c.reload_at_ms => {}
            Some(_) => {
                let (tx, rx) = std::sync::mpsc::sync_channel(1);
                let (spec, registry) = (self.spec.clone(), self.registry.clone());
                std::thread::Builder::new()
                    .name(format!("reload-{}", spec.table.name))
                    .spawn(move || {
                        let _ = tx.send(read_whole(&spec, &registry).map(|d| (d, started_ms)));
                    })
                    .map_err(|e| {
                        TaskError::Operator(format!("cannot start a reload thread: {e}"))
                    })?;
                self.reloading = Some(rx);
            }
        }
        Ok(())
    }

    /// Serves `dim`, read from `started_ms` on, until its next reload (`last_due`: when the
    /// reload that read it was due).
    fn install(&mut self, (rows, by_key): Dim, started_ms: i64, last_due: Option<i64>) {
        let reload = self.spec.full_cache.unwrap_or(FullCacheReload::Periodic {
            interval_ms: self.spec.cache_ttl_ms.max(0) as u64,
            fixed_rate: false,
        });
        let reload_at_ms = reload.next_reload(started_ms, now_ms(), last_due);
        tracing::info!(
            "lookup table '{}' read: {} rows, {} keys; read again at {reload_at_ms} ms ({})",
            self.spec.table.name,
            rows.num_rows(),
            by_key.len(),
            reload.describe()
        );
        self.cache = Some(Cache {
            rows,
            by_key,
            reload_at_ms,
        });
    }

    fn process(&mut self, batch: &RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        self.start()?;
        let key_cols: Vec<ArrayRef> = self
            .spec
            .input_keys
            .iter()
            .map(|k| batch.column(*k).clone())
            .collect();
        let keys = self.row_keys(key_cols.clone())?;
        if self.keyed.is_some() {
            let (rows, by_key) = self.lookup(&keys, &key_cols)?;
            return self.join(batch, &keys, &rows, &by_key, out);
        }
        self.refresh()?;
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        self.join(batch, &keys, &cache.rows, &cache.by_key, out)
    }

    /// Joins the rows of `batch` (their `keys`) with the table's `rows` of their keys
    /// (`by_key`: their positions).
    fn join(
        &self,
        batch: &RecordBatch,
        keys: &[Option<Box<[u8]>>],
        rows: &RecordBatch,
        by_key: &HashMap<Box<[u8]>, Vec<u32>>,
        out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        // candidate pairs: (input row, table row)
        let (mut left, mut right): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
        for (i, k) in keys.iter().enumerate() {
            if let Some(rows) = k.as_ref().and_then(|k| by_key.get(k)) {
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
            for c in rows.columns() {
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

/// The rows `found` per key as one batch, with each key's positions in it.
fn assemble(found: HashMap<Box<[u8]>, RecordBatch>, dim: SchemaRef) -> Result<Dim, TaskError> {
    let mut by_key: HashMap<Box<[u8]>, Vec<u32>> = HashMap::with_capacity(found.len());
    let mut parts = Vec::with_capacity(found.len());
    let mut at = 0u32;
    for (k, b) in found {
        let n = b.num_rows() as u32;
        if n > 0 {
            by_key.insert(k, (at..at + n).collect());
            parts.push(b);
            at += n;
        }
    }
    let rows = if parts.is_empty() {
        RecordBatch::new_empty(dim)
    } else {
        concat_batches(&dim, &parts)?
    };
    Ok((rows, by_key))
}

impl Operator for LookupJoinOperator {
    fn name(&self) -> &str {
        "LookupJoin"
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        self.process(&batch, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::{ConnectorError, ConnectorFactory, SinkWriter, SourceReader};
    use crate::operators::testkit::{col, Collect};
    use datafusion::arrow::array::{AsArray, Int64Array};
    use datafusion::arrow::datatypes::Int64Type;
    use std::sync::Mutex;
    use strom_plan::{RowSchema, SqlType, TableSpec};

    /// A table of rows (k, 10 k) for even k, looked up by key; records the keys of each call.
    struct Fake(Arc<Mutex<Vec<Vec<i64>>>>);

    struct FakeClient(Arc<Mutex<Vec<Vec<i64>>>>);

    impl LookupClient for FakeClient {
        fn lookup(
            &mut self,
            keys: &RecordBatch,
        ) -> Result<(RecordBatch, Vec<u32>), ConnectorError> {
            let k = keys.column(0).as_primitive::<Int64Type>();
            let asked: Vec<i64> = k.values().to_vec();
            self.0.lock().unwrap().push(asked.clone());
            let hits: Vec<(u32, i64)> = asked
                .iter()
                .enumerate()
                .filter(|(_, k)| *k % 2 == 0)
                .map(|(i, k)| (i as u32, *k))
                .collect();
            let rows = RecordBatch::try_new(
                dim().to_arrow(),
                vec![
                    Arc::new(Int64Array::from_iter_values(hits.iter().map(|h| h.1))),
                    Arc::new(Int64Array::from_iter_values(hits.iter().map(|h| h.1 * 10))),
                ],
            )
            .unwrap();
            Ok((rows, hits.iter().map(|h| h.0).collect()))
        }
    }

    impl ConnectorFactory for Fake {
        fn name(&self) -> &'static str {
            "fake"
        }
        fn validate(&self, _: &TableSpec, _: bool) -> Result<(), ConnectorError> {
            Ok(())
        }
        fn create_reader(
            &self,
            _: &TableSpec,
            _: &[usize],
            _: SubtaskInfo,
            _: usize,
        ) -> Result<Box<dyn SourceReader>, ConnectorError> {
            // a scan of the whole table: recorded as a call without keys
            self.0.lock().unwrap().push(Vec::new());
            let k: Vec<i64> = (0..20).step_by(2).collect();
            let rows = RecordBatch::try_new(
                dim().to_arrow(),
                vec![
                    Arc::new(Int64Array::from(k.clone())),
                    Arc::new(Int64Array::from_iter_values(k.iter().map(|k| k * 10))),
                ],
            )
            .unwrap();
            Ok(Box::new(crate::operators::testkit::Batches(vec![rows])))
        }
        fn create_lookup(
            &self,
            _: &TableSpec,
            _: &[usize],
            _: &[usize],
        ) -> Result<Option<Box<dyn LookupClient>>, ConnectorError> {
            Ok(Some(Box::new(FakeClient(self.0.clone()))))
        }
        fn create_writer(
            &self,
            _: &TableSpec,
            _: SubtaskInfo,
        ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
            Err(ConnectorError::Other("no".into()))
        }
    }

    fn dim() -> RowSchema {
        RowSchema::new(vec![col("k", SqlType::BigInt), col("v", SqlType::BigInt)])
    }

    fn spec(cache: Option<LookupCache>) -> LookupJoinSpec {
        let input = RowSchema::new(vec![col("id", SqlType::BigInt)]);
        let mut output = input.columns.clone();
        output.extend(dim().columns);
        LookupJoinSpec {
            input,
            table: TableSpec {
                name: "d".into(),
                schema: dim(),
                options: [("connector".to_string(), "fake".to_string())].into(),
                watermark: None,
                primary_key: vec![],
                partition_keys: vec![],
            },
            projection: vec![0, 1],
            dim: dim(),
            join_type: JoinType::Inner,
            input_keys: vec![0],
            dim_keys: vec![0],
            filter: None,
            cache_ttl_ms: 0,
            partial_cache: cache,
            full_cache: None,
            output: RowSchema::new(output),
        }
    }

    /// Runs batches of ids; returns the keys of each lookup call and the joined (id, v).
    fn run(cache: Option<LookupCache>, batches: &[&[i64]]) -> (Vec<Vec<i64>>, Vec<(i64, i64)>) {
        run_spec(spec(cache), batches)
    }

    fn run_spec(s: LookupJoinSpec, batches: &[&[i64]]) -> (Vec<Vec<i64>>, Vec<(i64, i64)>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let mut registry = ConnectorRegistry::new();
        registry.register(Arc::new(Fake(calls.clone())));
        let mut op = LookupJoinOperator::new(&s, &registry).unwrap();
        let mut out = Collect(vec![]);
        for b in batches {
            let batch = RecordBatch::try_new(
                s.input.to_arrow(),
                vec![Arc::new(Int64Array::from(b.to_vec()))],
            )
            .unwrap();
            op.process_batch(batch, &mut out).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(3));
        }
        let joined = out
            .0
            .iter()
            .flat_map(|b| {
                let id = b.column(0).as_primitive::<Int64Type>().clone();
                let v = b.column(2).as_primitive::<Int64Type>().clone();
                (0..b.num_rows()).map(move |i| (id.value(i), v.value(i)))
            })
            .collect();
        let calls = calls.lock().unwrap().clone();
        (calls, joined)
    }

    fn sorted(mut calls: Vec<Vec<i64>>) -> Vec<Vec<i64>> {
        calls.iter_mut().for_each(|c| c.sort());
        calls
    }

    /// `lookup.cache` = `FULL`: the table is scanned, not looked up by key, and scanned again
    /// when its reload is due.
    #[test]
    fn the_full_cache_scans_the_table_and_reloads_on_schedule() {
        let steps: &[&[i64]] = &[&[2, 2, 3], &[2, 3], &[4, 6], &[2]];
        let full = |interval_ms| LookupJoinSpec {
            full_cache: Some(FullCacheReload::Periodic {
                interval_ms,
                fixed_rate: false,
            }),
            ..spec(None)
        };
        let (calls, joined) = run_spec(full(3_600_000), steps);
        assert_eq!(calls, vec![Vec::<i64>::new()]);
        assert_eq!(
            joined,
            vec![(2, 20), (2, 20), (2, 20), (4, 40), (6, 60), (2, 20)]
        );
        // due again at every batch (each 3 ms after the one before): read again in the
        // background while the rows read before serve
        let (calls, joined2) = run_spec(full(1), steps);
        assert!(calls.len() > 1 && calls.len() <= steps.len(), "{calls:?}");
        assert!(calls.iter().all(Vec::is_empty));
        assert_eq!(joined2, joined);
    }

    #[test]
    fn the_partial_cache_keeps_the_last_keys_and_expires_them() {
        let cache = |max_rows, write, missing| LookupCache {
            max_rows,
            expire_after_write_ms: write,
            expire_after_access_ms: 0,
            cache_missing_key: missing,
        };
        let steps: &[&[i64]] = &[&[2, 2, 3], &[2, 3], &[4, 6], &[2]];
        // no cache: every batch's distinct keys
        let (calls, joined) = run(None, steps);
        assert_eq!(
            sorted(calls),
            vec![vec![2, 3], vec![2, 3], vec![4, 6], vec![2]]
        );
        assert_eq!(
            joined,
            vec![(2, 20), (2, 20), (2, 20), (4, 40), (6, 60), (2, 20)]
        );
        // two keys, missing keys not cached: 2 is a hit once, then evicted by 4 and 6
        let (calls, _) = run(Some(cache(2, 0, false)), steps);
        assert_eq!(
            sorted(calls),
            vec![vec![2, 3], vec![3], vec![4, 6], vec![2]]
        );
        // missing keys cached
        let (calls, _) = run(Some(cache(10, 0, true)), steps);
        assert_eq!(sorted(calls), vec![vec![2, 3], vec![4, 6]]);
        // every key expires 1 ms after it was looked up (the batches are 3 ms apart)
        let (calls, _) = run(Some(cache(10, 1, true)), steps);
        assert_eq!(
            sorted(calls),
            vec![vec![2, 3], vec![2, 3], vec![4, 6], vec![2]]
        );
    }
}
