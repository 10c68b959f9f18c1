//! The Kafka source: one `BaseConsumer` per subtask with a manual assignment of its partitions
//! (partition `p` goes to subtask `p % parallelism`; no group rebalancing, no offset commits).
//!
//! The start offset of each partition is resolved when the reader is created (from the
//! watermarks, the group's committed offsets or the offsets of a timestamp), so
//! [`KafkaReader::offsets`] is exact from the start. Each batch holds rows of one partition
//! ([`SourceReader::last_split`]); messages are decoded as they are polled into per-partition
//! builders, and a batch is returned when a partition has `batch_rows` rows or about 100 ms
//! passed (an empty batch when nothing arrived).
//!
//! **Checkpoints.** The position ([`SourceReader::snapshot_position`]) is JSON: the next offset
//! of each assigned partition (after the last message whose row was returned) and, when
//! bounded, each partition's end offset, e.g. `{"offsets": {"0": 120, "2": 7}, "ends": {"0":
//! 300, "2": 7}}`. A restored reader ([`KafkaReader::resume`]) reads the partitions that
//! subtask would read anyway, each from the offset found in any of the positions (and, when
//! bounded, up to the recorded end offset, so that the restored job reads what the first one
//! would have), the others as `'scan.startup.mode'` says.

use super::client::{self, KafkaContext, METADATA_TIMEOUT};
use super::decode::Decoder;
use super::options::{assigned_partitions, BoundedMode, KafkaOptions, StartupMode};
use arrow::array::RecordBatch;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use strom_plan::TableSpec;
use strom_runtime::connector::ConnectorCounters;
use strom_runtime::{ConnectorError, SourceReader, SplitState, SubtaskInfo};

/// How long one `next_batch` call may wait for messages.
pub const POLL_WINDOW: Duration = Duration::from_millis(100);

/// The reading state of one assigned partition.
struct Part {
    id: i32,
    decoder: Decoder,
    /// The offset after the last message polled (decoded, skipped or a tombstone).
    pending_next: i64,
    /// The offset after the last message whose row was returned in a batch.
    emitted_next: i64,
    /// Bounded: the end offset (exclusive), the high watermark when the reader started.
    end: Option<i64>,
    /// Bounded: every message before `end` was polled.
    done: bool,
    last_message: Instant,
    /// When a quiet partition's high watermark was last asked for (see `confirm_quiet`).
    quiet_checked: Option<Instant>,
    /// The broker confirmed that nothing past our position is waiting (since the last message).
    quiet_confirmed: bool,
}

/// Reads one subtask's partitions of a topic.
pub struct KafkaReader {
    opts: KafkaOptions,
    consumer: Option<BaseConsumer<KafkaContext>>,
    parts: Vec<Part>,
    /// Partition id -> index in `parts`.
    index: BTreeMap<i32, usize>,
    schema: arrow::datatypes::SchemaRef,
    batch_rows: usize,
    last_split: Option<u32>,
    bytes: u64,
    skipped: u64,
    /// The error that failed the reader: `(a decoding error, message)`, returned again by
    /// every later call.
    failed: Option<(bool, String)>,
    last_warning: Option<String>,
}

impl KafkaReader {
    /// A partition quiet for the idle timeout is idle only if it has really nothing more to
    /// read: while the broker holds messages past our position (a slow first fetch, a loaded
    /// machine) it stays active, so its rows are not late when they come. Asks the broker at most
    /// once per idle timeout per quiet partition.
    fn confirm_quiet(&mut self) {
        let (Some(timeout), Some(consumer)) = (self.opts.idle_timeout, self.consumer.as_ref())
        else {
            return;
        };
        for p in &mut self.parts {
            if p.done
                || p.last_message.elapsed() < timeout
                || p.quiet_checked.is_some_and(|c| c.elapsed() < timeout)
            {
                continue;
            }
            p.quiet_checked = Some(Instant::now());
            // unknown (the broker did not answer in time): not idle, ask again next period
            let pending = consumer
                .fetch_watermarks(&self.opts.topic, p.id, Duration::from_secs(1))
                .map(|(_, high)| p.pending_next < high)
                .unwrap_or(true);
            if pending {
                p.last_message = Instant::now();
            }
            p.quiet_confirmed = !pending;
        }
    }

