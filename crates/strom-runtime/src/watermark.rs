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

/// The watermark of every row of `batch`: `rowtime - delay` when the expression is that simple
/// (`delay_ms`), else the expression evaluated on the batch; `current` is the watermark of the
/// batch's split before it. Returns the cuts and the split's watermark after the batch.
pub fn cuts(
    expr: &dyn PhysicalExpr,
    delay_ms: Option<i64>,
    rowtime: usize,
    batch: &RecordBatch,
    current: i64,
) -> Result<(Vec<Cut>, i64), TaskError> {
    let times = to_ms(batch.column(rowtime).clone())?;
    if let Some(d) = delay_ms {
        return Ok(cut_rows_with(millis(&times), current, |t| {
            t.saturating_sub(d)
        }));
    }
    let n = batch.num_rows();
    let wm = expr
        .evaluate(batch)
        .and_then(|v| v.into_array(n))
        .map_err(|e| TaskError::Expr {
            operator: "WatermarkAssigner".into(),
            message: e.to_string(),
        })?;
    let wm = to_ms(wm)?;
    let wm = millis(&wm);
    let mut i = 0;
    Ok(cut_rows_with(millis(&times), current, |_| {
        let w = if wm.is_valid(i) {
            wm.value(i)
        } else {
            i64::MIN
        };
        i += 1;
        w
    }))
}

/// The cut logic over rowtimes; `wm(t)` gives each row's watermark, called once per row in order
/// (with the row's rowtime, `i64::MIN` for a NULL one).
pub fn cut_rows_with(
    times: &TimestampMillisecondArray,
    current: i64,
    mut wm: impl FnMut(i64) -> i64,
) -> (Vec<Cut>, i64) {
    let mut cuts = Vec::new();
    let mut running = current;
    // the watermark already emitted (at the batch start or at the last cut)
    let mut emitted = current;
    let vals = times.values();
    let valid = |i: usize| times.is_valid(i);
    for (i, &t) in vals.iter().enumerate() {
        let ok = valid(i);
        if ok && running > emitted && t <= running {
            cuts.push(Cut {
                row: i,
                watermark: running,
            });
            emitted = running;
        }
        let w = wm(if ok { t } else { i64::MIN });
        running = running.max(w);
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
        cut_rows_with(&arr(ts), current, |t| t.saturating_sub(5))
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
