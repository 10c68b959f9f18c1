//! TPC-H's 22 queries (`bench/tpch/queries`, the tables of `bench/tpch/schema.sql`) at scale
//! factor 0.1 in batch mode, each answer compared with DuckDB's on the same files (through
//! `tests/tpch/tpch.py`): rows as a multiset, numbers within 1e-6, and the order of a query
//! with ORDER BY. From CSV and from Parquet files (row groups of about 1 MB, so that
//! the larger tables have many splits; the Parquet runs also write Parquet, which DuckDB reads), embedded at parallelism 1, 2 and 4, and on a JobManager
//! with two TaskManager processes. Also SQL shapes TPC-H does not use (set operations, window
//! functions, grouping sets, outer and non-equi joins, ORDER BY with OFFSET, views) on its
//! tables. The
//! data comes from `tpchgen-cli` (PyPI), once per target dir.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::processes::*;
use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

const QUERIES: u32 = 22;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn oracle() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tpch/tpch.py")
}

fn query(q: u32) -> PathBuf {
    repo().join(format!("bench/tpch/queries/q{q}.sql"))
}

fn tpch_queries() -> Vec<(String, PathBuf)> {
    (1..=QUERIES).map(|q| (format!("q{q}"), query(q))).collect()
}

/// The files the tables are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Data {
    Csv,
    Parquet,
}

impl Data {
    fn format(self) -> &'static str {
        match self {
            Data::Csv => "csv",
            Data::Parquet => "parquet",
        }
    }
}

/// The TPC-H tables at scale factor 0.1 as CSV files without a header line.
fn tpch_data() -> PathBuf {
    data_dir(Data::Csv)
}

/// The TPC-H tables at scale factor 0.1 in `data`'s format, generated once into cargo's target
/// tmp dir (under a temporary name, then renamed: concurrent test processes never see a partial
/// directory).
fn data_dir(data: Data) -> PathBuf {
    static DIRS: [OnceLock<PathBuf>; 2] = [OnceLock::new(), OnceLock::new()];
    DIRS[data as usize]
        .get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("strom-e2e");
            let dir = root.join(format!("tpch-sf0.1-{}", data.format()));
            if dir.is_dir() {
                return dir;
            }
            let tmp = root.join(format!(
                ".tpch-{}-{}.tmp",
                data.format(),
                std::process::id()
            ));
            let raw = tmp.join("raw");
            std::fs::create_dir_all(&raw).unwrap();
            let mut cmd = Command::new("tpchgen-cli");
            match data {
                Data::Csv => cmd.args(["csv", "-s", "0.1"]),
                Data::Parquet => cmd.args(["parquet", "-s", "0.1", "--row-group-bytes", "1MB"]),
            };
            let out = run(cmd.arg("--output-dir").arg(&raw));
            assert_eq!(
                out.code,
                Some(0),
                "tpchgen-cli failed (is it installed? scripts/test.sh installs it)\n{}",
                out.describe()
            );
            for e in std::fs::read_dir(&raw).unwrap().flatten() {
                if data == Data::Parquet {
                    std::fs::rename(e.path(), tmp.join(e.file_name())).unwrap();
                    continue;
                }
                let text = read_text(&e.path());
                let body = text.split_once('\n').map(|x| x.1).unwrap_or("");
                write_text(&tmp.join(e.file_name()), body);
            }
            std::fs::remove_dir_all(&raw).unwrap();
            if std::fs::rename(&tmp, &dir).is_err() {
                // another process was first
                let _ = std::fs::remove_dir_all(&tmp);
            }
            dir
        })
        .clone()
}

/// `bench/tpch/schema.sql` over the CSV data directory.
fn schema(tmp: &TempDir) -> PathBuf {
    schema_of(tmp, Data::Csv)
}

/// `bench/tpch/schema.sql` over the data directory of `data`.
fn schema_of(tmp: &TempDir, data: Data) -> PathBuf {
    let text = read_text(&repo().join("bench/tpch/schema.sql"))
        .replace("{dir}", &data_dir(data).display().to_string())
        .replace("{format}", data.format());
    let path = tmp.join(&format!("schema-{}.sql", data.format()));
    write_text(&path, &text);
    path
}

