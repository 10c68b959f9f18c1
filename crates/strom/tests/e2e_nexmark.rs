//! The Nexmark benchmark's Flink SQL (`bench/nexmark/queries`, vendored unmodified) on the
//! `nexmark` source, as a Flink user runs it: `ddl_gen.sql`, `ddl_views.sql` and `qN.sql`
//! through `strom sql` with nexmark-flink's template variables from the environment. Each
//! query's sink is swapped for one the test can read (a CSV filesystem sink, or `print` for an
//! updating query, whose changelog is applied to get the final table), in streaming mode at
//! parallelism 1 and 2 and in batch mode. The answers are compared with DuckDB's (PyPI) over
//! the same events, written to CSV files by the generator the source runs, split as the
//! source splits them at that parallelism.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::nexmark::*;
use common::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// Runs query `q` (its file unmodified but for the sink) over `events` events at parallelism
/// `p` in `mode`; returns its final rows as CSV lines, sorted.
fn run_query(q: &str, events: u64, p: u32, mode: &str, sink: Sink) -> Vec<String> {
    let text = read_text(&queries_dir().join(format!("{q}.sql")));
    assert_eq!(text.matches("'connector' = 'blackhole'").count(), 1, "{q}");
    run_sql(q, &text, events, p, mode, sink)
}

/// Query `q` in streaming mode at parallelism 1 and 2 and in batch mode equals DuckDB's answer
/// to `oracle` over the same events.
fn check(q: &str, events: u64, updating: bool, oracle: &str) {
    check_normalized(q, events, updating, oracle, |rows| rows.to_vec());
}

/// [`check`], comparing the answers after `normalize` (for answers that rows of equal sort keys
/// may permute).
fn check_normalized(
    q: &str,
    events: u64,
    updating: bool,
    oracle: &str,
    normalize: impl Fn(&[String]) -> Vec<String>,
) {
    let normalize = |rows: &[String]| -> Vec<String> {
        let mut out = normalize(&plain(rows));
        out.sort();
        out
    };
    for p in [1, 2] {
        let data = write_events(events, p);
        let want = normalize(&duckdb(data.path(), oracle));
        assert!(!want.is_empty(), "{q}: the oracle's answer is empty");
        let sink = if updating { Sink::Changelog } else { Sink::Csv };
        let streaming = normalize(&run_query(q, events, p, "streaming", sink));
        assert_same_rows(&format!("{q} streaming p={p}"), &streaming, &want);
        let batch = normalize(&run_query(q, events, p, "batch", Sink::Csv));
        assert_same_rows(&format!("{q} batch p={p}"), &batch, &want);
    }
}

/// A Top-N answer (rows `partition,...,sort key,...,rank`) up to the order of rows with equal
/// sort keys, which ROW_NUMBER() numbers in arrival order (Flink's rule; DuckDB's is its own):
/// per partition, the rows above its lowest kept sort key with their rank among distinct keys,
/// and how many rows have the lowest kept key (which of them made the cut is not determined).
fn top_n_up_to_ties(rows: &[String], partition: usize, sort_key: usize) -> Vec<String> {
    let mut parts: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for r in rows {
        let cols: Vec<&str> = r.split(',').collect();
        let without_rank = cols[..cols.len() - 1].join(",");
        parts
            .entry(cols[partition].to_string())
            .or_default()
            .push((cols[sort_key].parse().unwrap(), without_rank));
    }
    let mut out = Vec::new();
    for (part, mut rs) in parts {
        rs.sort_by_key(|r| std::cmp::Reverse(r.0));
        let lowest = rs.last().map(|r| r.0).unwrap_or_default();
        for (key, row) in &rs {
            if *key == lowest {
                continue;
            }
            let rank = 1 + rs.iter().filter(|(k, _)| k > key).count();
            out.push(format!("{row},rank {rank}"));
        }
        let at_lowest = rs.iter().filter(|(k, _)| *k == lowest).count();
        out.push(format!(
            "partition {part}: {at_lowest} rows at {lowest}, {} rows",
            rs.len()
        ));
    }
    out.sort();
    out
}

#[test]
fn q0_pass_through() {
    check(
        "q0",
        100_000,
        false,
        "SELECT auction, bidder, price, dateTime, extra FROM bid",
    );
}

#[test]
fn q1_currency_conversion() {
    check(
        "q1",
        100_000,
        false,
        "SELECT auction, bidder, CAST(0.908 * price AS DECIMAL(23, 3)), dateTime, extra FROM bid",
    );
}

#[test]
fn q2_selection() {
    check(
        "q2",
        100_000,
        false,
        "SELECT auction, price FROM bid WHERE auction % 123 = 0",
    );
}

