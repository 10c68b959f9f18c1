//! Aggregate states that rows can be taken back from (Flink's retractable accumulators), shared
//! by the aggregate over a changelog and the OVER aggregate (whose frames drop old rows).
//!
//! Per call a state is either running sums (COUNT, SUM, AVG: a count, an exact integer sum and a
//! float sum), the multiset of the argument's values (MIN, MAX, the variances and DISTINCT
//! calls, which a retraction may change back), as Flink keeps a MapView, or the list of the
//! argument's values in arrival order (every other function: FIRST_VALUE, LISTAGG, ARRAY_AGG and
//! DataFusion's others, computed again from the list by the function's accumulator; a retraction
//! takes the first equal value out, as Flink's ListView). A state is checkpointed as rows
//! `(call, value, n, isum, fsum)` ([`Calls::state_rows`], [`Calls::restore_row`]).

use crate::error::TaskError;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array, RecordBatch,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, Float64Type, Int64Type};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::scalar::ScalarValue;
use std::collections::BTreeMap;
use std::sync::Arc;
use strom_plan::aggregates::variance::{Moments, Spread};
use strom_plan::aggregates::Groups;
use strom_plan::{AggCall, RowSchema, SqlType};

fn err(e: impl std::fmt::Display) -> TaskError {
    TaskError::Operator(format!("retractable aggregate: {e}"))
}

/// How a call is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// VAR_POP, VAR_SAMP, STDDEV_POP, STDDEV_SAMP: computed from the multiset of values.
    Spread(Spread),
    /// Any other function: its accumulator folds the values kept (in arrival order, or the
    /// distinct ones).
    Replay,
}

/// The numbers a running SUM or AVG adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain {
    Int,
    Float,
    /// A DECIMAL of this scale, summed exactly.
    Decimal(i8),
}

#[derive(Debug, Clone)]
struct Call {
    kind: Kind,
    distinct: bool,
    arg: Option<usize>,
    domain: Domain,
    /// The argument's values as bytes (multiset calls).
    values: Option<Arc<RowConverter>>,
    result: DataType,
    /// The call itself and its argument's type (a replayed call's accumulator).
    call: AggCall,
    arg_type: Option<DataType>,
}

impl Call {
    fn multiset(&self) -> bool {
        self.values.is_some()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum State {
    Running {
        n: i64,
        isum: i128,
        fsum: f64,
    },
    Multiset(BTreeMap<Vec<u8>, i64>),
    /// The argument's values in arrival order (NULLs too).
    List(Vec<Vec<u8>>),
    #[default]
    Empty,
}

/// A checkpointed state row: call, value (a multiset's), n, isum, fsum.
pub type StateRow<'a> = (i32, Option<&'a [u8]>, i64, Option<i128>, Option<f64>);

/// The aggregate calls of an operator, with what each needs to fold and retract rows.
#[derive(Debug, Clone)]
pub struct Calls {
    calls: Vec<Call>,
}

impl Calls {
    /// The calls `aggregates` over rows of `input`; `what` names the operator in errors.
    pub fn new(input: &RowSchema, aggregates: &[AggCall], what: &str) -> Result<Self, TaskError> {
        let mut calls = Vec::new();
        for c in aggregates {
            let kind = match c.func.name() {
                "COUNT_STAR" => Kind::CountStar,
                "COUNT" => Kind::Count,
                "SUM" => Kind::Sum,
                "AVG" => Kind::Avg,
                "MIN" => Kind::Min,
                "MAX" => Kind::Max,
                "VAR_POP" => Kind::Spread(Spread::VarPop),
                "VAR_SAMP" => Kind::Spread(Spread::VarSamp),
                "STDDEV_POP" => Kind::Spread(Spread::StddevPop),
                "STDDEV_SAMP" => Kind::Spread(Spread::StddevSamp),
                _ if c.arg.is_some() => Kind::Replay,
                other => {
                    return Err(TaskError::Deployment(format!(
                        "{other} without argument cannot be retracted ({what})"
                    )))
                }
            };
            let arg_ty = c.arg.map(|a| input.columns[a].ty.clone());
            let domain = match &arg_ty {
                Some(SqlType::Decimal(_, s)) => Domain::Decimal(*s),
                Some(SqlType::Float | SqlType::Double) => Domain::Float,
                _ => Domain::Int,
            };
            let multiset = c.distinct
                || matches!(kind, Kind::Min | Kind::Max | Kind::Spread(_) | Kind::Replay);
            let values = match (&arg_ty, multiset) {
                (Some(t), true) => Some(Arc::new(RowConverter::new(vec![SortField::new(
                    t.to_arrow(),
                )])?)),
                _ => None,
            };
            calls.push(Call {
                kind,
                distinct: c.distinct,
                arg: c.arg,
                domain,
                values,
                result: c.result_type.to_arrow(),
                call: c.clone(),
                arg_type: arg_ty.map(|t| t.to_arrow()),
            });
        }
        Ok(Self { calls })
    }

