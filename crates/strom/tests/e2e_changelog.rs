//! Updating results: a non-windowed GROUP BY in streaming mode emits a changelog (+I, -U, +U)
//! that `print` shows row by row, as Flink does. Inputs are tiny and the sequences are checked
//! by hand.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::*;

/// k, v in arrival order.
const INPUT: &str = "a,1\nb,2\na,3\na,3\nc,5\nb,1\n";

fn run_sql(tag: &str, query: &str) -> Output {
    let dir = TempDir::new(tag);
    let input = dir.join("in.csv");
    write_text(&input, INPUT);
    let sql = dir.join("q.sql");
    write_text(
        &sql,
        &format!(
            "CREATE TABLE t (k STRING, v BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n{query}\n",
            input.display()
        ),
    );
    run(strom().args(["sql", "-f", sql.to_str().unwrap()]))
}

/// The printed rows, without the `n> ` of the subtask that printed them (parallel sinks).
fn printed(out: &Output) -> Vec<String> {
    out.stdout
        .lines()
        .map(|l| {
            let l = l.trim_start_matches("\u{1b}[K").trim();
            match l.split_once("> ") {
                Some((n, row)) if n.chars().all(|c| c.is_ascii_digit()) => row.to_string(),
                _ => l.to_string(),
            }
        })
        .filter(|l| l.starts_with(['+', '-']))
        .collect()
}

#[test]
fn an_updating_group_by_prints_the_exact_changelog() {
    let out = run_sql(
        "changelog-print",
        "SELECT k, COUNT(*) AS c, MAX(v) AS m FROM t GROUP BY k;",
    );
    out.assert_success();
    // per row: the first row of a group is +I, each later one retracts the old result (-U)
    // and adds the new one (+U); 'a,3' a second time changes COUNT but not MAX
    assert_eq!(
        printed(&out),
        [
            "+I[a, 1, 1]",
            "+I[b, 1, 2]",
            "-U[a, 1, 1]",
            "+U[a, 2, 3]",
            "-U[a, 2, 3]",
            "+U[a, 3, 3]",
            "+I[c, 1, 5]",
            "-U[b, 1, 2]",
            "+U[b, 2, 2]",
        ],
        "{}",
        out.describe()
    );
}

#[test]
fn an_unchanged_result_emits_nothing() {
    // the second 'a,3' leaves MAX(v) of 'a' at 3: no -U/+U pair for it
    let out = run_sql("changelog-same", "SELECT k, MAX(v) AS m FROM t GROUP BY k;");
    out.assert_success();
    assert_eq!(
        printed(&out),
        ["+I[a, 1]", "+I[b, 2]", "-U[a, 1]", "+U[a, 3]", "+I[c, 5]",],
        "{}",
        out.describe()
    );
}

#[test]
fn a_filter_over_a_changelog_keeps_the_row_kinds() {
    let out = run_sql(
        "changelog-having",
        "SELECT k, COUNT(*) AS c FROM t GROUP BY k HAVING SUM(v) > 2;",
    );
    out.assert_success();
    // rows whose SUM is at most 2 are filtered, whatever their kind (as Flink's Calc does)
    assert_eq!(
        printed(&out),
        ["+U[a, 2]", "-U[a, 2]", "+U[a, 3]", "+I[c, 1]", "+U[b, 2]"],
        "{}",
        out.describe()
    );
}

#[test]
fn mini_batch_folds_the_changes_of_a_batch() {
    let out = run_sql(
        "changelog-minibatch",
        "SET 'table.exec.mini-batch.enabled' = 'true';\nSELECT k, COUNT(*) AS c, SUM(v) AS s FROM t GROUP BY k;",
    );
    out.assert_success();
    // the six rows arrive in one batch: one +I per group with its final result
    let mut rows = printed(&out);
    rows.sort();
    assert_eq!(rows, ["+I[a, 3, 7]", "+I[b, 2, 3]", "+I[c, 1, 5]"]);
}

