//! SUM(x): the sum of the non-null values (null for none), in BIGINT, DOUBLE or DECIMAL; its own
//! partial state.

use super::group_values::{Domain, Fold, GroupValues};
use super::{AggError, AggregateFunction, Groups, GroupsAccumulator};
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;

pub struct Sum;

impl AggregateFunction for Sum {
    fn name(&self) -> &'static str {
        "SUM"
    }

    fn sql_aliases(&self) -> &'static [&'static str] {
        &["sum"]
    }

    fn accumulator(&self, input_type: Option<&DataType>) -> Box<dyn GroupsAccumulator> {
        Box::new(SumAccumulator(GroupValues::new(
            input_type.map(Domain::of).unwrap_or(Domain::I64),
        )))
    }
}

#[derive(Debug)]
struct SumAccumulator(GroupValues);

impl GroupsAccumulator for SumAccumulator {
    fn grow(&mut self, groups: usize) {
        self.0.grow(groups);
    }

    fn update(&mut self, groups: &[u32], args: &[ArrayRef]) -> Result<(), AggError> {
        self.0.fold(groups, &args[0], Fold::Sum)
    }

    fn merge(&mut self, groups: &[u32], states: &[ArrayRef]) -> Result<(), AggError> {
        self.0.fold(groups, &states[0], Fold::Sum)
    }

    fn evaluate(&self, groups: Groups<'_>, _result: &DataType) -> Result<ArrayRef, AggError> {
        self.0.select(groups)
    }

    fn update_each(
        &mut self,
        groups: &[u32],
        args: &[ArrayRef],
        _result: &DataType,
    ) -> Result<ArrayRef, AggError> {
        self.0.fold_each(groups, &args[0], Fold::Sum)
    }

    fn state(&self, n: usize) -> Result<Vec<ArrayRef>, AggError> {
        Ok(vec![self.0.select(Groups::First(n))?])
    }
}
