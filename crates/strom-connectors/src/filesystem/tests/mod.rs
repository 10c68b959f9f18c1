//! Tests of the filesystem connector: CSV/JSON parsing, errors, splits and the sink.

mod checkpoint;
mod committer;

use super::split::{list_input, plan_split};
use super::*;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    Date32Type, Decimal128Type, Float64Type, Int32Type, Int64Type, TimestampMillisecondType,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use strom_plan::{RowSchema, SqlType};

/// A temporary directory removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "strom-conn-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn table(cols: &[(&str, SqlType)], path: &Path, opts: &[(&str, &str)]) -> TableSpec {
    let mut options: BTreeMap<String, String> = opts
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    options.insert("connector".into(), "filesystem".into());
    options
        .entry("path".into())
        .or_insert_with(|| path.display().to_string());
    options
        .entry("format".into())
        .or_insert_with(|| "csv".into());
    TableSpec {
        name: "t".into(),
        schema: RowSchema::nullable(cols),
        options,
        watermark: None,
        primary_key: vec![],
        partition_keys: vec![],
    }
}

fn reader_with_chunk(
    t: &TableSpec,
    projection: &[usize],
    k: u32,
    p: u32,
    batch: usize,
    chunk: usize,
) -> Box<dyn SourceReader> {
    let opts = FsOptions::parse(t).expect("options");
    let files = list_input(&opts.path).expect("input");
    let slices = plan_split(&files, k, p);
    reader(t, &opts, projection, files, slices, batch, chunk).expect("a line reader")
}

fn drain(mut r: Box<dyn SourceReader>) -> Result<Vec<RecordBatch>, ConnectorError> {
    let mut out = Vec::new();
    while let Some(b) = r.next_batch()? {
        out.push(b);
    }
    Ok(out)
}

fn read(
    t: &TableSpec,
    projection: &[usize],
    k: u32,
    p: u32,
) -> Result<Vec<RecordBatch>, ConnectorError> {
    let r = FileSystemConnector.create_reader(
        t,
        projection,
        SubtaskInfo {
            index: k,
            parallelism: p,
        },
        4,
    )?;
    drain(r)
}

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    arrow::compute::concat_batches(&batches[0].schema(), batches).expect("concat")
}

