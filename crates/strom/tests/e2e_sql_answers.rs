//! End-to-end answers of SQL shapes that real queries use, each checked against DuckDB (from PyPI)
//! on the same bids file: columns read only by WHERE, expressions inside aggregates, a global
//! aggregate at parallelism > 1, window joins on the window alone (Nexmark's "hot items") with a
//! residual condition, Flink's DATE_FORMAT, every aggregate function, the JSON functions; in batch and streaming at
//! several parallelisms. Also what must be refused before a job runs, and expressions thousands of
//! terms long (no process may die of them).
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::duckdb::duckdb_rows;
use common::*;
use std::time::Duration;

const SINK_OPEN: &str = "WITH ('connector' = 'filesystem', 'path' = '";

/// Runs the bid source plus `sink` and `insert` (`{out}` in `sink` is the output directory) and
/// returns the sink's rows, sorted.
fn strom_rows(label: &str, sink: &str, insert: &str, mode: &str, p: u32) -> Vec<String> {
    let tmp = TempDir::new("answers");
    let out_dir = tmp.join("out");
    let f = tmp.join("q.sql");
    write_text(
        &f,
        &format!(
            "{}\n{insert}\n",
            sink.replace("{out}", &out_dir.display().to_string())
        ),
    );
    let source = bench_sql("bid_source.sql");
    let out = run(&mut sql_cmd(&[&source, &f], p, mode, &gen_bids()));
    assert_eq!(
        out.code,
        Some(0),
        "{label} {mode} p={p} failed\n{}",
        out.describe()
    );
    read_sink_rows(&out_dir)
}

/// Checks one query in every (mode, parallelism) given, against DuckDB's answer.
fn check(label: &str, sink: &str, insert: &str, duck: &str, runs: &[(&str, u32)]) {
    let want = duckdb_rows(&gen_bids(), duck);
    assert!(!want.is_empty(), "{label}: DuckDB's answer is empty");
    for (mode, p) in runs {
        let got = strom_rows(label, sink, insert, mode, *p);
        assert_same_rows(&format!("{label} {mode} p={p}"), &got, &want);
    }
}

fn sink(cols: &str) -> String {
    format!("CREATE TABLE out_t ({cols}) {SINK_OPEN}{{out}}', 'format' = 'csv');")
}

#[test]
fn columns_read_only_by_where_and_expressions_inside_aggregates() {
    // channel, url and date_time are read only by the WHERE clause
    check(
        "global aggregate of expressions, WHERE-only columns",
        &sink("s BIGINT, c BIGINT, m BIGINT"),
        "INSERT INTO out_t SELECT SUM(price * 2), COUNT(*), MIN(price - bidder) FROM bid \
         WHERE channel = 'Google' AND url LIKE '%a%' AND date_time < TIMESTAMP '2015-07-15 00:01:00';",
        "SELECT SUM(price * 2), COUNT(*), MIN(price - bidder) FROM bid \
         WHERE channel = 'Google' AND url LIKE '%a%' AND date_time < TIMESTAMP '2015-07-15 00:01:00'",
        &[("batch", 1), ("batch", 2), ("batch", 3)],
    );
    check(
        "grouped aggregate of expressions, WHERE-only columns",
        &sink("auction BIGINT, c BIGINT, s BIGINT"),
        "INSERT INTO out_t SELECT auction, COUNT(*), SUM(price + bidder) FROM bid \
         WHERE extra <> '' AND channel <> 'Apple' GROUP BY auction;",
        "SELECT auction, COUNT(*), SUM(price + bidder) FROM bid \
         WHERE extra <> '' AND channel <> 'Apple' GROUP BY auction",
        &[("batch", 1), ("batch", 2)],
    );
    check(
        "window aggregate of expressions, WHERE-only columns",
        &sink("auction BIGINT, s BIGINT, c BIGINT"),
        "INSERT INTO out_t SELECT auction, SUM(price * 2), COUNT(*) \
         FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND)) \
         WHERE channel <> 'Apple' GROUP BY auction, window_start, window_end;",
        "SELECT auction, SUM(price * 2), COUNT(*) FROM bid WHERE channel <> 'Apple' \
         GROUP BY auction, time_bucket(INTERVAL '10 seconds', date_time)",
        &[("streaming", 1), ("streaming", 2), ("batch", 2)],
    );
    // CUMULATE in batch runs in DataFusion's stages (windows as a view); 10 s windows growing
    // by 2 s, with an offset of 1 s
    check(
        "cumulating windows with an offset",
        &sink("auction BIGINT, c BIGINT, s BIGINT"),
        "INSERT INTO out_t SELECT auction, COUNT(*), SUM(price) \
         FROM TABLE(CUMULATE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND, INTERVAL '1' SECOND)) \
         WHERE channel <> 'Apple' GROUP BY auction, window_start, window_end;",
        "SELECT auction, COUNT(*), SUM(price) FROM (SELECT auction, price, date_time, \
         time_bucket(INTERVAL '10 seconds', date_time, INTERVAL '1 second') + k * INTERVAL '2 seconds' AS we, \
         time_bucket(INTERVAL '10 seconds', date_time, INTERVAL '1 second') AS ws \
         FROM bid, range(1, 6) t(k) WHERE channel <> 'Apple') WHERE we > date_time GROUP BY auction, ws, we",
        &[("streaming", 2), ("batch", 1), ("batch", 3)],
    );
}

