//! The Kafka benchmark (`bash bench/kafka.sh` runs it): a tansu broker on loopback, then
//!
//! 1. the broker's own rates: produce the bids file into a 4-partition topic, consume it back
//!    (plain rdkafka, no Strom);
//! 2. throughput: q0 and q5 as Strom jobs from that topic to result topics (bounded at the
//!    offsets of job start), rows/s from the job time;
//! 3. latency: datagen bids at a fixed rate through q2 (with `PROCTIME()` stamped right after
//!    the source) into a topic, read live by a consumer here; end-to-end latency = receipt
//!    time - stamp, p50/p99/max.
//!
//! Usage: `kafka_bench --strom target/release/strom --bids bench/data/bids.csv
//!   [--rows N] [--parallelism 2] [--rate 100000] [--seconds 60]`
#![allow(clippy::unwrap_used)] // an example may unwrap

#[path = "../tests/broker/mod.rs"]
mod broker;

use broker::Broker;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, Timestamp};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Args {
    strom: PathBuf,
    bids: PathBuf,
    rows: Option<usize>,
    parallelism: u32,
    rate: u64,
    seconds: u64,
}

fn args() -> Args {
    let mut a = Args {
        strom: PathBuf::from("target/release/strom"),
        bids: PathBuf::from("bench/data/bids.csv"),
        rows: None,
        parallelism: 2,
        rate: 100_000,
        seconds: 60,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < v.len() {
        let x = &v[i + 1];
        match v[i].as_str() {
            "--strom" => a.strom = x.into(),
            "--bids" => a.bids = x.into(),
            "--rows" => a.rows = Some(x.parse().expect("--rows N")),
            "--parallelism" => a.parallelism = x.parse().expect("--parallelism N"),
            "--rate" => a.rate = x.parse().expect("--rate N"),
            "--seconds" => a.seconds = x.parse().expect("--seconds N"),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Produces the lines round robin over `partitions`; returns (messages, bytes, seconds).
fn produce(broker: &Broker, topic: &str, partitions: i32, lines: &[String]) -> (usize, usize, f64) {
    let p = broker.producer();
    let t = Instant::now();
    let mut bytes = 0;
    for (i, l) in lines.iter().enumerate() {
        let mut rec = BaseRecord::<(), [u8]>::to(topic)
            .partition((i % partitions as usize) as i32)
            .payload(l.as_bytes());
        bytes += l.len();
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                    r,
                )) => {
                    rec = r;
                    p.poll(Duration::from_millis(10));
                }
                Err((e, _)) => panic!("produce: {e}"),
            }
        }
    }
    p.flush(Duration::from_secs(600)).expect("flush");
    (lines.len(), bytes, t.elapsed().as_secs_f64())
}

/// Consumes `count` messages of every partition from the start; returns seconds.
fn consume(broker: &Broker, topic: &str, partitions: i32, count: usize) -> f64 {
    let c: BaseConsumer = broker
        .config()
        .set("group.id", "bench-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let t = Instant::now();
    let mut n = 0;
    while n < count {
        if let Some(Ok(_)) = c.poll(Duration::from_millis(100)) {
            n += 1;
        }
        assert!(
            t.elapsed() < Duration::from_secs(900),
            "consumed only {n} of {count}"
        );
    }
    t.elapsed().as_secs_f64()
}

/// Messages in a topic (sum of the partitions' high watermarks).
fn topic_size(broker: &Broker, topic: &str, partitions: i32) -> i64 {
    let c: BaseConsumer = broker.config().create().expect("client");
    (0..partitions)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(10))
                .map(|(lo, hi)| hi - lo)
                .unwrap_or(0)
        })
        .sum()
}

struct JobRun {
    job_ms: u64,
    wall_s: f64,
    rss_mib: f64,
}

