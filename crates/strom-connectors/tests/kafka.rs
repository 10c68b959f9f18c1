//! The kafka connector against a real broker (tansu 0.6.0 with sqlite storage, started per
//! test by `broker::Broker`). Test input is produced and output read back with plain rdkafka
//! clients, independently of the connector.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod broker;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::Int64Type;
use broker::Broker;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strom_connectors::kafka::{KafkaConnector, KafkaReader};
use strom_plan::{RowSchema, SqlType, TableSpec};
use strom_runtime::{ConnectorError, ConnectorFactory, SourceReader, SplitState, SubtaskInfo};

fn table(name: &str, columns: &[(&str, SqlType)], options: &[(&str, &str)]) -> TableSpec {
    TableSpec {
        name: name.into(),
        schema: RowSchema::nullable(columns),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        watermark: None,
        primary_key: vec![],
        partition_keys: vec![],
    }
}

const BID_COLUMNS: &[(&str, SqlType)] = &[
    ("auction", SqlType::BigInt),
    ("bidder", SqlType::String),
    ("price", SqlType::Decimal(10, 2)),
    ("ts", SqlType::Timestamp(3)),
];

fn bid_table(servers: &str, topic: &str, extra: &[(&str, &str)]) -> TableSpec {
    let mut opts = vec![
        ("connector", "kafka"),
        ("topic", topic),
        ("properties.bootstrap.servers", servers),
        ("format", "json"),
    ];
    opts.extend_from_slice(extra);
    table("bid", BID_COLUMNS, &opts)
}

/// Bid `i` as JSON, and the text the reader's row must give back.
fn bid(i: i64) -> (Vec<u8>, String) {
    let bidder = format!("bidder \"{}\"", i % 7);
    let cents = 100 + i * 37;
    let ts_ms = 1_704_067_200_000 + i * 1_001;
    let secs = (ts_ms / 1000) % 60;
    let mins = (ts_ms / 60_000) % 60;
    let json = format!(
        r#"{{"auction": {}, "bidder": {}, "price": {}.{:02}, "ts": "2024-01-01 00:{mins:02}:{secs:02}.{:03}"}}"#,
        1000 + i,
        serde_json::to_string(&bidder).expect("json string"),
        cents / 100,
        cents % 100,
        ts_ms % 1000
    );
    let row = format!("{}|{bidder}|{cents}|{ts_ms}", 1000 + i);
    (json.into_bytes(), row)
}

/// The rows of a bid batch as `auction|bidder|price cents|ts millis`.
fn bid_rows(b: &RecordBatch) -> Vec<String> {
    let auction = b.column(0).as_primitive::<Int64Type>();
    let bidder = b.column(1).as_string::<i32>();
    let price = b
        .column(2)
        .as_any()
        .downcast_ref::<arrow::array::Decimal128Array>()
        .expect("decimal");
    let ts = b
        .column(3)
        .as_any()
        .downcast_ref::<arrow::array::TimestampMillisecondArray>()
        .expect("timestamp");
    (0..b.num_rows())
        .map(|r| {
            format!(
                "{}|{}|{}|{}",
                auction.value(r),
                bidder.value(r),
                price.value(r),
                ts.value(r)
            )
        })
        .collect()
}

fn subtask(index: u32, parallelism: u32) -> SubtaskInfo {
    SubtaskInfo { index, parallelism }
}

fn reader(t: &TableSpec, projection: &[usize], index: u32, parallelism: u32) -> KafkaReader {
    KafkaConnector
        .reader(t, projection, subtask(index, parallelism), 64)
        .unwrap_or_else(|e| panic!("create the reader: {e}"))
}

/// Reads a bounded reader to its end (at most 60 s): the batches with their split.
fn read_to_end(r: &mut KafkaReader) -> Vec<(Option<u32>, RecordBatch)> {
    let started = Instant::now();
    let mut out = Vec::new();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the bounded reader did not end within 60 s"
        );
        let t = Instant::now();
        let b = r.next_batch().unwrap_or_else(|e| panic!("read: {e}"));
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "next_batch blocked for {:?}",
            t.elapsed()
        );
        match b {
            None => return out,
            Some(b) if b.num_rows() == 0 => {}
            Some(b) => out.push((r.last_split(), b)),
        }
    }
}

