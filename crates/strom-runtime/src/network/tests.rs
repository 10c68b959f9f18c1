use super::frame::{decode, encode, Frame};
use super::*;
use crate::element::StreamElement;
use crate::exchange::{OutputDescriptor, ResultPartitionWriter, CHANNEL_CAPACITY};
use crossbeam_channel::{unbounded, RecvTimeoutError, SendTimeoutError, TrySendError};
use datafusion::arrow::array::{Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use std::time::{Duration, Instant};
use strom_common::VertexId;
use strom_plan::{ResultType, ShipStrategy};

const WAIT: Duration = Duration::from_secs(10);

fn env(secret: Option<&str>) -> Arc<NetworkEnvironment> {
    NetworkEnvironment::start(
        "127.0.0.1",
        0,
        (secret.map(str::to_string), None),
        LocalShuffle::new(),
    )
    .unwrap()
}

fn env_with(shuffle: LocalShuffle) -> Arc<NetworkEnvironment> {
    NetworkEnvironment::start("127.0.0.1", 0, (None, None), shuffle).unwrap()
}

fn addr(e: &NetworkEnvironment) -> String {
    e.local_addr().to_string()
}

fn sub(job: JobId, producer_subtask: u32, consumer_subtask: u32) -> SubpartitionId {
    SubpartitionId {
        job,
        round: 0,
        producer: VertexId::derive(b"producer"),
        producer_subtask,
        consumer: VertexId::derive(b"consumer"),
        consumer_subtask,
        input_index: 0,
    }
}

fn batch(i: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Int64, true),
    ]));
    let n = (i % 5 + 1) as usize;
    let ids: Vec<i64> = (0..n as i64).map(|k| i * 100 + k).collect();
    let names: Vec<Option<String>> = (0..n)
        .map(|k| (k % 3 != 1).then(|| format!("row-{i}-{k}")))
        .collect();
    let amounts: Vec<Option<i64>> = (0..n as i64)
        .map(|k| (k % 2 == 0).then_some(i - k))
        .collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(names)),
            Arc::new(Int64Array::from(amounts)),
        ],
    )
    .unwrap()
}

/// A readable rendering of an element.
fn show(e: &StreamElement) -> String {
    match e {
        StreamElement::Batch(b) => pretty_format_batches(std::slice::from_ref(b))
            .unwrap()
            .to_string(),
        StreamElement::Watermark(w) => format!("wm {w}"),
        StreamElement::EndOfInput => "end".to_string(),
        StreamElement::Idle => "idle".to_string(),
        StreamElement::Barrier { id, .. } => format!("barrier {id}"),
    }
}

/// What a producer sends in the tests: batches, a watermark every 10 batches, end of input.
fn stream(n: i64) -> Vec<StreamElement> {
    let mut v = Vec::new();
    for i in 0..n {
        v.push(StreamElement::Batch(batch(i)));
        if i % 10 == 9 {
            v.push(StreamElement::Watermark(i * 1000));
            if i % 7 == 0 {
                v.push(StreamElement::Idle);
            }
        }
    }
    v.push(StreamElement::EndOfInput);
    v
}

fn spawn_producer(
    tx: crossbeam_channel::Sender<Message>,
    channel: u32,
    elements: Vec<StreamElement>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for e in elements {
            tx.send_timeout((channel, e), WAIT).unwrap();
        }
    })
}

/// Reads `channels` remote channels until each delivered its end of input, returning credits.
fn consume_all(
    rx: &crossbeam_channel::Receiver<Message>,
    remotes: &[RemoteChannel],
) -> Vec<Vec<StreamElement>> {
    let mut out: Vec<Vec<StreamElement>> = vec![Vec::new(); remotes.len()];
    let mut open = remotes.len();
    while open > 0 {
        let (ch, e) = rx.recv_timeout(WAIT).expect("an element");
        remotes[ch as usize].consumed();
        if matches!(e, StreamElement::EndOfInput) {
            open -= 1;
        }
        out[ch as usize].push(e);
    }
    out
}

fn assert_same(got: &[StreamElement], expected: &[StreamElement]) {
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(expected) {
        match (g, e) {
            (StreamElement::Batch(g), StreamElement::Batch(e)) => assert_eq!(g, e),
            _ => assert_eq!(show(g), show(e)),
        }
    }
}

