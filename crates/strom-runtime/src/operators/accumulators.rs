//! Columnar accumulators for COUNT, SUM, MIN, MAX and AVG: one slot per group.

use crate::error::TaskError;
use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BinaryBuilder, Decimal128Array, Float64Array, Int64Array,
    ListArray, ListBuilder, StringArray,
};
use datafusion::arrow::array::{ArrowPrimitiveType, AsArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::{Decimal128Type, Float64Type, Int64Type};
use std::sync::Arc;
use strom_plan::{AggFunc, SqlType};

/// The value domain an accumulator computes in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Domain {
    I64,
    F64,
    /// Decimal with the given scale.
    I128(i8),
    Str,
}

impl Domain {
    /// The domain for values of `t`.
    pub fn of(t: &DataType) -> Domain {
        match t {
            DataType::Float16 | DataType::Float32 | DataType::Float64 => Domain::F64,
            DataType::Decimal128(_, s) => Domain::I128(*s),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Domain::Str,
            _ => Domain::I64,
        }
    }

    fn arrow(self) -> DataType {
        match self {
            Domain::I64 => DataType::Int64,
            Domain::F64 => DataType::Float64,
            Domain::I128(s) => DataType::Decimal128(38, s),
            Domain::Str => DataType::Utf8,
        }
    }
}

#[derive(Debug)]
enum Values {
    I64(Vec<i64>),
    F64(Vec<f64>),
    I128(Vec<i128>),
    Str(Vec<Option<String>>),
}

/// One aggregate's state for every group of a table.
#[derive(Debug)]
pub struct Accumulator {
    func: AggFunc,
    /// Final mode: inputs are partial states.
    merge: bool,
    domain: Domain,
    values: Values,
    seen: Vec<bool>,
    counts: Vec<i64>,
    /// DISTINCT aggregates: the argument values each group has seen (only new ones are folded).
    distinct: Option<Vec<hashbrown::HashSet<DistinctKey>>>,
}

/// A value of a DISTINCT aggregate's argument, as a hashable key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum DistinctKey {
    Int(i128),
    Float(u64),
    Str(String),
}

