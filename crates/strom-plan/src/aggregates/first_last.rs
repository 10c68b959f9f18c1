//! FIRST_VALUE(x) and LAST_VALUE(x): the first or the last non-null value of a group, in the
//! order the rows arrive (as Flink's FirstValue/LastValue aggregate functions without ORDER BY);
//! of any type. The partial state is the value; merging keeps the first partial's value
//! (FIRST_VALUE) or the last one's (LAST_VALUE).

use super::{AggError, AggregateFunction, Groups, GroupsAccumulator};
use datafusion::arrow::array::{new_empty_array, Array, ArrayRef};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

pub struct FirstLast {
    /// LAST_VALUE: each value replaces the one before.
    pub last: bool,
}

impl AggregateFunction for FirstLast {
    fn name(&self) -> &'static str {
        if self.last {
            "LAST_VALUE"
        } else {
            "FIRST_VALUE"
        }
    }

    fn sql_aliases(&self) -> &'static [&'static str] {
        if self.last {
            &["last_value"]
        } else {
            &["first_value"]
        }
    }

    fn ignores_duplicates(&self) -> bool {
        true
    }

    fn accumulator(&self, input_type: Option<&DataType>) -> Box<dyn GroupsAccumulator> {
        Box::new(FirstLastAccumulator {
            last: self.last,
            data_type: input_type.cloned().unwrap_or(DataType::Null),
            values: Vec::new(),
        })
    }
}

#[derive(Debug)]
struct FirstLastAccumulator {
    last: bool,
    data_type: DataType,
    values: Vec<Option<ScalarValue>>,
}

impl FirstLastAccumulator {
    /// Folds row `i` of `arg` into group `g`.
    fn fold(&mut self, g: usize, arg: &ArrayRef, i: usize) -> Result<(), AggError> {
        if arg.is_null(i) || (!self.last && self.values[g].is_some()) {
            return Ok(());
        }
        self.values[g] = Some(ScalarValue::try_from_array(arg, i).map_err(df)?);
        Ok(())
    }

    fn array(
        &self,
        values: impl Iterator<Item = Option<ScalarValue>>,
    ) -> Result<ArrayRef, AggError> {
        let null = ScalarValue::try_from(&self.data_type).map_err(df)?;
        let values: Vec<ScalarValue> = values.map(|v| v.unwrap_or_else(|| null.clone())).collect();
        if values.is_empty() {
            return Ok(new_empty_array(&self.data_type));
        }
        ScalarValue::iter_to_array(values).map_err(df)
    }
}

fn df(e: datafusion::error::DataFusionError) -> AggError {
    AggError::State(e.to_string())
}

impl GroupsAccumulator for FirstLastAccumulator {
    fn grow(&mut self, groups: usize) {
        if self.values.len() < groups {
            self.values.resize(groups, None);
        }
    }

    fn update(&mut self, groups: &[u32], args: &[ArrayRef]) -> Result<(), AggError> {
        for (i, g) in groups.iter().enumerate() {
            self.fold(*g as usize, &args[0], i)?;
        }
        Ok(())
    }

    fn update_each(
        &mut self,
        groups: &[u32],
        args: &[ArrayRef],
        _result: &DataType,
    ) -> Result<ArrayRef, AggError> {
        let mut each = Vec::with_capacity(groups.len());
        for (i, g) in groups.iter().enumerate() {
            self.fold(*g as usize, &args[0], i)?;
            each.push(self.values[*g as usize].clone());
        }
        self.array(each.into_iter())
    }

    fn merge(&mut self, groups: &[u32], states: &[ArrayRef]) -> Result<(), AggError> {
        self.update(groups, states)
    }

    fn evaluate(&self, groups: Groups<'_>, _result: &DataType) -> Result<ArrayRef, AggError> {
        self.array(groups.map(|g| self.values[g].clone()).into_iter())
    }

    fn state(&self, n: usize) -> Result<Vec<ArrayRef>, AggError> {
        Ok(vec![self.array(self.values[..n].iter().cloned())?])
    }
}
