//! LISTAGG(x [, separator]): the non-null values of a group as one string, in arrival order,
//! separated by `separator` (`,` by default); NULL without values. Flink's LISTAGG, planned by
//! DataFusion as `string_agg` (the constant separator travels in the call, see
//! `AggCall::literal`). The partial state is the string so far; merging appends.

use super::{AggError, AggregateFunction, Groups, GroupsAccumulator};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use std::sync::Arc;

pub struct ListAgg;

impl AggregateFunction for ListAgg {
    fn name(&self) -> &'static str {
        "LISTAGG"
    }

    fn sql_aliases(&self) -> &'static [&'static str] {
        &["string_agg", "listagg"]
    }

    fn accumulator(&self, input_type: Option<&DataType>) -> Box<dyn GroupsAccumulator> {
        self.with_separator(input_type, None)
    }

    fn takes_constant(&self) -> bool {
        true
    }

    fn accumulator_for(
        &self,
        input_type: Option<&DataType>,
        call: &crate::AggCall,
    ) -> Box<dyn GroupsAccumulator> {
        self.with_separator(input_type, call.literal.as_deref())
    }
}

impl ListAgg {
    fn with_separator(
        &self,
        _input_type: Option<&DataType>,
        separator: Option<&str>,
    ) -> Box<dyn GroupsAccumulator> {
        Box::new(ListAggAccumulator {
            separator: separator.unwrap_or(",").to_string(),
            values: Vec::new(),
        })
    }
}

#[derive(Debug)]
struct ListAggAccumulator {
    separator: String,
    values: Vec<Option<String>>,
}

impl ListAggAccumulator {
    fn fold(&mut self, g: usize, x: &str) {
        match &mut self.values[g] {
            Some(s) => {
                s.push_str(&self.separator);
                s.push_str(x);
            }
            v @ None => *v = Some(x.to_string()),
        }
    }
}

impl GroupsAccumulator for ListAggAccumulator {
    fn grow(&mut self, groups: usize) {
        if self.values.len() < groups {
            self.values.resize(groups, None);
        }
    }

    fn update(&mut self, groups: &[u32], args: &[ArrayRef]) -> Result<(), AggError> {
        let a = cast(&args[0], &DataType::Utf8)?;
        let a = a.as_string::<i32>();
        for (i, g) in groups.iter().enumerate() {
            if a.is_valid(i) {
                self.fold(*g as usize, a.value(i));
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
        let a = cast(&args[0], &DataType::Utf8)?;
        let a = a.as_string::<i32>();
        let mut each = Vec::with_capacity(groups.len());
        for (i, g) in groups.iter().enumerate() {
            let g = *g as usize;
            if a.is_valid(i) {
                self.fold(g, a.value(i));
            }
            each.push(self.values[g].clone());
        }
        Ok(Arc::new(StringArray::from(each)))
    }

    fn merge(&mut self, groups: &[u32], states: &[ArrayRef]) -> Result<(), AggError> {
        self.update(groups, states)
    }

    fn evaluate(&self, groups: Groups<'_>, _result: &DataType) -> Result<ArrayRef, AggError> {
        Ok(Arc::new(StringArray::from(
            groups.map(|g| self.values[g].clone()),
        )))
    }

    fn state(&self, n: usize) -> Result<Vec<ArrayRef>, AggError> {
        Ok(vec![Arc::new(StringArray::from(self.values[..n].to_vec()))])
    }
}
