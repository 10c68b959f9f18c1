//! The exactly-once Kafka sink (`'sink.delivery-guarantee' = 'exactly-once'`, jobs with
//! checkpoints): a two-phase commit with a write-ahead of the messages in the checkpoint.
//!
//! Subtask `k` owns the transactional id `<prefix>-<k>`. Its messages are encoded as rows
//! arrive and kept in memory; a checkpoint `c` ([`SinkWriter::prepare_commit`]) closes the
//! current *epoch* and returns every epoch not committed yet (the state, so the messages are
//! durable in the checkpoint). When `c` completed ([`SinkWriter::commit`]) the epochs up to `c`
//! are produced in one Kafka transaction that also commits, through
//! `send_offsets_to_transaction`, the offset `c` for the consumer group named like the
//! transactional id on partition 0 of the topic: the *marker* says which checkpoint the id
//! committed last, atomically with the messages.
//!
//! Why not produce as rows arrive, as Flink does: a checkpoint's transaction would then have to
//! be committed after a restart by a new producer, which needs the old producer id and epoch
//! (Flink sets them by reflection); librdkafka cannot resume another producer's transaction,
//! its `init_transactions` aborts it. With the write-ahead, a restart
//! ([`SinkWriter::restore`]) creates the producer of each restored id (which fences the old
//! one and aborts its open transaction, if it died in the middle of a commit), reads the marker,
//! and commits the restored epochs after it, again with the marker: every epoch is committed
//! exactly once, whether or not the previous run got to it. What was written after the
//! restored checkpoint was never sent. Rows become visible to `read_committed` consumers (the
//! librdkafka default) when their checkpoint completes; the end of input commits with the
//! job's final commit (marker [`FINAL_MARKER`]).
//!
//! Memory: the messages of the epochs not yet committed (one checkpoint interval, plus the one
//! being committed).

use super::client::{client_config, creation_error, KafkaContext, METADATA_TIMEOUT};
use super::encode::RowEncoder;
use super::options::{DeliveryGuarantee, KafkaOptions};
use super::sink::{check_deliveries, send, sink_error, SinkContext};
use arrow::array::RecordBatch;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;
use strom_plan::TableSpec;
use strom_runtime::connector::ConnectorCounters;
use strom_runtime::{ConnectorError, SinkWriter, SubtaskInfo};

/// How long transaction calls (init, offsets, commit) may take.
pub const TXN_TIMEOUT: Duration = Duration::from_secs(60);
/// The marker of the final commit (the end of input): after every checkpoint.
pub const FINAL_MARKER: i64 = i64::MAX;
const MAGIC: &[u8; 4] = b"SKT1";

/// The messages of one epoch: keys and values back to back in `data`, their lengths in `lens`
/// (-1: none).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Messages {
    data: Vec<u8>,
    lens: Vec<(i32, i32)>,
}

impl Messages {
    fn push(&mut self, key: Option<&[u8]>, value: Option<&[u8]>) {
        let len = |b: Option<&[u8]>| b.map_or(-1, |b| b.len() as i32);
        self.lens.push((len(key), len(value)));
        self.data.extend_from_slice(key.unwrap_or_default());
        self.data.extend_from_slice(value.unwrap_or_default());
    }

    pub fn len(&self) -> usize {
        self.lens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// `(key, value)` of each message.
    pub fn iter(&self) -> impl Iterator<Item = (Option<&[u8]>, Option<&[u8]>)> {
        let mut at = 0usize;
        self.lens.iter().map(move |&(k, v)| {
            let mut take = |n: i32| {
                (n >= 0).then(|| {
                    let s = &self.data[at..at + n as usize];
                    at += n as usize;
                    s
                })
            };
            let key = take(k);
            (key, take(v))
        })
    }
}

/// The state of one subtask at a checkpoint: its transactional id and the epochs it has not
/// committed, `(checkpoint, messages)` in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TxnState {
    pub transactional_id: String,
    pub epochs: Vec<(u64, Messages)>,
}

/// Why the checkpointed state of an exactly-once Kafka sink cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnStateError {
    #[error("it is not the state of an exactly-once kafka sink")]
    NotASinkState,
    #[error("its transactional id is not UTF-8")]
    IdNotUtf8,
    #[error(
        "checkpoint {checkpoint}: the message lengths add up to {total} bytes, not {announced}"
    )]
    Lengths {
        checkpoint: u64,
        total: usize,
        announced: usize,
    },
    #[error("{0} bytes follow its end")]
    TrailingBytes(usize),
    #[error("it is truncated ({len} bytes, needs more at byte {at})")]
    Truncated { len: usize, at: usize },
}

