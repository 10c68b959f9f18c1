//! VAR_POP, VAR_SAMP (also `VARIANCE`), STDDEV_POP and STDDEV_SAMP (also `STDDEV`) of the
//! non-null values, in DOUBLE: NULL without values, and the sample forms NULL for one value, as
//! in Flink. Folded with Welford's update (count, mean and the sum of squared deviations, m2),
//! partial states merged with Chan's formula; the partial state is those three columns.

use super::{AggError, AggregateFunction, Groups, GroupsAccumulator, StateField};
use crate::types::SqlType;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use std::sync::Arc;

/// Which statistic of the deviations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spread {
    VarPop,
    VarSamp,
    StddevPop,
    StddevSamp,
}

impl Spread {
    /// The statistic of `n` values whose squared deviations from their mean add up to `m2`.
    pub fn of(self, n: f64, m2: f64) -> Option<f64> {
        let var = match self {
            Spread::VarPop | Spread::StddevPop if n > 0.0 => m2 / n,
            Spread::VarSamp | Spread::StddevSamp if n > 1.0 => m2 / (n - 1.0),
            _ => return None,
        };
        let var = var.max(0.0);
        Some(match self {
            Spread::StddevPop | Spread::StddevSamp => var.sqrt(),
            _ => var,
        })
    }
}

/// The running state of one group.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    pub n: f64,
    pub mean: f64,
    pub m2: f64,
}

impl Moments {
    /// Folds `x` with weight `w` (Welford's update, weighted).
    pub fn add(&mut self, x: f64, w: f64) {
        let n = self.n + w;
        let delta = x - self.mean;
        self.mean += delta * w / n;
        self.m2 += w * delta * (x - self.mean);
        self.n = n;
    }

    /// Folds another group's moments (Chan's parallel formula).
    pub fn merge(&mut self, o: &Moments) {
        if o.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = *o;
            return;
        }
        let n = self.n + o.n;
        let delta = o.mean - self.mean;
        self.mean += delta * o.n / n;
        self.m2 += o.m2 + delta * delta * self.n * o.n / n;
        self.n = n;
    }
}

pub struct Variance(pub Spread);

impl AggregateFunction for Variance {
    fn name(&self) -> &'static str {
        match self.0 {
            Spread::VarPop => "VAR_POP",
            Spread::VarSamp => "VAR_SAMP",
            Spread::StddevPop => "STDDEV_POP",
            Spread::StddevSamp => "STDDEV_SAMP",
        }
    }

    fn sql_aliases(&self) -> &'static [&'static str] {
        match self.0 {
            Spread::VarPop => &["var_pop", "var_population"],
            Spread::VarSamp => &["var", "var_samp", "var_sample"],
            Spread::StddevPop => &["stddev_pop"],
            Spread::StddevSamp => &["stddev", "stddev_samp"],
        }
    }

    fn state_fields(&self, _arg: Option<&SqlType>, _result: &SqlType) -> Vec<StateField> {
        vec![
            StateField {
                name: "count",
                ty: SqlType::BigInt,
                nullable: false,
            },
            StateField {
                name: "mean",
                ty: SqlType::Double,
                nullable: false,
            },
            StateField {
                name: "m2",
                ty: SqlType::Double,
                nullable: false,
            },
        ]
    }

    fn accumulator(&self, _input_type: Option<&DataType>) -> Box<dyn GroupsAccumulator> {
        Box::new(VarianceAccumulator {
            spread: self.0,
            groups: Vec::new(),
        })
    }
}

#[derive(Debug)]
struct VarianceAccumulator {
    spread: Spread,
    groups: Vec<Moments>,
}

fn doubles(a: &ArrayRef) -> Result<ArrayRef, AggError> {
    Ok(cast(a, &DataType::Float64)?)
}

impl GroupsAccumulator for VarianceAccumulator {
    fn grow(&mut self, groups: usize) {
        if self.groups.len() < groups {
            self.groups.resize(groups, Moments::default());
        }
    }