#[test]
fn an_append_only_sink_refuses_updates_with_a_clear_error() {
    let dir = TempDir::new("changelog-refused");
    let out_dir = dir.join("out");
    let out = run_sql(
        "changelog-refused-run",
        &format!(
            "CREATE TABLE o (k STRING, c BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\nINSERT INTO o SELECT k, COUNT(*) AS c FROM t GROUP BY k;",
            out_dir.display()
        ),
    );
    assert_ne!(out.code, Some(0), "{}", out.describe());
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("doesn't support consuming update changes") && all.contains("upsert-kafka"),
        "{}",
        out.describe()
    );
    // batch mode: the same query writes final results
    let out = run_sql(
        "changelog-batch",
        &format!(
            "SET 'execution.runtime-mode' = 'batch';\nCREATE TABLE o (k STRING, c BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\nINSERT INTO o SELECT k, COUNT(*) AS c FROM t GROUP BY k;",
            out_dir.display()
        ),
    );
    out.assert_success();
    let mut rows = read_sink_rows(&out_dir);
    rows.sort();
    assert_eq!(rows, ["a,3", "b,2", "c,1"]);
}

#[test]
fn first_and_last_values_follow_the_arrival_order() {
    let out = run_sql(
        "changelog-first-last",
        "SELECT k, FIRST_VALUE(v) AS f, LAST_VALUE(v) AS l FROM t GROUP BY k;",
    );
    out.assert_success();
    // the second 'a,3' changes neither the first nor the last value of 'a'
    assert_eq!(
        printed(&out),
        [
            "+I[a, 1, 1]",
            "+I[b, 2, 2]",
            "-U[a, 1, 1]",
            "+U[a, 1, 3]",
            "+I[c, 5, 5]",
            "-U[b, 2, 2]",
            "+U[b, 2, 1]",
        ],
        "{}",
        out.describe()
    );
}

#[test]
fn listagg_joins_the_values_in_arrival_order() {
    let out = run_sql(
        "changelog-listagg",
        "SELECT k, LISTAGG(CAST(v AS STRING), '-') AS l FROM t GROUP BY k;",
    );
    out.assert_success();
    assert_eq!(
        printed(&out),
        [
            "+I[a, 1]",
            "+I[b, 2]",
            "-U[a, 1]",
            "+U[a, 1-3]",
            "-U[a, 1-3]",
            "+U[a, 1-3-3]",
            "+I[c, 5]",
            "-U[b, 2]",
            "+U[b, 2-1]",
        ],
        "{}",
        out.describe()
    );
}

/// The final table of a printed changelog: +I/+U rows added, -U/-D rows taken away.
fn final_table(out: &Output) -> Vec<String> {
    let mut table: Vec<String> = Vec::new();
    for row in printed(out) {
        let (kind, values) = row.split_at(2);
        if kind == "+I" || kind == "+U" {
            table.push(values.to_string());
        } else if let Some(p) = table.iter().position(|r| r == values) {
            table.remove(p);
        } else {
            panic!("{row} retracts a row that is not there\n{}", out.describe());
        }
    }
    table.sort();
    table
}

/// Order-keeping aggregates over an updating input (a GROUP BY of a GROUP BY): each retraction
/// takes its value out of the list. Counts per key: a 3, b 2, c 1; on the way a was counted 1
/// and 2, b 1, so the lists of c = 1 and c = 2 gained and lost values.
#[test]
fn arrival_order_aggregates_over_a_changelog() {
    let out = run_sql(
        "changelog-array-agg",
        "SELECT c, ARRAY_AGG(k) AS ks, LISTAGG(k) AS l, FIRST_VALUE(k) AS f, LAST_VALUE(k) AS z, \
         COUNT(*) AS n FROM (SELECT k, COUNT(*) AS c FROM t GROUP BY k) GROUP BY c;",
    );
    out.assert_success();
    assert_eq!(
        final_table(&out),
        [
            "[1, [c], c, c, c, 1]",
            "[2, [b], b, b, b, 1]",
            "[3, [a], a, a, a, 1]"
        ],
        "{}",
        out.describe()
    );
    // the list of c = 1 was [a, b] before a moved on: its -U shows both in arrival order
    assert!(
        printed(&out).contains(&"-U[1, [a, b], a,b, a, b, 2]".to_string()),
        "{}",
        out.describe()
    );
}