    /// Creates the consumer of subtask `subtask`, resolves the start (and, when bounded, end)
    /// offsets of its partitions and assigns them.
    pub fn new(
        table: &TableSpec,
        opts: KafkaOptions,
        projection: &[usize],
        subtask: SubtaskInfo,
        batch_rows: usize,
    ) -> Result<Self, ConnectorError> {
        Self::resume(
            table,
            opts,
            projection,
            subtask,
            batch_rows,
            &BTreeMap::new(),
        )
    }

    /// Like [`KafkaReader::new`], but the partitions in `resume` (from [`decode_positions`])
    /// start at their recorded offset (and, when bounded, end at their recorded end).
    pub fn resume(
        table: &TableSpec,
        opts: KafkaOptions,
        projection: &[usize],
        subtask: SubtaskInfo,
        batch_rows: usize,
        resume: &BTreeMap<i32, Resume>,
    ) -> Result<Self, ConnectorError> {
        let batch_rows = batch_rows.max(1);
        let bounded = opts.bounded == BoundedMode::LatestOffset;
        let consumer = client::consumer(
            &opts,
            &format!("strom-{}-source-{}", opts.table, subtask.index),
            &[("enable.partition.eof", bounded.to_string())],
        )?;
        let all = client::topic_partitions(&opts, &consumer, || consumer.context().last_error())?;
        let mine = assigned_partitions(&all, subtask.index, subtask.parallelism);
        let schema = table.schema.project(projection).to_arrow();
        let mut reader = Self {
            consumer: None,
            parts: Vec::new(),
            index: BTreeMap::new(),
            schema,
            batch_rows,
            last_split: None,
            bytes: 0,
            skipped: 0,
            failed: None,
            last_warning: None,
            opts,
        };
        if mine.is_empty() {
            tracing::info!(
                table = %reader.opts.table,
                subtask = subtask.index,
                partitions = all.len(),
                "kafka source subtask has no partitions (more subtasks than partitions)"
            );
            return Ok(reader);
        }
        let starts = reader.resolve_offsets(&consumer, &mine, resume)?;
        let now = Instant::now();
        let mut tpl = TopicPartitionList::with_capacity(mine.len());
        for (&p, &(start, end)) in mine.iter().zip(&starts) {
            let end = if bounded { end } else { None };
            reader.index.insert(p, reader.parts.len());
            reader.parts.push(Part {
                id: p,
                decoder: Decoder::new(
                    table,
                    reader.opts.format,
                    reader.opts.delimiter,
                    projection,
                    batch_rows.min(1024),
                ),
                pending_next: start,
                emitted_next: start,
                end,
                done: end.is_some_and(|e| start >= e),
                last_message: now,
                quiet_checked: None,
                quiet_confirmed: false,
            });
            if end.is_none_or(|e| start < e) {
                tpl.add_partition_offset(&reader.opts.topic, p, Offset::Offset(start))
                    .map_err(|e| reader.io(format!("cannot assign partition {p}: {e}")))?;
            }
        }
        consumer
            .assign(&tpl)
            .map_err(|e| reader.io(format!("cannot assign partitions {mine:?}: {e}")))?;
        tracing::debug!(
            table = %reader.opts.table,
            subtask = subtask.index,
            offsets = ?reader.offsets(),
            "kafka source assigned"
        );
        reader.consumer = Some(consumer);
        Ok(reader)
    }

    fn io(&self, what: String) -> ConnectorError {
        ConnectorError::Io(format!(
            "kafka source of table '{}' (topic '{}' on {}): {what}",
            self.opts.table, self.opts.topic, self.opts.servers
        ))
    }

