//! Batch plans filter a grouped aggregate's input by the keys of the side it is joined to
//! when the statistics say that side is small and filtered (strom-sql's
//! `semi_join_reduction`), and leave the plan alone where that would change the answer or
//! not pay. A reduced plan scans the key side's table twice: once for the join, once for the
//! keys that filter the aggregate's input.
#![allow(clippy::unwrap_used)] // a test may unwrap

use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, Statistics};
use std::sync::Arc;
use strom_common::Configuration;
use strom_plan::table::{NoStatistics, TableSpec, TableStatisticsSource};
use strom_plan::{JobGraph, OperatorSpec};
use strom_sql::compile_script_with_statistics;

/// Rows per table name.
#[derive(Debug)]
struct Rows(Vec<(&'static str, usize)>);

impl TableStatisticsSource for Rows {
    fn statistics(&self, table: &TableSpec) -> Option<Statistics> {
        let rows = self.0.iter().find(|(n, _)| *n == table.name)?.1;
        Some(Statistics {
            num_rows: Precision::Inexact(rows),
            total_byte_size: Precision::Inexact(rows * 8 * table.schema.len()),
            column_statistics: vec![ColumnStatistics::new_unknown(); table.schema.len()],
        })
    }
}

fn sizes(dim: usize) -> Arc<dyn TableStatisticsSource> {
    Arc::new(Rows(vec![
        ("fact", 10_000_000),
        ("dim", dim),
        ("mid", 1_000_000),
    ]))
}

fn compile(query: &str, statistics: Arc<dyn TableStatisticsSource>) -> JobGraph {
    let mut sql =
        String::from("SET 'execution.runtime-mode' = 'batch';\nSET 'parallelism.default' = '2';\n");
    for (t, cols) in [
        ("fact", "k BIGINT, g BIGINT, v BIGINT"),
        ("dim", "k BIGINT, a BIGINT, b STRING"),
        ("mid", "k BIGINT, s BIGINT"),
    ] {
        sql.push_str(&format!(
            "CREATE TABLE {t} ({cols}) WITH ('connector' = 'filesystem', 'path' = '/tmp/{t}', 'format' = 'parquet');\n"
        ));
    }
    sql.push_str(query);
    let mut c = compile_script_with_statistics(&sql, &Configuration::new(), statistics)
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    c.jobs.remove(0)
}

/// How many scans of `table` the job's stages hold.
fn scans(g: &JobGraph, table: &str) -> usize {
    let needle = format!("TableSourceScan: table={table},");
    g.vertices
        .iter()
        .flat_map(|v| &v.operators)
        .map(|op| match op {
            OperatorSpec::Stage(s) => s.display.matches(&needle).count(),
            _ => 0,
        })
        .sum()
}

fn displays(g: &JobGraph) -> String {
    g.vertices
        .iter()
        .flat_map(|v| &v.operators)
        .filter_map(|op| match op {
            OperatorSpec::Stage(s) => Some(format!("{}:\n{}", s.name, s.display)),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_reduced(query: &str, statistics: Arc<dyn TableStatisticsSource>, reduced: bool) {
    let g = compile(query, statistics);
    let want = if reduced { 2 } else { 1 };
    assert_eq!(scans(&g, "dim"), want, "{query}\n{}", displays(&g));
}

const CORRELATED_AVG: &str = "SELECT SUM(f.v) FROM fact f, dim d WHERE d.k = f.k AND d.b = 'x' \
     AND f.v < (SELECT 0.2 * AVG(v) FROM fact WHERE fact.k = d.k);";

#[test]
fn a_decorrelated_aggregate_is_filtered_by_the_small_sides_keys() {
    assert_reduced(CORRELATED_AVG, sizes(100_000), true);
    // the aggregate's input is filtered before its partial aggregation: the stage that
    // reads `fact` for the aggregate also reads the keys (the join to them runs there)
    let g = compile(CORRELATED_AVG, sizes(100_000));
    let shown = displays(&g);
    assert!(shown.contains("Semi"), "{shown}");
}

#[test]
fn the_keys_go_down_to_the_input_they_come_from() {
    assert_reduced(
        "SELECT d.k, x.t FROM dim d JOIN (SELECT m.k, SUM(f.v) AS t FROM fact f JOIN mid m \
         ON f.g = m.s GROUP BY m.k) x ON d.k = x.k WHERE d.b = 'x';",
        sizes(100_000),
        true,
    );
    assert_reduced(
        "SELECT d.k, a.s FROM dim d LEFT JOIN (SELECT k, SUM(v) AS s FROM fact GROUP BY k) a \
         ON d.k = a.k WHERE d.b = 'x';",
        sizes(100_000),
        true,
    );
}

#[test]
fn without_statistics_or_a_filter_or_a_big_enough_gain_the_plan_is_kept() {
    assert_reduced(CORRELATED_AVG, Arc::new(NoStatistics), false);
    // every key of dim: nothing to filter
    assert_reduced(
        "SELECT d.k, a.s FROM dim d JOIN (SELECT k, SUM(v) AS s FROM fact GROUP BY k) a ON d.k = a.k;",
        sizes(100_000),
        false,
    );
    // a filtered side of 9M rows is estimated at 1.8M: not 8 times smaller than 10M
    assert_reduced(CORRELATED_AVG, sizes(9_000_000), false);
    // a key source that may give other rows when run again is not copied; below a LIMIT, its
    // input (all the rows it picks from) serves
    for (source, reduced) in [
        (
            "(SELECT * FROM dim WHERE RANDOM() < 0.5 AND b = 'x')",
            false,
        ),
        ("(SELECT * FROM dim WHERE b = 'x' LIMIT 10)", true),
    ] {
        let g = compile(
            &format!(
                "SELECT d.k, a.s FROM {source} d JOIN (SELECT k, SUM(v) AS s FROM fact GROUP BY k) a ON d.k = a.k;"
            ),
            sizes(100_000),
        );
        assert_eq!(
            scans(&g, "dim"),
            1 + usize::from(reduced),
            "{source}\n{}",
            displays(&g)
        );
    }
}

#[test]
fn joins_that_keep_unmatched_aggregate_rows_are_not_reduced() {
    // the aggregate is the preserved side of a LEFT join, or one side of a FULL join
    for join in ["LEFT", "FULL"] {
        assert_reduced(
            &format!(
                "SELECT a.k, a.s, d.a FROM (SELECT k, SUM(v) AS s FROM fact GROUP BY k) a {join} JOIN \
                 (SELECT k, a FROM dim WHERE b = 'x') d ON a.k = d.k;"
            ),
            sizes(100_000),
            false,
        );
    }
    // NOT IN: a NULL key among the aggregate's rows empties the answer, so all must stay
    assert_reduced(
        "SELECT d.k FROM dim d WHERE d.b = 'x' AND d.k NOT IN \
         (SELECT k FROM fact GROUP BY k HAVING SUM(v) > 10);",
        sizes(100_000),
        false,
    );
    // ROLLUP's total row has a NULL key and sums every key
    assert_reduced(
        "SELECT d.k, r.s FROM dim d JOIN (SELECT k, SUM(v) AS s FROM fact GROUP BY ROLLUP (k)) r \
         ON d.k = r.k WHERE d.b = 'x';",
        sizes(100_000),
        false,
    );
}
