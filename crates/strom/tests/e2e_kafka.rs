//! Kafka end to end with real processes: a tansu broker, `strom standalone`, and q5 as an
//! unbounded job from a 4-partition topic to a result topic. The answer is computed independently
//! from the same generated rows; the job is cancelled at the end and the broker keeps its data.
#![allow(clippy::unwrap_used)] // a test may unwrap

#[path = "../../strom-connectors/tests/broker/mod.rs"]
mod broker;
mod common;

use broker::Broker;
use common::*;
use std::time::Duration;

const PARTITIONS: i32 = 4;

/// Produces the generated bids into `topic` (one CSV line per message) round robin over
/// `with_data` of its partitions (each in event-time order), then one far-future bid to each of
/// those partitions: it moves their watermarks past every window of the real rows. Returns the
/// number of messages.
fn produce_bids(broker: &Broker, topic: &str, with_data: i32) -> usize {
    let text = read_text(&gen_bids());
    let mut messages: Vec<(i32, Vec<u8>, Option<i64>)> = text
        .lines()
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| ((i % with_data as usize) as i32, l.as_bytes().to_vec(), None))
        .collect();
    for p in 0..with_data {
        messages.push((
            p,
            b"1,1,1,channel,url,2099-01-01 00:00:00.000,future".to_vec(),
            None,
        ));
    }
    broker.produce(topic, &messages);
    messages.len()
}

/// Runs q5 from `input` to `output` as an unbounded job on a standalone cluster at parallelism
/// `p`, checks the result topic against the independently computed answer, cancels the job.
fn run_q5(broker: &Broker, input: &str, output: &str, p: u32, source_options: &str) {
    let expected = expected_for("q5");
    let dir = TempDir::new(&format!("kafka-{input}"));
    let sql = dir.join("q5_kafka.sql");
    let servers = broker.servers();
    write_text(
        &sql,
        &format!(
            "-- a broker slowed down by a loaded machine (its metadata past the 10 s timeout) fails
-- the sources once; they start again before any row was written
SET 'restart-strategy.type' = 'fixed-delay';
SET 'restart-strategy.fixed-delay.attempts' = '3';
CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  date_time TIMESTAMP(3), extra STRING,
  WATERMARK FOR date_time AS date_time - INTERVAL '0.001' SECOND
) WITH (
  'connector' = 'kafka', 'topic' = '{input}', 'properties.bootstrap.servers' = '{servers}',
  'properties.group.id' = 'strom-{input}', 'scan.startup.mode' = 'earliest-offset',
  'format' = 'csv'{source_options}
);
CREATE TABLE q5_out (
  auction BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3), num BIGINT
) WITH (
  'connector' = 'kafka', 'topic' = '{output}', 'properties.bootstrap.servers' = '{servers}',
  'format' = 'csv'
);
INSERT INTO q5_out
SELECT auction, window_start, window_end, COUNT(*) AS num
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
"
        ),
    );
    let cluster = Standalone::start(p);
    let out = run_with_timeout(
        strom().args([
            "sql",
            "-f",
            sql.to_str().unwrap(),
            "-p",
            &p.to_string(),
            "--jobmanager",
            &cluster.rest,
            "--detached",
        ]),
        Duration::from_secs(60),
    );
    out.assert_success();
    let id = out.job_id();

    // every window of the real rows arrives; none of the future rows (their window stays open)
    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        broker.read_all(output, 1, expected.len())
    }))
    .unwrap_or_else(|e| {
        // say what the job did: its state, exceptions and each vertex's figures and watermark
        let job = cluster.get_json(&format!("/jobs/{id}"));
        eprintln!("GET /jobs/{id}: {job}");
        let exceptions = cluster.get_json(&format!("/jobs/{id}/exceptions"));
        eprintln!("GET /jobs/{id}/exceptions: {exceptions}");
        for v in job["vertices"].as_array().into_iter().flatten() {
            let path = format!(
                "/jobs/{id}/vertices/{}/watermarks",
                v["id"].as_str().unwrap_or("")
            );
            eprintln!("GET {path}: {}", cluster.get_json(&path));
        }
        std::panic::resume_unwind(e)
    });
    let mut rows: Vec<String> = got
        .iter()
        .map(|(_, _, v)| {
            String::from_utf8(v.clone().unwrap_or_default())
                .expect("utf-8")
                .trim_end()
                .to_string()
        })
        .collect();
    rows.sort();
    assert_same_rows(&format!("q5 {input} -> {output} p={p}"), &rows, expected);
    assert_eq!(
        cluster.job_state(&id),
        "RUNNING",
        "an unbounded job keeps running"
    );

    // cancel: the job ends CANCELED
    let c = run_with_timeout(
        strom().args(["cancel", &id, "--jobmanager", &cluster.rest]),
        Duration::from_secs(30),
    );
    c.assert_success();
    cluster.wait_for_state(&id, "CANCELED", Duration::from_secs(30));
}

