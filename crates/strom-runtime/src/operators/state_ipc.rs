//! Operator state snapshots as Arrow IPC streams (checkpoints).
//!
//! A stateful operator writes its state as one IPC stream: the schema carries the format
//! (`strom.state`) and the operator's watermark (`strom.watermark`) in its metadata, the batches
//! hold the state's entries with their key columns, so that a restore at another parallelism
//! can hash the key columns exactly as the hash exchange in front of the operator does
//! ([`crate::key_groups::hash_keys`]) and keep the entries whose key group it owns.

use crate::error::TaskError;
use crate::key_groups::hash_keys;
use crate::operator::RestoreScope;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use datafusion::arrow::array::{ArrayRef, BooleanArray};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use std::collections::HashMap;
use std::sync::Arc;

/// Schema metadata key: the state format (operator kind and version).
pub const FORMAT_KEY: &str = "strom.state";
/// Schema metadata key: the operator's watermark when the snapshot was taken.
pub const WATERMARK_KEY: &str = "strom.watermark";

/// The Arrow fields of a row schema: the columns a snapshot of rows of that schema starts with.
pub fn fields_of(schema: &strom_plan::RowSchema) -> Vec<Field> {
    schema
        .to_arrow()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect()
}

/// A snapshot of whole rows (Arrow row-format bytes of `converter`) as one IPC stream of
/// `schema`.
pub fn write_rows<'a>(
    schema: &SchemaRef,
    converter: &datafusion::arrow::row::RowConverter,
    rows: impl Iterator<Item = datafusion::arrow::row::Row<'a>>,
) -> Result<Vec<u8>, TaskError> {
    let rows: Vec<_> = rows.collect();
    let batches = if rows.is_empty() {
        vec![]
    } else {
        let n = rows.len();
        let cols = converter.convert_rows(rows)?;
        vec![batch(schema, cols, n)?]
    };
    write(schema, &batches)
}

/// `fields` (all made nullable) with the format and watermark as metadata.
pub fn schema(fields: Vec<Field>, format: &str, watermark: i64) -> SchemaRef {
    let fields: Vec<Field> = fields.into_iter().map(|f| f.with_nullable(true)).collect();
    let metadata = HashMap::from([
        (FORMAT_KEY.to_string(), format.to_string()),
        (WATERMARK_KEY.to_string(), watermark.to_string()),
    ]);
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

/// `schema` with every field nullable (restored rows may hold NULLs a planned schema does not
/// expect: [`super::conform`] relaxes nullability the same way).
pub fn nullable(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ))
}

/// A batch of `schema` (from [`schema`]) from `columns`, cast to the schema's types.
pub fn batch(
    schema: &SchemaRef,
    columns: Vec<ArrayRef>,
    rows: usize,
) -> Result<RecordBatch, TaskError> {
    if columns.len() != schema.fields().len() {
        return Err(TaskError::Operator(format!(
            "state batch with {} columns for a schema of {}",
            columns.len(),
            schema.fields().len()
        )));
    }
    let columns = columns
        .into_iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c)
            } else {
                cast(&c, f.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let opts = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &opts,
    )?)
}

/// Writes `batches` (all of `schema`) as one IPC stream.
pub fn write(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, TaskError> {
    let mut w = StreamWriter::try_new(Vec::new(), schema)?;
    for b in batches {
        w.write(b)?;
    }
    w.finish()?;
    Ok(w.into_inner()?)
}

/// A snapshot read back: its watermark and batches.
pub struct Snapshot {
    pub watermark: i64,
    pub batches: Vec<RecordBatch>,
}

/// Reads a snapshot written with format `format`; every batch is cast to `expected`'s types
/// (the column count must match).
pub fn read(bytes: &[u8], format: &str, expected: &SchemaRef) -> Result<Snapshot, TaskError> {
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| TaskError::Operator(format!("unreadable operator state: {e}")))?;
    let schema = reader.schema();
    let meta = schema.metadata();
    match meta.get(FORMAT_KEY) {
        Some(f) if f == format => {}
        other => {
            return Err(TaskError::Operator(format!(
                "operator state of format {other:?}, expected '{format}': was the query changed?"
            )))
        }
    }
    let watermark = meta
        .get(WATERMARK_KEY)
        .and_then(|w| w.parse::<i64>().ok())
        .ok_or_else(|| TaskError::Operator("operator state without a watermark".into()))?;
    if schema.fields().len() != expected.fields().len() {
        return Err(TaskError::Operator(format!(
            "operator state with {} columns, expected {}: was the query changed?",
            schema.fields().len(),
            expected.fields().len()
        )));
    }
    for (i, (got, want)) in schema.fields().iter().zip(expected.fields()).enumerate() {
        if got.data_type() != want.data_type() {
            return Err(TaskError::Operator(format!(
                "operator state column {i} ('{}') is {}, expected {} ('{}'): was the query changed?",
                got.name(),
                got.data_type(),
                want.data_type(),
                want.name()
            )));
        }
    }
    let mut batches = Vec::new();
    for b in reader {
        let b = b?;
        let rows = b.num_rows();
        batches.push(batch(expected, b.columns().to_vec(), rows)?);
    }
    Ok(Snapshot { watermark, batches })
}