#[test]
fn bounded_read_with_two_subtasks_returns_every_produced_row() {
    let broker = Broker::start();
    broker.create_topic("bids", 4);
    // partitions 0..3 get rows, partition 3 stays empty
    let mut produced: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let mut messages = Vec::new();
    let mut bytes = [0u64; 2];
    for i in 0..600 {
        let p = (i % 3) as i32;
        let (json, row) = bid(i);
        bytes[(p % 2) as usize] += json.len() as u64;
        messages.push((p, json, None));
        produced.entry(p).or_default().push(row);
    }
    broker.produce("bids", &messages);
    let t = bid_table(
        &broker.servers(),
        "bids",
        &[
            ("scan.bounded.mode", "latest-offset"),
            ("scan.startup.mode", "earliest-offset"),
        ],
    );
    assert!(KafkaConnector.is_bounded(&t));
    KafkaConnector.validate(&t, true).expect("valid source");
    let mut readers = [
        reader(&t, &[0, 1, 2, 3], 0, 2),
        reader(&t, &[0, 1, 2, 3], 1, 2),
    ];
    assert_eq!(readers[0].splits(), vec![0, 2]);
    assert_eq!(readers[1].splits(), vec![1, 3]);
    // messages produced after the readers started are beyond their end offsets
    broker.produce(
        "bids",
        &(0..4).map(|p| (p, bid(9_999).0, None)).collect::<Vec<_>>(),
    );
    let mut read: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for (k, r) in readers.iter_mut().enumerate() {
        for (split, batch) in read_to_end(r) {
            let split = split.expect("a batch names its partition") as i32;
            assert!(r.splits().contains(&(split as u32)));
            assert!(batch.num_rows() <= 64, "batch_rows is respected");
            read.entry(split).or_default().extend(bid_rows(&batch));
        }
        assert_eq!(r.counters().bytes, bytes[k], "payload bytes of subtask {k}");
        assert_eq!(r.counters().skipped_rows, 0);
        // every partition is finished (not idle: the subtask ends rather than going idle),
        // and the offsets are the end offsets
        for s in r.splits() {
            assert_eq!(r.split_state(s), SplitState::Finished);
        }
    }
    // the same rows, in offset order within each partition
    assert_eq!(read, produced);
    assert_eq!(readers[0].offsets(), BTreeMap::from([(0, 200), (2, 200)]));
    assert_eq!(readers[1].offsets(), BTreeMap::from([(1, 200), (3, 0)]));
    // more subtasks than partitions: the last one has no splits and ends at once
    let mut idle = reader(&t, &[0], 4, 5);
    assert!(idle.splits().is_empty());
    assert_eq!(idle.split_state(0), SplitState::Idle);
    assert!(idle.next_batch().expect("end").is_none());
    // a projection
    let mut r = reader(&t, &[3, 0], 0, 1);
    let batches = read_to_end(&mut r);
    let total: usize = batches.iter().map(|(_, b)| b.num_rows()).sum();
    assert_eq!(total, 604, "this reader started after the 4 later messages");
    assert_eq!(batches[0].1.schema().field(0).name(), "ts");
    assert_eq!(batches[0].1.num_columns(), 2);
}