    /// Empty states, one per call.
    pub fn new_states(&self) -> Vec<State> {
        self.calls
            .iter()
            .map(|c| {
                if c.kind == Kind::Replay && !c.distinct {
                    State::List(Vec::new())
                } else if c.multiset() {
                    State::Multiset(BTreeMap::new())
                } else {
                    State::Running {
                        n: 0,
                        isum: 0,
                        fsum: 0.0,
                    }
                }
            })
            .collect()
    }

    /// Each call's argument column of `batch`, prepared for its state: bytes for a multiset,
    /// numbers for a running sum.
    pub fn prepare(&self, batch: &RecordBatch) -> Result<Vec<Prepared>, TaskError> {
        self.calls
            .iter()
            .map(|c| {
                let Some(a) = c.arg else {
                    return Ok(Prepared::None);
                };
                let col = batch.column(a);
                if let Some(conv) = &c.values {
                    let rows = conv.convert_columns(std::slice::from_ref(col))?;
                    // a list keeps NULLs (ARRAY_AGG does)
                    let nulls = c.kind == Kind::Replay && !c.distinct;
                    let values = (0..col.len())
                        .map(|i| (nulls || col.is_valid(i)).then(|| rows.row(i).as_ref().to_vec()))
                        .collect();
                    return Ok(Prepared::Bytes(values));
                }
                Ok(match c.domain {
                    Domain::Float => Prepared::Float(
                        cast(col, &DataType::Float64)?
                            .as_primitive::<Float64Type>()
                            .clone(),
                    ),
                    Domain::Int => Prepared::Int(
                        cast(col, &DataType::Int64)?
                            .as_primitive::<Int64Type>()
                            .clone(),
                    ),
                    Domain::Decimal(_) => {
                        Prepared::Decimal(col.as_primitive::<Decimal128Type>().clone())
                    }
                })
            })
            .collect()
    }

    /// Adds (`sign` 1) or takes back (-1) one row whose arguments are `values` (one per call).
    pub fn accumulate<'a>(
        &self,
        states: &mut [State],
        values: impl IntoIterator<Item = &'a Value>,
        sign: i64,
    ) {
        for ((c, s), v) in self.calls.iter().zip(states.iter_mut()).zip(values) {
            accumulate(c, s, v, sign);
        }
    }

    /// Row `i`'s arguments, one per call.
    pub fn values(args: &[Prepared], i: usize) -> Vec<Value> {
        args.iter().map(|a| a.value(i)).collect()
    }

    /// The calls' results from their states.
    pub fn results(&self, states: &[State]) -> Result<Vec<ScalarValue>, TaskError> {
        self.calls
            .iter()
            .zip(states)
            .map(|(c, s)| result(c, s))
            .collect()
    }

