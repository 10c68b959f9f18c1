//! The filesystem sink of a `PARTITIONED BY (k1, k2)` table, as Flink's: each row goes into the
//! directory of its partition values, `<path>/k1=v1/k2=v2/`, without the partition columns.
//! Each partition is written by its own part-file writer (at least once: [`FileSinkWriter`];
//! exactly once: [`TwoPhaseFileWriter`], whose prepared state is kept per partition).
//!
//! Values are written as their text (`format`), escaped as Flink's `PartitionPathUtils` escapes
//! path names (`:` is `%3A`, ...); NULL is `'partition.default-name'`
//! (`__DEFAULT_PARTITION__`). With `'sink.partition-commit.policy.kind' = 'success-file'`, a
//! partition is committed by an empty `_SUCCESS` file (`'sink.partition-commit.success-file.name'`)
//! when the input ends: Strom commits partitions at the end of the job for now, whatever the
//! trigger (`'sink.partition-commit.trigger'`, `'...delay'`) says.

use super::committer::TwoPhaseFileWriter;
use super::writer::FileSinkWriter;
use super::FsOptions;
use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{cast, take};
use arrow::datatypes::DataType;
use std::collections::BTreeMap;
use std::path::PathBuf;
use strom_plan::{RowSchema, TableSpec};
use strom_runtime::connector::ConnectorCounters;
use strom_runtime::{ConnectorError, SinkWriter, SubtaskInfo};

/// Flink's partition options this sink reads (the others it accepts are listed in
/// [`super::KNOWN_OPTIONS`]).
const DEFAULT_NAME: &str = "__DEFAULT_PARTITION__";

/// Writes a partitioned table's rows, one part-file writer per partition.
pub struct PartitionedWriter {
    /// The table without its partition columns (its path is set per partition).
    data_table: TableSpec,
    opts: FsOptions,
    subtask: SubtaskInfo,
    exactly_once: bool,
    keys: Vec<(String, usize)>,
    data_cols: Vec<usize>,
    default_name: String,
    success_file: Option<String>,
    writers: BTreeMap<String, Box<dyn SinkWriter>>,
}

fn bad(table: &TableSpec, message: String) -> ConnectorError {
    ConnectorError::BadOption {
        table: table.name.clone(),
        message,
    }
}

/// Checks the partition options of a partitioned table; returns the success file's name when
/// the commit policy writes one.
pub fn success_file(table: &TableSpec) -> Result<Option<String>, ConnectorError> {
    let mut success = None;
    if let Some(kinds) = table.option("sink.partition-commit.policy.kind") {
        for kind in kinds.split(',').map(|k| k.trim().to_ascii_lowercase()) {
            match kind.as_str() {
                "success-file" => {
                    success = Some(
                        table
                            .option("sink.partition-commit.success-file.name")
                            .unwrap_or("_SUCCESS")
                            .to_string(),
                    )
                }
                "metastore" | "custom" => {
                    return Err(bad(
                        table,
                        format!("'sink.partition-commit.policy.kind' = '{kind}' is not supported (Strom has no metastore and runs no custom classes); use 'success-file'"),
                    ))
                }
                other => {
                    return Err(bad(
                        table,
                        format!("unknown 'sink.partition-commit.policy.kind' '{other}'; use 'success-file'"),
                    ))
                }
            }
        }
    }
    if let Some(t) = table.option("sink.partition-commit.trigger") {
        if !matches!(t.trim(), "process-time" | "partition-time") {
            return Err(bad(
                table,
                format!("'sink.partition-commit.trigger' = '{t}' must be 'process-time' or 'partition-time'"),
            ));
        }
    }
    Ok(success)
}