/// HOP windows of 10 s every 2 s: each bid is in the 5 windows starting at its 2 s bucket and
/// the 4 before; the auctions with the most bids of each window (a semi join of windows).
#[test]
fn q5_hot_items() {
    check(
        "q5",
        100_000,
        false,
        "WITH w AS (SELECT auction, (epoch_ms(dateTime) // 2000) * 2000 - k * 2000 AS ws \
                    FROM bid, range(5) t(k)), \
              ab AS (SELECT auction, ws, count(*) AS num FROM w GROUP BY auction, ws), \
              mb AS (SELECT ws, max(num) AS maxn FROM ab GROUP BY ws) \
         SELECT ab.auction, ab.num FROM ab JOIN mb ON ab.ws = mb.ws WHERE ab.num >= mb.maxn",
    );
}

/// People who put up an auction in the 10 s window they registered in.
#[test]
fn q8_monitor_new_users() {
    check(
        "q8",
        100_000,
        false,
        "WITH p AS (SELECT DISTINCT id, name, time_bucket(INTERVAL 10 SECOND, dateTime) AS ws FROM person), \
              a AS (SELECT DISTINCT seller, time_bucket(INTERVAL 10 SECOND, dateTime) AS ws FROM auction) \
         SELECT p.id, p.name, p.ws FROM p JOIN a ON p.id = a.seller AND p.ws = a.ws",
    );
}

const RANKS: &str = "count(*) FILTER (WHERE price < 10000), \
     count(*) FILTER (WHERE price >= 10000 AND price < 1000000), \
     count(*) FILTER (WHERE price >= 1000000)";

fn distinct_ranks(col: &str) -> String {
    format!(
        "count(DISTINCT {col}), \
         count(DISTINCT {col}) FILTER (WHERE price < 10000), \
         count(DISTINCT {col}) FILTER (WHERE price >= 10000 AND price < 1000000), \
         count(DISTINCT {col}) FILTER (WHERE price >= 1000000)"
    )
}

/// Bids per day, by price range (an updating GROUP BY with FILTER and DISTINCT aggregates).
#[test]
fn q15_bidding_statistics_report() {
    check(
        "q15",
        50_000,
        true,
        &format!(
            "SELECT strftime(dateTime, '%Y-%m-%d'), count(*), {RANKS}, {}, {} \
             FROM bid GROUP BY 1",
            distinct_ranks("bidder"),
            distinct_ranks("auction")
        ),
    );
}

/// Bids per channel and day, with the last minute seen.
#[test]
fn q16_channel_statistics_report() {
    check(
        "q16",
        50_000,
        true,
        &format!(
            "SELECT channel, strftime(dateTime, '%Y-%m-%d'), max(strftime(dateTime, '%H:%M')), \
             count(*), {RANKS}, {}, {} FROM bid GROUP BY 1, 2",
            distinct_ranks("bidder"),
            distinct_ranks("auction")
        ),
    );
}

/// Bids per auction and day: counts, min, max, average (Flink's AVG of a BIGINT is a BIGINT)
/// and sum of the price.
#[test]
fn q17_auction_statistics_report() {
    check(
        "q17",
        50_000,
        true,
        &format!(
            "SELECT auction, strftime(dateTime, '%Y-%m-%d'), count(*), {RANKS}, min(price), \
             max(price), sum(price) // count(price), sum(price) FROM bid GROUP BY 1, 2"
        ),
    );
}

/// The channel id from the URL (REGEXP_EXTRACT is NULL without a match, as Flink's).
#[test]
fn q21_add_channel_id() {
    let re = "'(&|^)channel_id=([^&]*)'";
    check(
        "q21",
        100_000,
        false,
        &format!(
            "SELECT auction, bidder, price, channel, \
               CASE WHEN lower(channel) = 'apple' THEN '0' \
                    WHEN lower(channel) = 'google' THEN '1' \
                    WHEN lower(channel) = 'facebook' THEN '2' \
                    WHEN lower(channel) = 'baidu' THEN '3' \
                    WHEN regexp_matches(url, {re}) THEN regexp_extract(url, {re}, 2) END \
             FROM bid \
             WHERE regexp_matches(url, {re}) \
                OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')"
        ),
    );
}

/// URL directories (SPLIT_INDEX is 0-based and NULL past the end, as Flink's).
/// q14: a Java UDF (`CREATE FUNCTION count_char AS 'com.github.nexmark.flink.udf.CountChar'`),
/// which Strom implements natively, and HOUR in a CASE.
#[test]
fn q14_calculation_with_a_java_udf() {
    check(
        "q14",
        100_000,
        false,
        "SELECT auction, bidder, CAST(0.908 * price AS DECIMAL(23, 3)),          CASE WHEN hour(dateTime) >= 8 AND hour(dateTime) <= 18 THEN 'dayTime'               WHEN hour(dateTime) <= 6 OR hour(dateTime) >= 20 THEN 'nightTime'               ELSE 'otherTime' END,          dateTime, extra, length(extra) - length(replace(extra, 'c', '')) FROM bid          WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000",
    );
}

