//! Flink's SinkUpsertMaterializer: where the planner puts one in front of a sink with a
//! PRIMARY KEY (an updating result whose upsert keys are not the table's key), where it does
//! not, `table.exec.sink.upsert-materialize`, and `sink.parallelism` over a changelog.
#![allow(clippy::unwrap_used)] // a test may unwrap

use strom_common::Configuration;
use strom_plan::{JobGraph, OperatorSpec, ShipStrategy};
use strom_sql::compile_script;

const TABLES: &str = "CREATE TABLE t (a BIGINT, b STRING, c BIGINT) WITH ('connector' = 'datagen');
CREATE TABLE u (id BIGINT, name STRING) WITH ('connector' = 'datagen');\n";

fn compile(sql: &str) -> Result<JobGraph, String> {
    let mut c = compile_script(&format!("{TABLES}{sql}"), &Configuration::new())
        .map_err(|e| e.to_string())?;
    let g = c.jobs.pop().unwrap();
    g.validate().unwrap();
    Ok(g)
}

fn sink(columns: &str, key: &str, extra: &str) -> String {
    let key = if key.is_empty() {
        String::new()
    } else {
        format!(", PRIMARY KEY ({key}) NOT ENFORCED")
    };
    format!("CREATE TABLE s ({columns}{key}) WITH ('connector' = 'blackhole'{extra});\n")
}

/// The SinkMaterializer's key (as column names) and the strategy its input is shipped by.
fn materializer(g: &JobGraph) -> Option<(Vec<String>, ShipStrategy)> {
    g.vertices.iter().find_map(|v| {
        v.operators.iter().find_map(|o| match o {
            OperatorSpec::UpsertMaterialize(m) => {
                let key = m
                    .key
                    .iter()
                    .map(|k| m.output.columns[*k].name.clone())
                    .collect();
                let edge = g.edges.iter().find(|e| e.target == v.id).unwrap();
                Some((key, edge.ship_strategy.clone()))
            }
            _ => None,
        })
    })
}

fn key_of(g: &JobGraph) -> Option<Vec<String>> {
    materializer(g).map(|(k, _)| k)
}

#[test]
fn an_updating_result_keyed_otherwise_than_the_table_is_materialized() {
    let agg = "SELECT a, COUNT(*) AS n FROM t GROUP BY a";
    // the aggregate's group is the table's key: no materializer
    let g = compile(&format!(
        "{}INSERT INTO s {agg};",
        sink("k BIGINT, n BIGINT", "k", "")
    ))
    .unwrap();
    assert_eq!(key_of(&g), None);
    // ... also through a Calc that reorders and renames
    let g = compile(&format!(
        "{}INSERT INTO s SELECT n, a FROM ({agg});",
        sink("n BIGINT, k BIGINT", "k", "")
    ))
    .unwrap();
    assert_eq!(key_of(&g), None);
    // a key with the count in it, or the count alone: materialized, hashed on the table's key
    let g = compile(&format!(
        "SET 'parallelism.default' = '2';\n{}INSERT INTO s {agg};",
        sink("k BIGINT, n BIGINT", "k, n", "")
    ))
    .unwrap();
    let (key, ship) = materializer(&g).unwrap();
    assert_eq!(key, ["k", "n"]);
    assert!(
        matches!(&ship, ShipStrategy::Hash { keys } if keys == &[0, 1]),
        "{ship:?}"
    );
    let g = compile(&format!(
        "{}INSERT INTO s {agg};",
        sink("k BIGINT, n BIGINT", "n", "")
    ))
    .unwrap();
    assert_eq!(key_of(&g).unwrap(), ["n"]);
    // a Calc that drops a key column loses the key
    let g = compile(&format!(
        "{}INSERT INTO s SELECT n, n + 1 FROM (SELECT a, b, COUNT(*) AS n FROM t GROUP BY a, b);",
        sink("k BIGINT, m BIGINT", "k", "")
    ))
    .unwrap();
    assert_eq!(key_of(&g).unwrap(), ["k"]);
    // a regular join has no upsert key here
    let g = compile(&format!(
        "{}INSERT INTO s SELECT t.a, u.name FROM t LEFT JOIN u ON t.a = u.id;",
        sink("k BIGINT, name STRING", "k", "")
    ))
    .unwrap();
    assert_eq!(key_of(&g).unwrap(), ["k"]);
    // an append-only result, or a table without a key: none
    let g = compile(&format!(
        "{}INSERT INTO s SELECT a, c FROM t;",
        sink("k BIGINT, n BIGINT", "k", "")
    ))
    .unwrap();
    assert_eq!(key_of(&g), None);
    let g = compile(&format!(
        "{}INSERT INTO s {agg};",
        sink("k BIGINT, n BIGINT", "", "")
    ))
    .unwrap();
    assert_eq!(key_of(&g), None);
}

