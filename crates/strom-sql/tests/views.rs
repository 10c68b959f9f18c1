//! Views: declared, used by later statements and other views in both modes, dropped; every
//! mistake is a SQL error at the statement that makes it.
#![allow(clippy::unwrap_used)] // a test may unwrap

use strom_common::Configuration;
use strom_plan::OperatorSpec;
use strom_sql::compile_script;

const TABLE: &str = "CREATE TABLE t (a BIGINT, b STRING) WITH ('connector' = 'filesystem', 'path' = '/tmp/t.csv', 'format' = 'csv');\n";

fn compile(sql: &str) -> Result<strom_sql::CompiledScript, String> {
    compile_script(&format!("{TABLE}{sql}"), &Configuration::new()).map_err(|e| e.to_string())
}

#[test]
fn a_view_is_planned_where_it_is_used_in_both_modes() {
    for mode in ["streaming", "batch"] {
        let c = compile(&format!(
            "SET 'execution.runtime-mode' = '{mode}';
             CREATE TEMPORARY VIEW v (x, y) AS SELECT a + 1, b FROM t WHERE a > 0;
             CREATE VIEW w AS SELECT x FROM v WHERE y <> 'z';
             SELECT x * 2 FROM w;"
        ))
        .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let g = &c.jobs[0];
        g.validate().unwrap();
        let reads_t = g
            .vertices
            .iter()
            .flat_map(|v| &v.operators)
            .any(|o| match o {
                OperatorSpec::Source(s) => s.table.name == "t",
                OperatorSpec::Stage(s) => s.tables.iter().any(|t| t.name == "t"),
                _ => false,
            });
        assert!(reads_t, "{mode}: the view's table is not read");
    }
}

#[test]
fn view_mistakes_are_sql_errors_with_their_position() {
    let e = compile("CREATE VIEW v AS SELECT nope FROM t;").unwrap_err();
    assert!(e.contains("nope") && e.contains("line 2"), "{e}");
    let e = compile("CREATE VIEW v (x) AS SELECT a, b FROM t;").unwrap_err();
    assert!(e.contains("names 1 columns but its query has 2"), "{e}");
    let e = compile("CREATE VIEW t AS SELECT 1;").unwrap_err();
    assert!(e.contains("already exists"), "{e}");
    compile("CREATE VIEW IF NOT EXISTS t AS SELECT 1;").unwrap();
    let e = compile("DROP VIEW v;").unwrap_err();
    assert!(
        e.contains("does not exist") && e.contains("IF EXISTS"),
        "{e}"
    );
    compile("DROP VIEW IF EXISTS v;").unwrap();
    let e = compile("CREATE VIEW v AS SELECT a FROM t; DROP VIEW v; SELECT * FROM v;").unwrap_err();
    assert!(e.contains("unknown table 'v'"), "{e}");
    let e = compile("CREATE MATERIALIZED VIEW v AS SELECT a FROM t;").unwrap_err();
    assert!(e.contains("plain views"), "{e}");
}

/// `CREATE FUNCTION name AS 'java.Class'` binds a name to the native function of a Java class
/// Strom implements (in a query and in a view); another class, another language or a second
/// binding of a name is a SQL error at the statement.
#[test]
fn create_function_binds_java_classes_strom_implements() {
    let c = compile(
        "CREATE TEMPORARY SYSTEM FUNCTION cc AS 'com.github.nexmark.flink.udf.CountChar' LANGUAGE JAVA;
         CREATE VIEW v AS SELECT cc(b, 'x') AS n FROM t;
         SELECT n, CC(b, 'y') FROM v, t;",
    )
    .unwrap();
    let text = serde_json::to_string(&c.jobs[0]).unwrap();
    assert!(text.contains("count_char"), "{text}");
    for (sql, message) in [
        (
            "CREATE FUNCTION f AS 'com.example.Upper';",
            "the Java functions it implements natively are com.github.nexmark.flink.udf.CountChar",
        ),
        (
            "CREATE FUNCTION f AS 'udfs.upper' LANGUAGE PYTHON;",
            "runs no PYTHON",
        ),
        (
            "CREATE FUNCTION f AS 'com.github.nexmark.flink.udf.CountChar';
             CREATE FUNCTION f AS 'com.github.nexmark.flink.udf.CountChar';",
            "function 'f' already exists",
        ),
    ] {
        let e = compile(sql).unwrap_err();
        assert!(e.contains(message), "{sql}: {e}");
    }
}