#[test]
fn q22_get_subdirectories() {
    check(
        "q22",
        100_000,
        false,
        "SELECT auction, bidder, price, channel, string_split(url, '/')[4], \
         string_split(url, '/')[5], string_split(url, '/')[6] FROM bid",
    );
}

/// The last bid of each bidder on each auction (deduplication: Top-1 by event time DESC).
#[test]
fn q18_find_last_bid() {
    check(
        "q18",
        50_000,
        true,
        "SELECT auction, bidder, price, channel, url, dateTime, extra FROM ( \
           SELECT *, row_number() OVER (PARTITION BY bidder, auction ORDER BY dateTime DESC) AS rn \
           FROM bid) WHERE rn <= 1",
    );
}

/// The 10 highest bids of each auction, with their rank (Top-N).
#[test]
fn q19_auction_top_10_price() {
    check_normalized(
        "q19",
        50_000,
        true,
        "SELECT * FROM ( \
           SELECT *, row_number() OVER (PARTITION BY auction ORDER BY price DESC) AS rn \
           FROM bid) WHERE rn <= 10",
        |rows| top_n_up_to_ties(rows, 0, 2),
    );
}

/// Sellers in some states and their auctions of category 10 (a regular join).
#[test]
fn q13_bounded_side_input_join() {
    let side = flink_home().join("data/side_input.txt");
    check(
        "q13",
        20_000,
        false,
        &format!(
            "SELECT B.auction, B.bidder, B.price, B.dateTime, S.value FROM bid B \
             JOIN read_csv('{}', header = false, columns = {{'key': 'BIGINT', 'value': 'VARCHAR'}}) S \
             ON B.auction % 10000 = S.key",
            side.display()
        ),
    );
}

#[test]
fn q3_local_item_suggestion() {
    check(
        "q3",
        100_000,
        false,
        "SELECT P.name, P.city, P.state, A.id FROM auction A JOIN person P ON A.seller = P.id \
         WHERE A.category = 10 AND P.state IN ('OR', 'ID', 'CA')",
    );
}

/// The bids of the highest price of each 10 s window (a regular join with a time condition).
#[test]
fn q7_highest_bid() {
    check(
        "q7",
        100_000,
        false,
        "WITH b1 AS (SELECT max(price) AS maxprice, \
                       time_bucket(INTERVAL 10 SECOND, dateTime) + INTERVAL 10 SECOND AS dt \
                     FROM bid GROUP BY time_bucket(INTERVAL 10 SECOND, dateTime)) \
         SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra FROM bid B \
         JOIN b1 ON B.price = b1.maxprice \
         WHERE B.dateTime BETWEEN b1.dt - INTERVAL 10 SECOND AND b1.dt",
    );
}

/// The winning bid of each auction: a regular join, then Top-1 per auction.
#[test]
fn q9_winning_bids() {
    check(
        "q9",
        50_000,
        true,
        "SELECT id, itemName, description, initialBid, reserve, dateTime, expires, seller, \
           category, extra, auction, bidder, price, bid_dateTime, bid_extra FROM ( \
           SELECT A.*, B.auction, B.bidder, B.price, B.dateTime AS bid_dateTime, \
             B.extra AS bid_extra, row_number() OVER ( \
               PARTITION BY A.id ORDER BY B.price DESC, B.dateTime ASC) AS rn \
           FROM auction A, bid B \
           WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires) \
         WHERE rn <= 1",
    );
}

/// Bids with their auction's details, for auctions of category 10 (a regular join).
#[test]
fn q20_expand_bid_with_auction() {
    check(
        "q20",
        100_000,
        false,
        "SELECT auction, bidder, price, channel, url, B.dateTime, B.extra, itemName, \
           description, initialBid, reserve, A.dateTime, expires, seller, category, A.extra \
         FROM bid B JOIN auction A ON B.auction = A.id WHERE A.category = 10",
    );
}

/// Bids per bidder session (a legacy `GROUP BY SESSION(...)` group window, gap 10 s): a row
/// opens a new session unless it is at most the gap after the bidder's previous one (Flink
/// merges session windows that touch: `[t1, t1 + gap)` and `[t1 + gap, ...)` are one).
#[test]
fn q11_user_sessions() {
    check(
        "q11",
        100_000,
        false,
        "WITH o AS (SELECT bidder, dateTime, \
                      CASE WHEN dateTime - lag(dateTime) OVER (PARTITION BY bidder ORDER BY dateTime) \
                             <= INTERVAL 10 SECOND THEN 0 ELSE 1 END AS new_session FROM bid), \
              s AS (SELECT bidder, dateTime, sum(new_session) OVER ( \
                      PARTITION BY bidder ORDER BY dateTime ROWS UNBOUNDED PRECEDING) AS sid FROM o) \
         SELECT bidder, count(*), min(dateTime), max(dateTime) + INTERVAL 10 SECOND \
         FROM s GROUP BY bidder, sid",
    );
}

