//! A task's checkpointed state: one file per subtask holding its operators' snapshots in chain
//! order, and where an attempt restores each operator's state from.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Where a task's state comes from, per operator of its chain: the state files (in the
/// restored checkpoint's directory) of every subtask of the previous run's vertex that held the
/// operator, and the operator's position in that vertex's chain. A file holds one subtask's
/// snapshots in chain order (see [`encode_task_state`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRestore {
    pub checkpoint_id: u64,
    /// The checkpoint's (or savepoint's) directory, as a storage URL or path.
    pub dir: String,
    /// By operator of the chain: None starts empty.
    pub operators: Vec<Option<OperatorRestore>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRestore {
    pub files: Vec<String>,
    /// The operator's position in the previous run's chain.
    pub index: usize,
}

/// A task's restored state, loaded: per operator of the chain (a leading source included), the
/// snapshots of every subtask of the previous run that had one.
#[derive(Debug, Clone, Default)]
pub struct RestoredState {
    pub checkpoint_id: u64,
    pub operators: Vec<Vec<Vec<u8>>>,
}

impl RestoredState {
    /// Gathers each operator's snapshots from decoded state files (`load` reads and decodes one
    /// file; each file is read once); the first error of `load` is the answer.
    pub fn load<E>(
        r: &TaskRestore,
        mut load: impl FnMut(&str) -> Result<Vec<Option<Vec<u8>>>, E>,
    ) -> Result<Self, E> {
        let mut files: HashMap<&str, Vec<Option<Vec<u8>>>> = HashMap::new();
        let mut operators = Vec::with_capacity(r.operators.len());
        for op in &r.operators {
            let mut states = Vec::new();
            for f in op.iter().flat_map(|o| o.files.iter()) {
                if !files.contains_key(f.as_str()) {
                    files.insert(f, load(f)?);
                }
                let index = op.as_ref().map(|o| o.index).unwrap_or(0);
                if let Some(Some(s)) = files[f.as_str()].get(index) {
                    states.push(s.clone());
                }
            }
            operators.push(states);
        }
        Ok(Self {
            checkpoint_id: r.checkpoint_id,
            operators,
        })
    }
}

/// One subtask's snapshots (in chain order) as the bytes of its state file: `STRM1`, the count,
/// then per snapshot a presence byte, a little-endian u64 length and the bytes.
pub fn encode_task_state(states: &[Option<Vec<u8>>]) -> Vec<u8> {
    let size: usize = states.iter().flatten().map(|s| s.len() + 9).sum();
    let mut out = Vec::with_capacity(size + 9);
    out.extend_from_slice(b"STRM1");
    out.extend_from_slice(&(states.len() as u32).to_le_bytes());
    for s in states {
        match s {
            None => out.push(0),
            Some(b) => {
                out.push(1);
                out.extend_from_slice(&(b.len() as u64).to_le_bytes());
                out.extend_from_slice(b);
            }
        }
    }
    out
}

/// Why a state file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateFileError {
    #[error("not a Strom state file (bad magic)")]
    BadMagic,
    #[error("truncated header")]
    TruncatedHeader,
    #[error("truncated at snapshot {0}")]
    Truncated(u32),
    #[error("snapshot {index} is truncated ({announced} bytes announced)")]
    TruncatedSnapshot { index: u32, announced: usize },
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
}

/// Reads a state file written by [`encode_task_state`]; the error says what is wrong.
pub fn decode_task_state(bytes: &[u8]) -> Result<Vec<Option<Vec<u8>>>, StateFileError> {
    let rest = bytes
        .strip_prefix(b"STRM1")
        .ok_or(StateFileError::BadMagic)?;
    let (n, mut rest) = rest
        .split_first_chunk::<4>()
        .ok_or(StateFileError::TruncatedHeader)?;
    let n = u32::from_le_bytes(*n);
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let (&flag, r) = rest.split_first().ok_or(StateFileError::Truncated(i))?;
        rest = r;
        if flag == 0 {
            out.push(None);
            continue;
        }
        let (len, r) = rest
            .split_first_chunk::<8>()
            .ok_or(StateFileError::Truncated(i))?;
        let len = u64::from_le_bytes(*len) as usize;
        let (b, r) = r
            .split_at_checked(len)
            .ok_or(StateFileError::TruncatedSnapshot {
                index: i,
                announced: len,
            })?;
        out.push(Some(b.to_vec()));
        rest = r;
    }
    if !rest.is_empty() {
        return Err(StateFileError::TrailingBytes(rest.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// What is written reads back; every shorter prefix and any extra byte is an error
        /// (never a panic, never other snapshots).
        #[test]
        fn state_files_round_trip_and_damage_is_an_error(
            states in prop::collection::vec(
                prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
                0..6,
            ),
        ) {
            let bytes = encode_task_state(&states);
            prop_assert_eq!(decode_task_state(&bytes), Ok(states));
            for cut in 0..bytes.len() {
                prop_assert!(decode_task_state(&bytes[..cut]).is_err(), "prefix of {}", cut);
            }
            let mut longer = bytes.clone();
            longer.push(0);
            prop_assert_eq!(decode_task_state(&longer), Err(StateFileError::TrailingBytes(1)));
        }
    }

    #[test]
    fn a_foreign_file_is_named_as_such() {
        assert_eq!(
            decode_task_state(b"PK\x03\x04").unwrap_err().to_string(),
            "not a Strom state file (bad magic)"
        );
    }
}
