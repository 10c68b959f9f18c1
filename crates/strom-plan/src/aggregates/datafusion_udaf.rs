//! Every other aggregate function DataFusion has (ARRAY_AGG, BOOL_AND, BIT_XOR, MEDIAN, CORR,
//! REGR_SLOPE, APPROX_DISTINCT, NTH_VALUE, ...), and Flink's that Strom adds to DataFusion
//! (COLLECT), computed by their own DataFusion `Accumulator`, one per group. The functions Strom has a file of its own for (COUNT, SUM, ... LISTAGG) keep their
//! columnar accumulators; these take one virtual call per group and batch instead.
//!
//! Arguments: one column, or several packed by the planner into one ROW column whose fields are
//! named [`PACKED_FIELD`]`0`, `1`, ... (CORR(x, y)), and at most one constant after them (the
//! call's `literal`: NTH_VALUE's n, APPROX_PERCENTILE_CONT's percentile). The partial state is
//! DataFusion's state columns; checkpoints store them and restore merges them, as DataFusion's
//! own two-phase plans do.

use super::{AggError, AggregateFunction, Groups, GroupsAccumulator};
use crate::AggCall;
use datafusion::arrow::array::{new_empty_array, Array, ArrayRef, StructArray, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF};
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::scalar::ScalarValue;
use std::cell::RefCell;
use std::sync::Arc;

/// The field-name prefix of a ROW column that packs a call's several argument columns.
pub const PACKED_FIELD: &str = "$arg";

/// DataFusion's functions that Strom does not run: GROUPING needs grouping sets.
const LEFT_OUT: &[&str] = &["grouping"];

/// The functions whose last argument is a constant (NTH_VALUE's n, the percentile).
const WITH_CONSTANT: &[&str] = &[
    "nth_value",
    "approx_percentile_cont",
    "approx_percentile_cont_with_weight",
    "percentile_cont",
];

/// The functions that keep NULL arguments (unless IGNORE NULLS).
const KEEPING_NULLS: &[&str] = &["array_agg", "nth_value"];

/// A DataFusion aggregate function.
pub(super) struct Udaf {
    name: &'static str,
    aliases: &'static [&'static str],
    udaf: Arc<AggregateUDF>,
}

/// DataFusion's aggregate functions that no function of `taken` (lower-case SQL names) covers.
pub(super) fn others(taken: &[&str]) -> Vec<Udaf> {
    datafusion::functions_aggregate::all_default_aggregate_functions()
        .into_iter()
        .chain(crate::functions::aggregate_functions())
        .filter(|u| !taken.contains(&u.name()) && !LEFT_OUT.contains(&u.name()))
        .map(|udaf| {
            let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
            let mut aliases = vec![leak(udaf.name().to_ascii_lowercase())];
            aliases.extend(udaf.aliases().iter().map(|a| leak(a.to_ascii_lowercase())));
            Udaf {
                name: leak(udaf.name().to_ascii_uppercase()),
                aliases: Box::leak(aliases.into_boxed_slice()),
                udaf,
            }
        })
        .collect()
}

impl AggregateFunction for Udaf {
    fn name(&self) -> &'static str {
        self.name
    }

    fn sql_aliases(&self) -> &'static [&'static str] {
        self.aliases
    }

    fn two_phase(&self) -> bool {
        false
    }

    fn takes_constant(&self) -> bool {
        WITH_CONSTANT.contains(&self.udaf.name())
    }

    fn skips_nulls(&self) -> bool {
        !KEEPING_NULLS.contains(&self.udaf.name())
    }

    fn accumulator(&self, input_type: Option<&DataType>) -> Box<dyn GroupsAccumulator> {
        Box::new(self.groups(input_type, None, false))
    }

    fn accumulator_for(
        &self,
        input_type: Option<&DataType>,
        call: &AggCall,
    ) -> Box<dyn GroupsAccumulator> {
        // a DISTINCT call's repeated values reach the accumulator as NULLs
        let ignore_nulls = call.ignore_nulls || call.distinct;
        Box::new(self.groups(input_type, call.literal.as_deref(), ignore_nulls))
    }
}

impl Udaf {
    fn groups(
        &self,
        input_type: Option<&DataType>,
        literal: Option<&str>,
        ignore_nulls: bool,
    ) -> UdafGroups {
        let factory = Factory::new(&self.udaf, input_type, literal, ignore_nulls);
        UdafGroups {
            name: self.name,
            factory,
            groups: RefCell::new(Vec::new()),
            broken: None,
        }
    }
}

