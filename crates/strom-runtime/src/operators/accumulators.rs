//! The per-group state of one aggregate call: the function's accumulator (from
//! [`strom_plan::aggregates`], one file per function) with what every function shares: the
//! Final phase's merging of partial states, DISTINCT (the values each group has seen) and
//! checkpoint snapshots.

use super::distinct_sets::{DistinctSets, SharedInts};
use crate::error::TaskError;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::arrow::compute::{cast, nullif};
use datafusion::arrow::datatypes::DataType;
use std::sync::Arc;
use strom_plan::aggregates::{Groups, GroupsAccumulator};
use strom_plan::{AggCall, AggFunc, SqlType};

/// One aggregate's state for every group of a table.
#[derive(Debug)]
pub struct Accumulator {
    func: AggFunc,
    /// Final mode: inputs are partial states.
    merge: bool,
    inner: Box<dyn GroupsAccumulator>,
    /// DISTINCT aggregates: the argument values each group has seen (only new ones are folded).
    distinct: Option<DistinctSets>,
}

impl Accumulator {
    /// `input_type`: the type of the argument (Single/Partial) or of the state column (Final).
    pub fn new(func: AggFunc, merge: bool, input_type: Option<&DataType>) -> Self {
        Self::with_distinct(func, merge, false, input_type)
    }

    /// `distinct`: COUNT(DISTINCT x), SUM(DISTINCT x), ...: each group folds every argument value
    /// once (single-phase aggregates only).
    pub fn with_distinct(
        func: AggFunc,
        merge: bool,
        distinct: bool,
        input_type: Option<&DataType>,
    ) -> Self {
        Self {
            func,
            merge,
            inner: func.accumulator(input_type),
            distinct: (distinct && !merge).then(|| DistinctSets::new(input_type)),
        }
    }

    /// The accumulator of aggregate call `call` (its function, DISTINCT and constant argument).
    pub fn for_call(call: &AggCall, merge: bool, input_type: Option<&DataType>) -> Self {
        Self {
            inner: call.func.accumulator_for(input_type, call),
            ..Self::with_distinct(call.func, merge, call.distinct, input_type)
        }
    }

    /// A DISTINCT call of integers keeps its values in `shared`, with the other calls of its
    /// aggregate (see [`SharedInts`]); before any row.
    pub(crate) fn sharing_distinct(mut self, shared: &SharedInts) -> Self {
        self.distinct = self.distinct.map(|d| d.shared(shared));
        self
    }

    /// Makes room for `groups` groups (new ones start empty).
    pub fn grow(&mut self, groups: usize) {
        self.inner.grow(groups);
        if let Some(d) = &mut self.distinct {
            d.grow(groups);
        }
    }

    /// Adds rows: `groups[i]` is the group of row i; `args` the argument column (none for
    /// COUNT(*)), or when merging the call's state columns.
    pub fn update(
        &mut self,
        groups: &[u32],
        num_groups: usize,
        args: &[ArrayRef],
    ) -> Result<(), TaskError> {
        self.grow(num_groups);
        if groups.is_empty() {
            return Ok(());
        }
        if let (Some(sets), Some(arg)) = (&mut self.distinct, args.first()) {
            // keep only the first occurrence of each value per group
            let mut rows = Vec::new();
            let mut kept = Vec::new();
            for ((i, g), new) in groups.iter().enumerate().zip(sets.first_seen(groups, arg)) {
                if new {
                    rows.push(i as u32);
                    kept.push(*g);
                }
            }
            if kept.len() < groups.len() {
                if kept.is_empty() {
                    return Ok(());
                }
                let idx = datafusion::arrow::array::UInt32Array::from(rows);
                let arg = datafusion::arrow::compute::take(arg.as_ref(), &idx, None)?;
                return self.fold(&kept, &[arg], self.merge);
            }
        }
        self.fold(groups, args, self.merge)
    }

    /// Adds rows as [`Accumulator::update`] and returns each row's group result right after
    /// that row, cast to `result` (a changelog's per-row results). Not for merging.
    pub fn update_each(
        &mut self,
        groups: &[u32],
        num_groups: usize,
        args: &[ArrayRef],
        result: &SqlType,
    ) -> Result<ArrayRef, TaskError> {
        self.grow(num_groups);
        if self.merge {
            return Err(TaskError::Operator(
                "internal: per-row results of a merging aggregate".into(),
            ));
        }
        let target = result.to_arrow();
        let distinct_args;
        let args = match (&mut self.distinct, args.first()) {
            (Some(sets), Some(arg)) => {
                // a value the group has seen before folds nothing: as NULL, which every
                // function skips
                let seen: BooleanArray = sets
                    .first_seen(groups, arg)
                    .into_iter()
                    .map(|new| Some(!new))
                    .collect();
                distinct_args = [nullif(arg.as_ref(), &seen)?];
                &distinct_args[..]
            }
            _ => args,
        };
        let arr = self.inner.update_each(groups, args, &target)?;
        Ok(if arr.data_type() == &target {
            arr
        } else {
            cast(&arr, &target)?
        })
    }

