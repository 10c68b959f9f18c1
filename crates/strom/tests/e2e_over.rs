//! OVER windows end to end, over the `nexmark` source: aggregation with ROWS and RANGE frames,
//! bounded and unbounded, partitioned and global, with expressions as arguments, on event time
//! (the rows wait for the watermark) and on processing time; and rankings (Top-N with
//! ROW_NUMBER, RANK and DENSE_RANK, over append-only and updating inputs). In streaming mode at
//! parallelism 1 and 2 (an updating result's printed changelog applied) and in batch mode. The
//! answers are DuckDB's (PyPI) over the same events written to CSV files.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::nexmark::*;
use common::*;

const EVENTS: u64 = 30_000;

/// `query` into a CSV sink of columns `columns`, in streaming mode at parallelism 1 and 2 and in
/// batch mode, equals DuckDB's answer to `oracle` (the same query unless DuckDB's dialect
/// differs).
fn check(tag: &str, columns: &str, query: &str, oracle: &str) {
    check_as(tag, columns, query, oracle, Sink::Csv);
}

/// [`check`], reading the streaming result through `sink`.
fn check_as(tag: &str, columns: &str, query: &str, oracle: &str, sink: Sink) {
    let text = format!(
        "CREATE TABLE out_t ({columns}) WITH ('connector' = 'blackhole');\nINSERT INTO out_t {query};\n"
    );
    for p in [1, 2] {
        let data = write_events(EVENTS, p);
        // Flink's identifiers keep their case in backquotes; DuckDB ignores case
        let want = duckdb(data.path(), &oracle.replace('`', ""));
        assert!(!want.is_empty(), "{tag}: the oracle's answer is empty");
        let sorted = |rows: Vec<String>| {
            let mut rows = plain(&rows);
            rows.sort();
            rows
        };
        let streaming = sorted(run_sql(tag, &text, EVENTS, p, "streaming", sink));
        assert_same_rows(&format!("{tag} streaming p={p}"), &streaming, &want);
        let batch = sorted(run_sql(tag, &text, EVENTS, p, "batch", Sink::Csv));
        assert_same_rows(&format!("{tag} batch p={p}"), &batch, &want);
    }
}

#[test]
fn rows_frame_over_the_last_bids_of_each_auction() {
    let q = "SELECT auction, price, `dateTime`, \
             SUM(price) OVER w, COUNT(*) OVER w, MAX(price) OVER w, MIN(channel) OVER w \
             FROM bid WINDOW w AS (PARTITION BY auction ORDER BY `dateTime` \
             ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)";
    check(
        "over-rows",
        "auction BIGINT, price BIGINT, dt TIMESTAMP(3), s BIGINT, c BIGINT, mx BIGINT, ch STRING",
        q,
        q,
    );
}

/// FIRST_VALUE and LAST_VALUE, aggregate functions in Flink (window functions in DataFusion's
/// planning), over a ROWS frame: the frame's oldest and newest values.
#[test]
fn first_and_last_values_over_a_rows_frame() {
    let q = "SELECT auction, price, `dateTime`, FIRST_VALUE(price) OVER w, \
             LAST_VALUE(channel) OVER w, FIRST_VALUE(price * 2 + bidder) OVER w \
             FROM bid WINDOW w AS (PARTITION BY auction ORDER BY `dateTime` \
             ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)";
    check(
        "over-first-last",
        "auction BIGINT, price BIGINT, dt TIMESTAMP(3), f BIGINT, l STRING, fx BIGINT",
        q,
        q,
    );
}

#[test]
fn range_frame_of_ten_seconds_per_bidder() {
    let q = "SELECT bidder, price, `dateTime`, \
             SUM(price * 2) OVER (PARTITION BY bidder ORDER BY `dateTime` \
               RANGE BETWEEN INTERVAL '10' SECOND PRECEDING AND CURRENT ROW), \
             COUNT(DISTINCT auction) OVER (PARTITION BY bidder ORDER BY `dateTime` \
               RANGE BETWEEN INTERVAL '10' SECOND PRECEDING AND CURRENT ROW) \
             FROM bid";
    check(
        "over-range",
        "bidder BIGINT, price BIGINT, dt TIMESTAMP(3), s BIGINT, d BIGINT",
        q,
        q,
    );
}

