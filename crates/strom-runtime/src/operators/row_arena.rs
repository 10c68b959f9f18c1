//! Rows an operator keeps, as Arrow columns: each batch of kept rows is stored as it came (a
//! chunk), a kept row is a [`RowRef`] into it, and the rows of a change list are gathered back
//! into columns with Arrow's `interleave`, without a detour through the row format (decoding
//! strings from the row format was the larger part of a Top-N's time).
//!
//! Rows are never freed one by one: the owner says how many rows it still holds, and once the
//! chunks hold more than twice that (or too many small chunks pile up) it compacts the arena,
//! handing over every live [`RowRef`] to be rewritten. A compaction copies the live rows of the
//! chunks less than half live into one new chunk and keeps the others as they are: a row is
//! copied again only after half the rows beside it have gone, so the copying is linear in the
//! rows added, and the rows that stay for good (a partition never written again) stop being
//! copied once their chunk is dense.

use crate::error::TaskError;
use datafusion::arrow::array::{new_empty_array, Array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::datatypes::SchemaRef;

/// Where a kept row is: its chunk and its index there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowRef {
    chunk: u32,
    row: u32,
}

impl RowRef {
    /// This row's index in its chunk, when that is `other`'s chunk.
    pub fn row_in_chunk_of(self, other: RowRef) -> Option<usize> {
        (self.chunk == other.chunk).then_some(self.row as usize)
    }
}

/// Rows added but not yet compacted away may exceed twice the live ones by this many.
const SLACK_ROWS: usize = 65_536;
/// Chunks may exceed a sixteenth of the live rows by this many.
const SLACK_CHUNKS: usize = 1_024;
/// A chunk of fewer rows is copied at every compaction (so that small chunks do not pile up).
const SMALL_CHUNK: usize = 256;

/// Kept rows of one schema, in chunks.
#[derive(Debug)]
pub struct RowArena {
    schema: SchemaRef,
    /// Rows and chunks allowed beyond the live ones before a compaction is due.
    slack: (usize, usize),
    chunks: Vec<RecordBatch>,
    /// Rows in all chunks, live or not.
    stored: usize,
    /// Per chunk: its place among the arrays of the gather under way (`usize::MAX`: unused).
    scratch: Vec<usize>,
}

impl RowArena {
    pub fn new(schema: SchemaRef) -> Self {
        Self {
            schema,
            slack: (SLACK_ROWS, SLACK_CHUNKS),
            chunks: Vec::new(),
            stored: 0,
            scratch: Vec::new(),
        }
    }

    /// Compacts as soon as anything is not live (tests of the owners' compaction paths).
    #[cfg(test)]
    pub fn eager(mut self) -> Self {
        self.slack = (0, 0);
        self
    }

    /// Stores `batch` (of the arena's columns); returns a function from a row index of `batch`
    /// to its [`RowRef`].
    pub fn add(&mut self, batch: RecordBatch) -> Result<impl Fn(usize) -> RowRef, TaskError> {
        if batch.num_columns() != self.schema.fields().len()
            || u32::try_from(batch.num_rows()).is_err()
        {
            return Err(TaskError::Deployment(format!(
                "kept rows of {} columns, {} rows, where {} columns were expected",
                batch.num_columns(),
                batch.num_rows(),
                self.schema.fields().len()
            )));
        }
        let chunk = u32::try_from(self.chunks.len())
            .map_err(|_| TaskError::Deployment("too many chunks of kept rows".into()))?;
        self.stored += batch.num_rows();
        self.chunks.push(batch);
        self.scratch.push(usize::MAX);
        Ok(move |row: usize| RowRef {
            chunk,
            row: row as u32,
        })
    }

    /// The columns of `rows`, in that order.
    pub fn gather(
        &mut self,
        rows: impl Iterator<Item = RowRef>,
    ) -> Result<Vec<ArrayRef>, TaskError> {
        let mut used: Vec<usize> = Vec::new();
        let mut indices: Vec<(usize, usize)> = Vec::with_capacity(rows.size_hint().0);
        for r in rows {
            let slot = &mut self.scratch[r.chunk as usize];
            if *slot == usize::MAX {
                *slot = used.len();
                used.push(r.chunk as usize);
            }
            indices.push((*slot, r.row as usize));
        }
        for c in &used {
            self.scratch[*c] = usize::MAX;
        }
        if indices.is_empty() {
            return Ok(self
                .schema
                .fields()
                .iter()
                .map(|f| new_empty_array(f.data_type()))
                .collect());
        }
        (0..self.schema.fields().len())
            .map(|col| {
                let arrays: Vec<&dyn Array> = used
                    .iter()
                    .map(|c| self.chunks[*c].column(col).as_ref())
                    .collect();
                Ok(interleave(&arrays, &indices)?)
            })
            .collect()
    }

    /// Whether the arena should be compacted, its owner holding `live` rows.
    pub fn wants_compaction(&self, live: usize) -> bool {
        let (rows, chunks) = self.slack;
        if rows == 0 {
            return self.stored > live || self.chunks.len() > 1;
        }
        self.stored > live.saturating_mul(2).saturating_add(rows)
            || self.chunks.len() > live / 16 + chunks
    }

