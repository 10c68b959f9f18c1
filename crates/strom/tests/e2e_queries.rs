//! End-to-end tests of `strom sql`: the benchmark queries (shared/bench/sql) on the embedded
//! cluster, streaming and batch, parallelism 1 and 2, with the blackhole sink swapped for a CSV
//! filesystem sink; answers are checked against an independent reference (tests/common). Also
//! the error paths: bad SQL, unknown names, unknown connector, missing and malformed input.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MODES: [&str; 2] = ["streaming", "batch"];
const PARALLELISMS: [u32; 2] = [1, 2];

/// `strom sql -f <files>... -p P -D execution.runtime-mode=MODE` with BID_PATH set.
/// Runs one benchmark query with a file sink and checks rows and the final line.
fn check_query(query: &str, mode: &str, p: u32, source: &Path) {
    let expected = expected_for(query);
    let tmp = TempDir::new(&format!("{query}-{mode}-p{p}"));
    let out_dir = tmp.join("out");
    let sink_sql = tmp.join(&format!("{query}.sql"));
    write_text(&sink_sql, &query_with_file_sink(query, &out_dir));
    let out = run(&mut sql_cmd(&[source, &sink_sql], p, mode, &gen_bids()));
    out.assert_success();
    let id = out.job_id();
    let (read, wrote) = out.finished_line(&id);
    let rows = read_sink_rows(&out_dir);
    assert_same_rows(&format!("{query} {mode} p={p}"), &rows, expected);
    assert_eq!(
        read,
        BID_ROWS,
        "{query} {mode} p={p}: the FINISHED line reports {read} rows read\n{}",
        out.describe()
    );
    assert_eq!(
        wrote,
        expected.len() as u64,
        "{query} {mode} p={p}: the FINISHED line reports {wrote} rows written, the sink files hold {}\n{}",
        expected.len(),
        out.describe()
    );
}

/// Runs every mode x parallelism of a query; reports all failing combinations together.
fn check_all(query: &str) {
    let source = bench_sql("bid_source.sql");
    // Build the reference (and the bids file) outside the per-case panics.
    let n = expected_for(query).len();
    assert!(n > 0, "empty reference for {query}");
    let mut failures = Vec::new();
    for mode in MODES {
        for p in PARALLELISMS {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                check_query(query, mode, p, &source)
            }));
            if let Err(e) = r {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                failures.push(format!("==== {query} {mode} p={p}:\n{msg}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 4 runs of {query} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn q0_passthrough() {
    check_all("q0");
}

#[test]
fn q1_currency_conversion() {
    check_all("q1");
}

#[test]
fn q2_selection() {
    check_all("q2");
}

#[test]
fn q5_tumbling_count_per_auction() {
    check_all("q5");
}

#[test]
fn q7_tumbling_max_price() {
    check_all("q7");
}

/// The reference's building blocks against hand-computed values (no binary involved).
#[test]
fn reference_self_check() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2024, 1, 1), 19_723);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    assert_eq!(parse_ts("2024-01-01 00:00:00.000"), 1_704_067_200_000);
    assert_eq!(parse_ts("2024-02-29 23:59:59.999"), 1_709_251_199_999);
    assert_eq!(fmt_ts(1_709_251_199_999), "2024-02-29 23:59:59.999");
    assert_eq!(fmt_ts(1_704_067_210_000), "2024-01-01 00:00:10.000");
    assert_eq!(try_parse_ts("2024-01-01 00:00:00"), None);
    assert_eq!(q1_price(100), "90.800");
    assert_eq!(q1_price(1), "0.908");
    assert_eq!(q1_price(10_000_099), "9080089.892");
    let text = "1230,5,100,Google,u,2024-01-01 00:00:09.999,x\n\
                1230,6,300,Apple,u,2024-01-01 00:00:10.000,y\n\
                7,8,200,Baidu,u,2024-01-01 00:00:10.001,z\n\
                1,2,abc,Google,u,2024-01-01 00:00:00.000,x\n";
    let b = parse_bids_text(text, true);
    assert_eq!(b.len(), 3);
    assert_eq!(
        expected("q0", &b),
        vec![
            "1230,5,100,2024-01-01 00:00:09.999,x",
            "1230,6,300,2024-01-01 00:00:10.000,y",
            "7,8,200,2024-01-01 00:00:10.001,z"
        ]
    );
    assert_eq!(
        expected("q1", &b)[0],
        "1230,5,90.800,2024-01-01 00:00:09.999,x"
    );
    assert_eq!(expected("q2", &b), vec!["1230,100", "1230,300"]);
    assert_eq!(
        expected("q5", &b),
        vec![
            "1230,2024-01-01 00:00:00.000,2024-01-01 00:00:10.000,1",
            "1230,2024-01-01 00:00:10.000,2024-01-01 00:00:20.000,1",
            "7,2024-01-01 00:00:10.000,2024-01-01 00:00:20.000,1"
        ]
    );
    assert_eq!(
        expected("q7", &b),
        vec![
            "2024-01-01 00:00:00.000,2024-01-01 00:00:10.000,100",
            "2024-01-01 00:00:10.000,2024-01-01 00:00:20.000,300"
        ]
    );
}

