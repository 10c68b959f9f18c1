//! One value per group in a typed column (BIGINT, DOUBLE, DECIMAL or STRING), folded by sum,
//! min or max over Arrow arrays: the state of SUM, MIN, MAX and AVG's sum.

use super::{AggError, Groups};
use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, Decimal128Array, Float64Array, Int64Array,
    PrimitiveArray, StringArray, StringBuilder,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type};
use std::sync::Arc;

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
pub enum Values {
    I64(Vec<i64>),
    F64(Vec<f64>),
    I128(Vec<i128>),
    Str(Vec<Option<String>>),
}

/// How values fold: added, or the smaller or larger kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fold {
    Sum,
    Min,
    Max,
}

/// Whether a candidate that compares `less` than the current value replaces it.
fn keep(fold: Fold, less: bool) -> bool {
    match fold {
        Fold::Max => !less,
        _ => less,
    }
}

/// One value per group, and whether the group has seen a (non-null) value.
#[derive(Debug)]
pub struct GroupValues {
    pub domain: Domain,
    pub values: Values,
    pub seen: Vec<bool>,
}

impl GroupValues {
    pub fn new(domain: Domain) -> Self {
        let values = match domain {
            Domain::I64 => Values::I64(Vec::new()),
            Domain::F64 => Values::F64(Vec::new()),
            Domain::I128(_) => Values::I128(Vec::new()),
            Domain::Str => Values::Str(Vec::new()),
        };
        Self {
            domain,
            values,
            seen: Vec::new(),
        }
    }

    pub fn grow(&mut self, groups: usize) {
        if self.seen.len() >= groups {
            return;
        }
        self.seen.resize(groups, false);
        match &mut self.values {
            Values::I64(v) => v.resize(groups, 0),
            Values::F64(v) => v.resize(groups, 0.0),
            Values::I128(v) => v.resize(groups, 0),
            Values::Str(v) => v.resize(groups, None),
        }
    }

    /// `arg` cast to the domain's type.
    fn in_domain(&self, arg: &ArrayRef) -> Result<ArrayRef, AggError> {
        let target = self.domain.arrow();
        Ok(if arg.data_type() == &target {
            arg.clone()
        } else {
            cast(arg, &target)?
        })
    }

    /// Folds as [`GroupValues::fold`], row by row, and returns each row's group value right
    /// after that row (null while the group has seen no value), in the domain's type.
    pub fn fold_each(
        &mut self,
        groups: &[u32],
        arg: &ArrayRef,
        fold: Fold,
    ) -> Result<ArrayRef, AggError> {
        let arr = self.in_domain(arg)?;
        let seen = &mut self.seen;
        Ok(match &mut self.values {
            Values::I64(v) => Arc::new(fold_each_primitive::<Int64Type>(
                v,
                seen,
                groups,
                &arr,
                fold,
                i64::wrapping_add,
            )),
            Values::F64(v) => Arc::new(fold_each_primitive::<Float64Type>(
                v,
                seen,
                groups,
                &arr,
                fold,
                |a, b| a + b,
            )),
            Values::I128(v) => {
                let Domain::I128(s) = self.domain else {
                    return Err(AggError::State("decimal values without a scale".into()));
                };
                Arc::new(
                    fold_each_primitive::<Decimal128Type>(
                        v,
                        seen,
                        groups,
                        &arr,
                        fold,
                        i128::wrapping_add,
                    )
                    .with_precision_and_scale(38, s)?,
                )
            }
            Values::Str(v) => {
                let a = as_strings(&arr)?;
                if fold == Fold::Sum {
                    return Err(AggError::State("SUM/AVG of strings".into()));
                }
                let mut b = StringBuilder::with_capacity(groups.len(), 0);
                for (i, g) in groups.iter().enumerate() {
                    let g = *g as usize;
                    if a.is_valid(i) {
                        string_step(&mut v[g], a.value(i), fold);
                        seen[g] = true;
                    }
                    b.append_option(v[g].as_deref());
                }
                Arc::new(b.finish())
            }
        })
    }

    /// Folds the values of `arg` (cast to the domain) into their groups; nulls are skipped.
    pub fn fold(&mut self, groups: &[u32], arg: &ArrayRef, fold: Fold) -> Result<(), AggError> {
        let arr = self.in_domain(arg)?;
        let seen = &mut self.seen;
        match &mut self.values {
            Values::I64(v) => {
                fold_primitive::<Int64Type>(v, seen, groups, &arr, fold, i64::wrapping_add)
            }
            Values::F64(v) => {
                fold_primitive::<Float64Type>(v, seen, groups, &arr, fold, |a, b| a + b)
            }
            Values::I128(v) => {
                fold_primitive::<Decimal128Type>(v, seen, groups, &arr, fold, i128::wrapping_add)
            }
            Values::Str(v) => fold_strings(v, seen, groups, &arr, fold)?,
        }
        Ok(())
    }

