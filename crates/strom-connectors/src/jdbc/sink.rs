//! The jdbc sink (Flink's `JdbcDynamicTableSink` for PostgreSQL): rows are buffered and written
//! in one statement per flush, every `sink.buffer-flush.max-rows` rows (default 100),
//! `sink.buffer-flush.interval` (default 1 s, checked as rows come), at each checkpoint and at
//! the end of input; a failed flush is retried `sink.max-retries` times (default 3) on a new
//! connection. At least once, as Flink's.
//!
//! - Without a primary key: append-only, `INSERT`.
//! - With `PRIMARY KEY (...) NOT ENFORCED`: upserts, so it takes a changelog: `+I` / `+U` are
//!   `INSERT ... ON CONFLICT (key) DO UPDATE`, `-D` is `DELETE` by key, `-U` is skipped (its
//!   `+U` follows). A rewrite after a failure is idempotent. The table needs a unique index on
//!   the key (PostgreSQL's `ON CONFLICT` requires one).
//!
//! Values travel as text arrays (`unnest($1::text[])`) cast to the columns' SQL types, so one
//! statement writes a whole flush.

use super::{bad, pg_type, quote, Connection, Target};
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use std::time::{Duration, Instant};
use strom_plan::{RowKind, TableSpec};
use strom_runtime::connector::split_changelog;
use strom_runtime::{ConnectorError, SinkWriter};

/// One buffered change: upsert (or insert) or delete, and the row's values as text.
type Change = (bool, Vec<Option<String>>);

pub(super) struct JdbcWriter {
    table: TableSpec,
    target: Target,
    connection: Option<Connection>,
    /// The statement that writes a flush's rows (`$i`: column i's values), and the one that
    /// deletes by key (upsert mode).
    insert: String,
    delete: Option<String>,
    /// Positions of the key columns (upsert mode).
    key: Vec<usize>,
    buffer: Vec<Change>,
    max_rows: usize,
    interval: Duration,
    max_retries: u32,
    last_flush: Instant,
    rows: u64,
}

fn option<T: std::str::FromStr>(
    table: &TableSpec,
    key: &str,
    default: T,
) -> Result<T, ConnectorError> {
    match table.option(key) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| bad(table, format!("'{key}' = '{v}' is not a number"))),
    }
}

impl JdbcWriter {
    pub(super) fn new(table: &TableSpec) -> Result<Self, ConnectorError> {
        let target = Target::of(table)?;
        let cols = &table.schema.columns;
        let mut types = Vec::with_capacity(cols.len());
        for c in cols {
            types.push(pg_type(&c.ty).map_err(|e| bad(table, e))?);
        }
        let names: Vec<String> = cols.iter().map(|c| quote(&c.name)).collect();
        let arrays: Vec<String> = types
            .iter()
            .enumerate()
            .map(|(i, t)| format!("${}::text[]::{t}[]", i + 1))
            .collect();
        let mut key = Vec::new();
        for k in &table.primary_key {
            key.push(cols.iter().position(|c| &c.name == k).ok_or_else(|| {
                bad(
                    table,
                    format!("the primary key column '{k}' is not a column"),
                )
            })?);
        }
        let mut insert = format!(
            "INSERT INTO {} ({}) SELECT * FROM unnest({})",
            target.table,
            names.join(", "),
            arrays.join(", ")
        );
        let delete = if key.is_empty() {
            None
        } else {
            let keys: Vec<&str> = key.iter().map(|k| names[*k].as_str()).collect();
            let rest: Vec<String> = (0..cols.len())
                .filter(|i| !key.contains(i))
                .map(|i| format!("{} = EXCLUDED.{}", names[i], names[i]))
                .collect();
            insert += &format!(" ON CONFLICT ({}) DO ", keys.join(", "));
            insert += &if rest.is_empty() {
                "NOTHING".to_string()
            } else {
                format!("UPDATE SET {}", rest.join(", "))
            };
            let key_arrays: Vec<String> = key
                .iter()
                .enumerate()
                .map(|(i, k)| format!("${}::text[]::{}[]", i + 1, types[*k]))
                .collect();
            Some(format!(
                "DELETE FROM {} WHERE ({}) IN (SELECT * FROM unnest({}))",
                target.table,
                keys.join(", "),
                key_arrays.join(", ")
            ))
        };
        let interval = match table.option("sink.buffer-flush.interval") {
            None => Duration::from_secs(1),
            Some(v) => strom_common::config::parse_duration(v).ok_or_else(|| {
                bad(
                    table,
                    format!("'sink.buffer-flush.interval' = '{v}' is not a duration"),
                )
            })?,
        };
        Ok(Self {
            table: table.clone(),
            connection: None,
            insert,
            delete,
            key,
            buffer: Vec::new(),
            max_rows: option(table, "sink.buffer-flush.max-rows", 100usize)?.max(1),
            interval,
            max_retries: option(table, "sink.max-retries", 3u32)?,
            last_flush: Instant::now(),
            rows: 0,
            target,
        })
    }

