//! Checkpoint positions of the filesystem source: readers stopped after some batches and
//! restored (at the same or another parallelism) return every row of the input exactly once.

use super::*;
use super::{table, TempDir};
use crate::filesystem::split::{list_input, plan_split};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type};
use proptest::prelude::*;
use std::path::Path;
use strom_plan::SqlType;

const COLS: [(&str, SqlType); 3] = [
    ("id", SqlType::BigInt),
    ("s", SqlType::String),
    ("n", SqlType::Int),
];

type Row = (i64, Option<String>, Option<i32>);

fn show(r: &Row) -> String {
    format!("{}|{:?}|{:?}", r.0, r.1, r.2)
}

/// Rows with strings that need quoting in CSV (delimiters, quotes, empty strings) and, for
/// JSON, escaped line breaks.
fn gen_rows(count: usize, json: bool) -> Vec<Row> {
    (0..count)
        .map(|i| {
            let s = match i % 8 {
                0 => Some(format!("plain {i}")),
                1 => Some(format!("a,b,{i}")),
                2 => Some(format!("say \"hi\", {i}")),
                3 => Some(String::new()),
                4 => None,
                5 => Some(format!("{}{i}", "long ".repeat(i % 23))),
                6 if json => Some(format!("line\nbreak {i}")),
                _ => Some(format!("\"{i}\"")),
            };
            let n = (i % 5 != 0).then(|| i as i32 * 3 - 100);
            (i as i64, s, n)
        })
        .collect()
}

fn csv_line(r: &Row) -> String {
    let s = match &r.1 {
        None => String::new(),
        Some(x) if x.is_empty() || x.contains([',', '"']) => {
            format!("\"{}\"", x.replace('"', "\"\""))
        }
        Some(x) => x.clone(),
    };
    let n = r.2.map(|n| n.to_string()).unwrap_or_default();
    format!("{},{s},{n}", r.0)
}

fn json_line(r: &Row) -> String {
    serde_json::json!({"id": r.0, "s": r.1, "n": r.2}).to_string()
}

/// Writes `rows` into files cut at `cuts` (row indices; the last file has no final newline),
/// with CRLF and empty lines here and there.
fn write_input(dir: &Path, rows: &[Row], cuts: &[usize], json: bool) {
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().map(|c| (*c).min(rows.len())));
    bounds.push(rows.len());
    bounds.sort();
    let last = bounds.len() - 2;
    for (fi, w) in bounds.windows(2).enumerate() {
        let mut text = String::new();
        for (i, r) in rows[w[0]..w[1]].iter().enumerate() {
            if i > 0 {
                text.push_str(if r.0 % 11 == 0 { "\r\n" } else { "\n" });
                if r.0 % 13 == 0 {
                    text.push('\n');
                }
            }
            text.push_str(&if json { json_line(r) } else { csv_line(r) });
        }
        if fi != last && w[1] > w[0] {
            text.push('\n');
        }
        std::fs::write(dir.join(format!("part-{fi}.txt")), text).expect("write");
    }
}

fn batch_rows(b: &RecordBatch) -> Vec<String> {
    let id = b.column(0).as_primitive::<Int64Type>();
    let s = b.column(1).as_string::<i32>();
    let n = b.column(2).as_primitive::<Int32Type>();
    (0..b.num_rows())
        .map(|i| {
            show(&(
                id.value(i),
                s.is_valid(i).then(|| s.value(i).to_string()),
                n.is_valid(i).then(|| n.value(i)),
            ))
        })
        .collect()
}

/// A reader of subtask `k` of `p`: fresh, or restored from `positions`.
fn open(
    t: &TableSpec,
    positions: Option<&[Vec<u8>]>,
    k: u32,
    p: u32,
    batch: usize,
    chunk: usize,
) -> Result<Box<dyn SourceReader>, ConnectorError> {
    let opts = FsOptions::parse(t)?;
    let files = list_input(&opts.path)?;
    let subtask = SubtaskInfo {
        index: k,
        parallelism: p,
    };
    let slices = match positions {
        None => plan_split(&files, k, p),
        Some(pos) => position::restore_slices(&t.name, &opts.path, &files, pos, subtask)?,
    };
    reader(t, &opts, &[0, 1, 2], files, slices, batch, chunk)
}

/// Up to `batches` batches (checking their size) as rows.
fn take(r: &mut dyn SourceReader, batches: usize, batch: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..batches {
        match r.next_batch().expect("batch") {
            Some(b) => {
                assert!(b.num_rows() <= batch && b.num_rows() > 0);
                out.extend(batch_rows(&b));
            }
            None => break,
        }
    }
    out
}