    /// `(low, high)` watermarks of a partition.
    fn watermarks(
        &self,
        consumer: &BaseConsumer<KafkaContext>,
        p: i32,
    ) -> Result<(i64, i64), ConnectorError> {
        consumer
            .fetch_watermarks(&self.opts.topic, p, METADATA_TIMEOUT)
            .map_err(|e| {
                self.io(format!(
                    "cannot fetch the offsets of partition {p}: {e}{}",
                    consumer
                        .context()
                        .last_error()
                        .map(|l| format!(" (last error: {l})"))
                        .unwrap_or_default()
                ))
            })
    }

    /// `(start offset, end offset)` of each partition: restored ones from `resume` (the end:
    /// the recorded one, else the high watermark), the others by `'scan.startup.mode'` (the
    /// end: the high watermark).
    fn resolve_offsets(
        &self,
        consumer: &BaseConsumer<KafkaContext>,
        partitions: &[i32],
        resume: &BTreeMap<i32, Resume>,
    ) -> Result<Vec<(i64, Option<i64>)>, ConnectorError> {
        let fresh: Vec<i32> = partitions
            .iter()
            .copied()
            .filter(|p| !resume.contains_key(p))
            .collect();
        let mut fresh_starts = if fresh.is_empty() {
            Vec::new()
        } else {
            self.start_offsets(consumer, &fresh)?
        }
        .into_iter();
        let mut out = Vec::with_capacity(partitions.len());
        for &p in partitions {
            let Some(r) = resume.get(&p) else {
                let (start, high) = fresh_starts.next().expect("one start per fresh partition");
                out.push((start, Some(high)));
                continue;
            };
            let (low, high) = self.watermarks(consumer, p)?;
            let start = r.next.clamp(low, high.max(low));
            if start != r.next {
                tracing::warn!(
                    table = %self.opts.table,
                    topic = %self.opts.topic,
                    partition = p,
                    recorded = r.next,
                    low,
                    high,
                    "the checkpointed offset is no longer in the partition (retention, or the topic was recreated); reading from offset {start}"
                );
            }
            out.push((start, Some(r.end.unwrap_or(high))));
        }
        Ok(out)
    }

    /// `(start offset, high watermark)` of each partition.
    fn start_offsets(
        &self,
        consumer: &BaseConsumer<KafkaContext>,
        partitions: &[i32],
    ) -> Result<Vec<(i64, i64)>, ConnectorError> {
        let topic = &self.opts.topic;
        let last = || consumer.context().last_error();
        let mut marks = Vec::with_capacity(partitions.len());
        for &p in partitions {
            marks.push(self.watermarks(consumer, p)?);
        }
        let lookup_error = |what: &str, e: KafkaError| {
            self.io(format!(
                "cannot fetch {what}: {e}{}",
                last()
                    .map(|l| format!(" (last error: {l})"))
                    .unwrap_or_default()
            ))
        };
        let found =
            |tpl: &TopicPartitionList, p: i32| tpl.find_partition(topic, p).map(|e| e.offset());
        Ok(match self.opts.startup {
            StartupMode::Earliest => marks.iter().map(|&(l, h)| (l, h)).collect(),
            StartupMode::Latest => marks.iter().map(|&(_, h)| (h, h)).collect(),
            StartupMode::GroupOffsets => {
                let mut tpl = TopicPartitionList::new();
                for &p in partitions {
                    tpl.add_partition(topic, p);
                }
                let committed = consumer
                    .committed_offsets(tpl, METADATA_TIMEOUT)
                    .map_err(|e| lookup_error("the committed offsets of the group", e))?;
                let reset_latest = self
                    .opts
                    .properties
                    .get("auto.offset.reset")
                    .is_some_and(|r| matches!(r.trim(), "latest" | "largest" | "end"));
                partitions
                    .iter()
                    .zip(&marks)
                    .map(|(&p, &(l, h))| match found(&committed, p) {
                        Some(Offset::Offset(o)) if o >= 0 => (o.clamp(l, h), h),
                        _ if reset_latest => (h, h),
                        _ => (l, h),
                    })
                    .collect()
            }
            StartupMode::Timestamp(ts) => {
                let mut tpl = TopicPartitionList::new();
                for &p in partitions {
                    tpl.add_partition_offset(topic, p, Offset::Offset(ts))
                        .map_err(|e| self.io(format!("cannot look up a timestamp: {e}")))?;
                }
                let at = consumer
                    .offsets_for_times(tpl, METADATA_TIMEOUT)
                    .map_err(|e| {
                        lookup_error("the offsets of 'scan.startup.timestamp-millis'", e)
                    })?;
                partitions
                    .iter()
                    .zip(&marks)
                    .map(|(&p, &(l, h))| match found(&at, p) {
                        Some(Offset::Offset(o)) if o >= 0 => (o.clamp(l, h), h),
                        _ => (h, h),
                    })
                    .collect()
            }
        })
    }