/// What creating one of the function's accumulators takes.
struct Factory {
    udaf: Arc<AggregateUDF>,
    schema: Schema,
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    fields: Vec<FieldRef>,
    ignore_nulls: bool,
    /// The argument columns are packed in one ROW column.
    packed: bool,
    /// The result's field, or why there is none.
    result: Result<FieldRef, String>,
    /// The types of the state columns, or why there are none.
    state_types: Result<Vec<DataType>, String>,
}

/// A constant argument's value: an integer, else a number, else the text.
fn constant(text: &str) -> ScalarValue {
    if let Ok(i) = text.parse::<i64>() {
        ScalarValue::Int64(Some(i))
    } else if let Ok(f) = text.parse::<f64>() {
        ScalarValue::Float64(Some(f))
    } else {
        ScalarValue::Utf8(Some(text.to_string()))
    }
}

impl Factory {
    fn new(
        udaf: &Arc<AggregateUDF>,
        input_type: Option<&DataType>,
        literal: Option<&str>,
        ignore_nulls: bool,
    ) -> Factory {
        let (packed, types): (bool, Vec<DataType>) = match input_type {
            Some(DataType::Struct(fs))
                if fs
                    .first()
                    .is_some_and(|f| f.name().starts_with(PACKED_FIELD)) =>
            {
                (true, fs.iter().map(|f| f.data_type().clone()).collect())
            }
            Some(t) => (false, vec![t.clone()]),
            None => (false, vec![]),
        };
        let mut fields: Vec<FieldRef> = types
            .iter()
            .enumerate()
            .map(|(i, t)| Arc::new(Field::new(format!("a{i}"), t.clone(), true)))
            .collect();
        let schema = Schema::new(fields.clone());
        let mut exprs: Vec<Arc<dyn PhysicalExpr>> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| Arc::new(Column::new(f.name(), i)) as Arc<dyn PhysicalExpr>)
            .collect();
        if let Some(text) = literal {
            let v = constant(text);
            fields.push(Arc::new(Field::new("literal", v.data_type(), false)));
            exprs.push(Arc::new(Literal::new(v)));
        }
        let result = udaf.return_field(&fields).map_err(|e| e.to_string());
        let state_types = result.clone().and_then(|return_field| {
            udaf.state_fields(StateFieldsArgs {
                name: udaf.name(),
                input_fields: &fields,
                return_field,
                ordering_fields: &[],
                is_distinct: false,
            })
            .map(|fs| fs.iter().map(|f| f.data_type().clone()).collect())
            .map_err(|e| e.to_string())
        });
        Factory {
            udaf: udaf.clone(),
            schema,
            exprs,
            fields,
            ignore_nulls,
            packed,
            result,
            state_types,
        }
    }

    fn create(&self) -> Result<Box<dyn Accumulator>, AggError> {
        let return_field = self.result.clone().map_err(AggError::State)?;
        self.udaf
            .accumulator(AccumulatorArgs {
                return_field,
                schema: &self.schema,
                ignore_nulls: self.ignore_nulls,
                order_bys: &[],
                is_reversed: false,
                name: self.udaf.name(),
                is_distinct: false,
                exprs: &self.exprs,
                expr_fields: &self.fields,
            })
            .map_err(|e| AggError::State(format!("{}: {e}", self.udaf.name())))
    }

    /// The argument columns of a call's argument column.
    fn unpack(&self, args: &[ArrayRef]) -> Vec<ArrayRef> {
        match args.first() {
            Some(a) if self.packed => match a.as_any().downcast_ref::<StructArray>() {
                Some(s) => s.columns().to_vec(),
                None => args.to_vec(),
            },
            _ => args.to_vec(),
        }
    }
}

fn df(e: datafusion::error::DataFusionError) -> AggError {
    AggError::State(e.to_string())
}

/// One DataFusion accumulator per group. `RefCell`: DataFusion's `evaluate` and `state` take
/// `&mut self`.
struct UdafGroups {
    name: &'static str,
    factory: Factory,
    groups: RefCell<Vec<Box<dyn Accumulator>>>,
    /// Why no accumulator could be created (reported by every later call).
    broken: Option<String>,
}