fn distinct_key(a: &ArrayRef, i: usize) -> Option<DistinctKey> {
    if a.is_null(i) {
        return None;
    }
    use datafusion::arrow::datatypes::*;
    Some(match a.data_type() {
        DataType::Int8 => DistinctKey::Int(a.as_primitive::<Int8Type>().value(i) as i128),
        DataType::Int16 => DistinctKey::Int(a.as_primitive::<Int16Type>().value(i) as i128),
        DataType::Int32 => DistinctKey::Int(a.as_primitive::<Int32Type>().value(i) as i128),
        DataType::Int64 => DistinctKey::Int(a.as_primitive::<Int64Type>().value(i) as i128),
        DataType::Date32 => DistinctKey::Int(a.as_primitive::<Date32Type>().value(i) as i128),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            DistinctKey::Int(a.as_primitive::<TimestampMillisecondType>().value(i) as i128)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            DistinctKey::Int(a.as_primitive::<TimestampMicrosecondType>().value(i) as i128)
        }
        DataType::Decimal128(_, _) => DistinctKey::Int(a.as_primitive::<Decimal128Type>().value(i)),
        DataType::Float32 => {
            DistinctKey::Float((a.as_primitive::<Float32Type>().value(i) as f64).to_bits())
        }
        DataType::Float64 => DistinctKey::Float(a.as_primitive::<Float64Type>().value(i).to_bits()),
        DataType::Boolean => DistinctKey::Int(a.as_boolean().value(i) as i128),
        DataType::Utf8 => DistinctKey::Str(a.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => DistinctKey::Str(a.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => DistinctKey::Str(a.as_string_view().value(i).to_string()),
        _ => {
            let s =
                datafusion::arrow::util::display::array_value_to_string(a, i).unwrap_or_default();
            DistinctKey::Str(s)
        }
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Cmp {
    Min,
    Max,
}

fn keep(cmp: Cmp, better: bool) -> bool {
    match cmp {
        Cmp::Min => better,
        Cmp::Max => !better,
    }
}

impl Accumulator {
    /// `input_type`: the type of the argument (Single/Partial) or of the state column (Final).
    pub fn new(func: AggFunc, merge: bool, input_type: Option<&DataType>) -> Self {
        Self::with_distinct(func, merge, false, input_type)
    }

    /// `distinct`: COUNT(DISTINCT x), SUM(DISTINCT x), ...: each group folds every argument value
    /// once (single-phase aggregates only).
    pub fn with_distinct(
        func: AggFunc,
        merge: bool,
        distinct: bool,
        input_type: Option<&DataType>,
    ) -> Self {
        let domain = match func {
            AggFunc::Count | AggFunc::CountStar => Domain::I64,
            AggFunc::Avg => match input_type.map(Domain::of) {
                Some(Domain::I128(s)) => Domain::I128(s),
                _ => Domain::F64,
            },
            _ => input_type.map(Domain::of).unwrap_or(Domain::I64),
        };
        let values = match domain {
            Domain::I64 => Values::I64(Vec::new()),
            Domain::F64 => Values::F64(Vec::new()),
            Domain::I128(_) => Values::I128(Vec::new()),
            Domain::Str => Values::Str(Vec::new()),
        };
        Self {
            func,
            merge,
            domain,
            values,
            seen: Vec::new(),
            counts: Vec::new(),
            distinct: (distinct && !merge).then(Vec::new),
        }
    }

    /// Makes room for `groups` groups (new ones start empty).
    pub fn grow(&mut self, groups: usize) {
        if self.seen.len() >= groups {
            return;
        }
        self.seen.resize(groups, false);
        self.counts.resize(groups, 0);
        if let Some(d) = &mut self.distinct {
            d.resize_with(groups, Default::default);
        }
        match &mut self.values {
            Values::I64(v) => v.resize(groups, 0),
            Values::F64(v) => v.resize(groups, 0.0),
            Values::I128(v) => v.resize(groups, 0),
            Values::Str(v) => v.resize(groups, None),
        }
    }

    /// Adds rows: `groups[i]` is the group of row i; `args` the argument column (none for
    /// COUNT(*)), or for a merging AVG the sum and count state columns.
    pub fn update(
        &mut self,
        groups: &[u32],
        num_groups: usize,
        args: &[ArrayRef],
    ) -> Result<(), TaskError> {
        self.grow(num_groups);
        if groups.is_empty() {
            return Ok(());
        }
        if let (Some(sets), Some(arg)) = (&mut self.distinct, args.first()) {
            // keep only the first occurrence of each value per group
            let mut rows = Vec::new();
            let mut kept = Vec::new();
            for (i, g) in groups.iter().enumerate() {
                if let Some(k) = distinct_key(arg, i) {
                    if sets[*g as usize].insert(k) {
                        rows.push(i as u32);
                        kept.push(*g);
                    }
                }
            }
            if kept.len() < groups.len() {
                let idx = datafusion::arrow::array::UInt32Array::from(rows);
                let arg = datafusion::arrow::compute::take(arg.as_ref(), &idx, None)?;
                let distinct = self.distinct.take();
                let r = self.update(&kept, num_groups, &[arg]);
                self.distinct = distinct;
                return r;
            }
        }
        match (self.func, self.merge) {
            (AggFunc::CountStar, false) => {
                for g in groups {
                    self.counts[*g as usize] += 1;
                }
            }
            (AggFunc::Count, false) => {
                let a = &args[0];
                for (i, g) in groups.iter().enumerate() {
                    if a.is_valid(i) {
                        self.counts[*g as usize] += 1;
                    }
                }
            }
            (AggFunc::Count | AggFunc::CountStar, true) => {
                let a = as_i64(&args[0])?;
                for (i, g) in groups.iter().enumerate() {
                    if a.is_valid(i) {
                        self.counts[*g as usize] += a.value(i);
                    }
                }
            }
            (AggFunc::Sum, _) => self.fold(groups, &args[0], None)?,
            (AggFunc::Min, _) => self.fold(groups, &args[0], Some(Cmp::Min))?,
            (AggFunc::Max, _) => self.fold(groups, &args[0], Some(Cmp::Max))?,
            (AggFunc::Avg, false) => {
                self.fold(groups, &args[0], None)?;
                let a = &args[0];
                for (i, g) in groups.iter().enumerate() {
                    if a.is_valid(i) {
                        self.counts[*g as usize] += 1;
                    }
                }
            }
            (AggFunc::Avg, true) => {
                self.fold(groups, &args[0], None)?;
                let c = as_i64(&args[1])?;
                for (i, g) in groups.iter().enumerate() {
                    if c.is_valid(i) {
                        self.counts[*g as usize] += c.value(i);
                    }
                }
            }
        }
        Ok(())
    }

    /// Sum (cmp None) or min/max of a column into the groups.
    fn fold(&mut self, groups: &[u32], arg: &ArrayRef, cmp: Option<Cmp>) -> Result<(), TaskError> {
        let target = self.domain.arrow();
        let arr = if arg.data_type() == &target {
            arg.clone()
        } else {
            cast(arg, &target)?
        };
        let seen = &mut self.seen;
        match &mut self.values {
            Values::I64(v) => {
                fold_primitive::<Int64Type>(v, seen, groups, &arr, cmp, i64::wrapping_add)
            }
            Values::F64(v) => {
                fold_primitive::<Float64Type>(v, seen, groups, &arr, cmp, |a, b| a + b)
            }
            Values::I128(v) => {
                fold_primitive::<Decimal128Type>(v, seen, groups, &arr, cmp, i128::wrapping_add)
            }
            Values::Str(v) => {
                let a = arr
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .expect("cast to Utf8");
                let c = cmp.ok_or_else(|| TaskError::Operator("SUM/AVG of strings".into()))?;
                for (i, g) in groups.iter().enumerate() {
                    if a.is_null(i) {
                        continue;
                    }
                    let g = *g as usize;
                    let x = a.value(i);
                    let replace = match &v[g] {
                        None => true,
                        Some(cur) => keep(c, x < cur.as_str()) && x != cur.as_str(),
                    };
                    if replace {
                        v[g] = Some(x.to_string());
                    }
                    seen[g] = true;
                }
            }
        }
        Ok(())
    }

    /// Final values for groups `0..n`, cast to `result`.
    pub fn evaluate(&self, n: usize, result: &SqlType) -> Result<ArrayRef, TaskError> {
        self.evaluate_sel(0..n, result)
    }

    /// Final values of the groups `ids`, in that order, cast to `result`.
    pub fn evaluate_at(&self, ids: &[u32], result: &SqlType) -> Result<ArrayRef, TaskError> {
        self.evaluate_sel(ids.iter().map(|g| *g as usize), result)
    }

    fn evaluate_sel<I>(&self, sel: I, result: &SqlType) -> Result<ArrayRef, TaskError>
    where
        I: Iterator<Item = usize> + Clone,
    {
        let target = result.to_arrow();
        let arr: ArrayRef = match self.func {
            AggFunc::Count | AggFunc::CountStar => Arc::new(Int64Array::from(
                sel.map(|g| self.counts[g]).collect::<Vec<_>>(),
            )),
            AggFunc::Avg => match (&self.values, &target) {
                (Values::I128(v), DataType::Decimal128(p, rs)) => {
                    let Domain::I128(s) = self.domain else {
                        unreachable!()
                    };
                    let mul = 10i128.pow((*rs - s).max(0) as u32);
                    let vals: Vec<Option<i128>> = sel
                        .map(|g| {
                            let c = self.counts[g] as i128;
                            (c > 0).then(|| {
                                let num = v[g] * mul;
                                let q = num / c;
                                let r = num % c;
                                if 2 * r.abs() >= c {
                                    q + num.signum()
                                } else {
                                    q
                                }
                            })
                        })
                        .collect();
                    Arc::new(Decimal128Array::from(vals).with_precision_and_scale(*p, *rs)?)
                }
                (Values::I128(v), _) => {
                    let Domain::I128(s) = self.domain else {
                        unreachable!()
                    };
                    let f = 10f64.powi(s as i32);
                    Arc::new(Float64Array::from(
                        sel.map(|g| {
                            (self.counts[g] > 0).then(|| v[g] as f64 / f / self.counts[g] as f64)
                        })
                        .collect::<Vec<_>>(),
                    ))
                }
                (Values::F64(v), _) => Arc::new(Float64Array::from(
                    sel.map(|g| (self.counts[g] > 0).then(|| v[g] / self.counts[g] as f64))
                        .collect::<Vec<_>>(),
                )),
                _ => return Err(TaskError::Operator("AVG over unsupported type".into())),
            },
            _ => self.values_sel(sel)?,
        };
        Ok(if arr.data_type() == &target {
            arr
        } else {
            cast(&arr, &target)?
        })
    }

    /// Partial states for groups `0..n`: one column, or sum and count for AVG.
    pub fn state(&self, n: usize, types: &[SqlType]) -> Result<Vec<ArrayRef>, TaskError> {
        let arrs: Vec<ArrayRef> = match self.func {
            AggFunc::Count | AggFunc::CountStar => {
                vec![Arc::new(Int64Array::from(self.counts[..n].to_vec()))]
            }
            AggFunc::Avg => vec![
                self.values_array(n)?,
                Arc::new(Int64Array::from(self.counts[..n].to_vec())),
            ],
            _ => vec![self.values_array(n)?],
        };
        arrs.into_iter()
            .zip(types)
            .map(|(a, t)| {
                let t = t.to_arrow();
                if a.data_type() == &t {
                    Ok(a)
                } else {
                    cast(&a, &t).map_err(TaskError::from)
                }
            })
            .collect()
    }

    fn values_array(&self, n: usize) -> Result<ArrayRef, TaskError> {
        self.values_sel(0..n)
    }

    fn values_sel<I>(&self, sel: I) -> Result<ArrayRef, TaskError>
    where
        I: Iterator<Item = usize> + Clone,
    {
        let nulls = NullBuffer::from(sel.clone().map(|g| self.seen[g]).collect::<Vec<_>>());
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        Ok(match &self.values {
            Values::I64(v) => Arc::new(Int64Array::new(sel.map(|g| v[g]).collect(), nulls)),
            Values::F64(v) => Arc::new(Float64Array::new(sel.map(|g| v[g]).collect(), nulls)),
            Values::I128(v) => {
                let Domain::I128(s) = self.domain else {
                    unreachable!()
                };
                Arc::new(
                    Decimal128Array::new(sel.map(|g| v[g]).collect(), nulls)
                        .with_precision_and_scale(38, s)?,
                )
            }
            Values::Str(v) => Arc::new(StringArray::from(
                sel.map(|g| v[g].clone()).collect::<Vec<_>>(),
            )),
        })
    }
}

impl Accumulator {
    /// Checkpoints: the number of columns [`Accumulator::snapshot`] writes.
    pub fn snapshot_width(&self) -> usize {
        let state = if self.func == AggFunc::Avg { 2 } else { 1 };
        state + usize::from(self.distinct.is_some())
    }

    /// Checkpoints: the state of groups `0..n`, losslessly in the accumulator's own types: the
    /// partial state (as [`Accumulator::state`]: one column, or sum and count for AVG), then for
    /// a DISTINCT aggregate the argument values each group has seen (a list of encoded keys).
    pub fn snapshot(&self, n: usize) -> Result<Vec<ArrayRef>, TaskError> {
        let counts = || Arc::new(Int64Array::from(self.counts[..n].to_vec())) as ArrayRef;
        let mut cols: Vec<ArrayRef> = match self.func {
            AggFunc::Count | AggFunc::CountStar => vec![counts()],
            AggFunc::Avg => vec![self.values_array(n)?, counts()],
            _ => vec![self.values_array(n)?],
        };
        if let Some(sets) = &self.distinct {
            let mut b = ListBuilder::new(BinaryBuilder::new());
            for set in &sets[..n] {
                for k in set {
                    b.values().append_value(encode_distinct_key(k));
                }
                b.append(true);
            }
            cols.push(Arc::new(b.finish()));
        }
        Ok(cols)
    }

    /// Checkpoints: folds snapshotted states (the columns of [`Accumulator::snapshot`], of
    /// possibly another accumulator of the same call) into groups, with merge semantics
    /// (as a Final-mode accumulator merges partial states), whatever this accumulator's mode.
    pub fn restore(
        &mut self,
        groups: &[u32],
        num_groups: usize,
        cols: &[ArrayRef],
    ) -> Result<(), TaskError> {
        if cols.len() != self.snapshot_width() {
            return Err(TaskError::Operator(format!(
                "{:?} state with {} columns, expected {}",
                self.func,
                cols.len(),
                self.snapshot_width()
            )));
        }
        self.grow(num_groups);
        let state_width = cols.len() - usize::from(self.distinct.is_some());
        if let Some(sets) = &mut self.distinct {
            let lists = cols[state_width]
                .as_any()
                .downcast_ref::<ListArray>()
                .ok_or_else(|| TaskError::Operator("DISTINCT state is not a list".into()))?;
            // folding two states of one group is right only if their value sets are disjoint
            // (MIN/MAX do not care); one group's state comes from one subtask anyway
            let additive = !matches!(self.func, AggFunc::Min | AggFunc::Max);
            for (i, g) in groups.iter().enumerate() {
                let set = &mut sets[*g as usize];
                let vals = lists.value(i);
                let vals = vals
                    .as_any()
                    .downcast_ref::<BinaryArray>()
                    .ok_or_else(|| TaskError::Operator("DISTINCT state is not binary".into()))?;
                for v in vals.iter().flatten() {
                    let k = decode_distinct_key(v)?;
                    if !set.insert(k) && additive {
                        return Err(TaskError::Operator(
                            "a DISTINCT aggregate's group is in two snapshots with common values"
                                .into(),
                        ));
                    }
                }
            }
        }
        let merge = std::mem::replace(&mut self.merge, true);
        let distinct = self.distinct.take();
        let r = self.update(groups, num_groups, &cols[..state_width]);
        self.merge = merge;
        self.distinct = distinct;
        r
    }
}

fn encode_distinct_key(k: &DistinctKey) -> Vec<u8> {
    match k {
        DistinctKey::Int(v) => [&[0u8][..], &v.to_le_bytes()].concat(),
        DistinctKey::Float(v) => [&[1u8][..], &v.to_le_bytes()].concat(),
        DistinctKey::Str(s) => [&[2u8][..], s.as_bytes()].concat(),
    }
}

fn decode_distinct_key(b: &[u8]) -> Result<DistinctKey, TaskError> {
    let bad = || TaskError::Operator("corrupt DISTINCT state".into());
    let (tag, rest) = b.split_first().ok_or_else(bad)?;
    Ok(match tag {
        0 => DistinctKey::Int(i128::from_le_bytes(rest.try_into().map_err(|_| bad())?)),
        1 => DistinctKey::Float(u64::from_le_bytes(rest.try_into().map_err(|_| bad())?)),
        2 => DistinctKey::Str(String::from_utf8(rest.to_vec()).map_err(|_| bad())?),
        _ => return Err(bad()),
    })
}

/// Sums (`cmp` None) or keeps the min/max of `arr` per group.
fn fold_primitive<T: ArrowPrimitiveType>(
    v: &mut [T::Native],
    seen: &mut [bool],
    groups: &[u32],
    arr: &ArrayRef,
    cmp: Option<Cmp>,
    add: impl Fn(T::Native, T::Native) -> T::Native,
) where
    T::Native: PartialOrd,
{
    let a = arr.as_primitive::<T>();
    let vals = a.values();
    let nulls = a.nulls().filter(|n| n.null_count() > 0);
    for (i, g) in groups.iter().enumerate() {
        if nulls.is_some_and(|n| n.is_null(i)) {
            continue;
        }
        let g = *g as usize;
        let x = vals[i];
        match cmp {
            None => v[g] = add(v[g], x),
            Some(c) => {
                if !seen[g] || keep(c, x < v[g]) && x != v[g] {
                    v[g] = x;
                }
            }
        }
        seen[g] = true;
    }
}

fn as_i64(a: &ArrayRef) -> Result<&Int64Array, TaskError> {
    a.as_any().downcast_ref::<Int64Array>().ok_or_else(|| {
        TaskError::Operator(format!(
            "expected a BIGINT state column, got {}",
            a.data_type()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Decimal128Array, StringArray};
    use datafusion::arrow::array::{Float64Array, Int32Array, TimestampMillisecondArray};

    /// A snapshot restored into a fresh accumulator, of the same mode or a merging one, evaluates
    /// the same; a restored single-phase accumulator then folds more rows the same (DISTINCT
    /// values seen before the snapshot are not counted twice).
    #[test]
    #[allow(clippy::too_many_lines)]
    fn snapshots_restore_losslessly() {
        let dec = |v: Vec<Option<i128>>| -> ArrayRef {
            Arc::new(
                Decimal128Array::from(v)
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            )
        };
        let strs = |v: Vec<Option<&str>>| -> ArrayRef { Arc::new(StringArray::from(v)) };
        let cases: Vec<(AggFunc, bool, ArrayRef, ArrayRef, SqlType)> = vec![
            (
                AggFunc::Sum,
                false,
                dec(vec![Some(125), None, Some(-3), Some(99_999)]),
                dec(vec![Some(1), Some(2), None, Some(3)]),
                SqlType::Decimal(38, 2),
            ),
            (
                AggFunc::Avg,
                false,
                dec(vec![Some(125), None, Some(-3), Some(7)]),
                dec(vec![Some(1), Some(2), None, Some(3)]),
                SqlType::Decimal(38, 4),
            ),
            (
                AggFunc::Avg,
                true,
                Arc::new(Float64Array::from(vec![
                    Some(0.1),
                    Some(0.2),
                    None,
                    Some(0.1),
                ])),
                Arc::new(Float64Array::from(vec![
                    Some(0.1),
                    Some(0.3),
                    Some(0.2),
                    None,
                ])),
                SqlType::Double,
            ),
            (
                AggFunc::Min,
                false,
                strs(vec![Some("pear"), None, Some("apple"), Some("fig")]),
                strs(vec![Some("banana"), Some("zz"), None, Some("a")]),
                SqlType::String,
            ),
            (
                AggFunc::Max,
                true,
                strs(vec![Some("pear"), None, Some("apple"), Some("fig")]),
                strs(vec![Some("banana"), Some("zz"), None, Some("a")]),
                SqlType::String,
            ),
            (
                AggFunc::Count,
                true,
                strs(vec![Some("x"), Some("y"), Some("x"), None]),
                strs(vec![Some("x"), Some("z"), Some("y"), Some("x")]),
                SqlType::BigInt,
            ),
            (
                AggFunc::Sum,
                true,
                Arc::new(Int32Array::from(vec![Some(5), Some(5), Some(-2), Some(7)])),
                Arc::new(Int32Array::from(vec![Some(5), Some(6), Some(-2), Some(1)])),
                SqlType::BigInt,
            ),
            (
                AggFunc::Min,
                false,
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(9),
                    None,
                    Some(4),
                    Some(6),
                ])),
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(3),
                    Some(1),
                    None,
                    Some(8),
                ])),
                SqlType::Timestamp(3),
            ),
            (
                AggFunc::CountStar,
                false,
                Arc::new(Int32Array::from(vec![Some(1), None, Some(1), Some(1)])),
                Arc::new(Int32Array::from(vec![None, None, Some(1), Some(1)])),
                SqlType::BigInt,
            ),
        ];
        // groups 0..3; group 2 sees no row before the snapshot
        let before = [0u32, 1, 0, 1];
        let after = [0u32, 2, 1, 0];
        for (func, distinct, first, more, result) in cases {
            let ty = first.data_type().clone();
            let arg = |a: &ArrayRef| -> Vec<ArrayRef> {
                if func == AggFunc::CountStar {
                    vec![]
                } else {
                    vec![a.clone()]
                }
            };
            let mut acc = Accumulator::with_distinct(func, false, distinct, Some(&ty));
            acc.update(&before, 3, &arg(&first)).unwrap();
            let snap = acc.snapshot(3).unwrap();
            assert_eq!(snap.len(), acc.snapshot_width());
            let want = acc.evaluate(3, &result).unwrap();
            let case = format!("{func:?} distinct={distinct} over {ty}");
            // a single-phase accumulator, restored from one snapshot
            let mut single = Accumulator::with_distinct(func, false, distinct, Some(&ty));
            single.restore(&[0, 1, 2], 3, &snap).unwrap();
            assert_eq!(
                single.evaluate(3, &result).unwrap().as_ref(),
                want.as_ref(),
                "{case}"
            );
            acc.update(&after, 3, &arg(&more)).unwrap();
            single.update(&after, 3, &arg(&more)).unwrap();
            assert_eq!(
                single.evaluate(3, &result).unwrap().as_ref(),
                acc.evaluate(3, &result).unwrap().as_ref(),
                "{case}"
            );
            if !distinct {
                // a merging (Final) accumulator, restored from its state: state columns in
                // their own types
                let mut fin = Accumulator::new(func, true, Some(snap[0].data_type()));
                fin.restore(&[0, 1, 2], 3, &snap).unwrap();
                assert_eq!(
                    fin.evaluate(3, &result).unwrap().as_ref(),
                    want.as_ref(),
                    "{case}"
                );
            }
        }
    }

    #[test]
    fn overlapping_distinct_states_of_one_group_are_refused() {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
        let mut acc = Accumulator::with_distinct(AggFunc::Sum, false, true, Some(a.data_type()));
        acc.update(&[0, 0], 1, std::slice::from_ref(&a)).unwrap();
        let snap = acc.snapshot(1).unwrap();
        let mut r = Accumulator::with_distinct(AggFunc::Sum, false, true, Some(a.data_type()));
        r.restore(&[0], 1, &snap).unwrap();
        assert!(r.restore(&[0], 1, &snap).is_err());
        // MIN/MAX do not care
        let mut max = Accumulator::with_distinct(AggFunc::Max, false, true, Some(a.data_type()));
        max.update(&[0, 0], 1, std::slice::from_ref(&a)).unwrap();
        let snap = max.snapshot(1).unwrap();
        let mut r = Accumulator::with_distinct(AggFunc::Max, false, true, Some(a.data_type()));
        r.restore(&[0], 1, &snap).unwrap();
        r.restore(&[0], 1, &snap).unwrap();
        assert_eq!(
            r.evaluate(1, &SqlType::Int).unwrap().as_ref(),
            &Int32Array::from(vec![2]) as &dyn Array
        );
    }
}
