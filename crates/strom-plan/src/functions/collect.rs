//! Flink's `COLLECT(x)`: the multiset of a group's non-NULL values, as `MULTISET<T>`, which
//! Strom represents as Flink stores it, a `MAP<T, INT>` from each value to how often it occurs
//! (Flink's `CollectAggFunction` keeps a `MapView<T, Integer>`). Rows can be taken back
//! (retraction), so the aggregate also runs over a changelog.
//!
//! The map's entries are in the values' order, so that equal multisets print alike. The state
//! (partial aggregates, checkpoints) is two lists: the distinct values and their counts.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, MapArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use datafusion::scalar::ScalarValue;
use std::collections::HashMap;
use std::sync::Arc;

/// The `collect` aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Collect {
    signature: Signature,
}

impl Default for Collect {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

/// The fields of a `MAP<value, INT>` (as `SqlType::Map`'s Arrow type names them).
fn entries(value: &DataType) -> Fields {
    vec![
        Field::new("key", value.clone(), false),
        Field::new("value", DataType::Int32, true),
    ]
    .into()
}

/// The type of `COLLECT` of values of type `value`.
pub fn multiset_type(value: &DataType) -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(entries(value)),
            false,
        )),
        false,
    )
}

impl AggregateUDFImpl for Collect {
    fn name(&self) -> &str {
        "collect"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [value] => Ok(multiset_type(value)),
            _ => exec_err!("COLLECT takes one argument"),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let value = match args.return_field.data_type() {
            DataType::Map(e, _) => match e.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => kv[0].data_type().clone(),
                _ => return exec_err!("COLLECT: unexpected result type"),
            },
            _ => return exec_err!("COLLECT: unexpected result type"),
        };
        Ok(Box::new(CollectAccumulator {
            value,
            counts: HashMap::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let value = args
            .input_fields
            .first()
            .map_or(DataType::Null, |f| f.data_type().clone());
        Ok(vec![
            Field::new_list(
                format!("{}[values]", args.name),
                Field::new_list_field(value, true),
                true,
            )
            .into(),
            Field::new_list(
                format!("{}[counts]", args.name),
                Field::new_list_field(DataType::Int64, true),
                true,
            )
            .into(),
        ])
    }
}

/// A group's values and how often each occurs.
#[derive(Debug)]
struct CollectAccumulator {
    value: DataType,
    counts: HashMap<ScalarValue, i64>,
}

impl CollectAccumulator {
    fn add(&mut self, values: &ArrayRef, by: i64) -> Result<()> {
        for i in 0..values.len() {
            if values.is_null(i) {
                continue;
            }
            let v = ScalarValue::try_from_array(values, i)?;
            let n = self.counts.entry(v).or_insert(0);
            *n += by;
            if *n <= 0 {
                let v = ScalarValue::try_from_array(values, i)?;
                self.counts.remove(&v);
            }
        }
        Ok(())
    }

    /// The values in order, with their counts.
    fn sorted(&self) -> Vec<(&ScalarValue, i64)> {
        let mut all: Vec<(&ScalarValue, i64)> = self.counts.iter().map(|(v, n)| (v, *n)).collect();
        all.sort_by(|a, b| a.0.partial_cmp(b.0).unwrap_or(std::cmp::Ordering::Equal));
        all
    }
}

impl Accumulator for CollectAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match values.first() {
            Some(v) => self.add(v, 1),
            None => Ok(()),
        }
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match values.first() {
            Some(v) => self.add(v, -1),
            None => Ok(()),
        }
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let all = self.sorted();
        let keys = if all.is_empty() {
            datafusion::arrow::array::new_empty_array(&self.value)
        } else {
            ScalarValue::iter_to_array(all.iter().map(|(v, _)| (*v).clone()))?
        };
        let counts: ArrayRef = Arc::new(Int32Array::from_iter_values(
            all.iter().map(|(_, n)| (*n).min(i32::MAX as i64) as i32),
        ));
        let entries_fields = entries(&self.value);
        let entries = StructArray::try_new(entries_fields.clone(), vec![keys, counts], None)?;
        let map = MapArray::try_new(
            Arc::new(Field::new(
                "entries",
                DataType::Struct(entries_fields),
                false,
            )),
            OffsetBuffer::new(vec![0i32, all.len() as i32].into()),
            entries,
            None,
            false,
        )?;
        Ok(ScalarValue::Map(Arc::new(map)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .counts
                .keys()
                .map(|v| v.size() + std::mem::size_of::<i64>())
                .sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let all = self.sorted();
        let values: Vec<ScalarValue> = all.iter().map(|(v, _)| (*v).clone()).collect();
        let counts: Vec<ScalarValue> = all
            .iter()
            .map(|(_, n)| ScalarValue::Int64(Some(*n)))
            .collect();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list_nullable(&values, &self.value)),
            ScalarValue::List(ScalarValue::new_list_nullable(&counts, &DataType::Int64)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [values, counts] = states else {
            return exec_err!("COLLECT: expected 2 state columns, got {}", states.len());
        };
        let (values, counts) = (values.as_list::<i32>(), counts.as_list::<i32>());
        for row in 0..values.len() {
            if values.is_null(row) || counts.is_null(row) {
                continue;
            }
            let (vs, ns) = (values.value(row), counts.value(row));
            let ns = ns.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            for i in 0..vs.len() {
                let v = ScalarValue::try_from_array(&vs, i)?;
                let n = self.counts.entry(v).or_insert(0);
                *n += ns.value(i);
            }
        }
        self.counts.retain(|_, n| *n > 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use proptest::prelude::*;

    fn acc() -> CollectAccumulator {
        CollectAccumulator {
            value: DataType::Utf8,
            counts: HashMap::new(),
        }
    }

    fn strings(v: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }

    /// The multiset as (value, count) pairs.
    fn pairs(s: ScalarValue) -> Vec<(String, i32)> {
        let ScalarValue::Map(m) = s else {
            panic!("not a map: {s:?}")
        };
        let e = m.value(0);
        let k = e.column(0).as_string::<i32>();
        let n = e
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        (0..e.len())
            .map(|i| (k.value(i).to_string(), n.value(i)))
            .collect()
    }

    #[test]
    fn counts_values_skips_nulls_and_takes_rows_back() {
        let mut a = acc();
        a.update_batch(&[strings(&[Some("b"), Some("a"), None, Some("b")])])
            .unwrap();
        assert_eq!(
            pairs(a.evaluate().unwrap()),
            vec![("a".into(), 1), ("b".into(), 2)]
        );
        a.retract_batch(&[strings(&[Some("a"), Some("b")])])
            .unwrap();
        assert_eq!(pairs(a.evaluate().unwrap()), vec![("b".into(), 1)]);
        a.retract_batch(&[strings(&[Some("b")])]).unwrap();
        assert_eq!(pairs(a.evaluate().unwrap()), vec![]);
    }

    proptest! {
        /// Any split of the rows into two accumulators, merged through their state, gives the
        /// multiset counted by hand.
        #[test]
        fn merged_states_count_every_value(
            rows in proptest::collection::vec(proptest::option::of("[a-d]"), 0..40),
            cut in 0usize..40,
        ) {
            let cut = cut.min(rows.len());
            let col = |r: &[Option<String>]| -> ArrayRef {
                Arc::new(StringArray::from(r.to_vec()))
            };
            let (mut a, mut b) = (acc(), acc());
            a.update_batch(&[col(&rows[..cut])]).unwrap();
            b.update_batch(&[col(&rows[cut..])]).unwrap();
            let state: Vec<ArrayRef> = b
                .state()
                .unwrap()
                .into_iter()
                .map(|s| s.to_array().unwrap())
                .collect();
            a.merge_batch(&state).unwrap();
            let mut want: std::collections::BTreeMap<String, i32> = Default::default();
            for v in rows.iter().flatten() {
                *want.entry(v.clone()).or_default() += 1;
            }
            prop_assert_eq!(pairs(a.evaluate().unwrap()), want.into_iter().collect::<Vec<_>>());
        }
    }
}