    /// The result columns of `results` (rows of one result per call).
    pub fn result_columns<'a>(
        &self,
        results: impl Iterator<Item = &'a Vec<ScalarValue>> + Clone,
    ) -> Result<Vec<ArrayRef>, TaskError> {
        let mut cols = Vec::with_capacity(self.calls.len());
        for (c, call) in self.calls.iter().enumerate() {
            let values = results.clone().map(|r| r[c].clone());
            let a = ScalarValue::iter_to_array(values).map_err(err)?;
            cols.push(if a.data_type() == &call.result {
                a
            } else {
                cast(&a, &call.result)?
            });
        }
        Ok(cols)
    }

    /// The checkpoint columns after the key columns: call, value, n, isum, fsum.
    pub fn snapshot_fields() -> [Field; 5] {
        [
            Field::new("$call", DataType::Int32, true),
            Field::new("$value", DataType::Binary, true),
            Field::new("$n", DataType::Int64, true),
            Field::new("$isum", DataType::Decimal128(38, 0), true),
            Field::new("$fsum", DataType::Float64, true),
        ]
    }

    /// The checkpoint rows of `states`.
    pub fn state_rows(states: &[State]) -> Vec<StateRow<'_>> {
        let mut rows = Vec::new();
        for (c, s) in states.iter().enumerate() {
            match s {
                State::Running { n, isum, fsum } => {
                    rows.push((c as i32, None, *n, Some(*isum), Some(*fsum)))
                }
                State::Multiset(m) => {
                    for (v, n) in m {
                        rows.push((c as i32, Some(v.as_slice()), *n, None, None));
                    }
                }
                State::List(l) => {
                    for v in l {
                        rows.push((c as i32, Some(v.as_slice()), 1, None, None));
                    }
                }
                State::Empty => {}
            }
        }
        rows
    }

    /// Folds a checkpoint row into `states`.
    pub fn restore_row(states: &mut [State], row: StateRow<'_>) -> Result<(), TaskError> {
        let (c, value, n, isum, fsum) = row;
        match states.get_mut(c as usize) {
            Some(State::Running {
                n: rn,
                isum: i,
                fsum: f,
            }) => {
                *rn += n;
                *i += isum.unwrap_or_default();
                *f += fsum.unwrap_or_default();
            }
            Some(State::Multiset(m)) if value.is_some() => {
                *m.entry(value.unwrap_or_default().to_vec()).or_insert(0) += n;
            }
            Some(State::List(l)) if value.is_some() => {
                l.push(value.unwrap_or_default().to_vec());
            }
            _ => return Err(err("a checkpointed state does not match the query")),
        }
        Ok(())
    }

    /// The checkpoint columns of `rows`.
    fn state_columns(rows: &[StateRow<'_>]) -> Result<Vec<ArrayRef>, TaskError> {
        use datafusion::arrow::array::{BinaryArray, Int32Array};
        Ok(vec![
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(BinaryArray::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(
                Decimal128Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())
                    .with_precision_and_scale(38, 0)?,
            ),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.4).collect::<Vec<_>>(),
            )),
        ])
    }

    /// The checkpoint batches of state rows `rows`, each after its key `keys[i]` (bytes of
    /// `converter`; no key columns without one), in `schema` (keys, then the state columns).
    pub fn keyed_state_batches(
        schema: &datafusion::arrow::datatypes::SchemaRef,
        converter: Option<&RowConverter>,
        keys: &[&[u8]],
        rows: &[StateRow<'_>],
    ) -> Result<Vec<RecordBatch>, TaskError> {
        if rows.is_empty() {
            return Ok(vec![]);
        }
        let mut cols: Vec<ArrayRef> = match converter {
            Some(conv) => {
                let parser = conv.parser();
                conv.convert_rows(keys.iter().map(|b| parser.parse(b)))?
            }
            None => Vec::new(),
        };
        cols.extend(Self::state_columns(rows)?);
        Ok(vec![super::state_ipc::batch(schema, cols, rows.len())?])
    }

    /// Row `i` of checkpoint columns `cols` (call, value, n, isum, fsum).
    pub fn state_row(cols: &[ArrayRef], i: usize) -> StateRow<'_> {
        let call = cols[0].as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        let value = cols[1].as_binary::<i32>();
        let ns = cols[2].as_primitive::<Int64Type>();
        let isums = cols[3].as_primitive::<Decimal128Type>();
        let fsums = cols[4].as_primitive::<Float64Type>();
        (
            call.value(i),
            value.is_valid(i).then(|| value.value(i)),
            ns.value(i),
            isums.is_valid(i).then(|| isums.value(i)),
            fsums.is_valid(i).then(|| fsums.value(i)),
        )
    }
}

/// A call's argument column of a batch.
pub enum Prepared {
    None,
    Bytes(Vec<Option<Vec<u8>>>),
    Int(Int64Array),
    Float(Float64Array),
    Decimal(Decimal128Array),
}

