//! Property tests: a regular join's changelog, replayed, equals the naive join of what remains
//! of its inputs, for every join type, over append-only inputs and changelogs, with a
//! checkpoint and a restore at another parallelism in the middle.

use super::*;
use crate::operators::state_ipc::{rescale, route};
use crate::operators::testkit::{col, Collect};
use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::Int64Type;
use proptest::prelude::*;
use strom_plan::SqlType;

/// A row (key, value) of one side.
type In = (Option<i64>, i64);
/// An output row: left key and value, right key and value.
type Out = [Option<i64>; 4];
/// One step: the side, the rows with their kinds (addition or retraction).
type Step = (usize, Vec<(In, bool)>);

fn side_schema(p: &str, changelog: bool) -> RowSchema {
    let s = RowSchema::new(vec![
        col(&format!("{p}k"), SqlType::BigInt),
        col(&format!("{p}v"), SqlType::BigInt),
    ]);
    if changelog {
        s.with_op()
    } else {
        s
    }
}

/// A join of type `jt` on `lk = rk` (or on nothing with `keyless`), with the rest of the
/// condition `lv >= rv` when `filter`.
fn spec(jt: JoinType, changelog: [bool; 2], keyless: bool, filter: bool) -> JoinSpec {
    use datafusion::logical_expr::col as c;
    let (l, r) = (
        side_schema("l", changelog[0]),
        side_schema("r", changelog[1]),
    );
    let mut pair = l.without_op().columns;
    pair.extend(r.without_op().columns);
    let pair = RowSchema::new(pair);
    let updating = changelog[0]
        || changelog[1]
        || !matches!(
            jt,
            JoinType::Inner | JoinType::LeftSemi | JoinType::RightSemi
        );
    let (output, pair) = match jt.semi_side() {
        None => (pair, None),
        Some((0, _)) => (l.without_op(), Some(pair)),
        Some(_) => (r.without_op(), Some(pair)),
    };
    let keys = if keyless { vec![] } else { vec![0] };
    let filter = match (keyless, filter) {
        (true, _) => Some(c("lk").eq(c("rk")).and(c("lv").gt_eq(c("rv")))),
        (false, true) => Some(c("lv").gt_eq(c("rv"))),
        (false, false) => None,
    };
    JoinSpec {
        state_ttl_ms: [0, 0],
        left: l,
        right: r,
        join_type: jt,
        left_keys: keys.clone(),
        right_keys: keys,
        kind: strom_plan::JoinKind::Regular,
        filter: filter.map(|f| strom_plan::expr_codec::encode(&f).unwrap()),
        output: if updating { output.with_op() } else { output },
        pair,
    }
}

fn batch(schema: &RowSchema, rows: &[(In, bool)]) -> RecordBatch {
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.0 .0).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0 .1))),
    ];
    if schema.index_of(OP_COLUMN).is_some() {
        cols.push(Arc::new(Int8Array::from_iter_values(rows.iter().map(
            |r| {
                if r.1 {
                    RowKind::Insert as i8
                } else {
                    RowKind::Delete as i8
                }
            },
        ))));
    }
    RecordBatch::try_new(schema.to_arrow(), cols).unwrap()
}

/// The output changelog applied to an empty table.
fn replay(batches: &[RecordBatch], spec: &JoinSpec) -> Result<Vec<Out>, String> {
    let updating = spec.output.index_of(OP_COLUMN).is_some();
    let mut table: Vec<Out> = Vec::new();
    for b in batches {
        let c = |i: usize| b.column(i).as_primitive::<Int64Type>().clone();
        let o = |a: &Int64Array, r: usize| a.is_valid(r).then(|| a.value(r));
        for r in 0..b.num_rows() {
            let row = match spec.join_type.semi_side() {
                None => [o(&c(0), r), o(&c(1), r), o(&c(2), r), o(&c(3), r)],
                Some((0, _)) => [o(&c(0), r), o(&c(1), r), None, None],
                Some(_) => [None, None, o(&c(0), r), o(&c(1), r)],
            };
            let add = if updating {
                let k = b
                    .column(b.num_columns() - 1)
                    .as_primitive::<Int8Type>()
                    .value(r);
                RowKind::from_byte(k).unwrap().is_addition()
            } else {
                if b.num_columns() != spec.output.len() {
                    return Err("an append-only output carries $op".into());
                }
                true
            };
            if add {
                table.push(row);
            } else {
                let p = table
                    .iter()
                    .position(|x| *x == row)
                    .ok_or_else(|| format!("retraction of {row:?}, which is not in the result"))?;
                table.swap_remove(p);
            }
        }
    }
    table.sort();
    Ok(table)
}

