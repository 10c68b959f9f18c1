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
    /// file; each file is read once).
    pub fn load(
        r: &TaskRestore,
        mut load: impl FnMut(&str) -> Result<Vec<Option<Vec<u8>>>, String>,
    ) -> Result<Self, String> {
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

/// Reads a state file written by [`encode_task_state`]; the error says what is wrong.
pub fn decode_task_state(bytes: &[u8]) -> Result<Vec<Option<Vec<u8>>>, String> {
    let rest = bytes
        .strip_prefix(b"STRM1")
        .ok_or("not a Strom state file (bad magic)")?;
    let (n, mut rest) = rest.split_at_checked(4).ok_or("truncated header")?;
    let n = u32::from_le_bytes(n.try_into().expect("4 bytes"));
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let (&flag, r) = rest
            .split_first()
            .ok_or(format!("truncated at snapshot {i}"))?;
        rest = r;
        if flag == 0 {
            out.push(None);
            continue;
        }
        let (len, r) = rest
            .split_at_checked(8)
            .ok_or(format!("truncated at snapshot {i}"))?;
        let len = u64::from_le_bytes(len.try_into().expect("8 bytes")) as usize;
        let (b, r) = r
            .split_at_checked(len)
            .ok_or(format!("snapshot {i} is truncated ({len} bytes announced)"))?;
        out.push(Some(b.to_vec()));
        rest = r;
    }
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes", rest.len()));
    }
    Ok(out)
}