#[test]
fn a_top_n_by_row_number_is_keyed_by_its_partition_and_rank() {
    let top = |n: u32, rank: &str| {
        format!(
            "SELECT b, a{rank} FROM (SELECT b, a, ROW_NUMBER() OVER (PARTITION BY b ORDER BY a DESC) AS rn FROM t) WHERE rn <= {n}"
        )
    };
    let g = compile(&format!(
        "{}INSERT INTO s {};",
        sink("b STRING, a BIGINT, rn BIGINT", "b, rn", ""),
        top(3, ", rn")
    ))
    .unwrap();
    assert_eq!(key_of(&g), None);
    // the first row per partition: the partition alone is a key
    let g = compile(&format!(
        "{}INSERT INTO s {};",
        sink("b STRING, a BIGINT", "b", ""),
        top(1, "")
    ))
    .unwrap();
    assert_eq!(key_of(&g), None);
    let g = compile(&format!(
        "{}INSERT INTO s {};",
        sink("b STRING, a BIGINT", "b", ""),
        top(3, "")
    ))
    .unwrap();
    assert_eq!(key_of(&g).unwrap(), ["b"]);
}

#[test]
fn the_option_turns_it_off_or_on_everywhere() {
    let agg = "INSERT INTO s SELECT a, COUNT(*) FROM t GROUP BY a;";
    let set = |v: &str| format!("SET 'table.exec.sink.upsert-materialize' = '{v}';\n");
    let g = compile(&format!(
        "{}{}{agg}",
        set("FORCE"),
        sink("k BIGINT, n BIGINT", "k", "")
    ))
    .unwrap();
    assert_eq!(key_of(&g).unwrap(), ["k"]);
    let g = compile(&format!(
        "{}{}{agg}",
        set("none"),
        sink("k BIGINT, n BIGINT", "n", "")
    ))
    .unwrap();
    assert_eq!(key_of(&g), None);
    let err = compile(&format!(
        "{}{}{agg}",
        set("sometimes"),
        sink("k BIGINT, n BIGINT", "n", "")
    ))
    .unwrap_err();
    assert!(err.contains("table.exec.sink.upsert-materialize"), "{err}");
}

#[test]
fn a_changelog_into_a_sink_of_its_own_parallelism_is_hashed_by_the_key() {
    let agg = "INSERT INTO s SELECT a, COUNT(*) FROM t GROUP BY a;";
    let par = ", 'sink.parallelism' = '3'";
    let g = compile(&format!("{}{agg}", sink("k BIGINT, n BIGINT", "k", par))).unwrap();
    let sink_vertex = g
        .vertices
        .iter()
        .find(|v| {
            v.operators
                .iter()
                .any(|o| matches!(o, OperatorSpec::Sink(_)))
        })
        .unwrap();
    assert_eq!(sink_vertex.parallelism, 3);
    let edge = g.edges.iter().find(|e| e.target == sink_vertex.id).unwrap();
    assert!(
        matches!(&edge.ship_strategy, ShipStrategy::Hash { keys } if keys == &[0]),
        "{edge:?}"
    );
    // without a key the changes of one row could overtake each other: refused, as Flink does
    let err = compile(&format!("{}{agg}", sink("k BIGINT, n BIGINT", "", par))).unwrap_err();
    assert!(
        err.contains("parallelism 3") && err.contains("primary key"),
        "{err}"
    );
    // a materializer runs at the sink's parallelism and feeds it directly
    let g = compile(&format!("{}{agg}", sink("k BIGINT, n BIGINT", "n", par))).unwrap();
    let m = g
        .vertices
        .iter()
        .find(|v| {
            v.operators
                .iter()
                .any(|o| matches!(o, OperatorSpec::UpsertMaterialize(_)))
        })
        .unwrap();
    assert_eq!(m.parallelism, 3);
    let edge = g.edges.iter().find(|e| e.source == m.id).unwrap();
    let target = g.vertices.iter().find(|v| v.id == edge.target).unwrap();
    assert!(matches!(target.operators[0], OperatorSpec::Sink(_)));
    assert_eq!(edge.ship_strategy, ShipStrategy::Forward);
}
