//! Watermark generation at a source: `WATERMARK FOR ts AS <expr>` evaluated per row.
//!
//! Strom reads batches, but lateness follows per-record semantics (as if the watermark advanced
//! after every row): a batch is cut before each row whose rowtime is at or behind the watermark
//! the rows before it allow, and that watermark is emitted at the cut. Rows ahead of the
//! watermark can never be late for any window (a window containing `t` ends after `t`), so the
//! cuts decide lateness exactly; in-order data is never cut.

use crate::error::TaskError;
use datafusion::arrow::array::{Array, ArrayRef, TimestampMillisecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

/// Where to cut a batch: emit rows `..row`, then the watermark `watermark`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub row: usize,
    pub watermark: i64,
}

fn to_ms(a: ArrayRef) -> Result<ArrayRef, TaskError> {
    let ms = DataType::Timestamp(TimeUnit::Millisecond, None);
    Ok(if a.data_type() == &ms {
        a
    } else {
        cast(&a, &ms)?
    })
}

fn millis(a: &ArrayRef) -> &TimestampMillisecondArray {
    a.as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .expect("cast to timestamp")
}

/// Evaluates the watermark expression on every row of `batch`; `current` is the watermark of the
/// batch's split before it. Returns the cuts and the split's watermark after the batch.
pub fn cuts(
    expr: &dyn PhysicalExpr,
    rowtime: usize,
    batch: &RecordBatch,
    current: i64,
) -> Result<(Vec<Cut>, i64), TaskError> {
    let n = batch.num_rows();
    let wm = expr
        .evaluate(batch)
        .and_then(|v| v.into_array(n))
        .map_err(|e| TaskError::Expr {
            operator: "WatermarkAssigner".into(),
            message: e.to_string(),
        })?;
    let wm = to_ms(wm)?;
    let times = to_ms(batch.column(rowtime).clone())?;
    Ok(cut_rows(millis(&times), millis(&wm), current))
}

/// The cut logic over rowtimes and per-row watermark values.
pub fn cut_rows(
    times: &TimestampMillisecondArray,
    wm: &TimestampMillisecondArray,
    current: i64,
) -> (Vec<Cut>, i64) {
    let mut cuts = Vec::new();
    let mut running = current;
    // the watermark already emitted (at the batch start or at the last cut)
    let mut emitted = current;
    for i in 0..times.len() {
        if times.is_valid(i) && running > emitted && times.value(i) <= running {
            cuts.push(Cut {
                row: i,
                watermark: running,
            });
            emitted = running;
        }
        if wm.is_valid(i) {
            running = running.max(wm.value(i));
        }
    }
    (cuts, running)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(v: &[i64]) -> TimestampMillisecondArray {
        TimestampMillisecondArray::from(v.to_vec())
    }

    /// Delay 5: watermark = ts - 5.
    fn run(ts: &[i64], current: i64) -> (Vec<Cut>, i64) {
        let wm: Vec<i64> = ts.iter().map(|t| t - 5).collect();
        cut_rows(&arr(ts), &arr(&wm), current)
    }

    #[test]
    fn in_order_and_slightly_out_of_order_rows_are_not_cut() {
        assert_eq!(run(&[10, 11, 12, 20], i64::MIN), (vec![], 15));
        // 14 arrives after 18 but within the delay (watermark 13)
        assert_eq!(run(&[10, 18, 14, 19], i64::MIN), (vec![], 14));
    }

    #[test]
    fn a_row_behind_the_watermark_is_cut_before() {
        // after 30 the watermark is 25; 24 is behind it
        assert_eq!(
            run(&[10, 30, 24, 31], i64::MIN),
            (
                vec![Cut {
                    row: 2,
                    watermark: 25
                }],
                26
            )
        );
        // a watermark already emitted before the batch needs no cut
        assert_eq!(run(&[24], 25), (vec![], 25));
        // two late rows in a row: one cut
        assert_eq!(
            run(&[30, 1, 2], i64::MIN),
            (
                vec![Cut {
                    row: 1,
                    watermark: 25
                }],
                25
            )
        );
    }
}
