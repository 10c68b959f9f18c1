//! Checkpoint positions of the filesystem source, and the slices a restored reader reads.
//!
//! A reader's position ([`encode`]) is JSON: the input it was planned from (number of files and
//! bytes) and its slices (runs of whole splits of one file, see [`super::split`]), each with the
//! offset of the next unread line (always the start of a line) or `"done"`:
//!
//! ```json
//! {"version": 1, "files": 2, "bytes": 1500,
//!  "splits": [{"path": "/data/a.csv", "len": 1000, "start": 0, "end": 1000, "next": 420},
//!             {"path": "/data/b.csv", "len": 500, "start": 0, "end": 120, "next": "done"}]}
//! ```
//!
//! A restored reader ([`restore_slices`]) recomputes the splits of the same input, takes the
//! union of every old subtask's position, and reads the splits it owns at its parallelism: each
//! from its recorded offset, finished splits not at all, and splits no position mentions from
//! their beginning. Split boundaries do not depend on the parallelism, so positions taken at any
//! parallelism apply. The input must be unchanged (same files, same sizes): otherwise the
//! offsets mean nothing and the restore fails, naming the file.

use super::split::{merge_slices, plan_pieces, split_owner, FileSlice, InputFile, SplitReader};
use serde_json::{json, Value};
use std::path::Path;
use strom_runtime::{ConnectorError, SubtaskInfo};

const VERSION: u64 = 1;

fn path_text(f: &InputFile) -> String {
    f.path.to_string_lossy().into_owned()
}

/// The position of `lines`: where a restarted reader resumes.
pub fn encode(lines: &SplitReader) -> Vec<u8> {
    let files = lines.files();
    let splits: Vec<Value> = lines
        .progress()
        .iter()
        .map(|s| {
            let f = &files[s.file];
            let next = if s.is_done() {
                json!("done")
            } else {
                json!(s.from)
            };
            json!({
                "path": path_text(f),
                "len": f.len,
                "start": s.start,
                "end": s.end,
                "next": next,
            })
        })
        .collect();
    let v = json!({
        "version": VERSION,
        "files": files.len(),
        "bytes": files.iter().map(|f| f.len).sum::<u64>(),
        "splits": splits,
    });
    v.to_string().into_bytes()
}

/// One slice of a decoded position.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    path: String,
    len: u64,
    start: u64,
    /// The next unread line; `end` when done.
    from: u64,
    end: u64,
}

/// A decoded position: `(files, bytes, slices)`.
type Decoded = (u64, u64, Vec<Run>);

/// Why a filesystem source position cannot be read back.
#[derive(Debug, thiserror::Error)]
enum PositionError {
    #[error("invalid JSON ({0})")]
    Json(#[source] serde_json::Error),
    #[error("'{0}' is missing or not a non-negative integer")]
    NotANumber(&'static str),
    #[error("unknown version {0}")]
    Version(u64),
    #[error("'splits' is missing")]
    NoSplits,
    #[error("a split without 'path'")]
    NoPath,
    #[error("'next' is neither an offset nor \"done\"")]
    BadNext,
    #[error("a split without 'next'")]
    NoNext,
    #[error(
        "split of '{path}' has inconsistent offsets (start {start}, next {next}, end {end}, length {len})"
    )]
    Inconsistent {
        path: String,
        start: u64,
        next: u64,
        end: u64,
        len: u64,
    },
}

fn decode(bytes: &[u8]) -> Result<Decoded, PositionError> {
    let v: Value = serde_json::from_slice(bytes).map_err(PositionError::Json)?;
    let num = |v: &Value, k: &'static str| {
        v.get(k)
            .and_then(Value::as_u64)
            .ok_or(PositionError::NotANumber(k))
    };
    match num(&v, "version")? {
        VERSION => {}
        other => return Err(PositionError::Version(other)),
    }
    let files = num(&v, "files")?;
    let total = num(&v, "bytes")?;
    let splits = v
        .get("splits")
        .and_then(Value::as_array)
        .ok_or(PositionError::NoSplits)?;
    let mut runs = Vec::with_capacity(splits.len());
    for s in splits {
        let path = s
            .get("path")
            .and_then(Value::as_str)
            .ok_or(PositionError::NoPath)?
            .to_string();
        let (len, start, end) = (num(s, "len")?, num(s, "start")?, num(s, "end")?);
        let from = match s.get("next") {
            Some(Value::String(d)) if d == "done" => end,
            Some(n) => n.as_u64().ok_or(PositionError::BadNext)?,
            None => return Err(PositionError::NoNext),
        };
        if !(start <= from && from <= end && end <= len) {
            return Err(PositionError::Inconsistent {
                path,
                start,
                next: from,
                end,
                len,
            });
        }
        runs.push(Run {
            path,
            len,
            start,
            from,
            end,
        });
    }
    Ok((files, total, runs))
}