/// The join of what remains of the inputs, computed naively.
fn expected(steps: &[Step], spec: &JoinSpec) -> Vec<Out> {
    let mut kept: [Vec<In>; 2] = [vec![], vec![]];
    for (side, rows) in steps {
        for (row, add) in rows {
            if *add {
                kept[*side].push(*row);
            } else if let Some(p) = kept[*side].iter().position(|x| x == row) {
                kept[*side].remove(p);
            }
        }
    }
    let filter = spec.filter.is_some();
    let matches = |l: &In, r: &In| l.0.is_some() && l.0 == r.0 && (!filter || l.1 >= r.1);
    let mut out = Vec::new();
    let jt = spec.join_type;
    match jt.semi_side() {
        Some((0, semi)) => {
            for l in &kept[0] {
                if kept[1].iter().any(|r| matches(l, r)) == semi {
                    out.push([l.0, Some(l.1), None, None]);
                }
            }
        }
        Some((_, semi)) => {
            for r in &kept[1] {
                if kept[0].iter().any(|l| matches(l, r)) == semi {
                    out.push([None, None, r.0, Some(r.1)]);
                }
            }
        }
        None => {
            for l in &kept[0] {
                for r in &kept[1] {
                    if matches(l, r) {
                        out.push([l.0, Some(l.1), r.0, Some(r.1)]);
                    }
                }
            }
            if matches!(jt, JoinType::Left | JoinType::Full) {
                for l in &kept[0] {
                    if !kept[1].iter().any(|r| matches(l, r)) {
                        out.push([l.0, Some(l.1), None, None]);
                    }
                }
            }
            if matches!(jt, JoinType::Right | JoinType::Full) {
                for r in &kept[1] {
                    if !kept[0].iter().any(|l| matches(l, r)) {
                        out.push([None, None, r.0, Some(r.1)]);
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// The operator a job runs for a regular join: the batch-keeping [`JoinOperator`] for an INNER
/// join of append-only inputs, the [`RegularJoinOperator`] for the others.
enum Join {
    Fast(crate::operators::join::JoinOperator),
    General(RegularJoinOperator),
}

impl Join {
    fn new(spec: &JoinSpec) -> Self {
        if spec.is_inner_of_appends() {
            Join::Fast(crate::operators::join::JoinOperator::new(spec).unwrap())
        } else {
            Join::General(RegularJoinOperator::new(spec).unwrap())
        }
    }

    fn op(&mut self) -> &mut dyn Operator {
        match self {
            Join::Fast(o) => o,
            Join::General(o) => o,
        }
    }
}

impl Operator for Join {
    fn name(&self) -> &str {
        "Join"
    }

    fn process_batch(&mut self, b: RecordBatch, out: &mut dyn Output) -> Result<(), TaskError> {
        self.op().process_batch(b, out)
    }

    fn process_batch_from(
        &mut self,
        input: u32,
        b: RecordBatch,
        out: &mut dyn Output,
    ) -> Result<(), TaskError> {
        self.op().process_batch_from(input, b, out)
    }

    fn snapshot_state(&mut self, checkpoint: u64) -> Result<Option<Vec<u8>>, TaskError> {
        self.op().snapshot_state(checkpoint)
    }

    fn restore_state(&mut self, states: &[Vec<u8>], scope: &RestoreScope) -> Result<(), TaskError> {
        self.op().restore_state(states, scope)
    }
}

/// Runs `steps` on `p` subtasks, checkpointed before step `cut` and restored on `p2`.
fn run(spec: &JoinSpec, steps: &[Step], cut: usize, p: u32, p2: u32, max: u32) -> Vec<RecordBatch> {
    let new = || Join::new(spec);
    let p = if spec.left_keys.is_empty() { 1 } else { p };
    let p2 = if spec.left_keys.is_empty() { 1 } else { p2 };
    let mut ops: Vec<Join> = (0..p).map(|_| new()).collect();
    let mut out = Collect(vec![]);
    for (i, (side, rows)) in steps.iter().enumerate() {
        if i == cut {
            rescale(&mut ops, p2, max, new);
        }
        let schema = if *side == 0 { &spec.left } else { &spec.right };
        let b = batch(schema, rows);
        let n = ops.len() as u32;
        for (op, part) in ops.iter_mut().zip(route(&b, &spec.left_keys, n, max)) {
            if part.num_rows() > 0 {
                op.process_batch_from(*side as u32, part, &mut out).unwrap();
            }
        }
    }
    out.0
}

/// Steps over keys 0..3 (and NULL) and values 0..4: a retraction takes back a row added
/// before on a changelog side.
fn steps(changelog: [bool; 2]) -> impl Strategy<Value = Vec<Step>> {
    let step = (
        0usize..2,
        prop::collection::vec(
            (
                (prop::option::weighted(0.9, 0i64..3), 0i64..4),
                prop::bool::weighted(0.35),
                any::<prop::sample::Index>(),
            ),
            0..6,
        ),
    );
    prop::collection::vec(step, 1..10).prop_map(move |raw| {
        let mut kept: [Vec<In>; 2] = [vec![], vec![]];
        raw.into_iter()
            .map(|(side, rows)| {
                let rows = rows
                    .into_iter()
                    .map(|(row, retract, idx)| {
                        if retract && changelog[side] && !kept[side].is_empty() {
                            let r = kept[side].remove(idx.index(kept[side].len()));
                            (r, false)
                        } else {
                            kept[side].push(row);
                            (row, true)
                        }
                    })
                    .collect();
                (side, rows)
            })
            .collect()
    })
}

fn case() -> impl Strategy<Value = (JoinSpec, Vec<Step>)> {
    (
        0usize..8,
        any::<[bool; 2]>(),
        prop::bool::weighted(0.2),
        any::<bool>(),
    )
        .prop_flat_map(|(jt, changelog, keyless, filter)| {
            let spec = spec(JoinType::ALL[jt], changelog, keyless, filter);
            (Just(spec), steps(changelog))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_regular_join_changelog_replays_to_the_join(
        (spec, steps) in case(),
        cut in 0usize..12,
        p in 1u32..4,
        p2 in 1u32..4,
        max in 3u32..24,
    ) {
        let out = run(&spec, &steps, cut, p, p2, max);
        let got = replay(&out, &spec).map_err(TestCaseError::fail)?;
        prop_assert_eq!(got, expected(&steps, &spec));
    }
}

#[test]
fn a_left_join_retracts_its_padded_row_when_a_partner_arrives() {
    let spec = spec(JoinType::Left, [false, false], false, false);
    let mut op = RegularJoinOperator::new(&spec).unwrap();
    let mut out = Collect(vec![]);
    op.process_batch_from(0, batch(&spec.left, &[((Some(1), 10), true)]), &mut out)
        .unwrap();
    op.process_batch_from(1, batch(&spec.right, &[((Some(1), 20), true)]), &mut out)
        .unwrap();
    let kinds: Vec<(Vec<Option<i64>>, i8)> = out
        .0
        .iter()
        .flat_map(|b| {
            (0..b.num_rows()).map(move |r| {
                let v = (0..4)
                    .map(|c| {
                        let a = b.column(c).as_primitive::<Int64Type>();
                        a.is_valid(r).then(|| a.value(r))
                    })
                    .collect();
                (v, b.column(4).as_primitive::<Int8Type>().value(r))
            })
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (vec![Some(1), Some(10), None, None], RowKind::Insert as i8),
            (vec![Some(1), Some(10), None, None], RowKind::Delete as i8),
            (
                vec![Some(1), Some(10), Some(1), Some(20)],
                RowKind::Insert as i8
            ),
        ]
    );
}

#[test]
fn a_state_ttl_drops_rows_not_written_for_that_long_also_after_a_restore() {
    use crate::operators::ttl::Clock;
    use std::sync::atomic::{AtomicI64, Ordering};
    let mut spec = spec(JoinType::Inner, [false, false], false, false);
    // the left side's rows live 100 ms, the right side's for good
    spec.state_ttl_ms = [100, 0];
    let now = Arc::new(AtomicI64::new(0));
    let new_op = || {
        RegularJoinOperator::new(&spec)
            .unwrap()
            .with_clock(Clock::manual(now.clone()))
    };
    let mut op = new_op();
    let mut out = Collect(vec![]);
    let at = |op: &mut RegularJoinOperator, t: i64, side: u32, v: i64, out: &mut Collect| {
        now.store(t, Ordering::Relaxed);
        let schema = if side == 0 { &spec.left } else { &spec.right };
        op.process_batch_from(side, batch(schema, &[((Some(1), v), true)]), out)
            .unwrap();
    };
    at(&mut op, 0, 0, 10, &mut out);
    at(&mut op, 50, 1, 20, &mut out); // joins 10
    at(&mut op, 120, 1, 21, &mut out); // 10 expired at 100
    at(&mut op, 130, 0, 11, &mut out); // joins 20 and 21, kept for good
    let state = op.snapshot_state(1).unwrap().unwrap();
    let mut op = new_op();
    op.restore_state(&[state], &RestoreScope::new(0, 1, 128))
        .unwrap();
    at(&mut op, 200, 1, 22, &mut out); // 11, written at 130, lives until 230
    at(&mut op, 231, 1, 23, &mut out);
    let rows: Vec<Vec<i64>> = out
        .0
        .iter()
        .flat_map(|b| {
            (0..b.num_rows()).map(move |r| {
                (0..4)
                    .map(|c| b.column(c).as_primitive::<Int64Type>().value(r))
                    .collect()
            })
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            vec![1, 10, 1, 20],
            vec![1, 11, 1, 20],
            vec![1, 11, 1, 21],
            vec![1, 11, 1, 22],
        ]
    );
}