impl Prepared {
    /// Row `i`'s value.
    pub fn value(&self, i: usize) -> Value {
        match self {
            Prepared::Bytes(v) => v[i].clone().map_or(Value::Null, Value::Bytes),
            Prepared::Int(a) if a.is_valid(i) => Value::Int(a.value(i)),
            Prepared::Float(a) if a.is_valid(i) => Value::Float(a.value(i)),
            Prepared::Decimal(a) if a.is_valid(i) => Value::Decimal(a.value(i)),
            _ => Value::Null,
        }
    }
}

/// One row's argument of a call, as its state folds it (NULL, or no argument: COUNT(*)).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bytes(Vec<u8>),
    Int(i64),
    Float(f64),
    Decimal(i128),
}

fn accumulate(c: &Call, s: &mut State, v: &Value, sign: i64) {
    match (s, v) {
        (State::List(l), Value::Bytes(b)) => {
            if sign > 0 {
                l.push(b.clone());
            } else if let Some(p) = l.iter().position(|x| x == b) {
                l.remove(p);
            }
        }
        (State::Multiset(m), Value::Bytes(b)) => {
            let e = m.entry(b.clone()).or_insert(0);
            *e += sign;
            if *e == 0 {
                m.remove(b);
            }
        }
        (State::Running { n, .. }, _) if c.kind == Kind::CountStar => *n += sign,
        (State::Running { n, isum, fsum }, v) => {
            let valid = match v {
                Value::Int(x) => {
                    *isum += i128::from(sign) * i128::from(*x);
                    true
                }
                Value::Float(x) => {
                    *fsum += sign as f64 * x;
                    true
                }
                Value::Decimal(x) => {
                    *isum += i128::from(sign) * x;
                    true
                }
                _ => false,
            };
            if valid {
                *n += sign;
            }
        }
        _ => {}
    }
}

/// A call's result from its state.
fn result(c: &Call, s: &State) -> Result<ScalarValue, TaskError> {
    let value = match s {
        State::Running { n, isum, fsum } => match c.kind {
            Kind::CountStar | Kind::Count => ScalarValue::Int64(Some(*n)),
            _ if *n == 0 => ScalarValue::try_from(&c.result).map_err(err)?,
            Kind::Sum => match c.domain {
                Domain::Int => ScalarValue::Int64(Some(*isum as i64)),
                Domain::Float => ScalarValue::Float64(Some(*fsum)),
                Domain::Decimal(sc) => ScalarValue::Decimal128(Some(*isum), 38, sc),
            },
            Kind::Avg => avg(c, *isum as f64, *fsum, *isum, *n),
            Kind::Min | Kind::Max | Kind::Spread(_) | Kind::Replay => {
                return Err(err(
                    "MIN, MAX, the variances and the others keep their values",
                ))
            }
        },
        State::List(l) => replay(c, l.iter())?,
        State::Multiset(m) if c.kind == Kind::Replay => replay(c, m.keys())?,
        State::Multiset(m) => {
            let Some(conv) = &c.values else {
                return Err(err("a multiset call without a value type"));
            };
            let parser = conv.parser();
            if let Kind::Spread(spread) = c.kind {
                // each value as often as it is there (once for DISTINCT)
                let arr = conv.convert_rows(m.keys().map(|b| parser.parse(b)))?;
                let x = cast(&arr[0], &DataType::Float64)?;
                let x = x.as_primitive::<Float64Type>();
                let mut moments = Moments::default();
                for (i, n) in m.values().enumerate() {
                    let w = if c.distinct { 1.0 } else { *n as f64 };
                    moments.add(x.value(i), w);
                }
                return Ok(ScalarValue::Float64(spread.of(moments.n, moments.m2)));
            }
            let pick = match c.kind {
                Kind::Min => m.keys().next().into_iter().collect::<Vec<_>>(),
                Kind::Max => m.keys().next_back().into_iter().collect(),
                _ => m.keys().collect(),
            };
            if c.distinct && matches!(c.kind, Kind::Count) {
                ScalarValue::Int64(Some(m.len() as i64))
            } else if pick.is_empty() {
                ScalarValue::try_from(&c.result).map_err(err)?
            } else {
                let arr = conv.convert_rows(pick.iter().map(|b| parser.parse(b)))?;
                let arr = &arr[0];
                match c.kind {
                    Kind::Min | Kind::Max => ScalarValue::try_from_array(arr, 0).map_err(err)?,
                    // SUM and AVG of the distinct values
                    _ => {
                        let (mut isum, mut fsum) = (0i128, 0f64);
                        match c.domain {
                            Domain::Float => {
                                let f = cast(arr, &DataType::Float64)?;
                                fsum = f.as_primitive::<Float64Type>().values().iter().sum();
                            }
                            Domain::Int => {
                                let x = cast(arr, &DataType::Int64)?;
                                isum = x
                                    .as_primitive::<Int64Type>()
                                    .values()
                                    .iter()
                                    .map(|v| i128::from(*v))
                                    .sum();
                            }
                            Domain::Decimal(_) => {
                                isum = arr.as_primitive::<Decimal128Type>().values().iter().sum();
                            }
                        }
                        let n = arr.len() as i64;
                        match (c.kind, c.domain) {
                            (Kind::Sum, Domain::Int) => ScalarValue::Int64(Some(isum as i64)),
                            (Kind::Sum, Domain::Float) => ScalarValue::Float64(Some(fsum)),
                            (Kind::Sum, Domain::Decimal(sc)) => {
                                ScalarValue::Decimal128(Some(isum), 38, sc)
                            }
                            _ => avg(c, isum as f64, fsum, isum, n),
                        }
                    }
                }
            }
        }
        State::Empty => ScalarValue::try_from(&c.result).map_err(err)?,
    };
    if value.data_type() == c.result {
        Ok(value)
    } else {
        value.cast_to(&c.result).map_err(err)
    }
}

