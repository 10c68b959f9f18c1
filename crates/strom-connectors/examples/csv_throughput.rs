//! Throughput of the CSV source (and the bids generators) on the benchmark's bid file.
//!
//! ```text
//! cargo run --release -p strom-connectors --example csv_throughput -- 5000000      # generate, then read
//! cargo run --release -p strom-connectors --example csv_throughput -- /data/bids.csv
//! ```
//!
//! Reports MB/s and rows/s of one source subtask (p=1) for the projections
//! `[auction, date_time]` and all 7 columns (best of 3), then the same with p=2 (two threads),
//! and the `datagen` bids generator for `[auction, date_time]`.
#![allow(clippy::unwrap_used)] // an example may unwrap

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;
use strom_connectors::{write_bids_csv, DatagenConnector, FileSystemConnector};
use strom_plan::{Column, RowSchema, SqlType, TableSpec};
use strom_runtime::{ConnectorFactory, SubtaskInfo};

fn bid_table(options: &[(&str, &str)]) -> TableSpec {
    let cols = [
        ("auction", SqlType::BigInt),
        ("bidder", SqlType::BigInt),
        ("price", SqlType::BigInt),
        ("channel", SqlType::String),
        ("url", SqlType::String),
        ("date_time", SqlType::Timestamp(3)),
        ("extra", SqlType::String),
    ];
    TableSpec {
        name: "bid".into(),
        schema: RowSchema::new(
            cols.into_iter()
                .map(|(n, ty)| Column {
                    name: n.into(),
                    ty,
                    nullable: true,
                })
                .collect(),
        ),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        watermark: None,
        primary_key: vec![],
        partition_keys: vec![],
    }
}

/// CPU time of the calling thread in seconds (Linux `/proc/thread-self/schedstat`), if known.
fn thread_cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// One measurement: rows, wall seconds, CPU seconds summed over the reader threads.
#[derive(Clone, Copy)]
struct Run {
    rows: u64,
    wall: f64,
    cpu: f64,
}

/// Reads the whole table with `p` subtasks (one thread each).
fn read(
    factory: &(dyn ConnectorFactory + Sync),
    t: &TableSpec,
    projection: &[usize],
    p: u32,
) -> Run {
    let start = Instant::now();
    let (rows, cpu) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..p)
            .map(|k| {
                s.spawn(move || {
                    let cpu0 = thread_cpu_secs();
                    let mut r = factory
                        .create_reader(
                            t,
                            projection,
                            SubtaskInfo {
                                index: k,
                                parallelism: p,
                            },
                            8192,
                        )
                        .expect("reader");
                    let mut n = 0u64;
                    while let Some(b) = r.next_batch().expect("batch") {
                        n += b.num_rows() as u64;
                    }
                    let cpu = match (cpu0, thread_cpu_secs()) {
                        (Some(a), Some(b)) => b - a,
                        _ => f64::NAN,
                    };
                    (n, cpu)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .fold((0u64, 0f64), |(n, c), (n2, c2)| (n + n2, c + c2))
    });
    Run {
        rows,
        wall: start.elapsed().as_secs_f64(),
        cpu,
    }
}

fn best_of_3(mut f: impl FnMut() -> Run) -> Run {
    (0..3)
        .map(|_| f())
        .min_by(|a, b| a.wall.total_cmp(&b.wall))
        .unwrap_or(Run {
            rows: 0,
            wall: f64::NAN,
            cpu: f64::NAN,
        })
}

fn main() {
    let arg = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "5000000".to_string());
    let mut _cleanup = None;
    let path: PathBuf = match arg.parse::<u64>() {
        Ok(rows) => {
            let p = std::env::temp_dir().join(format!("strom-csv-throughput-{rows}.csv"));
            let start = Instant::now();
            let cpu0 = thread_cpu_secs();
            write_bids_csv(rows, &p).expect("write bids");
            let secs = start.elapsed().as_secs_f64();
            let cpu = match (cpu0, thread_cpu_secs()) {
                (Some(a), Some(b)) => b - a,
                _ => f64::NAN,
            };
            let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            println!(
                "write_bids_csv: {rows} rows, {size} bytes in {secs:.3} s ({:.0} MB/s, {:.2} M rows/s; {cpu:.3} CPU s)",
                size as f64 / secs / 1e6,
                rows as f64 / secs / 1e6
            );
            _cleanup = Some(p.clone());
            p
        }
        Err(_) => PathBuf::from(arg),
    };
    let size = std::fs::metadata(&path).expect("input file").len();
    let t = bid_table(&[
        ("connector", "filesystem"),
        ("path", path.to_str().expect("utf8 path")),
        ("format", "csv"),
    ]);
    println!("input: {} ({size} bytes)", path.display());
    for p in [1u32, 2] {
        for (name, proj) in [
            ("[auction, date_time]", vec![0usize, 5]),
            ("all 7 columns", (0..7).collect()),
        ] {
            let r = best_of_3(|| read(&FileSystemConnector, &t, &proj, p));
            println!(
                "csv source p={p} {name:<22}: {} rows in {:.3} s = {:>6.0} MB/s, {:>6.2} M rows/s (wall); {:>6.0} MB per CPU-second",
                r.rows,
                r.wall,
                size as f64 / r.wall / 1e6,
                r.rows as f64 / r.wall / 1e6,
                size as f64 / r.cpu / 1e6,
            );
        }
    }
    let n = 20_000_000u64.to_string();
    let g = bid_table(&[
        ("connector", "datagen"),
        ("generator", "bids"),
        ("number-of-rows", &n),
    ]);
    for (name, proj) in [
        ("[auction, date_time]", vec![0usize, 5]),
        ("all 7 columns", (0..7).collect()),
    ] {
        let r = best_of_3(|| read(&DatagenConnector, &g, &proj, 1));
        println!(
            "datagen bids p=1 {name:<22}: {} rows in {:.3} s = {:>6.2} M rows/s (wall); {:>6.2} M rows per CPU-second",
            r.rows,
            r.wall,
            r.rows as f64 / r.wall / 1e6,
            r.rows as f64 / r.cpu / 1e6
        );
    }
    if let Some(p) = _cleanup {
        let _ = std::fs::remove_file(p);
    }
}
