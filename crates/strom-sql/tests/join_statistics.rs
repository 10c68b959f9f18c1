//! Batch joins sized by what the connectors know of the tables: the smaller side of a hash
//! join becomes its build side whichever side of the SQL it is written on, and a small side is
//! broadcast instead of shuffling both; with nothing known the join keeps the order of the SQL.
#![allow(clippy::unwrap_used)] // a test may unwrap

use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, Statistics};
use std::sync::Arc;
use strom_common::Configuration;
use strom_plan::table::{NoStatistics, TableSpec, TableStatisticsSource};
use strom_plan::{JobGraph, OperatorSpec, ShipStrategy};
use strom_sql::compile_script_with_statistics;

/// Rows per table name; 8 bytes a value.
#[derive(Debug)]
struct Rows(&'static [(&'static str, usize)]);

impl TableStatisticsSource for Rows {
    fn statistics(&self, table: &TableSpec) -> Option<Statistics> {
        let rows = self.0.iter().find(|(n, _)| *n == table.name)?.1;
        let column = ColumnStatistics {
            byte_size: Precision::Inexact(rows * 8),
            ..ColumnStatistics::new_unknown()
        };
        Some(Statistics {
            num_rows: Precision::Inexact(rows),
            total_byte_size: Precision::Inexact(rows * 8 * table.schema.len()),
            column_statistics: vec![column; table.schema.len()],
        })
    }
}

fn compile(from: &str, statistics: Arc<dyn TableStatisticsSource>) -> JobGraph {
    let mut sql =
        String::from("SET 'execution.runtime-mode' = 'batch';\nSET 'parallelism.default' = '2';\n");
    for t in ["big", "small"] {
        sql.push_str(&format!(
            "CREATE TABLE {t} (k BIGINT, v BIGINT) WITH ('connector' = 'filesystem', 'path' = '/tmp/{t}', 'format' = 'parquet');\n"
        ));
    }
    sql.push_str(&format!("SELECT a.v, b.v FROM {from} ON a.k = b.k;"));
    let mut c = compile_script_with_statistics(&sql, &Configuration::new(), statistics).unwrap();
    c.jobs.remove(0)
}

/// The table read by the stage feeding input `input` of the join, and how it is shipped.
fn join_input(g: &JobGraph, input: u32) -> (String, ShipStrategy) {
    let reads = |id| {
        let v = g.vertices.iter().find(|v| v.id == id).unwrap();
        match &v.operators[0] {
            OperatorSpec::Stage(s) => s.tables.iter().map(|t| t.name.clone()).collect(),
            _ => Vec::new(),
        }
    };
    let join = g
        .vertices
        .iter()
        .find(|v| v.name.contains("HashJoin"))
        .unwrap_or_else(|| panic!("no hash join: {g:#?}"));
    let e = g
        .edges
        .iter()
        .find(|e| e.target == join.id && e.input_index == input)
        .unwrap_or_else(|| panic!("join input {input}: {g:#?}"));
    let tables: Vec<String> = reads(e.source);
    assert_eq!(tables.len(), 1, "{g:#?}");
    (tables[0].clone(), e.ship_strategy.clone())
}

#[test]
fn the_smaller_side_builds_and_a_small_side_is_broadcast() {
    let sizes = Arc::new(Rows(&[("big", 10_000_000), ("small", 2_000_000)]));
    for from in ["big a JOIN small b", "small b JOIN big a"] {
        let g = compile(from, sizes.clone());
        let (build, ship) = join_input(&g, 0);
        assert_eq!(build, "small", "{from}");
        assert!(
            matches!(ship, ShipStrategy::Hash { .. }),
            "{from}: {ship:?}"
        );
        assert_eq!(join_input(&g, 1).0, "big", "{from}");
    }
    let tiny = Arc::new(Rows(&[("big", 10_000_000), ("small", 100)]));
    for from in ["big a JOIN small b", "small b JOIN big a"] {
        let g = compile(from, tiny.clone());
        assert_eq!(
            join_input(&g, 0),
            ("small".into(), ShipStrategy::Broadcast),
            "{from}"
        );
    }
}

#[test]
fn unknown_sizes_keep_the_order_of_the_sql() {
    let g = compile("big a JOIN small b", Arc::new(NoStatistics));
    let (build, ship) = join_input(&g, 0);
    assert_eq!(build, "big");
    assert!(matches!(ship, ShipStrategy::Hash { .. }), "{ship:?}");
}
