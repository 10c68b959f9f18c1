//! The group aggregate over a changelog (a `GROUP BY` over a join's or another `GROUP BY`'s
//! updates), as Flink's GroupAggFunction with retraction: `+I`/`+U` rows are accumulated, `-U`/`-D`
//! rows retracted, and every change of a group's result is emitted as it happens (`+I` for a
//! new group, `-U`/`+U` for a changed result, `-D` when the group's last row is retracted).
//!
//! Per group it keeps the number of rows and, per call, either running sums (COUNT, SUM, AVG:
//! a count, an exact integer sum and a float sum) or the multiset of the argument's values
//! (MIN, MAX and DISTINCT calls, which a retraction may change back), as Flink keeps a MapView.
//!
//! **Checkpoints**: one Arrow IPC stream of rows `(group keys..., call, value, n, isum, fsum)`:
//! per group one row with `call = -1` and its row count in `n`, one row per running call and
//! one per value of a multiset (its multiplicity in `n`). A restore keeps the groups whose key
//! group it owns; what was emitted before is each group's current result.

use super::state_ipc;
use crate::error::TaskError;
use crate::operator::{Operator, Output, RestoreScope};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Decimal128Array, Float64Array, Int32Array, Int64Array,
    Int8Array, RecordBatch,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Field, Float64Type, Int64Type, SchemaRef,
};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::scalar::ScalarValue;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use strom_plan::{AggregateSpec, RowKind, SqlType};

const SNAPSHOT_FORMAT: &str = "retract-aggregate/v1";

/// How a call is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
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
}

impl Call {
    fn multiset(&self) -> bool {
        self.values.is_some()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
enum State {
    Running {
        n: i64,
        isum: i128,
        fsum: f64,
    },
    Multiset(BTreeMap<Vec<u8>, i64>),
    #[default]
    Empty,
}

#[derive(Debug, Clone)]
struct Group {
    rows: i64,
    states: Vec<State>,
    /// The result last emitted (None: nothing, or retracted).
    emitted: Option<Vec<ScalarValue>>,
}

/// The aggregate over a changelog.
pub struct RetractAggregateOperator {
    spec: AggregateSpec,
    keys: Option<RowConverter>,
    calls: Vec<Call>,
    groups: HashMap<Vec<u8>, Group>,
    output: SchemaRef,
}

fn err(e: impl std::fmt::Display) -> TaskError {
    TaskError::Operator(format!("aggregate over a changelog: {e}"))
}

impl RetractAggregateOperator {
    pub fn new(spec: &AggregateSpec) -> Result<Self, TaskError> {
        let input = &spec.input;
        let keys = (!spec.group_by.is_empty())
            .then(|| {
                RowConverter::new(
                    spec.group_by
                        .iter()
                        .map(|c| SortField::new(input.columns[*c].ty.to_arrow()))
                        .collect(),
                )
            })
            .transpose()?;
        let mut calls = Vec::new();
        for c in &spec.aggregates {
            let kind = match c.func.name() {
                "COUNT_STAR" => Kind::CountStar,
                "COUNT" => Kind::Count,
                "SUM" => Kind::Sum,
                "AVG" => Kind::Avg,
                "MIN" => Kind::Min,
                "MAX" => Kind::Max,
                other => {
                    return Err(TaskError::Deployment(format!(
                        "{other} cannot be retracted yet (an aggregate over a changelog)"
                    )))
                }
            };
            let arg_ty = c.arg.map(|a| input.columns[a].ty.clone());
            let domain = match &arg_ty {
                Some(SqlType::Decimal(_, s)) => Domain::Decimal(*s),
                Some(SqlType::Float | SqlType::Double) => Domain::Float,
                _ => Domain::Int,
            };
            let multiset = c.distinct || matches!(kind, Kind::Min | Kind::Max);
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
            });
        }
        Ok(Self {
            spec: spec.clone(),
            keys,
            calls,
            groups: HashMap::new(),
            output: spec.output.to_arrow(),
        })
    }

