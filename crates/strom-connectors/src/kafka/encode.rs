//! Rows to Kafka messages, for the sinks ([`super::sink`], [`super::transactional`]): no key
//! and the row as the value (a JSON object, a CSV line without a line break, the raw string,
//! NULL as a message without a value, or with `debezium-json` a Debezium envelope of a
//! changelog row); for upsert-kafka the key is the primary key as a JSON object, +I/+U write
//! the row, -D a tombstone, -U nothing.

use super::options::{KafkaFormat, KafkaOptions};
use crate::format::{write_json_string, ColumnText, Style};
use arrow::array::{Array, RecordBatch};
use strom_plan::{RowKind, TableSpec};
use strom_runtime::connector::split_changelog;
use strom_runtime::ConnectorError;

/// Encodes the rows of one table's batches as messages.
pub struct RowEncoder {
    pub opts: KafkaOptions,
    /// JSON: `"name":` of each column.
    keys: Vec<Vec<u8>>,
    value: Vec<u8>,
    key: Vec<u8>,
}

impl RowEncoder {
    pub fn new(table: &TableSpec, opts: KafkaOptions) -> Self {
        let keys = table
            .schema
            .columns
            .iter()
            .map(|c| {
                let mut k = Vec::new();
                write_json_string(&mut k, c.name.as_bytes());
                k.push(b':');
                k
            })
            .collect();
        Self {
            opts,
            keys,
            value: Vec::with_capacity(1024),
            key: Vec::new(),
        }
    }

    /// Calls `emit(options, key, value)` for the message of each row of `batch` (a changelog batch when
    /// it has the `$op` column); returns the bytes of keys and values.
    pub fn encode(
        &mut self,
        batch: &RecordBatch,
        mut emit: impl FnMut(&KafkaOptions, Option<&[u8]>, Option<&[u8]>) -> Result<(), ConnectorError>,
    ) -> Result<u64, ConnectorError> {
        let (batch, kinds) = split_changelog(batch);
        let batch = &batch;
        let cols = batch
            .columns()
            .iter()
            .map(|a| {
                ColumnText::new(a)
                    .map_err(|e| ConnectorError::Other(format!("cannot format column: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut value = std::mem::take(&mut self.value);
        let mut key = std::mem::take(&mut self.key);
        let mut bytes = 0u64;
        let mut result = Ok(());
        for row in 0..batch.num_rows() {
            let kind = kinds
                .as_ref()
                .and_then(|k| RowKind::from_byte(k.value(row)))
                .unwrap_or(RowKind::Insert);
            if kind == RowKind::UpdateBefore && self.opts.upsert.is_some() {
                // the +U that follows overwrites the key
                continue;
            }
            value.clear();
            let v = self
                .render(batch, &cols, row, kind, &mut value)
                .then_some(&value[..]);
            let k = self.opts.upsert.as_ref().map(|u| {
                key.clear();
                self.json_object(batch, &cols, u.key.iter().copied(), row, &mut key);
                &key[..]
            });
            bytes += v.map_or(0, |v| v.len() as u64) + k.map_or(0, |k| k.len() as u64);
            if let Err(e) = emit(&self.opts, k, v) {
                result = Err(e);
                break;
            }
        }
        self.value = value;
        self.key = key;
        result.map(|()| bytes)
    }

    /// Appends `{"name":value,...}` of the columns `which` of row `row`.
    fn json_object(
        &self,
        batch: &RecordBatch,
        cols: &[ColumnText<'_>],
        which: impl Iterator<Item = usize>,
        row: usize,
        buf: &mut Vec<u8>,
    ) {
        let own_keys = self.keys.len() == cols.len();
        buf.push(b'{');
        for (n, i) in which.enumerate() {
            if n > 0 {
                buf.push(b',');
            }
            if own_keys {
                buf.extend_from_slice(&self.keys[i]);
            } else {
                write_json_string(buf, batch.schema().field(i).name().as_bytes());
                buf.push(b':');
            }
            cols[i].write(row, buf, Style::Json);
        }
        buf.push(b'}');
    }

    /// Appends the message value of row `row` (of kind `kind`) to `buf`; false for no value
    /// (raw NULL, an upsert tombstone).
    pub(crate) fn render(
        &self,
        batch: &RecordBatch,
        cols: &[ColumnText<'_>],
        row: usize,
        kind: RowKind,
        buf: &mut Vec<u8>,
    ) -> bool {
        if let Some(u) = &self.opts.upsert {
            if !kind.is_addition() {
                return false;
            }
            let all = 0..cols.len();
            if u.except_key {
                self.json_object(batch, cols, all.filter(|i| !u.key.contains(i)), row, buf);
            } else {
                self.json_object(batch, cols, all, row, buf);
            }
            return true;
        }
        match self.opts.format {
            KafkaFormat::Raw => {
                if cols.is_empty() || batch.column(0).is_null(row) {
                    return false;
                }
                cols[0].write(row, buf, Style::Print);
            }
            KafkaFormat::Csv => {
                let style = Style::Csv {
                    delimiter: self.opts.delimiter,
                };
                for (i, c) in cols.iter().enumerate() {
                    if i > 0 {
                        buf.push(self.opts.delimiter);
                    }
                    c.write(row, buf, style);
                }
            }
            KafkaFormat::Json => self.json_object(batch, cols, 0..cols.len(), row, buf),
            KafkaFormat::DebeziumJson => {
                let (before, after, op) = if kind.is_addition() {
                    ("null", None, "c")
                } else {
                    ("", Some("null"), "d")
                };
                buf.extend_from_slice(b"{\"before\":");
                if before.is_empty() {
                    self.json_object(batch, cols, 0..cols.len(), row, buf);
                } else {
                    buf.extend_from_slice(before.as_bytes());
                }
                buf.extend_from_slice(b",\"after\":");
                match after {
                    Some(a) => buf.extend_from_slice(a.as_bytes()),
                    None => self.json_object(batch, cols, 0..cols.len(), row, buf),
                }
                buf.extend_from_slice(b",\"op\":\"");
                buf.extend_from_slice(op.as_bytes());
                buf.extend_from_slice(b"\"}");
            }
        }
        true
    }
}
