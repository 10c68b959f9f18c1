//! TPC-H's 22 queries (`bench/tpch/queries`, the tables of `bench/tpch/schema.sql`) at scale
//! factor 0.1 in batch mode, each answer compared with DuckDB's on the same CSV files (through
//! `tests/tpch/tpch.py`): rows as a multiset, numbers within 1e-6, and the order of a query
//! with ORDER BY. Embedded at parallelism 1, 2 and 4, and on a JobManager with two
//! TaskManager processes. The data comes from `tpchgen-cli` (PyPI), once per target dir.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::processes::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

const QUERIES: u32 = 22;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn oracle() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tpch/tpch.py")
}

fn query(q: u32) -> PathBuf {
    repo().join(format!("bench/tpch/queries/q{q}.sql"))
}

/// The TPC-H tables at scale factor 0.1 as CSV files without a header line, generated once
/// into cargo's target tmp dir (under a temporary name, then renamed: concurrent test processes
/// never see a partial directory).
fn tpch_data() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("strom-e2e");
        let dir = root.join("tpch-sf0.1-csv");
        if dir.is_dir() {
            return dir;
        }
        let tmp = root.join(format!(".tpch-{}.tmp", std::process::id()));
        let raw = tmp.join("raw");
        std::fs::create_dir_all(&raw).unwrap();
        let out = run(Command::new("tpchgen-cli")
            .args(["csv", "-s", "0.1", "--output-dir"])
            .arg(&raw));
        assert_eq!(
            out.code,
            Some(0),
            "tpchgen-cli failed (is it installed? scripts/test.sh installs it)\n{}",
            out.describe()
        );
        for e in std::fs::read_dir(&raw).unwrap().flatten() {
            let text = read_text(&e.path());
            let body = text.split_once('\n').map(|x| x.1).unwrap_or("");
            write_text(&tmp.join(e.file_name()), body);
        }
        std::fs::remove_dir_all(&raw).unwrap();
        if std::fs::rename(&tmp, &dir).is_err() {
            // another process was first
            let _ = std::fs::remove_dir_all(&tmp);
        }
        dir
    })
    .clone()
}

/// `bench/tpch/schema.sql` over the data directory.
fn schema(tmp: &TempDir) -> PathBuf {
    let text = read_text(&repo().join("bench/tpch/schema.sql"))
        .replace("{dir}", &tpch_data().display().to_string())
        .replace("{format}", "csv");
    let path = tmp.join("schema.sql");
    write_text(&path, &text);
    path
}

fn python(args: &[&Path]) -> common::Output {
    let mut cmd = Command::new("python3");
    cmd.arg(oracle()).args(args);
    run_with_timeout(&mut cmd, Duration::from_secs(300))
}

/// The INSERT of query `q` into a CSV sink with DuckDB's result columns, writing to `{out}`.
fn insert_of(schema: &Path, q: u32) -> String {
    let data = tpch_data();
    let out = python(&[Path::new("sink"), schema, &data, &query(q)]);
    assert_eq!(out.code, Some(0), "tpch.py sink q{q}\n{}", out.describe());
    out.stdout
}

/// Runs the 22 queries with `strom sql <args>` at parallelism `p` and returns what went wrong,
/// one line per query.
fn run_all(label: &str, p: u32, extra: &[String]) -> Vec<String> {
    let tmp = TempDir::new("tpch");
    let schema = schema(&tmp);
    let mut failures = Vec::new();
    for q in 1..=QUERIES {
        let out_dir = tmp.join(&format!("q{q}-{label}"));
        let script = tmp.join(&format!("q{q}.sql"));
        write_text(
            &script,
            &insert_of(&schema, q).replace("{out}", &out_dir.display().to_string()),
        );
        let mut cmd = strom();
        cmd.arg("sql")
            .args(extra)
            .arg("-f")
            .arg(&schema)
            .arg("-f")
            .arg(&script);
        cmd.args(["-p", &p.to_string(), "-D", "execution.runtime-mode=batch"]);
        let out = run_with_timeout(&mut cmd, Duration::from_secs(300));
        if out.code != Some(0) {
            failures.push(format!("q{q} {label} p={p} failed:\n{}", out.describe()));
            continue;
        }
        let data = tpch_data();
        let check = python(&[Path::new("check"), &schema, &data, &query(q), &out_dir]);
        if check.code != Some(0) {
            failures.push(format!(
                "q{q} {label} p={p}: {}{}",
                check.stdout,
                tail(&check.stderr, 2000)
            ));
        }
    }
    failures
}

fn assert_all_right(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} of {QUERIES} TPC-H queries went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn tpch_embedded_at_parallelism_1() {
    assert_all_right(run_all("embedded", 1, &[]));
}

#[test]
fn tpch_embedded_at_parallelism_2() {
    assert_all_right(run_all("embedded", 2, &[]));
}

#[test]
fn tpch_embedded_at_parallelism_4() {
    assert_all_right(run_all("embedded", 4, &[]));
}

#[test]
fn tpch_on_a_jobmanager_and_two_taskmanager_processes() {
    tpch_data();
    let jm = JobManager::start(&[]);
    let (_tm1, _) = start_taskmanager("taskmanager-1", &jm, 2, &[]);
    let (_tm2, _) = start_taskmanager("taskmanager-2", &jm, 2, &[]);
    let failures = run_all("cluster", 4, &["--jobmanager".to_string(), jm.url()]);
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        tail(&jm.proc.describe(), 4000)
    );
}
