//! Shared helpers of the end-to-end tests: temp dirs, the bids file, running the `strom` binary
//! with a timeout, and an independent reference implementation of the benchmark queries.
//!
//! The reference never looks at Strom's output: it parses the generated CSV with plain
//! `split(',')`, computes every query with std collections, and formats the rows the way the
//! filesystem CSV sink is specified to (BIGINT plain, DECIMAL(23,3) with three decimals,
//! TIMESTAMP(3) as `YYYY-MM-DD HH:MM:SS.mmm`).

#![allow(dead_code)]

pub mod duckdb;
pub mod etcd;
pub mod netns;
pub mod nexmark;
pub mod postgres;
pub mod processes;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Rows of the generated bids file used by the tests.
pub const BID_ROWS: u64 = 200_000;

/// Default timeout of one `strom` command.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(120);

/// The benchmark queries covered by the tests.
pub const QUERIES: [&str; 5] = ["q0", "q1", "q2", "q5", "q7"];

// ---------------------------------------------------------------------------------------------
// Paths

/// The `strom` binary built by cargo for this test run.
pub fn strom_bin() -> &'static str {
    env!("CARGO_BIN_EXE_strom")
}

/// A `strom` command isolated from any `conf/config.yaml` in the working directory.
pub fn strom() -> Command {
    let mut c = Command::new(strom_bin());
    c.env("STROM_CONF_DIR", "/nonexistent-strom-e2e-conf");
    c.stdin(Stdio::null());
    c
}

/// The shared directory (`STROM_SHARED_DIR`, else `<workspace>/../shared`). Panics with a clear
/// message when the benchmark files are not there.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("STROM_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let probe = dir.join("bench/sql/bid_source.sql");
    assert!(
        probe.is_file(),
        "the shared benchmark files are missing: {} does not exist. Set STROM_SHARED_DIR to the \
         directory that holds bench/sql/{{bid_source,q0,q1,q2,q5,q7}}.sql",
        probe.display()
    );
    dir
}

/// `strom sql -f <files...> -p <p> -D execution.runtime-mode=<mode>` with `BID_PATH` set.
pub fn sql_cmd(files: &[&Path], p: u32, mode: &str, bid_path: &Path) -> Command {
    let mut c = strom();
    c.arg("sql");
    for f in files {
        c.arg("-f").arg(f);
    }
    c.arg("-p")
        .arg(p.to_string())
        .arg("-D")
        .arg(format!("execution.runtime-mode={mode}"))
        .env("BID_PATH", bid_path);
    c
}

pub fn bench_sql(name: &str) -> PathBuf {
    let p = shared_dir().join("bench/sql").join(name);
    assert!(p.is_file(), "missing benchmark SQL file {}", p.display());
    p
}

pub fn read_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

pub fn write_text(p: &Path, text: &str) {
    std::fs::write(p, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
}

// ---------------------------------------------------------------------------------------------
// Temp dirs

/// A fresh directory under the system temp dir, removed on drop (kept when `STROM_KEEP_TMP` is
/// set, for debugging).
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "strom-e2e-{tag}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("STROM_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running commands

#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub what: String,
}