    /// Keeps only the rows of `live` (every row its owner still holds) and rewrites each of
    /// them to its new place. Only the chunks less than half live (or small ones) are copied,
    /// their live rows into one new chunk; the others stay as they are. So afterwards every
    /// chunk is at least half live, a row is copied again only once half its chunk has gone,
    /// and the copying is read chunk by chunk, not in the owner's (hash) order.
    pub fn compact<'a>(
        &mut self,
        live: impl Iterator<Item = &'a mut RowRef>,
    ) -> Result<(), TaskError> {
        let live: Vec<&mut RowRef> = live.collect();
        let mut count = vec![0usize; self.chunks.len()];
        for r in &live {
            count[r.chunk as usize] += 1;
        }
        let everything = self.slack == (0, 0);
        // per chunk: its index once compacted, or None when it is copied
        let mut next = 0u32;
        let place: Vec<Option<u32>> = self
            .chunks
            .iter()
            .zip(&count)
            .map(|(c, n)| {
                let rows = c.num_rows();
                let copied = everything || n * 2 < rows || rows < SMALL_CHUNK;
                (!copied).then(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect();
        let mut moved: Vec<&mut RowRef> = Vec::new();
        for r in live {
            match place[r.chunk as usize] {
                Some(c) => r.chunk = c,
                None => moved.push(r),
            }
        }
        // read chunk by chunk (sorting the places, not the references into the owner)
        let mut order: Vec<(RowRef, u32)> = moved
            .iter()
            .enumerate()
            .map(|(i, r)| (**r, i as u32))
            .collect();
        order.sort_unstable_by_key(|(r, _)| (r.chunk, r.row));
        let columns = self.gather(order.iter().map(|(r, _)| *r))?;
        let mut chunks: Vec<RecordBatch> = std::mem::take(&mut self.chunks)
            .into_iter()
            .zip(&place)
            .filter_map(|(c, p)| p.map(|_| c))
            .collect();
        if !order.is_empty() {
            let batch = RecordBatch::try_new_with_options(
                columns_schema(&self.schema, &columns),
                columns,
                &datafusion::arrow::array::RecordBatchOptions::new()
                    .with_row_count(Some(order.len())),
            )?;
            for (row, (_, i)) in order.iter().enumerate() {
                *moved[*i as usize] = RowRef {
                    chunk: next,
                    row: row as u32,
                };
            }
            chunks.push(batch);
        }
        self.stored = chunks.iter().map(RecordBatch::num_rows).sum();
        self.scratch = vec![usize::MAX; chunks.len()];
        self.chunks = chunks;
        Ok(())
    }

    /// Rows in all chunks, live or not.
    #[cfg(test)]
    pub fn stored(&self) -> usize {
        self.stored
    }
}

/// `schema`, with every field nullable where a column has NULLs (kept rows come from batches
/// whose nullability the arena does not check).
fn columns_schema(schema: &SchemaRef, columns: &[ArrayRef]) -> SchemaRef {
    let fits = schema
        .fields()
        .iter()
        .zip(columns)
        .all(|(f, c)| f.is_nullable() || c.null_count() == 0);
    if fits {
        schema.clone()
    } else {
        super::state_ipc::nullable(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use proptest::prelude::*;
    use std::sync::Arc;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]))
    }

    fn batch(values: &[i64]) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from_iter_values(values.iter().copied())),
                Arc::new(StringArray::from_iter(
                    values.iter().map(|v| (v % 3 != 0).then(|| format!("s{v}"))),
                )),
            ],
        )
        .unwrap()
    }

    fn values(columns: &[ArrayRef]) -> Vec<(i64, Option<String>)> {
        let n = columns[0].as_primitive::<Int64Type>();
        let s = columns[1].as_string::<i32>();
        (0..n.len())
            .map(|i| (n.value(i), s.is_valid(i).then(|| s.value(i).to_string())))
            .collect()
    }

    proptest! {
        /// Whatever rows are added, kept, dropped and compacted, gathering the kept ones gives
        /// their values, and the arena never stores more than the bound it promises after a
        /// compaction.
        #[test]
        fn gathered_rows_are_the_kept_rows(
            steps in prop::collection::vec(
                (prop::collection::vec(0i64..1000, 0..40), prop::collection::vec(any::<bool>(), 0..40)),
                1..30,
            ),
        ) {
            let mut arena = RowArena::new(schema());
            let mut kept: Vec<(RowRef, i64)> = Vec::new();
            for (added, keep) in steps {
                let at = arena.add(batch(&added)).unwrap();
                for (i, v) in added.iter().enumerate() {
                    kept.push((at(i), *v));
                }
                // drop some of the kept rows (the pattern of `keep`, cycled)
                let mut k = keep.iter().cycle();
                if !keep.is_empty() {
                    kept.retain(|_| *k.next().unwrap());
                }
                let got = values(&arena.gather(kept.iter().rev().map(|(r, _)| *r)).unwrap());
                let want: Vec<(i64, Option<String>)> = kept
                    .iter()
                    .rev()
                    .map(|(_, v)| (*v, (v % 3 != 0).then(|| format!("s{v}"))))
                    .collect();
                prop_assert_eq!(got, want);
                if arena.wants_compaction(kept.len()) || kept.len().is_multiple_of(2) {
                    arena.compact(kept.iter_mut().map(|(r, _)| r)).unwrap();
                    prop_assert!(arena.stored() <= 2 * kept.len());
                    prop_assert!(!arena.wants_compaction(kept.len()));
                }
            }
        }
    }
}
