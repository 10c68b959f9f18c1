//! DuckDB (from PyPI, run through `python3`) as an independent oracle: a query over the bids CSV
//! computed by DuckDB, its rows printed as Strom's CSV sink writes them (comma separated, NULL as
//! an empty field), sorted.

use super::{run_with_timeout, write_text, TempDir};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The rows of `sql` in DuckDB, where `bid` is the bids CSV at `bids` with Strom's column types.
pub fn duckdb_rows(bids: &Path, sql: &str) -> Vec<String> {
    let tmp = TempDir::new("duckdb");
    let script = tmp.join("q.py");
    write_text(
        &script,
        &format!(
            r#"import duckdb, sys
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute("""CREATE VIEW bid AS SELECT * FROM read_csv('{path}', header = false, auto_detect = false,
  columns = {{'auction': 'BIGINT', 'bidder': 'BIGINT', 'price': 'BIGINT', 'channel': 'VARCHAR',
             'url': 'VARCHAR', 'date_time': 'TIMESTAMP', 'extra': 'VARCHAR'}})""")
for row in con.execute(sys.stdin.read()).fetchall():
    print(",".join("" if v is None else str(v) for v in row))
"#,
            path = bids.display()
        ),
    );
    run_oracle(&script, sql, Duration::from_secs(120))
}

/// Runs the Python script `script` (which reads a query on stdin, runs it in DuckDB and prints
/// its rows) on `sql`; its output lines, sorted.
pub fn run_oracle(script: &Path, sql: &str, timeout: Duration) -> Vec<String> {
    let sql_file = script.with_extension("sql");
    write_text(&sql_file, sql);
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .stdin(std::fs::File::open(&sql_file).expect("the query file"));
    let out = run_with_timeout(&mut cmd, timeout);
    assert_eq!(
        out.code,
        Some(0),
        "DuckDB failed (is the duckdb package installed? scripts/test.sh installs it)\n{}",
        out.describe()
    );
    let mut rows: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    rows.sort();
    rows
}