impl TxnState {
    pub fn encode(&self) -> Vec<u8> {
        encode_state(&self.transactional_id, &self.epochs)
    }

    /// Decodes [`TxnState::encode`]; the error says what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Self, TxnStateError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err(TxnStateError::NotASinkState);
        }
        let n = r.u32()? as usize;
        let transactional_id =
            String::from_utf8(r.take(n)?.to_vec()).map_err(|_| TxnStateError::IdNotUtf8)?;
        let epochs = r.u32()? as usize;
        let mut out = Vec::with_capacity(epochs.min(1024));
        for _ in 0..epochs {
            let c = r.u64()?;
            let count = r.u64()? as usize;
            let data_len = r.u64()? as usize;
            let mut lens = Vec::with_capacity(count.min(bytes.len() / 8));
            let mut total = 0usize;
            for _ in 0..count {
                let (k, v) = (r.i32()?, r.i32()?);
                total += k.max(0) as usize + v.max(0) as usize;
                lens.push((k, v));
            }
            if total != data_len {
                return Err(TxnStateError::Lengths {
                    checkpoint: c,
                    total,
                    announced: data_len,
                });
            }
            let data = r.take(data_len)?.to_vec();
            out.push((c, Messages { data, lens }));
        }
        if r.at != bytes.len() {
            return Err(TxnStateError::TrailingBytes(bytes.len() - r.at));
        }
        Ok(Self {
            transactional_id,
            epochs: out,
        })
    }
}