/// Every aggregate function Strom has (`strom_plan::aggregates`), over numbers and strings, with
/// and without DISTINCT, in one and two phases and in windows. AVG is compared as
/// `FLOOR(AVG(x) * 1000)`: the prices are integers, so both engines' means are the same double.
#[test]
fn every_aggregate_function() {
    let aggs = "COUNT(*), COUNT(bidder), SUM(price), MIN(price), MAX(price), MIN(url), MAX(url), \
                CAST(FLOOR(AVG(price) * 1000) AS BIGINT)";
    let cols = "c BIGINT, cb BIGINT, s BIGINT, mi BIGINT, ma BIGINT, mis STRING, mas STRING, \
                a BIGINT";
    check(
        "grouped, every function",
        &sink(&format!("channel STRING, {cols}")),
        &format!("INSERT INTO out_t SELECT channel, {aggs} FROM bid GROUP BY channel;"),
        &format!("SELECT channel, {aggs} FROM bid GROUP BY channel"),
        &[("batch", 1), ("batch", 2)],
    );
    check(
        "windowed, every function",
        &sink(&format!("auction BIGINT, {cols}")),
        &format!(
            "INSERT INTO out_t SELECT auction, {aggs} \
             FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND)) \
             GROUP BY auction, window_start, window_end;"
        ),
        &format!(
            "SELECT auction, {aggs} FROM bid \
             GROUP BY auction, time_bucket(INTERVAL '10 seconds', date_time)"
        ),
        &[("streaming", 2), ("batch", 2)],
    );
    // the variances, rounded (off a half, so that rounding noise cannot flip a digit)
    let spread = "CAST(ROUND(STDDEV_POP(price) * 1000 + 0.1234) AS BIGINT), \
                  CAST(ROUND(STDDEV_SAMP(price) * 1000 + 0.1234) AS BIGINT), \
                  CAST(ROUND(VAR_POP(price % 100) * 1000 + 0.1234) AS BIGINT), \
                  CAST(ROUND(VAR_SAMP(price % 100) * 1000 + 0.1234) AS BIGINT)";
    let spread_cols = "sp BIGINT, ss BIGINT, vp BIGINT, vs BIGINT";
    check(
        "windowed, variances",
        &sink(&format!("auction BIGINT, {spread_cols}")),
        &format!(
            "INSERT INTO out_t SELECT auction, {spread} \
             FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND)) \
             GROUP BY auction, window_start, window_end;"
        ),
        &format!(
            "SELECT auction, {spread} FROM bid \
             GROUP BY auction, time_bucket(INTERVAL '10 seconds', date_time)"
        ),
        &[("streaming", 1), ("streaming", 2), ("batch", 2)],
    );
    let distinct = "COUNT(DISTINCT bidder), SUM(DISTINCT price), MIN(DISTINCT url), \
                    MAX(DISTINCT price), CAST(FLOOR(AVG(DISTINCT price) * 1000) AS BIGINT)";
    check(
        "grouped, DISTINCT",
        &sink("channel STRING, cb BIGINT, s BIGINT, mis STRING, ma BIGINT, a BIGINT"),
        &format!("INSERT INTO out_t SELECT channel, {distinct} FROM bid GROUP BY channel;"),
        &format!("SELECT channel, {distinct} FROM bid GROUP BY channel"),
        &[("batch", 1), ("batch", 2)],
    );
}