    /// The next offset of each assigned partition: the offset after the last message whose row
    /// was returned (or that was skipped), i.e. where a restart would resume.
    pub fn offsets(&self) -> BTreeMap<i32, i64> {
        self.parts
            .iter()
            .map(|p| {
                let o = if p.decoder.rows() == 0 {
                    p.pending_next
                } else {
                    p.emitted_next
                };
                (p.id, o)
            })
            .collect()
    }

    /// The partitions of this subtask.
    pub fn partitions(&self) -> Vec<i32> {
        self.parts.iter().map(|p| p.id).collect()
    }

    fn bounded(&self) -> bool {
        self.opts.bounded == BoundedMode::LatestOffset
    }

    fn all_done(&self) -> bool {
        self.parts.iter().all(|p| p.done && p.decoder.rows() == 0)
    }

    fn emit(&mut self, i: usize) -> Result<Option<RecordBatch>, ConnectorError> {
        let p = &mut self.parts[i];
        let batch = p.decoder.finish()?;
        p.emitted_next = p.pending_next;
        self.last_split = Some(p.id as u32);
        Ok(Some(batch))
    }

    fn empty(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        self.last_split = None;
        Ok(Some(RecordBatch::new_empty(self.schema.clone())))
    }

    fn fail(&mut self, msg: String) -> ConnectorError {
        self.failed = Some((true, msg.clone()));
        ConnectorError::Parse(msg)
    }

    /// Marks partition `i` done and pauses it (bounded mode).
    fn finish_partition(&mut self, i: usize) {
        let p = &mut self.parts[i];
        if p.done {
            return;
        }
        p.done = true;
        if let Some(c) = &self.consumer {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&self.opts.topic, p.id);
            if let Err(e) = c.pause(&tpl) {
                tracing::debug!(partition = p.id, "cannot pause a finished partition: {e}");
            }
        }
    }

    /// Polls for up to `wait` (zero: only what already arrived), decoding messages into their
    /// partitions, until one partition has a full batch.
    fn poll_window(&mut self, wait: Duration) -> Result<(), ConnectorError> {
        let deadline = Instant::now() + wait;
        let ignore = self.opts.ignore_parse_errors();
        loop {
            if self.bounded() && self.parts.iter().all(|p| p.done) {
                return Ok(());
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() && !wait.is_zero() {
                return Ok(());
            }
            let Some(consumer) = self.consumer.as_ref() else {
                return Ok(());
            };
            let (full, finished) = match consumer.poll(remaining) {
                None => return Ok(()),
                Some(Ok(m)) => {
                    let Some(&i) = self.index.get(&m.partition()) else {
                        continue;
                    };
                    let p = &mut self.parts[i];
                    let offset = m.offset();
                    if p.done || p.end.is_some_and(|e| offset >= e) {
                        (false, Some(i))
                    } else {
                        let payload = m.payload();
                        self.bytes += payload.map_or(0, |b| b.len() as u64);
                        p.last_message = Instant::now();
                        p.quiet_confirmed = false;
                        p.pending_next = offset + 1;
                        if let Err(what) = p.decoder.push(payload) {
                            if ignore {
                                self.skipped += 1;
                            } else {
                                let msg = parse_error_message(
                                    &self.opts,
                                    p.id,
                                    offset,
                                    &what.to_string(),
                                );
                                return Err(self.fail(msg));
                            }
                        }
                        let finished = p.end.is_some_and(|e| p.pending_next >= e);
                        (p.decoder.rows() >= self.batch_rows, finished.then_some(i))
                    }
                }
                Some(Err(KafkaError::PartitionEOF(pid))) => {
                    // every message before the end of the partition was delivered, so the
                    // offsets up to the start's high watermark were (control records included)
                    (
                        false,
                        self.index.get(&pid).copied().filter(|_| self.bounded()),
                    )
                }
                Some(Err(e)) => {
                    self.consumer_error(e)?;
                    (false, None)
                }
            };
            if let Some(i) = finished {
                self.finish_partition(i);
            }
            if full {
                return Ok(());
            }
        }
    }

    /// A consumer error: fatal ones and a vanished topic fail the reader, others (a broker
    /// connection lost, ...) are logged while librdkafka retries.
    fn consumer_error(&mut self, e: KafkaError) -> Result<(), ConnectorError> {
        let fatal = match &e {
            KafkaError::MessageConsumptionFatal(_) => true,
            KafkaError::MessageConsumption(code) => matches!(
                code,
                RDKafkaErrorCode::UnknownTopicOrPartition
                    | RDKafkaErrorCode::UnknownTopic
                    | RDKafkaErrorCode::UnknownPartition
                    | RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::Fatal
            ),
            _ => false,
        };
        if fatal {
            let msg = format!(
                "kafka source of table '{}' (topic '{}' on {}) failed: {e}",
                self.opts.table, self.opts.topic, self.opts.servers
            );
            self.failed = Some((false, msg.clone()));
            return Err(ConnectorError::Io(msg));
        }
        let text = e.to_string();
        if self.last_warning.as_deref() != Some(text.as_str()) {
            tracing::warn!(table = %self.opts.table, topic = %self.opts.topic, "kafka consumer: {text}");
            self.last_warning = Some(text);
        }
        Ok(())
    }
}