const DATAGEN_BID: &str = "CREATE TABLE bid (
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
  'number-of-rows' = '200000'
);
";

/// The datagen bids source gives the same answers as the generated file (q5 both modes, and q0,
/// which checks every written column row by row).
#[test]
fn datagen_bids_source_matches_file() {
    assert_eq!(BID_ROWS, 200_000, "DATAGEN_BID hardcodes 200000 rows");
    let tmp = TempDir::new("datagen");
    let source = tmp.join("datagen_source.sql");
    write_text(&source, DATAGEN_BID);
    for (query, mode, p) in [
        ("q5", "streaming", 2),
        ("q5", "batch", 1),
        ("q0", "batch", 2),
    ] {
        let expected = expected_for(query);
        let out_dir = tmp.join(&format!("out-{query}-{mode}-{p}"));
        let sink_sql = tmp.join(&format!("{query}-{mode}-{p}.sql"));
        write_text(&sink_sql, &query_with_file_sink(query, &out_dir));
        // BID_PATH is not used by the datagen source; set it anyway (harmless).
        let out = run(&mut sql_cmd(&[&source, &sink_sql], p, mode, &gen_bids()));
        out.assert_success();
        let id = out.job_id();
        let (read, _) = out.finished_line(&id);
        let rows = read_sink_rows(&out_dir);
        assert_same_rows(
            &format!("{query} from datagen, {mode} p={p}"),
            &rows,
            expected,
        );
        assert_eq!(
            read,
            BID_ROWS,
            "{query} from datagen: the FINISHED line reports {read} rows read\n{}",
            out.describe()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input: each must end quickly with a clear message and the documented exit code.

const BAD_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the bid source plus `query_sql` (BID_PATH = the generated file), p=1, streaming.
fn run_with_source(query_sql: &str, bid_path: &Path) -> Output {
    let tmp = TempDir::new("bad");
    let f = tmp.join("query.sql");
    write_text(&f, query_sql);
    let source = bench_sql("bid_source.sql");
    run_with_timeout(
        &mut sql_cmd(&[&source, &f], 1, "streaming", bid_path),
        BAD_TIMEOUT,
    )
}

fn assert_exit(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.code,
        Some(code),
        "{what}: expected exit code {code}\n{}",
        out.describe()
    );
}

fn assert_stderr_has(out: &Output, needle: &str, what: &str) {
    assert!(
        out.stderr.to_lowercase().contains(&needle.to_lowercase()),
        "{what}: stderr does not mention '{needle}'\n{}",
        out.describe()
    );
}

#[test]
fn bad_sql_syntax_is_reported_with_its_line() {
    let tmp = TempDir::new("syntax");
    let f = tmp.join("typo.sql");
    write_text(&f, "-- a typo on line 3\nCREATE TABLE s (a BIGINT) WITH ('connector' = 'blackhole');\nSELEC a FROM s;\n");
    let out = run_with_timeout(strom().arg("sql").arg("-f").arg(&f), BAD_TIMEOUT);
    assert_exit(&out, 2, "SELEC typo");
    assert_stderr_has(&out, "SQL error", "SELEC typo");
    assert_stderr_has(&out, "line", "SELEC typo");
    assert_stderr_has(&out, "line 3", "SELEC typo (the typo is on line 3)");
    assert!(
        !out.stdout.contains("Job has been submitted"),
        "no job may be submitted\n{}",
        out.describe()
    );
}

const SINK_A: &str = "CREATE TABLE s (a BIGINT) WITH ('connector' = 'blackhole');\n";

#[test]
fn unknown_table_is_a_sql_error() {
    let out = run_with_source(
        &format!("{SINK_A}INSERT INTO s SELECT auction FROM nosuch_table;\n"),
        &gen_bids(),
    );
    assert_exit(&out, 2, "unknown table");
    assert_stderr_has(&out, "SQL error", "unknown table");
    assert_stderr_has(&out, "nosuch_table", "unknown table");
}

#[test]
fn unknown_column_is_a_sql_error() {
    let out = run_with_source(
        &format!("{SINK_A}INSERT INTO s SELECT nosuch_column FROM bid;\n"),
        &gen_bids(),
    );
    assert_exit(&out, 2, "unknown column");
    assert_stderr_has(&out, "SQL error", "unknown column");
    assert_stderr_has(&out, "nosuch_column", "unknown column");
}

#[test]
fn unknown_function_is_a_sql_error() {
    let out = run_with_source(
        &format!("{SINK_A}INSERT INTO s SELECT NOSUCH_FUNC(price) FROM bid;\n"),
        &gen_bids(),
    );
    assert_exit(&out, 2, "unknown function");
    assert_stderr_has(&out, "SQL error", "unknown function");
    assert_stderr_has(&out, "nosuch_func", "unknown function");
}

#[test]
fn unknown_connector_is_rejected() {
    let out = run_with_source(
        "CREATE TABLE s (a BIGINT) WITH ('connector' = 'nosuchconn');\nINSERT INTO s SELECT auction FROM bid;\n",
        &gen_bids(),
    );
    assert_exit(&out, 1, "unknown connector");
    assert_stderr_has(&out, "The job was rejected", "unknown connector");
    assert_stderr_has(&out, "nosuchconn", "unknown connector");
}

#[test]
fn missing_input_file_is_named() {
    let tmp = TempDir::new("missing");
    let out_dir = tmp.join("out");
    let q = query_with_file_sink("q0", &out_dir);
    let out = run_with_source(&q, Path::new("/nonexistent.csv"));
    assert!(
        out.code.is_some() && out.code != Some(0),
        "a missing input file must fail the command\n{}",
        out.describe()
    );
    assert_stderr_has(&out, "/nonexistent.csv", "missing input file");
}

const GOOD_1: &str = "1230,2001,500,Google,https://www.nexmark.com/1/item.htm?query=1&channel_id=0,2024-01-01 00:00:00.000,abcdefgh";
const GOOD_2: &str = "1001,2002,700,Apple,https://www.nexmark.com/2/item.htm?query=1&channel_id=3,2024-01-01 00:00:00.001,ijklmnop";
const BAD_ROW: &str = "1,2,abc,Google,u,2024-01-01 00:00:00.000,x";
const GOOD_3: &str = "1002,2003,900,Baidu,https://www.nexmark.com/3/item.htm?query=1&channel_id=2,2024-01-01 00:00:10.002,qrstuvwx";

fn malformed_file(tmp: &TempDir) -> (PathBuf, String) {
    let text = format!("{GOOD_1}\n{GOOD_2}\n{BAD_ROW}\n{GOOD_3}\n");
    let p = tmp.join("malformed.csv");
    write_text(&p, &text);
    (p, text)
}

#[test]
fn malformed_csv_row_fails_with_file_line_and_column() {
    let tmp = TempDir::new("malformed");
    let (csv, _) = malformed_file(&tmp);
    let out_dir = tmp.join("out");
    let out = run_with_source(&query_with_file_sink("q0", &out_dir), &csv);
    assert!(
        out.code.is_some() && out.code != Some(0),
        "a malformed row must fail the job\n{}",
        out.describe()
    );
    assert_stderr_has(
        &out,
        &csv.display().to_string(),
        "malformed row (file path)",
    );
    assert_stderr_has(&out, "line", "malformed row");
    assert_stderr_has(&out, "line 3", "malformed row (it is line 3 of the file)");
    assert_stderr_has(&out, "price", "malformed row (the column)");
}

#[test]
fn malformed_csv_row_is_skipped_with_ignore_parse_errors() {
    let tmp = TempDir::new("ignore");
    let (csv, text) = malformed_file(&tmp);
    let source_text = read_text(&bench_sql("bid_source.sql"));
    let needle = "'format' = 'csv'";
    assert_eq!(
        source_text.matches(needle).count(),
        1,
        "bid_source.sql must have one {needle}"
    );
    let source = tmp.join("source_ignore.sql");
    write_text(
        &source,
        &source_text.replace(
            needle,
            "'format' = 'csv',\n  'csv.ignore-parse-errors' = 'true'",
        ),
    );
    let out_dir = tmp.join("out");
    let sink = tmp.join("q0.sql");
    write_text(&sink, &query_with_file_sink("q0", &out_dir));
    for mode in MODES {
        let out = run_with_timeout(&mut sql_cmd(&[&source, &sink], 1, mode, &csv), BAD_TIMEOUT);
        out.assert_success();
        let id = out.job_id();
        out.finished_line(&id);
        let expected = expected("q0", &parse_bids_text(&text, true));
        assert_eq!(expected.len(), 3);
        assert_same_rows(
            &format!("ignore-parse-errors, {mode}"),
            &read_sink_rows(&out_dir),
            &expected,
        );
    }
}

/// Runs `query` (a sink table writing to `{out}` and its INSERT, after bid_source.sql) in
/// streaming at p=1 and p=2 and in batch at p=2, comparing the sink's rows with `expected`.
fn check_in_modes(tag: &str, query: &str, expected: &[String]) {
    let tmp = TempDir::new(tag);
    for (mode, p) in [("streaming", 1), ("streaming", 2), ("batch", 2)] {
        let out_dir = tmp.join(&format!("out-{mode}-{p}"));
        let q = tmp.join(&format!("{tag}-{mode}-{p}.sql"));
        write_text(&q, &query.replace("{out}", &out_dir.display().to_string()));
        let out = run(&mut sql_cmd(
            &[&bench_sql("bid_source.sql"), &q],
            p,
            mode,
            &gen_bids(),
        ));
        out.assert_success();
        assert_same_rows(
            &format!("{tag} {mode} p={p}"),
            &read_sink_rows(&out_dir),
            expected,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// DISTINCT aggregates

#[test]
fn count_distinct_per_window() {
    // per 10 s window: distinct bidders, distinct prices summed, all bids; computed here from the
    // parsed CSV rows
    let mut m: std::collections::BTreeMap<i64, (HashSet<i64>, HashSet<i64>, u64)> =
        Default::default();
    for b in bids() {
        let e = m.entry(b.ts.div_euclid(10_000) * 10_000).or_default();
        e.0.insert(b.bidder);
        e.1.insert(b.price);
        e.2 += 1;
    }
    let mut expected: Vec<String> = m
        .into_iter()
        .map(|(w, (bidders, prices, n))| {
            format!(
                "{},{},{},{n}",
                fmt_ts(w),
                bidders.len(),
                prices.iter().sum::<i64>()
            )
        })
        .collect();
    expected.sort();
    check_in_modes(
        "distinct",
        "CREATE TABLE out_d (w TIMESTAMP(3), bidders BIGINT, prices BIGINT, n BIGINT)
WITH ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv');
INSERT INTO out_d
SELECT window_start, COUNT(DISTINCT bidder), SUM(DISTINCT price), COUNT(*)
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end;",
        &expected,
    );
}

// ---------------------------------------------------------------------------------------------
// SESSION windows

#[test]
fn session_windows_per_bidder() {
    // sessions of each bidder with a 2 s gap: a bid joins the session when it is at most 2 s
    // after the session's last bid (windows [t, t + 2 s) that touch merge, as in Flink);
    // computed here from the parsed CSV rows
    let gap = 2_000;
    let mut by_bidder: std::collections::BTreeMap<i64, Vec<&Bid>> = Default::default();
    for b in bids() {
        by_bidder.entry(b.bidder).or_default().push(b);
    }
    let mut expected = Vec::new();
    for (bidder, mut rows) in by_bidder {
        rows.sort_by_key(|b| b.ts);
        let mut i = 0;
        while i < rows.len() {
            let start = rows[i].ts;
            let mut end = start + gap;
            let mut j = i;
            while j + 1 < rows.len() && rows[j + 1].ts <= end {
                j += 1;
                end = end.max(rows[j].ts + gap);
            }
            let session = &rows[i..=j];
            let auctions: HashSet<i64> = session.iter().map(|b| b.auction).collect();
            expected.push(format!(
                "{bidder},{},{},{},{},{}",
                fmt_ts(start),
                fmt_ts(end),
                session.len(),
                session.iter().map(|b| b.price).sum::<i64>(),
                auctions.len()
            ));
            i = j + 1;
        }
    }
    expected.sort();
    check_in_modes(
        "session",
        "CREATE TABLE out_s (bidder BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3),
  num BIGINT, total BIGINT, auctions BIGINT)
WITH ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv');
INSERT INTO out_s
SELECT bidder, window_start, window_end, COUNT(*), SUM(price), COUNT(DISTINCT auction)
FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(date_time), INTERVAL '2' SECOND))
GROUP BY bidder, window_start, window_end;",
        &expected,
    );
}

#[test]
fn session_windows_must_group_by_the_partition_keys() {
    let tmp = TempDir::new("session-bad");
    let q = tmp.join("bad.sql");
    write_text(
        &q,
        "SELECT auction, window_start, window_end, COUNT(*)
FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(date_time), INTERVAL '2' SECOND))
GROUP BY auction, window_start, window_end;",
    );
    let out = run(&mut sql_cmd(
        &[&bench_sql("bid_source.sql"), &q],
        1,
        "streaming",
        &gen_bids(),
    ));
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr
            .contains("must GROUP BY the PARTITION BY columns of the window (bidder)"),
        "{}",
        out.describe()
    );
}

