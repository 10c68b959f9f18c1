//! Flink's regular joins of unbounded inputs end to end, over the `nexmark` source: INNER,
//! LEFT, RIGHT and FULL joins with conditions across both sides, joins of updating results
//! (GROUP BY), IN / EXISTS / NOT EXISTS / NOT IN subqueries and a scalar subquery, at
//! parallelism 1 and 2 in streaming mode (the printed changelog applied) and in batch mode.
//! Lookup joins (`FOR SYSTEM_TIME AS OF`) against a filesystem table, INNER (Nexmark's q13 in
//! tests/e2e_nexmark.rs) and LEFT with a condition. The answers are DuckDB's (PyPI) over the
//! same events written to CSV files.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::nexmark::*;
use common::*;
use std::time::Duration;

const EVENTS: u64 = 20_000;

/// `query` (a SELECT over the nexmark views) into a sink of columns `columns`, in streaming
/// mode at parallelism 1 and 2 and in batch mode, equals DuckDB's answer to the same query.
fn check(tag: &str, columns: &str, query: &str, may_be_empty: bool) {
    let text = format!(
        "CREATE TABLE out_t ({columns}) WITH ('connector' = 'blackhole');\nINSERT INTO out_t {query};\n"
    );
    // `print` writes NULL as `null`, the CSV sink as an empty field, DuckDB's oracle as nothing
    let nulls = |rows: Vec<String>| -> Vec<String> {
        let mut out: Vec<String> = plain(&rows)
            .iter()
            .map(|r| {
                r.split(',')
                    .map(|f| if f == "null" { "" } else { f })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        out.sort();
        out
    };
    for p in [1, 2] {
        let data = write_events(EVENTS, p);
        let want = duckdb(data.path(), query);
        assert!(
            may_be_empty || !want.is_empty(),
            "{tag}: the oracle's answer is empty"
        );
        let streaming = nulls(run_sql(tag, &text, EVENTS, p, "streaming", Sink::Changelog));
        assert_same_rows(&format!("{tag} streaming p={p}"), &streaming, &want);
        let batch = nulls(run_sql(tag, &text, EVENTS, p, "batch", Sink::Csv));
        assert_same_rows(&format!("{tag} batch p={p}"), &batch, &want);
    }
}

#[test]
fn left_join_with_a_condition_on_the_right_side() {
    check(
        "left-join",
        "id BIGINT, seller BIGINT, name STRING, state STRING",
        "SELECT a.id, a.seller, p.name, p.state FROM auction a \
         LEFT JOIN person p ON a.seller = p.id AND p.state IN ('OR', 'ID', 'CA')",
        false,
    );
}

#[test]
fn right_join_keeps_the_persons_without_auctions() {
    check(
        "right-join",
        "auction BIGINT, category BIGINT, person BIGINT, city STRING",
        "SELECT a.id, a.category, p.id, p.city FROM auction a \
         RIGHT JOIN person p ON a.seller = p.id AND a.category = 10",
        false,
    );
}

#[test]
fn full_join_with_a_condition_across_both_sides() {
    check(
        "full-join",
        "person BIGINT, auction BIGINT, reserve BIGINT",
        "SELECT p.id, a.id, a.reserve FROM person p \
         FULL JOIN auction a ON p.id = a.seller AND a.reserve > p.id * 100 + 1000",
        false,
    );
}

#[test]
fn join_of_an_updating_aggregate() {
    check(
        "join-updating",
        "id BIGINT, category BIGINT, bids BIGINT, max_price BIGINT",
        "SELECT a.id, a.category, b.n, b.max_price FROM auction a \
         JOIN (SELECT auction, COUNT(*) AS n, MAX(price) AS max_price FROM bid GROUP BY auction) b \
         ON a.id = b.auction",
        false,
    );
}

#[test]
fn outer_join_of_two_aggregates_then_aggregated_again() {
    check(
        "join-two-aggregates",
        "state STRING, persons BIGINT, sellers BIGINT, auctions BIGINT",
        "SELECT p.state, COUNT(*), COUNT(s.seller), SUM(s.n) FROM person p \
         LEFT JOIN (SELECT seller, COUNT(*) AS n FROM auction GROUP BY seller) s ON p.id = s.seller \
         GROUP BY p.state",
        false,
    );
}

#[test]
fn in_and_exists_subqueries() {
    check(
        "in-subquery",
        "id BIGINT, name STRING",
        "SELECT id, name FROM person WHERE id IN (SELECT seller FROM auction WHERE category = 10)",
        false,
    );
    check(
        "exists-subquery",
        "id BIGINT, reserve BIGINT",
        "SELECT a.id, a.reserve FROM auction a \
         WHERE EXISTS (SELECT 1 FROM bid b WHERE b.auction = a.id AND b.price > a.reserve / 100)",
        false,
    );
}

#[test]
fn not_exists_and_not_in_subqueries() {
    check(
        "not-exists",
        "id BIGINT, state STRING",
        "SELECT p.id, p.state FROM person p \
         WHERE NOT EXISTS (SELECT 1 FROM auction a WHERE a.seller = p.id)",
        false,
    );
    check(
        "not-in",
        "id BIGINT",
        "SELECT id FROM person WHERE id NOT IN (SELECT seller FROM auction WHERE category <> 10)",
        false,
    );
    // a NULL in the subquery leaves no row (x NOT IN (..., NULL) is never true)
    check(
        "not-in-null",
        "id BIGINT",
        "SELECT id FROM person WHERE id NOT IN \
         (SELECT CASE WHEN category = 10 THEN NULL ELSE seller END FROM auction)",
        true,
    );
}

#[test]
fn scalar_subquery_against_a_global_aggregate() {
    check(
        "scalar-subquery",
        "auction BIGINT, price BIGINT",
        "SELECT auction, price FROM bid \
         WHERE price > (SELECT MAX(initialBid) FROM auction WHERE category = 10)",
        false,
    );
}

#[test]
fn left_lookup_join_with_a_condition() {
    let side = flink_home().join("data/side_input.txt");
    let ddl = format!(
        "CREATE TABLE side (k BIGINT, v STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n",
        side.display()
    );
    let query = "SELECT B.auction, B.price, S.v FROM (SELECT *, PROCTIME() AS p FROM bid) B \
         LEFT JOIN side FOR SYSTEM_TIME AS OF B.p AS S \
         ON B.auction = S.k AND B.price > 5000000";
    let text = format!(
        "{ddl}CREATE TABLE out_t (auction BIGINT, price BIGINT, v STRING) WITH ('connector' = 'blackhole');\nINSERT INTO out_t {query};\n"
    );
    let oracle = format!(
        "SELECT B.auction, B.price, S.v FROM bid B LEFT JOIN read_csv('{}', header = false, \
         columns = {{'k': 'BIGINT', 'v': 'VARCHAR'}}) S ON B.auction = S.k AND B.price > 5000000",
        side.display()
    );
    for p in [1, 2] {
        let data = write_events(EVENTS, p);
        let want = duckdb(data.path(), &oracle);
        for mode in ["streaming", "batch"] {
            let mut got = plain(&run_sql("lookup-left", &text, EVENTS, p, mode, Sink::Csv));
            got.sort();
            assert_same_rows(&format!("lookup-left {mode} p={p}"), &got, &want);
        }
    }
}

/// Nexmark's q20 (a regular INNER join of bids and auctions) on a cluster of 1 JobManager and 2
/// TaskManagers, exactly once into the filesystem sink with 200 ms checkpoints, while a
/// TaskManager is killed with SIGKILL three times (a replacement started each time): the
/// committed rows are DuckDB's answer, none lost, none twice. The source is paced
/// (`'max-emit-speed' = 'false'`: 1,000 events/s of wall time) so that the kills land mid-job.
#[test]
fn q20_regular_join_exactly_once_while_taskmanagers_are_killed() {
    use common::processes::*;
    use std::time::Duration;
    const JOIN_EVENTS: u64 = 24_000;
    let jm = JobManager::start(&HB_FAST);
    let mut tms: Vec<Option<Proc>> = Vec::new();
    for i in 0..2 {
        tms.push(Some(
            start_taskmanager(&format!("taskmanager-{i}"), &jm, 2, &HB_FAST).0,
        ));
    }
    let tmp = TempDir::new("q20-kill");
    let out_dir = tmp.join("out");
    let q = queries_dir();
    let paced = read_text(&q.join("ddl_gen.sql")).replace(
        "'connector' = 'nexmark',",
        "'connector' = 'nexmark', 'max-emit-speed' = 'false',",
    );
    let query = read_text(&q.join("q20.sql")).replace(
        "'connector' = 'blackhole'",
        &format!(
            "'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv'",
            out_dir.display()
        ),
    );
    let sql = tmp.join("job.sql");
    write_text(
        &sql,
        &format!(
            "{}{paced}
{}
{query}",
            checkpointed_job_settings(&tmp.join("checkpoints"), "200ms"),
            read_text(&q.join("ddl_views.sql"))
        ),
    );
    let mut cmd = strom();
    cmd.arg("sql")
        .arg("-f")
        .arg(&sql)
        .args(["-p", "2", "--jobmanager", &jm.url(), "--detached"]);
    template_env(&mut cmd, JOIN_EVENTS);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    out.assert_success();
    let id = out.job_id();
    let completed = |jm: &JobManager| {
        jm.get(&format!("/jobs/{id}/checkpoints"))["counts"]["completed"]
            .as_u64()
            .unwrap_or(0)
    };
    for kill in 0..3 {
        let before = completed(&jm);
        let state = poll(
            "the job to run and complete a checkpoint",
            Duration::from_secs(120),
            || {
                let s = jm.job(&id)["state"].as_str().unwrap_or("").to_string();
                assert!(
                    !matches!(s.as_str(), "FAILED" | "CANCELED"),
                    "the job is {s}: {}",
                    jm.get(&format!("/jobs/{id}/exceptions"))
                );
                (s == "FINISHED" || (s == "RUNNING" && completed(&jm) > before)).then_some(s)
            },
        );
        assert_ne!(
            state, "FINISHED",
            "the job finished before kill {kill}: give it more events"
        );
        let k = kill % 2;
        tms[k].take().expect("alive").kill9();
        tms[k] = Some(start_taskmanager(&format!("taskmanager-r{kill}"), &jm, 2, &HB_FAST).0);
    }
    jm.wait_job_state(&id, "FINISHED", Duration::from_secs(300));
    let mut got = plain(&read_sink_rows(&out_dir));
    got.sort();
    let data = write_events(JOIN_EVENTS, 2);
    let want = duckdb(
        data.path(),
        "SELECT auction, bidder, price, channel, url, B.dateTime, B.extra, itemName, \
           description, initialBid, reserve, A.dateTime, expires, seller, category, A.extra \
         FROM bid B JOIN auction A ON B.auction = A.id WHERE A.category = 10",
    );
    assert!(!want.is_empty());
    assert_same_rows("q20 exactly once after 3 TaskManager kills", &got, &want);
}

/// `sql` (statements over a table `t` of ids 1..=6 from datagen, `rate` rows per second, into
/// one `print` sink) run at parallelism 1; its final table (the changelog applied), as CSV lines.
fn run_slow(tag: &str, rate: u32, sql: &str) -> Vec<String> {
    let tmp = TempDir::new(tag);
    let file = tmp.join("q.sql");
    write_text(
        &file,
        &format!(
            "CREATE TABLE t (id BIGINT) WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence', \
             'fields.id.start' = '1', 'fields.id.end' = '6', 'rows-per-second' = '{rate}');\n{sql}\n"
        ),
    );
    let out = run_with_timeout(
        strom().arg("sql").arg("-f").arg(&file).args(["-p", "1"]),
        Duration::from_secs(120),
    );
    out.assert_success();
    plain(&final_table(&out.stdout))
}

fn lines(rows: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    v.sort();
    v
}

/// `table.exec.state.ttl` and the `STATE_TTL` hint: the rows of one key arrive 1 s apart
/// (processing time), so a group or join row with a shorter time-to-live is gone when the next
/// one comes; the answers are worked out by hand.
#[test]
fn state_ttl_drops_the_groups_and_join_rows_not_written_for_that_long() {
    // a GROUP BY whose groups live 300 ms: every row starts its group afresh (+I)
    let count = "CREATE TABLE o (k BIGINT, n BIGINT) WITH ('connector' = 'print');\n\
                 INSERT INTO o SELECT /*+ STATE_TTL('t' = '300 ms') */ id % 2, COUNT(*) FROM t GROUP BY id % 2;";
    assert_eq!(
        run_slow("ttl-agg", 2, count),
        lines(&["0,1", "0,1", "0,1", "1,1", "1,1", "1,1"])
    );
    // the same with table.exec.state.ttl long enough: the counts of all rows
    let long = format!(
        "SET 'table.exec.state.ttl' = '1 h';\n{}",
        count.replace("/*+ STATE_TTL('t' = '300 ms') */ ", "")
    );
    assert_eq!(run_slow("ttl-agg-long", 2, &long), lines(&["0,3", "1,3"]));
    // a join whose left rows live 1 s and right rows for good: a left row meets the right rows
    // before it and its twin (which arrives with it), not the later ones
    let join = "CREATE TABLE o (a BIGINT, b BIGINT) WITH ('connector' = 'print');\n\
                INSERT INTO o SELECT /*+ STATE_TTL('l' = '1 s') */ l.id, r.id \
                FROM (SELECT id, id % 2 AS k FROM t) l JOIN (SELECT id, id % 2 AS k FROM t) r ON l.k = r.k;";
    assert_eq!(
        run_slow("ttl-join", 1, join),
        lines(&[
            "1,1", "3,1", "3,3", "5,1", "5,3", "5,5", "2,2", "4,2", "4,4", "6,2", "6,4", "6,6"
        ])
    );
    // a hint naming no input of its query block is refused, as Flink does
    let bad = join.replace("'l' = '1 s'", "'x' = '1 s'");
    let tmp = TempDir::new("ttl-bad");
    let file = tmp.join("q.sql");
    write_text(
        &file,
        &format!("CREATE TABLE t (id BIGINT) WITH ('connector' = 'datagen');\n{bad}\n"),
    );
    let out = run_with_timeout(
        strom().arg("sql").arg("-f").arg(&file),
        Duration::from_secs(60),
    );
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("`x` in `STATE_TTL`"),
        "{}",
        out.describe()
    );
}

/// `sql` run by `strom sql` at parallelism `p` in `mode`, `{out}` in it replaced by a fresh
/// directory; that directory, or the failed command.
fn run_script(tag: &str, sql: &str, p: u32, mode: &str) -> Result<TempDir, common::Output> {
    let tmp = TempDir::new(tag);
    let file = tmp.join("q.sql");
    write_text(
        &file,
        &sql.replace("{out}", &tmp.join("out").display().to_string()),
    );
    let out = run_with_timeout(
        strom()
            .arg("sql")
            .arg("-f")
            .arg(&file)
            .args(["-p", &p.to_string()])
            .arg("-D")
            .arg(format!("execution.runtime-mode={mode}")),
        Duration::from_secs(300),
    );
    if out.code != Some(0) {
        return Err(out);
    }
    Ok(tmp)
}

/// [`run_script`] with a filesystem sink at `'path' = '{out}'`: its rows.
fn run_to_files(tag: &str, sql: &str, p: u32, mode: &str) -> Result<Vec<String>, common::Output> {
    run_script(tag, sql, p, mode).map(|dir| read_sink_rows(&dir.join("out")))
}

/// The `jdbc` connector against a real PostgreSQL server started by the test: LEFT lookup
/// joins with a condition (no cache, Flink's partial cache small enough to evict, the legacy
/// cache options) at parallelism 1 and 2, a batch scan, and the errors of a bad URL and of a
/// server that is not there. PostgreSQL itself computes the answers (the same join in SQL).
#[test]
fn jdbc_lookup_joins_and_scans_a_real_postgresql() {
    use common::postgres::Postgres;
    let pg = Postgres::start();
    // even ids 0..1500; some names NULL
    pg.psql(
        "CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT, score NUMERIC(10, 2), vip BOOLEAN); \
         INSERT INTO users SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'u' || g END, g * 0.25, g % 3 = 0 \
         FROM generate_series(0, 1500, 2) g;",
    );
    let users = |extra: &str| {
        format!(
            "CREATE TABLE users (id BIGINT, name STRING, score DECIMAL(10, 2), vip BOOLEAN) WITH (\
             'connector' = 'jdbc', 'url' = '{}', 'table-name' = 'users', 'username' = 'strom'{extra});\n",
            pg.url()
        )
    };
    let join = "CREATE TABLE s (id BIGINT, p AS PROCTIME()) WITH ('connector' = 'datagen', \
                'fields.id.kind' = 'sequence', 'fields.id.start' = '0', 'fields.id.end' = '1999');\n\
                CREATE TABLE o (id BIGINT, name STRING, score DECIMAL(10, 2), vip BOOLEAN) WITH \
                ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv');\n\
                INSERT INTO o SELECT s.id, u.name, u.score, u.vip FROM s \
                LEFT JOIN users FOR SYSTEM_TIME AS OF s.p AS u ON s.id % 1600 = u.id AND u.score > 20;\n";
    let mut want = pg.psql(
        "SELECT g, u.name, u.score, CASE WHEN u.vip THEN 'true' WHEN NOT u.vip THEN 'false' END \
         FROM generate_series(0, 1999) g LEFT JOIN users u ON g % 1600 = u.id AND u.score > 20",
    );
    want.sort();
    assert_eq!(want.len(), 2000);
    for (p, cache) in [
        (1, ""),
        (
            2,
            ", 'lookup.cache' = 'PARTIAL', 'lookup.partial-cache.max-rows' = '100', \
             'lookup.partial-cache.expire-after-access' = '1 min'",
        ),
        (
            1,
            ", 'lookup.cache.max-rows' = '5000', 'lookup.cache.ttl' = '10 min'",
        ),
        (
            2,
            ", 'lookup.cache' = 'FULL', 'lookup.full-cache.periodic-reload.interval' = '10 ms'",
        ),
        (
            1,
            ", 'lookup.cache' = 'FULL', 'lookup.full-cache.reload-strategy' = 'TIMED', \
             'lookup.full-cache.timed-reload.iso-time' = '03:30Z'",
        ),
    ] {
        let got = run_to_files(
            "jdbc-lookup",
            &format!("{}{join}", users(cache)),
            p,
            "streaming",
        )
        .unwrap_or_else(|o| panic!("{}", o.describe()));
        assert_same_rows(&format!("jdbc lookup p={p} {cache}"), &got, &want);
    }
    // a batch scan of the table
    let scan = format!(
        "{}CREATE TABLE o (n BIGINT, s DECIMAL(38, 2), v BIGINT) WITH ('connector' = 'filesystem', \
         'path' = '{{out}}', 'format' = 'csv');\n\
         INSERT INTO o SELECT COUNT(*), SUM(score), SUM(CASE WHEN vip THEN 1 ELSE 0 END) FROM users;\n",
        users("")
    );
    let got =
        run_to_files("jdbc-scan", &scan, 2, "batch").unwrap_or_else(|o| panic!("{}", o.describe()));
    let want =
        pg.psql("SELECT COUNT(*), SUM(score), SUM(CASE WHEN vip THEN 1 ELSE 0 END) FROM users");
    assert_same_rows("jdbc scan", &got, &want);
    jdbc_sinks(&pg, &users(""));
    // a URL of another database, and a server that is not there: clear errors
    let other = users("").replace("jdbc:postgresql://", "jdbc:mysql://");
    let err = run_to_files("jdbc-mysql", &format!("{other}{join}"), 1, "streaming").unwrap_err();
    assert!(
        err.stderr.contains("speaks to PostgreSQL"),
        "{}",
        err.describe()
    );
    let closed = users("").replace(
        &format!(":{}/", pg.port),
        &format!(":{}/", common::processes::free_port()),
    );
    let err = run_to_files("jdbc-down", &format!("{closed}{join}"), 1, "streaming").unwrap_err();
    assert!(
        err.stderr.contains("lookup table 'users'") && err.stderr.contains("cannot connect"),
        "{}",
        err.describe()
    );
}

/// The jdbc sink against `pg` (whose table `users` is `users`'s DDL): appends (no key), and
/// upserts and deletes by the PRIMARY KEY of an updating result at parallelism 1 and 2;
/// PostgreSQL computes the expected tables.
fn jdbc_sinks(pg: &common::postgres::Postgres, users: &str) {
    // the sink: appends (no key), and upserts and deletes by the PRIMARY KEY of an updating result
    pg.psql(
        "CREATE TABLE copy (id BIGINT, name TEXT, score NUMERIC(10, 2), vip BOOLEAN); \
         CREATE TABLE counts (k BIGINT PRIMARY KEY, n BIGINT); \
         CREATE TABLE top2 (k BIGINT, rk BIGINT, v BIGINT, PRIMARY KEY (k, rk)); \
         CREATE TABLE latest (k BIGINT, n BIGINT, PRIMARY KEY (k, n)); \
         CREATE TABLE pairs (k BIGINT PRIMARY KEY, n BIGINT, m BIGINT);",
    );
    let sink = |name: &str, columns: &str, key: &str| {
        format!(
            "CREATE TABLE {name} ({columns}{key}) WITH ('connector' = 'jdbc', 'url' = '{}', \
             'table-name' = '{name}', 'username' = 'strom', 'sink.buffer-flush.max-rows' = '7');\n",
            pg.url()
        )
    };
    let copy = format!(
        "{users}{}INSERT INTO copy SELECT * FROM users;\n",
        sink(
            "copy",
            "id BIGINT, name STRING, score DECIMAL(10, 2), vip BOOLEAN",
            ""
        )
    );
    run_script("jdbc-sink-copy", &copy, 2, "batch").unwrap_or_else(|o| panic!("{}", o.describe()));
    assert_eq!(
        pg.psql("SELECT * FROM copy ORDER BY id"),
        pg.psql("SELECT * FROM users ORDER BY id")
    );
    let stream =
        "CREATE TABLE s (id BIGINT) WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence', \
                  'fields.id.start' = '0', 'fields.id.end' = '1999');\n";
    jdbc_upsert_sinks(pg, &sink, stream);
    // an updating result into a table without a key is refused before it runs
    let err = run_script(
        "jdbc-sink-nokey",
        &format!(
            "{stream}{}INSERT INTO copy2 SELECT id % 10, COUNT(*) FROM s GROUP BY id % 10;\n",
            sink("copy2", "k BIGINT, n BIGINT", "")
        ),
        1,
        "streaming",
    )
    .unwrap_err();
    assert!(err.stderr.contains("copy2"), "{}", err.describe());
}

/// Updating results into jdbc tables with a PRIMARY KEY (`sink` declares one), at parallelism 1
/// and 2: upserts and deletes by the key, through a SinkMaterializer where the result's own
/// key is not the table's.
fn jdbc_upsert_sinks(
    pg: &common::postgres::Postgres,
    sink: &dyn Fn(&str, &str, &str) -> String,
    stream: &str,
) {
    for p in [1, 2] {
        pg.psql("DELETE FROM counts; DELETE FROM top2; DELETE FROM latest; DELETE FROM pairs;");
        let updating = format!(
            "{stream}{}{}{}{}EXECUTE STATEMENT SET BEGIN \
             INSERT INTO counts SELECT id % 10, COUNT(*) FROM s GROUP BY id % 10; \
             INSERT INTO top2 SELECT k, rk, v FROM (SELECT k, v, \
               RANK() OVER (PARTITION BY k ORDER BY v DESC) AS rk FROM \
               (SELECT id % 3 AS k, id AS v FROM s)) WHERE rk <= 2; \
             INSERT INTO latest SELECT id % 10, COUNT(*) FROM s GROUP BY id % 10; \
             INSERT INTO pairs SELECT a.k, a.n, b.m FROM \
               (SELECT id % 10 AS k, COUNT(*) AS n FROM s GROUP BY id % 10) a JOIN \
               (SELECT id % 5 AS k, MAX(id) AS m FROM s GROUP BY id % 5) b ON a.k = b.k; END;\n",
            sink(
                "counts",
                "k BIGINT, n BIGINT",
                ", PRIMARY KEY (k) NOT ENFORCED"
            ),
            sink(
                "top2",
                "k BIGINT, rk BIGINT, v BIGINT",
                ", PRIMARY KEY (k, rk) NOT ENFORCED"
            ),
            // keyed by more than the aggregate's group, and by a join's column: each goes
            // through a SinkMaterializer (else every count a key passed through stays)
            sink(
                "latest",
                "k BIGINT, n BIGINT",
                ", PRIMARY KEY (k, n) NOT ENFORCED"
            ),
            sink(
                "pairs",
                "k BIGINT, n BIGINT, m BIGINT",
                ", PRIMARY KEY (k) NOT ENFORCED"
            ),
        );
        run_script("jdbc-sink-upsert", &updating, p, "streaming")
            .unwrap_or_else(|o| panic!("{}", o.describe()));
        assert_eq!(
            pg.psql("SELECT * FROM counts ORDER BY k"),
            pg.psql(
                "SELECT g % 10, COUNT(*) FROM generate_series(0, 1999) g GROUP BY 1 ORDER BY 1"
            ),
            "p={p}"
        );
        assert_eq!(
            pg.psql("SELECT k, rk, v FROM top2 ORDER BY k, rk"),
            pg.psql(
                "SELECT k, rk, v FROM (SELECT g % 3 AS k, g AS v, RANK() OVER (PARTITION BY g % 3 \
                 ORDER BY g DESC) AS rk FROM generate_series(0, 1999) g) x WHERE rk <= 2 ORDER BY k, rk"
            ),
            "p={p}"
        );
        assert_eq!(
            pg.psql("SELECT * FROM latest ORDER BY k"),
            pg.psql(
                "SELECT g % 10, COUNT(*) FROM generate_series(0, 1999) g GROUP BY 1 ORDER BY 1"
            ),
            "p={p}"
        );
        assert_eq!(
            pg.psql("SELECT * FROM pairs ORDER BY k"),
            pg.psql(
                "SELECT a.k, a.n, b.m FROM (SELECT g % 10 AS k, COUNT(*) AS n FROM \
                 generate_series(0, 1999) g GROUP BY 1) a JOIN (SELECT g % 5 AS k, MAX(g) AS m \
                 FROM generate_series(0, 1999) g GROUP BY 1) b ON a.k = b.k ORDER BY 1"
            ),
            "p={p}"
        );
    }
}