/// DataFusion's other aggregate functions (through their own accumulators, one per group) in
/// streaming windows and in batch: booleans, bits, the median, and two-argument statistics
/// (rounded off a half, so that rounding noise cannot flip a digit; over windows where they are
/// defined, DuckDB's NaN is not a BIGINT).
#[test]
fn datafusions_other_aggregate_functions() {
    // booleans as numbers: Python prints True
    let aggs = "CASE WHEN BOOL_AND(price > 1000) THEN 1 ELSE 0 END, \
                CASE WHEN BOOL_OR(price > 9000000) THEN 1 ELSE 0 END, BIT_AND(bidder), BIT_OR(auction), \
                BIT_XOR(price), CAST(ROUND(MEDIAN(CAST(price AS DOUBLE)) * 10) AS BIGINT), \
                CAST(ROUND(CORR(price, bidder) * 1000000 + 0.1234) AS BIGINT), \
                CAST(ROUND(REGR_SLOPE(price, auction) * 1000 + 0.1234) AS BIGINT), \
                CAST(ROUND(COVAR_POP(price, bidder) + 0.1234) AS BIGINT)";
    let defined = "HAVING VAR_POP(price) > 0 AND VAR_POP(bidder) > 0 AND VAR_POP(auction) > 0";
    let cols = "ba INT, bo INT, band BIGINT, bor BIGINT, bx BIGINT, med BIGINT, \
                co BIGINT, sl BIGINT, cv BIGINT";
    check(
        "windowed, DataFusion's functions",
        &sink(&format!("channel STRING, {cols}")),
        &format!(
            "INSERT INTO out_t SELECT channel, {aggs} \
             FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '1' MINUTE)) \
             GROUP BY channel, window_start, window_end {defined};"
        ),
        &format!(
            "SELECT channel, {aggs} FROM bid \
             GROUP BY channel, time_bucket(INTERVAL '1 minute', date_time) {defined}"
        ),
        &[("streaming", 1), ("streaming", 2), ("batch", 2)],
    );
}

/// Per-auction bid counts per HOP window, and the auctions whose count is the window's maximum:
/// a join on the window alone (no other key) with `num >= maxn` in `cond`.
/// Flink's JSON functions: objects and arrays built by JSON_OBJECT / JSON_ARRAY read back by
/// JSON_VALUE (with RETURNING and ON EMPTY), JSON_QUERY, JSON_EXISTS and IS JSON; JSON_OBJECTAGG and
/// JSON_ARRAYAGG per group. DuckDB answers from the plain columns (the JSON texts' quotes and
/// commas replaced, so that CSV quoting does not matter).
#[test]
fn json_functions_round_trip() {
    check(
        "json scalar functions",
        &sink("auction BIGINT, b BIGINT, c STRING, e STRING, x BIGINT, o BIGINT, q STRING, n STRING, d BIGINT"),
        "INSERT INTO out_t SELECT auction, JSON_VALUE(j, '$.b' RETURNING BIGINT) + 1, \
         JSON_VALUE(j, '$.c'), JSON_VALUE(j, 'lax $.arr[1]'), \
         CASE WHEN JSON_EXISTS(j, '$.x') THEN 1 ELSE 0 END, \
         CASE WHEN j IS JSON OBJECT AND NOT (JSON_QUERY(j, '$.arr') IS NOT JSON ARRAY) THEN 1 ELSE 0 END, \
         REPLACE(JSON_QUERY(j, '$.arr[0:1]'), ',', ';'), JSON_VALUE(j, '$.arr[2]'), \
         JSON_VALUE(j, '$.x' RETURNING BIGINT DEFAULT -1 ON EMPTY NULL ON ERROR) \
         FROM (SELECT auction, JSON_OBJECT(KEY 'b' VALUE bidder, KEY 'c' VALUE channel, \
         KEY 'arr' VALUE JSON_ARRAY(price, extra, NULL NULL ON NULL), \
         KEY 'x' VALUE NULLIF(price % 3, 0) ABSENT ON NULL) AS j FROM bid WHERE auction % 10 = 0);",
        "SELECT auction, bidder + 1, channel, extra, CASE WHEN price % 3 <> 0 THEN 1 ELSE 0 END, 1, \
         '[' || price || ']', NULL, CASE WHEN price % 3 <> 0 THEN price % 3 ELSE -1 END \
         FROM bid WHERE auction % 10 = 0",
        &[("batch", 1), ("batch", 2), ("streaming", 2)],
    );
    let per_group = |inner: &str| {
        format!(
            "SELECT channel, REPLACE(REPLACE(JSON_OBJECTAGG(KEY CAST(auction AS STRING) VALUE n), '\"', ''), ',', ';'), \
             CHAR_LENGTH(JSON_ARRAYAGG(n)) FROM ({inner}) GROUP BY channel"
        )
    };
    let inner = "SELECT channel, auction, COUNT(*) AS n FROM bid WHERE auction % 50 = 0 GROUP BY channel, auction";
    check(
        "json aggregates",
        &sink("channel STRING, o STRING, l BIGINT"),
        &format!("INSERT INTO out_t {};", per_group(inner)),
        &format!(
            "SELECT channel, '{{' || string_agg(CAST(auction AS VARCHAR) || ':' || n, ';' \
             ORDER BY CAST(auction AS VARCHAR)) || '}}', SUM(length(CAST(n AS VARCHAR))) + COUNT(*) + 1 \
             FROM ({inner}) GROUP BY channel"
        ),
        &[("batch", 1), ("batch", 2)],
    );
}