fn python(args: &[&Path]) -> common::Output {
    let mut cmd = Command::new("python3");
    cmd.arg(oracle()).args(args);
    run_with_timeout(&mut cmd, Duration::from_secs(300))
}

/// The INSERT of `query` into a CSV sink with DuckDB's result columns, writing to `{out}`.
fn insert_of(schema: &Path, query: &Path) -> String {
    let data = tpch_data();
    insert_over(schema, &data, query)
}

fn insert_over(schema: &Path, data: &Path, query: &Path) -> String {
    let out = python(&[Path::new("sink"), schema, data, query]);
    assert_eq!(
        out.code,
        Some(0),
        "tpch.py sink {}\n{}",
        query.display(),
        out.describe()
    );
    out.stdout
}

/// Runs the 22 queries with `strom sql <args>` at parallelism `p` and returns what went wrong,
/// one line per query.
fn run_all(label: &str, p: u32, extra: &[String]) -> Vec<String> {
    run_queries(&tpch_queries(), label, p, extra)
}

/// The 22 queries from `data`'s files, embedded at parallelism `p`.
fn run_all_from(data: Data, p: u32) -> Vec<String> {
    run_queries_from(&tpch_queries(), data, "embedded", p, &[])
}

/// Runs `queries` (name, file) and returns what went wrong, one line per query.
fn run_queries(
    queries: &[(String, PathBuf)],
    label: &str,
    p: u32,
    extra: &[String],
) -> Vec<String> {
    run_queries_from(queries, Data::Csv, label, p, extra)
}

fn run_queries_from(
    queries: &[(String, PathBuf)],
    data: Data,
    label: &str,
    p: u32,
    extra: &[String],
) -> Vec<String> {
    let tmp = TempDir::new("tpch");
    let schema = schema_of(&tmp, data);
    let data_path = data_dir(data);
    let label = format!("{label}-{}", data.format());
    let mut failures = Vec::new();
    for (q, query) in queries {
        let out_dir = tmp.join(&format!("{q}-{label}"));
        let script = tmp.join(&format!("{q}.sql"));
        write_text(
            &script,
            &insert_over(&schema, &data_path, query)
                .replace("{out}", &out_dir.display().to_string())
                // the sink writes the format the tables are read from
                .replace(
                    "'format' = 'csv')",
                    &format!("'format' = '{}')", data.format()),
                ),
        );
        let mut cmd = strom();
        cmd.arg("sql")
            .args(extra)
            .arg("-f")
            .arg(&schema)
            .arg("-f")
            .arg(&script);
        cmd.args(["-p", &p.to_string(), "-D", "execution.runtime-mode=batch"]);
        let out = run_with_timeout(&mut cmd, Duration::from_secs(300));
        if out.code != Some(0) {
            failures.push(format!("{q} {label} p={p} failed:\n{}", out.describe()));
            continue;
        }
        let check = python(&[Path::new("check"), &schema, &data_path, query, &out_dir]);
        if check.code != Some(0) {
            failures.push(format!(
                "{q} {label} p={p}: {}{}",
                check.stdout,
                tail(&check.stderr, 2000)
            ));
        }
    }
    failures
}

fn assert_all_right(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} queries went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn tpch_embedded_at_parallelism_1() {
    assert_all_right(run_all("embedded", 1, &[]));
}

#[test]
fn tpch_embedded_at_parallelism_2() {
    assert_all_right(run_all("embedded", 2, &[]));
}

#[test]
fn tpch_embedded_at_parallelism_4() {
    assert_all_right(run_all("embedded", 4, &[]));
}

#[test]
fn tpch_from_parquet_embedded_at_parallelism_1() {
    assert_all_right(run_all_from(Data::Parquet, 1));
}

#[test]
fn tpch_from_parquet_embedded_at_parallelism_2() {
    assert_all_right(run_all_from(Data::Parquet, 2));
}

#[test]
fn tpch_from_parquet_embedded_at_parallelism_4() {
    assert_all_right(run_all_from(Data::Parquet, 4));
}

#[test]
fn tpch_on_a_jobmanager_and_two_taskmanager_processes() {
    tpch_data();
    let jm = JobManager::start(&[]);
    let (_tm1, _) = start_taskmanager("taskmanager-1", &jm, 2, &[]);
    let (_tm2, _) = start_taskmanager("taskmanager-2", &jm, 2, &[]);
    let failures = run_all("cluster", 4, &["--jobmanager".to_string(), jm.url()]);
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        tail(&jm.proc.describe(), 4000)
    );
}

