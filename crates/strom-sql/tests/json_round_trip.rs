//! Every operator a streaming job can hold survives the JobGraph's JSON (what a client submits
//! to a cluster): the Nexmark queries and a query for each kind of join, OVER window and
//! ranking, compiled at parallelism 2 and read back from JSON equal.
#![allow(clippy::unwrap_used)] // a test may unwrap

use std::path::PathBuf;
use strom_common::Configuration;
use strom_sql::compile_script;

fn nexmark(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../bench/nexmark/queries")
        .join(file);
    std::fs::read_to_string(&path)
        .unwrap()
        .replace("${TPS}", "1000")
        .replace("${EVENTS_NUM}", "1000")
        .replace("${PERSON_PROPORTION}", "1")
        .replace("${AUCTION_PROPORTION}", "3")
        .replace("${BID_PROPORTION}", "46")
        .replace("${NEXMARK_TABLE}", "datagen")
        .replace("${FLINK_HOME}", "/tmp")
        .replace("${NEXMARK_DIR}", "/tmp")
        .replace("${SUBMIT_TIME}", "t")
}

fn round_trip(label: &str, sql: &str) {
    let script = format!(
        "SET 'parallelism.default' = '2';\n{}\n{}\n{sql}",
        nexmark("ddl_gen.sql"),
        nexmark("ddl_views.sql")
    );
    let c =
        compile_script(&script, &Configuration::new()).unwrap_or_else(|e| panic!("{label}: {e}"));
    for g in &c.jobs {
        let json = serde_json::to_string(g).unwrap();
        let back: strom_plan::JobGraph =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(&back, g, "{label}");
    }
}

#[test]
fn the_nexmark_queries_survive_json() {
    for q in [
        "q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q9", "q10", "q11", "q12", "q13", "q14",
        "q15", "q16", "q17", "q18", "q19", "q20", "q21", "q22",
    ] {
        round_trip(q, &nexmark(&format!("{q}.sql")));
    }
}

#[test]
fn joins_over_windows_and_rankings_survive_json() {
    for (label, query) in [
        (
            "left join",
            "SELECT a.id, p.name FROM auction a LEFT JOIN person p ON a.seller = p.id",
        ),
        (
            "not in",
            "SELECT id FROM person WHERE id NOT IN (SELECT seller FROM auction)",
        ),
        (
            "over",
            "SELECT auction, SUM(price) OVER (PARTITION BY auction ORDER BY `dateTime` \
             ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM bid",
        ),
        (
            "state ttl",
            "SELECT /*+ STATE_TTL('a' = '1 h') */ a.id, p.name FROM auction a LEFT JOIN person p \
             ON a.seller = p.id",
        ),
        (
            "window top-n",
            "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end \
             ORDER BY price DESC) AS rn FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), \
             INTERVAL '10' SECOND))) WHERE rn <= 3",
        ),
        (
            "dense rank",
            "SELECT * FROM (SELECT auction, price, DENSE_RANK() OVER (PARTITION BY auction \
             ORDER BY price DESC) AS r FROM bid) WHERE r <= 3",
        ),
    ] {
        round_trip(label, &format!("{query};"));
    }
    // a lookup join against PostgreSQL with Flink's partial cache, and with its full cache
    // reloaded at a time of day (the table is not read here)
    for cache in [
        "'lookup.cache' = 'PARTIAL', 'lookup.partial-cache.max-rows' = '100', \
         'lookup.partial-cache.expire-after-write' = '1 min'",
        "'lookup.cache' = 'FULL', 'lookup.full-cache.reload-strategy' = 'TIMED', \
         'lookup.full-cache.timed-reload.iso-time' = '10:15+07:00'",
    ] {
        round_trip(
            &format!("jdbc lookup, {cache}"),
            &format!(
                "CREATE TABLE users (id BIGINT, name STRING) WITH ('connector' = 'jdbc', \
                 'url' = 'jdbc:postgresql://127.0.0.1:5432/db', 'table-name' = 'users', \
                 'username' = 'u', {cache});
                 CREATE TEMPORARY VIEW b2 AS SELECT *, PROCTIME() AS p FROM bid;
                 SELECT b2.auction, u.name FROM b2 JOIN users FOR SYSTEM_TIME AS OF b2.p AS u \
                 ON b2.bidder = u.id;"
            ),
        );
    }
}