fn hot_items(cond_in_on: bool) -> String {
    let counts = "SELECT auction, COUNT(*) AS num, window_start, window_end \
         FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND)) \
         GROUP BY auction, window_start, window_end";
    let (on, wh) = if cond_in_on {
        (" AND a.num >= b.maxn", "")
    } else {
        ("", " WHERE a.num >= b.maxn")
    };
    format!(
        "INSERT INTO out_t SELECT a.auction, a.num, b.maxn FROM ({counts}) a JOIN \
         (SELECT MAX(num) AS maxn, window_start, window_end FROM ({counts}) GROUP BY window_start, window_end) b \
         ON a.window_start = b.window_start AND a.window_end = b.window_end{on}{wh};"
    )
}

#[test]
fn hot_items_window_join_on_the_window_alone() {
    let duck = "WITH w AS (SELECT auction, time_bucket(INTERVAL '2 seconds', date_time) - k * INTERVAL '2 seconds' AS ws \
                FROM bid, range(0, 5) t(k)), \
         c AS (SELECT auction, ws, COUNT(*) AS num FROM w GROUP BY auction, ws), \
         m AS (SELECT ws, MAX(num) AS maxn FROM c GROUP BY ws) \
         SELECT c.auction, c.num, m.maxn FROM c JOIN m ON c.ws = m.ws AND c.num >= m.maxn";
    let runs = [
        ("batch", 1),
        ("batch", 2),
        ("streaming", 1),
        ("streaming", 2),
    ];
    check(
        "hot items, condition in ON",
        &sink("auction BIGINT, num BIGINT, maxn BIGINT"),
        &hot_items(true),
        duck,
        &runs,
    );
    check(
        "hot items, condition in WHERE",
        &sink("auction BIGINT, num BIGINT, maxn BIGINT"),
        &hot_items(false),
        duck,
        &runs,
    );
}

#[test]
fn flink_date_format_patterns() {
    check(
        "DATE_FORMAT",
        &sink("minute STRING, c BIGINT"),
        "INSERT INTO out_t SELECT DATE_FORMAT(date_time, 'yyyy-MM-dd HH:mm'), COUNT(*) FROM bid \
         GROUP BY DATE_FORMAT(date_time, 'yyyy-MM-dd HH:mm');",
        "SELECT strftime(date_time, '%Y-%m-%d %H:%M'), COUNT(*) FROM bid GROUP BY 1",
        &[("batch", 1), ("batch", 2)],
    );
}