/// A partition value as a path name, escaped as Flink's `PartitionPathUtils.escapePathName`.
pub fn escape_path_name(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let escape = c < ' '
            || matches!(
                c,
                '"' | '#'
                    | '%'
                    | '\''
                    | '*'
                    | '/'
                    | ':'
                    | '='
                    | '?'
                    | '\\'
                    | '\u{7F}'
                    | '{'
                    | '['
                    | ']'
                    | '^'
            );
        if escape {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

impl PartitionedWriter {
    pub fn create(
        table: &TableSpec,
        opts: &FsOptions,
        subtask: SubtaskInfo,
        exactly_once: bool,
    ) -> Result<Self, ConnectorError> {
        let success_file = success_file(table)?;
        let mut keys = Vec::new();
        for k in &table.partition_keys {
            let i = table.schema.index_of(k).ok_or_else(|| {
                bad(
                    table,
                    format!("PARTITIONED BY column '{k}' is not a column"),
                )
            })?;
            keys.push((table.schema.columns[i].name.clone(), i));
        }
        let data_cols: Vec<usize> = (0..table.schema.len())
            .filter(|i| !keys.iter().any(|(_, k)| k == i))
            .collect();
        if data_cols.is_empty() {
            return Err(bad(
                table,
                "every column is a partition column: the files would hold nothing".into(),
            ));
        }
        let mut data_table = table.clone();
        data_table.schema = RowSchema::new(
            data_cols
                .iter()
                .map(|i| table.schema.columns[*i].clone())
                .collect(),
        );
        data_table.partition_keys.clear();
        Ok(Self {
            data_table,
            opts: opts.clone(),
            subtask,
            exactly_once,
            keys,
            data_cols,
            default_name: table
                .option("partition.default-name")
                .unwrap_or(DEFAULT_NAME)
                .to_string(),
            success_file,
            writers: BTreeMap::new(),
        })
    }

    /// The writer of partition directory `dir` (relative to the table's path).
    fn writer(&mut self, dir: &str) -> Result<&mut Box<dyn SinkWriter>, ConnectorError> {
        if !self.writers.contains_key(dir) {
            let mut opts = self.opts.clone();
            opts.path = self.opts.path.join(dir);
            let w: Box<dyn SinkWriter> = if self.exactly_once {
                Box::new(TwoPhaseFileWriter::create(
                    &self.data_table,
                    &opts,
                    self.subtask,
                )?)
            } else {
                Box::new(FileSinkWriter::create(
                    &self.data_table,
                    &opts,
                    self.subtask,
                )?)
            };
            self.writers.insert(dir.to_string(), w);
        }
        self.writers
            .get_mut(dir)
            .ok_or_else(|| ConnectorError::Other("a partition writer vanished".into()))
    }

    /// Each row's partition directory.
    fn dirs(&self, batch: &RecordBatch) -> Result<Vec<String>, ConnectorError> {
        let texts: Vec<ArrayRef> = self
            .keys
            .iter()
            .map(|(_, i)| cast(batch.column(*i), &DataType::Utf8))
            .collect::<Result<_, _>>()
            .map_err(|e| ConnectorError::Other(format!("a partition value as text: {e}")))?;
        let texts: Vec<&StringArray> = texts
            .iter()
            .map(|a| {
                a.as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| ConnectorError::Other("a partition value is no text".into()))
            })
            .collect::<Result<_, _>>()?;
        Ok((0..batch.num_rows())
            .map(|r| {
                self.keys
                    .iter()
                    .zip(&texts)
                    .map(|((name, _), t)| {
                        let v = if t.is_null(r) {
                            self.default_name.clone()
                        } else {
                            escape_path_name(t.value(r))
                        };
                        format!("{}={v}", escape_path_name(name))
                    })
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect())
    }
}

/// A per-partition prepared state: `(dir, state)` pairs, length-prefixed.
fn encode(states: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (dir, s) in states {
        out.extend_from_slice(&(dir.len() as u64).to_le_bytes());
        out.extend_from_slice(dir.as_bytes());
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s);
    }
    out
}

fn decode(mut bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ConnectorError> {
    let bad = || ConnectorError::Other("a partitioned sink's checkpoint state is corrupt".into());
    let take_part = |bytes: &mut &[u8]| -> Result<Vec<u8>, ConnectorError> {
        let len: [u8; 8] = bytes
            .get(..8)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?;
        let len = usize::try_from(u64::from_le_bytes(len)).map_err(|_| bad())?;
        let part = bytes.get(8..8 + len).ok_or_else(bad)?.to_vec();
        *bytes = &bytes[8 + len..];
        Ok(part)
    };
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let dir = String::from_utf8(take_part(&mut bytes)?).map_err(|_| bad())?;
        let state = take_part(&mut bytes)?;
        out.push((dir, state));
    }
    Ok(out)
}

impl SinkWriter for PartitionedWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        let dirs = self.dirs(batch)?;
        let mut rows: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for (r, d) in dirs.iter().enumerate() {
            rows.entry(d.as_str()).or_default().push(r as u32);
        }
        let schema = self.data_table.schema.to_arrow();
        for (dir, idx) in rows {
            let idx = UInt32Array::from(idx);
            let cols = self
                .data_cols
                .iter()
                .map(|c| take(batch.column(*c).as_ref(), &idx, None))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ConnectorError::Other(format!("splitting partitions: {e}")))?;
            let part = RecordBatch::try_new(schema.clone(), cols)
                .map_err(|e| ConnectorError::Other(format!("a partition's rows: {e}")))?;
            self.writer(dir)?.write(&part)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        for w in self.writers.values_mut() {
            w.finish()?;
        }
        if let Some(name) = &self.success_file {
            for dir in self.writers.keys() {
                let p: PathBuf = self.opts.path.join(dir).join(name);
                std::fs::write(&p, b"").map_err(|e| {
                    ConnectorError::Io(format!("cannot write '{}': {e}", p.display()))
                })?;
            }
        }
        Ok(())
    }

    fn counters(&self) -> ConnectorCounters {
        let mut c = ConnectorCounters::default();
        for w in self.writers.values() {
            c.bytes += w.counters().bytes;
        }
        c
    }

    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Option<Vec<u8>>, ConnectorError> {
        let mut states = Vec::new();
        for (dir, w) in &mut self.writers {
            if let Some(s) = w.prepare_commit(checkpoint)? {
                states.push((dir.clone(), s));
            }
        }
        Ok(Some(encode(&states)))
    }

    fn commit(&mut self, checkpoint: u64) -> Result<(), ConnectorError> {
        for w in self.writers.values_mut() {
            w.commit(checkpoint)?;
        }
        Ok(())
    }

    fn restore(&mut self, states: &[Vec<u8>]) -> Result<(), ConnectorError> {
        let mut by_dir: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
        for s in states {
            for (dir, state) in decode(s)? {
                by_dir.entry(dir).or_default().push(state);
            }
        }
        for (dir, states) in by_dir {
            self.writer(&dir)?.restore(&states)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_are_escaped_as_flink_escapes_them() {
        assert_eq!(escape_path_name("12:30"), "12%3A30");
        assert_eq!(escape_path_name("a/b=c d"), "a%2Fb%3Dc d");
        assert_eq!(escape_path_name("2024-01-01"), "2024-01-01");
    }

    #[test]
    fn prepared_states_round_trip() {
        let states = vec![("dt=1".to_string(), vec![1, 2, 3]), ("dt=2".into(), vec![])];
        assert_eq!(decode(&encode(&states)).unwrap(), states);
        assert!(decode(&[9, 0, 0]).is_err());
    }
}