    fn new_states(&self) -> Vec<State> {
        self.calls
            .iter()
            .map(|c| {
                if c.multiset() {
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

    /// A call's argument column, prepared for its state: bytes for a multiset, numbers for a
    /// running sum.
    fn prepared(&self, batch: &RecordBatch) -> Result<Vec<Prepared>, TaskError> {
        self.calls
            .iter()
            .map(|c| {
                let Some(a) = c.arg else {
                    return Ok(Prepared::None);
                };
                let col = batch.column(a);
                if let Some(conv) = &c.values {
                    let rows = conv.convert_columns(std::slice::from_ref(col))?;
                    let values = (0..col.len())
                        .map(|i| col.is_valid(i).then(|| rows.row(i).as_ref().to_vec()))
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

    /// The group's result.
    fn results(&self, g: &Group) -> Result<Vec<ScalarValue>, TaskError> {
        self.calls
            .iter()
            .zip(&g.states)
            .map(|(c, s)| result(c, s))
            .collect()
    }

    fn process(&mut self, batch: &RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        let n = batch.num_rows();
        let op_col = batch.num_columns() - 1;
        let kinds = batch
            .column(op_col)
            .as_primitive::<datafusion::arrow::datatypes::Int8Type>();
        let keys = match &self.keys {
            Some(k) => Some(
                k.convert_columns(
                    &self
                        .spec
                        .group_by
                        .iter()
                        .map(|c| batch.column(*c).clone())
                        .collect::<Vec<_>>(),
                )?,
            ),
            None => None,
        };
        let args = self.prepared(batch)?;
        let mut changes = Changes::default();
        for i in 0..n {
            let kind = RowKind::from_byte(kinds.value(i))
                .ok_or_else(|| err(format!("row kind {} is not one", kinds.value(i))))?;
            let sign: i64 = if kind.is_addition() { 1 } else { -1 };
            let key: Vec<u8> = keys
                .as_ref()
                .map_or(Vec::new(), |k| k.row(i).as_ref().to_vec());
            let mut g = match self.groups.remove(&key) {
                Some(g) => g,
                None => Group {
                    rows: 0,
                    states: self.new_states(),
                    emitted: None,
                },
            };
            g.rows += sign;
            for ((c, s), a) in self.calls.iter().zip(g.states.iter_mut()).zip(&args) {
                accumulate(c, s, a, i, sign);
            }
            if g.rows <= 0 {
                if let Some(old) = g.emitted.take() {
                    changes.push(&key, old, RowKind::Delete);
                }
                continue;
            }
            let new = self.results(&g)?;
            match g.emitted.take() {
                None => changes.push(&key, new.clone(), RowKind::Insert),
                Some(old) if old != new => {
                    changes.push(&key, old, RowKind::UpdateBefore);
                    changes.push(&key, new.clone(), RowKind::UpdateAfter);
                }
                Some(_) => {}
            }
            g.emitted = Some(new);
            self.groups.insert(key, g);
        }
        self.emit(changes, out)
    }

    fn emit(&self, changes: Changes, out: &mut dyn Output) -> Result<(), TaskError> {
        if changes.kinds.is_empty() {
            return Ok(());
        }
        let n = changes.kinds.len();
        let mut cols: Vec<ArrayRef> = match &self.keys {
            Some(k) => {
                let parser = k.parser();
                let rows: Vec<_> = changes.keys.iter().map(|b| parser.parse(b)).collect();
                k.convert_rows(rows)?
            }
            None => Vec::new(),
        };
        for (c, call) in self.calls.iter().enumerate() {
            let values = changes.results.iter().map(|r| r[c].clone());
            let a = ScalarValue::iter_to_array(values).map_err(err)?;
            cols.push(if a.data_type() == &call.result {
                a
            } else {
                cast(&a, &call.result)?
            });
        }
        cols.push(Arc::new(Int8Array::from(changes.kinds)));
        out.emit(super::conform(&self.output, cols, n)?)
    }

    fn snapshot_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .spec
            .group_by
            .iter()
            .map(|c| {
                let col = &self.spec.input.columns[*c];
                Field::new(&col.name, col.ty.to_arrow(), true)
            })
            .collect();
        fields.extend([
            Field::new("$call", DataType::Int32, true),
            Field::new("$value", DataType::Binary, true),
            Field::new("$n", DataType::Int64, true),
            Field::new("$isum", DataType::Decimal128(38, 0), true),
            Field::new("$fsum", DataType::Float64, true),
        ]);
        state_ipc::schema(fields, SNAPSHOT_FORMAT, i64::MIN)
    }
}

/// A checkpointed state row: call (-1: the group's row count), value, n, isum, fsum.
type StateRow<'a> = (i32, Option<&'a [u8]>, i64, Option<i128>, Option<f64>);

/// The changes of one input batch.
#[derive(Default)]
struct Changes {
    keys: Vec<Vec<u8>>,
    results: Vec<Vec<ScalarValue>>,
    kinds: Vec<i8>,
}

impl Changes {
    fn push(&mut self, key: &[u8], result: Vec<ScalarValue>, kind: RowKind) {
        self.keys.push(key.to_vec());
        self.results.push(result);
        self.kinds.push(kind as i8);
    }
}

/// A call's argument column of a batch.
enum Prepared {
    None,
    Bytes(Vec<Option<Vec<u8>>>),
    Int(Int64Array),
    Float(Float64Array),
    Decimal(Decimal128Array),
}

fn accumulate(c: &Call, s: &mut State, a: &Prepared, i: usize, sign: i64) {
    match (s, a) {
        (State::Multiset(m), Prepared::Bytes(values)) => {
            if let Some(v) = &values[i] {
                let e = m.entry(v.clone()).or_insert(0);
                *e += sign;
                if *e == 0 {
                    m.remove(v);
                }
            }
        }
        (State::Running { n, .. }, Prepared::None) if c.kind == Kind::CountStar => *n += sign,
        (State::Running { n, isum, fsum }, a) => {
            let valid = match a {
                Prepared::Int(x) if x.is_valid(i) => {
                    *isum += i128::from(sign) * i128::from(x.value(i));
                    true
                }
                Prepared::Float(x) if x.is_valid(i) => {
                    *fsum += sign as f64 * x.value(i);
                    true
                }
                Prepared::Decimal(x) if x.is_valid(i) => {
                    *isum += i128::from(sign) * x.value(i);
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
            Kind::Min | Kind::Max => return Err(err("MIN and MAX keep their values")),
        },
        State::Multiset(m) => {
            let Some(conv) = &c.values else {
                return Err(err("a multiset call without a value type"));
            };
            let parser = conv.parser();
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

impl Operator for RetractAggregateOperator {
    fn name(&self) -> &str {
        "GroupAggregate"
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        self.process(&batch, out)
    }

    fn snapshot_state(&mut self, _checkpoint: u64) -> Result<Option<Vec<u8>>, TaskError> {
        let schema = self.snapshot_schema();
        let mut keys: Vec<&[u8]> = Vec::new();
        let mut call: Vec<i32> = Vec::new();
        let mut value: Vec<Option<&[u8]>> = Vec::new();
        let mut ns: Vec<i64> = Vec::new();
        let mut isums: Vec<Option<i128>> = Vec::new();
        let mut fsums: Vec<Option<f64>> = Vec::new();
        for (k, g) in &self.groups {
            let mut rows: Vec<StateRow<'_>> = vec![(-1, None, g.rows, None, None)];
            for (c, s) in g.states.iter().enumerate() {
                match s {
                    State::Running { n, isum, fsum } => {
                        rows.push((c as i32, None, *n, Some(*isum), Some(*fsum)))
                    }
                    State::Multiset(m) => {
                        for (v, n) in m {
                            rows.push((c as i32, Some(v.as_slice()), *n, None, None));
                        }
                    }
                    State::Empty => {}
                }
            }
            for (c, v, n, i, f) in rows {
                keys.push(k);
                call.push(c);
                value.push(v);
                ns.push(n);
                isums.push(i);
                fsums.push(f);
            }
        }
        let rows = call.len();
        let batches = if rows == 0 {
            vec![]
        } else {
            let mut cols: Vec<ArrayRef> = match &self.keys {
                Some(conv) => {
                    let parser = conv.parser();
                    conv.convert_rows(keys.iter().map(|b| parser.parse(b)))?
                }
                None => Vec::new(),
            };
            cols.push(Arc::new(Int32Array::from(call)));
            cols.push(Arc::new(BinaryArray::from(value)));
            cols.push(Arc::new(Int64Array::from(ns)));
            cols.push(Arc::new(
                Decimal128Array::from(isums).with_precision_and_scale(38, 0)?,
            ));
            cols.push(Arc::new(Float64Array::from(fsums)));
            vec![state_ipc::batch(&schema, cols, rows)?]
        };
        state_ipc::write(&schema, &batches).map(Some)
    }

    fn restore_state(&mut self, states: &[Vec<u8>], scope: &RestoreScope) -> Result<(), TaskError> {
        let expected = self.snapshot_schema();
        let k = self.spec.group_by.len();
        let key_cols: Vec<usize> = (0..k).collect();
        for bytes in states {
            let snap = state_ipc::read(bytes, SNAPSHOT_FORMAT, &expected)?;
            for b in snap.batches {
                let b = state_ipc::owned(&b, &key_cols, scope)?;
                if b.num_rows() == 0 {
                    continue;
                }
                let keys = match &self.keys {
                    Some(conv) => Some(conv.convert_columns(&b.columns()[..k])?),
                    None => None,
                };
                let call = b
                    .column(k)
                    .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
                let value = b.column(k + 1).as_binary::<i32>();
                let ns = b.column(k + 2).as_primitive::<Int64Type>();
                let isums = b.column(k + 3).as_primitive::<Decimal128Type>();
                let fsums = b.column(k + 4).as_primitive::<Float64Type>();
                for i in 0..b.num_rows() {
                    let key = keys
                        .as_ref()
                        .map_or(Vec::new(), |r| r.row(i).as_ref().to_vec());
                    let fresh = self.new_states();
                    let g = self.groups.entry(key).or_insert_with(|| Group {
                        rows: 0,
                        states: fresh,
                        emitted: None,
                    });
                    let c = call.value(i);
                    let n = ns.value(i);
                    if c < 0 {
                        g.rows += n;
                        continue;
                    }
                    match g.states.get_mut(c as usize) {
                        Some(State::Running { n: rn, isum, fsum }) => {
                            *rn += n;
                            *isum += isums.value(i);
                            *fsum += fsums.value(i);
                        }
                        Some(State::Multiset(m)) if value.is_valid(i) => {
                            *m.entry(value.value(i).to_vec()).or_insert(0) += n;
                        }
                        _ => return Err(err("a checkpointed state does not match the query")),
                    }
                }
            }
        }
        // every result was emitted before the checkpoint
        let groups = std::mem::take(&mut self.groups);
        for (k, mut g) in groups {
            if g.rows > 0 {
                g.emitted = Some(self.results(&g)?);
            }
            self.groups.insert(k, g);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::state_ipc::{rescale, route};
    use crate::operators::testkit::Collect;
    use proptest::prelude::*;
    use strom_plan::{AggCall, AggFunc, AggregateMode, Column, RowSchema};

    /// Input `(k, v, op)`; the aggregate `k, COUNT(*), SUM(v), MIN(v), MAX(v), AVG(v),
    /// COUNT(DISTINCT v)` grouped by k.
    fn spec() -> AggregateSpec {
        let c = |name: &str, ty: SqlType| Column {
            name: name.into(),
            ty,
            nullable: true,
        };
        let input =
            RowSchema::new(vec![c("k", SqlType::BigInt), c("v", SqlType::BigInt)]).with_op();
        let call = |f: &str, arg: Option<usize>, distinct: bool, ty: SqlType, name: &str| AggCall {
            func: AggFunc::named(f).unwrap(),
            arg,
            distinct,
            name: name.into(),
            result_type: ty,
        };
        let aggregates = vec![
            call("COUNT_STAR", None, false, SqlType::BigInt, "c"),
            call("SUM", Some(1), false, SqlType::BigInt, "s"),
            call("MIN", Some(1), false, SqlType::BigInt, "mn"),
            call("MAX", Some(1), false, SqlType::BigInt, "mx"),
            call("AVG", Some(1), false, SqlType::Double, "a"),
            call("COUNT", Some(1), true, SqlType::BigInt, "d"),
        ];
        let mut out = vec![c("k", SqlType::BigInt)];
        out.extend(aggregates.iter().map(|a| c(&a.name, a.result_type.clone())));
        AggregateSpec {
            input,
            group_by: vec![0],
            aggregates,
            window_end_column: None,
            window_key_columns: vec![],
            mode: AggregateMode::Single,
            changelog: true,
            mini_batch: false,
            session_gap_ms: None,
            output: RowSchema::new(out).with_op(),
        }
    }

    fn batch(rows: &[(i64, Option<i64>, RowKind)]) -> RecordBatch {
        RecordBatch::try_new(
            spec().input.to_arrow(),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))),
                Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.2 as i8))),
            ],
        )
        .unwrap()
    }

    /// The final table of a changelog, rows as text, sorted.
    fn replay(batches: &[RecordBatch]) -> Vec<String> {
        let mut table: Vec<String> = Vec::new();
        for b in batches {
            let op = b
                .column(b.num_columns() - 1)
                .as_primitive::<datafusion::arrow::datatypes::Int8Type>();
            for i in 0..b.num_rows() {
                let row: Vec<String> = (0..b.num_columns() - 1)
                    .map(|c| {
                        ScalarValue::try_from_array(b.column(c), i)
                            .unwrap()
                            .to_string()
                    })
                    .collect();
                let row = row.join(",");
                if RowKind::from_byte(op.value(i)).unwrap().is_addition() {
                    table.push(row);
                } else {
                    let at = table
                        .iter()
                        .position(|r| *r == row)
                        .expect("retracted row is there");
                    table.swap_remove(at);
                }
            }
        }
        table.sort();
        table
    }

    /// The aggregate of the rows left, computed naively.
    fn naive(rows: &[(i64, Option<i64>)]) -> Vec<String> {
        let mut groups: BTreeMap<i64, Vec<Option<i64>>> = BTreeMap::new();
        for (k, v) in rows {
            groups.entry(*k).or_default().push(*v);
        }
        let mut out = Vec::new();
        for (k, vs) in groups {
            let nn: Vec<i64> = vs.iter().flatten().copied().collect();
            let opt = |x: Option<i64>| x.map_or("NULL".to_string(), |v| v.to_string());
            let distinct: std::collections::BTreeSet<i64> = nn.iter().copied().collect();
            let avg = if nn.is_empty() {
                "NULL".to_string()
            } else {
                ScalarValue::Float64(Some(nn.iter().sum::<i64>() as f64 / nn.len() as f64))
                    .to_string()
            };
            out.push(format!(
                "{k},{},{},{},{},{avg},{}",
                vs.len(),
                opt((!nn.is_empty()).then(|| nn.iter().sum())),
                opt(nn.iter().min().copied()),
                opt(nn.iter().max().copied()),
                distinct.len()
            ));
        }
        out.sort();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Random inserts and retractions of inserted rows, checkpointed after a prefix at
        /// parallelism p and restored at p2: the changelog replays to the naive aggregate of
        /// the rows left.
        #[test]
        fn the_changelog_replays_to_the_aggregate_of_the_rows_left(
            steps in prop::collection::vec(
                prop::collection::vec((0i64..3, prop::option::weighted(0.8, 0i64..5), any::<bool>(), any::<prop::sample::Index>()), 0..10),
                1..6),
            cut in 0usize..6,
            p in 1u32..4,
            p2 in 1u32..4,
        ) {
            let spec = spec();
            let max = 16;
            let mut ops: Vec<RetractAggregateOperator> =
                (0..p).map(|_| RetractAggregateOperator::new(&spec).unwrap()).collect();
            let mut out = Collect(vec![]);
            let mut live: Vec<(i64, Option<i64>)> = Vec::new();
            for (i, step) in steps.iter().enumerate() {
                if i == cut.min(steps.len() - 1) {
                    rescale(&mut ops, p2, max, || RetractAggregateOperator::new(&spec).unwrap());
                }
                let mut rows = Vec::new();
                for (k, v, retract, pick) in step {
                    if *retract && !live.is_empty() {
                        let r = live.swap_remove(pick.index(live.len()));
                        rows.push((r.0, r.1, RowKind::Delete));
                    } else {
                        live.push((*k, *v));
                        rows.push((*k, *v, RowKind::Insert));
                    }
                }
                let b = batch(&rows);
                let n = ops.len() as u32;
                for (op, part) in ops.iter_mut().zip(route(&b, &spec.group_by, n, max)) {
                    if part.num_rows() > 0 {
                        op.process_batch(part, &mut out).unwrap();
                    }
                }
            }
            prop_assert_eq!(replay(&out.0), naive(&live));
        }
    }
}