/// Shapes of batch SQL beyond TPC-H, over its tables.
const SHAPES: &[(&str, &str)] = &[
    ("union_all", "select n_name as name, n_regionkey as k from nation union all select r_name, r_regionkey from region union all select s_name, s_nationkey from supplier where s_acctbal > 9000"),
    ("union_distinct", "select c_nationkey from customer union select s_nationkey from supplier"),
    ("intersect_except", "select o_custkey from orders where o_totalprice > 400000 intersect select c_custkey from customer where c_acctbal > 0 except select o_custkey from orders where o_orderpriority = '1-URGENT'"),
    ("distinct_order_offset", "select distinct c_mktsegment, c_nationkey from customer order by c_nationkey desc, c_mktsegment limit 20 offset 7"),
    // Flink's spellings (IF, YEAR, ..., REGEXP_EXTRACT), which DuckDB shares
    ("flink_functions", "select o_orderkey, if(o_totalprice > 100000, 'big', 'small') as size, year(o_orderdate) as y, quarter(o_orderdate) as q, month(o_orderdate) as m, dayofmonth(o_orderdate) as d, dayofyear(o_orderdate) as doy, regexp_extract(o_clerk, 'Clerk#0*([0-9]+)', 1) as clerk, regexp_extract(o_comment, '[a-z]+') as word from orders where o_orderkey < 3000 and if(o_orderstatus = 'F', hour(cast(o_orderdate as timestamp)) = 0, true)"),
    ("window_functions", "select o_custkey, o_orderkey, row_number() over (partition by o_custkey order by o_orderdate, o_orderkey) as rn, rank() over (partition by o_orderpriority order by o_totalprice desc) as rk, lag(o_totalprice) over (partition by o_custkey order by o_orderdate, o_orderkey) as prev, sum(o_totalprice) over (partition by o_custkey order by o_orderdate, o_orderkey rows between unbounded preceding and current row) as running from orders where o_custkey < 300"),
    ("rank_over_everything", "select n_name, rank() over (order by n_regionkey, n_name) as r from nation"),
    ("rollup_cube_grouping_sets", "select l_returnflag, l_linestatus, l_shipmode, count(*) as c, sum(l_quantity) as q from lineitem where l_orderkey < 20000 group by grouping sets ((l_returnflag, l_linestatus), (l_shipmode), ())"),
    ("cube_having", "select l_returnflag, l_linestatus, avg(l_discount) as d from lineitem group by cube (l_returnflag, l_linestatus) having count(*) > 1000"),
    ("full_outer_join", "select c_custkey, o_orderkey from (select c_custkey from customer where c_custkey < 200) c full outer join (select o_orderkey, o_custkey from orders where o_orderkey < 3000) o on c_custkey = o_custkey"),
    ("left_join_with_residual", "select p_partkey, ps_suppkey from part left join partsupp on p_partkey = ps_partkey and ps_availqty > 9900 where p_partkey < 500"),
    ("non_equi_join", "select n1.n_name as a, n2.n_name as b from nation n1 join nation n2 on n1.n_nationkey < n2.n_nationkey and n1.n_regionkey = n2.n_regionkey + 1"),
    ("not_in_and_scalar", "select c_custkey, (select count(*) from orders where o_custkey = c_custkey) as n from customer where c_nationkey not in (select n_nationkey from nation where n_name like 'A%') and c_custkey < 500"),
    ("views", "create temporary view big_orders (k, cust, price) as select o_orderkey, o_custkey, o_totalprice from orders where o_totalprice > 300000; create view per_customer as select c_name, count(*) as n, sum(price) as total from customer join big_orders on c_custkey = cust group by c_name; select * from per_customer where n > 1"),
    ("case_like_functions", "select upper(substr(p_name, 1, 5)) as pre, case when p_size > 25 then 'big' when p_size > 10 then 'mid' else 'small' end as sz, count(*) as c, max(length(p_comment)) as m from part where p_type like '%COPPER' group by 1, 2"),
];