    fn fold(&mut self, groups: &[u32], args: &[ArrayRef], merge: bool) -> Result<(), TaskError> {
        if merge {
            self.inner.merge(groups, args)?;
        } else {
            self.inner.update(groups, args)?;
        }
        Ok(())
    }

    /// Final values for groups `0..n`, cast to `result`.
    pub fn evaluate(&self, n: usize, result: &SqlType) -> Result<ArrayRef, TaskError> {
        self.evaluate_sel(Groups::First(n), result)
    }

    /// Final values of the groups `ids`, in that order, cast to `result`.
    pub fn evaluate_at(&self, ids: &[u32], result: &SqlType) -> Result<ArrayRef, TaskError> {
        self.evaluate_sel(Groups::Ids(ids), result)
    }

    fn evaluate_sel(&self, groups: Groups<'_>, result: &SqlType) -> Result<ArrayRef, TaskError> {
        let target = result.to_arrow();
        let arr = self.inner.evaluate(groups, &target)?;
        Ok(if arr.data_type() == &target {
            arr
        } else {
            cast(&arr, &target)?
        })
    }

    /// Partial states for groups `0..n`, cast to the partial schema's `types`.
    pub fn state(&self, n: usize, types: &[SqlType]) -> Result<Vec<ArrayRef>, TaskError> {
        self.inner
            .state(n)?
            .into_iter()
            .zip(types)
            .map(|(a, t)| {
                let t = t.to_arrow();
                if a.data_type() == &t {
                    Ok(a)
                } else {
                    cast(&a, &t).map_err(TaskError::from)
                }
            })
            .collect()
    }
}

impl Accumulator {
    /// Checkpoints: the number of columns [`Accumulator::snapshot`] writes.
    pub fn snapshot_width(&self) -> usize {
        self.inner.state_width() + usize::from(self.distinct.is_some())
    }

    /// Checkpoints: the state of groups `0..n`, losslessly in the accumulator's own types: the
    /// partial state (one column, or sum and count for AVG), then for a DISTINCT aggregate the
    /// argument values each group has seen (a list of encoded keys).
    pub fn snapshot(&self, n: usize) -> Result<Vec<ArrayRef>, TaskError> {
        let mut cols = self.inner.state(n)?;
        if let Some(sets) = &self.distinct {
            cols.push(Arc::new(sets.snapshot(n)));
        }
        Ok(cols)
    }