/// (At parallelism 2 two source subtasks emit events of the same times: a ROWS frame over
/// peers depends on their order, which Flink leaves to arrival; the global window is a RANGE.)
#[test]
fn unbounded_frames_and_a_global_partition() {
    let q = "SELECT auction, `dateTime`, \
             COUNT(*) OVER (PARTITION BY auction ORDER BY `dateTime`), \
             MAX(price) OVER (PARTITION BY auction ORDER BY `dateTime`) \
             FROM bid WHERE price > 1000000";
    check(
        "over-unbounded",
        "auction BIGINT, dt TIMESTAMP(3), c BIGINT, mx BIGINT",
        q,
        q,
    );
    let q = "SELECT id, `dateTime`, COUNT(*) OVER w, SUM(reserve) OVER w \
             FROM auction WINDOW w AS (ORDER BY `dateTime` \
             RANGE BETWEEN INTERVAL '2' SECOND PRECEDING AND CURRENT ROW)";
    check(
        "over-global",
        "id BIGINT, dt TIMESTAMP(3), c BIGINT, s BIGINT",
        q,
        q,
    );
}

#[test]
fn processing_time_rows_frame_numbers_each_auctions_bids() {
    // processing times are the wall clock: each auction's bids are counted 1..n in some order
    check(
        "over-proctime",
        "auction BIGINT, n BIGINT",
        "SELECT auction, COUNT(*) OVER (PARTITION BY auction ORDER BY p_time \
           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) \
         FROM (SELECT auction, PROCTIME() AS p_time FROM bid)",
        "SELECT auction, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY `dateTime`) FROM bid",
    );
}

/// What Flink's streaming mode refuses is refused, saying why: OVER aggregates over different
/// windows in one SELECT, an order that is not a time attribute, a frame reaching FOLLOWING rows.
#[test]
fn over_windows_flink_refuses_are_refused() {
    let tmp = TempDir::new("over-refused");
    for (query, message) in [
        (
            "SELECT COUNT(*) OVER (ORDER BY `dateTime` ROWS BETWEEN 5 PRECEDING AND CURRENT ROW), \
             SUM(price) OVER (ORDER BY `dateTime`) FROM bid",
            "must be over the same window",
        ),
        (
            "SELECT SUM(price) OVER (PARTITION BY auction ORDER BY price) FROM bid",
            "ordered by a time attribute",
        ),
        (
            "SELECT SUM(price) OVER (PARTITION BY auction ORDER BY `dateTime` \
             ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) FROM bid",
            "end at the CURRENT ROW",
        ),
    ] {
        let q = tmp.join("q.sql");
        write_text(&q, &format!("{query};"));
        let mut cmd = strom();
        cmd.arg("sql");
        for f in [
            queries_dir().join("ddl_gen.sql"),
            queries_dir().join("ddl_views.sql"),
            q,
        ] {
            cmd.arg("-f").arg(f);
        }
        template_env(&mut cmd, 1000);
        let out = run(&mut cmd);
        assert_ne!(out.code, Some(0), "{query}");
        assert!(out.stderr.contains(message), "{query}\n{}", out.describe());
    }
}

#[test]
fn top_n_over_an_updating_aggregate() {
    // the auctions with the most bids: the counts change as bids arrive, and the ranking with them
    let q = "SELECT auction, n, rk FROM (SELECT auction, n, \
             RANK() OVER (ORDER BY n DESC) AS rk FROM \
             (SELECT auction, COUNT(*) AS n FROM bid GROUP BY auction)) WHERE rk <= 5";
    check_as(
        "rank-updating",
        "auction BIGINT, n BIGINT, rk BIGINT",
        q,
        q,
        Sink::Changelog,
    );
    let q = "SELECT auction, n, rn FROM (SELECT auction, n, \
             ROW_NUMBER() OVER (PARTITION BY g ORDER BY n DESC, auction) AS rn FROM \
             (SELECT auction, auction % 4 AS g, COUNT(*) AS n FROM bid GROUP BY auction, auction % 4)) \
             WHERE rn <= 3";
    check_as(
        "row-number-updating",
        "auction BIGINT, n BIGINT, rn BIGINT",
        q,
        q,
        Sink::Changelog,
    );
}

/// PARTITION BY and ORDER BY take expressions (computed before the ranking and not in its
/// output: `SELECT *` over the ranking has the window's columns only).
#[test]
fn top_n_partitioned_and_ordered_by_expressions() {
    let q = "SELECT * FROM (SELECT auction, bidder, price, ROW_NUMBER() OVER \
             (PARTITION BY auction % 7 ORDER BY price * 2 + bidder % 3 DESC, auction, bidder, \
             `dateTime`) AS rn FROM bid) WHERE rn <= 3";
    check_as(
        "top-n-expressions",
        "auction BIGINT, bidder BIGINT, price BIGINT, rn BIGINT",
        q,
        q,
        Sink::Changelog,
    );
}