// ---------------------------------------------------------------------------------------------
// Flink's text of values

#[test]
fn casts_to_string_give_flinks_text() {
    // the expected text is what Flink 2.3.0 printed for the same expressions (PyFlink, batch)
    let tmp = TempDir::new("cast-string");
    let one = tmp.join("one.csv");
    write_text(&one, "a\n");
    let sql = tmp.join("q.sql");
    write_text(
        &sql,
        &format!(
            "CREATE TABLE one (k STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
SELECT CAST(TIMESTAMP '2024-01-02 03:04:05' AS STRING) AS a,
  CAST(CAST(TIMESTAMP '2024-01-02 03:04:05' AS TIMESTAMP(3)) AS STRING) AS b,
  CAST(CAST('2024-01-02 03:04:05.678' AS TIMESTAMP(3)) AS STRING) AS c,
  CAST(TRUE AS STRING) AS d, CAST(CAST(1 AS DOUBLE) AS VARCHAR) AS e,
  CAST(CAST(0.00001 AS DOUBLE) AS STRING) AS f, CAST(CAST(1.5 AS FLOAT) AS STRING) AS g,
  CAST(DATE '2024-01-02' AS STRING) AS h, CAST(CAST(12.50 AS DECIMAL(10, 2)) AS STRING) AS i
FROM one;",
            one.display()
        ),
    );
    let out = run(strom().args(["sql", "-f", sql.to_str().unwrap()]));
    out.assert_success();
    let rows: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.trim_start_matches("\u{1b}[K").trim())
        .filter(|l| l.starts_with("+I["))
        .collect();
    assert_eq!(
        rows,
        ["+I[2024-01-02 03:04:05, 2024-01-02 03:04:05.000, 2024-01-02 03:04:05.678, TRUE, 1.0, 1.0E-5, 1.5, 2024-01-02, 12.50]"],
        "{}",
        out.describe()
    );
}