#[test]
fn long_expressions_run_and_deeper_ones_are_refused_without_a_crash() {
    let terms = |n: usize, t: &str, op: &str| vec![t; n].join(op);
    // long chains run, with the right answer (planning is quadratic in DataFusion's type
    // coercion: 10,000 terms take seconds in a release build, a minute in this debug one)
    for n in [1_000usize, 2_500] {
        check(
            &format!("{n}-term sum"),
            &sink("s BIGINT"),
            &format!(
                "INSERT INTO out_t SELECT SUM({}) FROM bid WHERE {};",
                terms(n, "price", " + "),
                terms(n, "price > 0", " AND ")
            ),
            &format!("SELECT SUM(price) * {n} FROM bid WHERE price > 0"),
            &[("batch", 2)],
        );
    }
    // deeper than the limit: a clear SQL error at planning, exit code 2 (not an abort)
    let tmp = TempDir::new("deep");
    let f = tmp.join("q.sql");
    write_text(
        &f,
        &format!(
            "{}\nINSERT INTO out_t SELECT {} FROM bid;\n",
            sink("s BIGINT").replace("{out}", &tmp.join("out").display().to_string()),
            terms(30_000, "price", " + ")
        ),
    );
    let source = bench_sql("bid_source.sql");
    let out = run(&mut sql_cmd(&[&source, &f], 1, "batch", &gen_bids()));
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(
        out.stderr.contains("nested too deeply"),
        "{}",
        out.describe()
    );
}

/// Runs the bid source plus `sql`; returns the command's output.
fn run_sql(sql: &str, mode: &str, p: &str) -> Output {
    let tmp = TempDir::new("refused");
    let f = tmp.join("q.sql");
    write_text(
        &f,
        &sql.replace("{out}", &tmp.join("out").display().to_string()),
    );
    let source = bench_sql("bid_source.sql");
    let mut cmd = strom();
    cmd.arg("sql")
        .arg("-f")
        .arg(&source)
        .arg("-f")
        .arg(&f)
        .arg("-p")
        .arg(p)
        .arg("-D")
        .arg(format!("execution.runtime-mode={mode}"))
        .env("BID_PATH", gen_bids());
    run_with_timeout(&mut cmd, Duration::from_secs(60))
}

fn assert_refused(out: &Output, what: &str, needles: &[&str]) {
    assert!(
        matches!(out.code, Some(1) | Some(2)),
        "{what}: expected a refusal (exit 1 or 2)\n{}",
        out.describe()
    );
    for n in needles {
        assert!(
            out.stderr.contains(n),
            "{what}: stderr does not mention '{n}'\n{}",
            out.describe()
        );
    }
    assert!(
        !out.stdout.contains("Job has been submitted"),
        "{what}: a job was submitted\n{}",
        out.describe()
    );
}

#[test]
fn bad_input_is_refused_before_the_job_runs() {
    let out = run_sql(
        "CREATE TABLE t (a BIGINT) WITH ('connector' = 'blackhole');\nINSERT INTO t SELECT channel FROM bid;",
        "streaming",
        "1",
    );
    assert_refused(
        &out,
        "STRING into BIGINT",
        &[
            "default_database.t'",
            "'a'",
            "BIGINT",
            "STRING",
            "'channel'",
        ],
    );

    let out = run_sql(
        "CREATE TABLE t (a DECIMAL(101, 2)) WITH ('connector' = 'blackhole');\nINSERT INTO t SELECT price FROM bid;",
        "streaming",
        "1",
    );
    assert_refused(
        &out,
        "DECIMAL(101, 2)",
        &["Decimal precision must be between 1 and 38"],
    );

    let out = run_sql(
        "CREATE TABLE t (a BIGINT) WITH ('connector' = 'blackhole');\nINSERT INTO t SELECT price FROM bid;",
        "streaming",
        "0",
    );
    assert!(
        out.code != Some(0) && out.stderr.contains('0'),
        "-p 0\n{}",
        out.describe()
    );

    let out = run_sql(
        "CREATE TABLE t (a BIGINT) WITH ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv', 'sink.rolling-policy.nope' = '1');\nINSERT INTO t SELECT price FROM bid;",
        "batch",
        "1",
    );
    assert_refused(
        &out,
        "unknown filesystem option",
        &["sink.rolling-policy.nope"],
    );

    let out = run_sql(
        "CREATE TABLE g (a BIGINT) WITH ('connector' = 'datagen');\nCREATE TABLE t (a BIGINT) WITH ('connector' = 'blackhole');\nINSERT INTO t SELECT a FROM g;",
        "batch",
        "1",
    );
    assert_refused(
        &out,
        "unbounded source in batch mode",
        &["unbounded", "default_database.g'"],
    );

    let out = run_sql(
        "SET 'pipeline.max-parallelism' = '1000000000';\nCREATE TABLE t (a BIGINT) WITH ('connector' = 'blackhole');\nINSERT INTO t SELECT price FROM bid;",
        "batch",
        "1",
    );
    assert_refused(&out, "max parallelism", &["32768"]);
}

