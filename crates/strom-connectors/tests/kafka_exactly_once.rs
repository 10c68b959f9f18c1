//! The exactly-once Kafka sink (`'sink.delivery-guarantee' = 'exactly-once'`) against the test
//! broker, tansu 0.6.0, which has no transactions to commit: it serves InitProducerId,
//! AddPartitionsToTxn, AddOffsetsToTxn and TxnOffsetCommit but not EndTxn (librdkafka:
//! "EndTxnRequest (KIP-98) not supported by broker"). So what is checked here is that such a
//! broker is refused with a clear error when a job is submitted, and that nothing a sink wrote
//! becomes visible without a commit. The commit and restore logic (which epochs are committed
//! when, after any crash and rescale) is property-tested against a model of Kafka's
//! transactions in `kafka/transactional.rs`.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod broker;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use broker::Broker;
use std::sync::Arc;
use strom_connectors::kafka::KafkaConnector;
use strom_plan::{RowSchema, SqlType, TableSpec};
use strom_runtime::{ConnectorFactory, SinkWriter, SubtaskInfo};

fn table(servers: &str, topic: &str, prefix: &str) -> TableSpec {
    TableSpec {
        name: "out".into(),
        schema: RowSchema::nullable(&[("id", SqlType::BigInt), ("s", SqlType::String)]),
        options: [
            ("connector", "kafka"),
            ("topic", topic),
            ("properties.bootstrap.servers", servers),
            ("format", "json"),
            ("sink.delivery-guarantee", "exactly-once"),
            ("sink.transactional-id-prefix", prefix),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        watermark: None,
        primary_key: vec![],
        partition_keys: vec![],
    }
}

fn writer(t: &TableSpec, index: u32, parallelism: u32) -> Box<dyn SinkWriter> {
    KafkaConnector
        .create_exactly_once_writer(t, SubtaskInfo { index, parallelism })
        .unwrap_or_else(|e| panic!("create the exactly-once writer: {e}"))
}

fn batch(t: &TableSpec, ids: std::ops::Range<i64>) -> RecordBatch {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(ids.clone())),
        Arc::new(StringArray::from_iter_values(
            ids.map(|i| format!("row {i}")),
        )),
    ];
    RecordBatch::try_new(t.schema.to_arrow(), cols).expect("batch")
}

/// The ids a `read_committed` consumer sees, sorted (duplicates kept).
fn committed_ids(b: &Broker, topic: &str, partitions: i32) -> Vec<i64> {
    let mut ids: Vec<i64> = b
        .read_committed(topic, partitions)
        .iter()
        .map(|r| {
            let v: serde_json::Value =
                serde_json::from_slice(r.value.as_deref().expect("a value")).expect("JSON");
            assert_eq!(v["s"], format!("row {}", v["id"]), "message {v}");
            v["id"].as_i64().expect("id")
        })
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn a_broker_without_transactions_is_refused_when_the_job_is_submitted() {
    let b = Broker::start();
    b.create_topic("eo1", 2);
    let t = table(&b.servers(), "eo1", "job-a");
    let e = KafkaConnector
        .validate(&t, false)
        .expect_err("tansu 0.6 cannot commit transactions")
        .to_string();
    assert!(
        e.contains("kafka sink of table 'out' (topic 'eo1'")
            && e.contains("transactional id 'job-a-probe'")
            && e.contains("EndTxn")
            && e.contains("'at-least-once'"),
        "{e}"
    );
    // the same table at least once is fine
    let mut t2 = t.clone();
    t2.options
        .insert("sink.delivery-guarantee".into(), "at-least-once".into());
    KafkaConnector.validate(&t2, false).expect("at least once");
    // read as a source, the option does not matter
    KafkaConnector.validate(&t, true).expect("a source");
}

#[test]
fn rows_wait_for_their_checkpoint_and_a_commit_that_cannot_end_fails_clearly() {
    let b = Broker::start();
    b.create_topic("eo2", 3);
    let t = table(&b.servers(), "eo2", "job-b");
    let mut w = writer(&t, 0, 1);
    w.write(&batch(&t, 0..300)).expect("write");
    let state = w.prepare_commit(1).expect("prepare 1");
    assert!(state.is_some(), "the state holds the transactional id");
    w.write(&batch(&t, 300..500)).expect("write");
    // nothing is sent before the checkpoint completes
    assert_eq!(committed_ids(&b, "eo2", 3), Vec::<i64>::new());
    assert_eq!(b.read_committed("eo2", 3).len(), 0);
    let e = w.commit(1).expect_err("tansu cannot commit").to_string();
    assert!(
        e.contains("cannot commit the transaction of transactional id 'job-b-0'"),
        "{e}"
    );
    // (tansu then shows the rows of the transaction it could not end to read_committed
    // consumers: it never withholds a transaction's records; validate refuses such a broker)
}

#[test]
fn exactly_once_without_a_prefix_is_a_clear_error() {
    let mut t = table("127.0.0.1:9", "x", "p");
    t.options.remove("sink.transactional-id-prefix");
    let e = KafkaConnector
        .validate(&t, false)
        .expect_err("needs a prefix")
        .to_string();
    assert!(e.contains("'sink.transactional-id-prefix'"), "{e}");
}
