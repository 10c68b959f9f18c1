//! Aggregate functions: one file per function behind [`AggregateFunction`], listed once in
//! [`OWN`]. The SQL planner finds a function by its SQL name, a JobGraph names it
//! ([`AggFunc`], serialized as [`AggregateFunction::name`]), partial aggregate schemas take its
//! state columns from it, and the runtime's aggregate operators (and their checkpoints) fold rows
//! with the [`GroupsAccumulator`] it creates: one virtual call per batch, monomorphic loops over
//! the batch's rows inside.
//!
//! Adding a function: a file here implementing [`AggregateFunction`] and its accumulator, and its
//! `mod` line and entry in [`OWN`]. DataFusion plans the SQL call (and gives its result
//! type), so the name must be one of DataFusion's aggregates. DataFusion's other aggregate
//! functions run through their own accumulators ([`datafusion_udaf`]).

mod avg;
mod count;
mod datafusion_udaf;
mod first_last;
mod group_values;
mod listagg;
mod max;
mod min;
mod sum;
pub mod variance;

pub use datafusion_udaf::PACKED_FIELD;

use crate::types::SqlType;
use crate::AggCall;
use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The aggregate functions with an accumulator of their own, in the order their SQL names are
/// listed to users.
static OWN: &[&dyn AggregateFunction] = &[
    &count::Count,
    &count::CountStar,
    &sum::Sum,
    &min::Min,
    &max::Max,
    &avg::Avg,
    &variance::Variance(variance::Spread::VarPop),
    &variance::Variance(variance::Spread::VarSamp),
    &variance::Variance(variance::Spread::StddevPop),
    &variance::Variance(variance::Spread::StddevSamp),
    &first_last::FirstLast { last: false },
    &first_last::FirstLast { last: true },
    &listagg::ListAgg,
];

/// Every aggregate function Strom evaluates: [`OWN`], then DataFusion's others.
fn registry() -> &'static [&'static dyn AggregateFunction] {
    static ALL: std::sync::OnceLock<Vec<&'static dyn AggregateFunction>> =
        std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let taken: Vec<&str> = OWN.iter().flat_map(|f| f.sql_aliases()).copied().collect();
        let mut all = OWN.to_vec();
        for f in datafusion_udaf::others(&taken) {
            all.push(Box::leak(Box::new(f)));
        }
        all
    })
}

/// An aggregate function: how it is planned, the state its partial aggregates carry and the
/// accumulator that computes it.
pub trait AggregateFunction: Send + Sync + 'static {
    /// Its name in a JobGraph (`COUNT_STAR`, `SUM`, ...): stable, checkpoints and submitted
    /// JobGraphs carry it.
    fn name(&self) -> &'static str;

    /// Its name in SQL and in plan descriptions.
    fn sql_name(&self) -> &'static str {
        self.name()
    }

    /// The lower-case SQL (DataFusion) function names planned into it; none for a form reached
    /// only through another function (`COUNT(*)` through `COUNT`).
    fn sql_aliases(&self) -> &'static [&'static str];

    /// The function that a call with no argument (`COUNT(*)`, `COUNT(1)`) plans into, if any.
    fn star_form(&self) -> Option<AggFunc> {
        None
    }

    /// The state columns of its partial aggregate (and of its checkpoints), given the argument
    /// type (none without argument) and the result type: one column of the result type unless
    /// the function says otherwise.
    fn state_fields(&self, _arg: Option<&SqlType>, result: &SqlType) -> Vec<StateField> {
        vec![StateField {
            name: "state",
            ty: result.clone(),
            nullable: true,
        }]
    }

    /// Whether folding a value twice gives the same result (MIN, MAX): a DISTINCT aggregate's
    /// group may then be restored from two snapshots holding common values.
    fn ignores_duplicates(&self) -> bool {
        false
    }

    /// A fresh accumulator. `input_type`: the argument's type, or the first state column's type
    /// for an accumulator that merges partial states; none for a function without argument.
    fn accumulator(&self, input_type: Option<&DataType>) -> Box<dyn GroupsAccumulator>;

    /// [`AggregateFunction::accumulator`] for the call `call`, which may say more (LISTAGG's
    /// separator, IGNORE NULLS); the default takes only the argument's type.
    fn accumulator_for(
        &self,
        input_type: Option<&DataType>,
        _call: &AggCall,
    ) -> Box<dyn GroupsAccumulator> {
        self.accumulator(input_type)
    }

    /// Whether a constant argument after the column(s) is a constant of the call (its
    /// `literal`: LISTAGG's separator) rather than an argument column.
    fn takes_constant(&self) -> bool {
        false
    }

    /// Whether NULL arguments are skipped (all but ARRAY_AGG and NTH_VALUE): a FILTER clause
    /// then becomes a NULL argument.
    fn skips_nulls(&self) -> bool {
        true
    }

    /// Whether it can be split into a partial and a final aggregate (its partial state a row of
    /// SQL types, see [`AggregateFunction::state_fields`]).
    fn two_phase(&self) -> bool {
        true
    }
}