// ---------------------------------------------------------------------------------------------
// VALUES and SELECT without FROM

#[test]
fn values_rows_feed_inserts_and_queries_in_both_modes() {
    let tmp = TempDir::new("values");
    // written by hand: the rows, then per key the count and the sum of the non-null values
    let rows =
        "('a', 1), ('b', 2), ('a', CAST(NULL AS INT)), ('a', -3), ('c', 40), ('b', 5), ('d', 0)";
    let mut want_rows: Vec<String> = ["a,1", "b,2", "a,", "a,-3", "c,40", "b,5", "d,0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    want_rows.sort();
    let want_totals: Vec<String> = ["a,3,-2", "b,2,7", "c,1,40", "d,1,0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (mode, p) in [("streaming", 1), ("streaming", 3), ("batch", 2)] {
        let rows_dir = tmp.join(&format!("rows-{mode}-{p}"));
        let q = tmp.join(&format!("q-{mode}-{p}.sql"));
        write_text(
            &q,
            &format!(
                "SET 'execution.runtime-mode' = '{mode}';
CREATE TABLE r (k STRING, v INT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
CREATE TABLE s (k STRING, n BIGINT, s BIGINT, PRIMARY KEY (k) NOT ENFORCED) WITH ('connector' = 'print');
INSERT INTO r VALUES {rows};
INSERT INTO s SELECT k, COUNT(*), SUM(v) FROM (VALUES {rows}) AS t(k, v) GROUP BY k;
SELECT 6 * 7 AS answer, UPPER('x') AS up;",
                rows_dir.display()
            ),
        );
        let out = run(strom().args(["sql", "-f", q.to_str().unwrap(), "-p", &p.to_string()]));
        out.assert_success();
        let label = format!("{mode} p={p}");
        assert_same_rows(
            &format!("VALUES rows, {label}"),
            &read_sink_rows(&rows_dir),
            &want_rows,
        );
        // the print sink's changelog, applied: the final row per key
        let mut totals: std::collections::BTreeMap<String, String> = Default::default();
        for l in out.stdout.lines() {
            let l = l.trim_start_matches("\u{1b}[K").trim();
            let l = l.split_once("> ").map_or(l, |(_, r)| r);
            let Some((kind, row)) = l.split_once('[') else {
                continue;
            };
            let row = row.trim_end_matches(']').replace(", ", ",");
            let key = row.split(',').next().unwrap_or("").to_string();
            match kind {
                "+I" | "+U" if row.split(',').count() == 3 => {
                    totals.insert(key, row);
                }
                "-U" | "-D" => {
                    totals.remove(&key);
                }
                _ => {}
            }
        }
        let totals: Vec<String> = totals.into_values().collect();
        assert_eq!(totals, want_totals, "{label}\n{}", out.describe());
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(
            all.contains("+I[42, X]")
                || all.lines().any(|l| {
                    let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                    cells.len() == 4 && cells[1] == "42" && cells[2] == "X"
                }),
            "{label}: SELECT without FROM\n{}",
            out.describe()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// EXPLAIN

#[test]
fn explain_prints_the_plan_and_runs_nothing() {
    let tmp = TempDir::new("explain");
    let out_dir = tmp.join("out");
    let sql = tmp.join("q.sql");
    write_text(
        &sql,
        &format!(
            "CREATE TABLE o (k STRING, n BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
EXPLAIN PLAN FOR INSERT INTO o SELECT k, COUNT(*) FROM (VALUES ('a'), ('b'), ('a')) AS t(k) GROUP BY k;
EXPLAIN CHANGELOG_MODE, ESTIMATED_COST SELECT UPPER('x') AS u;",
            out_dir.display()
        ),
    );
    let out = run(strom().args(["sql", "-f", sql.to_str().unwrap(), "-p", "2"]));
    out.assert_success();
    let plans = out.stdout.matches("== Physical Execution Plan ==").count();
    assert_eq!(plans, 2, "{}", out.describe());
    // the aggregate reads its input through a hash exchange on the key, at parallelism 2
    assert!(
        out.stdout.contains("parallelism=2")
            && out.stdout.contains("<- [")
            && out.stdout.contains("HASH"),
        "{}",
        out.describe()
    );
    assert!(!out.stdout.contains("submitted"), "{}", out.describe());
    assert!(!out_dir.exists(), "EXPLAIN ran the INSERT");
    // EXPLAIN of anything else is a SQL error
    write_text(&sql, "EXPLAIN SET 'a' = 'b';");
    let out = run(strom().args(["sql", "-f", sql.to_str().unwrap()]));
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(
        out.stderr.contains("EXPLAIN takes a SELECT"),
        "{}",
        out.describe()
    );
}
