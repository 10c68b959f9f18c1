//! The argument values each group of a DISTINCT aggregate call has seen, so that only new ones
//! are folded. Integer-like arguments (up to 64 bits: BIGINT, INT, DATE, TIMESTAMP, ...) are kept
//! as the numbers themselves, 8 bytes an entry; other types as [`DistinctKey`]s. Checkpoints
//! write every value as an encoded key, whichever way it is kept.
//!
//! The integer DISTINCT calls of one aggregate share their values ([`SharedInts`], as Flink's
//! `DistinctAggCodeGen` shares one map per distinct argument among the calls that differ only in
//! their FILTER): per group one map from a value to the calls (bits) that have seen it, so that
//! `COUNT(DISTINCT x)` and `COUNT(DISTINCT x) FILTER (WHERE ...)` look a value up once in a
//! large map and again where it is cached, and keep it once.

use crate::error::TaskError;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryBuilder, ListArray, ListBuilder,
};
use datafusion::arrow::datatypes::*;
use hashbrown::{HashMap, HashSet};
use parking_lot::Mutex;
use std::sync::Arc;

/// A value of a DISTINCT aggregate's argument, as a hashable key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum DistinctKey {
    Int(i128),
    Float(u64),
    Str(String),
}

/// Per group, the values seen.
#[derive(Debug)]
pub(crate) enum DistinctSets {
    Ints(Vec<HashSet<i64>>),
    Keys(Vec<HashSet<DistinctKey>>),
    /// Integer values kept with other calls' (this call's bit in them: `1 << slot`).
    Shared {
        slot: u32,
        sets: SharedInts,
    },
}

/// The integer values of the DISTINCT calls of one aggregate (up to 64 calls): per group, each
/// value seen and the calls that have seen it (a bit each). The calls of one aggregate run one
/// after another on its task's thread; the lock is taken once per call and batch.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedInts(Arc<Mutex<SharedState>>);

#[derive(Debug, Default)]
struct SharedState {
    calls: u32,
    groups: Vec<HashMap<i64, u64>>,
}

impl SharedInts {
    /// A bit for one more call, if there is one left.
    fn join(&self) -> Option<u32> {
        let mut s = self.0.lock();
        (s.calls < 64).then(|| {
            s.calls += 1;
            s.calls - 1
        })
    }
}

/// Whether values of `t` are kept as numbers.
fn as_numbers(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Date32
            | DataType::Timestamp(TimeUnit::Millisecond | TimeUnit::Microsecond, _)
    )
}

/// The numbers of an integer-like column (see [`as_numbers`]).
fn numbers(a: &ArrayRef) -> Vec<Option<i64>> {
    fn of<T: ArrowPrimitiveType>(a: &ArrayRef) -> Vec<Option<i64>>
    where
        T::Native: Into<i64>,
    {
        a.as_primitive::<T>()
            .iter()
            .map(|v| v.map(Into::into))
            .collect()
    }
    match a.data_type() {
        DataType::Int8 => of::<Int8Type>(a),
        DataType::Int16 => of::<Int16Type>(a),
        DataType::Int32 => of::<Int32Type>(a),
        DataType::Int64 => of::<Int64Type>(a),
        DataType::Date32 => of::<Date32Type>(a),
        DataType::Timestamp(TimeUnit::Millisecond, _) => of::<TimestampMillisecondType>(a),
        DataType::Timestamp(TimeUnit::Microsecond, _) => of::<TimestampMicrosecondType>(a),
        _ => keys(a)
            .into_iter()
            .map(|k| match k {
                Some(DistinctKey::Int(v)) => i64::try_from(v).ok(),
                _ => None,
            })
            .collect(),
    }
}

