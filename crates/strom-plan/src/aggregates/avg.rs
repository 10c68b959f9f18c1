//! AVG(x) (also `MEAN`): the mean of the non-null values (null for none). Over DECIMAL it sums
//! exactly and rounds half away from zero to the result's scale; otherwise it computes in DOUBLE.
//! Its partial state is the sum and the count.

use super::group_values::{count_non_null, Domain, Fold, GroupValues, Values};
use super::{as_i64, AggError, AggregateFunction, Groups, GroupsAccumulator, StateField};
use crate::types::SqlType;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array,
};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Float64Type};
use std::sync::Arc;

pub struct Avg;

impl AggregateFunction for Avg {
    fn name(&self) -> &'static str {
        "AVG"
    }

    fn sql_aliases(&self) -> &'static [&'static str] {
        &["avg", "mean"]
    }

    fn state_fields(&self, arg: Option<&SqlType>, _result: &SqlType) -> Vec<StateField> {
        let sum_ty = match arg {
            Some(SqlType::Decimal(_, s)) => SqlType::Decimal(38, *s),
            _ => SqlType::Double,
        };
        vec![
            StateField {
                name: "sum",
                ty: sum_ty,
                nullable: true,
            },
            StateField {
                name: "count",
                ty: SqlType::BigInt,
                nullable: false,
            },
        ]
    }

    fn accumulator(&self, input_type: Option<&DataType>) -> Box<dyn GroupsAccumulator> {
        let domain = match input_type.map(Domain::of) {
            Some(Domain::I128(s)) => Domain::I128(s),
            _ => Domain::F64,
        };
        Box::new(AvgAccumulator {
            sum: GroupValues::new(domain),
            counts: Vec::new(),
        })
    }
}

#[derive(Debug)]
struct AvgAccumulator {
    sum: GroupValues,
    counts: Vec<i64>,
}

/// The decimal mean of `sum` (scale `s`) over `count` rows, at scale `rs`, rounded half away
/// from zero; none without rows.
fn decimal_mean(sum: i128, count: i64, s: i8, rs: i8) -> Option<i128> {
    let c = count as i128;
    (c > 0).then(|| {
        let num = sum * 10i128.pow((rs - s).max(0) as u32);
        let q = num / c;
        let r = num % c;
        if 2 * r.abs() >= c {
            q + num.signum()
        } else {
            q
        }
    })
}

/// The means of (sum, count) pairs, in `result`'s type (decimal) or DOUBLE.
fn means(
    pairs: impl Iterator<Item = (SumValue, i64)>,
    domain: Domain,
    result: &DataType,
) -> Result<ArrayRef, AggError> {
    Ok(match (domain, result) {
        (Domain::I128(s), DataType::Decimal128(p, rs)) => Arc::new(
            Decimal128Array::from_iter(pairs.map(|(v, c)| decimal_mean(v.int(), c, s, *rs)))
                .with_precision_and_scale(*p, *rs)?,
        ),
        (Domain::I128(s), _) => {
            let f = 10f64.powi(s as i32);
            Arc::new(Float64Array::from_iter(
                pairs.map(|(v, c)| (c > 0).then(|| v.int() as f64 / f / c as f64)),
            ))
        }
        (Domain::F64, _) => Arc::new(Float64Array::from_iter(
            pairs.map(|(v, c)| (c > 0).then(|| v.float() / c as f64)),
        )),
        _ => return Err(AggError::State("AVG over unsupported type".into())),
    })
}

/// A group's sum: decimal (unscaled) or DOUBLE.
#[derive(Clone, Copy)]
enum SumValue {
    Int(i128),
    Float(f64),
}

impl SumValue {
    fn int(self) -> i128 {
        match self {
            SumValue::Int(v) => v,
            SumValue::Float(v) => v as i128,
        }
    }

    fn float(self) -> f64 {
        match self {
            SumValue::Int(v) => v as f64,
            SumValue::Float(v) => v,
        }
    }
}

impl AvgAccumulator {
    fn sum_of(&self, g: usize) -> SumValue {
        match &self.sum.values {
            Values::I128(v) => SumValue::Int(v[g]),
            Values::F64(v) => SumValue::Float(v[g]),
            Values::I64(v) => SumValue::Int(v[g] as i128),
            Values::Str(_) => SumValue::Int(0),
        }
    }
}

impl GroupsAccumulator for AvgAccumulator {
    fn grow(&mut self, groups: usize) {
        self.sum.grow(groups);
        if self.counts.len() < groups {
            self.counts.resize(groups, 0);
        }
    }

    fn update(&mut self, groups: &[u32], args: &[ArrayRef]) -> Result<(), AggError> {
        self.sum.fold(groups, &args[0], Fold::Sum)?;
        count_non_null(&mut self.counts, groups, &args[0]);
        Ok(())
    }

    fn merge(&mut self, groups: &[u32], states: &[ArrayRef]) -> Result<(), AggError> {
        self.sum.fold(groups, &states[0], Fold::Sum)?;
        let c = as_i64(&states[1])?;
        for (i, g) in groups.iter().enumerate() {
            if c.is_valid(i) {
                self.counts[*g as usize] += c.value(i);
            }
        }
        Ok(())
    }

    fn evaluate(&self, groups: Groups<'_>, result: &DataType) -> Result<ArrayRef, AggError> {
        let pairs = groups.map(|g| (self.sum_of(g), self.counts[g]));
        means(pairs.into_iter(), self.sum.domain, result)
    }

    fn update_each(
        &mut self,
        groups: &[u32],
        args: &[ArrayRef],
        result: &DataType,
    ) -> Result<ArrayRef, AggError> {
        let sums = self.sum.fold_each(groups, &args[0], Fold::Sum)?;
        let sums: Vec<SumValue> = match self.sum.domain {
            Domain::I128(_) => sums
                .as_primitive::<Decimal128Type>()
                .values()
                .iter()
                .map(|v| SumValue::Int(*v))
                .collect(),
            _ => sums
                .as_primitive::<Float64Type>()
                .values()
                .iter()
                .map(|v| SumValue::Float(*v))
                .collect(),
        };
        let mut pairs = Vec::with_capacity(groups.len());
        for (i, (g, sum)) in groups.iter().zip(sums).enumerate() {
            let c = &mut self.counts[*g as usize];
            *c += i64::from(args[0].is_valid(i));
            pairs.push((sum, *c));
        }
        means(pairs.into_iter(), self.sum.domain, result)
    }

    fn state(&self, n: usize) -> Result<Vec<ArrayRef>, AggError> {
        Ok(vec![
            self.sum.select(Groups::First(n))?,
            Arc::new(Int64Array::from(self.counts[..n].to_vec())),
        ])
    }

    fn state_width(&self) -> usize {
        2
    }
}