/// One state column of a partial aggregate: named `${name}{k}` for the k-th call.
#[derive(Debug, Clone, PartialEq)]
pub struct StateField {
    pub name: &'static str,
    pub ty: SqlType,
    pub nullable: bool,
}

/// The groups an accumulator is asked about: the first n, or the given ones in that order.
#[derive(Debug, Clone, Copy)]
pub enum Groups<'a> {
    First(usize),
    Ids(&'a [u32]),
}

impl Groups<'_> {
    /// `f` of each group, in order (one match, then a monomorphic loop).
    pub fn map<T>(self, f: impl FnMut(usize) -> T) -> Vec<T> {
        match self {
            Groups::First(n) => (0..n).map(f).collect(),
            Groups::Ids(ids) => ids.iter().map(|g| *g as usize).map(f).collect(),
        }
    }
}

/// Why an accumulator failed.
#[derive(Debug, thiserror::Error)]
pub enum AggError {
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    #[error("{0}")]
    State(String),
}

/// The per-group state of one aggregate function over columnar batches. Group ids index a dense
/// table; `grow` is called before groups are used.
pub trait GroupsAccumulator: Send + std::fmt::Debug {
    /// Makes room for `groups` groups (new ones start empty).
    fn grow(&mut self, groups: usize);

    /// Folds rows: `groups[i]` is the group of row i, `args` the argument column (none without
    /// argument).
    fn update(&mut self, groups: &[u32], args: &[ArrayRef]) -> Result<(), AggError>;

    /// Folds partial states (the columns of [`GroupsAccumulator::state`], possibly cast to the
    /// partial schema's types): `groups[i]` is the group of row i.
    fn merge(&mut self, groups: &[u32], states: &[ArrayRef]) -> Result<(), AggError>;