    /// Checkpoints: folds snapshotted states (the columns of [`Accumulator::snapshot`], of
    /// possibly another accumulator of the same call) into groups, with merge semantics
    /// (as a Final-mode accumulator merges partial states), whatever this accumulator's mode.
    pub fn restore(
        &mut self,
        groups: &[u32],
        num_groups: usize,
        cols: &[ArrayRef],
    ) -> Result<(), TaskError> {
        if cols.len() != self.snapshot_width() {
            return Err(TaskError::Operator(format!(
                "{:?} state with {} columns, expected {}",
                self.func,
                cols.len(),
                self.snapshot_width()
            )));
        }
        self.grow(num_groups);
        let state_width = cols.len() - usize::from(self.distinct.is_some());
        if let Some(sets) = &mut self.distinct {
            // folding two states of one group is right only if their value sets are disjoint
            // (MIN/MAX do not care); one group's state comes from one subtask anyway
            sets.restore(groups, &cols[state_width], !self.func.ignores_duplicates())?;
        }
        if groups.is_empty() {
            return Ok(());
        }
        self.fold(groups, &cols[..state_width], true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> AggFunc {
        AggFunc::named(name).unwrap()
    }
    use datafusion::arrow::array::{Decimal128Array, StringArray};
    use datafusion::arrow::array::{
        Float64Array, Int32Array, Int64Array, TimestampMillisecondArray,
    };

    /// A snapshot restored into a fresh accumulator, of the same mode or a merging one, evaluates
    /// the same; a restored single-phase accumulator then folds more rows the same (DISTINCT
    /// values seen before the snapshot are not counted twice).
    #[test]
    #[allow(clippy::too_many_lines)]
    fn snapshots_restore_losslessly() {
        let dec = |v: Vec<Option<i128>>| -> ArrayRef {
            Arc::new(
                Decimal128Array::from(v)
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            )
        };
        let strs = |v: Vec<Option<&str>>| -> ArrayRef { Arc::new(StringArray::from(v)) };
        let cases: Vec<(AggFunc, bool, ArrayRef, ArrayRef, SqlType)> = vec![
            (
                f("SUM"),
                false,
                dec(vec![Some(125), None, Some(-3), Some(99_999)]),
                dec(vec![Some(1), Some(2), None, Some(3)]),
                SqlType::Decimal(38, 2),
            ),
            (
                f("AVG"),
                false,
                dec(vec![Some(125), None, Some(-3), Some(7)]),
                dec(vec![Some(1), Some(2), None, Some(3)]),
                SqlType::Decimal(38, 4),
            ),
            (
                f("AVG"),
                true,
                Arc::new(Float64Array::from(vec![
                    Some(0.1),
                    Some(0.2),
                    None,
                    Some(0.1),
                ])),
                Arc::new(Float64Array::from(vec![
                    Some(0.1),
                    Some(0.3),
                    Some(0.2),
                    None,
                ])),
                SqlType::Double,
            ),
            (
                f("MIN"),
                false,
                strs(vec![Some("pear"), None, Some("apple"), Some("fig")]),
                strs(vec![Some("banana"), Some("zz"), None, Some("a")]),
                SqlType::String,
            ),
            (
                f("MAX"),
                true,
                strs(vec![Some("pear"), None, Some("apple"), Some("fig")]),
                strs(vec![Some("banana"), Some("zz"), None, Some("a")]),
                SqlType::String,
            ),
            (
                f("COUNT"),
                true,
                strs(vec![Some("x"), Some("y"), Some("x"), None]),
                strs(vec![Some("x"), Some("z"), Some("y"), Some("x")]),
                SqlType::BigInt,
            ),
            (
                f("SUM"),
                true,
                Arc::new(Int32Array::from(vec![Some(5), Some(5), Some(-2), Some(7)])),
                Arc::new(Int32Array::from(vec![Some(5), Some(6), Some(-2), Some(1)])),
                SqlType::BigInt,
            ),
            (
                f("MIN"),
                false,
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(9),
                    None,
                    Some(4),
                    Some(6),
                ])),
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(3),
                    Some(1),
                    None,
                    Some(8),
                ])),
                SqlType::Timestamp(3),
            ),
            (
                f("COUNT_STAR"),
                false,
                Arc::new(Int32Array::from(vec![Some(1), None, Some(1), Some(1)])),
                Arc::new(Int32Array::from(vec![None, None, Some(1), Some(1)])),
                SqlType::BigInt,
            ),
        ];
        // groups 0..3; group 2 sees no row before the snapshot
        let before = [0u32, 1, 0, 1];
        let after = [0u32, 2, 1, 0];
        for (func, distinct, first, more, result) in cases {
            let ty = first.data_type().clone();
            let arg = |a: &ArrayRef| -> Vec<ArrayRef> {
                if func == f("COUNT_STAR") {
                    vec![]
                } else {
                    vec![a.clone()]
                }
            };
            let mut acc = Accumulator::with_distinct(func, false, distinct, Some(&ty));
            acc.update(&before, 3, &arg(&first)).unwrap();
            let snap = acc.snapshot(3).unwrap();
            assert_eq!(snap.len(), acc.snapshot_width());
            let want = acc.evaluate(3, &result).unwrap();
            let case = format!("{func:?} distinct={distinct} over {ty}");
            // a single-phase accumulator, restored from one snapshot
            let mut single = Accumulator::with_distinct(func, false, distinct, Some(&ty));
            single.restore(&[0, 1, 2], 3, &snap).unwrap();
            assert_eq!(
                single.evaluate(3, &result).unwrap().as_ref(),
                want.as_ref(),
                "{case}"
            );
            acc.update(&after, 3, &arg(&more)).unwrap();
            single.update(&after, 3, &arg(&more)).unwrap();
            assert_eq!(
                single.evaluate(3, &result).unwrap().as_ref(),
                acc.evaluate(3, &result).unwrap().as_ref(),
                "{case}"
            );
            if !distinct {
                // a merging (Final) accumulator, restored from its state: state columns in
                // their own types
                let mut fin = Accumulator::new(func, true, Some(snap[0].data_type()));
                fin.restore(&[0, 1, 2], 3, &snap).unwrap();
                assert_eq!(
                    fin.evaluate(3, &result).unwrap().as_ref(),
                    want.as_ref(),
                    "{case}"
                );
            }
        }
    }

    #[test]
    fn overlapping_distinct_states_of_one_group_are_refused() {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
        let mut acc = Accumulator::with_distinct(f("SUM"), false, true, Some(a.data_type()));
        acc.update(&[0, 0], 1, std::slice::from_ref(&a)).unwrap();
        let snap = acc.snapshot(1).unwrap();
        let mut r = Accumulator::with_distinct(f("SUM"), false, true, Some(a.data_type()));
        r.restore(&[0], 1, &snap).unwrap();
        assert!(r.restore(&[0], 1, &snap).is_err());
        // MIN/MAX do not care
        let mut max = Accumulator::with_distinct(f("MAX"), false, true, Some(a.data_type()));
        max.update(&[0, 0], 1, std::slice::from_ref(&a)).unwrap();
        let snap = max.snapshot(1).unwrap();
        let mut r = Accumulator::with_distinct(f("MAX"), false, true, Some(a.data_type()));
        r.restore(&[0], 1, &snap).unwrap();
        r.restore(&[0], 1, &snap).unwrap();
        assert_eq!(
            r.evaluate(1, &SqlType::Int).unwrap().as_ref(),
            &Int32Array::from(vec![2]) as &dyn Array
        );
    }

    proptest::proptest! {
        /// DISTINCT calls sharing their values (the FILTERed calls of one column, as CASE
        /// arguments NULL where the filter fails, and a call of another column) give each
        /// group the results and snapshots of the same calls kept apart, also per row and
        /// after a restore into shared sets.
        #[test]
        fn shared_distinct_values_answer_as_separate_sets(
            rows in proptest::collection::vec((0u32..3, 0i64..12, 0i64..12, proptest::bool::ANY), 1..60),
        ) {
            let groups: Vec<u32> = rows.iter().map(|r| r.0).collect();
            let x: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1)));
            let filtered: ArrayRef = Arc::new(Int64Array::from_iter(
                rows.iter().map(|r| r.3.then_some(r.1)),
            ));
            let y: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2)));
            let args = [x, filtered, y];
            let ty = DataType::Int64;
            let calls = [(f("COUNT"), 0), (f("COUNT"), 1), (f("SUM"), 2), (f("COUNT"), 2)];
            let make = |shared: Option<&SharedInts>| -> Vec<Accumulator> {
                calls
                    .iter()
                    .map(|(func, _)| {
                        let a = Accumulator::with_distinct(*func, false, true, Some(&ty));
                        match shared {
                            Some(s) => a.sharing_distinct(s),
                            None => a,
                        }
                    })
                    .collect()
            };
            let shared = SharedInts::default();
            let (mut apart, mut together) = (make(None), make(Some(&shared)));
            let half = groups.len() / 2;
            for (k, (_, arg)) in calls.iter().enumerate() {
                let a = &args[*arg];
                apart[k].update(&groups[..half], 3, &[a.slice(0, half)]).unwrap();
                let want = apart[k]
                    .update_each(&groups[half..], 3, &[a.slice(half, groups.len() - half)], &SqlType::BigInt)
                    .unwrap();
                together[k].update(&groups[..half], 3, &[a.slice(0, half)]).unwrap();
                let got = together[k]
                    .update_each(&groups[half..], 3, &[a.slice(half, groups.len() - half)], &SqlType::BigInt)
                    .unwrap();
                proptest::prop_assert_eq!(got.as_ref(), want.as_ref());
            }
            let restored_shared = SharedInts::default();
            let mut restored = make(Some(&restored_shared));
            for k in 0..calls.len() {
                let want = apart[k].evaluate(3, &SqlType::BigInt).unwrap();
                let got = together[k].evaluate(3, &SqlType::BigInt).unwrap();
                proptest::prop_assert_eq!(got.as_ref(), want.as_ref());
                restored[k].grow(3);
                restored[k].restore(&[0, 1, 2], 3, &together[k].snapshot(3).unwrap()).unwrap();
                let again = restored[k].evaluate(3, &SqlType::BigInt).unwrap();
                proptest::prop_assert_eq!(again.as_ref(), want.as_ref());
            }
        }
    }
}