    /// The columns of `changes` (all of one kind) as text arrays (`only`: these columns).
    fn arrays(
        changes: &[&Change],
        only: Option<&[usize]>,
        width: usize,
    ) -> Vec<Vec<Option<String>>> {
        let cols: Vec<usize> = match only {
            Some(k) => k.to_vec(),
            None => (0..width).collect(),
        };
        cols.iter()
            .map(|c| changes.iter().map(|(_, v)| v[*c].clone()).collect())
            .collect()
    }

    /// Runs `sql` with text-array parameters `params`, reconnecting and retrying on failure.
    fn execute(
        &mut self,
        sql: &str,
        params: Vec<Vec<Option<String>>>,
    ) -> Result<(), ConnectorError> {
        let mut attempt = 0;
        loop {
            if self.connection.is_none() {
                self.connection = Some(self.target.connect(&self.table)?);
            }
            let connection = self.connection.as_ref().expect("connected");
            let (sql_owned, params_owned) = (sql.to_string(), params.clone());
            let result = connection.run(move |c| {
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params_owned
                    .iter()
                    .map(|p| p as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                c.execute(sql_owned.as_str(), &refs).map(|_| Vec::new())
            });
            match result {
                Ok(_) => return Ok(()),
                Err(e) if attempt < self.max_retries => {
                    attempt += 1;
                    tracing::warn!("{e}; retrying ({attempt} of {})", self.max_retries);
                    self.connection = None;
                    std::thread::sleep(Duration::from_millis(100 * u64::from(attempt)));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes the buffered changes, in order: each run of upserts (the last of each key) in one
    /// statement, each run of deletes in another.
    fn flush(&mut self) -> Result<(), ConnectorError> {
        let buffer = std::mem::take(&mut self.buffer);
        let width = self.table.schema.columns.len();
        let mut start = 0;
        while start < buffer.len() {
            let upsert = buffer[start].0;
            let mut end = start;
            while end < buffer.len() && buffer[end].0 == upsert {
                end += 1;
            }
            let run: Vec<&Change> = if self.key.is_empty() {
                buffer[start..end].iter().collect()
            } else {
                // one row per key (PostgreSQL's ON CONFLICT affects a row once per statement)
                let mut last: std::collections::HashMap<Vec<Option<String>>, usize> =
                    std::collections::HashMap::new();
                for (i, (_, v)) in buffer[start..end].iter().enumerate() {
                    last.insert(self.key.iter().map(|k| v[*k].clone()).collect(), i);
                }
                let mut keep: Vec<usize> = last.into_values().collect();
                keep.sort_unstable();
                keep.into_iter().map(|i| &buffer[start + i]).collect()
            };
            let (sql, params) = if upsert {
                (self.insert.clone(), Self::arrays(&run, None, width))
            } else {
                let sql = self.delete.clone().expect("deletes only with a key");
                (sql, Self::arrays(&run, Some(&self.key.clone()), width))
            };
            self.execute(&sql, params)?;
            start = end;
        }
        self.last_flush = Instant::now();
        Ok(())
    }
}

/// The values of `batch`'s rows as text (NULL as `None`).
fn text_rows(batch: &RecordBatch) -> Result<Vec<Vec<Option<String>>>, ConnectorError> {
    let cols: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| cast(c, &DataType::Utf8))
        .collect::<Result<_, _>>()
        .map_err(|e| ConnectorError::Other(format!("a jdbc sink value as text: {e}")))?;
    Ok((0..batch.num_rows())
        .map(|r| {
            cols.iter()
                .map(|c| {
                    let s = c.as_string::<i32>();
                    s.is_valid(r).then(|| s.value(r).to_string())
                })
                .collect()
        })
        .collect())
}

impl SinkWriter for JdbcWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        let (data, kinds) = split_changelog(batch);
        let rows = text_rows(&data)?;
        for (r, values) in rows.into_iter().enumerate() {
            let kind = match &kinds {
                Some(k) => RowKind::from_byte(k.value(r)).ok_or_else(|| {
                    ConnectorError::Other(format!("unknown row kind {}", k.value(r)))
                })?,
                None => RowKind::Insert,
            };
            match kind {
                RowKind::UpdateBefore => continue,
                RowKind::Delete if self.delete.is_none() => {
                    return Err(bad(
                        &self.table,
                        "a jdbc table without a PRIMARY KEY takes inserts only; declare PRIMARY KEY (...) NOT ENFORCED to write an updating result",
                    ))
                }
                RowKind::Delete => self.buffer.push((false, values)),
                _ => self.buffer.push((true, values)),
            }
            self.rows += 1;
        }
        if self.buffer.len() >= self.max_rows || self.last_flush.elapsed() >= self.interval {
            self.flush()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        self.flush()
    }

    /// At a checkpoint the buffer is written (at least once: the rows a restored job writes
    /// again are upserted, or appended twice without a key, as in Flink).
    fn prepare_commit(&mut self, _checkpoint: u64) -> Result<Option<Vec<u8>>, ConnectorError> {
        self.flush()?;
        Ok(None)
    }
}