    fn update(&mut self, groups: &[u32], args: &[ArrayRef]) -> Result<(), AggError> {
        let x = doubles(&args[0])?;
        let x = x.as_primitive::<Float64Type>();
        for (i, g) in groups.iter().enumerate() {
            if x.is_valid(i) {
                self.groups[*g as usize].add(x.value(i), 1.0);
            }
        }
        Ok(())
    }

    fn update_each(
        &mut self,
        groups: &[u32],
        args: &[ArrayRef],
        _result: &DataType,
    ) -> Result<ArrayRef, AggError> {
        let x = doubles(&args[0])?;
        let x = x.as_primitive::<Float64Type>();
        let mut out = Vec::with_capacity(groups.len());
        for (i, g) in groups.iter().enumerate() {
            let m = &mut self.groups[*g as usize];
            if x.is_valid(i) {
                m.add(x.value(i), 1.0);
            }
            out.push(self.spread.of(m.n, m.m2));
        }
        Ok(Arc::new(Float64Array::from(out)))
    }

    fn merge(&mut self, groups: &[u32], states: &[ArrayRef]) -> Result<(), AggError> {
        let n = cast(&states[0], &DataType::Int64)?;
        let n = n.as_primitive::<Int64Type>();
        let mean = doubles(&states[1])?;
        let mean = mean.as_primitive::<Float64Type>();
        let m2 = doubles(&states[2])?;
        let m2 = m2.as_primitive::<Float64Type>();
        for (i, g) in groups.iter().enumerate() {
            if n.is_valid(i) {
                self.groups[*g as usize].merge(&Moments {
                    n: n.value(i) as f64,
                    mean: mean.value(i),
                    m2: m2.value(i),
                });
            }
        }
        Ok(())
    }

    fn evaluate(&self, groups: Groups<'_>, _result: &DataType) -> Result<ArrayRef, AggError> {
        Ok(Arc::new(Float64Array::from(groups.map(|g| {
            self.spread.of(self.groups[g].n, self.groups[g].m2)
        }))))
    }

    fn state(&self, n: usize) -> Result<Vec<ArrayRef>, AggError> {
        let g = &self.groups[..n];
        Ok(vec![
            Arc::new(Int64Array::from_iter_values(g.iter().map(|m| m.n as i64))),
            Arc::new(Float64Array::from_iter_values(g.iter().map(|m| m.mean))),
            Arc::new(Float64Array::from_iter_values(g.iter().map(|m| m.m2))),
        ])
    }

    fn state_width(&self) -> usize {
        3
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Folding values one by one, or two parts merged, gives the two-pass statistics.
        #[test]
        fn moments_fold_and_merge_to_the_two_pass_answer(
            xs in prop::collection::vec(-1000i64..1000, 0..40),
            cut in 0usize..40,
        ) {
            let xs: Vec<f64> = xs.into_iter().map(|x| x as f64 / 8.0).collect();
            let cut = cut.min(xs.len());
            let (mut a, mut b) = (Moments::default(), Moments::default());
            xs[..cut].iter().for_each(|x| a.add(*x, 1.0));
            xs[cut..].iter().for_each(|x| b.add(*x, 1.0));
            a.merge(&b);
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let m2: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
            for s in [Spread::VarPop, Spread::VarSamp, Spread::StddevPop, Spread::StddevSamp] {
                match (s.of(a.n, a.m2), s.of(n, m2)) {
                    (Some(got), Some(want)) => prop_assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{s:?}: {got} vs {want}"),
                    (got, want) => prop_assert_eq!(got, want),
                }
            }
        }
    }

    #[test]
    fn sample_statistics_of_one_value_are_null() {
        assert_eq!(Spread::VarSamp.of(1.0, 0.0), None);
        assert_eq!(Spread::VarPop.of(1.0, 0.0), Some(0.0));
        assert_eq!(Spread::StddevPop.of(0.0, 0.0), None);
        // 1, 2, 3, 4: m2 = 5
        assert_eq!(Spread::VarSamp.of(4.0, 5.0), Some(5.0 / 3.0));
        assert_eq!(Spread::StddevPop.of(4.0, 5.0), Some((5.0f64 / 4.0).sqrt()));
    }
}