/// Runs the named `queries` from `data`'s files at parallelism 1 and 3 and asserts DuckDB's
/// answers.
fn assert_named_queries_right(queries: &[(&str, &str)], data: Data) {
    let tmp = TempDir::new("named");
    let queries: Vec<(String, PathBuf)> = queries
        .iter()
        .map(|(name, sql)| {
            let path = tmp.join(&format!("{name}.sql"));
            write_text(&path, sql);
            (name.to_string(), path)
        })
        .collect();
    let mut failures = Vec::new();
    for p in [1, 3] {
        failures.extend(run_queries_from(&queries, data, "embedded", p, &[]));
    }
    assert_all_right(failures);
}

#[test]
fn batch_sql_shapes_beyond_tpch() {
    assert_named_queries_right(SHAPES, Data::Csv);
}

/// Grouped aggregates joined on their key, from Parquet (whose statistics let the planner
/// filter the aggregate's input by the other side's keys first, see strom-sql's
/// `semi_join_reduction`), in the join types and shapes where that is right and where it is
/// not: each answer is DuckDB's.
const REDUCIBLE: &[(&str, &str)] = &[
    ("left_join_aggregate_right", "select p_partkey, s from part left join (select l_partkey, sum(l_quantity) as s from lineitem group by l_partkey) a on p_partkey = l_partkey where p_size = 7 and p_brand = 'Brand#12'"),
    ("right_join_aggregate_left", "select l_partkey, q, p_partkey from (select l_partkey, avg(l_quantity) as q from lineitem group by l_partkey) a right join part on l_partkey = p_partkey where p_container = 'JUMBO PKG' and p_size = 40"),
    ("not_exists_aggregate", "select p_partkey from part where p_brand = 'Brand#44' and p_container = 'SM BOX' and not exists (select 1 from (select l_partkey, count(*) as c from lineitem group by l_partkey) x where x.l_partkey = p_partkey and c > 30)"),
    ("not_in_having", "select p_partkey from part where p_size = 3 and p_brand = 'Brand#44' and p_partkey not in (select l_partkey from lineitem group by l_partkey having sum(l_quantity) > 150)"),
    ("aggregate_over_a_join", "select p_partkey, t from part, (select ps_partkey, sum(ps_availqty * s_acctbal) as t from partsupp join supplier on ps_suppkey = s_suppkey group by ps_partkey) x where p_partkey = x.ps_partkey and p_size = 1 and p_type like '%TIN'"),
    ("two_key_aggregate", "select ps_partkey, ps_suppkey, ps_availqty, q from partsupp, part, (select l_partkey, l_suppkey, sum(l_quantity) as q from lineitem group by l_partkey, l_suppkey) x where ps_partkey = p_partkey and p_name like 'forest%' and x.l_partkey = ps_partkey and x.l_suppkey = ps_suppkey"),
    ("rollup_aggregate", "select p_partkey, q from part join (select l_partkey, sum(l_quantity) as q from lineitem group by rollup (l_partkey)) r on p_partkey = l_partkey where p_brand = 'Brand#23' and p_container = 'MED BOX'"),
];

#[test]
fn aggregates_filtered_by_the_other_sides_keys_keep_their_answers() {
    assert_named_queries_right(REDUCIBLE, Data::Parquet);
}