/// The bytes of a [`TxnState`] of `id` and `epochs`.
fn encode_state(id: &str, epochs: &[(u64, Messages)]) -> Vec<u8> {
    let size: usize = epochs
        .iter()
        .map(|(_, m)| 24 + m.data.len() + 8 * m.lens.len())
        .sum();
    let mut out = Vec::with_capacity(16 + id.len() + size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(id.len() as u32).to_le_bytes());
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&(epochs.len() as u32).to_le_bytes());
    for (c, m) in epochs {
        out.extend_from_slice(&c.to_le_bytes());
        out.extend_from_slice(&(m.lens.len() as u64).to_le_bytes());
        out.extend_from_slice(&(m.data.len() as u64).to_le_bytes());
        for (k, v) in &m.lens {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&m.data);
    }
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TxnStateError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(TxnStateError::Truncated {
                len: self.bytes.len(),
                at: self.at,
            });
        };
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, TxnStateError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn i32(&mut self) -> Result<i32, TxnStateError> {
        Ok(i32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, TxnStateError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
}

/// The marker of checkpoint `c` (the final commit: [`FINAL_MARKER`]).
fn marker_of(c: u64) -> i64 {
    i64::try_from(c).unwrap_or(FINAL_MARKER)
}

/// Kafka's transactions as the writer uses them, for one transactional id: the real ones
/// ([`TxnProducer`]) or, in tests, a model.
pub trait TxnClient: Send {
    fn id(&self) -> &str;
    /// The checkpoint this id committed last (its marker), if any.
    fn committed_marker(&self) -> Result<Option<i64>, ConnectorError>;
    /// Produces `epochs` and the marker `marker` in one transaction and commits it: all or
    /// nothing. Returns the messages sent.
    fn commit_epochs(&self, epochs: &[&Messages], marker: i64) -> Result<u64, ConnectorError>;
}

/// Opens [`TxnClient`]s: initialises the transactions of an id, which fences every older client
/// of the same id and aborts its open transaction.
pub trait TxnClients: Send {
    fn open(&self, id: &str) -> Result<Box<dyn TxnClient>, ConnectorError>;
}

/// The real [`TxnClients`]: librdkafka producers for the table's brokers.
pub struct KafkaTxnClients(pub KafkaOptions);

impl TxnClients for KafkaTxnClients {
    fn open(&self, id: &str) -> Result<Box<dyn TxnClient>, ConnectorError> {
        Ok(Box::new(TxnProducer::new(&self.0, id)?))
    }
}

/// A transactional producer for one transactional id, and the consumer of its marker group.
pub struct TxnProducer {
    id: String,
    opts: KafkaOptions,
    producer: BaseProducer<SinkContext>,
    marker: BaseConsumer<KafkaContext>,
}

impl TxnProducer {
    /// Creates the producer and initialises its transactions: an older producer of the same id
    /// is fenced, and its open transaction aborted.
    pub fn new(opts: &KafkaOptions, id: &str) -> Result<Self, ConnectorError> {
        let producer: BaseProducer<SinkContext> = client_config(
            opts,
            &[
                ("client.id", format!("strom-{}-sink-{id}", opts.table)),
                ("queue.buffering.max.kbytes", "65536".to_string()),
                ("transaction.timeout.ms", "60000".to_string()),
            ],
            &[("transactional.id", id.to_string())],
        )
        .create_with_context(SinkContext::default())
        .map_err(|e| creation_error(opts, e))?;
        let marker: BaseConsumer<KafkaContext> = client_config(
            opts,
            &[(
                "client.id",
                format!("strom-{}-sink-{id}-marker", opts.table),
            )],
            &[
                ("group.id", id.to_string()),
                ("enable.auto.commit", "false".to_string()),
                ("isolation.level", "read_committed".to_string()),
            ],
        )
        .create_with_context(KafkaContext::default())
        .map_err(|e| creation_error(opts, e))?;
        let p = Self {
            id: id.to_string(),
            opts: opts.clone(),
            producer,
            marker,
        };
        p.producer
            .init_transactions(TXN_TIMEOUT)
            .map_err(|e| p.failed("cannot initialise the transactions", e))?;
        Ok(p)
    }

    fn failed(&self, what: &str, e: KafkaError) -> ConnectorError {
        let last = self
            .producer
            .context()
            .client
            .last_error()
            .map(|l| format!("; last client error: {l}"))
            .unwrap_or_default();
        let hint = match &e {
            KafkaError::Transaction(t) if t.code() == RDKafkaErrorCode::UnsupportedFeature => {
                "; the brokers do not support Kafka transactions (tansu 0.6 lacks EndTxn, for one): 'sink.delivery-guarantee' = 'exactly-once' needs a broker that does (Kafka 0.11+), else use 'at-least-once'"
            }
            _ => "",
        };
        sink_error(
            &self.opts,
            format!("{what} of transactional id '{}': {e}{last}{hint}", self.id),
        )
    }

    /// A transaction with the marker only: checks that the brokers can commit transactions
    /// with offsets (what every commit of the sink does), for `validate`.
    pub fn probe(&self) -> Result<(), ConnectorError> {
        let marker = self.committed_marker()?.unwrap_or(0);
        self.commit_epochs(&[], marker).map(|_| ())
    }
}

impl TxnClient for TxnProducer {
    fn id(&self) -> &str {
        &self.id
    }

    fn committed_marker(&self) -> Result<Option<i64>, ConnectorError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.opts.topic, 0);
        let got = self
            .marker
            .committed_offsets(tpl, METADATA_TIMEOUT)
            .map_err(|e| self.failed("cannot read the committed checkpoint (marker)", e))?;
        Ok(
            match got.find_partition(&self.opts.topic, 0).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            },
        )
    }

    fn commit_epochs(&self, epochs: &[&Messages], marker: i64) -> Result<u64, ConnectorError> {
        let (p, opts) = (&self.producer, &self.opts);
        p.begin_transaction()
            .map_err(|e| self.failed("cannot begin a transaction", e))?;
        let mut sent = 0u64;
        let result = (|| {
            for m in epochs {
                for (k, v) in m.iter() {
                    send(opts, p, k, v)?;
                    sent += 1;
                }
                p.poll(Duration::ZERO);
            }
            let mut offsets = TopicPartitionList::new();
            offsets
                .add_partition_offset(&opts.topic, 0, Offset::Offset(marker))
                .map_err(|e| self.failed("cannot build the marker", e))?;
            let group = self
                .marker
                .group_metadata()
                .ok_or_else(|| sink_error(opts, "no consumer group metadata".into()))?;
            p.send_offsets_to_transaction(&offsets, &group, TXN_TIMEOUT)
                .map_err(|e| self.failed("cannot add the marker to the transaction", e))?;
            // commit_transaction flushes the messages first
            p.commit_transaction(TXN_TIMEOUT)
                .map_err(|e| self.failed("cannot commit the transaction", e))?;
            check_deliveries(opts, p)
        })();
        if let Err(e) = result {
            // best effort; a restart fences this producer and aborts the transaction anyway
            let _ = p.abort_transaction(Duration::from_secs(5));
            return Err(e);
        }
        Ok(sent)
    }
}