/// Deduplication (Flink's Deduplicate: ROW_NUMBER() = 1 ordered by the rowtime alone) keeps the
/// first or the last row in time of each key, also with a column used only in WHERE. (Of rows
/// of the same time Flink keeps the later one when keeping the last, which the order of two
/// source subtasks leaves open: the answers here are the times, equal among such rows.)
#[test]
fn deduplication_keeps_the_first_or_the_last_row_in_time() {
    check_as(
        "dedup-first",
        "auction BIGINT, dt TIMESTAMP(3)",
        "SELECT auction, `dateTime` FROM (SELECT auction, `dateTime`, ROW_NUMBER() OVER \
         (PARTITION BY auction ORDER BY `dateTime`) AS rn FROM bid WHERE price > 2000) WHERE rn = 1",
        "SELECT auction, MIN(dateTime) FROM bid WHERE price > 2000 GROUP BY auction",
        Sink::Changelog,
    );
    check_as(
        "dedup-last",
        "bidder BIGINT, a BIGINT, dt TIMESTAMP(3)",
        "SELECT bidder, auction % 5, `dateTime` FROM (SELECT *, ROW_NUMBER() OVER \
         (PARTITION BY bidder, auction % 5 ORDER BY `dateTime` DESC) AS rn FROM bid) WHERE rn <= 1",
        "SELECT bidder, auction % 5, MAX(dateTime) FROM bid GROUP BY bidder, auction % 5",
        Sink::Changelog,
    );
}

#[test]
fn dense_rank_keeps_every_tied_row() {
    let q = "SELECT bidder, price, auction, r FROM (SELECT bidder, price, auction, \
             DENSE_RANK() OVER (PARTITION BY bidder ORDER BY m DESC) AS r FROM \
             (SELECT bidder, price, auction, price - price % 1000000 AS m FROM bid)) \
             WHERE r <= 2";
    check_as(
        "dense-rank",
        "bidder BIGINT, price BIGINT, auction BIGINT, r BIGINT",
        q,
        q,
        Sink::Changelog,
    );
}

/// Window Top-N (Flink's WindowRank): a ranking partitioned by the window of a window table
/// function or a window aggregate is emitted once per window when the window ends, so it is
/// append-only (the CSV sink takes it). ROW_NUMBER over the bids of each 2 s window (the columns
/// chosen so that ties do not matter) and RANK over a window aggregate.
#[test]
fn window_top_n_over_a_window_tvf_and_a_window_aggregate() {
    let q = "SELECT window_start, window_end, price, rn FROM (SELECT *, ROW_NUMBER() OVER \
             (PARTITION BY window_start, window_end ORDER BY price DESC) AS rn \
             FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))) WHERE rn <= 3";
    let oracle = "SELECT ws, ws + INTERVAL 2 SECOND, price, rn FROM (SELECT ws, price, \
                  ROW_NUMBER() OVER (PARTITION BY ws ORDER BY price DESC) AS rn FROM \
                  (SELECT time_bucket(INTERVAL 2 SECOND, dateTime) AS ws, price FROM bid)) WHERE rn <= 3";
    check(
        "window-top-n",
        "ws TIMESTAMP(3), we TIMESTAMP(3), price BIGINT, rn BIGINT",
        q,
        oracle,
    );
    let q = "SELECT window_start, window_end, auction, n, rk FROM (SELECT *, RANK() OVER \
             (PARTITION BY window_start, window_end ORDER BY n DESC) AS rk FROM \
             (SELECT window_start, window_end, auction, COUNT(*) AS n FROM \
             TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND)) \
             GROUP BY window_start, window_end, auction)) WHERE rk <= 2";
    let oracle = "WITH a AS (SELECT time_bucket(INTERVAL 2 SECOND, dateTime) AS ws, auction, \
                  COUNT(*) AS n FROM bid GROUP BY 1, 2) \
                  SELECT ws, ws + INTERVAL 2 SECOND, auction, n, rk FROM (SELECT *, RANK() OVER \
                  (PARTITION BY ws ORDER BY n DESC) AS rk FROM a) WHERE rk <= 2";
    check(
        "window-rank-agg",
        "ws TIMESTAMP(3), we TIMESTAMP(3), auction BIGINT, n BIGINT, rk BIGINT",
        q,
        oracle,
    );
}