impl std::fmt::Debug for UdafGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{} groups]", self.name, self.groups.borrow().len())
    }
}

impl UdafGroups {
    fn usable(&self) -> Result<(), AggError> {
        match &self.broken {
            Some(e) => Err(AggError::State(e.clone())),
            None => Ok(()),
        }
    }

    /// Calls `fold` with each group of `groups` and its rows of `cols`, in the order of
    /// their first rows.
    fn per_group(
        &mut self,
        groups: &[u32],
        cols: &[ArrayRef],
        fold: impl Fn(&mut dyn Accumulator, &[ArrayRef]) -> datafusion::error::Result<()>,
    ) -> Result<(), AggError> {
        let accs = self.groups.get_mut();
        if let Some(g) = groups.first().filter(|g| groups.iter().all(|x| x == *g)) {
            return fold(accs[*g as usize].as_mut(), cols).map_err(df);
        }
        let mut rows: Vec<(u32, Vec<u32>)> = Vec::new();
        let mut slot = std::collections::HashMap::new();
        for (i, g) in groups.iter().enumerate() {
            let k = *slot.entry(*g).or_insert_with(|| {
                rows.push((*g, Vec::new()));
                rows.len() - 1
            });
            rows[k].1.push(i as u32);
        }
        for (g, idx) in rows {
            let idx = UInt32Array::from(idx);
            let part = cols
                .iter()
                .map(|c| take(c.as_ref(), &idx, None))
                .collect::<Result<Vec<_>, _>>()?;
            fold(accs[g as usize].as_mut(), &part).map_err(df)?;
        }
        Ok(())
    }
}

impl GroupsAccumulator for UdafGroups {
    fn grow(&mut self, groups: usize) {
        let accs = self.groups.get_mut();
        while accs.len() < groups && self.broken.is_none() {
            match self.factory.create() {
                Ok(a) => accs.push(a),
                Err(e) => self.broken = Some(e.to_string()),
            }
        }
    }

    fn update(&mut self, groups: &[u32], args: &[ArrayRef]) -> Result<(), AggError> {
        self.usable()?;
        let cols = self.factory.unpack(args);
        self.per_group(groups, &cols, |acc, cols| acc.update_batch(cols))
    }

    fn merge(&mut self, groups: &[u32], states: &[ArrayRef]) -> Result<(), AggError> {
        self.usable()?;
        self.per_group(groups, states, |acc, cols| acc.merge_batch(cols))
    }

    fn evaluate(&self, groups: Groups<'_>, result: &DataType) -> Result<ArrayRef, AggError> {
        self.usable()?;
        let mut accs = self.groups.borrow_mut();
        let values = groups
            .map(|g| accs[g].evaluate())
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(df)?;
        if values.is_empty() {
            return Ok(new_empty_array(result));
        }
        ScalarValue::iter_to_array(values).map_err(df)
    }

    fn state(&self, n: usize) -> Result<Vec<ArrayRef>, AggError> {
        self.usable()?;
        let types = self.factory.state_types.clone().map_err(AggError::State)?;
        let mut accs = self.groups.borrow_mut();
        let mut columns: Vec<Vec<ScalarValue>> = vec![Vec::with_capacity(n); types.len()];
        for acc in accs.iter_mut().take(n) {
            let state = acc.state().map_err(df)?;
            // DataFusion may hand its state over: the group goes on from a copy of it
            let arrays = state
                .iter()
                .map(|v| v.to_array())
                .collect::<Result<Vec<_>, _>>()
                .map_err(df)?;
            let mut fresh = self.factory.create()?;
            fresh.merge_batch(&arrays).map_err(df)?;
            *acc = fresh;
            for (c, v) in columns.iter_mut().zip(state) {
                c.push(v);
            }
        }
        columns
            .into_iter()
            .zip(types)
            .map(|(c, t)| {
                if c.is_empty() {
                    Ok(new_empty_array(&t))
                } else {
                    ScalarValue::iter_to_array(c).map_err(df)
                }
            })
            .collect()
    }