/// The distinct keys of `a`'s rows (none for NULL): one match on the type, then a loop.
fn keys(a: &ArrayRef) -> Vec<Option<DistinctKey>> {
    fn ints<T: ArrowPrimitiveType>(a: &ArrayRef) -> Vec<Option<DistinctKey>>
    where
        T::Native: Into<i128>,
    {
        a.as_primitive::<T>()
            .iter()
            .map(|v| v.map(|v| DistinctKey::Int(v.into())))
            .collect()
    }
    fn texts<'a>(values: impl Iterator<Item = Option<&'a str>>) -> Vec<Option<DistinctKey>> {
        values
            .map(|v| v.map(|s| DistinctKey::Str(s.to_string())))
            .collect()
    }
    match a.data_type() {
        DataType::Int8 => ints::<Int8Type>(a),
        DataType::Int16 => ints::<Int16Type>(a),
        DataType::Int32 => ints::<Int32Type>(a),
        DataType::Int64 => ints::<Int64Type>(a),
        DataType::Date32 => ints::<Date32Type>(a),
        DataType::Timestamp(TimeUnit::Millisecond, _) => ints::<TimestampMillisecondType>(a),
        DataType::Timestamp(TimeUnit::Microsecond, _) => ints::<TimestampMicrosecondType>(a),
        DataType::Decimal128(_, _) => ints::<Decimal128Type>(a),
        DataType::Float32 => a
            .as_primitive::<Float32Type>()
            .iter()
            .map(|v| v.map(|v| DistinctKey::Float((v as f64).to_bits())))
            .collect(),
        DataType::Float64 => a
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.map(|v| DistinctKey::Float(v.to_bits())))
            .collect(),
        DataType::Boolean => a
            .as_boolean()
            .iter()
            .map(|v| v.map(|v| DistinctKey::Int(v as i128)))
            .collect(),
        DataType::Utf8 => texts(a.as_string::<i32>().iter()),
        DataType::LargeUtf8 => texts(a.as_string::<i64>().iter()),
        DataType::Utf8View => texts(a.as_string_view().iter()),
        _ => (0..a.len())
            .map(|i| {
                a.is_valid(i).then(|| {
                    DistinctKey::Str(
                        datafusion::arrow::util::display::array_value_to_string(a, i)
                            .unwrap_or_default(),
                    )
                })
            })
            .collect(),
    }
}

impl DistinctSets {
    /// Empty sets for arguments of `input_type`.
    pub(crate) fn new(input_type: Option<&DataType>) -> Self {
        if input_type.is_some_and(as_numbers) {
            DistinctSets::Ints(Vec::new())
        } else {
            DistinctSets::Keys(Vec::new())
        }
    }

    /// These sets kept in `shared` with those of the aggregate's other calls, when they are
    /// integer sets not yet written (else as they are).
    pub(crate) fn shared(self, shared: &SharedInts) -> Self {
        match self {
            DistinctSets::Ints(s) if s.iter().all(HashSet::is_empty) => match shared.join() {
                Some(slot) => DistinctSets::Shared {
                    slot,
                    sets: shared.clone(),
                },
                None => DistinctSets::Ints(s),
            },
            other => other,
        }
    }

    /// Makes room for `groups` groups.
    pub(crate) fn grow(&mut self, groups: usize) {
        match self {
            DistinctSets::Ints(s) if s.len() < groups => s.resize_with(groups, Default::default),
            DistinctSets::Keys(s) if s.len() < groups => s.resize_with(groups, Default::default),
            DistinctSets::Shared { sets, .. } => {
                let mut s = sets.0.lock();
                if s.groups.len() < groups {
                    s.groups.resize_with(groups, Default::default);
                }
            }
            _ => {}
        }
    }

    /// Per row of `arg` (of group `groups[i]`), whether its value is new to its group (and is
    /// now seen); false for NULL.
    pub(crate) fn first_seen(&mut self, groups: &[u32], arg: &ArrayRef) -> Vec<bool> {
        match self {
            DistinctSets::Ints(sets) => groups
                .iter()
                .zip(numbers(arg))
                .map(|(g, v)| v.is_some_and(|v| sets[*g as usize].insert(v)))
                .collect(),
            DistinctSets::Keys(sets) => groups
                .iter()
                .zip(keys(arg))
                .map(|(g, k)| k.is_some_and(|k| sets[*g as usize].insert(k)))
                .collect(),
            DistinctSets::Shared { slot, sets } => {
                let bit = 1u64 << *slot;
                let mut s = sets.0.lock();
                groups
                    .iter()
                    .zip(numbers(arg))
                    .map(|(g, v)| v.is_some_and(|v| mark(&mut s.groups[*g as usize], v, bit)))
                    .collect()
            }
        }
    }