/// Every offset a position records is the start of a line.
fn check_line_starts(position: &[u8]) {
    let v: serde_json::Value = serde_json::from_slice(position).expect("JSON");
    for s in v["splits"].as_array().expect("splits") {
        if let Some(next) = s["next"].as_u64() {
            let text = std::fs::read(s["path"].as_str().expect("path")).expect("read");
            assert!(
                next == 0 || text[next as usize - 1] == b'\n',
                "offset {next} is not a line start: {s}"
            );
        } else {
            assert_eq!(s["next"], "done");
        }
    }
}

struct Case<'a> {
    t: &'a TableSpec,
    want: &'a [String],
    p: u32,
    batch: usize,
    chunk: usize,
}

impl Case<'_> {
    /// Subtask `k` of `p` reads `cut + k` batches; returns the rows and positions.
    fn stop_after(&self, cut: usize) -> (Vec<Vec<String>>, Vec<Vec<u8>>) {
        let mut before = Vec::new();
        let mut positions = Vec::new();
        for k in 0..self.p {
            let mut r = open(self.t, None, k, self.p, self.batch, self.chunk).expect("reader");
            before.push(take(r.as_mut(), cut + k as usize, self.batch));
            let pos = r.snapshot_position().expect("position").expect("some");
            check_line_starts(&pos);
            positions.push(pos);
        }
        (before, positions)
    }

    /// Restored at `q` and read to the end, the rows before and after are the input's rows.
    fn check(&self, cut: usize, qs: &[u32]) {
        let (before, positions) = self.stop_after(cut);
        let mut want = self.want.to_vec();
        want.sort();
        for &q in qs {
            let mut got = before.concat();
            for k in 0..q {
                let mut r =
                    open(self.t, Some(&positions), k, q, self.batch, self.chunk).expect("restore");
                got.extend(take(r.as_mut(), usize::MAX, self.batch));
            }
            got.sort();
            assert_eq!(got, want, "{} -> {q} subtasks after {cut} batches", self.p);
        }
        // the same parallelism: each subtask goes on with exactly its own rows, in order
        for k in 0..self.p {
            let mut whole = open(self.t, None, k, self.p, self.batch, self.chunk).expect("reader");
            let whole = take(whole.as_mut(), usize::MAX, self.batch);
            let mut r =
                open(self.t, Some(&positions), k, self.p, self.batch, self.chunk).expect("restore");
            let mut got = before[k as usize].clone();
            got.extend(take(r.as_mut(), usize::MAX, self.batch));
            assert_eq!(got, whole, "subtask {k} after {cut} batches");
        }
    }

    /// Restores twice: at `q1` (each subtask reads a few batches), then at `q2` to the end.
    fn check_twice(&self, cut: usize, q1: u32, q2: u32) {
        let (before, positions) = self.stop_after(cut);
        let mut got = before.concat();
        let mut second = Vec::new();
        for k in 0..q1 {
            let mut r =
                open(self.t, Some(&positions), k, q1, self.batch, self.chunk).expect("restore");
            got.extend(take(r.as_mut(), 2 + k as usize, self.batch));
            let pos = r.snapshot_position().expect("position").expect("some");
            check_line_starts(&pos);
            second.push(pos);
        }
        for k in 0..q2 {
            let mut r =
                open(self.t, Some(&second), k, q2, self.batch, self.chunk).expect("restore");
            got.extend(take(r.as_mut(), usize::MAX, self.batch));
        }
        got.sort();
        let mut want = self.want.to_vec();
        want.sort();
        assert_eq!(got, want, "{} -> {q1} -> {q2} after {cut} batches", self.p);
    }
}

fn input(json: bool) -> (TempDir, TableSpec, Vec<String>) {
    let dir = TempDir::new(if json { "ckpt-json" } else { "ckpt-csv" });
    let rows = gen_rows(500, json);
    write_input(dir.path(), &rows, &[180, 181, 420], json);
    let format = if json { "json" } else { "csv" };
    let t = table(&COLS, dir.path(), &[("format", format)]);
    (dir, t, rows.iter().map(show).collect())
}

#[test]
fn csv_positions_resume_exactly_once_at_any_parallelism() {
    let (_dir, t, want) = input(false);
    for (batch, chunk) in [(7, 64), (50, split::DEFAULT_CHUNK)] {
        let case = Case {
            t: &t,
            want: &want,
            p: 2,
            batch,
            chunk,
        };
        for cut in [0, 1, 3, 10, 1000] {
            case.check(cut, &[1, 2, 3]);
        }
        case.check_twice(2, 3, 2);
        case.check_twice(0, 1, 3);
    }
}

#[test]
fn json_positions_resume_exactly_once_at_any_parallelism() {
    let (_dir, t, want) = input(true);
    for (batch, chunk) in [(6, 100), (64, split::DEFAULT_CHUNK)] {
        let case = Case {
            t: &t,
            want: &want,
            p: 2,
            batch,
            chunk,
        };
        for cut in [0, 2, 9, 1000] {
            case.check(cut, &[1, 2, 3]);
        }
        case.check_twice(1, 3, 1);
    }
}