#[test]
#[allow(clippy::too_many_lines)]
fn empty_partition_becomes_idle_on_an_unbounded_reader() {
    let broker = Broker::start();
    broker.create_topic("live", 4);
    let t = bid_table(
        &broker.servers(),
        "live",
        &[
            ("scan.startup.mode", "earliest-offset"),
            ("scan.watermark.idle-timeout", "200 ms"),
            // the broker answers fetches at once when data arrives, at the latest after 50 ms
            ("properties.fetch.wait.max.ms", "50"),
        ],
    );
    assert!(!KafkaConnector.is_bounded(&t));
    let mut r = reader(&t, &[0, 1, 2, 3], 0, 1);
    assert_eq!(r.splits(), vec![0, 1, 2, 3]);
    for s in 0..4 {
        assert_eq!(
            r.split_state(s),
            SplitState::Active,
            "nothing is idle at the start"
        );
    }
    let producer = broker.producer();
    let started = Instant::now();
    let mut rows = 0usize;
    let mut i = 0;
    let mut checks = 0;
    while checks < 3 || started.elapsed() < Duration::from_millis(600) {
        // partitions 0..3 get a message every round, partition 3 never
        for p in 0..3 {
            let (json, _) = bid(i);
            i += 1;
            producer
                .send(
                    rdkafka::producer::BaseRecord::<(), [u8]>::to("live")
                        .partition(p)
                        .payload(&json[..]),
                )
                .map_err(|(e, _)| e)
                .expect("produce");
        }
        rdkafka::producer::Producer::flush(&producer, Duration::from_secs(5)).expect("flush");
        // read until the reader has the round's messages
        let round = Instant::now();
        while rows < i as usize {
            assert!(
                round.elapsed() < Duration::from_secs(10),
                "messages do not arrive"
            );
            let t0 = Instant::now();
            let b = r
                .next_batch()
                .expect("read")
                .expect("unbounded: never the end");
            assert!(t0.elapsed() < Duration::from_secs(1), "next_batch blocked");
            rows += b.num_rows();
        }
        // partitions 0..3 just delivered a message; partition 3 had none since the start
        for s in 0..3 {
            assert_eq!(
                r.split_state(s),
                SplitState::Active,
                "partition {s} gets messages, it is not idle"
            );
        }
        if started.elapsed() > Duration::from_millis(300) {
            assert!(
                r.split_state(3) == SplitState::Idle,
                "the empty partition is idle after its timeout"
            );
            checks += 1;
        }
    }
    // nothing more arrives: empty batches come back quickly, then every partition is idle
    let quiet = Instant::now();
    let mut empty = 0;
    while quiet.elapsed() < Duration::from_millis(800) {
        let t0 = Instant::now();
        let b = r.next_batch().expect("read").expect("unbounded");
        assert!(
            t0.elapsed() < Duration::from_millis(600),
            "next_batch blocked"
        );
        rows += b.num_rows();
        if b.num_rows() == 0 {
            empty += 1;
        }
    }
    assert!(empty > 0, "an idle reader returns empty batches");
    for s in 0..4 {
        assert_eq!(
            r.split_state(s),
            SplitState::Idle,
            "partition {s} is idle once nothing arrives"
        );
    }
    assert_eq!(rows, i as usize, "every message was read");
    // the next message ends the idleness of its partition
    broker.produce("live", &[(3, bid(1).0, None)]);
    let again = Instant::now();
    while r.split_state(3) == SplitState::Idle {
        assert!(
            again.elapsed() < Duration::from_secs(10),
            "partition 3 stays idle"
        );
        r.next_batch().expect("read");
    }
    assert_eq!(r.offsets().get(&3), Some(&1));
}