/// The average winning price per category: a regular join, a GROUP BY over it, and a GROUP BY
/// over that GROUP BY's changelog (retracting each auction's previous maximum).
#[test]
fn q4_average_price_for_a_category() {
    check(
        "q4",
        50_000,
        true,
        "SELECT category, CAST(trunc(avg(final)) AS BIGINT) FROM ( \
           SELECT max(B.price) AS final, A.category FROM auction A, bid B \
           WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires \
           GROUP BY A.id, A.category) GROUP BY category",
    );
}

/// Bids per bidder in processing-time windows of 10 s (a view adds `PROCTIME()`): which window
/// a bid falls in depends on when it is processed, so the answer checked is each bidder's
/// total over its windows (every bid counted once), and that every window is 10 s.
#[test]
fn q12_processing_time_windows() {
    let per_bidder = |rows: &[String]| -> Vec<String> {
        let mut totals: BTreeMap<String, i64> = BTreeMap::new();
        for r in rows {
            let cols: Vec<&str> = r.split(',').collect();
            let (start, end) = (parse_ts(cols[2]), parse_ts(cols[3]));
            assert_eq!(end - start, 10_000, "a window of 10 s: {r}");
            assert_eq!(start % 10_000, 0, "windows align to 10 s: {r}");
            *totals.entry(cols[0].to_string()).or_default() += cols[1].parse::<i64>().unwrap();
        }
        totals
            .into_iter()
            .map(|(b, n)| format!("{b},{n}"))
            .collect()
    };
    check_normalized(
        "q12",
        50_000,
        false,
        "SELECT bidder, count(*), TIMESTAMP '2000-01-01 00:00:00', \
           TIMESTAMP '2000-01-01 00:00:10' FROM bid GROUP BY bidder",
        per_bidder,
    );
}

/// Bids written into a filesystem sink `PARTITIONED BY (dt, hm)`: each row lands in
/// `dt=<day>/hm=<HH%3Amm>/` (Flink's escaping of ':') without those columns, each partition
/// committed with a `_SUCCESS` file.
#[test]
fn q10_log_to_file_system() {
    for p in [1, 2] {
        let data = write_events(100_000, p);
        let want = duckdb(
            data.path(),
            "SELECT auction, bidder, price, dateTime, extra, strftime(dateTime, '%Y-%m-%d'), \
             strftime(dateTime, '%H:%M') FROM bid",
        );
        for mode in ["streaming", "batch"] {
            let tmp = TempDir::new(&format!("nexmark-q10-{mode}-p{p}"));
            let mut cmd = strom();
            cmd.arg("sql");
            for f in ["ddl_gen.sql", "ddl_views.sql", "q10.sql"] {
                cmd.arg("-f").arg(queries_dir().join(f));
            }
            cmd.args(["-p", &p.to_string()])
                .arg("-D")
                .arg(format!("execution.runtime-mode={mode}"))
                .env("NEXMARK_DIR", tmp.path())
                .env("SUBMIT_TIME", "run");
            template_env(&mut cmd, 100_000);
            run_with_timeout(&mut cmd, Duration::from_secs(600)).assert_success();
            let root = tmp.join("data/output/run/bid");
            let mut got = Vec::new();
            let mut partitions = 0;
            for dt in std::fs::read_dir(&root).unwrap().flatten() {
                let dt_name = dt.file_name().to_string_lossy().into_owned();
                let day = dt_name
                    .strip_prefix("dt=")
                    .expect("a dt= directory")
                    .to_string();
                for hm in std::fs::read_dir(dt.path()).unwrap().flatten() {
                    let hm_name = hm.file_name().to_string_lossy().into_owned();
                    let minute = hm_name
                        .strip_prefix("hm=")
                        .expect("an hm= directory")
                        .replace("%3A", ":");
                    assert!(
                        hm.path().join("_SUCCESS").exists(),
                        "{mode} p={p}: partition {dt_name}/{hm_name} has no _SUCCESS file"
                    );
                    partitions += 1;
                    for row in read_sink_rows(&hm.path()) {
                        got.push(format!("{row},{day},{minute}"));
                    }
                }
            }
            assert!(partitions >= 2, "{mode} p={p}: {partitions} partitions");
            let mut got = plain(&got);
            got.sort();
            let mut want = plain(&want);
            want.sort();
            assert_same_rows(&format!("q10 {mode} p={p}"), &got, &want);
        }
    }
}
