//! Checkpoint positions of the datagen source.
//!
//! Row `i`'s values are a pure function of `i`, so a subtask's position is the row indices it
//! has still to generate: segments `next, next + stride, ...` below `end` (bounded; stride 1)
//! or without end (unbounded; subtask `k` of `p` generates `k, k + p, ...`). As JSON:
//!
//! ```json
//! {"version": 1, "subtask": 0, "parallelism": 2, "rows": 1000,
//!  "segments": [{"next": 420, "stride": 1, "end": 500}]}
//! ```
//!
//! `rows` is the table's row count (`null`: unbounded). A reader restored at the same
//! parallelism continues its own segments, so it generates exactly the rows the uninterrupted
//! run would have. A bounded table can also be restored at another parallelism: the rows left
//! over all old subtasks are split again (in index order); an unbounded one cannot.

use serde_json::{json, Value};
use strom_runtime::{ConnectorError, SubtaskInfo};

const VERSION: u64 = 1;

/// Rows `next, next + stride, ...` below `end` (`None`: no end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub next: u64,
    pub stride: u64,
    pub end: Option<u64>,
}

impl Segment {
    /// Rows left (`u64::MAX` without end).
    pub fn remaining(&self) -> u64 {
        match self.end {
            Some(e) => e.saturating_sub(self.next).div_ceil(self.stride.max(1)),
            None => u64::MAX,
        }
    }
}

/// The segments of subtask `subtask` of a table of `rows` rows (None: unbounded).
pub fn initial_segments(rows: Option<u64>, subtask: SubtaskInfo) -> Vec<Segment> {
    let p = subtask.parallelism.max(1) as u64;
    let k = (subtask.index as u64).min(p - 1);
    match rows {
        Some(n) => {
            let lo = (n as u128 * k as u128 / p as u128) as u64;
            let hi = (n as u128 * (k as u128 + 1) / p as u128) as u64;
            vec![Segment {
                next: lo,
                stride: 1,
                end: Some(hi),
            }]
        }
        None => vec![Segment {
            next: k,
            stride: p,
            end: None,
        }],
    }
}

/// The position of a reader of subtask `subtask` with `segments` left.
pub fn encode(rows: Option<u64>, subtask: SubtaskInfo, segments: &[Segment]) -> Vec<u8> {
    let segments: Vec<Value> = segments
        .iter()
        .filter(|s| s.remaining() > 0)
        .map(|s| json!({"next": s.next, "stride": s.stride, "end": s.end}))
        .collect();
    json!({
        "version": VERSION,
        "subtask": subtask.index,
        "parallelism": subtask.parallelism,
        "rows": rows,
        "segments": segments,
    })
    .to_string()
    .into_bytes()
}

struct Decoded {
    subtask: u32,
    parallelism: u32,
    rows: Option<u64>,
    segments: Vec<Segment>,
}