#[test]
fn malformed_message_fails_with_its_position_or_is_skipped() {
    let broker = Broker::start();
    broker.create_topic("dirty", 2);
    broker.produce(
        "dirty",
        &[
            (1, bid(1).0, None),
            (1, bid(2).0, None),
            (1, b"{\"auction\": oops".to_vec(), None),
            (1, bid(3).0, None),
            (0, bid(4).0, None),
        ],
    );
    let bounded = [
        ("scan.bounded.mode", "latest-offset"),
        ("scan.startup.mode", "earliest-offset"),
    ];
    let t = bid_table(&broker.servers(), "dirty", &bounded);
    let mut r = reader(&t, &[0, 1, 2, 3], 0, 1);
    let started = Instant::now();
    let err = loop {
        assert!(started.elapsed() < Duration::from_secs(30), "no error");
        match r.next_batch() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the malformed message was not noticed"),
            Err(e) => break e,
        }
    };
    let msg = err.to_string();
    assert!(matches!(err, ConnectorError::Parse(_)), "{msg}");
    assert!(
        msg.contains("topic 'dirty' partition 1 offset 2: invalid JSON"),
        "{msg}"
    );
    assert!(
        msg.contains("set 'json.ignore-parse-errors' = 'true' to skip such messages"),
        "{msg}"
    );
    // the reader stays failed
    assert!(r.next_batch().is_err());

    let mut opts = bounded.to_vec();
    opts.push(("json.ignore-parse-errors", "true"));
    let t = bid_table(&broker.servers(), "dirty", &opts);
    let mut r = reader(&t, &[0, 1, 2, 3], 0, 1);
    let mut rows: Vec<String> = read_to_end(&mut r)
        .iter()
        .flat_map(|(_, b)| bid_rows(b))
        .collect();
    rows.sort();
    let mut want: Vec<String> = [1, 2, 3, 4].iter().map(|&i| bid(i).1).collect();
    want.sort();
    assert_eq!(rows, want);
    assert_eq!(r.counters().skipped_rows, 1);
    assert_eq!(r.offsets(), BTreeMap::from([(0, 1), (1, 4)]));
}