/// Commits the epochs of `state` after `client`'s marker (a restore), with the marker of the
/// last one; returns the messages sent.
fn commit_restored(
    client: &dyn TxnClient,
    table: &str,
    state: &TxnState,
) -> Result<u64, ConnectorError> {
    let marker = client.committed_marker()?.unwrap_or(-1);
    let todo: Vec<&(u64, Messages)> = state
        .epochs
        .iter()
        .filter(|(c, _)| marker_of(*c) > marker)
        .collect();
    let Some(&&(last, _)) = todo.last() else {
        return Ok(0);
    };
    tracing::info!(
        table,
        transactional_id = %client.id(),
        marker,
        checkpoints = ?todo.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        "kafka sink: committing the restored checkpoints' transactions"
    );
    let epochs: Vec<&Messages> = todo.iter().map(|(_, m)| m).collect();
    client.commit_epochs(&epochs, marker_of(last))
}

/// Writes one subtask's rows exactly once (see the module documentation).
pub struct TransactionalKafkaWriter {
    enc: RowEncoder,
    subtask: SubtaskInfo,
    clients: Box<dyn TxnClients>,
    client: Box<dyn TxnClient>,
    current: Messages,
    /// Closed by checkpoints, not committed yet, in order.
    pending: Vec<(u64, Messages)>,
    bytes: u64,
}

impl TransactionalKafkaWriter {
    pub fn new(
        table: &TableSpec,
        opts: KafkaOptions,
        subtask: SubtaskInfo,
    ) -> Result<Self, ConnectorError> {
        let clients = Box::new(KafkaTxnClients(opts.clone()));
        Self::with_clients(table, opts, subtask, clients)
    }

    /// A writer whose transactions go through `clients`.
    pub fn with_clients(
        table: &TableSpec,
        opts: KafkaOptions,
        subtask: SubtaskInfo,
        clients: Box<dyn TxnClients>,
    ) -> Result<Self, ConnectorError> {
        let DeliveryGuarantee::ExactlyOnce { prefix } = &opts.delivery else {
            return Err(ConnectorError::Other(format!(
                "table '{}': the transactional writer needs 'sink.delivery-guarantee' = 'exactly-once'",
                opts.table
            )));
        };
        let client = clients.open(&transactional_id(prefix, subtask.index))?;
        Ok(Self {
            enc: RowEncoder::new(table, opts),
            subtask,
            clients,
            client,
            current: Messages::default(),
            pending: Vec::new(),
            bytes: 0,
        })
    }
}

/// The transactional id of subtask `index`.
pub fn transactional_id(prefix: &str, index: u32) -> String {
    format!("{prefix}-{index}")
}