    /// Checkpoints: each of groups `0..n`'s values, encoded, as a list per group.
    pub(crate) fn snapshot(&self, n: usize) -> ListArray {
        let mut b = ListBuilder::new(BinaryBuilder::new());
        match self {
            DistinctSets::Ints(sets) => {
                for set in &sets[..n] {
                    for v in set {
                        b.values()
                            .append_value(encode(&DistinctKey::Int(i128::from(*v))));
                    }
                    b.append(true);
                }
            }
            DistinctSets::Keys(sets) => {
                for set in &sets[..n] {
                    for k in set {
                        b.values().append_value(encode(k));
                    }
                    b.append(true);
                }
            }
            DistinctSets::Shared { slot, sets } => {
                let bit = 1u64 << *slot;
                for values in &sets.0.lock().groups[..n] {
                    for (v, seen) in values {
                        if seen & bit != 0 {
                            b.values()
                                .append_value(encode(&DistinctKey::Int(i128::from(*v))));
                        }
                    }
                    b.append(true);
                }
            }
        }
        b.finish()
    }

    /// Checkpoints: adds the snapshotted values `lists[i]` to group `groups[i]`. With
    /// `additive`, a value the group has already seen is an error (two snapshots of one group
    /// with common values cannot be folded right).
    pub(crate) fn restore(
        &mut self,
        groups: &[u32],
        lists: &ArrayRef,
        additive: bool,
    ) -> Result<(), TaskError> {
        let lists = lists
            .as_any()
            .downcast_ref::<ListArray>()
            .ok_or_else(|| TaskError::Operator("DISTINCT state is not a list".into()))?;
        for (i, g) in groups.iter().enumerate() {
            let vals = lists.value(i);
            let vals = vals
                .as_any()
                .downcast_ref::<BinaryArray>()
                .ok_or_else(|| TaskError::Operator("DISTINCT state is not binary".into()))?;
            for v in vals.iter().flatten() {
                let k = decode(v)?;
                let new = match (&mut *self, k) {
                    (DistinctSets::Ints(sets), DistinctKey::Int(v)) => {
                        let v = i64::try_from(v).map_err(|_| corrupt())?;
                        sets[*g as usize].insert(v)
                    }
                    (DistinctSets::Shared { slot, sets }, DistinctKey::Int(v)) => {
                        let v = i64::try_from(v).map_err(|_| corrupt())?;
                        mark(&mut sets.0.lock().groups[*g as usize], v, 1u64 << *slot)
                    }
                    (DistinctSets::Ints(_) | DistinctSets::Shared { .. }, _) => {
                        return Err(corrupt())
                    }
                    (DistinctSets::Keys(sets), k) => sets[*g as usize].insert(k),
                };
                if !new && additive {
                    return Err(TaskError::Operator(
                        "a DISTINCT aggregate's group is in two snapshots with common values"
                            .into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Marks `v` as seen by the call of `bit`; whether it was new to that call.
fn mark(values: &mut HashMap<i64, u64>, v: i64, bit: u64) -> bool {
    let seen = values.entry(v).or_insert(0);
    let new = *seen & bit == 0;
    *seen |= bit;
    new
}

fn corrupt() -> TaskError {
    TaskError::Operator("corrupt DISTINCT state".into())
}

fn encode(k: &DistinctKey) -> Vec<u8> {
    match k {
        DistinctKey::Int(v) => [&[0u8][..], &v.to_le_bytes()].concat(),
        DistinctKey::Float(v) => [&[1u8][..], &v.to_le_bytes()].concat(),
        DistinctKey::Str(s) => [&[2u8][..], s.as_bytes()].concat(),
    }
}

fn decode(b: &[u8]) -> Result<DistinctKey, TaskError> {
    let (tag, rest) = b.split_first().ok_or_else(corrupt)?;
    Ok(match tag {
        0 => DistinctKey::Int(i128::from_le_bytes(rest.try_into().map_err(|_| corrupt())?)),
        1 => DistinctKey::Float(u64::from_le_bytes(rest.try_into().map_err(|_| corrupt())?)),
        2 => DistinctKey::Str(String::from_utf8(rest.to_vec()).map_err(|_| corrupt())?),
        _ => return Err(corrupt()),
    })
}