    fn state_width(&self) -> usize {
        self.factory.state_types.as_ref().map_or(1, |t| t.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregates::AggFunc;
    use crate::SqlType;
    use datafusion::arrow::array::{Float64Array, Int64Array, ListArray};
    use datafusion::arrow::datatypes::Fields;

    fn call(f: &str, literal: Option<&str>) -> AggCall {
        AggCall {
            func: AggFunc::named(f).unwrap(),
            arg: Some(0),
            distinct: false,
            name: f.into(),
            result_type: SqlType::BigInt,
            literal: literal.map(str::to_string),
            ignore_nulls: false,
        }
    }

    fn ints(v: &[Option<i64>]) -> ArrayRef {
        Arc::new(Int64Array::from(v.to_vec()))
    }

    /// ARRAY_AGG keeps each group's values (NULLs too) in arrival order; its state, merged
    /// into another accumulator, gives the same arrays.
    #[test]
    fn array_agg_per_group_in_arrival_order_and_its_state_merges() {
        let f = AggFunc::named("ARRAY_AGG").unwrap();
        let c = call("ARRAY_AGG", None);
        let mut acc = f.accumulator_for(Some(&DataType::Int64), &c);
        acc.grow(3);
        acc.update(&[0, 1, 0, 0], &[ints(&[Some(1), Some(2), None, Some(3)])])
            .unwrap();
        acc.update(&[1], &[ints(&[Some(4)])]).unwrap();
        let result = DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)));
        let out = acc.evaluate(Groups::First(3), &result).unwrap();
        let lists = out.as_any().downcast_ref::<ListArray>().unwrap();
        let group = |lists: &ListArray, g: usize| -> Vec<Option<i64>> {
            let v = lists.value(g);
            v.as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .iter()
                .collect()
        };
        assert_eq!(group(lists, 0), [Some(1), None, Some(3)]);
        assert_eq!(group(lists, 1), [Some(2), Some(4)]);
        assert!(lists.is_null(2), "a group without rows is NULL");
        let state = acc.state(3).unwrap();
        assert_eq!(acc.state_width(), state.len());
        let mut other = f.accumulator_for(Some(&DataType::Int64), &c);
        other.grow(3);
        other.merge(&[2, 1, 0], &state).unwrap();
        let again = other.evaluate(Groups::Ids(&[2, 1, 0]), &result).unwrap();
        let again = again.as_any().downcast_ref::<ListArray>().unwrap();
        // state rows 0, 1, 2 went to groups 2, 1, 0, evaluated in that order
        assert_eq!(group(again, 0), group(lists, 0));
        assert_eq!(group(again, 1), group(lists, 1));
        assert!(again.is_null(2));
        // taking the state left the accumulator as it was
        let after = acc.evaluate(Groups::First(3), &result).unwrap();
        let after = after.as_any().downcast_ref::<ListArray>().unwrap();
        assert_eq!(group(after, 0), group(lists, 0));
    }

    /// Several arguments arrive packed in one ROW column (CORR); a constant is a constant of
    /// the call (NTH_VALUE's n).
    #[test]
    fn packed_arguments_and_constants() {
        let f = AggFunc::named("COVAR_POP").unwrap();
        let x: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0]));
        let y: ArrayRef = Arc::new(Float64Array::from(vec![2.0, 4.0, 6.0, 9.0]));
        let fields = Fields::from(vec![
            Field::new(format!("{PACKED_FIELD}0"), DataType::Float64, true),
            Field::new(format!("{PACKED_FIELD}1"), DataType::Float64, true),
        ]);
        let packed: ArrayRef = Arc::new(StructArray::new(fields.clone(), vec![x, y], None));
        let mut acc = f.accumulator_for(Some(&DataType::Struct(fields)), &call("COVAR_POP", None));
        acc.grow(1);
        acc.update(&[0, 0, 0, 0], &[packed]).unwrap();
        let out = acc.evaluate(Groups::First(1), &DataType::Float64).unwrap();
        let got = out
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .value(0);
        // means 2.5 and 5.25; sum of products of deviations 11.5 over 4 rows
        assert!((got - 11.5 / 4.0).abs() < 1e-12, "{got}");

        let f = AggFunc::named("NTH_VALUE").unwrap();
        let mut acc = f.accumulator_for(Some(&DataType::Int64), &call("NTH_VALUE", Some("2")));
        acc.grow(2);
        acc.update(
            &[0, 1, 0, 0],
            &[ints(&[Some(7), Some(8), Some(9), Some(10)])],
        )
        .unwrap();
        let out = acc.evaluate(Groups::First(2), &DataType::Int64).unwrap();
        let out = out.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(out.iter().collect::<Vec<_>>(), [Some(9), None]);
    }
}
