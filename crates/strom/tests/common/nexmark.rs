//! The Nexmark events as the `nexmark` source generates them, written to CSV files for DuckDB,
//! and SQL run over nexmark's DDL (`bench/nexmark/queries`) through `strom sql`.

use super::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use strom_connectors::nexmark::{
    Event, GeneratorConfig, NexmarkConfig, NexmarkGenerator, DEFAULT_BASE_TIME,
};

/// Events per second of event time (`${TPS}`): 100,000 events span 100 s, so windows of
/// seconds see many rows and fire many times.
pub const TPS: u32 = 1000;

pub fn queries_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/nexmark/queries")
}

/// `${FLINK_HOME}` of q13: a directory whose `data/side_input.txt` is the side input, rows
/// `key,value` for the keys 0..10000 that are not 1 modulo 3 (so that some bids find none).
pub fn flink_home() -> PathBuf {
    static HOME: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    HOME.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("nexmark-flink-home");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let mut text = String::new();
        for k in (0..10_000).filter(|k| k % 3 != 1) {
            writeln!(text, "{k},value-{k}").unwrap();
        }
        write_text(&dir.join("data/side_input.txt"), &text);
        dir
    })
    .clone()
}

/// nexmark-flink's template variables for `events` events.
pub fn template_env(cmd: &mut Command, events: u64) {
    for (k, v) in [
        ("TPS", TPS.to_string()),
        ("EVENTS_NUM", events.to_string()),
        ("PERSON_PROPORTION", "1".into()),
        ("AUCTION_PROPORTION", "3".into()),
        ("BID_PROPORTION", "46".into()),
        ("NEXMARK_TABLE", "datagen".into()),
        ("FLINK_HOME", flink_home().display().to_string()),
    ] {
        cmd.env(k, v);
    }
}