/// The slices subtask `subtask` reads to resume from `positions` (every old subtask's position)
/// over `files`, the input listed now from `input`.
pub fn restore_slices(
    table: &str,
    input: &Path,
    files: &[InputFile],
    positions: &[Vec<u8>],
    subtask: SubtaskInfo,
) -> Result<Vec<FileSlice>, ConnectorError> {
    let fail = |what: String| {
        ConnectorError::Other(format!(
            "table '{table}': cannot resume the filesystem source from the checkpoint: {what}"
        ))
    };
    let redo =
        "restore the input as it was at the checkpoint, or start the job without restoring from it";
    let mut pieces = plan_pieces(files);
    let mut seen = vec![false; pieces.len()];
    let now_bytes: u64 = files.iter().map(|f| f.len).sum();
    for (i, bytes) in positions.iter().enumerate() {
        let (n_files, n_bytes, runs) = decode(bytes).map_err(|e| {
            fail(format!(
                "position {i} is not a filesystem source position: {e}; was the checkpoint taken by another source? start the job without restoring from it"
            ))
        })?;
        for run in &runs {
            let Some(fi) = files.iter().position(|f| path_text(f) == run.path) else {
                return Err(fail(format!(
                    "file '{}' of the checkpoint is no longer in the input '{}'; {redo}",
                    run.path,
                    input.display()
                )));
            };
            if files[fi].len != run.len {
                return Err(fail(format!(
                    "file '{}' changed since the checkpoint ({} bytes then, {} now); {redo}",
                    run.path, run.len, files[fi].len
                )));
            }
        }
        if n_files != files.len() as u64 || n_bytes != now_bytes {
            return Err(fail(format!(
                "the input '{}' changed since the checkpoint ({n_files} files of {n_bytes} bytes then, {} files of {now_bytes} bytes now); {redo}",
                input.display(),
                files.len()
            )));
        }
        for run in runs {
            let fi = files
                .iter()
                .position(|f| path_text(f) == run.path)
                .unwrap_or(usize::MAX);
            let misaligned = || {
                fail(format!(
                    "bytes {}..{} of file '{}' are not whole splits of the input now; the checkpoint was taken by another version of the source: start the job without restoring from it",
                    run.start, run.end, run.path
                ))
            };
            if run.start == run.end {
                continue;
            }
            let mut q = pieces
                .binary_search_by(|(_, s)| (s.file, s.start).cmp(&(fi, run.start)))
                .map_err(|_| misaligned())?;
            let mut covered = run.start;
            while covered < run.end {
                let Some((_, piece)) = pieces.get_mut(q).filter(|(_, s)| s.file == fi) else {
                    return Err(misaligned());
                };
                if piece.start != covered || piece.end > run.end {
                    return Err(misaligned());
                }
                if seen[q] {
                    return Err(fail(format!(
                        "two positions hold bytes {}..{} of file '{}'; the checkpoint is inconsistent: start the job without restoring from it",
                        piece.start, piece.end, run.path
                    )));
                }
                seen[q] = true;
                piece.from = run.from.max(piece.start).min(piece.end);
                covered = piece.end;
                q += 1;
            }
        }
    }
    let p = subtask.parallelism.max(1);
    let k = subtask.index.min(p - 1);
    Ok(merge_slices(
        pieces
            .into_iter()
            .filter(|(j, _)| split_owner(*j, p) == k)
            .map(|(_, s)| s),
    ))
}