#[test]
fn q5_from_kafka_to_kafka_unbounded() {
    let broker = Broker::start();
    broker.create_topic("bids", PARTITIONS);
    broker.create_topic("q5_out", 1);
    let n = produce_bids(&broker, "bids", PARTITIONS);
    run_q5(&broker, "bids", "q5_out", 2, "");
    // the broker keeps its data
    assert_eq!(broker.read_all("bids", PARTITIONS, n).len(), n);
}

#[test]
fn an_empty_partition_does_not_stall_the_windows() {
    // partition 3 gets nothing: with the idle timeout it stops holding back the watermark; at
    // p=4 the subtask reading it is wholly idle and says so downstream
    let broker = Broker::start();
    broker.create_topic("bids_idle", PARTITIONS);
    broker.create_topic("q5_idle_out", 1);
    produce_bids(&broker, "bids_idle", PARTITIONS - 1);
    run_q5(
        &broker,
        "bids_idle",
        "q5_idle_out",
        4,
        // long enough that a partition with data is not idle before its first fetch on a loaded
        // machine (its rows would then be late and dropped, as in Flink); 5 s was seen too short
        // while a release build ran beside the tests
        ",\n  'scan.watermark.idle-timeout' = '10 s'",
    );
}

/// An updating GROUP BY over `rows` generated bids, written to `sink` (a table declaration
/// named `totals` with columns auction, num, top) by an embedded job. Returns the bids.
fn updating_query_into(broker: &Broker, tag: &str, rows: u64, sink: &str) -> Vec<Bid> {
    let path = gen_bids_of(rows);
    let dir = TempDir::new(tag);
    let sql = dir.join("q.sql");
    write_text(
        &sql,
        &format!(
            "CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  date_time TIMESTAMP(3), extra STRING
) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
{sink};
INSERT INTO totals SELECT auction, COUNT(*) AS num, MAX(price) AS top FROM bid GROUP BY auction;
",
            path.display()
        )
        .replace("{servers}", &broker.servers()),
    );
    run_with_timeout(
        strom().args(["sql", "-f", sql.to_str().unwrap(), "-p", "2"]),
        Duration::from_secs(120),
    )
    .assert_success();
    parse_checked(&path, rows)
}

/// auction -> (count, max price), computed from the rows.
fn totals_of(bids: &[Bid]) -> std::collections::BTreeMap<i64, (i64, i64)> {
    let mut m = std::collections::BTreeMap::new();
    for b in bids {
        let e = m.entry(b.auction).or_insert((0, i64::MIN));
        e.0 += 1;
        e.1 = e.1.max(b.price);
    }
    m
}

fn json(bytes: &Option<Vec<u8>>) -> serde_json::Value {
    serde_json::from_slice(bytes.as_deref().expect("a value")).expect("a JSON message")
}