/// Runs a SQL script with `strom sql` under `/usr/bin/time -v`.
fn run_strom(a: &Args, sql: &str, tag: &str) -> JobRun {
    let dir = std::env::temp_dir().join(format!("strom-kafka-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join(format!("{tag}.sql"));
    std::fs::write(&f, sql).unwrap();
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(&a.strom)
        .args([
            "sql",
            "-f",
            f.to_str().unwrap(),
            "-p",
            &a.parallelism.to_string(),
        ])
        .output()
        .expect("run strom");
    let wall_s = t.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{tag} failed:\n{stdout}\n{stderr}");
    let job_ms = stdout
        .lines()
        .find_map(|l| {
            let i = l.find(" FINISHED in ")?;
            l[i + 13..].split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no FINISHED line:\n{stdout}"));
    let rss_kib: f64 = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    JobRun {
        job_ms,
        wall_s,
        rss_mib: rss_kib / 1024.0,
    }
}

fn bid_source(servers: &str) -> String {
    format!(
        "CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  date_time TIMESTAMP(3), extra STRING,
  WATERMARK FOR date_time AS date_time - INTERVAL '0.001' SECOND
) WITH (
  'connector' = 'kafka', 'topic' = 'bids', 'properties.bootstrap.servers' = '{servers}',
  'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', 'format' = 'csv'
);
"
    )
}

/// "YYYY-MM-DD HH:MM:SS.mmm" (UTC) in epoch milliseconds.
fn parse_ts(s: &str) -> Option<i64> {
    let (d, t) = s.split_once(' ')?;
    let mut dp = d.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (dp.next()?.ok()?, dp.next()?.ok()?, dp.next()?.ok()?);
    let (hms, frac) = t.split_once('.').unwrap_or((t, "0"));
    let mut tp = hms.split(':').map(|x| x.parse::<i64>());
    let (h, mi, se) = (tp.next()?.ok()?, tp.next()?.ok()?, tp.next()?.ok()?);
    let ms: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
    // days from civil (Howard Hinnant)
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + se * 1000 + ms)
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return -1;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[allow(clippy::too_many_lines)]
fn main() {
    let a = args();
    let text = std::fs::read_to_string(&a.bids).expect("read the bids file");
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if let Some(n) = a.rows {
        lines.truncate(n);
    }
    drop(text);
    let n = lines.len();
    let broker = Broker::start();
    let servers = broker.servers();
    for (t, p) in [("bids", 4), ("q0_out", 4), ("q5_out", 1), ("q2_latency", 1)] {
        broker.create_topic(t, p);
    }
    println!("## Kafka benchmark\n");
    println!(
        "tansu 0.6.0 (sqlite storage) on 127.0.0.1, {n} bids, Strom parallelism {}, 2 cores.\n",
        a.parallelism
    );
    // 1. the broker alone
    let (msgs, bytes, ps) = produce(&broker, "bids", 4, &lines);
    drop(lines);
    let cs = consume(&broker, "bids", 4, msgs);
    println!("| broker alone (rdkafka, no Strom) | messages | s | messages/s | MB/s |");
    println!("|---|---|---|---|---|");
    println!(
        "| produce {n} bids (CSV, 4 partitions) | {msgs} | {ps:.2} | {:.0} | {:.1} |",
        msgs as f64 / ps,
        bytes as f64 / ps / 1e6
    );
    println!(
        "| consume them | {msgs} | {cs:.2} | {:.0} | {:.1} |\n",
        msgs as f64 / cs,
        bytes as f64 / cs / 1e6
    );
    // 2. throughput
    let q0 = format!(
        "{}CREATE TABLE q0_out (auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP(3), extra STRING)
WITH ('connector' = 'kafka', 'topic' = 'q0_out', 'properties.bootstrap.servers' = '{servers}', 'format' = 'csv');
INSERT INTO q0_out SELECT auction, bidder, price, date_time, extra FROM bid;
",
        bid_source(&servers)
    );
    let q5 = format!(
        "{}CREATE TABLE q5_out (auction BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3), num BIGINT)
WITH ('connector' = 'kafka', 'topic' = 'q5_out', 'properties.bootstrap.servers' = '{servers}', 'format' = 'csv');
INSERT INTO q5_out
SELECT auction, window_start, window_end, COUNT(*) AS num
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
",
        bid_source(&servers)
    );
    println!("| Strom job, Kafka -> Kafka | rows in | rows out | job s | rows/s (job) | wall s | peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|");
    for (name, sql, topic, parts) in [("q0", &q0, "q0_out", 4), ("q5", &q5, "q5_out", 1)] {
        let r = run_strom(&a, sql, name);
        let out = topic_size(&broker, topic, parts);
        println!(
            "| {name} | {msgs} | {out} | {:.2} | {:.0} | {:.2} | {:.0} |",
            r.job_ms as f64 / 1000.0,
            msgs as f64 / (r.job_ms as f64 / 1000.0),
            r.wall_s,
            r.rss_mib
        );
    }
    println!();
    // 3. latency
    let consumer: BaseConsumer = broker
        .config()
        .set("group.id", "bench-latency")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "5")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("q2_latency", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let sql = format!(
        "CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  date_time TIMESTAMP(3), extra STRING)
WITH ('connector' = 'datagen', 'generator' = 'bids', 'rows-per-second' = '{}');
CREATE TABLE q2_out (auction BIGINT, price BIGINT, pt TIMESTAMP(3))
WITH ('connector' = 'kafka', 'topic' = 'q2_latency', 'properties.bootstrap.servers' = '{servers}',
      'format' = 'json', 'properties.linger.ms' = '0');
INSERT INTO q2_out SELECT auction, price, PROCTIME() AS pt FROM bid WHERE MOD(auction, 123) = 0;
",
        a.rate
    );
    let f = std::env::temp_dir().join(format!("strom-kafka-latency-{}.sql", std::process::id()));
    std::fs::write(&f, sql).unwrap();
    let mut job = Command::new(&a.strom)
        .args([
            "sql",
            "-f",
            f.to_str().unwrap(),
            "-p",
            &a.parallelism.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the latency job");
    let stop = Arc::new(AtomicBool::new(false));
    {
        // drain the job's output
        let out = job.stdout.take().unwrap();
        let stop = stop.clone();
        std::thread::spawn(move || {
            for _ in BufReader::new(out).lines() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
        });
    }
    let warmup = Duration::from_secs(5);
    let started = Instant::now();
    let mut e2e: Vec<i64> = Vec::new();
    let mut to_producer: Vec<i64> = Vec::new();
    while started.elapsed() < warmup + Duration::from_secs(a.seconds) {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let got = now_ms();
        if started.elapsed() < warmup {
            continue;
        }
        let Some(v) = m.payload() else { continue };
        let Ok(j) = serde_json::from_slice::<serde_json::Value>(v) else {
            continue;
        };
        let Some(pt) = j["pt"].as_str().and_then(parse_ts) else {
            continue;
        };
        e2e.push(got - pt);
        if let Timestamp::CreateTime(ct) = m.timestamp() {
            to_producer.push(ct - pt);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = Command::new("kill").arg(job.id().to_string()).status();
    let _ = job.wait();
    e2e.sort_unstable();
    to_producer.sort_unstable();
    println!(
        "Latency: datagen bids at {} rows/s for {} s (after {} s warm-up) through q2 + PROCTIME() into Kafka (JSON), read live by a consumer (fetch.wait.max.ms = 5); ms from the PROCTIME() stamp (taken right after the source) to receipt by the consumer; 'to producer' = to the message's CreateTime (Strom's part).\n",
        a.rate,
        a.seconds,
        warmup.as_secs()
    );
    println!("| latency | samples | p50 ms | p99 ms | p99.9 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    for (name, v) in [("end to end", &e2e), ("to producer", &to_producer)] {
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            v.len(),
            pct(v, 0.5),
            pct(v, 0.99),
            pct(v, 0.999),
            v.last().copied().unwrap_or(-1)
        );
    }
}