#[test]
#[allow(clippy::too_many_lines)]
fn csv_and_raw_messages_and_startup_modes() {
    let broker = Broker::start();
    broker.create_topic("lines", 1);
    let lines = [
        "1,\"a,b\",2.50,2024-01-01 00:00:00.000",
        "2,,3,2024-01-01 00:00:01.000",
        "3,c,,",
    ];
    broker.produce(
        "lines",
        &lines
            .iter()
            .enumerate()
            .map(|(i, l)| (0, l.as_bytes().to_vec(), Some(1_000 * (i as i64 + 1))))
            .collect::<Vec<_>>(),
    );
    let servers = broker.servers();
    let base = [
        ("connector", "kafka"),
        ("topic", "lines"),
        ("properties.bootstrap.servers", servers.as_str()),
        ("scan.bounded.mode", "latest-offset"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut o = base.to_vec();
        o.extend_from_slice(extra);
        o
    };
    // csv
    let t = table(
        "bid",
        BID_COLUMNS,
        &with(&[("format", "csv"), ("scan.startup.mode", "earliest-offset")]),
    );
    let batches = read_to_end(&mut reader(&t, &[0, 1, 2], 0, 1));
    let b = &batches[0].1;
    assert_eq!(b.num_rows(), 3);
    let bidder = b.column(1).as_string::<i32>();
    assert_eq!(bidder.value(0), "a,b");
    assert!(bidder.is_null(1));
    assert!(b.column(2).is_null(2));
    // raw: each message is the value of the one STRING column
    let raw_t = table(
        "line",
        &[("line", SqlType::String)],
        &with(&[("format", "raw"), ("scan.startup.mode", "earliest-offset")]),
    );
    let batches = read_to_end(&mut reader(&raw_t, &[0], 0, 1));
    let got: Vec<&str> = batches
        .iter()
        .flat_map(|(_, b)| {
            let s = b.column(0).as_string::<i32>();
            (0..s.len()).map(move |i| s.value(i))
        })
        .collect();
    assert_eq!(got, lines);
    // latest-offset: nothing before the start; bounded, so the end at once
    let latest = table(
        "line",
        &[("line", SqlType::String)],
        &with(&[("format", "raw"), ("scan.startup.mode", "latest-offset")]),
    );
    assert!(read_to_end(&mut reader(&latest, &[0], 0, 1)).is_empty());
    // group-offsets without committed offsets: from the earliest offset (the default mode)
    let group = table(
        "line",
        &[("line", SqlType::String)],
        &with(&[("format", "raw"), ("properties.group.id", "fresh-group")]),
    );
    let n: usize = read_to_end(&mut reader(&group, &[0], 0, 1))
        .iter()
        .map(|(_, b)| b.num_rows())
        .sum();
    assert_eq!(n, 3);
    // group-offsets with a committed offset (committed by a plain consumer): from there
    {
        use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
        use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
        let c: BaseConsumer = broker
            .config()
            .set("group.id", "committed-group")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("lines", 0, Offset::Offset(2))
            .expect("offset");
        c.commit(&tpl, CommitMode::Sync).expect("commit");
    }
    let committed = table(
        "line",
        &[("line", SqlType::String)],
        &with(&[
            ("format", "raw"),
            ("properties.group.id", "committed-group"),
        ]),
    );
    let mut r = reader(&committed, &[0], 0, 1);
    assert_eq!(r.offsets(), BTreeMap::from([(0, 2)]));
    let got: Vec<String> = read_to_end(&mut r)
        .iter()
        .flat_map(|(_, b)| {
            let s = b.column(0).as_string::<i32>();
            (0..s.len())
                .map(|i| s.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(got, vec![lines[2].to_string()]);
    // timestamp: the messages at or after 2000 ms
    let ts = table(
        "line",
        &[("line", SqlType::String)],
        &with(&[
            ("format", "raw"),
            ("scan.startup.mode", "timestamp"),
            ("scan.startup.timestamp-millis", "2000"),
        ]),
    );
    let mut r = reader(&ts, &[0], 0, 1);
    assert_eq!(r.offsets(), BTreeMap::from([(0, 1)]));
    let n: usize = read_to_end(&mut r).iter().map(|(_, b)| b.num_rows()).sum();
    assert_eq!(n, 2);
}

#[test]
fn sink_writes_one_message_per_row_that_a_plain_consumer_reads_back() {
    let broker = Broker::start();
    broker.create_topic("out", 4);
    let t = bid_table(&broker.servers(), "out", &[]);
    KafkaConnector.validate(&t, false).expect("valid sink");
    let mut w = KafkaConnector
        .create_writer(&t, subtask(0, 1))
        .expect("create the writer");
    let n = 1000i64;
    let batch = |range: std::ops::Range<i64>| {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(range.clone())),
            Arc::new(StringArray::from_iter(
                range
                    .clone()
                    .map(|i| (i % 5 != 0).then(|| format!("b\"{i}\""))),
            )),
            Arc::new(
                arrow::array::Decimal128Array::from_iter_values(
                    range.clone().map(|i| i as i128 * 11),
                )
                .with_precision_and_scale(10, 2)
                .expect("decimal"),
            ),
            Arc::new(arrow::array::TimestampMillisecondArray::from_iter_values(
                range.map(|i| 1_704_067_200_000 + i),
            )),
        ];
        RecordBatch::try_new(t.schema.to_arrow(), cols).expect("batch")
    };
    w.write(&batch(0..400)).expect("write");
    w.write(&batch(400..n)).expect("write");
    w.finish().expect("finish: every message acknowledged");
    let expected: Vec<String> = (0..n)
        .map(|i| {
            let bidder = if i % 5 != 0 {
                format!("\"b\\\"{i}\\\"\"")
            } else {
                "null".to_string()
            };
            format!(
                r#"{{"auction":{i},"bidder":{bidder},"price":{}.{:02},"ts":"2024-01-01 00:00:{:02}.{:03}"}}"#,
                i * 11 / 100,
                i * 11 % 100,
                i / 1000,
                i % 1000
            )
        })
        .collect();
    let bytes: usize = expected.iter().map(String::len).sum();
    assert_eq!(w.counters().bytes, bytes as u64);
    let read = broker.read_all("out", 4, n as usize);
    assert_eq!(read.len(), n as usize);
    let mut got: Vec<String> = read
        .iter()
        .map(|(_, _, v)| String::from_utf8(v.clone().expect("a value")).expect("utf8"))
        .collect();
    got.sort();
    let mut want = expected;
    want.sort();
    assert_eq!(got, want);
    // and the connector's own source reads the same rows back
    let src = bid_table(
        &broker.servers(),
        "out",
        &[
            ("scan.bounded.mode", "latest-offset"),
            ("scan.startup.mode", "earliest-offset"),
        ],
    );
    let total: usize = read_to_end(&mut reader(&src, &[0, 1, 2, 3], 0, 1))
        .iter()
        .map(|(_, b)| b.num_rows())
        .sum();
    assert_eq!(total, n as usize);
}

#[test]
fn missing_topic_is_a_clear_error() {
    let broker = Broker::start();
    broker.create_topic("present", 1);
    let servers = broker.servers();
    let t = bid_table(&servers, "absent", &[]);
    for as_source in [true, false] {
        let e = KafkaConnector
            .validate(&t, as_source)
            .expect_err("the topic is missing")
            .to_string();
        eprintln!("{e}");
        assert!(
            e.contains(&format!(
                "topic 'absent' does not exist on {servers}; create it"
            )),
            "{e}"
        );
        assert!(e.contains("or fix 'topic'"), "{e}");
    }
    let e = KafkaConnector
        .create_reader(&t, &[0], subtask(0, 1), 10)
        .err()
        .expect("no reader for a missing topic")
        .to_string();
    assert!(e.contains("topic 'absent' does not exist"), "{e}");
    KafkaConnector
        .validate(&bid_table(&servers, "present", &[]), true)
        .expect("an existing topic is fine");
}

#[test]
fn unreachable_broker_is_a_clear_error_within_bounded_time() {
    // no broker: a port nobody listens on
    let servers = format!("127.0.0.1:{}", broker::free_port());
    let t = bid_table(&servers, "bids", &[]);
    let started = Instant::now();
    let e = KafkaConnector
        .validate(&t, true)
        .expect_err("nothing listens there")
        .to_string();
    let took = started.elapsed();
    eprintln!("after {took:?}: {e}");
    assert!(
        e.contains(&format!(
            "cannot reach the Kafka brokers at '{servers}' within 10 s"
        )),
        "{e}"
    );
    assert!(e.contains("'properties.bootstrap.servers'"), "{e}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn undeliverable_rows_fail_the_sink_with_a_clear_message() {
    // no broker, and messages time out after 1 s
    let servers = format!("127.0.0.1:{}", broker::free_port());
    let t = bid_table(
        &servers,
        "bids",
        &[("properties.message.timeout.ms", "1000")],
    );
    let mut w = KafkaConnector
        .create_writer(&t, subtask(0, 1))
        .expect("a producer is created without a broker");
    let batch = RecordBatch::try_new(
        t.schema.to_arrow(),
        vec![
            Arc::new(Int64Array::from(vec![1])) as ArrayRef,
            Arc::new(StringArray::from(vec!["x"])),
            Arc::new(
                arrow::array::Decimal128Array::from(vec![100])
                    .with_precision_and_scale(10, 2)
                    .expect("decimal"),
            ),
            Arc::new(arrow::array::TimestampMillisecondArray::from(vec![0])),
        ],
    )
    .expect("batch");
    w.write(&batch).expect("queued");
    let started = Instant::now();
    let e = w.finish().expect_err("nothing was delivered").to_string();
    eprintln!("after {:?}: {e}", started.elapsed());
    assert!(
        e.contains("kafka sink of table 'bid' (topic 'bids' on 127.0.0.1:"),
        "{e}"
    );
    assert!(e.contains("failed"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// Reads at least `rows` rows (at most 60 s), in batches, without waiting for more.
fn read_rows(r: &mut KafkaReader, rows: usize) -> Vec<String> {
    let started = Instant::now();
    let mut out = Vec::new();
    while out.len() < rows {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "read only {} of {rows} rows in 60 s",
            out.len()
        );
        match r.next_batch().unwrap_or_else(|e| panic!("read: {e}")) {
            Some(b) => out.extend(bid_rows(&b)),
            None => break,
        }
    }
    out
}

#[test]
#[allow(clippy::too_many_lines)]
fn restored_readers_resume_every_partition_exactly_once() {
    let broker = Broker::start();
    broker.create_topic("resume", 3);
    let mut by_partition: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let mut messages = Vec::new();
    for i in 0..300 {
        let p = (i % 3) as i32;
        let (json, row) = bid(i);
        messages.push((p, json, None));
        by_partition.entry(p).or_default().push(row);
    }
    broker.produce("resume", &messages);
    let servers = broker.servers();
    let bounded = bid_table(
        &servers,
        "resume",
        &[
            ("scan.bounded.mode", "latest-offset"),
            ("scan.startup.mode", "earliest-offset"),
        ],
    );
    let all = [0, 1, 2, 3];
    // two subtasks read part of their partitions (0 and 2; 1) and take their positions
    let mut before = Vec::new();
    let mut positions = Vec::new();
    for k in 0..2 {
        let mut r = KafkaConnector
            .reader(&bounded, &all, subtask(k, 2), 16)
            .expect("reader");
        before.push(read_rows(&mut r, 40));
        positions.push(r.snapshot_position().expect("position").expect("some"));
    }
    // later messages are beyond the end offsets the bounded readers recorded
    let later: Vec<(i32, Vec<u8>, Option<i64>)> = (300..330)
        .map(|i| ((i % 3) as i32, bid(i).0, None))
        .collect();
    broker.produce("resume", &later);
    let later_rows: Vec<String> = (300..330).map(|i| bid(i).1).collect();
    let first_300: Vec<String> = {
        let mut v: Vec<String> = by_partition.values().flatten().cloned().collect();
        v.sort();
        v
    };

    // bounded, three subtasks (one partition each): the rest of the first 300, each once
    let mut got = before.concat();
    for k in 0..3 {
        let mut r = KafkaConnector
            .restored_reader(&bounded, &all, subtask(k, 3), 16, &positions)
            .expect("restore");
        assert_eq!(r.splits(), vec![k]);
        for (_, b) in read_to_end(&mut r) {
            got.extend(bid_rows(&b));
        }
    }
    got.sort();
    assert_eq!(got, first_300);

    // unbounded, one subtask: the rest and the later messages, each once
    let unbounded = bid_table(
        &servers,
        "resume",
        &[("scan.startup.mode", "earliest-offset")],
    );
    let mut r = KafkaConnector
        .restored_reader(&unbounded, &all, subtask(0, 1), 16, &positions)
        .expect("restore");
    let mut got = before.concat();
    got.extend(read_rows(&mut r, 330 - got.len()));
    for _ in 0..3 {
        got.extend(bid_rows(&r.next_batch().expect("read").expect("unbounded")));
    }
    got.sort();
    let mut want: Vec<String> = first_300.iter().chain(&later_rows).cloned().collect();
    want.sort();
    assert_eq!(got, want);

    // a partition no position holds starts by 'scan.startup.mode' (here: earliest) and, bounded,
    // ends at the high watermark now
    let mut r = KafkaConnector
        .restored_reader(&bounded, &all, subtask(0, 1), 16, &positions[1..])
        .expect("restore");
    let mut got: Vec<String> = read_to_end(&mut r)
        .iter()
        .flat_map(|(_, b)| bid_rows(b))
        .collect();
    got.sort();
    let mut want: Vec<String> = by_partition[&0]
        .iter()
        .chain(&by_partition[&2])
        .chain(
            later_rows
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 3 != 1)
                .map(|(_, r)| r),
        )
        .chain(by_partition[&1].iter().filter(|r| !before[1].contains(r)))
        .cloned()
        .collect();
    want.sort();
    assert_eq!(got, want);

    // a broken position is a clear error
    let e = KafkaConnector
        .restored_reader(&bounded, &all, subtask(0, 1), 16, &[b"oops".to_vec()])
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("table 'bid'") && e.contains("not a kafka source position"),
        "{e}"
    );
}