/// A replayed call's result: its accumulator folds `values` (encoded rows of its argument).
fn replay<'a>(
    c: &Call,
    values: impl Iterator<Item = &'a Vec<u8>>,
) -> Result<ScalarValue, TaskError> {
    let Some(conv) = &c.values else {
        return Err(err("a replayed call without a value type"));
    };
    let parser = conv.parser();
    let rows: Vec<_> = values.map(|b| parser.parse(b)).collect();
    let mut acc = c.call.func.accumulator_for(c.arg_type.as_ref(), &c.call);
    acc.grow(1);
    if !rows.is_empty() {
        let args = conv.convert_rows(rows.iter().copied())?;
        acc.update(&vec![0; rows.len()], &args)?;
    }
    let out = acc.evaluate(Groups::First(1), &c.result)?;
    ScalarValue::try_from_array(&out, 0).map_err(err)
}

/// AVG of `n` values summing to `fsum` (floats), `isum_f` / `isum` (integers, decimals).
fn avg(c: &Call, isum_f: f64, fsum: f64, isum: i128, n: i64) -> ScalarValue {
    match (c.domain, &c.result) {
        (Domain::Decimal(s), DataType::Decimal128(p, rs)) => {
            // scale the sum to the result's scale, then divide rounding half away from zero
            let up = 10i128.pow((*rs - s).max(0) as u32);
            let num = isum * up;
            let d = i128::from(n);
            let q = num / d;
            let r = num % d;
            let q = if 2 * r.abs() >= d {
                q + num.signum()
            } else {
                q
            };
            ScalarValue::Decimal128(Some(q), *p, *rs)
        }
        (Domain::Float, _) => ScalarValue::Float64(Some(fsum / n as f64)),
        _ => ScalarValue::Float64(Some(isum_f / n as f64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_plan::{AggFunc, Column};

    /// The variances keep their values: a retraction takes one occurrence back.
    #[test]
    fn variances_follow_retractions() {
        let input = RowSchema::new(vec![Column {
            name: "v".into(),
            ty: SqlType::BigInt,
            nullable: true,
        }]);
        let call = |f: &str, distinct: bool| AggCall {
            func: AggFunc::named(f).unwrap(),
            arg: Some(0),
            distinct,
            name: f.into(),
            result_type: SqlType::Double,
            literal: None,
            ignore_nulls: false,
        };
        let calls = Calls::new(
            &input,
            &[
                call("VAR_POP", false),
                call("VAR_SAMP", false),
                call("STDDEV_POP", true),
                call("STDDEV_SAMP", false),
            ],
            "test",
        )
        .unwrap();
        let mut states = calls.new_states();
        let batch = RecordBatch::try_new(
            input.to_arrow(),
            vec![Arc::new(Int64Array::from(vec![
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                None,
                Some(9),
            ]))],
        )
        .unwrap();
        let args = calls.prepare(&batch).unwrap();
        for i in 0..batch.num_rows() {
            calls.accumulate(&mut states, &Calls::values(&args, i), 1);
        }
        // take the 9 back: 1, 2, 3, 3 (distinct: 1, 2, 3)
        calls.accumulate(&mut states, &Calls::values(&args, 5), -1);
        let got: Vec<f64> = calls
            .results(&states)
            .unwrap()
            .into_iter()
            .map(|v| match v {
                ScalarValue::Float64(Some(x)) => x,
                other => panic!("{other:?}"),
            })
            .collect();
        // mean 2.25, squared deviations 1.5625 + 0.0625 + 0.5625 * 2 = 2.75
        let want = [
            2.75 / 4.0,
            2.75 / 3.0,
            (2.0f64 / 3.0).sqrt(),
            (2.75f64 / 3.0).sqrt(),
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
        }
        // every value taken back: NULL
        for i in 0..4 {
            calls.accumulate(&mut states, &Calls::values(&args, i), -1);
        }
        assert!(calls.results(&states).unwrap().iter().all(|v| v.is_null()));
    }

    /// The other functions keep their values in arrival order: a retraction takes the first
    /// equal value out and the function's accumulator folds the rest again.
    #[test]
    fn replayed_calls_follow_retractions() {
        let input = RowSchema::new(vec![Column {
            name: "v".into(),
            ty: SqlType::String,
            nullable: true,
        }]);
        let call = |f: &str, distinct: bool, result_type: SqlType| AggCall {
            func: AggFunc::named(f).unwrap(),
            arg: Some(0),
            distinct,
            name: f.into(),
            result_type,
            literal: None,
            ignore_nulls: false,
        };
        let calls = Calls::new(
            &input,
            &[
                call("LISTAGG", false, SqlType::String),
                call("FIRST_VALUE", false, SqlType::String),
                call("LAST_VALUE", false, SqlType::String),
                call(
                    "ARRAY_AGG",
                    false,
                    SqlType::Array(Box::new(SqlType::String)),
                ),
                call("LISTAGG", true, SqlType::String),
            ],
            "test",
        )
        .unwrap();
        let mut states = calls.new_states();
        let batch = RecordBatch::try_new(
            input.to_arrow(),
            vec![Arc::new(datafusion::arrow::array::StringArray::from(vec![
                Some("a"),
                Some("b"),
                None,
                Some("a"),
                Some("c"),
            ]))],
        )
        .unwrap();
        let args = calls.prepare(&batch).unwrap();
        for i in 0..batch.num_rows() {
            calls.accumulate(&mut states, &Calls::values(&args, i), 1);
        }
        // take the first "a" back, and the "c"
        calls.accumulate(&mut states, &Calls::values(&args, 0), -1);
        calls.accumulate(&mut states, &Calls::values(&args, 4), -1);
        let text = |v: &ScalarValue| v.to_string();
        let results = calls.results(&states).unwrap();
        let got: Vec<String> = results.iter().map(text).collect();
        assert_eq!(got[..3], ["b,a", "b", "a"]);
        let ScalarValue::List(list) = &results[3] else {
            panic!("{:?}", results[3]);
        };
        let elements = list.value(0);
        let elements: Vec<Option<&str>> = elements.as_string::<i32>().iter().collect();
        assert_eq!(elements, [Some("b"), None, Some("a")]);
        // DISTINCT: the multiset of the values left (in value order)
        assert_eq!(got[4], "a,b");
        // a checkpoint restores the same results
        let mut restored = calls.new_states();
        for row in Calls::state_rows(&states) {
            Calls::restore_row(&mut restored, row).unwrap();
        }
        assert_eq!(restored, states);
    }
}