/// The error of an undecodable message: where it is, what was wrong, and how to skip such
/// messages.
pub fn parse_error_message(opts: &KafkaOptions, partition: i32, offset: i64, what: &str) -> String {
    format!(
        "topic '{}' partition {partition} offset {offset}: {what}; {}",
        opts.topic,
        match opts.ignore_option() {
            Some(o) => format!("set '{o}' = 'true' to skip such messages"),
            None => "fix or remove the message".to_string(),
        }
    )
}

/// Where a restored partition resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// The offset of the next message to read.
    pub next: i64,
    /// The end offset (exclusive) a bounded reader had.
    pub end: Option<i64>,
}

/// The union of checkpointed positions (of every subtask of the previous run): partition ->
/// where it resumes. Also reads the older form, a plain `{"<partition>": <next offset>}` map.
pub fn decode_positions(
    table: &str,
    positions: &[Vec<u8>],
) -> Result<BTreeMap<i32, Resume>, ConnectorError> {
    use serde_json::Value;
    let fail = |i: usize, what: String| {
        ConnectorError::Other(format!(
            "table '{table}': cannot resume the kafka source from the checkpoint: position {i} {what}; start the job without restoring from it"
        ))
    };
    let mut out: BTreeMap<i32, Resume> = BTreeMap::new();
    for (i, bytes) in positions.iter().enumerate() {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| {
            fail(
                i,
                format!("is not a kafka source position: invalid JSON ({e})"),
            )
        })?;
        let (offsets, ends) = match v.get("offsets") {
            Some(o) => (o, v.get("ends")),
            None => (&v, None),
        };
        let map = |m: &Value| -> Result<BTreeMap<i32, i64>, ConnectorError> {
            let Some(m) = m.as_object() else {
                return Err(fail(
                    i,
                    "is not a kafka source position (not an object)".into(),
                ));
            };
            m.iter()
                .map(|(k, o)| match (k.parse::<i32>(), o.as_i64()) {
                    (Ok(p), Some(o)) if p >= 0 && o >= 0 => Ok((p, o)),
                    _ => Err(fail(
                        i,
                        format!("is not a kafka source position (partition '{k}': {o})"),
                    )),
                })
                .collect()
        };
        let ends = match ends {
            Some(e) => map(e)?,
            None => BTreeMap::new(),
        };
        for (p, next) in map(offsets)? {
            let r = Resume {
                next,
                end: ends.get(&p).copied(),
            };
            if out.insert(p, r).is_some_and(|old| old != r) {
                return Err(fail(
                    i,
                    format!("holds partition {p} again, at another offset: the checkpoint is inconsistent"),
                ));
            }
        }
    }
    Ok(out)
}

