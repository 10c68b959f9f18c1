//! The bids of `write_bids_csv` and of the `datagen` connector (`'generator' = 'bids'`) are
//! byte-identical to the output of the benchmark's own generator, `shared/bench/gen_bids.rs`,
//! compiled here with `rustc -O`. Missing `rustc` or generator source fails the test.
#![allow(clippy::unwrap_used)] // a test may unwrap

use arrow::array::RecordBatch;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use strom_connectors::{default_registry, write_bids_csv};
use strom_plan::{Column, RowSchema, SqlType, TableSpec};
use strom_runtime::{ConnectorRegistry, SubtaskInfo};

const ROWS: u64 = 20_000;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("strom-bids-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn shared_dir() -> PathBuf {
    match std::env::var_os("STROM_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

/// Compiles and runs gen_bids.rs; returns its CSV output for `ROWS` rows.
fn reference_csv(dir: &Path) -> Vec<u8> {
    let src = shared_dir().join("bench").join("gen_bids.rs");
    assert!(
        src.is_file(),
        "the benchmark generator {} is missing; set STROM_SHARED_DIR to the directory holding bench/gen_bids.rs",
        src.display()
    );
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let exe = dir.join("gen_bids");
    let out = Command::new(&rustc)
        .arg("-O")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run '{rustc}' to compile {}: {e}; install rustc or set RUSTC",
                src.display()
            )
        });
    assert!(
        out.status.success(),
        "compiling {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = dir.join("reference.csv");
    let status = Command::new(&exe)
        .arg(ROWS.to_string())
        .arg(&csv)
        .status()
        .expect("run gen_bids");
    assert!(status.success(), "gen_bids failed: {status}");
    std::fs::read(&csv).expect("read reference csv")
}

fn assert_same_text(what: &str, ours: &[u8], reference: &[u8]) {
    if ours == reference {
        return;
    }
    let a: Vec<&[u8]> = ours.split(|&b| b == b'\n').collect();
    let b: Vec<&[u8]> = reference.split(|&b| b == b'\n').collect();
    let i = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    panic!(
        "{what} differs from gen_bids.rs ({} vs {} bytes) first at line {}:\n ours: {:?}\n  ref: {:?}",
        ours.len(),
        reference.len(),
        i + 1,
        a.get(i).map(|l| String::from_utf8_lossy(l)),
        b.get(i).map(|l| String::from_utf8_lossy(l)),
    );
}

fn bid_schema() -> RowSchema {
    let cols = [
        ("auction", SqlType::BigInt),
        ("bidder", SqlType::BigInt),
        ("price", SqlType::BigInt),
        ("channel", SqlType::String),
        ("url", SqlType::String),
        ("date_time", SqlType::Timestamp(3)),
        ("extra", SqlType::String),
    ];
    RowSchema::new(
        cols.into_iter()
            .map(|(n, ty)| Column {
                name: n.into(),
                ty,
                nullable: true,
            })
            .collect(),
    )
}

fn table(name: &str, options: &[(&str, &str)]) -> TableSpec {
    TableSpec {
        name: name.into(),
        schema: bid_schema(),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        watermark: None,
        primary_key: vec![],
        partition_keys: vec![],
    }
}

fn read_all(reg: &ConnectorRegistry, t: &TableSpec, k: u32, p: u32) -> Vec<RecordBatch> {
    let f = reg.get(t).expect("connector");
    f.validate(t, true).expect("valid source");
    let mut r = f
        .create_reader(
            t,
            &[0, 1, 2, 3, 4, 5, 6],
            SubtaskInfo {
                index: k,
                parallelism: p,
            },
            8192,
        )
        .expect("reader");
    let mut out = Vec::new();
    while let Some(b) = r.next_batch().expect("batch") {
        out.push(b);
    }
    out
}

#[test]
fn bids_match_gen_bids_byte_for_byte() {
    let dir = TempDir::new("eq");
    let reference = reference_csv(&dir.0);
    assert!(reference.len() > 2_000_000, "20,000 bids are about 2.5 MB");

    // 1. write_bids_csv
    let ours = dir.0.join("ours.csv");
    write_bids_csv(ROWS, &ours).expect("write_bids_csv");
    assert_same_text(
        "write_bids_csv",
        &std::fs::read(&ours).expect("read"),
        &reference,
    );

    // 2. datagen bids -> filesystem CSV sink, p = 1 and p = 3, parts concatenated in order
    let reg = default_registry();
    let rows = ROWS.to_string();
    let source = table(
        "bid",
        &[
            ("connector", "datagen"),
            ("generator", "bids"),
            ("number-of-rows", &rows),
        ],
    );
    for p in [1u32, 3] {
        let out_dir = dir.0.join(format!("sink-p{p}"));
        let sink = table(
            "out",
            &[
                ("connector", "filesystem"),
                ("path", out_dir.to_str().expect("utf8")),
                ("format", "csv"),
            ],
        );
        let sf = reg.get(&sink).expect("filesystem");
        sf.validate(&sink, false).expect("valid sink");
        for k in 0..p {
            let mut w = sf
                .create_writer(
                    &sink,
                    SubtaskInfo {
                        index: k,
                        parallelism: p,
                    },
                )
                .expect("writer");
            for b in read_all(&reg, &source, k, p) {
                w.write(&b).expect("write");
            }
            w.finish().expect("finish");
        }
        let mut text = Vec::new();
        for k in 0..p {
            text.extend(std::fs::read(out_dir.join(format!("part-{k}-0.csv"))).expect("part file"));
        }
        assert_same_text(
            &format!("datagen bids through the CSV sink (p={p})"),
            &text,
            &reference,
        );
    }

    // 3. the reference file read by the CSV source (p = 2) equals the datagen batches
    let csv_table = table(
        "bid",
        &[
            ("connector", "filesystem"),
            ("path", dir.0.join("reference.csv").to_str().expect("utf8")),
            ("format", "csv"),
        ],
    );
    let schema = bid_schema().to_arrow();
    let mut from_csv = Vec::new();
    for k in 0..2 {
        from_csv.extend(read_all(&reg, &csv_table, k, 2));
    }
    let from_csv = arrow::compute::concat_batches(&schema, &from_csv).expect("concat");
    let generated =
        arrow::compute::concat_batches(&schema, &read_all(&reg, &source, 0, 1)).expect("concat");
    assert_eq!(from_csv.num_rows(), ROWS as usize);
    assert_eq!(from_csv, generated);
}