#[test]
fn an_updating_query_writes_upserts_keyed_by_the_primary_key() {
    let broker = Broker::start();
    broker.create_topic("totals", 2);
    let rows = 3000;
    let bids = updating_query_into(
        &broker,
        "upsert",
        rows,
        "CREATE TABLE totals (auction BIGINT, num BIGINT, top BIGINT, PRIMARY KEY (auction) NOT ENFORCED)
  WITH ('connector' = 'upsert-kafka', 'topic' = 'totals', 'properties.bootstrap.servers' = '{servers}',
        'key.format' = 'json', 'value.format' = 'json')",
    );
    // every row changes its auction's COUNT: one +I or +U each; -U are not written
    let records = broker.read_records("totals", 2, rows as usize);
    let mut last = std::collections::BTreeMap::new();
    for r in &records {
        let key = json(&r.key);
        let value = json(&r.value);
        let auction = key["auction"].as_i64().expect("key {auction}");
        assert_eq!(value["auction"].as_i64(), Some(auction), "value {value}");
        // one key, one partition: the last message of a key is its latest result
        let prev = last.insert(auction, (r.partition, value));
        if let Some((p, _)) = prev {
            assert_eq!(p, r.partition, "auction {auction} in two partitions");
        }
    }
    let expected = totals_of(&bids);
    let got: std::collections::BTreeMap<i64, (i64, i64)> = last
        .iter()
        .map(|(a, (_, v))| (*a, (v["num"].as_i64().unwrap(), v["top"].as_i64().unwrap())))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn an_updating_query_writes_debezium_json() {
    let broker = Broker::start();
    broker.create_topic("changes", 1);
    let rows = 2000;
    let bids = updating_query_into(
        &broker,
        "debezium",
        rows,
        "CREATE TABLE totals (auction BIGINT, num BIGINT, top BIGINT)
  WITH ('connector' = 'kafka', 'topic' = 'changes', 'properties.bootstrap.servers' = '{servers}',
        'format' = 'debezium-json')",
    );
    let expected = totals_of(&bids);
    // +I for the first row of an auction, -U/+U (as "d" then "c") for every later one
    let n = 2 * rows as usize - expected.len();
    let records = broker.read_records("changes", 1, n);
    let mut state: std::collections::BTreeMap<i64, (i64, i64)> = Default::default();
    for r in &records {
        let v = json(&r.value);
        let row = |x: &serde_json::Value| {
            (
                x["auction"].as_i64().unwrap(),
                (x["num"].as_i64().unwrap(), x["top"].as_i64().unwrap()),
            )
        };
        match v["op"].as_str() {
            Some("c") => {
                assert!(v["before"].is_null(), "{v}");
                let (a, t) = row(&v["after"]);
                assert!(state.insert(a, t).is_none(), "create of a present row: {v}");
            }
            Some("d") => {
                assert!(v["after"].is_null(), "{v}");
                let (a, t) = row(&v["before"]);
                assert_eq!(state.remove(&a), Some(t), "delete of another row: {v}");
            }
            _ => panic!("unexpected message {v}"),
        }
    }
    assert_eq!(state, expected);
}

/// `'sink.delivery-guarantee' = 'exactly-once'` on a broker without transactions (tansu 0.6 has
/// no EndTxn): the job is refused at submission with a clear error, nothing is written, and the
/// cluster goes on running jobs.
#[test]
fn an_exactly_once_kafka_sink_on_a_broker_without_transactions_is_refused() {
    let broker = Broker::start();
    broker.create_topic("eo_out", 3);
    let dir = TempDir::new("kafka-exactly-once");
    let sql = dir.join("eo.sql");
    let servers = broker.servers();
    let script = |guarantee: &str| {
        format!(
            "SET 'execution.checkpointing.interval' = '200ms';
SET 'state.checkpoints.dir' = '{ckpt}';
{bid}
CREATE TABLE eo_out (auction BIGINT, bidder BIGINT, price BIGINT) WITH (
  'connector' = 'kafka', 'topic' = 'eo_out', 'properties.bootstrap.servers' = '{servers}',
  'format' = 'csv', 'sink.delivery-guarantee' = '{guarantee}',
  'sink.transactional-id-prefix' = 'e2e-eo'
);
INSERT INTO eo_out SELECT auction, bidder, price FROM bid;
",
            ckpt = dir.join("checkpoints").display(),
            bid = datagen_bid_table(1000, 100_000),
        )
    };
    write_text(&sql, &script("exactly-once"));
    let cluster = Standalone::start(2);
    let submit = || {
        run_with_timeout(
            strom().args([
                "sql",
                "-f",
                sql.to_str().unwrap(),
                "-p",
                "2",
                "--jobmanager",
                &cluster.rest,
            ]),
            Duration::from_secs(60),
        )
    };
    let out = submit();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains("EndTxn") && text.contains("'at-least-once'"),
        "{}",
        out.describe()
    );
    assert_eq!(broker.read_committed("eo_out", 3).len(), 0);
    // the cluster is up: the same job at least once runs to the end
    write_text(&sql, &script("at-least-once"));
    let ok = submit();
    ok.assert_success();
    assert_eq!(broker.read_all("eo_out", 3, 1000).len(), 1000);
}