/// A sort and an aggregation over more data than the slot's managed memory (16 MiB for the
/// TaskManager, 8 MiB per slot): they spill and give DuckDB's answer; a hash join, whose build
/// side cannot spill, fails with what to do, and runs as a sort-merge join that spills once
/// hash joins are disabled (`table.exec.disabled-operators`).
#[test]
fn sorts_and_aggregations_spill_beyond_the_managed_memory() {
    let tmp = TempDir::new("spill");
    let schema = schema(&tmp);
    let data = tpch_data();
    let small = [
        "-D".to_string(),
        "taskmanager.memory.managed.size=16m".to_string(),
    ];
    for (name, sql) in [
        ("big_sort", "select l_orderkey, l_linenumber, l_comment from lineitem order by l_comment, l_orderkey, l_linenumber"),
        ("big_aggregate", "select l_orderkey, l_suppkey, count(*) as c, sum(l_quantity) as q, max(l_comment) as m from lineitem group by l_orderkey, l_suppkey"),
    ] {
        let query = tmp.join(&format!("{name}.sql"));
        write_text(&query, sql);
        let out_dir = tmp.join(name);
        let script = tmp.join(&format!("{name}-insert.sql"));
        write_text(
            &script,
            &insert_of(&schema, &query).replace("{out}", &out_dir.display().to_string()),
        );
        let mut cmd = strom();
        cmd.env("STROM_LOG", "info").arg("sql").args(small.clone());
        cmd.arg("-f").arg(&schema).arg("-f").arg(&script);
        cmd.args(["-p", "2", "-D", "execution.runtime-mode=batch"]);
        let out = run_with_timeout(&mut cmd, Duration::from_secs(300));
        assert_eq!(out.code, Some(0), "{name}\n{}", out.describe());
        assert!(
            out.stderr.contains("spilled"),
            "{name} did not spill\n{}",
            out.describe()
        );
        let check = python(&[Path::new("check"), &schema, &data, &query, &out_dir]);
        assert_eq!(check.code, Some(0), "{name}: {}{}", check.stdout, check.stderr);
    }
    // q18 joins lineitem with itself: the build side does not fit
    let script = tmp.join("q18-insert.sql");
    write_text(
        &script,
        &insert_of(&schema, &query(18)).replace("{out}", &tmp.join("q18").display().to_string()),
    );
    let mut cmd = strom();
    cmd.arg("sql")
        .args(small)
        .arg("-f")
        .arg(&schema)
        .arg("-f")
        .arg(&script);
    cmd.args(["-p", "2", "-D", "execution.runtime-mode=batch"]);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(300));
    assert_ne!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stderr
            .contains("raise 'taskmanager.memory.managed.size'"),
        "{}",
        out.describe()
    );
    // with Flink's switch to sort-merge joins, the same join spills and finishes; at 32 MiB,
    // where the hash join still fails (16 MiB leave a sort-merge join's sorters no room beside
    // what it cannot spill)
    for memory in ["32m", "64m"] {
        let mut cmd = strom();
        cmd.arg("sql")
            .args(["-D", &format!("taskmanager.memory.managed.size={memory}")]);
        cmd.arg("-f").arg(&schema).arg("-f").arg(&script);
        cmd.args(["-p", "2", "-D", "execution.runtime-mode=batch"]);
        let out = run_with_timeout(&mut cmd, Duration::from_secs(300));
        assert_eq!(
            out.code.is_some_and(|c| c != 0),
            memory == "32m",
            "{}",
            out.describe()
        );
    }
    let out_dir = tmp.join("q18-smj");
    write_text(
        &script,
        &insert_of(&schema, &query(18)).replace("{out}", &out_dir.display().to_string()),
    );
    let mut cmd = strom();
    cmd.env("STROM_LOG", "info").arg("sql");
    cmd.args(["-D", "taskmanager.memory.managed.size=32m"]);
    cmd.args([
        "-D",
        "table.exec.disabled-operators=ShuffleHashJoin,BroadcastHashJoin",
    ]);
    cmd.arg("-f").arg(&schema).arg("-f").arg(&script);
    cmd.args(["-p", "2", "-D", "execution.runtime-mode=batch"]);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(300));
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains("SortMergeJoin") && l.contains("spilled")),
        "q18's sort-merge join did not spill\n{}",
        out.describe()
    );
    let check = python(&[Path::new("check"), &schema, &data, &query(18), &out_dir]);
    assert_eq!(check.code, Some(0), "q18: {}{}", check.stdout, check.stderr);
}

/// The rows of the table a batch SELECT prints (Flink's tableau), cells joined by ` | `, and
/// its row count line.
fn tableau_rows(stdout: &str) -> (Vec<String>, String) {
    let lines: Vec<&str> = stdout.lines().collect();
    let borders: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].starts_with("+-"))
        .collect();
    assert_eq!(
        borders.len(),
        3,
        "a header, a body and a closing border:\n{stdout}"
    );
    let rows = lines[borders[1] + 1..borders[2]]
        .iter()
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    (rows, lines.get(borders[2] + 1).unwrap_or(&"").to_string())
}