fn strings(a: &dyn Array) -> Vec<Option<String>> {
    a.as_string::<i32>()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

const ALL_TYPES: [(&str, SqlType); 8] = [
    ("id", SqlType::BigInt),
    ("n", SqlType::Int),
    ("price", SqlType::Decimal(10, 2)),
    ("f", SqlType::Double),
    ("s", SqlType::String),
    ("d", SqlType::Date),
    ("ts", SqlType::Timestamp(3)),
    ("b", SqlType::Boolean),
];

#[test]
fn csv_parses_every_type_with_projection() {
    let dir = TempDir::new("types");
    let f = dir.path().join("in.csv");
    std::fs::write(
        &f,
        "1,10,1.5,2.5,abc,2024-01-01,2024-01-01 00:00:00.123,true\n\
         2,,,,,,,\n\
         -3,-7,-0.25,1e3,x y,1970-01-02,2024-01-01T01:00:00,FALSE\r\n\
         \n\
         4,0,12,0.0,\"q,\"\"uo\"\"te\",2024-02-29,2024-01-01 00:00:00,true",
    )
    .expect("write");
    let t = table(&ALL_TYPES, &f, &[]);
    FileSystemConnector.validate(&t, true).expect("valid");
    let b = concat(&read(&t, &[0, 1, 2, 3, 4, 5, 6, 7], 0, 1).expect("read"));
    assert_eq!(b.num_rows(), 4);
    assert_eq!(b.schema(), t.schema.to_arrow());
    let id = b.column(0).as_primitive::<Int64Type>();
    assert_eq!(id.values().to_vec(), vec![1, 2, -3, 4]);
    let n = b.column(1).as_primitive::<Int32Type>();
    assert_eq!(
        n.iter().collect::<Vec<_>>(),
        vec![Some(10), None, Some(-7), Some(0)]
    );
    let price = b.column(2).as_primitive::<Decimal128Type>();
    assert_eq!(
        price.iter().collect::<Vec<_>>(),
        vec![Some(150), None, Some(-25), Some(1200)]
    );
    let f64s = b.column(3).as_primitive::<Float64Type>();
    assert_eq!(
        f64s.iter().collect::<Vec<_>>(),
        vec![Some(2.5), None, Some(1000.0), Some(0.0)]
    );
    assert_eq!(
        strings(b.column(4)),
        vec![
            Some("abc".into()),
            None,
            Some("x y".into()),
            Some("q,\"uo\"te".into())
        ]
    );
    let d = b.column(5).as_primitive::<Date32Type>();
    assert_eq!(
        d.iter().collect::<Vec<_>>(),
        vec![Some(19_723), None, Some(1), Some(19_723 + 59)]
    );
    let ts = b.column(6).as_primitive::<TimestampMillisecondType>();
    let base = 1_704_067_200_000;
    assert_eq!(
        ts.iter().collect::<Vec<_>>(),
        vec![Some(base + 123), None, Some(base + 3_600_000), Some(base)]
    );
    let bo = b.column(7).as_boolean();
    assert_eq!(
        bo.iter().collect::<Vec<_>>(),
        vec![Some(true), None, Some(false), Some(true)]
    );

    // projection: only some columns, in another order; unprojected fields are not parsed
    let p = concat(&read(&t, &[6, 0], 0, 1).expect("read"));
    assert_eq!(p.num_columns(), 2);
    assert_eq!(p.schema().field(0).name(), "ts");
    assert_eq!(p.column(0).as_ref(), b.column(6).as_ref());
    assert_eq!(p.column(1).as_ref(), b.column(0).as_ref());
    // a column projected twice
    let dup = concat(&read(&t, &[4, 0, 4], 0, 1).expect("read"));
    assert_eq!(dup.column(0).as_ref(), b.column(4).as_ref());
    assert_eq!(dup.column(2).as_ref(), b.column(4).as_ref());
    // empty projection still counts rows
    let e = read(&t, &[], 0, 1).expect("read");
    assert_eq!(e.iter().map(|b| b.num_rows()).sum::<usize>(), 4);
}

#[test]
fn csv_quoted_fields() {
    let dir = TempDir::new("quoted");
    let f = dir.path().join("q.csv");
    // quoted delimiter, doubled quotes, quoted empty string (not NULL), quoted number,
    // a quote in an unprojected field, trailing empty field
    std::fs::write(
        &f,
        "1,\"a,b\",x\n2,\"\",\"y\"\"\"\n\"3\",plain,\"z\"\n4,,\n5,\"he said \"\"hi\"\"\",\n",
    )
    .expect("write");
    let t = table(
        &[
            ("id", SqlType::BigInt),
            ("s", SqlType::String),
            ("u", SqlType::String),
        ],
        &f,
        &[],
    );
    let b = concat(&read(&t, &[0, 1, 2], 0, 1).expect("read"));
    assert_eq!(
        b.column(0).as_primitive::<Int64Type>().values().to_vec(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        strings(b.column(1)),
        vec![
            Some("a,b".into()),
            Some("".into()),
            Some("plain".into()),
            None,
            Some("he said \"hi\"".into())
        ]
    );
    assert_eq!(
        strings(b.column(2)),
        vec![
            Some("x".into()),
            Some("y\"".into()),
            Some("z".into()),
            None,
            None
        ]
    );
    // only the first column projected: quoted lines still count fields correctly
    let p = concat(&read(&t, &[0], 0, 1).expect("read"));
    assert_eq!(
        p.column(0).as_primitive::<Int64Type>().values().to_vec(),
        vec![1, 2, 3, 4, 5]
    );

    // unterminated quote
    std::fs::write(&f, "1,\"abc,x\n").expect("write");
    let e = read(&t, &[0], 0, 1).expect_err("bad").to_string();
    assert!(
        e.contains("unterminated quoted field") && e.contains("line 1"),
        "{e}"
    );
}

#[test]
fn csv_bad_rows_name_file_line_and_column() {
    let dir = TempDir::new("bad");
    let f = dir.path().join("bids.csv");
    let mut text = String::new();
    for i in 1..=40 {
        if i == 17 {
            text.push_str("17,abc,2024-01-01 00:00:00.000\n");
        } else {
            text.push_str(&format!("{i},{},2024-01-01 00:00:00.000\n", i * 10));
        }
    }
    std::fs::write(&f, &text).expect("write");
    let t = table(
        &[
            ("auction", SqlType::BigInt),
            ("price", SqlType::BigInt),
            ("date_time", SqlType::Timestamp(3)),
        ],
        &f,
        &[],
    );
    let e = read(&t, &[0, 1], 0, 1).expect_err("malformed");
    assert!(matches!(e, ConnectorError::Parse(_)));
    let m = e.to_string();
    assert_eq!(
        m,
        format!(
            "malformed CSV row in {} line 17: column 'price' (BIGINT) cannot parse 'abc'; fix the row or set 'csv.ignore-parse-errors' = 'true' to skip such rows",
            f.display()
        )
    );
    // an unprojected bad field is not parsed
    assert_eq!(concat(&read(&t, &[0, 2], 0, 1).expect("ok")).num_rows(), 40);
    // a subtask starting mid-file still reports the true line number
    let mut found = 0;
    for k in 0..3 {
        match read(&t, &[1], k, 3) {
            Ok(_) => {}
            Err(e) => {
                found += 1;
                assert!(k > 0, "line 17 of 40 lies in a later subtask's range");
                assert!(e.to_string().contains("line 17:"), "{e}");
            }
        }
    }
    assert_eq!(found, 1);

    // wrong field count and a bad timestamp
    std::fs::write(&f, "1,2,2024-01-01 00:00:00\n2,3\n").expect("write");
    let m = read(&t, &[0], 0, 1).expect_err("short row").to_string();
    assert!(
        m.contains("line 2: expected 3 fields separated by ',' but found 2"),
        "{m}"
    );
    std::fs::write(&f, "1,2,2024-01-01 00:00:00,9\n").expect("write");
    let m = read(&t, &[0], 0, 1).expect_err("long row").to_string();
    assert!(
        m.contains("line 1: expected 3 fields") && m.contains("found 4"),
        "{m}"
    );
    std::fs::write(&f, "1,2,2024-13-01 00:00:00\n").expect("write");
    let m = read(&t, &[2], 0, 1).expect_err("bad ts").to_string();
    assert!(
        m.contains("column 'date_time' (TIMESTAMP(3)) cannot parse '2024-13-01 00:00:00'"),
        "{m}"
    );
}

#[test]
fn csv_ignore_parse_errors_skips_and_counts() {
    let dir = TempDir::new("ignore");
    let f = dir.path().join("x.csv");
    std::fs::write(&f, "1,a\n2\nx,b\n3,c\n4,d,e\n5,\"f\n6,g\n").expect("write");
    let t = table(
        &[("id", SqlType::BigInt), ("s", SqlType::String)],
        &f,
        &[("csv.ignore-parse-errors", "true")],
    );
    let mut r = FileSystemConnector
        .create_reader(
            &t,
            &[0, 1],
            SubtaskInfo {
                index: 0,
                parallelism: 1,
            },
            2,
        )
        .expect("reader");
    let mut batches = Vec::new();
    while let Some(b) = r.next_batch().expect("no error") {
        batches.push(b);
    }
    let b = concat(&batches);
    assert_eq!(
        b.column(0).as_primitive::<Int64Type>().values().to_vec(),
        vec![1, 3, 6]
    );
    assert_eq!(
        strings(b.column(1)),
        vec![Some("a".into()), Some("c".into()), Some("g".into())]
    );
    assert_eq!(r.counters().skipped_rows, 4);
    assert!(r.counters().bytes > 0);
}

#[test]
fn csv_custom_delimiter_and_options() {
    let dir = TempDir::new("delim");
    let f = dir.path().join("x.tsv");
    std::fs::write(&f, "1\ta,b\n2\tc\n").expect("write");
    let t = table(
        &[("id", SqlType::BigInt), ("s", SqlType::String)],
        &f,
        &[("csv.field-delimiter", "\\t")],
    );
    let b = concat(&read(&t, &[1], 0, 1).expect("read"));
    assert_eq!(
        strings(b.column(0)),
        vec![Some("a,b".into()), Some("c".into())]
    );

    let bad = |opts: &[(&str, &str)]| {
        FileSystemConnector
            .validate(&table(&[("id", SqlType::BigInt)], &f, opts), true)
            .expect_err("bad")
            .to_string()
    };
    let m = bad(&[("format", "avro")]);
    assert!(
        m.contains("'avro'") && m.contains("'csv', 'json', 'parquet'"),
        "{m}"
    );
    // a CSV file declared as Parquet
    let m = bad(&[("format", "parquet")]);
    assert!(m.contains("x.tsv") && m.contains("Parquet"), "{m}");
    assert!(bad(&[("csv.field-delimiter", ";;")]).contains("single ASCII character"));
    assert!(bad(&[("csv.ignore-parse-errors", "maybe")]).contains("'true' or 'false'"));
    assert!(bad(&[("csv.quote-character", "'")]).contains("csv.quote-character"));
    let missing = dir.path().join("nope").join("bids.csv");
    let m = FileSystemConnector
        .validate(&table(&[("id", SqlType::BigInt)], &missing, &[]), true)
        .expect_err("missing")
        .to_string();
    assert!(
        m.contains(&missing.display().to_string()) && m.contains("'path'"),
        "{m}"
    );
    assert!(bad(&[("path", "hdfs://nn/x")]).contains("only local paths"));
    let uri = format!("file://{}", f.display());
    let b = concat(
        &read(
            &table(
                &[("id", SqlType::BigInt), ("s", SqlType::String)],
                Path::new("x"),
                &[("path", &uri), ("csv.field-delimiter", "\\t")],
            ),
            &[0],
            0,
            1,
        )
        .expect("file:// path"),
    );
    assert_eq!(b.num_rows(), 2);
    // a missing sink directory is fine (it is created)
    FileSystemConnector
        .validate(&table(&[("id", SqlType::BigInt)], &missing, &[]), false)
        .expect("sink ok");
}

#[test]
fn directory_input_skips_hidden_files_in_natural_order() {
    let dir = TempDir::new("dir");
    for (name, body) in [
        ("part-10-0.csv", "10\n"),
        ("part-2-0.csv", "2\n"),
        ("part-1-0.csv", "1\n"),
        (".hidden.csv", "99\n"),
        ("_SUCCESS", "98\n"),
        ("empty.csv", ""),
    ] {
        std::fs::write(dir.path().join(name), body).expect("write");
    }
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    std::fs::write(dir.path().join("sub").join("x.csv"), "97\n").expect("write");
    let t = table(&[("id", SqlType::BigInt)], dir.path(), &[]);
    let b = concat(&read(&t, &[0], 0, 1).expect("read"));
    assert_eq!(
        b.column(0).as_primitive::<Int64Type>().values().to_vec(),
        vec![1, 2, 10]
    );
}

/// Writes `lines` into files cut at `cuts` (line indices), with or without a final newline.
fn write_files(dir: &Path, lines: &[String], cuts: &[usize], final_newline: &[bool]) {
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().map(|c| (*c).min(lines.len())));
    bounds.push(lines.len());
    bounds.sort();
    for (fi, w) in bounds.windows(2).enumerate() {
        let mut text = lines[w[0]..w[1]].join("\n");
        if w[1] > w[0] && final_newline.get(fi).copied().unwrap_or(true) {
            text.push('\n');
        }
        std::fs::write(dir.join(format!("f{fi:02}.csv")), text).expect("write");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Every line is read exactly once for any parallelism, chunk size and file layout, and
    /// the subtasks' rows, concatenated in subtask order, are the input's rows in order.
    #[test]
    fn splits_read_every_line_once(
        texts in proptest::collection::vec("[a-z ]{0,30}", 0..60),
        cuts in proptest::collection::vec(0usize..60, 0..4),
        final_newline in proptest::collection::vec(any::<bool>(), 5),
        crlf in any::<bool>(),
        p in 1u32..=8,
        chunk in prop_oneof![1usize..64, Just(super::split::DEFAULT_CHUNK)],
        batch in 1usize..20,
    ) {
        let dir = TempDir::new("prop");
        let eol = if crlf { "\r" } else { "" };
        let lines: Vec<String> = texts.iter().enumerate().map(|(i, s)| format!("{i},{s}{eol}")).collect();
        write_files(dir.path(), &lines, &cuts, &final_newline);
        let t = table(&[("id", SqlType::BigInt), ("s", SqlType::String)], dir.path(), &[]);
        let mut ids = Vec::new();
        let mut ss = Vec::new();
        for k in 0..p {
            for b in drain(reader_with_chunk(&t, &[0, 1], k, p, batch, chunk)).expect("read") {
                prop_assert!(b.num_rows() <= batch);
                ids.extend(b.column(0).as_primitive::<Int64Type>().values().iter().copied());
                ss.extend(strings(b.column(1)));
            }
        }
        prop_assert_eq!(ids, (0..texts.len() as i64).collect::<Vec<_>>());
        let want: Vec<Option<String>> =
            texts.iter().map(|s| if s.is_empty() { None } else { Some(s.clone()) }).collect();
        prop_assert_eq!(ss, want);
    }

    /// Line numbers in errors are true file line numbers whichever subtask reports them.
    #[test]
    fn error_line_numbers_are_exact(n in 1usize..80, bad in 0usize..80, p in 1u32..=6, chunk in 1usize..50) {
        let bad = bad % n;
        let dir = TempDir::new("propline");
        let lines: Vec<String> =
            (0..n).map(|i| if i == bad { "oops,x".to_string() } else { format!("{i},{}", "y".repeat(i % 7)) }).collect();
        std::fs::write(dir.path().join("a.csv"), lines.join("\n") + "\n").expect("write");
        let t = table(&[("id", SqlType::BigInt), ("s", SqlType::String)], dir.path(), &[]);
        let mut errors = Vec::new();
        for k in 0..p {
            if let Err(e) = drain(reader_with_chunk(&t, &[0], k, p, 7, chunk)) {
                errors.push(e.to_string());
            }
        }
        prop_assert_eq!(errors.len(), 1);
        let expected = format!("line {}: column 'id' (BIGINT) cannot parse 'oops'", bad + 1);
        prop_assert!(errors[0].contains(&expected), "{}", errors[0]);
    }
}

fn sink(t: &TableSpec, k: u32, p: u32, batches: &[RecordBatch]) {
    let mut w = FileSystemConnector
        .create_writer(
            t,
            SubtaskInfo {
                index: k,
                parallelism: p,
            },
        )
        .expect("writer");
    for b in batches {
        w.write(b).expect("write");
    }
    w.finish().expect("finish");
}

#[test]
fn csv_sink_writes_expected_text_and_round_trips() {
    let dir = TempDir::new("sink");
    let src = dir.path().join("in.csv");
    let text = "1,10,1.50,2.5,abc,2024-01-01,2024-01-01 00:00:00.123,true\n\
                2,,,,,,,\n\
                -3,-7,-0.25,1000.0,\"x,y\",1970-01-02,2024-01-01 01:00:00.000,false\n\
                4,0,12.00,0.1,\"say \"\"hi\"\"\",2024-02-29,2024-01-01 00:00:00.000,true\n\
                5,1,0.00,-1.0E-7,\"\",2024-02-29,1969-12-31 23:59:59.999,true\n";
    std::fs::write(&src, text).expect("write");
    let t = table(&ALL_TYPES, &src, &[]);
    let batches = read(&t, &[0, 1, 2, 3, 4, 5, 6, 7], 0, 1).expect("read");
    let out_dir = dir.path().join("out");
    let out = table(&ALL_TYPES, &out_dir, &[]);
    FileSystemConnector
        .validate(&out, false)
        .expect("valid sink");
    sink(&out, 0, 1, &batches);
    let written = std::fs::read_to_string(out_dir.join("part-0-0.csv")).expect("part file");
    assert_eq!(written, text.replace("-1.0E-7", "-1e-7"));
    // read back: same batches
    let again = read(
        &table(&ALL_TYPES, &out_dir, &[]),
        &[0, 1, 2, 3, 4, 5, 6, 7],
        0,
        1,
    )
    .expect("read back");
    assert_eq!(concat(&again), concat(&batches));
    // no temporary file left behind
    let names: Vec<String> = std::fs::read_dir(&out_dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["part-0-0.csv".to_string()]);
}

#[test]
fn decimal_sink_text_has_scale_digits() {
    let dir = TempDir::new("dec");
    let arr = arrow::array::Decimal128Array::from(vec![Some(90_800i128), Some(-5), None, Some(0)])
        .with_precision_and_scale(23, 3)
        .expect("decimal");
    let b = RecordBatch::try_from_iter([("p", std::sync::Arc::new(arr) as arrow::array::ArrayRef)])
        .expect("batch");
    let t = table(&[("p", SqlType::Decimal(23, 3))], dir.path(), &[]);
    sink(&t, 0, 1, std::slice::from_ref(&b));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("part-0-0.csv")).expect("read"),
        "90.800\n-0.005\n\n0.000\n"
    );
    let tj = table(
        &[("p", SqlType::Decimal(23, 3))],
        dir.path(),
        &[("format", "json")],
    );
    sink(&tj, 0, 1, &[b]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("part-0-0.json")).expect("read"),
        "{\"p\":90.800}\n{\"p\":-0.005}\n{\"p\":null}\n{\"p\":0.000}\n"
    );
}