/// Why a datagen position cannot be read back.
#[derive(Debug, thiserror::Error)]
enum PositionError {
    #[error("invalid JSON ({0})")]
    Json(#[source] serde_json::Error),
    #[error("'{0}' is missing or not a non-negative integer")]
    NotANumber(&'static str),
    #[error("'{0}' is not a non-negative integer")]
    NotANumberOrNull(&'static str),
    #[error("unknown version")]
    Version,
    #[error("'{0}' is too large")]
    TooLarge(&'static str),
    #[error("subtask {subtask} is not below parallelism {parallelism}")]
    SubtaskOutOfRange { subtask: u32, parallelism: u32 },
    #[error("'segments' is missing")]
    NoSegments,
}

fn decode(bytes: &[u8]) -> Result<Decoded, PositionError> {
    let v: Value = serde_json::from_slice(bytes).map_err(PositionError::Json)?;
    let num = |v: &Value, k: &'static str| {
        v.get(k)
            .and_then(Value::as_u64)
            .ok_or(PositionError::NotANumber(k))
    };
    let opt = |v: &Value, k: &'static str| match v.get(k) {
        Some(Value::Null) | None => Ok(None),
        Some(x) => x
            .as_u64()
            .map(Some)
            .ok_or(PositionError::NotANumberOrNull(k)),
    };
    if num(&v, "version")? != VERSION {
        return Err(PositionError::Version);
    }
    let small = |x: u64, k: &'static str| u32::try_from(x).map_err(|_| PositionError::TooLarge(k));
    let subtask = small(num(&v, "subtask")?, "subtask")?;
    let parallelism = small(num(&v, "parallelism")?, "parallelism")?;
    if subtask >= parallelism {
        return Err(PositionError::SubtaskOutOfRange {
            subtask,
            parallelism,
        });
    }
    let segments = v
        .get("segments")
        .and_then(Value::as_array)
        .ok_or(PositionError::NoSegments)?
        .iter()
        .map(|s| {
            Ok(Segment {
                next: num(s, "next")?,
                stride: num(s, "stride")?.max(1),
                end: opt(s, "end")?,
            })
        })
        .collect::<Result<_, PositionError>>()?;
    Ok(Decoded {
        subtask,
        parallelism,
        rows: opt(&v, "rows")?,
        segments,
    })
}

/// The segments subtask `subtask` generates to resume from `positions` (every old subtask's
/// position) for a table of `rows` rows.
pub fn restore_segments(
    table: &str,
    rows: Option<u64>,
    positions: &[Vec<u8>],
    subtask: SubtaskInfo,
) -> Result<Vec<Segment>, ConnectorError> {
    let fail = |what: String| {
        ConnectorError::Other(format!(
            "table '{table}': cannot resume the datagen source from the checkpoint: {what}"
        ))
    };
    if positions.is_empty() {
        return Ok(initial_segments(rows, subtask));
    }
    let mut old = Vec::with_capacity(positions.len());
    for (i, bytes) in positions.iter().enumerate() {
        let d = decode(bytes).map_err(|e| {
            fail(format!(
                "position {i} is not a datagen position: {e}; was the checkpoint taken by another source? start the job without restoring from it"
            ))
        })?;
        if d.rows != rows {
            let show = |r: Option<u64>| r.map_or("unbounded".to_string(), |n| format!("{n} rows"));
            return Err(fail(format!(
                "the table's size changed since the checkpoint ({} then, {} now; see 'number-of-rows' and the sequence fields); restore the options, or start the job without restoring from it",
                show(d.rows),
                show(rows)
            )));
        }
        old.push(d);
    }
    let p_old = old[0].parallelism;
    if old.iter().any(|d| d.parallelism != p_old) {
        return Err(fail(
            "its positions were taken at different parallelisms; start the job without restoring from it".into(),
        ));
    }
    let mut by_subtask: Vec<Option<Vec<Segment>>> = vec![None; p_old as usize];
    for d in old {
        let slot = &mut by_subtask[d.subtask as usize];
        if slot.as_ref().is_some_and(|s| *s != d.segments) {
            return Err(fail(format!(
                "it holds two different positions of subtask {}; start the job without restoring from it",
                d.subtask
            )));
        }
        *slot = Some(d.segments);
    }
    // a subtask without a position starts from its beginning
    let old_segments = |k: u32| {
        by_subtask[k as usize].clone().unwrap_or_else(|| {
            initial_segments(
                rows,
                SubtaskInfo {
                    index: k,
                    parallelism: p_old,
                },
            )
        })
    };
    let p = subtask.parallelism.max(1);
    if p == p_old {
        return Ok(old_segments(subtask.index.min(p - 1)));
    }
    if rows.is_none() {
        return Err(fail(format!(
            "an unbounded datagen source cannot be rescaled: the checkpoint was taken at parallelism {p_old}, the source now runs at parallelism {p}; run it at parallelism {p_old}, or start the job without restoring from the checkpoint"
        )));
    }
    // bounded: split the rows left over every old subtask again
    let mut left: Vec<(u64, u64)> = (0..p_old)
        .flat_map(old_segments)
        .filter_map(|s| {
            let end = s.end?;
            (s.stride == 1 && s.next < end).then_some((s.next, end))
        })
        .collect();
    left.sort_unstable();
    let total: u128 = left.iter().map(|(a, b)| (b - a) as u128).sum();
    let k = subtask.index.min(p - 1) as u128;
    let (lo, hi) = (total * k / p as u128, total * (k + 1) / p as u128);
    let mut out = Vec::new();
    let mut g = 0u128;
    for (a, b) in left {
        let (gs, ge) = (g, g + (b - a) as u128);
        g = ge;
        let (s, e) = (lo.max(gs), hi.min(ge));
        if s < e {
            out.push(Segment {
                next: a + (s - gs) as u64,
                stride: 1,
                end: Some(a + (e - gs) as u64),
            });
        }
    }
    Ok(out)
}
