//! TPC-H's 22 queries (`bench/tpch/queries`, the tables of `bench/tpch/schema.sql`) at scale
//! factor 0.1 in batch mode, each answer compared with DuckDB's on the same CSV files (through
//! `tests/tpch/tpch.py`): rows as a multiset, numbers within 1e-6, and the order of a query
//! with ORDER BY. Embedded at parallelism 1, 2 and 4, and on a JobManager with two
//! TaskManager processes. Also SQL shapes TPC-H does not use (set operations, window
//! functions, grouping sets, outer and non-equi joins, ORDER BY with OFFSET, views) on its
//! tables. The
//! data comes from `tpchgen-cli` (PyPI), once per target dir.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::processes::*;
use common::*;
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

/// The TPC-H tables at scale factor 0.1 as CSV files without a header line, generated once
/// into cargo's target tmp dir (under a temporary name, then renamed: concurrent test processes
/// never see a partial directory).
fn tpch_data() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("strom-e2e");
        let dir = root.join("tpch-sf0.1-csv");
        if dir.is_dir() {
            return dir;
        }
        let tmp = root.join(format!(".tpch-{}.tmp", std::process::id()));
        let raw = tmp.join("raw");
        std::fs::create_dir_all(&raw).unwrap();
        let out = run(Command::new("tpchgen-cli")
            .args(["csv", "-s", "0.1", "--output-dir"])
            .arg(&raw));
        assert_eq!(
            out.code,
            Some(0),
            "tpchgen-cli failed (is it installed? scripts/test.sh installs it)\n{}",
            out.describe()
        );
        for e in std::fs::read_dir(&raw).unwrap().flatten() {
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

/// `bench/tpch/schema.sql` over the data directory.
fn schema(tmp: &TempDir) -> PathBuf {
    let text = read_text(&repo().join("bench/tpch/schema.sql"))
        .replace("{dir}", &tpch_data().display().to_string())
        .replace("{format}", "csv");
    let path = tmp.join("schema.sql");
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
    let out = python(&[Path::new("sink"), schema, &data, query]);
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

/// Runs `queries` (name, file) and returns what went wrong, one line per query.
fn run_queries(
    queries: &[(String, PathBuf)],
    label: &str,
    p: u32,
    extra: &[String],
) -> Vec<String> {
    let tmp = TempDir::new("tpch");
    let schema = schema(&tmp);
    let mut failures = Vec::new();
    for (q, query) in queries {
        let out_dir = tmp.join(&format!("{q}-{label}"));
        let script = tmp.join(&format!("{q}.sql"));
        write_text(
            &script,
            &insert_of(&schema, query).replace("{out}", &out_dir.display().to_string()),
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
        let data = tpch_data();
        let check = python(&[Path::new("check"), &schema, &data, query, &out_dir]);
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

#[test]
fn batch_sql_shapes_beyond_tpch() {
    let tmp = TempDir::new("shapes");
    let queries: Vec<(String, PathBuf)> = SHAPES
        .iter()
        .map(|(name, sql)| {
            let path = tmp.join(&format!("{name}.sql"));
            write_text(&path, sql);
            (name.to_string(), path)
        })
        .collect();
    let mut failures = Vec::new();
    for p in [1, 3] {
        failures.extend(run_queries(&queries, "embedded", p, &[]));
    }
    assert_all_right(failures);
}

/// A sort and an aggregation over more data than the slot's managed memory (16 MiB for the
/// TaskManager, 8 MiB per slot): they spill and give DuckDB's answer; a hash join, whose build
/// side cannot spill, fails with what to do.
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
}