    /// The final values of `groups`; `result` is the type the caller casts them to.
    fn evaluate(&self, groups: Groups<'_>, result: &DataType) -> Result<ArrayRef, AggError>;

    /// Folds rows one after another, as [`GroupsAccumulator::update`], and returns for each row
    /// its group's value right after that row (as [`GroupsAccumulator::evaluate`] would give
    /// it then): the per-row results of a changelog, in one call. The default folds and
    /// evaluates row by row; functions override it with one loop.
    fn update_each(
        &mut self,
        groups: &[u32],
        args: &[ArrayRef],
        result: &DataType,
    ) -> Result<ArrayRef, AggError> {
        let mut parts = Vec::with_capacity(groups.len());
        for i in 0..groups.len() {
            let row: Vec<ArrayRef> = args.iter().map(|a| a.slice(i, 1)).collect();
            self.update(&groups[i..=i], &row)?;
            parts.push(self.evaluate(Groups::Ids(&groups[i..=i]), result)?);
        }
        if parts.is_empty() {
            return self.evaluate(Groups::Ids(&[]), result);
        }
        let parts: Vec<&dyn datafusion::arrow::array::Array> =
            parts.iter().map(|a| a.as_ref()).collect();
        Ok(datafusion::arrow::compute::concat(&parts)?)
    }

    /// The partial states of groups `0..n`, in the accumulator's own types: lossless, so that
    /// checkpoints restore exactly.
    fn state(&self, n: usize) -> Result<Vec<ArrayRef>, AggError>;

    /// The number of columns [`GroupsAccumulator::state`] returns.
    fn state_width(&self) -> usize {
        1
    }
}

/// An aggregate function, as a JobGraph names it: a handle to its entry among the registered functions.
#[derive(Clone, Copy)]
pub struct AggFunc(&'static dyn AggregateFunction);

impl AggFunc {
    /// The function with this JobGraph name (any case).
    pub fn named(name: &str) -> Option<AggFunc> {
        registry()
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
            .map(|f| AggFunc(*f))
    }

    /// The function a SQL call of `name` (DataFusion's function name, any case) plans into.
    pub fn for_sql(name: &str) -> Option<AggFunc> {
        let name = name.to_ascii_lowercase();
        registry()
            .iter()
            .find(|f| f.sql_aliases().contains(&name.as_str()))
            .map(|f| AggFunc(*f))
    }

    /// The SQL names users can call, in registry order: `COUNT, SUM, ...`.
    pub fn sql_names() -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for f in registry().iter().filter(|f| !f.sql_aliases().is_empty()) {
            if !names.contains(&f.sql_name()) {
                names.push(f.sql_name());
            }
        }
        names
    }

    /// Every registered function.
    pub fn all() -> impl Iterator<Item = AggFunc> {
        registry().iter().map(|f| AggFunc(*f))
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    pub fn sql_name(&self) -> &'static str {
        self.0.sql_name()
    }
}

impl std::ops::Deref for AggFunc {
    type Target = dyn AggregateFunction;

    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl PartialEq for AggFunc {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for AggFunc {}

impl std::hash::Hash for AggFunc {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl std::fmt::Debug for AggFunc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for AggFunc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for AggFunc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        AggFunc::named(&name).ok_or_else(|| {
            let known: Vec<&str> = registry().iter().map(|f| f.name()).collect();
            serde::de::Error::custom(format!(
                "unknown aggregate function '{name}'; known: {}",
                known.join(", ")
            ))
        })
    }
}

/// A BIGINT column (a count state).
fn as_i64(a: &ArrayRef) -> Result<&Int64Array, AggError> {
    a.as_any().downcast_ref::<Int64Array>().ok_or_else(|| {
        AggError::State(format!(
            "expected a BIGINT state column, got {}",
            a.data_type()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Decimal128Array, Float64Array, StringArray};
    use proptest::prelude::*;
    use std::sync::Arc;

    /// The argument columns `update_each` is tried on, with the result type of each function.
    fn column(kind: usize, vals: &[Option<i64>]) -> (ArrayRef, DataType, DataType) {
        match kind {
            0 => (
                Arc::new(Int64Array::from(vals.to_vec())),
                DataType::Float64,
                DataType::Int64,
            ),
            1 => (
                Arc::new(Float64Array::from_iter(
                    vals.iter().map(|v| v.map(|v| v as f64 / 4.0)),
                )),
                DataType::Float64,
                DataType::Float64,
            ),
            2 => (
                Arc::new(
                    Decimal128Array::from_iter(vals.iter().map(|v| v.map(i128::from)))
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
                DataType::Decimal128(14, 6),
                DataType::Decimal128(38, 2),
            ),
            _ => (
                Arc::new(StringArray::from_iter(
                    vals.iter().map(|v| v.map(|v| format!("s{v}"))),
                )),
                DataType::Utf8,
                DataType::Utf8,
            ),
        }
    }

    proptest! {
        /// Each row's value from `update_each` is what folding the rows one by one and
        /// evaluating after each gives, for every function with an accumulator of its own and
        /// argument type (DataFusion's others fold and evaluate row by row).
        #[test]
        fn update_each_gives_every_rows_result(
            rows in prop::collection::vec((0u32..5, prop::option::weighted(0.8, -50i64..50)), 0..60),
            kind in 0usize..4,
            cut in 0usize..60,
        ) {
            let groups: Vec<u32> = rows.iter().map(|r| r.0).collect();
            let vals: Vec<Option<i64>> = rows.iter().map(|r| r.1).collect();
            let (arg, avg_type, value_type) = column(kind, &vals);
            let cut = cut.min(rows.len());
            for f in AggFunc::all().filter(|f| f.two_phase()) {
                if kind == 3
                    && !matches!(
                        f.name(),
                        "MIN" | "MAX" | "COUNT" | "COUNT_STAR" | "FIRST_VALUE" | "LAST_VALUE" | "LISTAGG"
                    )
                {
                    continue;
                }
                if kind != 3 && f.name() == "LISTAGG" {
                    continue;
                }
                let result = match f.name() {
                    "COUNT" | "COUNT_STAR" => DataType::Int64,
                    "AVG" => avg_type.clone(),
                    "VAR_POP" | "VAR_SAMP" | "STDDEV_POP" | "STDDEV_SAMP" => DataType::Float64,
                    "LISTAGG" => DataType::Utf8,
                    _ => value_type.clone(),
                };
                let args: Vec<ArrayRef> = if f.name() == "COUNT_STAR" { vec![] } else { vec![arg.clone()] };
                let mut each = f.accumulator(Some(arg.data_type()));
                let mut one = f.accumulator(Some(arg.data_type()));
                each.grow(5);
                one.grow(5);
                // a first part folded in bulk, so that update_each starts from non-empty groups
                let head: Vec<ArrayRef> = args.iter().map(|a| a.slice(0, cut)).collect();
                each.update(&groups[..cut], &head).unwrap();
                one.update(&groups[..cut], &head).unwrap();
                let tail: Vec<ArrayRef> = args.iter().map(|a| a.slice(cut, rows.len() - cut)).collect();
                let got = each.update_each(&groups[cut..], &tail, &result).unwrap();
                prop_assert_eq!(got.len(), rows.len() - cut);
                for i in cut..rows.len() {
                    let row: Vec<ArrayRef> = args.iter().map(|a| a.slice(i, 1)).collect();
                    one.update(&groups[i..=i], &row).unwrap();
                    let want = one.evaluate(Groups::Ids(&groups[i..=i]), &result).unwrap();
                    let want = datafusion::arrow::compute::cast(&want, got.data_type()).unwrap();
                    prop_assert_eq!(
                        got.slice(i - cut, 1).to_data(),
                        want.to_data(),
                        "{} row {}", f.name(), i
                    );
                }
                let n = 5;
                prop_assert_eq!(
                    each.state(n).unwrap().iter().map(|a| a.to_data()).collect::<Vec<_>>(),
                    one.state(n).unwrap().iter().map(|a| a.to_data()).collect::<Vec<_>>()
                );
            }
        }
    }

    #[test]
    fn names_are_unique_and_serialize_as_before() {
        let names: Vec<&str> = AggFunc::all().map(|f| f.name()).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(n), "{n} registered twice");
        }
        // the names JobGraphs were written with before the registry
        for old in ["COUNT", "COUNT_STAR", "SUM", "MIN", "MAX", "AVG"] {
            let f: AggFunc = serde_json::from_str(&format!("\"{old}\"")).unwrap();
            assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{old}\""));
        }
        assert!(serde_json::from_str::<AggFunc>("\"NO_SUCH_FUNCTION\"").is_err());
    }

    #[test]
    fn sql_names_plan_into_functions() {
        let names = AggFunc::sql_names();
        assert_eq!(
            names[..12],
            [
                "COUNT",
                "SUM",
                "MIN",
                "MAX",
                "AVG",
                "VAR_POP",
                "VAR_SAMP",
                "STDDEV_POP",
                "STDDEV_SAMP",
                "FIRST_VALUE",
                "LAST_VALUE",
                "LISTAGG"
            ]
        );
        assert_eq!(AggFunc::for_sql("var").unwrap().name(), "VAR_SAMP");
        assert_eq!(AggFunc::for_sql("stddev").unwrap().name(), "STDDEV_SAMP");
        assert_eq!(AggFunc::for_sql("mean").unwrap().name(), "AVG");
        assert_eq!(AggFunc::for_sql("COUNT").unwrap().name(), "COUNT");
        assert_eq!(
            AggFunc::for_sql("count")
                .unwrap()
                .star_form()
                .unwrap()
                .name(),
            "COUNT_STAR"
        );
        assert_eq!(AggFunc::named("count_star").unwrap().sql_name(), "COUNT");
        // DataFusion's others, after Strom's own
        for f in [
            "ARRAY_AGG",
            "BOOL_AND",
            "BIT_XOR",
            "MEDIAN",
            "CORR",
            "NTH_VALUE",
        ] {
            assert!(names[12..].contains(&f), "{f} missing from {names:?}");
        }
        assert_eq!(AggFunc::for_sql("median").unwrap().name(), "MEDIAN");
        assert!(AggFunc::for_sql("grouping").is_none());
    }
}