#[test]
fn frames_round_trip() {
    let id = sub(JobId(7), 1, 2);
    let frames = vec![
        Frame::Handshake {
            version: 1,
            secret: Some("s".into()),
        },
        Frame::Handshake {
            version: 1,
            secret: None,
        },
        Frame::HandshakeOk,
        Frame::HandshakeRefused {
            message: "wrong secret".into(),
        },
        Frame::PartitionRequest {
            channel: 3,
            id,
            blocking: true,
            credits: 4,
        },
        Frame::AddCredit { channel: 3, n: 2 },
        Frame::CancelRequest { channel: 3 },
        Frame::Data {
            channel: 9,
            batch: batch(3),
        },
        Frame::Watermark {
            channel: 9,
            watermark: -5,
        },
        Frame::EndOfInput { channel: 9 },
        Frame::Error {
            channel: 1,
            message: "nope".into(),
        },
    ];
    for f in frames {
        let mut buf = Vec::new();
        encode(&f, &mut buf).unwrap();
        let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
        assert_eq!(len + 4, buf.len());
        let back = decode(&buf[4..]).unwrap();
        assert_eq!(format!("{f:?}"), format!("{back:?}"));
    }
    assert!(decode(&[42]).is_err());
    assert!(decode(&[5, 0, 0]).is_err());
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<NetworkEnvironment>();
    check::<RemoteChannel>();
}

#[test]
fn pipelined_in_order_both_request_orders() {
    let producer = env(None);
    let consumer = env(None);
    let job = JobId(1);
    let a = sub(job, 0, 0);
    let b = sub(job, 1, 0);
    let expected = [stream(200), stream(150)];
    // a: registered before the request
    let tx_a = producer.register_outgoing(a);
    let pa = spawn_producer(tx_a, 0, expected[0].clone());
    let (target, rx) = unbounded();
    let ra = consumer
        .request(&addr(&producer), a, false, 0, target.clone())
        .unwrap();
    let rb = consumer
        .request(&addr(&producer), b, false, 1, target)
        .unwrap();
    // b: registered after the request
    std::thread::sleep(Duration::from_millis(30));
    let tx_b = producer.register_outgoing(b);
    let pb = spawn_producer(tx_b, 1, expected[1].clone());
    let got = consume_all(&rx, &[ra, rb]);
    pa.join().unwrap();
    pb.join().unwrap();
    assert_same(&got[0], &expected[0]);
    assert_same(&got[1], &expected[1]);
    // both channels ended: their targets are dropped
    assert_disconnected(&rx);
    let (p, c) = (producer.stats(), consumer.stats());
    assert!(p.frames_sent as usize > expected[0].len() + expected[1].len());
    assert!(c.bytes_received >= p.bytes_sent.saturating_sub(64) && c.bytes_received > 10_000);
    assert!(c.frames_sent >= 3 && p.frames_received >= 3);
}

#[test]
fn one_connection_per_remote_address() {
    let producer = env(None);
    let consumer = env(None);
    let job = JobId(2);
    let (target, rx) = unbounded();
    let mut remotes = Vec::new();
    for i in 0..4u32 {
        let id = sub(job, i, 0);
        let tx = producer.register_outgoing(id);
        tx.send((0, StreamElement::Watermark(i as i64))).unwrap();
        tx.send((0, StreamElement::EndOfInput)).unwrap();
        remotes.push(
            consumer
                .request(&addr(&producer), id, false, i, target.clone())
                .unwrap(),
        );
    }
    drop(target);
    let got = consume_all(&rx, &remotes);
    for (i, g) in got.iter().enumerate() {
        assert_eq!(show(&g[0]), format!("wm {i}"));
    }
    assert_eq!(producer.shared.server_conns.lock().len(), 1);
    assert_eq!(consumer.shared.clients.lock().len(), 1);
}

