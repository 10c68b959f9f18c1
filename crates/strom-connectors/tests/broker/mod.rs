//! A tansu Kafka broker for tests: started in a fresh temporary directory on a free port with
//! sqlite storage, killed on drop. Plus plain rdkafka helpers (topic creation, producing,
//! reading back) that do not use the connector under test.

#![allow(dead_code)]

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

const INSTALL: &str = "cargo install tansu --version 0.6.0 --locked --features dynostore,libsql";

/// The tansu binary: on PATH or at `$HOME/.cargo/bin/tansu`.
pub fn tansu_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("tansu"))
            .find(|p| p.is_file())
    });
    let in_cargo = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo/bin/tansu"))
        .filter(|p| p.is_file());
    match on_path.or(in_cargo) {
        Some(p) => p,
        None => panic!(
            "the Kafka tests need the tansu broker, which is neither on PATH nor at $HOME/.cargo/bin/tansu; install it with `{INSTALL}`"
        ),
    }
}

/// A port nobody listens on (right now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// How long a test reads a topic before it gives up: long enough for a job on a loaded machine
/// (a windowed job on 2 cores beside a build was seen to need more than 30 s).
const READ_TIMEOUT: Duration = Duration::from_secs(90);

/// A running tansu broker.
pub struct Broker {
    child: Child,
    dir: PathBuf,
    port: u16,
}

static STARTED: AtomicU32 = AtomicU32::new(0);

impl Broker {
    /// Starts a broker and waits (at most 60 s) until it answers metadata requests.
    pub fn start() -> Broker {
        let bin = tansu_binary();
        let dir = std::env::temp_dir().join(format!(
            "strom-tansu-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the broker directory");
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("tansu.log")).expect("create the broker log");
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "sqlite://tansu.db",
            ])
            .current_dir(&dir)
            .env_remove("STORAGE_ENGINE")
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}); install it with `{INSTALL}`",
                    bin.display()
                )
            });
        let mut broker = Broker { child, dir, port };
        broker.wait_ready(Duration::from_secs(60));
        broker
    }

    fn wait_ready(&mut self, limit: Duration) {
        let started = Instant::now();
        let consumer: BaseConsumer = self.config().create().expect("create a metadata client");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("tansu exited at start ({status}); its log:\n{}", self.log());
            }
            if consumer
                .fetch_metadata(None, Duration::from_secs(1))
                .is_ok()
            {
                return;
            }
            if started.elapsed() > limit {
                panic!(
                    "tansu did not answer metadata requests within {limit:?}; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The broker's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("tansu.log")).unwrap_or_default()
    }

    pub fn servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A client configuration for this broker.
    pub fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.servers());
        c
    }

    /// Creates a topic and waits (at most 30 s) until its partitions show in the metadata.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> =
            self.config().create().expect("create an admin client");
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
        let results = block_on(admin.create_topics([&topic], &opts))
            .unwrap_or_else(|e| panic!("create topic {name}: {e}"));
        for r in results {
            if let Err((t, e)) = r {
                panic!("create topic {t}: {e}");
            }
        }
        let consumer: BaseConsumer = self.config().create().expect("metadata client");
        let started = Instant::now();
        loop {
            let n = consumer
                .fetch_metadata(Some(name), Duration::from_secs(5))
                .ok()
                .and_then(|md| {
                    md.topics()
                        .iter()
                        .find(|t| t.name() == name && t.error().is_none())
                        .map(|t| t.partitions().len())
                });
            if n == Some(partitions as usize) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "topic {name} has no {partitions} partitions after 30 s (found {n:?})"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A producer for test input.
    pub fn producer(&self) -> BaseProducer {
        self.config()
            .set("linger.ms", "0")
            .create()
            .expect("create a producer")
    }

    /// Produces `(partition, value, timestamp)` messages and waits until all are acknowledged.
    pub fn produce(&self, topic: &str, messages: &[(i32, Vec<u8>, Option<i64>)]) {
        let p = self.producer();
        for (partition, value, ts) in messages {
            let mut r = BaseRecord::<(), [u8]>::to(topic)
                .partition(*partition)
                .payload(value.as_slice());
            if let Some(ts) = ts {
                r = r.timestamp(*ts);
            }
            let mut r = r;
            loop {
                match p.send(r) {
                    Ok(()) => break,
                    Err((e, back)) => {
                        assert!(
                            matches!(
                                e,
                                rdkafka::error::KafkaError::MessageProduction(
                                    rdkafka::types::RDKafkaErrorCode::QueueFull
                                )
                            ),
                            "produce: {e}"
                        );
                        r = back;
                        p.poll(Duration::from_millis(50));
                    }
                }
            }
        }
        p.flush(Duration::from_secs(30)).expect("flush test input");
    }

    /// Reads `count` messages from every partition of `topic` from the beginning (at most
    /// [`READ_TIMEOUT`]): `(partition, offset, value)`.
    pub fn read_all(
        &self,
        topic: &str,
        partitions: i32,
        count: usize,
    ) -> Vec<(i32, i64, Option<Vec<u8>>)> {
        self.read_records(topic, partitions, count)
            .into_iter()
            .map(|r| (r.partition, r.offset, r.value))
            .collect()
    }

    /// Like [`Broker::read_all`], with the keys.
    pub fn read_records(&self, topic: &str, partitions: i32, count: usize) -> Vec<Record> {
        self.consume(topic, partitions, &[], |out, _| out.len() >= count)
            .unwrap_or_else(|got| {
                panic!(
                    "read only {} of {count} messages of {topic} in {READ_TIMEOUT:?}",
                    got.len()
                )
            })
    }

    /// Every message of `topic` that a `read_committed` consumer sees now: read from the
    /// beginning until the end of every partition (at most [`READ_TIMEOUT`]).
    pub fn read_committed(&self, topic: &str, partitions: i32) -> Vec<Record> {
        self.consume(
            topic,
            partitions,
            &[
                ("enable.partition.eof", "true"),
                ("isolation.level", "read_committed"),
            ],
            |_, ended| ended >= partitions as usize,
        )
        .unwrap_or_else(|_| panic!("did not reach the end of {topic} in {READ_TIMEOUT:?}"))
    }

    /// Reads `topic` from the beginning of every partition with a consumer of the extra
    /// settings until `done(messages, partitions at their end)`: the messages, or after [`READ_TIMEOUT`]
    /// those read so far as the error.
    fn consume(
        &self,
        topic: &str,
        partitions: i32,
        settings: &[(&str, &str)],
        done: impl Fn(&[Record], usize) -> bool,
    ) -> Result<Vec<Record>, Vec<Record>> {
        let mut config = self.config();
        config
            .set("group.id", "strom-test-reader")
            .set("enable.auto.commit", "false");
        for (k, v) in settings {
            config.set(*k, *v);
        }
        let c: BaseConsumer = config.create().expect("create a consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("partition");
        }
        c.assign(&tpl).expect("assign");
        let mut out = Vec::new();
        let mut ended = std::collections::BTreeSet::new();
        let started = Instant::now();
        while !done(&out, ended.len()) {
            if started.elapsed() > READ_TIMEOUT {
                return Err(out);
            }
            match c.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => out.push(Record {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                }),
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                    ended.insert(p);
                }
                Some(Err(e)) => eprintln!("test consumer: {e}"),
                None => {}
            }
        }
        Ok(out)
    }
}

/// A message read back.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on this thread (for rdkafka's admin API).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}