impl SinkWriter for TransactionalKafkaWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        let current = &mut self.current;
        self.bytes += self.enc.encode(batch, |_, k, v| {
            current.push(k, v);
            Ok(())
        })?;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        // the rest is prepared and committed by the job's final commit
        Ok(())
    }

    fn counters(&self) -> ConnectorCounters {
        ConnectorCounters {
            bytes: self.bytes,
            skipped_rows: 0,
        }
    }

    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Option<Vec<u8>>, ConnectorError> {
        let epoch = std::mem::take(&mut self.current);
        if !epoch.is_empty() {
            self.pending.push((checkpoint, epoch));
        }
        Ok(Some(encode_state(self.client.id(), &self.pending)))
    }

    fn commit(&mut self, checkpoint: u64) -> Result<(), ConnectorError> {
        let n = self.pending.partition_point(|(c, _)| *c <= checkpoint);
        if n == 0 {
            return Ok(());
        }
        let marker = marker_of(self.pending[n - 1].0);
        let epochs: Vec<&Messages> = self.pending[..n].iter().map(|(_, m)| m).collect();
        self.client.commit_epochs(&epochs, marker)?;
        self.pending.drain(..n);
        Ok(())
    }

    fn restore(&mut self, states: &[Vec<u8>]) -> Result<(), ConnectorError> {
        let table = &self.enc.opts.table;
        for (j, bytes) in states.iter().enumerate() {
            if j as u32 % self.subtask.parallelism != self.subtask.index {
                continue;
            }
            let state = TxnState::decode(bytes).map_err(|e| {
                ConnectorError::Other(format!(
                    "table '{table}': cannot restore the exactly-once kafka sink: the state of subtask {j} is unreadable: {e}"
                ))
            })?;
            if state.transactional_id == self.client.id() {
                commit_restored(self.client.as_ref(), table, &state)?;
            } else {
                // another subtask's id (another parallelism, or another prefix before): its own
                // client fences the old one and commits what the checkpoint holds
                let other = self.clients.open(&state.transactional_id)?;
                commit_restored(other.as_ref(), table, &state)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    type Msg = (Option<Vec<u8>>, Option<Vec<u8>>);

    fn messages(ms: &[Msg]) -> Messages {
        let mut m = Messages::default();
        for (k, v) in ms {
            m.push(k.as_deref(), v.as_deref());
        }
        m
    }

    fn bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20))
    }

    proptest! {
        /// A state reads back as written, message for message; any truncation is an error.
        #[test]
        fn state_round_trips(
            id in "[a-z0-9-]{0,12}",
            epochs in proptest::collection::vec(
                (any::<u64>(), proptest::collection::vec((bytes(), bytes()), 0..8)),
                0..4,
            ),
            cut in any::<prop::sample::Index>(),
        ) {
            let state = TxnState {
                transactional_id: id,
                epochs: epochs.iter().map(|(c, ms)| (*c, messages(ms))).collect(),
            };
            let enc = state.encode();
            let back = TxnState::decode(&enc).expect("decodes");
            prop_assert_eq!(&back, &state);
            for ((_, m), (_, ms)) in back.epochs.iter().zip(&epochs) {
                let got: Vec<Msg> = m
                    .iter()
                    .map(|(k, v)| (k.map(<[u8]>::to_vec), v.map(<[u8]>::to_vec)))
                    .collect();
                prop_assert_eq!(&got, ms);
            }
            let n = cut.index(enc.len());
            prop_assert!(TxnState::decode(&enc[..n]).is_err());
        }
    }

    /// A model of Kafka's transactions: a commit applies all of its messages and its marker, or
    /// nothing; opening an id fences its older clients (their commits fail, as a zombie's do).
    #[derive(Clone, Default)]
    struct Model(Arc<Mutex<ModelState>>);

    #[derive(Default)]
    struct ModelState {
        markers: HashMap<String, i64>,
        generation: HashMap<String, u64>,
        log: Vec<i64>,
    }

    struct ModelClient {
        id: String,
        generation: u64,
        model: Model,
    }

    impl TxnClients for Model {
        fn open(&self, id: &str) -> Result<Box<dyn TxnClient>, ConnectorError> {
            let mut st = self.0.lock().unwrap();
            let g = st.generation.entry(id.to_string()).or_default();
            *g += 1;
            Ok(Box::new(ModelClient {
                id: id.to_string(),
                generation: *g,
                model: self.clone(),
            }))
        }
    }

    impl TxnClient for ModelClient {
        fn id(&self) -> &str {
            &self.id
        }
        fn committed_marker(&self) -> Result<Option<i64>, ConnectorError> {
            Ok(self.model.0.lock().unwrap().markers.get(&self.id).copied())
        }
        fn commit_epochs(&self, epochs: &[&Messages], marker: i64) -> Result<u64, ConnectorError> {
            let mut st = self.model.0.lock().unwrap();
            if st.generation[&self.id] != self.generation {
                return Err(ConnectorError::Other(format!("{} is fenced", self.id)));
            }
            let mut n = 0;
            for m in epochs {
                for (_, v) in m.iter() {
                    let v: serde_json::Value = serde_json::from_slice(v.unwrap()).unwrap();
                    st.log.push(v["id"].as_i64().unwrap());
                    n += 1;
                }
            }
            st.markers.insert(self.id.clone(), marker);
            Ok(n)
        }
    }

    fn model_table() -> TableSpec {
        TableSpec {
            name: "out".into(),
            schema: strom_plan::RowSchema::nullable(&[("id", strom_plan::SqlType::BigInt)]),
            options: [
                ("connector", "kafka"),
                ("topic", "out"),
                ("properties.bootstrap.servers", "127.0.0.1:9"),
                ("format", "json"),
                ("sink.delivery-guarantee", "exactly-once"),
                ("sink.transactional-id-prefix", "job"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            watermark: None,
            primary_key: vec![],
            partition_keys: vec![],
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// The source emits this many rows (each to subtask `id % parallelism`).
        Write(u8),
        /// A checkpoint: every sink prepares; when it completes, the sinks in `notified` (a bit
        /// set) get its notification before the next step.
        Checkpoint { completes: bool, notified: u8 },
        /// Every task dies; the job restarts from the latest completed checkpoint at this
        /// parallelism, and the source rewinds to its position.
        Crash(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1u8..40).prop_map(Op::Write),
            (any::<bool>(), any::<u8>()).prop_map(|(completes, notified)| Op::Checkpoint {
                completes,
                notified
            }),
            (1u32..4).prop_map(Op::Crash),
        ]
    }

    struct Job {
        table: TableSpec,
        model: Model,
        writers: Vec<TransactionalKafkaWriter>,
        pos: i64,
    }

    impl Job {
        fn start(&mut self, p: u32, restore: Option<&[Vec<u8>]>) {
            self.writers.clear();
            let opts = KafkaOptions::parse(&self.table).unwrap();
            for i in 0..p {
                let sub = SubtaskInfo {
                    index: i,
                    parallelism: p,
                };
                let mut w = TransactionalKafkaWriter::with_clients(
                    &self.table,
                    opts.clone(),
                    sub,
                    Box::new(self.model.clone()),
                )
                .unwrap();
                if let Some(states) = restore {
                    w.restore(states).unwrap();
                }
                self.writers.push(w);
            }
        }

        fn write_to(&mut self, end: i64) {
            let p = self.writers.len() as i64;
            let schema = self.table.schema.to_arrow();
            for (i, w) in self.writers.iter_mut().enumerate() {
                let ids: Vec<i64> = (self.pos..end).filter(|r| r % p == i as i64).collect();
                let col = Arc::new(arrow::array::Int64Array::from(ids));
                w.write(&RecordBatch::try_new(schema.clone(), vec![col]).unwrap())
                    .unwrap();
            }
            self.pos = end;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Any interleaving of rows, checkpoints (completed or not, notified to any subset of
        /// the sinks), crashes and restarts at another parallelism, then the end of input: every
        /// row is committed exactly once.
        #[test]
        fn every_row_is_committed_once(
            rows in 0i64..300,
            ops in proptest::collection::vec(op(), 0..30),
        ) {
            let mut job = Job { table: model_table(), model: Model::default(), writers: vec![], pos: 0 };
            job.start(2, None);
            // (position, states) of the latest completed checkpoint
            let mut completed: Option<(i64, Vec<Vec<u8>>)> = None;
            let mut next_id = 1u64;
            for op in ops {
                match op {
                    Op::Write(n) => job.write_to((job.pos + n as i64).min(rows)),
                    Op::Checkpoint { completes, notified } => {
                        let id = next_id;
                        next_id += 1;
                        let states: Vec<Vec<u8>> = job
                            .writers
                            .iter_mut()
                            .map(|w| w.prepare_commit(id).unwrap().unwrap())
                            .collect();
                        if completes {
                            completed = Some((job.pos, states));
                            for (i, w) in job.writers.iter_mut().enumerate() {
                                if notified & (1 << i) != 0 {
                                    w.commit(id).unwrap();
                                }
                            }
                        }
                    }
                    Op::Crash(p) => {
                        let (pos, states) = completed.clone().unwrap_or_default();
                        job.start(p, Some(&states));
                        job.pos = pos;
                    }
                }
            }
            job.write_to(rows);
            for w in &mut job.writers {
                w.finish().unwrap();
                w.prepare_commit(u64::MAX).unwrap();
            }
            for w in &mut job.writers {
                w.commit(u64::MAX).unwrap();
            }
            let mut log = job.model.0.lock().unwrap().log.clone();
            log.sort_unstable();
            prop_assert_eq!(log, (0..rows).collect::<Vec<_>>());
        }
    }

    #[test]
    fn foreign_bytes_are_refused_with_a_reason() {
        let e = TxnState::decode(br#"{"files": []}"#).expect_err("not a state");
        assert_eq!(e, TxnStateError::NotASinkState);
        assert!(
            e.to_string()
                .contains("not the state of an exactly-once kafka sink"),
            "{e}"
        );
        let mut enc = TxnState::default().encode();
        enc.push(0);
        assert!(TxnState::decode(&enc)
            .expect_err("trailing")
            .to_string()
            .contains("follow"));
    }

    #[test]
    fn the_final_commit_marker_is_after_every_checkpoint() {
        assert_eq!(marker_of(7), 7);
        assert_eq!(marker_of(u64::MAX), FINAL_MARKER);
        assert!(marker_of(u64::MAX) > marker_of(1 << 40));
    }
}