#[test]
fn factory_restore_reader_and_finished_readers() {
    let (_dir, t, want) = input(false);
    let sub = |index, parallelism| SubtaskInfo { index, parallelism };
    let fs = FileSystemConnector;
    // readers at their end: nothing is read again
    let mut got = Vec::new();
    let mut positions = Vec::new();
    for k in 0..2 {
        let mut r = fs
            .create_reader(&t, &[0, 1, 2], sub(k, 2), 64)
            .expect("reader");
        got.extend(take(r.as_mut(), usize::MAX, 64));
        assert!(r.next_batch().expect("end").is_none());
        let pos = r.snapshot_position().expect("position").expect("some");
        let v: serde_json::Value = serde_json::from_slice(&pos).expect("JSON");
        assert!(v["splits"]
            .as_array()
            .expect("splits")
            .iter()
            .all(|s| s["next"] == "done"));
        positions.push(pos);
    }
    assert_eq!(got, want);
    for q in [1, 2, 4] {
        for k in 0..q {
            let mut r = fs
                .restore_reader(&t, &[0, 1, 2], sub(k, q), 64, &positions)
                .expect("restore");
            assert!(r.next_batch().expect("end").is_none());
        }
    }
    // a projection on the restored reader
    let mut r = fs.create_reader(&t, &[0], sub(0, 1), 100).expect("reader");
    for _ in 0..2 {
        r.next_batch().expect("batch").expect("rows");
    }
    let pos = r.snapshot_position().expect("pos").expect("some");
    let mut r = fs
        .restore_reader(&t, &[2, 0], sub(0, 1), 100, &[pos])
        .expect("restore");
    let b = r.next_batch().expect("batch").expect("rows");
    assert_eq!(b.num_columns(), 2);
    assert_eq!(b.column(1).as_primitive::<Int64Type>().value(0), 200);
}

#[test]
fn changed_input_or_foreign_positions_are_clear_errors() {
    let (dir, t, _) = input(false);
    let sub = SubtaskInfo {
        index: 0,
        parallelism: 1,
    };
    let mut r = FileSystemConnector
        .create_reader(&t, &[0, 1, 2], sub, 10)
        .expect("reader");
    take(r.as_mut(), 3, 10);
    let pos = vec![r.snapshot_position().expect("pos").expect("some")];
    let restore = |t: &TableSpec, pos: &[Vec<u8>]| {
        FileSystemConnector
            .restore_reader(t, &[0], sub, 10, pos)
            .err()
            .expect("refused")
            .to_string()
    };
    let garbage = restore(&t, &[b"[1,2]".to_vec()]);
    assert!(
        garbage.contains("table 't'") && garbage.contains("not a filesystem source position"),
        "{garbage}"
    );
    // a new file
    let extra = dir.path().join("part-9.txt");
    std::fs::write(&extra, "1,x,2\n").expect("write");
    let e = restore(&t, &pos);
    assert!(
        e.contains("changed since the checkpoint")
            && e.contains("4 files")
            && e.contains("without restoring"),
        "{e}"
    );
    std::fs::remove_file(&extra).expect("remove");
    // a file that grew
    let f = dir.path().join("part-1.txt");
    let before = std::fs::read(&f).expect("read");
    std::fs::write(&f, [before.as_slice(), b"\n7,y,8"].concat()).expect("write");
    let e = restore(&t, &pos);
    assert!(
        e.contains(&f.display().to_string()) && e.contains("changed since the checkpoint"),
        "{e}"
    );
    // a file that is gone
    std::fs::remove_file(&f).expect("remove");
    let e = restore(&t, &pos);
    assert!(
        e.contains(&f.display().to_string()) && e.contains("no longer in the input"),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any layout, parallelisms, cut, batch and chunk size: exactly once across the restore.
    #[test]
    fn restore_reads_every_row_once(
        count in 0usize..120,
        cuts in proptest::collection::vec(0usize..120, 0..4),
        json in any::<bool>(),
        p in 1u32..=4,
        q in 1u32..=5,
        cut in 0usize..12,
        batch in 1usize..16,
        chunk in prop_oneof![1usize..80, Just(split::DEFAULT_CHUNK)],
    ) {
        let dir = TempDir::new("ckpt-prop");
        let rows = gen_rows(count, json);
        write_input(dir.path(), &rows, &cuts, json);
        let format = if json { "json" } else { "csv" };
        let t = table(&COLS, dir.path(), &[("format", format)]);
        let want: Vec<String> = rows.iter().map(show).collect();
        let case = Case { t: &t, want: &want, p, batch, chunk };
        case.check(cut, &[q]);
        case.check_twice(cut, q, p);
    }
}