/// Produces `lines` (bid CSV lines) into a new `partitions`-partition topic, line `i` to
/// partition `partition_of(i, bid)`; each partition stays in event-time order. Returns the bids
/// of the lines.
fn produce_lines(
    broker: &Broker,
    topic: &str,
    partitions: i32,
    lines: &[&str],
    partition_of: impl Fn(usize, &Bid) -> i32,
) -> Vec<Bid> {
    let bids = parse_bids_text(&lines.join("\n"), false);
    broker.create_topic(topic, partitions);
    let messages: Vec<(i32, Vec<u8>, Option<i64>)> = lines
        .iter()
        .zip(&bids)
        .enumerate()
        .map(|(i, (l, b))| (partition_of(i, b), l.as_bytes().to_vec(), None))
        .collect();
    broker.produce(topic, &messages);
    bids
}

/// Runs the benchmark's q5 (`shared/bench/sql/q5.sql`, its blackhole sink replaced by a Kafka
/// topic) bounded over `input` at parallelism `p` with an embedded cluster; returns the rows of
/// the result topic, sorted.
fn bounded_q5(broker: &Broker, input: &str, p: u32) -> Vec<String> {
    let output = format!("{input}_q5_p{p}");
    broker.create_topic(&output, 1);
    let dir = TempDir::new(&format!("kafka-bounded-{input}-{p}"));
    let sql = dir.join("q5.sql");
    let servers = broker.servers();
    let q5 = read_text(&bench_sql("q5.sql")).replace(
        "WITH ('connector' = 'blackhole')",
        &format!(
            "WITH ('connector' = 'kafka', 'topic' = '{output}',
  'properties.bootstrap.servers' = '{servers}', 'format' = 'csv')"
        ),
    );
    assert!(
        q5.contains("'topic'"),
        "the q5 sink was not replaced:\n{q5}"
    );
    write_text(
        &sql,
        &format!(
            "CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  date_time TIMESTAMP(3), extra STRING,
  WATERMARK FOR date_time AS date_time - INTERVAL '0.001' SECOND
) WITH (
  'connector' = 'kafka', 'topic' = '{input}', 'properties.bootstrap.servers' = '{servers}',
  'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset',
  'format' = 'csv'
);
{q5}"
        ),
    );
    run_with_timeout(
        strom().args(["sql", "-f", sql.to_str().unwrap(), "-p", &p.to_string()]),
        Duration::from_secs(60),
    )
    .assert_success();
    let mut rows: Vec<String> = broker
        .read_committed(&output, 1)
        .into_iter()
        .map(|r| {
            String::from_utf8(r.value.unwrap_or_default())
                .expect("utf-8")
                .trim_end()
                .to_string()
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn bounded_q5_keeps_every_window_result_at_any_parallelism_partition_count_and_skew() {
    // issue 15: at p>1 a subtask whose partitions were all read went idle before sending the
    // partial results of its open windows, so the global aggregate fired them without those
    // partials (dropped as late). Every 4th generated bid: 50,000 rows over 20 s of event time.
    let broker = Broker::start();
    let text = read_text(&gen_bids());
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).step_by(4).collect();
    let n = lines.len();
    // the layout: partition = auction % 4, every partition over the whole event time
    let even = produce_lines(&broker, "even4", 4, &lines, |_, b| (b.auction % 4) as i32);
    // skew: 3 partitions; partition 0 holds about 3/4 of the rows, partition 2 only rows of
    // the first tenth of the event time (it ends long before the others)
    let skew_lines: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, l)| {
            let auction: i64 = l.split(',').next().unwrap().parse().unwrap();
            auction % 8 != 7 || *i < n / 10
        })
        .map(|(_, l)| *l)
        .collect();
    let skew = produce_lines(&broker, "skew3", 3, &skew_lines, |_, b| {
        match b.auction % 8 {
            7 => 2,
            6 => 1,
            _ => 0,
        }
    });
    for (topic, bids, parallelisms) in [
        ("even4", &even, &[1, 2, 4][..]),
        ("skew3", &skew, &[2, 4][..]),
    ] {
        let want = expected("q5", bids);
        for &p in parallelisms {
            assert_same_rows(
                &format!("bounded q5 over {topic} at p={p}"),
                &bounded_q5(&broker, topic, p),
                &want,
            );
        }
    }
}