/// DataFusion's other aggregate functions over an updating input: a retraction changes BOOL_AND,
/// BIT_XOR and MEDIAN back.
#[test]
fn datafusions_aggregates_over_a_changelog() {
    let out = run_sql(
        "changelog-df-aggregates",
        "SELECT BOOL_AND(s > 2) AS all_big, BIT_XOR(s) AS x, MEDIAN(s) AS m, \
         NTH_VALUE(k, 2) AS second FROM (SELECT k, SUM(v) AS s FROM t GROUP BY k);",
    );
    out.assert_success();
    // sums: a 7, b 3, c 5 (arrival of the keys' last updates: a, c, b); MEDIAN is a DOUBLE
    assert_eq!(
        final_table(&out),
        ["[true, 1, 5.0, c]"],
        "{}",
        out.describe()
    );
}

/// JSON_OBJECTAGG (keys sorted) and JSON_ARRAYAGG (arrival order) over an updating input:
/// a retracted sum leaves the object and the array.
#[test]
fn json_aggregates_over_a_changelog() {
    let out = run_sql(
        "changelog-json-aggregates",
        "SELECT JSON_OBJECTAGG(KEY k VALUE s) AS o, JSON_ARRAYAGG(s) AS a, \
         JSON_ARRAYAGG(CASE WHEN s > 3 THEN k END NULL ON NULL) AS n \
         FROM (SELECT k, SUM(v) AS s FROM t GROUP BY k);",
    );
    out.assert_success();
    // sums: a 7, b 3, c 5 (arrival of the keys' last updates: a, c, b)
    assert_eq!(
        final_table(&out),
        [r#"[{"a":7,"b":3,"c":5}, [7,5,3], ["a","c",null]]"#],
        "{}",
        out.describe()
    );
}

/// ARRAY_AGG keeps NULL elements (printed `null`, as Flink) unless IGNORE NULLS.
#[test]
fn array_agg_keeps_nulls_unless_ignored() {
    let out = run_sql(
        "changelog-array-agg-nulls",
        "SELECT k, ARRAY_AGG(CASE WHEN v > 1 THEN v END) AS a, \
         ARRAY_AGG(CASE WHEN v > 1 THEN v END IGNORE NULLS) AS b FROM t GROUP BY k;",
    );
    out.assert_success();
    assert_eq!(
        final_table(&out),
        [
            "[a, [null, 3, 3], [3, 3]]",
            "[b, [2, null], [2]]",
            "[c, [5], [5]]"
        ],
        "{}",
        out.describe()
    );
}

/// COLLECT, Flink's MULTISET (a map from each value to its count, printed as Flink prints it),
/// over the rows and over an updating input, where a retraction takes a value out again.
/// Per k the values: a 1, 3, 3; b 2, 1; c 5. Counts per key: a 3, b 2, c 1.
#[test]
fn collect_counts_values_and_takes_retracted_ones_back() {
    for p in [1, 2] {
        let out = run_sql(
            "changelog-collect",
            &format!(
                "SET 'parallelism.default' = '{p}';\n\
                 SELECT k, COLLECT(v) AS m, COLLECT(CASE WHEN v > 1 THEN k END) AS big \
                 FROM t GROUP BY k;"
            ),
        );
        out.assert_success();
        assert_eq!(
            final_table(&out),
            [
                "[a, {1=1, 3=2}, {a=2}]",
                "[b, {1=1, 2=1}, {b=1}]",
                "[c, {5=1}, {c=1}]"
            ],
            "p={p}\n{}",
            out.describe()
        );
    }
    let out = run_sql(
        "changelog-collect-retract",
        "SELECT c, COLLECT(k) AS ks FROM (SELECT k, COUNT(*) AS c FROM t GROUP BY k) GROUP BY c;",
    );
    out.assert_success();
    assert_eq!(
        final_table(&out),
        ["[1, {c=1}]", "[2, {b=1}]", "[3, {a=1}]"],
        "{}",
        out.describe()
    );
    // the multiset of c = 1 held a and b before a moved on to 2
    assert!(
        printed(&out).contains(&"-U[1, {a=1, b=1}]".to_string()),
        "{}",
        out.describe()
    );
    // into a table with a MULTISET column
    let out = run_sql(
        "changelog-collect-multiset",
        "CREATE TABLE p (k STRING, m MULTISET<BIGINT>) WITH ('connector' = 'print');\n\
         INSERT INTO p SELECT k, COLLECT(v) FROM t GROUP BY k;",
    );
    out.assert_success();
    assert_eq!(
        final_table(&out),
        ["[a, {1=1, 3=2}]", "[b, {1=1, 2=1}]", "[c, {5=1}]"],
        "{}",
        out.describe()
    );
}
