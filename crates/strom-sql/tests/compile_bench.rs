//! The benchmark's SQL files compile to the expected JobGraphs.
#![allow(clippy::unwrap_used)] // a test may unwrap

use strom_common::Configuration;
use strom_plan::{AggregateMode, OperatorSpec, ResultType, ShipStrategy};
use strom_sql::compile_script;

fn script(query: &str, extra: &str) -> String {
    let src = include_str!("data/bid_source.sql").replace("${BID_PATH}", "/tmp/bids.csv");
    let q = match query {
        "q0" => include_str!("data/q0.sql"),
        "q1" => include_str!("data/q1.sql"),
        "q2" => include_str!("data/q2.sql"),
        "q5" => include_str!("data/q5.sql"),
        "q7" => include_str!("data/q7.sql"),
        _ => unreachable!(),
    };
    format!("{extra}\n{src}\n{q}")
}

#[test]
fn all_queries_compile_and_validate() {
    for q in ["q0", "q1", "q2", "q5", "q7"] {
        for mode in ["streaming", "batch"] {
            for p in [1, 2] {
                let sql = script(q, &format!("SET 'execution.runtime-mode' = '{mode}';\nSET 'parallelism.default' = '{p}';"));
                let c = compile_script(&sql, &Configuration::new())
                    .unwrap_or_else(|e| panic!("{q} {mode} p={p}: {e}"));
                assert_eq!(c.jobs.len(), 1);
                let g = &c.jobs[0];
                g.validate()
                    .unwrap_or_else(|e| panic!("{q} {mode} p={p}: {e}"));
                assert!(g.name.ends_with(&format!("sink_{q}")), "{}", g.name);
                // JSON round trip
                let json = serde_json::to_string(g).unwrap();
                let back: strom_plan::JobGraph = serde_json::from_str(&json).unwrap();
                assert_eq!(&back, g);
                for e in &g.edges {
                    if mode == "batch" && e.ship_strategy != ShipStrategy::Forward {
                        assert_eq!(e.result_type, ResultType::Blocking);
                    }
                }
            }
        }
    }
}

#[test]
fn q5_is_a_two_phase_window_aggregate_at_p2() {
    let sql = script("q5", "SET 'parallelism.default' = '2';");
    let g = &compile_script(&sql, &Configuration::new()).unwrap().jobs[0];
    let aggs: Vec<_> = g
        .vertices
        .iter()
        .filter_map(|v| match &v.operators[0] {
            OperatorSpec::Aggregate(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(aggs.len(), 2, "{g:#?}");
    assert_eq!(aggs[0].mode, AggregateMode::Partial);
    assert_eq!(aggs[1].mode, AggregateMode::Final);
    assert!(aggs[1].window_end_column.is_some());
    let src = g.vertices.iter().find_map(|v| match &v.operators[0] {
        OperatorSpec::Source(s) => Some(s),
        _ => None,
    });
    let src = src.unwrap();
    // projection pushdown: only auction and date_time are read
    assert_eq!(src.projection, vec![0, 5]);
    assert!(src.watermark.is_some());
    assert!(g
        .edges
        .iter()
        .any(|e| matches!(e.ship_strategy, ShipStrategy::Hash { .. })));
}

#[test]
fn q1_decimal_type_matches_the_sink() {
    let sql = script("q1", "");
    let g = &compile_script(&sql, &Configuration::new()).unwrap().jobs[0];
    let calc = g
        .vertices
        .iter()
        .find_map(|v| match &v.operators[0] {
            OperatorSpec::Calc(c) => Some(c),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        calc.output.columns[2].ty,
        strom_plan::SqlType::Decimal(23, 3),
        "{calc:#?}"
    );
}

#[test]
fn bad_sql_is_reported_with_position() {
    let base = include_str!("data/bid_source.sql");
    let cases = [
        ("INSERT INTO nosuch SELECT auction FROM bid", "unknown table 'nosuch'"),
        ("CREATE TABLE s (a BIGINT) WITH ('connector'='blackhole');\nINSERT INTO s SELECT nosuchcol FROM bid", "nosuchcol"),
        ("CREATE TABLE s (a BIGINT) WITH ('connector'='blackhole');\nINSERT INTO s SELECT nosuchfn(auction) FROM bid", "nosuchfn"),
        ("CREATE TABLE s (a BIGINT) WITH ('connector'='blackhole');\nINSERT INTO s SELEC auction FROM bid", "SQL parse error"),
        ("CREATE TABLE s (a BIGINT) WITH ('connector'='blackhole');\nINSERT INTO s SELECT auction FROM nosuchsrc", "unknown table 'nosuchsrc'"),
    ];
    for (q, needle) in cases {
        let e = compile_script(&format!("{base}\n{q}"), &Configuration::new()).unwrap_err();
        assert!(e.to_string().contains(needle), "{q}: {e}");
    }
    let e = compile_script("SELECT 1 +", &Configuration::new()).unwrap_err();
    assert!(e.position.is_some(), "{e}");
}

#[test]
fn a_bounded_delay_watermark_is_computed_without_the_expression() {
    // `date_time - INTERVAL '0.001' SECOND`: sources subtract 1 ms; q2 does not read date_time
    for (q, delay) in [("q5", Some(Some(1))), ("q0", Some(Some(1))), ("q2", None)] {
        let g = &compile_script(&script(q, ""), &Configuration::new())
            .unwrap()
            .jobs[0];
        let wm = g
            .vertices
            .iter()
            .find_map(|v| match &v.operators[0] {
                OperatorSpec::Source(s) => Some(s.watermark.as_ref().map(|w| w.delay_ms)),
                _ => None,
            })
            .expect("a source");
        assert_eq!(wm, delay, "{q}");
    }
}