/// A bare SELECT in batch mode prints Flink's SQL client table, in ORDER BY order, with the
/// row count; at parallelism 1 and 3, and from CSV and Parquet.
#[test]
fn a_batch_select_prints_a_table_in_order() {
    let tmp = TempDir::new("tableau");
    let sql = "select n_name, n_nationkey, r_name from nation join region on n_regionkey = r_regionkey where n_nationkey < 20 and r_name <> 'ASIA' order by n_name desc limit 9";
    let query = tmp.join("q.sql");
    write_text(&query, sql);
    for data in [Data::Csv, Data::Parquet] {
        let schema = schema_of(&tmp, data);
        let want = python(&[Path::new("rows"), &schema, &data_dir(data), &query]);
        assert_eq!(want.code, Some(0), "{}", want.describe());
        let want: Vec<String> = want.stdout.lines().map(str::to_string).collect();
        assert_eq!(want.len(), 9);
        for p in ["1", "3"] {
            let mut cmd = strom();
            cmd.arg("sql").arg("-f").arg(&schema).arg("-f").arg(&query);
            cmd.args(["-p", p, "-D", "execution.runtime-mode=batch"]);
            let out = run_with_timeout(&mut cmd, Duration::from_secs(120));
            assert_eq!(out.code, Some(0), "{}", out.describe());
            let (rows, count) = tableau_rows(&out.stdout);
            assert_eq!(rows, want, "p={p} {data:?}\n{}", out.stdout);
            assert_eq!(count, "9 rows in set", "{}", out.stdout);
            assert!(
                out.stdout.contains(" n_name | n_nationkey |      r_name |"),
                "{}",
                out.stdout
            );
        }
    }
}

/// A SELECT submitted to a cluster (1 JobManager + 2 TaskManager processes) prints its rows at
/// the client, through the JobManager (Flink's `collect()`), not on a TaskManager: a batch
/// query's table in ORDER BY order, a streaming query's `+I[...]` lines, both DuckDB's rows.
#[test]
fn a_select_on_a_cluster_prints_its_rows_at_the_client() {
    let jm = JobManager::start(&[]);
    let (tm1, _) = start_taskmanager("taskmanager-1", &jm, 2, &[]);
    let (tm2, _) = start_taskmanager("taskmanager-2", &jm, 2, &[]);
    let tmp = TempDir::new("collect");
    let schema = schema(&tmp);
    let run = |sql: &str, mode: &str| {
        let query = tmp.join(&format!("{mode}.sql"));
        write_text(&query, sql);
        let want = python(&[Path::new("rows"), &schema, &tpch_data(), &query]);
        assert_eq!(want.code, Some(0), "{}", want.describe());
        let mut cmd = strom();
        cmd.arg("sql").arg("-f").arg(&schema).arg("-f").arg(&query);
        cmd.args(["-p", "3", "-D", &format!("execution.runtime-mode={mode}")]);
        cmd.args(["--jobmanager", &jm.url()]);
        let out = run_with_timeout(&mut cmd, Duration::from_secs(120));
        assert_eq!(out.code, Some(0), "{}", out.describe());
        (want.stdout, out.stdout)
    };
    let (want, got) = run("select n_name, n_nationkey, r_name from nation join region on n_regionkey = r_regionkey where n_nationkey < 20 and r_name <> 'ASIA' order by n_name desc limit 9", "batch");
    let (rows, count) = tableau_rows(&got);
    assert_eq!(rows, want.lines().collect::<Vec<_>>(), "{got}");
    assert_eq!(count, "9 rows in set", "{got}");

    let (want, got) = run(
        "select n_name, n_nationkey from nation where n_regionkey = 1",
        "streaming",
    );
    let mut lines: Vec<String> = got
        .lines()
        .filter_map(|l| l.strip_prefix("+I[")?.strip_suffix(']'))
        .map(|l| l.replace(", ", " | "))
        .collect();
    let mut want: Vec<String> = want.lines().map(str::to_string).collect();
    lines.sort();
    want.sort();
    assert_eq!(lines, want, "{got}");
    for tm in [&tm1, &tm2] {
        let printed = tm.text(Stream::Stdout);
        assert!(
            !printed.contains("rows in set") && !printed.contains("+I["),
            "a TaskManager printed the result: {printed}"
        );
    }
}

