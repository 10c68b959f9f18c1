//! COUNT(x) (non-null values) and COUNT(*) (rows; also `COUNT(1)`): a BIGINT per group, its own
//! partial state.

use super::group_values::count_non_null;
use super::{as_i64, AggError, AggFunc, AggregateFunction, Groups, GroupsAccumulator};
use datafusion::arrow::array::{Array, ArrayRef, Int64Array};
use datafusion::arrow::datatypes::DataType;
use std::sync::Arc;

pub struct Count;

impl AggregateFunction for Count {
    fn name(&self) -> &'static str {
        "COUNT"
    }

    fn sql_aliases(&self) -> &'static [&'static str] {
        &["count"]
    }

    fn star_form(&self) -> Option<AggFunc> {
        AggFunc::named(CountStar.name())
    }

    fn accumulator(&self, _input_type: Option<&DataType>) -> Box<dyn GroupsAccumulator> {
        Box::new(CountAccumulator {
            counts: Vec::new(),
            star: false,
        })
    }
}

/// COUNT(*): counts rows, has no argument.
pub struct CountStar;

impl AggregateFunction for CountStar {
    fn name(&self) -> &'static str {
        "COUNT_STAR"
    }

    fn sql_name(&self) -> &'static str {
        "COUNT"
    }

    fn sql_aliases(&self) -> &'static [&'static str] {
        &[]
    }

    fn accumulator(&self, _input_type: Option<&DataType>) -> Box<dyn GroupsAccumulator> {
        Box::new(CountAccumulator {
            counts: Vec::new(),
            star: true,
        })
    }
}

#[derive(Debug)]
struct CountAccumulator {
    counts: Vec<i64>,
    /// COUNT(*): every row counts.
    star: bool,
}

impl GroupsAccumulator for CountAccumulator {
    fn grow(&mut self, groups: usize) {
        if self.counts.len() < groups {
            self.counts.resize(groups, 0);
        }
    }

    fn update(&mut self, groups: &[u32], args: &[ArrayRef]) -> Result<(), AggError> {
        if self.star {
            for g in groups {
                self.counts[*g as usize] += 1;
            }
            return Ok(());
        }
        count_non_null(&mut self.counts, groups, &args[0]);
        Ok(())
    }

    fn merge(&mut self, groups: &[u32], states: &[ArrayRef]) -> Result<(), AggError> {
        let a = as_i64(&states[0])?;
        for (i, g) in groups.iter().enumerate() {
            if a.is_valid(i) {
                self.counts[*g as usize] += a.value(i);
            }
        }
        Ok(())
    }

    fn evaluate(&self, groups: Groups<'_>, _result: &DataType) -> Result<ArrayRef, AggError> {
        Ok(Arc::new(Int64Array::from(groups.map(|g| self.counts[g]))))
    }

    fn update_each(
        &mut self,
        groups: &[u32],
        args: &[ArrayRef],
        _result: &DataType,
    ) -> Result<ArrayRef, AggError> {
        let counts = &mut self.counts;
        let each: Vec<i64> = match (self.star, args.first()) {
            (false, Some(a)) => groups
                .iter()
                .enumerate()
                .map(|(i, g)| {
                    let c = &mut counts[*g as usize];
                    *c += i64::from(a.is_valid(i));
                    *c
                })
                .collect(),
            _ => groups
                .iter()
                .map(|g| {
                    let c = &mut counts[*g as usize];
                    *c += 1;
                    *c
                })
                .collect(),
        };
        Ok(Arc::new(Int64Array::from(each)))
    }

    fn state(&self, n: usize) -> Result<Vec<ArrayRef>, AggError> {
        Ok(vec![Arc::new(Int64Array::from(self.counts[..n].to_vec()))])
    }
}
