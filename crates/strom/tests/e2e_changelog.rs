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

fn printed(out: &Output) -> Vec<String> {
    out.stdout
        .lines()
        .map(|l| l.trim_start_matches("\u{1b}[K").trim().to_string())
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