impl Output {
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nexit code: {:?} after {:.2} s\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.code,
            self.elapsed.as_secs_f64(),
            tail(&self.stdout, 4000),
            tail(&self.stderr, 4000)
        )
    }

    pub fn assert_success(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "the command failed\n{}",
            self.describe()
        );
        self
    }

    /// The job id of `Job has been submitted with JobID <id>` (exactly one expected).
    pub fn job_id(&self) -> String {
        let ids: Vec<&str> = self
            .stdout
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Job has been submitted with JobID "))
            .map(str::trim)
            .collect();
        assert_eq!(
            ids.len(),
            1,
            "expected one 'Job has been submitted with JobID <id>' line\n{}",
            self.describe()
        );
        let id = ids[0];
        assert!(
            id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "the job id '{id}' is not 32 hex digits\n{}",
            self.describe()
        );
        id.to_string()
    }

    /// Checks the final line `Job <id> FINISHED in <ms> ms (job time); read <n> rows, wrote <m>
    /// rows; ...` and returns (n, m).
    pub fn finished_line(&self, id: &str) -> (u64, u64) {
        let prefix = format!("Job {id} FINISHED in ");
        let line = self
            .stdout
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no line '{prefix}...' on stdout\n{}", self.describe()));
        let rest = &line[prefix.len()..];
        let ms = rest.split_whitespace().next().unwrap_or("");
        assert!(
            ms.parse::<u64>().is_ok(),
            "the job time in '{line}' is not an integer of ms"
        );
        let read =
            number_after(line, "read ").unwrap_or_else(|| panic!("no 'read <n> rows' in '{line}'"));
        let wrote = number_after(line, "wrote ")
            .unwrap_or_else(|| panic!("no 'wrote <m> rows' in '{line}'"));
        (read, wrote)
    }
}

fn number_after(line: &str, key: &str) -> Option<u64> {
    let i = line.find(key)?;
    line[i + key.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

pub fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("[... {} bytes cut ...]{}", start, &s[start..])
}

/// Runs `cmd` to completion, capturing stdout and stderr; kills it and panics after `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let what = format!("{cmd:?}");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        String::from_utf8_lossy(&b).into_owned()
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        String::from_utf8_lossy(&b).into_owned()
    });
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) => {}
            Err(e) => panic!("waiting for {what}: {e}"),
        }
        if started.elapsed() > timeout {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = Output {
        code: status.and_then(|s| s.code()),
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
        elapsed: started.elapsed(),
        what,
    };
    if timed_out {
        panic!(
            "the command did not end within {} s and was killed\n{}",
            timeout.as_secs(),
            out.describe()
        );
    }
    out
}

pub fn run(cmd: &mut Command) -> Output {
    run_with_timeout(cmd, CMD_TIMEOUT)
}

// ---------------------------------------------------------------------------------------------
// The bids file

/// The bids CSV (`BID_ROWS` rows) written by `strom gen-bids`, once per test binary build: the
/// file lives in cargo's target tmp dir, keyed by the binary's size and mtime so a rebuilt binary
/// regenerates it, and is written under a temporary name and renamed, so concurrent test
/// processes (nextest runs every test in its own process) never see a partial file.
pub fn gen_bids() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| gen_bids_uncached(BID_ROWS)).clone()
}

fn gen_bids_uncached(rows: u64) -> PathBuf {
    let meta = std::fs::metadata(strom_bin()).expect("the strom binary");
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("strom-e2e");
    std::fs::create_dir_all(&dir).expect("create the target tmp dir");
    let key = format!("bids-{rows}-{}-{mtime}", meta.len());
    let path = dir.join(format!("{key}.csv"));
    if path.is_file() {
        return path;
    }
    // Remove files of older builds.
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&format!("bids-{rows}-"))
                && n.ends_with(".csv")
                && !n.starts_with(&key)
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let tmp = dir.join(format!(".{key}.{}.tmp", std::process::id()));
    let out = run(strom().arg("gen-bids").arg(rows.to_string()).arg(&tmp));
    out.assert_success();
    let text = read_text(&tmp);
    let n = text.lines().count() as u64;
    assert_eq!(n, rows, "strom gen-bids {rows} wrote {n} lines");
    std::fs::rename(&tmp, &path).expect("rename the bids file");
    path
}

// ---------------------------------------------------------------------------------------------
// Civil time (Howard Hinnant's algorithms)

pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD HH:MM:SS.mmm` (UTC) -> epoch milliseconds.
pub fn parse_ts(s: &str) -> i64 {
    try_parse_ts(s).unwrap_or_else(|| panic!("not a TIMESTAMP(3) text: '{s}'"))
}

pub fn try_parse_ts(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if !s.is_ascii()
        || b.len() != 23
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = &s[r];
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse::<i64>().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + se * 1000 + ms)
}

/// Epoch milliseconds -> `YYYY-MM-DD HH:MM:SS.mmm` (UTC).
pub fn fmt_ts(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        (rem / 60_000) % 60,
        (rem / 1000) % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{milli:03}")
}

// ---------------------------------------------------------------------------------------------
// The reference implementation

#[derive(Clone, Debug)]
pub struct Bid {
    pub auction: i64,
    pub bidder: i64,
    pub price: i64,
    pub date_time: String,
    pub ts: i64,
    pub extra: String,
}

/// Parses bid CSV text with `split(',')`; lines that do not parse are skipped only when
/// `skip_bad`, otherwise the function panics.
pub fn parse_bids_text(text: &str, skip_bad: bool) -> Vec<Bid> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let parsed = (|| {
            if f.len() != 7 {
                return None;
            }
            let auction = f[0].parse().ok()?;
            let bidder = f[1].parse().ok()?;
            let price = f[2].parse().ok()?;
            let ts = try_parse_ts(f[5])?;
            Some(Bid {
                auction,
                bidder,
                price,
                date_time: f[5].to_string(),
                ts,
                extra: f[6].to_string(),
            })
        })();
        match parsed {
            Some(b) => out.push(b),
            None if skip_bad => {}
            None => panic!("line {} of the bids file does not parse: '{line}'", i + 1),
        }
    }
    out
}

/// The parsed rows of [`gen_bids`], with sanity checks of the generator's documented shape.
pub fn bids() -> &'static [Bid] {
    static BIDS: OnceLock<Vec<Bid>> = OnceLock::new();
    BIDS.get_or_init(|| parse_checked(&gen_bids(), BID_ROWS))
}

/// Parses a generated bids file of `rows` rows and checks the generator's documented shape:
/// date_time = 2024-01-01 00:00:00.000 + floor(i/10) ms (shared/bench/README.md).
pub fn parse_checked(path: &Path, rows: u64) -> Vec<Bid> {
    let v = parse_bids_text(&read_text(path), false);
    assert_eq!(
        v.len() as u64,
        rows,
        "{} rows in {}",
        v.len(),
        path.display()
    );
    let base = parse_ts("2024-01-01 00:00:00.000");
    assert_eq!(base, 1_704_067_200_000);
    for (i, b) in v.iter().enumerate() {
        assert_eq!(
            b.ts,
            base + i as i64 / 10,
            "row {i} date_time {}",
            b.date_time
        );
        assert_eq!(fmt_ts(b.ts), b.date_time, "timestamp round trip of row {i}");
    }
    v
}

fn window_start(ts: i64) -> i64 {
    ts.div_euclid(10_000) * 10_000
}

/// 0.908 * price as DECIMAL(23,3), exact.
pub fn q1_price(price: i64) -> String {
    let v = price as i128 * 908;
    let sign = if v < 0 { "-" } else { "" };
    let a = v.abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

/// The expected sink rows of a benchmark query, as sorted CSV lines.
pub fn expected(query: &str, bids: &[Bid]) -> Vec<String> {
    let mut rows: Vec<String> = match query {
        "q0" => bids
            .iter()
            .map(|b| {
                format!(
                    "{},{},{},{},{}",
                    b.auction, b.bidder, b.price, b.date_time, b.extra
                )
            })
            .collect(),
        "q1" => bids
            .iter()
            .map(|b| {
                format!(
                    "{},{},{},{},{}",
                    b.auction,
                    b.bidder,
                    q1_price(b.price),
                    b.date_time,
                    b.extra
                )
            })
            .collect(),
        "q2" => bids
            .iter()
            .filter(|b| b.auction % 123 == 0)
            .map(|b| format!("{},{}", b.auction, b.price))
            .collect(),
        "q5" => {
            let mut m: HashMap<(i64, i64), u64> = HashMap::new();
            for b in bids {
                *m.entry((b.auction, window_start(b.ts))).or_default() += 1;
            }
            m.into_iter()
                .map(|((a, w), n)| format!("{a},{},{},{n}", fmt_ts(w), fmt_ts(w + 10_000)))
                .collect()
        }
        "q7" => {
            let mut m: HashMap<i64, i64> = HashMap::new();
            for b in bids {
                let e = m.entry(window_start(b.ts)).or_insert(i64::MIN);
                *e = (*e).max(b.price);
            }
            m.into_iter()
                .map(|(w, p)| format!("{},{},{p}", fmt_ts(w), fmt_ts(w + 10_000)))
                .collect()
        }
        other => panic!("no reference for query {other}"),
    };
    rows.sort();
    rows
}

/// The reference answer of a query over [`bids`], computed once per query.
pub fn expected_for(query: &str) -> &'static [String] {
    static CACHE: OnceLock<std::sync::Mutex<HashMap<String, &'static [String]>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap().get(query) {
        return v;
    }
    let rows: &'static [String] = Box::leak(expected(query, bids()).into_boxed_slice());
    cache.lock().unwrap().insert(query.to_string(), rows);
    rows
}

/// The SET statements of a job that checkpoints every `interval` into `dir` and restarts up to
/// 50 times (a fault-tolerance test's job outlasts the kills it sees).
pub fn checkpointed_job_settings(dir: &Path, interval: &str) -> String {
    format!(
        "SET 'execution.checkpointing.interval' = '{interval}';
SET 'state.checkpoints.dir' = '{}';
SET 'restart-strategy.type' = 'fixed-delay';
SET 'restart-strategy.fixed-delay.attempts' = '50';
SET 'restart-strategy.fixed-delay.delay' = '200 ms';
",
        dir.display()
    )
}

// ---------------------------------------------------------------------------------------------
// Sinks and comparison

/// The benchmark's `bid` table over a `'generator' = 'bids'` datagen source of `rows` rows at
/// `rate` rows/s in total (the rows of [`gen_bids_of`]`(rows)`).
pub fn datagen_bid_table(rows: u64, rate: u64) -> String {
    format!(
        "CREATE TABLE bid (
  auction   BIGINT,
  bidder    BIGINT,
  price     BIGINT,
  channel   STRING,
  url       STRING,
  date_time TIMESTAMP(3),
  extra     STRING,
  WATERMARK FOR date_time AS date_time - INTERVAL '0.001' SECOND
) WITH (
  'connector' = 'datagen',
  'generator' = 'bids',
  'number-of-rows' = '{rows}',
  'rows-per-second' = '{rate}'
);
"
    )
}

/// The benchmark query file with its blackhole sink replaced by a CSV filesystem sink into `out`.
pub fn query_with_file_sink(query: &str, out: &Path) -> String {
    let text = read_text(&bench_sql(&format!("{query}.sql")));
    replace_sink(&text, out)
}

pub fn replace_sink(text: &str, out: &Path) -> String {
    let needle = "WITH ('connector' = 'blackhole')";
    assert_eq!(
        text.matches(needle).count(),
        1,
        "expected exactly one `{needle}` in the query file:\n{text}"
    );
    let replaced = text.replace(
        needle,
        &format!(
            "WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv')",
            out.display()
        ),
    );
    assert!(
        !replaced.contains("'blackhole'") && replaced.contains("'connector' = 'filesystem'"),
        "the blackhole sink was not replaced:\n{replaced}"
    );
    replaced
}

/// All rows of the part files `part-*.csv` in `dir`, sorted; asserts that no in-progress file
/// is left behind (hidden files, whose names start with '.', are not output).
pub fn read_sink_rows(dir: &Path) -> Vec<String> {
    let rd = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("the sink directory {} cannot be read: {e}", dir.display()));
    let mut rows = Vec::new();
    let mut parts = 0;
    let mut names = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        names.push(name.clone());
        // hidden files: in-progress files of the exactly-once sink that never became visible
        if name.starts_with('.') {
            continue;
        }
        assert!(
            !name.ends_with(".inprogress"),
            "an in-progress file is left in {} after the job: {name}",
            dir.display()
        );
        if name.starts_with("part-") && (name.ends_with(".csv") || name.ends_with(".json")) {
            parts += 1;
            let text = read_text(&e.path());
            assert!(
                text.is_empty() || text.ends_with('\n'),
                "{name} does not end with a newline"
            );
            rows.extend(text.lines().map(str::to_string));
        }
    }
    assert!(
        parts > 0,
        "no part-*.csv or part-*.json file in {} (files: {names:?})",
        dir.display()
    );
    rows.sort();
    rows
}

/// Compares two sorted row lists; on mismatch panics with the counts and the first differing lines
/// (never all rows).
pub fn assert_same_rows(label: &str, actual: &[String], expected: &[String]) {
    if actual == expected {
        return;
    }
    let mut msg = format!(
        "{label}: wrong result: {} rows, expected {} rows\n",
        actual.len(),
        expected.len()
    );
    let first = actual
        .iter()
        .zip(expected)
        .position(|(a, e)| a != e)
        .unwrap_or(actual.len().min(expected.len()));
    msg.push_str(&format!("first difference at sorted row {first}:\n"));
    for i in first..(first + 5).min(actual.len().max(expected.len())) {
        let a = actual.get(i).map(String::as_str).unwrap_or("<none>");
        let e = expected.get(i).map(String::as_str).unwrap_or("<none>");
        msg.push_str(&format!("  [{i}] got      {a}\n  [{i}] expected {e}\n"));
    }
    // A few rows only on one side (both lists are sorted: merge).
    let (mut i, mut j) = (0, 0);
    let (mut missing, mut extra) = (Vec::new(), Vec::new());
    let (mut n_missing, mut n_extra) = (0usize, 0usize);
    while i < actual.len() || j < expected.len() {
        match (actual.get(i), expected.get(j)) {
            (Some(a), Some(e)) if a == e => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(e)) if a < e => {
                n_extra += 1;
                if extra.len() < 5 {
                    extra.push(a.clone());
                }
                i += 1;
            }
            (Some(a), None) => {
                n_extra += 1;
                if extra.len() < 5 {
                    extra.push(a.clone());
                }
                i += 1;
            }
            (_, Some(e)) => {
                n_missing += 1;
                if missing.len() < 5 {
                    missing.push(e.clone());
                }
                j += 1;
            }
            (None, None) => break,
        }
    }
    msg.push_str(&format!("{n_missing} expected rows missing, e.g. {missing:?}\n{n_extra} unexpected rows, e.g. {extra:?}\n"));
    panic!("{msg}");
}

// ---------------------------------------------------------------------------------------------
// Bids of other sizes (the rows of a `'generator' = 'bids'` datagen source)

/// The bids CSV of `rows` rows written by `strom gen-bids`: the rows a datagen source with
/// `'generator' = 'bids', 'number-of-rows' = rows` produces. Cached in cargo's target tmp dir
/// like [`gen_bids`] (safe when several test processes ask for it at once).
pub fn gen_bids_of(rows: u64) -> PathBuf {
    if rows == BID_ROWS {
        return gen_bids();
    }
    gen_bids_uncached(rows)
}

/// The reference answer of a benchmark query over the first `rows` generated bids (the file of
/// [`gen_bids_of`]), as sorted CSV lines; checks the generator's documented timestamp shape.
pub fn expected_for_rows(query: &str, rows: u64) -> Vec<String> {
    expected(query, &parse_checked(&gen_bids_of(rows), rows))
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client (REST of a cluster process on loopback)

pub struct Resp {
    pub status: u16,
    pub body: String,
}

impl Resp {
    pub fn json(&self, what: &str) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{what}: the body is not JSON ({e}): {}", self.body))
    }

    /// Asserts the status and Flink's error body `{"errors": ["..."]}`.
    pub fn assert_error(&self, status: u16, what: &str) {
        assert_eq!(
            self.status, status,
            "{what}: expected HTTP {status}, got {}: {}",
            self.status, self.body
        );
        let v = self.json(what);
        let errors = v["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: no \"errors\" array in {}", self.body));
        assert!(
            !errors.is_empty() && errors.iter().all(serde_json::Value::is_string),
            "{what}: errors must be non-empty strings: {}",
            self.body
        );
    }
}

pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> std::io::Result<Resp> {
    http_with(port, method, path, &[], body)
}

/// [`http`] with more request headers (`("Authorization", "Bearer ...")`).
pub fn http_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> std::io::Result<Resp> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nAccept: application/json\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    std::io::Write::write_all(&mut s, req.as_bytes())?;
    std::io::Write::flush(&mut s)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw).map_err(|e| {
        std::io::Error::other(format!(
            "{e}; raw response: {:?}",
            String::from_utf8_lossy(&raw)
        ))
    })
}

pub fn parse_response(raw: &[u8]) -> Result<Resp, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|e| e.to_string())?;
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("empty response")?;
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line '{status_line}'"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line '{status_line}'"))?;
    let mut chunked = false;
    let mut length = None;
    for h in lines {
        let Some((k, v)) = h.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        }
        if k == "content-length" {
            length = v.parse::<usize>().ok();
        }
    }
    if chunked {
        body = dechunk(&body)?;
    } else if let Some(n) = length {
        if body.len() < n {
            return Err(format!(
                "body has {} bytes, Content-Length says {n}",
                body.len()
            ));
        }
        body.truncate(n);
    }
    Ok(Resp {
        status,
        body: String::from_utf8(body).map_err(|e| e.to_string())?,
    })
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk header")?;
        let size_text = std::str::from_utf8(&b[..eol]).map_err(|e| e.to_string())?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("bad chunk size '{size_text}': {e}"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// Calls `f` every 50 ms until it returns a value; fails after `timeout`, naming `what`.
pub fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {:.1} s waiting for {what}",
            timeout.as_secs_f64()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// A standalone cluster process

/// A `strom standalone` child process, killed on drop.
pub struct Standalone {
    child: std::process::Child,
    pub rest: String,
}

impl Standalone {
    pub fn start(slots: u32) -> Self {
        Self::start_with(slots, &[])
    }

    /// [`Standalone::start`] with more `-D key=value` settings.
    pub fn start_with(slots: u32, settings: &[&str]) -> Self {
        let mut cmd = strom();
        cmd.args([
            "standalone",
            "--slots",
            &slots.to_string(),
            "-D",
            "rest.port=0",
        ]);
        for s in settings {
            cmd.args(["-D", s]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn strom standalone");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the ready line");
        let rest = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no REST address in '{line}'"))
            .trim_end_matches(',')
            .to_string();
        Self { child, rest }
    }

    pub fn job_state(&self, id: &str) -> String {
        self.get_json(&format!("/jobs/{id}"))["state"]
            .as_str()
            .unwrap_or("?")
            .to_string()
    }

    /// GET `path` on the REST API as JSON.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        ureq::get(&format!("{}{path}", self.rest))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .body_mut()
            .read_json()
            .expect("json")
    }

    /// Waits until job `id` reaches `state` (panics after `timeout`).
    pub fn wait_for_state(&self, id: &str, state: &str, timeout: Duration) {
        poll(&format!("job {id} {state}"), timeout, || {
            (self.job_state(id) == state).then_some(())
        })
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