/// `EXECUTE STATEMENT SET` runs its INSERTs as one job; each sink gets DuckDB's answer.
#[test]
fn a_statement_set_writes_several_sinks_in_one_job() {
    let tmp = TempDir::new("statement-set");
    let schema = schema(&tmp);
    let data = tpch_data();
    let queries = [
        ("by_flag", "select l_returnflag, l_linestatus, count(*) as c, sum(l_quantity) as q from lineitem where l_shipdate <= date '1998-09-01' group by l_returnflag, l_linestatus"),
        ("big_orders", "select o_orderkey, o_custkey, o_totalprice from orders where o_totalprice > 450000"),
        ("nations", "select n_name, r_name from nation, region where n_regionkey = r_regionkey order by n_name"),
    ];
    let mut script = String::new();
    let mut inserts = Vec::new();
    for (name, sql) in queries {
        let query = tmp.join(&format!("{name}.sql"));
        write_text(&query, sql);
        let out_dir = tmp.join(name);
        let text = insert_of(&schema, &query)
            .replace("{out}", &out_dir.display().to_string())
            .replace("tpch_out", &format!("out_{name}"));
        let (ddl, insert) = text.split_once("\nINSERT").unwrap();
        script.push_str(ddl);
        script.push('\n');
        inserts.push(format!("INSERT{}", insert.trim_end()));
    }
    script.push_str("EXECUTE STATEMENT SET BEGIN\n");
    for i in &inserts {
        script.push_str(i);
        script.push('\n');
    }
    script.push_str("END;\n");
    let path = tmp.join("set.sql");
    write_text(&path, &script);
    let mut cmd = strom();
    cmd.arg("sql").arg("-f").arg(&schema).arg("-f").arg(&path);
    cmd.args(["-p", "2", "-D", "execution.runtime-mode=batch"]);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(300));
    assert_eq!(out.code, Some(0), "{script}\n{}", out.describe());
    assert_eq!(
        out.stderr.matches("Job has been submitted").count()
            + out.stdout.matches("Job has been submitted").count(),
        1,
        "one job\n{}",
        out.describe()
    );
    for (name, _) in queries {
        let query = tmp.join(&format!("{name}.sql"));
        let check = python(&[Path::new("check"), &schema, &data, &query, &tmp.join(name)]);
        assert_eq!(
            check.code,
            Some(0),
            "{name}: {}{}",
            check.stdout,
            check.stderr
        );
    }
}

fn subtasks(vertex: &serde_json::Value) -> &Vec<serde_json::Value> {
    vertex["subtasks"]
        .as_array()
        .unwrap_or_else(|| panic!("vertex detail without subtasks: {vertex}"))
}

