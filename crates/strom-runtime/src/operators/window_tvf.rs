//! Window table functions: TUMBLE, HOP, CUMULATE append `window_start`, `window_end`,
//! `window_time` (= window_end - 1 ms) to each row, one copy per window. SESSION appends the
//! row's own window `[ts, ts + gap)`, which the session window aggregate merges.

use crate::error::TaskError;
use crate::operator::{Operator, Output};
use datafusion::arrow::array::{Array, ArrayRef, TimestampMillisecondArray, UInt32Array};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;
use strom_plan::{WindowSpec, WindowTvfSpec};

pub struct WindowTvfOperator {
    time_column: usize,
    window: WindowSpec,
    output: SchemaRef,
}

impl WindowTvfOperator {
    pub fn new(spec: &WindowTvfSpec) -> Self {
        Self {
            time_column: spec.time_column,
            window: spec.window.clone(),
            output: spec.output.to_arrow(),
        }
    }
}

/// The windows `[start, end)` a timestamp belongs to, appended to `out`.
pub fn assign_windows(window: &WindowSpec, t: i64, out: &mut Vec<(i64, i64)>) {
    match *window {
        WindowSpec::Tumble { size_ms, offset_ms } => {
            let start = t - (t - offset_ms).rem_euclid(size_ms);
            out.push((start, start + size_ms));
        }
        WindowSpec::Hop {
            slide_ms,
            size_ms,
            offset_ms,
        } => {
            let last = t - (t - offset_ms).rem_euclid(slide_ms);
            let mut s = last - size_ms + slide_ms;
            while s <= last {
                out.push((s, s + size_ms));
                s += slide_ms;
            }
        }
        WindowSpec::Cumulate {
            step_ms,
            size_ms,
            offset_ms,
        } => {
            let start = t - (t - offset_ms).rem_euclid(size_ms);
            let mut end = start + step_ms;
            while end <= start + size_ms {
                if end > t {
                    out.push((start, end));
                }
                end += step_ms;
            }
        }
        // the row's own window; the session window aggregate merges overlapping ones
        WindowSpec::Session { gap_ms } => out.push((t, t + gap_ms)),
    }
}

impl Operator for WindowTvfOperator {
    fn name(&self) -> &str {
        "WindowTableFunction"
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        let tcol = batch.column(self.time_column);
        let times = if tcol.data_type() == &DataType::Timestamp(TimeUnit::Millisecond, None) {
            tcol.clone()
        } else {
            cast(tcol, &DataType::Timestamp(TimeUnit::Millisecond, None))?
        };
        let times = times
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .ok_or_else(|| TaskError::Operator("window time column is not a timestamp".into()))?;
        let n = batch.num_rows();
        let mut starts = Vec::with_capacity(n);
        let mut ends = Vec::with_capacity(n);
        let mut indices: Vec<u32> = Vec::with_capacity(n);
        let mut scratch = Vec::with_capacity(4);
        let tumble = matches!(
            self.window,
            WindowSpec::Tumble { .. } | WindowSpec::Session { .. }
        );
        for i in 0..n {
            if times.is_null(i) {
                continue; // rows without event time belong to no window (as in Flink)
            }
            scratch.clear();
            assign_windows(&self.window, times.value(i), &mut scratch);
            for (s, e) in &scratch {
                starts.push(*s);
                ends.push(*e);
                indices.push(i as u32);
            }
        }
        let base: Vec<ArrayRef> = if tumble && indices.len() == n {
            batch.columns().to_vec()
        } else {
            let idx = UInt32Array::from(indices);
            batch
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &idx, None))
                .collect::<Result<_, _>>()?
        };
        let wtime: Vec<i64> = ends.iter().map(|e| e - 1).collect();
        let mut columns = base;
        columns.push(Arc::new(TimestampMillisecondArray::from(starts)));
        columns.push(Arc::new(TimestampMillisecondArray::from(ends)));
        columns.push(Arc::new(TimestampMillisecondArray::from(wtime)));
        let schema = if batch
            .schema()
            .fields()
            .iter()
            .zip(self.output.fields())
            .all(|(a, b)| a.is_nullable() == b.is_nullable())
        {
            self.output.clone()
        } else {
            let mut fields: Vec<_> = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.extend(
                self.output
                    .fields()
                    .iter()
                    .skip(fields.len())
                    .map(|f| f.as_ref().clone()),
            );
            Arc::new(datafusion::arrow::datatypes::Schema::new(fields))
        };
        out.emit(RecordBatch::try_new(schema, columns)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        let mut v = vec![];
        assign_windows(
            &WindowSpec::Tumble {
                size_ms: 10_000,
                offset_ms: 0,
            },
            12_345,
            &mut v,
        );
        assert_eq!(v, vec![(10_000, 20_000)]);
        v.clear();
        assign_windows(
            &WindowSpec::Tumble {
                size_ms: 10_000,
                offset_ms: 0,
            },
            -1,
            &mut v,
        );
        assert_eq!(v, vec![(-10_000, 0)]);
        v.clear();
        assign_windows(
            &WindowSpec::Hop {
                slide_ms: 5,
                size_ms: 10,
                offset_ms: 0,
            },
            12,
            &mut v,
        );
        assert_eq!(v, vec![(5, 15), (10, 20)]);
        v.clear();
        assign_windows(
            &WindowSpec::Cumulate {
                step_ms: 5,
                size_ms: 15,
                offset_ms: 0,
            },
            16,
            &mut v,
        );
        assert_eq!(v, vec![(15, 20), (15, 25), (15, 30)]);
    }
}