/// The events a `nexmark` table of `events` events with the vendored DDL's options produces at
/// parallelism `p`, as `person.csv`, `auction.csv` and `bid.csv` in a new directory.
pub fn write_events(events: u64, p: u32) -> TempDir {
    let dir = TempDir::new(&format!("nexmark-events-{events}-p{p}"));
    let options: BTreeMap<String, String> = [
        ("first-event.rate", TPS.to_string()),
        ("next-event.rate", TPS.to_string()),
        ("events.num", events.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let conf = NexmarkConfig::from_table_options(&options).unwrap();
    let table = GeneratorConfig::for_table(conf, p as i32, DEFAULT_BASE_TIME);
    let (mut person, mut auction, mut bid) = (String::new(), String::new(), String::new());
    let text = |s: &str| {
        assert!(
            !s.contains([',', '"', '\n']),
            "a generated string needs CSV quoting: {s:?}"
        );
        s.to_string()
    };
    for config in table.reader_configs(p as usize) {
        for e in NexmarkGenerator::new(config) {
            match e.event {
                Event::Person(x) => writeln!(
                    person,
                    "{},{},{},{},{},{},{},{}",
                    x.id,
                    text(&x.name),
                    text(&x.email_address),
                    text(&x.credit_card),
                    text(&x.city),
                    text(&x.state),
                    fmt_ts(x.date_time),
                    text(&x.extra)
                ),
                Event::Auction(x) => writeln!(
                    auction,
                    "{},{},{},{},{},{},{},{},{},{}",
                    x.id,
                    text(&x.item_name),
                    text(&x.description),
                    x.initial_bid,
                    x.reserve,
                    fmt_ts(x.date_time),
                    fmt_ts(x.expires),
                    x.seller,
                    x.category,
                    text(&x.extra)
                ),
                Event::Bid(x) => writeln!(
                    bid,
                    "{},{},{},{},{},{},{}",
                    x.auction,
                    x.bidder,
                    x.price,
                    text(&x.channel),
                    text(&x.url),
                    fmt_ts(x.date_time),
                    text(&x.extra)
                ),
            }
            .unwrap();
        }
    }
    write_text(&dir.join("person.csv"), &person);
    write_text(&dir.join("auction.csv"), &auction);
    write_text(&dir.join("bid.csv"), &bid);
    dir
}

/// The rows of `sql` in DuckDB over the events in `dir` (views `person`, `auction`, `bid` with
/// Nexmark's columns), as CSV lines (timestamps as `yyyy-MM-dd HH:mm:ss.SSS`), sorted.
pub fn duckdb(dir: &Path, sql: &str) -> Vec<String> {
    let script = dir.join("oracle.py");
    let read = |name: &str, columns: &str| {
        format!(
            "con.execute(\"\"\"CREATE VIEW {name} AS SELECT * FROM read_csv('{}', header = false, \
             auto_detect = false, quote = '', escape = '', delim = ',', columns = {{{columns}}})\"\"\")\n",
            dir.join(format!("{name}.csv")).display()
        )
    };
    let mut py = String::from(
        "import duckdb, sys, datetime\ncon = duckdb.connect()\ncon.execute(\"SET TimeZone = 'UTC'\")\n",
    );
    py += &read(
        "person",
        "'id': 'BIGINT', 'name': 'VARCHAR', 'emailAddress': 'VARCHAR', 'creditCard': 'VARCHAR', \
         'city': 'VARCHAR', 'state': 'VARCHAR', 'dateTime': 'TIMESTAMP', 'extra': 'VARCHAR'",
    );
    py += &read(
        "auction",
        "'id': 'BIGINT', 'itemName': 'VARCHAR', 'description': 'VARCHAR', 'initialBid': 'BIGINT', \
         'reserve': 'BIGINT', 'dateTime': 'TIMESTAMP', 'expires': 'TIMESTAMP', 'seller': 'BIGINT', \
         'category': 'BIGINT', 'extra': 'VARCHAR'",
    );
    py += &read(
        "bid",
        "'auction': 'BIGINT', 'bidder': 'BIGINT', 'price': 'BIGINT', 'channel': 'VARCHAR', \
         'url': 'VARCHAR', 'dateTime': 'TIMESTAMP', 'extra': 'VARCHAR'",
    );
    py += r#"def fmt(v):
    if v is None:
        return ""
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (v.microsecond // 1000)
    return str(v)
for row in con.execute(sys.stdin.read()).fetchall():
    print(",".join(fmt(v) for v in row))
"#;
    write_text(&script, &py);
    super::duckdb::run_oracle(&script, sql, Duration::from_secs(300))
}

/// How the test reads a query's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// An append-only result: a CSV filesystem sink.
    Csv,
    /// An updating result (streaming): `print`, its changelog applied.
    Changelog,
}

/// Runs `text` (SQL over nexmark's `ddl_gen.sql` and `ddl_views.sql`, with one
/// `'connector' = 'blackhole'` sink, swapped for one the test reads) over `events` events at
/// parallelism `p` in `mode`; returns its final rows as CSV lines, sorted.
pub fn run_sql(tag: &str, text: &str, events: u64, p: u32, mode: &str, sink: Sink) -> Vec<String> {
    let tmp = TempDir::new(&format!("nexmark-{tag}-{mode}-p{p}"));
    let out_dir = tmp.join("out");
    let replacement = match sink {
        Sink::Csv => format!(
            "'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv'",
            out_dir.display()
        ),
        Sink::Changelog => "'connector' = 'print'".to_string(),
    };
    let query = tmp.join(&format!("{tag}.sql"));
    write_text(
        &query,
        &text.replace("'connector' = 'blackhole'", &replacement),
    );
    let mut cmd = strom();
    cmd.arg("sql");
    for f in [
        queries_dir().join("ddl_gen.sql"),
        queries_dir().join("ddl_views.sql"),
        query,
    ] {
        cmd.arg("-f").arg(f);
    }
    cmd.args(["-p", &p.to_string()])
        .arg("-D")
        .arg(format!("execution.runtime-mode={mode}"));
    template_env(&mut cmd, events);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(600));
    out.assert_success();
    match sink {
        Sink::Csv => read_sink_rows(&out_dir),
        Sink::Changelog => final_table(&out.stdout),
    }
}

/// The table a changelog printed by `print` (`+I[a, 1]`, `-U[a, 1]`, ...) ends with, as CSV
/// lines, sorted; asserts that every retraction retracts a row that is there.
pub fn final_table(stdout: &str) -> Vec<String> {
    let mut rows: BTreeMap<String, i64> = BTreeMap::new();
    for line in stdout.lines() {
        let line = line.trim_start_matches("\u{1b}[K").trim();
        // a sink of parallelism > 1 prints its subtask first, as Flink's: `2> +I[...]`
        let line = match line.split_once("> ") {
            Some((n, rest)) if n.parse::<u32>().is_ok() => rest,
            _ => line,
        };
        let Some((kind, rest)) = line.split_at_checked(2) else {
            continue;
        };
        let Some(values) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
            continue;
        };
        let row = values.split(", ").collect::<Vec<_>>().join(",");
        let n = rows.entry(row.clone()).or_default();
        match kind {
            "+I" | "+U" => *n += 1,
            "-U" | "-D" => {
                assert!(*n > 0, "{kind} of a row that is not in the table: {row}");
                *n -= 1;
            }
            _ => continue,
        }
    }
    let mut out = Vec::new();
    for (row, n) in rows {
        out.extend(std::iter::repeat_n(row, n as usize));
    }
    out
}

/// Rows with an empty string's `""` as nothing: the CSV sink writes an empty string as `""`
/// (an empty field is NULL); `print` and the oracle print both as nothing. No generated string
/// holds a comma, so fields are compared as plain text.
pub fn plain(rows: &[String]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            r.split(',')
                .map(|f| if f == "\"\"" { "" } else { f })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}
