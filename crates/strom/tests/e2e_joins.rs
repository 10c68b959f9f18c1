//! Streaming joins end to end: an interval join and a FULL window join over the generated
//! bids, compared with answers computed here from the parsed CSV rows. Regular joins of
//! unbounded inputs: tests/e2e_regular_joins.rs.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::*;
use std::collections::{BTreeMap, HashMap};

const ROWS: u64 = 50_000;

fn run_join(tag: &str, query: &str, p: u32, mode: &str) -> Vec<String> {
    let tmp = TempDir::new(tag);
    let out_dir = tmp.join("out");
    let q = tmp.join("join.sql");
    write_text(
        &q,
        &format!(
            "CREATE TABLE bid2 (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  date_time TIMESTAMP(3), extra STRING,
  WATERMARK FOR date_time AS date_time - INTERVAL '0.001' SECOND
) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
{}",
            gen_bids_of(ROWS).display(),
            query.replace("{out}", &out_dir.display().to_string())
        ),
    );
    let out = run(&mut sql_cmd(
        &[&bench_sql("bid_source.sql"), &q],
        p,
        mode,
        &gen_bids_of(ROWS),
    ));
    out.assert_success();
    read_sink_rows(&out_dir)
}

#[test]
fn interval_join_matches_bids_within_the_bounds() {
    // bids of the same auction by another bidder at most 200 ms before (and not after)
    let bids = parse_checked(&gen_bids_of(ROWS), ROWS);
    let mut by_auction: HashMap<i64, Vec<&Bid>> = HashMap::new();
    for b in &bids {
        by_auction.entry(b.auction).or_default().push(b);
    }
    let mut expected = Vec::new();
    for rows in by_auction.values() {
        for a in rows {
            for b in rows {
                if b.ts - 200 <= a.ts && a.ts <= b.ts && a.bidder != b.bidder {
                    expected.push(format!(
                        "{},{},{},{}",
                        a.auction, a.bidder, b.bidder, b.price
                    ));
                }
            }
        }
    }
    expected.sort();
    assert!(expected.len() > 1000, "the test needs matches");
    let query =
        "CREATE TABLE out_j (auction BIGINT, a_bidder BIGINT, b_bidder BIGINT, price BIGINT)
WITH ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv');
INSERT INTO out_j
SELECT a.auction, a.bidder, b.bidder, b.price
FROM bid a JOIN bid2 b ON a.auction = b.auction
 AND a.date_time BETWEEN b.date_time - INTERVAL '0.2' SECOND AND b.date_time
WHERE a.bidder <> b.bidder;";
    for (mode, p) in [("streaming", 1), ("streaming", 2), ("batch", 2)] {
        let got = run_join(&format!("interval-{mode}-{p}"), query, p, mode);
        assert_same_rows(&format!("interval join {mode} p={p}"), &got, &expected);
    }
}

#[test]
fn full_window_join_of_two_window_aggregates() {
    // per auction and 10 s window: Apple bids and Google bids, either side may be missing
    let bids = parse_checked(&gen_bids_of(ROWS), ROWS);
    let mut counts: BTreeMap<(i64, i64), (Option<i64>, Option<i64>)> = BTreeMap::new();
    for b in &bids {
        let w = b.ts.div_euclid(10_000) * 10_000;
        let c = f_channel(b);
        let e = counts.entry((b.auction, w)).or_default();
        match c.as_str() {
            "Apple" => *e.0.get_or_insert(0) += 1,
            "Google" => *e.1.get_or_insert(0) += 1,
            _ => {}
        }
    }
    let cell = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
    let mut expected: Vec<String> = counts
        .into_iter()
        .filter(|(_, (a, g))| a.is_some() || g.is_some())
        .map(|((auction, w), (a, g))| format!("{auction},{},{},{}", fmt_ts(w), cell(a), cell(g)))
        .collect();
    expected.sort();
    let query = "CREATE TABLE out_w (auction BIGINT, ws TIMESTAMP(3), apple BIGINT, google BIGINT)
WITH ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv');
INSERT INTO out_w
SELECT COALESCE(L.auction, R.auction), COALESCE(L.window_start, R.window_start), L.cnt, R.cnt FROM
 (SELECT auction, window_start, window_end, COUNT(*) AS cnt
  FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
  WHERE channel = 'Apple' GROUP BY auction, window_start, window_end) L
FULL JOIN
 (SELECT auction, window_start, window_end, COUNT(*) AS cnt
  FROM TABLE(TUMBLE(TABLE bid2, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
  WHERE channel = 'Google' GROUP BY auction, window_start, window_end) R
ON L.auction = R.auction AND L.window_start = R.window_start AND L.window_end = R.window_end;";
    for (mode, p) in [("streaming", 1), ("streaming", 2), ("batch", 2)] {
        let got = run_join(&format!("window-{mode}-{p}"), query, p, mode);
        assert_same_rows(&format!("window join {mode} p={p}"), &got, &expected);
    }
}

/// The channel column of a bid (not kept by the parser): re-read from the CSV line.
fn f_channel(b: &Bid) -> String {
    static CHANNELS: std::sync::OnceLock<HashMap<(i64, i64, i64, String), String>> =
        std::sync::OnceLock::new();
    let m = CHANNELS.get_or_init(|| {
        read_text(&gen_bids_of(ROWS))
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (
                    (
                        f[0].parse().unwrap(),
                        f[1].parse().unwrap(),
                        f[2].parse().unwrap(),
                        f[5].to_string(),
                    ),
                    f[3].to_string(),
                )
            })
            .collect()
    });
    m[&(b.auction, b.bidder, b.price, b.date_time.clone())].clone()
}