#[test]
fn credits_bound_what_is_in_flight() {
    let producer = env(None);
    let consumer = env(None);
    let id = sub(JobId(3), 0, 0);
    let tx = producer.register_outgoing(id);
    let (target, rx) = unbounded();
    let remote = consumer
        .request(&addr(&producer), id, false, 0, target)
        .unwrap();
    // push without consuming until the producer's channel stays full
    let mut accepted = 0usize;
    let mut last_progress = Instant::now();
    let deadline = Instant::now() + WAIT;
    loop {
        match tx.try_send((0, StreamElement::Batch(batch(accepted as i64)))) {
            Ok(()) => {
                accepted += 1;
                last_progress = Instant::now();
            }
            Err(TrySendError::Full(_)) => {
                if last_progress.elapsed() > Duration::from_millis(300) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(TrySendError::Disconnected(_)) => panic!("disconnected"),
        }
        assert!(Instant::now() < deadline, "the producer never blocked");
    }
    assert!(
        accepted <= INITIAL_CREDITS as usize + CHANNEL_CAPACITY + 1,
        "accepted {accepted}"
    );
    assert!(accepted >= CHANNEL_CAPACITY, "accepted {accepted}");
    // exactly the initial credits reached the consumer
    let deadline = Instant::now() + WAIT;
    while rx.len() < INITIAL_CREDITS as usize {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(rx.len(), INITIAL_CREDITS as usize);
    // now consume: everything flows
    let total = 60usize;
    let p = std::thread::spawn(move || {
        for i in accepted..total {
            tx.send_timeout((0, StreamElement::Batch(batch(i as i64))), WAIT)
                .unwrap();
        }
        tx.send_timeout((0, StreamElement::EndOfInput), WAIT)
            .unwrap();
    });
    let got = consume_all(&rx, &[remote]);
    p.join().unwrap();
    let mut expected: Vec<StreamElement> = (0..total as i64)
        .map(|i| StreamElement::Batch(batch(i)))
        .collect();
    expected.push(StreamElement::EndOfInput);
    assert_same(&got[0], &expected);
}

fn store_blocking(shuffle: &LocalShuffle, job: JobId, batches: i64) {
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let d = OutputDescriptor {
        consumer: VertexId::derive(b"consumer"),
        consumer_parallelism: 2,
        input_index: 0,
        ship_strategy: ShipStrategy::Rebalance,
        result_type: ResultType::Blocking,
        remote_consumers: Vec::new(),
        max_parallelism: 128,
    };
    let mut w = ResultPartitionWriter::connect(
        shuffle,
        None,
        job,
        0,
        VertexId::derive(b"producer"),
        0,
        &d,
        &cancel,
    )
    .unwrap();
    for i in 0..batches {
        w.write(batch(i), &cancel).unwrap();
    }
    w.broadcast(StreamElement::Watermark(77), &cancel).unwrap();
    w.broadcast(StreamElement::EndOfInput, &cancel).unwrap();
    w.close(shuffle);
}

#[test]
fn blocking_partition_is_served_from_the_store() {
    let shuffle = LocalShuffle::new();
    let job = JobId(4);
    store_blocking(&shuffle, job, 41);
    let kept = shuffle.clone();
    let producer = env_with(shuffle);
    let consumer = env(None);
    let (target, rx) = unbounded();
    let r0 = consumer
        .request(&addr(&producer), sub(job, 0, 0), true, 0, target.clone())
        .unwrap();
    let r1 = consumer
        .request(&addr(&producer), sub(job, 0, 1), true, 1, target)
        .unwrap();
    let got = consume_all(&rx, &[r0, r1]);
    for (c, g) in got.iter().enumerate() {
        // rebalance from producer subtask 0: batch i goes to consumer subtask i % 2
        let mut expected: Vec<StreamElement> = (0..41)
            .filter(|i| i % 2 == c as i64)
            .map(|i| StreamElement::Batch(batch(i)))
            .collect();
        expected.push(StreamElement::Watermark(77));
        expected.push(StreamElement::EndOfInput);
        assert_same(g, &expected);
    }
    assert_disconnected(&rx);
    // kept for another attempt of a consumer (region failover): served again
    let (target, rx) = unbounded();
    let r = consumer
        .request(&addr(&producer), sub(job, 0, 1), true, 0, target)
        .unwrap();
    assert_eq!(consume_all(&rx, &[r])[0].len(), got[1].len());
    // once released, a request, like one for an unknown partition, fails with an Error frame
    kept.release_results(job, VertexId::derive(b"producer"));
    for id in [sub(job, 0, 0), sub(JobId(99), 0, 0)] {
        let (target, rx) = unbounded();
        let _r = consumer
            .request(&addr(&producer), id, true, 0, target)
            .unwrap();
        assert_disconnected(&rx);
    }
}

#[test]
fn wrong_secret_is_refused_and_the_server_stays_up() {
    let producer = env(Some("s3cret"));
    let id = sub(JobId(5), 0, 0);
    for (secret, expected) in [
        (Some("wrong"), "wrong secret"),
        (None, "secret is required"),
    ] {
        let bad = env(secret);
        let (target, _rx) = unbounded();
        let err = bad
            .request(&addr(&producer), id, false, 0, target)
            .unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "unexpected error: {err}"
        );
    }
    let good = env(Some("s3cret"));
    let tx = producer.register_outgoing(id);
    let (target, rx) = unbounded();
    let r = good
        .request(&addr(&producer), id, false, 0, target)
        .unwrap();
    tx.send((0, StreamElement::Watermark(5))).unwrap();
    tx.send((0, StreamElement::EndOfInput)).unwrap();
    let got = consume_all(&rx, &[r]);
    assert_eq!(show(&got[0][0]), "wm 5");
}

/// Waits until every sender of the consumer's target is gone (no element left either).
fn assert_disconnected(rx: &crossbeam_channel::Receiver<Message>) {
    match rx.recv_timeout(WAIT) {
        Err(RecvTimeoutError::Disconnected) => {}
        Err(RecvTimeoutError::Timeout) => panic!("the target was never dropped"),
        Ok((ch, e)) => panic!("unexpected element on channel {ch}: {}", show(&e)),
    }
}

/// Sends until the producer's channel reports Disconnected.
fn wait_disconnected(tx: &crossbeam_channel::Sender<Message>) {
    let deadline = Instant::now() + WAIT;
    loop {
        match tx.send_timeout((0, StreamElement::Watermark(0)), Duration::from_millis(10)) {
            Err(SendTimeoutError::Disconnected(_)) => return,
            _ => assert!(
                Instant::now() < deadline,
                "the producer was never disconnected"
            ),
        }
    }
}

#[test]
fn dropping_the_remote_channel_disconnects_the_producer() {
    let producer = env(None);
    let consumer = env(None);
    let id = sub(JobId(6), 0, 0);
    let tx = producer.register_outgoing(id);
    let (target, rx) = unbounded();
    let r = consumer
        .request(&addr(&producer), id, false, 0, target)
        .unwrap();
    tx.send((0, StreamElement::Watermark(1))).unwrap();
    assert!(rx.recv_timeout(WAIT).is_ok());
    r.consumed();
    drop(r);
    wait_disconnected(&tx);
    // the consumer's target went with the channel
    assert_disconnected(&rx);
}

#[test]
fn closing_the_connection_disconnects_the_producer() {
    let producer = env(None);
    let consumer = env(None);
    let id = sub(JobId(7), 0, 0);
    let tx = producer.register_outgoing(id);
    let (target, rx) = unbounded();
    let r = consumer
        .request(&addr(&producer), id, false, 0, target)
        .unwrap();
    tx.send((0, StreamElement::Watermark(1))).unwrap();
    assert!(rx.recv_timeout(WAIT).is_ok());
    drop(consumer); // closes its connections
    wait_disconnected(&tx);
    assert_disconnected(&rx);
    drop(r);
}

#[test]
fn a_failed_producer_or_a_released_round_ends_the_remote_channel() {
    let producer = env(None);
    let consumer = env(None);
    let job = JobId(8);
    // the producer drops its sender without end of input
    let id = sub(job, 0, 0);
    let tx = producer.register_outgoing(id);
    let (target, rx) = unbounded();
    let _r = consumer
        .request(&addr(&producer), id, false, 0, target)
        .unwrap();
    tx.send((0, StreamElement::Watermark(1))).unwrap();
    drop(tx);
    assert!(matches!(
        rx.recv_timeout(WAIT),
        Ok((0, StreamElement::Watermark(1)))
    ));
    assert_disconnected(&rx);
    // a pending request (never registered) ends when the producer side releases the round
    let id = sub(job, 1, 0);
    let (target, rx) = unbounded();
    let _r = consumer
        .request(&addr(&producer), id, false, 0, target)
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    producer.release(job, 0);
    assert_disconnected(&rx);
    // registrations of a released round are dropped at once
    let tx = producer.register_outgoing(sub(job, 2, 0));
    wait_disconnected(&tx);
    // the consumer side releases its channels too: the producer sees the cancel
    let job = JobId(9);
    let id = sub(job, 0, 0);
    let tx = producer.register_outgoing(id);
    let (target, rx) = unbounded();
    let _r = consumer
        .request(&addr(&producer), id, false, 0, target)
        .unwrap();
    consumer.release(job, 0);
    assert_disconnected(&rx);
    wait_disconnected(&tx);
}

#[test]
fn unreachable_address_fails_after_retries() {
    // a port that was free a moment ago
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let consumer = env(None);
    let (target, _rx) = unbounded();
    let t = Instant::now();
    let err = consumer
        .request(
            &format!("127.0.0.1:{port}"),
            sub(JobId(10), 0, 0),
            false,
            0,
            target,
        )
        .unwrap_err();
    assert!(err.to_string().contains("cannot connect"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn reconnects_after_the_connection_broke() {
    let producer = env(None);
    let consumer = env(None);
    let job = JobId(11);
    let id = sub(job, 0, 0);
    let tx = producer.register_outgoing(id);
    let (target, rx) = unbounded();
    let _r = consumer
        .request(&addr(&producer), id, false, 0, target)
        .unwrap();
    tx.send((0, StreamElement::Watermark(1))).unwrap();
    assert!(rx.recv_timeout(WAIT).is_ok());
    // break the connection from the server side
    for c in producer.shared.server_conns.lock().values() {
        c.stream.shutdown(std::net::Shutdown::Both).unwrap();
    }
    assert_disconnected(&rx);
    wait_disconnected(&tx);
    // the next request opens a new connection
    let id = sub(job, 1, 0);
    let tx = producer.register_outgoing(id);
    let (target, rx) = unbounded();
    let r = consumer
        .request(&addr(&producer), id, false, 0, target)
        .unwrap();
    tx.send((0, StreamElement::EndOfInput)).unwrap();
    let got = consume_all(&rx, &[r]);
    assert_eq!(got[0].len(), 1);
}

/// PEM files of a CA and of a certificate it signs for 127.0.0.1, in a fresh directory:
/// (keystore, truststore).
fn tls_files(name: &str) -> (String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let dir = std::env::temp_dir().join(format!("strom-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let keystore = dir.join("node.pem");
    let truststore = dir.join("ca.pem");
    std::fs::write(&keystore, format!("{}{}", cert.pem(), key.serialize_pem())).unwrap();
    std::fs::write(&truststore, ca.pem()).unwrap();
    (
        keystore.display().to_string(),
        truststore.display().to_string(),
    )
}

fn tls_env(files: &(String, String)) -> Arc<NetworkEnvironment> {
    let mut c = strom_common::Configuration::default();
    c.set("security.ssl.internal.enabled", "true");
    c.set("security.ssl.internal.keystore", &files.0);
    c.set("security.ssl.internal.truststore", &files.1);
    let tls = strom_common::tls::internal(&c).unwrap();
    NetworkEnvironment::start(
        "127.0.0.1",
        0,
        (Some("s3cret".into()), tls),
        LocalShuffle::new(),
    )
    .unwrap()
}

#[test]
fn tls_carries_data_both_ways_and_refuses_strangers() {
    let files = tls_files("cluster");
    let (a, b) = (tls_env(&files), tls_env(&files));
    // both directions at once, with batches larger than the TLS and socket buffers
    let big = |i: i64| {
        let ids = Int64Array::from_iter_values(i * 50_000..(i + 1) * 50_000);
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(ids)]).unwrap()
    };
    let mut flows = Vec::new();
    for (from, to, job) in [(&a, &b, 40), (&b, &a, 41)] {
        let id = sub(JobId(job), 0, 0);
        let tx = from.register_outgoing(id);
        let (target, rx) = unbounded();
        let r = to.request(&addr(from), id, false, 0, target).unwrap();
        let sender = std::thread::spawn(move || {
            for i in 0..20 {
                tx.send((0, StreamElement::Batch(big(i)))).unwrap();
            }
            tx.send((0, StreamElement::EndOfInput)).unwrap();
        });
        flows.push((rx, r, sender));
    }
    for (rx, r, sender) in flows {
        let got = consume_all(&rx, &[r]);
        sender.join().unwrap();
        let rows: usize = got[0]
            .iter()
            .map(|e| match e {
                StreamElement::Batch(b) => b.num_rows(),
                _ => 0,
            })
            .sum();
        assert_eq!(rows, 20 * 50_000);
    }
    // a TaskManager whose certificate another CA signed, and one without TLS, are refused
    let stranger = tls_env(&tls_files("stranger"));
    let (target, _rx) = unbounded();
    let err = stranger
        .request(&addr(&a), sub(JobId(42), 0, 0), false, 0, target)
        .unwrap_err();
    assert!(err.to_string().contains("TLS handshake failed"), "{err}");
    let plain = env(Some("s3cret"));
    let (target, _rx) = unbounded();
    assert!(plain
        .request(&addr(&a), sub(JobId(42), 0, 0), false, 0, target)
        .is_err());
    // the server stays up for its peers
    let id = sub(JobId(43), 0, 0);
    let tx = a.register_outgoing(id);
    let (target, rx) = unbounded();
    let r = b.request(&addr(&a), id, false, 0, target).unwrap();
    tx.send((0, StreamElement::EndOfInput)).unwrap();
    assert_eq!(consume_all(&rx, &[r])[0].len(), 1);
}