/// The rows of `batch` whose key (`keys`: column indices, in the order the hash exchange
/// hashes them) this subtask owns.
pub fn owned(
    batch: &RecordBatch,
    keys: &[usize],
    scope: &RestoreScope,
) -> Result<RecordBatch, TaskError> {
    let cols: Vec<ArrayRef> = keys.iter().map(|k| batch.column(*k).clone()).collect();
    let mut hashes = Vec::new();
    hash_keys(&cols, batch.num_rows(), &mut hashes)?;
    if hashes.iter().all(|h| scope.owns(*h)) {
        return Ok(batch.clone());
    }
    let mask: BooleanArray = hashes.iter().map(|h| Some(scope.owns(*h))).collect();
    Ok(filter_record_batch(batch, &mask)?)
}

/// Reads snapshots `states` (of format `format` and schema `expected`) and hands `take` each
/// non-empty batch of the rows whose key (`keys`: column indices, as the hash exchange hashes
/// them) this subtask owns, in the order written.
pub fn restore_owned(
    states: &[Vec<u8>],
    (format, expected): (&str, &SchemaRef),
    keys: &[usize],
    scope: &RestoreScope,
    mut take: impl FnMut(RecordBatch) -> Result<(), TaskError>,
) -> Result<(), TaskError> {
    for bytes in states {
        for b in read(bytes, format, expected)?.batches {
            let b = owned(&b, keys, scope)?;
            if b.num_rows() > 0 {
                take(b)?;
            }
        }
    }
    Ok(())
}

/// Several byte strings as one (length-prefixed), e.g. one IPC stream per input of a join.
pub fn concat_sections(sections: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sections.iter().map(|s| s.len() + 8).sum());
    for s in sections {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s);
    }
    out
}

/// The sections of [`concat_sections`].
pub fn split_sections(mut bytes: &[u8]) -> Result<Vec<&[u8]>, TaskError> {
    let bad = || TaskError::Operator("corrupt operator state (sections)".into());
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len: [u8; 8] = bytes.get(..8).ok_or_else(bad)?.try_into().expect("8 bytes");
        let len = usize::try_from(u64::from_le_bytes(len)).map_err(|_| bad())?;
        let rest = &bytes[8..];
        out.push(rest.get(..len).ok_or_else(bad)?);
        bytes = &rest[len..];
    }
    Ok(out)
}

/// Tests: splits `batch` among `p` subtasks as a hash exchange on `keys` does.
#[cfg(test)]
pub fn route(batch: &RecordBatch, keys: &[usize], p: u32, max: u32) -> Vec<RecordBatch> {
    use crate::key_groups::{key_group, subtask_for_key_group};
    let cols: Vec<ArrayRef> = keys.iter().map(|k| batch.column(*k).clone()).collect();
    let mut hashes = Vec::new();
    hash_keys(&cols, batch.num_rows(), &mut hashes).unwrap();
    (0..p)
        .map(|s| {
            let mask: BooleanArray = hashes
                .iter()
                .map(|h| Some(subtask_for_key_group(key_group(*h, max), max, p) == s))
                .collect();
            filter_record_batch(batch, &mask).unwrap()
        })
        .collect()
}

/// Tests: checkpoints `ops` (the subtasks of the previous run) and replaces them by `p2`
/// subtasks made by `new` and restored from those snapshots; returns the rows the old subtasks
/// dropped as late.
#[cfg(test)]
pub fn rescale<O: crate::operator::Operator>(
    ops: &mut Vec<O>,
    p2: u32,
    max: u32,
    new: impl Fn() -> O,
) -> u64 {
    use crate::operator::RestoreScope;
    let snaps: Vec<Vec<u8>> = ops
        .iter_mut()
        .map(|o| {
            o.snapshot_state(3)
                .unwrap()
                .expect("the operator has state")
        })
        .collect();
    let late = ops.iter().map(|o| o.late_records_dropped()).sum();
    *ops = (0..p2)
        .map(|s| {
            let mut o = new();
            o.restore_state(&snaps, &RestoreScope::new(s, p2, max))
                .unwrap();
            o
        })
        .collect();
    late
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_round_trip() {
        let parts = vec![b"abc".to_vec(), vec![], vec![7; 300]];
        let bytes = concat_sections(&parts);
        let back: Vec<Vec<u8>> = split_sections(&bytes)
            .unwrap()
            .into_iter()
            .map(|s| s.to_vec())
            .collect();
        assert_eq!(back, parts);
        assert!(split_sections(&bytes[..bytes.len() - 1]).is_err());
    }
}