#[test]
fn an_over_long_csv_line_fails_the_job_with_its_file() {
    let tmp = TempDir::new("longline");
    let data = tmp.join("bids.csv");
    let mut text = String::from("1,2,3,c,u,2015-07-15 00:00:00.000,x\n");
    text.push_str(&format!(
        "1,2,3,c,u,2015-07-15 00:00:00.000,{}\n",
        "y".repeat(3 << 20)
    ));
    write_text(&data, &text);
    let f = tmp.join("q.sql");
    write_text(
        &f,
        "CREATE TABLE b (auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING, date_time TIMESTAMP(3), extra STRING) \
         WITH ('connector' = 'filesystem', 'path' = '${BID_PATH}', 'format' = 'csv', 'source.line.max-length' = '1mb');\n\
         CREATE TABLE t (a BIGINT) WITH ('connector' = 'blackhole');\nINSERT INTO t SELECT price FROM b;\n",
    );
    let mut cmd = strom();
    cmd.arg("sql")
        .arg("-f")
        .arg(&f)
        .arg("-D")
        .arg("execution.runtime-mode=batch")
        // the same line fails every attempt: the job fails at once instead of restarting (100
        // restarts 10 s apart would outlast the timeout)
        .args(["-D", "restart-strategy.type=fixed-delay"])
        .args(["-D", "restart-strategy.fixed-delay.attempts=100"])
        .args(["-D", "restart-strategy.fixed-delay.delay=10 s"])
        .env("BID_PATH", &data);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert_ne!(out.code, Some(0), "{}", out.describe());
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("source.line.max-length") && all.contains(&data.display().to_string()),
        "{}",
        out.describe()
    );
}

/// Flink's collection constructors and access (`ARRAY[...]`, `a[i]`, CARDINALITY, `MAP(keys,
/// values)`, `MAP[k1, v1, ...]`) into the JSON format, whose arrays and maps are JSON arrays and objects (as Flink's
/// JSON format writes them), against DuckDB's `to_json` of the same values.
#[test]
fn collections_into_json() {
    let sink = format!(
        "CREATE TABLE out_t (auction BIGINT, a ARRAY<BIGINT>, second BIGINT, n INT, \
         m MAP<STRING, BIGINT>, f MAP<STRING, BIGINT>) {SINK_OPEN}{{out}}', 'format' = 'json');"
    );
    check(
        "collections-json",
        &sink,
        "INSERT INTO out_t SELECT auction, ARRAY[price, bidder], ARRAY[price, bidder][2], \
         CARDINALITY(ARRAY[price, bidder, auction]), MAP(ARRAY[channel], ARRAY[price]), \
         MAP['p', price, 'b', bidder] FROM bid WHERE auction % 100 = 7;",
        "SELECT to_json({'auction': auction, 'a': [price, bidder], 'second': bidder, 'n': 3, \
         'm': map([channel], [price]), 'f': map(['p', 'b'], [price, bidder])}) \
         FROM bid WHERE auction % 100 = 7",
        &[("streaming", 1), ("streaming", 2), ("batch", 2)],
    );
}

/// A ROW goes into a ROW column by position, as Flink inserts it, whatever the field names (a
/// nested ROW too); DuckDB builds the same objects by name.
#[test]
fn rows_into_rows_by_position() {
    let sink = format!(
        "CREATE TABLE out_t (auction BIGINT, r ROW<x BIGINT, inner ROW<c STRING, d BIGINT>>) \
         {SINK_OPEN}{{out}}', 'format' = 'json');"
    );
    check(
        "rows-by-position",
        &sink,
        "INSERT INTO out_t SELECT auction, ROW(price, ROW(channel, bidder)) FROM bid \
         WHERE auction % 100 = 7;",
        "SELECT to_json({'auction': auction, 'r': {'x': price, 'inner': {'c': channel, 'd': bidder}}}) \
         FROM bid WHERE auction % 100 = 7",
        &[("streaming", 1), ("batch", 2)],
    );
}