impl SourceReader for KafkaReader {
    /// The next offset of each partition and, when bounded, its end offset (see the module
    /// docs).
    fn snapshot_position(&mut self) -> Result<Option<Vec<u8>>, ConnectorError> {
        let offsets: serde_json::Map<String, serde_json::Value> = self
            .offsets()
            .into_iter()
            .map(|(p, o)| (p.to_string(), o.into()))
            .collect();
        let mut v = serde_json::json!({ "offsets": offsets });
        if self.bounded() {
            let ends: serde_json::Map<String, serde_json::Value> = self
                .parts
                .iter()
                .filter_map(|p| Some((p.id.to_string(), p.end?.into())))
                .collect();
            v["ends"] = ends.into();
        }
        Ok(Some(v.to_string().into_bytes()))
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        match &self.failed {
            Some((true, m)) => return Err(ConnectorError::Parse(m.clone())),
            Some((false, m)) => return Err(ConnectorError::Io(m.clone())),
            None => {}
        }
        if self.parts.is_empty() {
            if self.bounded() {
                return Ok(None);
            }
            std::thread::sleep(POLL_WINDOW);
            return self.empty();
        }
        self.confirm_quiet();
        let fullest = |parts: &[Part]| {
            parts
                .iter()
                .enumerate()
                .filter(|(_, p)| p.decoder.rows() > 0)
                .max_by_key(|(_, p)| p.decoder.rows())
                .map(|(i, _)| i)
        };
        if let Some(i) = fullest(&self.parts) {
            // rows decoded in an earlier window go out first; a full batch at once, otherwise
            // after taking in what arrived meanwhile (without waiting), fullest partition first
            if self.parts[i].decoder.rows() < self.batch_rows {
                self.poll_window(Duration::ZERO)?;
            }
            let i = fullest(&self.parts).unwrap_or(i);
            return self.emit(i);
        }
        if self.bounded() && self.all_done() {
            return Ok(None);
        }
        self.poll_window(POLL_WINDOW)?;
        if let Some(i) = fullest(&self.parts) {
            return self.emit(i);
        }
        if self.bounded() && self.all_done() {
            return Ok(None);
        }
        self.empty()
    }

    fn counters(&self) -> ConnectorCounters {
        ConnectorCounters {
            bytes: self.bytes,
            skipped_rows: self.skipped,
        }
    }

    fn splits(&self) -> Vec<u32> {
        self.parts.iter().map(|p| p.id as u32).collect()
    }

    fn last_split(&self) -> Option<u32> {
        self.last_split
    }

    /// A partition is finished once it is read to its bounded end (and its rows were
    /// returned), and idle when it delivered no message for `'scan.watermark.idle-timeout'`
    /// (never without the option) and the broker confirmed it holds nothing past our position
    /// (`confirm_quiet`): the time alone never makes a partition idle, or a slow fetch on a
    /// loaded machine would make its rows late. A subtask without partitions (more subtasks than
    /// partitions) is idle: the runtime asks about the one split it assumes, and an unbounded
    /// subtask that will never read a row must not hold back the watermark downstream.
    fn split_state(&self, split: u32) -> SplitState {
        let Some(p) = self.index.get(&(split as i32)).map(|&i| &self.parts[i]) else {
            return if self.parts.is_empty() {
                SplitState::Idle
            } else {
                SplitState::Active
            };
        };
        if p.decoder.rows() > 0 {
            SplitState::Active
        } else if p.done {
            SplitState::Finished
        } else if p.quiet_confirmed
            && self
                .opts
                .idle_timeout
                .is_some_and(|t| p.last_message.elapsed() >= t)
        {
            SplitState::Idle
        } else {
            SplitState::Active
        }
    }
}
