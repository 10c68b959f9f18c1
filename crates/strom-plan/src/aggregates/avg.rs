//! AVG(x) (also `MEAN`): the mean of the non-null values (null for none). Over DECIMAL it sums
//! exactly and rounds half away from zero to the result's scale; otherwise it computes in DOUBLE.
//! Its partial state is the sum and the count.

use super::group_values::{count_non_null, Domain, Fold, GroupValues, Values};
use super::{as_i64, AggError, AggregateFunction, Groups, GroupsAccumulator, StateField};
use crate::types::SqlType;
use datafusion::arrow::array::{Array, ArrayRef, Decimal128Array, Float64Array, Int64Array};
use datafusion::arrow::datatypes::DataType;
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

impl AvgAccumulator {
    /// The decimal mean of `sum` (scale `s`) over `counts`, at scale `rs`, rounded half away
    /// from zero.
    fn decimal_means(
        &self,
        groups: Groups<'_>,
        v: &[i128],
        s: i8,
        p: u8,
        rs: i8,
    ) -> Result<ArrayRef, AggError> {
        let mul = 10i128.pow((rs - s).max(0) as u32);
        let vals: Vec<Option<i128>> = groups.map(|g| {
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
        });
        Ok(Arc::new(
            Decimal128Array::from(vals).with_precision_and_scale(p, rs)?,
        ))
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
        let counts = &self.counts;
        match (&self.sum.values, self.sum.domain, result) {
            (Values::I128(v), Domain::I128(s), DataType::Decimal128(p, rs)) => {
                self.decimal_means(groups, v, s, *p, *rs)
            }
            (Values::I128(v), Domain::I128(s), _) => {
                let f = 10f64.powi(s as i32);
                Ok(Arc::new(Float64Array::from(groups.map(|g| {
                    (counts[g] > 0).then(|| v[g] as f64 / f / counts[g] as f64)
                }))))
            }
            (Values::F64(v), _, _) => {
                Ok(Arc::new(Float64Array::from(groups.map(|g| {
                    (counts[g] > 0).then(|| v[g] / counts[g] as f64)
                }))))
            }
            _ => Err(AggError::State("AVG over unsupported type".into())),
        }
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