/// Waits until the kill can show what region failover keeps: a scan subtask (a vertex without
/// inputs whose results are all BLOCKING) finished on one TaskManager, and some subtask finished
/// on the other, the victim. The survivor's finished scans must keep their first attempt: their
/// results are stored on the survivor and nothing upstream of them reruns. Returns the victim
/// and those scans. (Any finished subtask on the victim, or downstream of one, may rightly run
/// again, so they prove nothing.)
fn a_stage_finished(jm: &JobManager, id: &str) -> (String, Vec<(String, u64)>) {
    let plan = jm.get(&format!("/jobs/{id}/plan"));
    let nodes = plan["plan"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let blocking_scans: BTreeSet<String> = nodes
        .iter()
        .filter(|n| n["inputs"].is_null())
        .filter_map(|n| n["id"].as_str().map(str::to_string))
        .filter(|scan| {
            nodes
                .iter()
                .flat_map(|n| n["inputs"].as_array().cloned().unwrap_or_default())
                .filter(|i| i["id"] == scan.as_str())
                .all(|i| i["exchange"] == "blocking")
        })
        .collect();
    assert!(
        !blocking_scans.is_empty(),
        "q9 has no scan with blocking results: {plan}"
    );
    poll(
        "a scan to finish on one TaskManager and a subtask on the other",
        Duration::from_secs(120),
        || {
            let details = jm.vertex_details(id);
            let j = jm.job(id);
            assert_eq!(j["state"], "RUNNING", "the job ended before the kill: {j}");
            let finished: Vec<(String, u64, String)> = details
                .iter()
                .flat_map(|v| {
                    let vertex = v["id"].as_str().unwrap_or_default().to_string();
                    subtasks(v)
                        .iter()
                        .filter(|s| s["status"] == "FINISHED")
                        .map(move |s| {
                            (
                                vertex.clone(),
                                s["subtask"].as_u64().unwrap_or(0),
                                s["taskmanager-id"].as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            finished.iter().find_map(|(_, _, victim)| {
                let kept: Vec<(String, u64)> = finished
                    .iter()
                    .filter(|(v, _, tm)| tm != victim && blocking_scans.contains(v))
                    .map(|(v, s, _)| (v.clone(), *s))
                    .collect();
                (!kept.is_empty()).then(|| (victim.clone(), kept))
            })
        },
    )
}

/// SIGKILL of a TaskManager in the middle of a multi-stage query (TPC-H q9 at parallelism 2,
/// 1 JobManager + 2 TaskManager processes): the job stays RUNNING and reruns only the pipelined
/// regions the kill touched (Flink's region failover, its default): subtasks that finished
/// before the kill keep their first attempt, the killed TaskManager's tasks and the results
/// stored there run again on the survivor, and the answer is DuckDB's.
#[test]
fn a_taskmanager_killed_mid_query_reruns_only_the_regions_it_touched() {
    let jm = JobManager::start(&HB_FAST);
    let (tm1, id1) = start_taskmanager("taskmanager-1", &jm, 2, &HB_FAST);
    let (tm2, id2) = start_taskmanager("taskmanager-2", &jm, 2, &HB_FAST);
    let mut tms = [(Some(tm1), id1), (Some(tm2), id2)];
    let tmp = TempDir::new("tpch-kill");
    let schema = schema(&tmp);
    let q = query(9);
    let out_dir = tmp.join("out");
    let script = tmp.join("q9.sql");
    write_text(
        &script,
        &format!(
            "SET 'restart-strategy.type' = 'fixed-delay';\n\
             SET 'restart-strategy.fixed-delay.attempts' = '10';\n\
             SET 'restart-strategy.fixed-delay.delay' = '200 ms';\n{}",
            insert_of(&schema, &q).replace("{out}", &out_dir.display().to_string())
        ),
    );
    let out = run_with_timeout(
        strom()
            .arg("sql")
            .arg("-f")
            .arg(&schema)
            .arg("-f")
            .arg(&script)
            .args(["-p", "2", "-D", "execution.runtime-mode=batch"])
            .args(["--jobmanager", &jm.url(), "--detached"]),
        Duration::from_secs(60),
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let id = out.job_id();

    let (victim, survivors_scans) = a_stage_finished(&jm, &id);
    let k = tms.iter().position(|(_, t)| *t == victim).unwrap();
    tms[k].0.take().unwrap().kill9();
    eprintln!("killed {victim}; scans finished on the survivor: {survivors_scans:?}");

    jm.wait_job_state(&id, "FINISHED", Duration::from_secs(180));
    let check = python(&[Path::new("check"), &schema, &tpch_data(), &q, &out_dir]);
    assert_eq!(
        check.code,
        Some(0),
        "q9 after the kill: {}{}",
        check.stdout,
        tail(&check.stderr, 2000)
    );
    let details = jm.vertex_details(&id);
    let attempt = |vertex: &str, subtask: u64| {
        details
            .iter()
            .find(|v| v["id"] == vertex)
            .and_then(|v| subtasks(v).iter().find(|s| s["subtask"] == subtask))
            .and_then(|s| s["attempt"].as_u64())
            .unwrap()
    };
    let all: Vec<u64> = details
        .iter()
        .flat_map(|v| subtasks(v).iter().map(|s| s["attempt"].as_u64().unwrap()))
        .collect();
    let rerun: Vec<_> = survivors_scans
        .iter()
        .filter(|(v, s)| attempt(v, *s) != 0)
        .collect();
    eprintln!("attempts after the kill: {all:?}");
    assert!(
        rerun.is_empty(),
        "scans that finished on the surviving TaskManager ran again: {rerun:?} ({all:?})"
    );
    assert!(all.iter().any(|a| *a > 0), "nothing ran again: {all:?}");
    let j = jm.job(&id);
    let history = jm.get(&format!("/jobs/{id}/exceptions"));
    assert!(
        history.to_string().contains(&victim),
        "no exception names the killed TaskManager {victim}: {history}\n{j}"
    );
}