#[test]
fn sink_overwrites_and_removes_stale_parts() {
    let dir = TempDir::new("stale");
    let t = table(&[("id", SqlType::BigInt)], dir.path(), &[]);
    let b = |v: Vec<i64>| {
        RecordBatch::try_from_iter([(
            "id",
            std::sync::Arc::new(arrow::array::Int64Array::from(v)) as _,
        )])
        .expect("b")
    };
    for k in 0..3 {
        sink(&t, k, 3, &[b(vec![k as i64])]);
    }
    // a re-run with parallelism 2 leaves exactly its own two files
    sink(&t, 0, 2, &[b(vec![7, 8])]);
    sink(&t, 1, 2, &[b(vec![9])]);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["part-0-0.csv", "part-1-0.csv"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("part-0-0.csv")).expect("r"),
        "7\n8\n"
    );
    let m = FileSystemConnector
        .validate(
            &table(
                &[("id", SqlType::BigInt)],
                &dir.path().join("part-0-0.csv"),
                &[],
            ),
            false,
        )
        .expect_err("file as sink dir")
        .to_string();
    assert!(m.contains("directory"), "{m}");
}

#[test]
#[allow(clippy::too_many_lines)]
fn json_read_write_round_trip() {
    let dir = TempDir::new("json");
    let f = dir.path().join("in.json");
    std::fs::write(
        &f,
        concat!(
            "{\"id\": 1, \"s\": \"a\\\"b\", \"price\": 1.5, \"ts\": \"2024-01-01 00:00:00.123\", \"ok\": true, \"extra\": [1]}\n",
            "{\"s\": null, \"id\": 2}\n",
            "\n",
            "{\"id\": \"3\", \"s\": {\"k\": 1}, \"price\": \"-0.25\", \"ts\": \"2024-01-01T00:00:01\", \"ok\": false, \"f\": 0.5}\n",
            "{\"id\": 4, \"ID\": 5, \"s\": \"\", \"f\": 1e300}\n",
        ),
    )
    .expect("write");
    let cols = [
        ("id", SqlType::BigInt),
        ("s", SqlType::String),
        ("price", SqlType::Decimal(10, 2)),
        ("ts", SqlType::Timestamp(3)),
        ("ok", SqlType::Boolean),
        ("f", SqlType::Double),
    ];
    let t = table(&cols, &f, &[("format", "json")]);
    FileSystemConnector.validate(&t, true).expect("valid");
    let b = concat(&read(&t, &[0, 1, 2, 3, 4, 5], 0, 1).expect("read"));
    assert_eq!(
        b.column(0).as_primitive::<Int64Type>().values().to_vec(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        strings(b.column(1)),
        vec![
            Some("a\"b".into()),
            None,
            Some("{\"k\":1}".into()),
            Some("".into())
        ]
    );
    let price = b.column(2).as_primitive::<Decimal128Type>();
    assert_eq!(
        price.iter().collect::<Vec<_>>(),
        vec![Some(150), None, Some(-25), None]
    );
    let ts = b.column(3).as_primitive::<TimestampMillisecondType>();
    assert_eq!(
        ts.iter().collect::<Vec<_>>(),
        vec![Some(1_704_067_200_123), None, Some(1_704_067_201_000), None]
    );
    assert_eq!(
        b.column(4).as_boolean().iter().collect::<Vec<_>>(),
        vec![Some(true), None, Some(false), None]
    );
    assert_eq!(
        b.column(5)
            .as_primitive::<Float64Type>()
            .iter()
            .collect::<Vec<_>>(),
        vec![None, None, Some(0.5), Some(1e300)]
    );

    // write as JSON, check the text, read it back (also split over 2 subtasks)
    let out = table(&cols, &dir.path().join("out"), &[("format", "json")]);
    sink(&out, 0, 1, std::slice::from_ref(&b));
    let text = std::fs::read_to_string(dir.path().join("out").join("part-0-0.json")).expect("read");
    assert_eq!(
        text,
        concat!(
            "{\"id\":1,\"s\":\"a\\\"b\",\"price\":1.50,\"ts\":\"2024-01-01 00:00:00.123\",\"ok\":true,\"f\":null}\n",
            "{\"id\":2,\"s\":null,\"price\":null,\"ts\":null,\"ok\":null,\"f\":null}\n",
            "{\"id\":3,\"s\":\"{\\\"k\\\":1}\",\"price\":-0.25,\"ts\":\"2024-01-01 00:00:01.000\",\"ok\":false,\"f\":0.5}\n",
            "{\"id\":4,\"s\":\"\",\"price\":null,\"ts\":null,\"ok\":null,\"f\":1e300}\n",
        )
    );
    let mut parts = Vec::new();
    for k in 0..2 {
        parts.extend(read(&out, &[0, 1, 2, 3, 4, 5], k, 2).expect("read back"));
    }
    assert_eq!(concat(&parts), b);

    // errors name file and line
    std::fs::write(&f, "{\"id\": 1}\n{\"id\": \"x\"}\n").expect("write");
    let m = read(&t, &[0], 0, 1).expect_err("bad").to_string();
    assert!(
        m.contains(&format!(
            "malformed JSON row in {} line 2: column 'id' (BIGINT)",
            f.display()
        )) && m.contains("json.ignore-parse-errors"),
        "{m}"
    );
    std::fs::write(&f, "{\"id\": 1}\n[1]\n{\"id\": 2\n{\"id\": 3}\n").expect("write");
    let m = read(&t, &[0], 0, 1).expect_err("bad").to_string();
    assert!(m.contains("line 2: expected a JSON object"), "{m}");
    let ti = table(
        &cols,
        &f,
        &[("format", "json"), ("json.ignore-parse-errors", "true")],
    );
    let mut r = FileSystemConnector
        .create_reader(
            &ti,
            &[0],
            SubtaskInfo {
                index: 0,
                parallelism: 1,
            },
            100,
        )
        .expect("r");
    let mut ids = Vec::new();
    while let Some(b) = r.next_batch().expect("skips") {
        ids.extend(
            b.column(0)
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .copied(),
        );
    }
    assert_eq!(ids, vec![1, 3]);
    assert_eq!(r.counters().skipped_rows, 2);
}

/// One CSV field: NULL (empty), plain text, or quoted text (which may hold the delimiter, a
/// doubled quote, or nothing: `""` is the empty string).
#[derive(Debug, Clone)]
enum Field {
    Null,
    Plain(String),
    Quoted(String),
}

impl Field {
    fn text(&self) -> String {
        match self {
            Field::Null => String::new(),
            Field::Plain(s) => s.clone(),
            Field::Quoted(s) => format!("\"{}\"", s.replace('"', "\"\"")),
        }
    }

    fn value(&self) -> Option<String> {
        match self {
            Field::Null => None,
            Field::Plain(s) | Field::Quoted(s) => Some(s.clone()),
        }
    }
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        1 => Just(Field::Null),
        4 => "[a-z0-9 ]{1,12}".prop_map(Field::Plain),
        2 => "[a-z0-9 ,\"]{0,12}".prop_map(Field::Quoted),
        // longer than a read's headroom: the line spans blocks
        1 => (4000usize..9000).prop_map(|n| Field::Plain("x".repeat(n))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Rows of random plain, quoted and empty fields, read with a random projection, chunk,
    /// batch size and parallelism, give back exactly the values written.
    #[test]
    fn csv_fields_round_trip(
        rows in proptest::collection::vec(proptest::collection::vec(field(), 4), 0..40),
        projection in proptest::sample::subsequence(vec![0usize, 1, 2, 3], 1..=4).prop_shuffle(),
        crlf in any::<bool>(),
        p in 1u32..=3,
        chunk in prop_oneof![1usize..64, 4000usize..5000, Just(super::split::DEFAULT_CHUNK)],
        batch in 1usize..20,
    ) {
        let dir = TempDir::new("propfields");
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = String::new();
        for (i, r) in rows.iter().enumerate() {
            // the id keeps every line non-empty
            text.push_str(&format!("{i}"));
            for f in r {
                text.push(',');
                text.push_str(&f.text());
            }
            text.push_str(eol);
        }
        std::fs::write(dir.path().join("a.csv"), text).expect("write");
        let cols: Vec<(&str, SqlType)> = ["id", "a", "b", "c", "d"]
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, if i == 0 { SqlType::BigInt } else { SqlType::String }))
            .collect();
        let t = table(&cols, dir.path(), &[]);
        let proj: Vec<usize> = std::iter::once(0).chain(projection.iter().map(|c| c + 1)).collect();
        let mut got: Vec<(i64, Vec<Option<String>>)> = Vec::new();
        for k in 0..p {
            for b in drain(reader_with_chunk(&t, &proj, k, p, batch, chunk)).expect("read") {
                let ids = b.column(0).as_primitive::<Int64Type>().values().to_vec();
                let cols: Vec<Vec<Option<String>>> = (1..proj.len()).map(|c| strings(b.column(c))).collect();
                for (r, id) in ids.into_iter().enumerate() {
                    got.push((id, cols.iter().map(|c| c[r].clone()).collect()));
                }
            }
        }
        let want: Vec<(i64, Vec<Option<String>>)> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (i as i64, projection.iter().map(|&c| r[c].value()).collect()))
            .collect();
        prop_assert_eq!(got, want);
    }
}