    /// The values of `groups` (null where a group has seen none), in the domain's type.
    pub fn select(&self, groups: Groups<'_>) -> Result<ArrayRef, AggError> {
        let nulls = NullBuffer::from(groups.map(|g| self.seen[g]));
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        Ok(match &self.values {
            Values::I64(v) => Arc::new(Int64Array::new(groups.map(|g| v[g]).into(), nulls)),
            Values::F64(v) => Arc::new(Float64Array::new(groups.map(|g| v[g]).into(), nulls)),
            Values::I128(v) => {
                let Domain::I128(s) = self.domain else {
                    return Err(AggError::State("decimal values without a scale".into()));
                };
                Arc::new(
                    Decimal128Array::new(groups.map(|g| v[g]).into(), nulls)
                        .with_precision_and_scale(38, s)?,
                )
            }
            Values::Str(v) => Arc::new(StringArray::from(groups.map(|g| v[g].clone()))),
        })
    }
}

fn as_strings(arr: &ArrayRef) -> Result<&StringArray, AggError> {
    arr.as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| AggError::State("strings not cast to Utf8".into()))
}

/// Folds the string `x` into a group's value (MIN or MAX).
#[inline]
fn string_step(cur: &mut Option<String>, x: &str, fold: Fold) {
    let replace = match cur {
        None => true,
        Some(cur) => keep(fold, x < cur.as_str()) && x != cur.as_str(),
    };
    if replace {
        *cur = Some(x.to_string());
    }
}

fn fold_strings(
    v: &mut [Option<String>],
    seen: &mut [bool],
    groups: &[u32],
    arr: &ArrayRef,
    fold: Fold,
) -> Result<(), AggError> {
    let a = as_strings(arr)?;
    if fold == Fold::Sum {
        return Err(AggError::State("SUM/AVG of strings".into()));
    }
    for (i, g) in groups.iter().enumerate() {
        if a.is_null(i) {
            continue;
        }
        let g = *g as usize;
        string_step(&mut v[g], a.value(i), fold);
        seen[g] = true;
    }
    Ok(())
}

/// Folds the value `x` into a group's value `v` (that has seen a value before when `seen`).
#[inline]
fn step<N: Copy + PartialOrd>(v: &mut N, seen: bool, x: N, fold: Fold, add: impl Fn(N, N) -> N) {
    match fold {
        Fold::Sum => *v = add(*v, x),
        _ => {
            if !seen || keep(fold, x < *v) && x != *v {
                *v = x;
            }
        }
    }
}

/// Sums or keeps the min/max of `arr` per group.
fn fold_primitive<T: ArrowPrimitiveType>(
    v: &mut [T::Native],
    seen: &mut [bool],
    groups: &[u32],
    arr: &ArrayRef,
    fold: Fold,
    add: impl Fn(T::Native, T::Native) -> T::Native,
) where
    T::Native: PartialOrd,
{
    fold_rows::<T>(v, seen, groups, arr, fold, add, |_, _| {});
}

/// [`fold_primitive`], returning each row's group value after the row.
fn fold_each_primitive<T: ArrowPrimitiveType>(
    v: &mut [T::Native],
    seen: &mut [bool],
    groups: &[u32],
    arr: &ArrayRef,
    fold: Fold,
    add: impl Fn(T::Native, T::Native) -> T::Native,
) -> PrimitiveArray<T>
where
    T::Native: PartialOrd,
{
    let mut out = Vec::with_capacity(groups.len());
    let mut valid = Vec::with_capacity(groups.len());
    fold_rows::<T>(v, seen, groups, arr, fold, add, |x, s| {
        out.push(x);
        valid.push(s);
    });
    let nulls = NullBuffer::from(valid);
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    PrimitiveArray::new(out.into(), nulls)
}

/// Folds each non-null value of `arr` into its group, then tells `after` the group's value and
/// whether it has seen one.
fn fold_rows<T: ArrowPrimitiveType>(
    v: &mut [T::Native],
    seen: &mut [bool],
    groups: &[u32],
    arr: &ArrayRef,
    fold: Fold,
    add: impl Fn(T::Native, T::Native) -> T::Native,
    mut after: impl FnMut(T::Native, bool),
) where
    T::Native: PartialOrd,
{
    let a = arr.as_primitive::<T>();
    let vals = a.values();
    let nulls = a.nulls().filter(|n| n.null_count() > 0);
    for (i, g) in groups.iter().enumerate() {
        let g = *g as usize;
        if !nulls.is_some_and(|n| n.is_null(i)) {
            step(&mut v[g], seen[g], vals[i], fold, &add);
            seen[g] = true;
        }
        after(v[g], seen[g]);
    }
}

/// Adds one to each row's group count where the row's value is not NULL (COUNT(x), AVG).
pub fn count_non_null(counts: &mut [i64], groups: &[u32], values: &ArrayRef) {
    for (i, g) in groups.iter().enumerate() {
        if values.is_valid(i) {
            counts[*g as usize] += 1;
        }
    }
}
