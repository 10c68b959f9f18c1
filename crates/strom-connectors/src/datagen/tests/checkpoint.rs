//! Datagen positions: a restored reader generates exactly the rows the uninterrupted run would
//! have generated after the position.

use super::*;
use arrow::util::display::{ArrayFormatter, FormatOptions};

fn sub(index: u32, parallelism: u32) -> SubtaskInfo {
    SubtaskInfo { index, parallelism }
}

/// The rows of a batch as text, one string per row.
fn rows(b: &RecordBatch) -> Vec<String> {
    let opts = FormatOptions::default().with_null("NULL");
    let fmts: Vec<ArrayFormatter> = b
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).expect("formatter"))
        .collect();
    (0..b.num_rows())
        .map(|r| {
            fmts.iter()
                .map(|f| f.value(r).to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// Reads up to `batches` batches (all with `usize::MAX`).
fn take(r: &mut dyn SourceReader, batches: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..batches {
        match r.next_batch().expect("batch") {
            Some(b) => out.extend(rows(&b)),
            None => break,
        }
    }
    out
}

/// Bounded by `rows` (with a sequence column), or unbounded (`""`, all columns random).
fn fields_table(rows: &str) -> TableSpec {
    let mut opts = vec![
        ("fields.v.min", "-5"),
        ("fields.v.max", "5"),
        ("fields.s.length", "6"),
        ("fields.s.null-rate", "0.2"),
    ];
    if !rows.is_empty() {
        opts.extend([
            ("number-of-rows", rows),
            ("fields.id.kind", "sequence"),
            ("fields.id.start", "1"),
            ("fields.id.end", "100000"),
        ]);
    }
    table(
        &[
            ("id", SqlType::BigInt),
            ("v", SqlType::Int),
            ("s", SqlType::String),
            ("ts", SqlType::Timestamp(3)),
        ],
        &opts,
    )
}

fn bids_table(extra: &[(&str, &str)]) -> TableSpec {
    let cols: Vec<(&str, SqlType)> = bids::BID_COLUMNS
        .iter()
        .map(|(n, _)| {
            (
                *n,
                BidColumn::from_name(n).map(|b| b.sql_type()).expect("bid"),
            )
        })
        .collect();
    let mut opts = vec![("generator", "bids")];
    opts.extend_from_slice(extra);
    table(&cols, &opts)
}

/// Every subtask of `p` reads `cut + k` batches (k its index) and takes its position; then the
/// source is restored at `p` (each subtask continues exactly its own rows) and at `others`
/// (together the rows left, each once).
fn check_bounded(t: &TableSpec, p: u32, cut: usize, others: &[u32]) {
    let all: Vec<usize> = (0..t.schema.columns.len()).collect();
    let batch = 37;
    let whole: Vec<Vec<String>> = (0..p)
        .map(|k| {
            let mut r = DatagenConnector
                .create_reader(t, &all, sub(k, p), batch)
                .expect("reader");
            take(r.as_mut(), usize::MAX)
        })
        .collect();
    let mut before = Vec::new();
    let mut positions = Vec::new();
    for k in 0..p {
        let mut r = DatagenConnector
            .create_reader(t, &all, sub(k, p), batch)
            .expect("reader");
        before.push(take(r.as_mut(), cut + k as usize));
        positions.push(r.snapshot_position().expect("position").expect("some"));
    }
    // the same parallelism: exactly the uninterrupted rows, subtask by subtask
    for k in 0..p {
        let mut r = DatagenConnector
            .restore_reader(t, &all, sub(k, p), 50, &positions)
            .expect("restore");
        let mut got = before[k as usize].clone();
        got.extend(take(r.as_mut(), usize::MAX));
        assert_eq!(got, whole[k as usize], "subtask {k}, cut {cut}");
    }
    // other parallelisms: every row once
    let mut want: Vec<String> = whole.concat();
    want.sort();
    for &q in others {
        let mut got: Vec<String> = before.concat();
        for k in 0..q {
            let mut r = DatagenConnector
                .restore_reader(t, &all, sub(k, q), 50, &positions)
                .expect("restore");
            got.extend(take(r.as_mut(), usize::MAX));
        }
        got.sort();
        assert_eq!(got, want, "{p} -> {q} subtasks, cut {cut}");
    }
}

#[test]
fn bounded_positions_round_trip_at_any_parallelism() {
    let t = fields_table("1000");
    for cut in [0, 1, 4, 100] {
        check_bounded(&t, 3, cut, &[1, 2, 5]);
    }
    let b = bids_table(&[("number-of-rows", "700")]);
    for cut in [0, 2, 100] {
        check_bounded(&b, 2, cut, &[1, 3]);
    }
}

#[test]
fn a_restored_reader_can_be_checkpointed_and_restored_again() {
    let t = fields_table("900");
    let all = [0, 1, 2, 3];
    let mut want: Vec<String> = (0..1)
        .flat_map(|_| {
            let mut r = DatagenConnector
                .create_reader(&t, &all, sub(0, 1), 64)
                .expect("reader");
            take(r.as_mut(), usize::MAX)
        })
        .collect();
    want.sort();
    let mut got = Vec::new();
    // 2 subtasks, then 3, then 2 again, then 1 to the end
    let mut positions: Vec<Vec<u8>> = Vec::new();
    for (round, p) in [2u32, 3, 2, 1].into_iter().enumerate() {
        let mut next = Vec::new();
        for k in 0..p {
            let mut r = if round == 0 {
                DatagenConnector.create_reader(&t, &all, sub(k, p), 20)
            } else {
                DatagenConnector.restore_reader(&t, &all, sub(k, p), 20, &positions)
            }
            .expect("reader");
            let n = if p == 1 { usize::MAX } else { 3 + k as usize };
            got.extend(take(r.as_mut(), n));
            next.push(r.snapshot_position().expect("pos").expect("some"));
        }
        positions = next;
    }
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn unbounded_positions_continue_the_sequence_at_the_same_parallelism() {
    for t in [
        fields_table(""),
        bids_table(&[("rows-per-second", "100000")]),
    ] {
        assert!(!DatagenConnector.is_bounded(&t));
        let all: Vec<usize> = (0..t.schema.columns.len()).collect();
        let mut positions = Vec::new();
        let mut whole = Vec::new();
        let mut before = Vec::new();
        for k in 0..2 {
            let mut r = DatagenConnector
                .create_reader(&t, &all, sub(k, 2), 10)
                .expect("reader");
            whole.push(take(r.as_mut(), 8));
            let mut r = DatagenConnector
                .create_reader(&t, &all, sub(k, 2), 10)
                .expect("reader");
            before.push(take(r.as_mut(), 3 + k as usize));
            positions.push(r.snapshot_position().expect("pos").expect("some"));
        }
        for k in 0..2 {
            let mut r = DatagenConnector
                .restore_reader(&t, &all, sub(k, 2), 10, &positions)
                .expect("restore");
            let mut got = before[k as usize].clone();
            got.extend(take(r.as_mut(), 5 - k as usize));
            assert_eq!(got, whole[k as usize], "subtask {k}");
        }
        let e = DatagenConnector
            .restore_reader(&t, &all, sub(0, 3), 10, &positions)
            .err()
            .expect("cannot rescale")
            .to_string();
        assert!(
            e.contains("cannot be rescaled") && e.contains("parallelism 2") && e.contains("'t'"),
            "{e}"
        );
    }
}

#[test]
fn positions_of_another_table_are_refused() {
    let t = fields_table("1000");
    let mut r = DatagenConnector
        .create_reader(&t, &[0], sub(0, 1), 10)
        .expect("reader");
    take(r.as_mut(), 2);
    let pos = r.snapshot_position().expect("pos").expect("some");
    let e = DatagenConnector
        .restore_reader(&fields_table("2000"), &[0], sub(0, 1), 10, &[pos])
        .err()
        .expect("size changed")
        .to_string();
    assert!(
        e.contains("1000 rows then, 2000 rows now") && e.contains("number-of-rows"),
        "{e}"
    );
    let e = DatagenConnector
        .restore_reader(&t, &[0], sub(0, 1), 10, &[b"{\"x\":1}".to_vec()])
        .err()
        .expect("garbage")
        .to_string();
    assert!(e.contains("not a datagen position"), "{e}");
    // no positions at all: from the beginning
    let mut r = DatagenConnector
        .restore_reader(&t, &[0], sub(0, 1), 1000, &[])
        .expect("fresh");
    assert_eq!(take(r.as_mut(), usize::MAX).len(), 1000);
}
