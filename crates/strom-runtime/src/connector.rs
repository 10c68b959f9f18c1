//! The connector interface: how the runtime reads and writes tables. Implementations live in
//! `strom-connectors`; the runtime finds them through a [`ConnectorRegistry`].

use datafusion::arrow::record_batch::RecordBatch;
use std::collections::BTreeMap;
use std::sync::Arc;
use strom_plan::table::TableStatisticsSource;
use strom_plan::TableSpec;

/// The checkpoint id of the last commit, made when a job with checkpoints reached its end.
pub const FINAL_CHECKPOINT: u64 = u64::MAX;

/// Rows per batch a source should aim for.
pub const DEFAULT_BATCH_ROWS: usize = 8192;

/// A connector error: says what was wrong and where (file, line, field, option).
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("unknown connector '{name}' for table '{table}'; available connectors: {available}")]
    UnknownConnector {
        name: String,
        table: String,
        available: String,
    },
    #[error("table '{table}': {message}")]
    BadOption { table: String, message: String },
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Parse(String),
    #[error("{0}")]
    Other(String),
}

/// Where a reader or writer runs: subtask index and parallelism of its vertex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubtaskInfo {
    pub index: u32,
    pub parallelism: u32,
}

/// Counters a source or sink reports (shown as metrics).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConnectorCounters {
    /// Bytes read or written.
    pub bytes: u64,
    /// Rows skipped because they could not be parsed (with `*.ignore-parse-errors`).
    pub skipped_rows: u64,
}

/// What a split of a source reader is doing, for the subtask's watermark: the subtask emits the
/// minimum watermark over its active splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitState {
    /// Reading, or waiting for rows: its watermark holds back the subtask's.
    Active,
    /// No rows for its idle timeout: it does not hold back the subtask's watermark, and when no
    /// split is active the subtask tells its consumers it is idle (their watermark then moves on
    /// without it; rows it sends later may be late).
    Idle,
    /// Read to its end (bounded): nothing more comes from it, so it no longer holds back the
    /// subtask's watermark, but it does not make the subtask idle either. A subtask whose splits
    /// are all finished is about to end, and its end is the final watermark, which follows
    /// whatever its operators still hold (the partial results of a local window aggregate):
    /// announcing idleness instead would let the consumers' watermark pass those results first.
    Finished,
}

/// Reads one subtask's share of a bounded or unbounded table.
pub trait SourceReader: Send {
    /// The next batch (its schema is the table's schema projected to the requested columns), or
    /// `None` at end of input. A reader of an unbounded table returns an empty batch when nothing
    /// arrived for a short while (about 100 ms), so that the task can see cancellation and idleness.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError>;

    fn counters(&self) -> ConnectorCounters {
        ConnectorCounters::default()
    }

    /// Time spent so far inside [`SourceReader::next_batch`] waiting for rows to be due or to
    /// arrive (a rate limit, an empty poll), not reading: the task counts it as idle, as Flink
    /// counts a source that has no data available. The default is none.
    fn wait_time(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// Readers of several splits (Kafka partitions): the splits assigned to this subtask. Empty
    /// (the default): the reader is one split. Each batch then holds rows of one split only.
    fn splits(&self) -> Vec<u32> {
        Vec::new()
    }

    /// The split the last batch came from (multi-split readers).
    fn last_split(&self) -> Option<u32> {
        None
    }

    /// What split `split` is doing now (see [`SplitState`]). The default: active.
    fn split_state(&self, _split: u32) -> SplitState {
        SplitState::Active
    }

    /// The reader's position after the rows it returned so far (for a checkpoint), as bytes
    /// [`ConnectorFactory::restore_reader`] resumes from. The default is an error: a source that
    /// cannot say where it is cannot take part in checkpoints.
    fn snapshot_position(&mut self) -> Result<Option<Vec<u8>>, ConnectorError> {
        Err(ConnectorError::Other(
            "this source cannot be checkpointed: it cannot tell its read position".into(),
        ))
    }
}

/// Writes one subtask's rows to a table.
pub trait SinkWriter: Send {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError>;
    /// End of input: flush and close.
    fn finish(&mut self) -> Result<(), ConnectorError>;

    fn counters(&self) -> ConnectorCounters {
        ConnectorCounters::default()
    }

    /// Checkpoint `checkpoint` (two-phase commit, first phase): make the rows written so far
    /// durable but not yet visible, and return what [`SinkWriter::restore`] needs to commit them
    /// after a failure. Writers made by [`ConnectorFactory::create_writer`] (at least once) have
    /// nothing to prepare.
    fn prepare_commit(&mut self, _checkpoint: u64) -> Result<Option<Vec<u8>>, ConnectorError> {
        Ok(None)
    }

    /// Checkpoint `checkpoint` completed (second phase): make what was prepared for it and for
    /// every earlier checkpoint visible. Must be idempotent.
    fn commit(&mut self, _checkpoint: u64) -> Result<(), ConnectorError> {
        Ok(())
    }

    /// After a restart: `states` are the prepared states of the restored checkpoint, of every
    /// subtask of the previous run (whose parallelism may differ). The checkpoint completed, so
    /// they are committed (each by one subtask: state `j` by subtask `j % parallelism`); what
    /// was written after it is never made visible.
    fn restore(&mut self, _states: &[Vec<u8>]) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// Looks rows of a table up by key (Flink's `LookupTableSource`), for a lookup join.
pub trait LookupClient: Send {
    /// The rows whose key columns equal one of `keys` (distinct keys: the key columns given at
    /// creation, in that order); returns the rows (the projected columns) and, per row, the
    /// position in `keys` of the key it has.
    fn lookup(&mut self, keys: &RecordBatch) -> Result<(RecordBatch, Vec<u32>), ConnectorError>;
}

/// Creates readers and writers for one `'connector' = '...'` value.
pub trait ConnectorFactory: Send + Sync {
    /// The value of the `connector` option this factory serves.
    fn name(&self) -> &'static str;

    /// Checks the table's options (and, for a source, that its input exists) before a job is
    /// accepted. `as_source` tells whether the table is read or written.
    fn validate(&self, table: &TableSpec, as_source: bool) -> Result<(), ConnectorError>;

    /// Whether this table, read as a source, is bounded.
    fn is_bounded(&self, _table: &TableSpec) -> bool {
        true
    }

    /// A reader for subtask `subtask` of the source, producing the columns `projection` of the
    /// table schema, in that order, in batches of about `batch_rows` rows.
    fn create_reader(
        &self,
        table: &TableSpec,
        projection: &[usize],
        subtask: SubtaskInfo,
        batch_rows: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError>;

    /// [`ConnectorFactory::create_reader`] given the query's `filters` (boolean expressions over
    /// the whole table's columns, in its column order), which the reader may use to skip data
    /// (statistics, late materialization). Rows failing them may still come: the plan filters
    /// them again. Batch stages call this; the default ignores the filters.
    fn create_filtered_reader(
        &self,
        table: &TableSpec,
        projection: &[usize],
        _filters: &[std::sync::Arc<dyn datafusion::physical_expr::PhysicalExpr>],
        subtask: SubtaskInfo,
        batch_rows: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        self.create_reader(table, projection, subtask, batch_rows)
    }

    /// Whether the sink accepts a changelog (updates and deletes): its writer then gets batches
    /// with a trailing `$op` column of row kinds (see [`split_changelog`]). Sinks that only
    /// append refuse updating queries when the job is submitted.
    fn supports_changelog(&self, _table: &TableSpec) -> bool {
        false
    }

    /// What the connector knows of the table's data before reading it, for the batch planner
    /// (see [`TableStatisticsSource`]); `None` (the default) when it knows nothing cheaply.
    fn statistics(&self, _table: &TableSpec) -> Option<datafusion::common::Statistics> {
        None
    }

    /// A client that looks the table's rows up by the key columns `keys` (positions in the
    /// table schema), returning the columns `projection`, for a lookup join; `None` (the
    /// default) when the connector has no such lookup and the join reads the table whole.
    fn create_lookup(
        &self,
        _table: &TableSpec,
        _projection: &[usize],
        _keys: &[usize],
    ) -> Result<Option<Box<dyn LookupClient>>, ConnectorError> {
        Ok(None)
    }

    /// A writer for subtask `subtask` of the sink.
    fn create_writer(
        &self,
        table: &TableSpec,
        subtask: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError>;

    /// A writer for a job with checkpoints: exactly once where the connector can do it (rows
    /// become visible when the checkpoint that covers them completes, see
    /// [`SinkWriter::prepare_commit`]); the default is the at-least-once writer.
    fn create_exactly_once_writer(
        &self,
        table: &TableSpec,
        subtask: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        self.create_writer(table, subtask)
    }

    /// A reader for subtask `subtask` that resumes where the previous run's readers were at a
    /// checkpoint: `positions` are their [`SourceReader::snapshot_position`]s, of every subtask
    /// of the previous run (whose parallelism may differ); each split's position goes to the
    /// subtask that reads the split now.
    fn restore_reader(
        &self,
        table: &TableSpec,
        _projection: &[usize],
        _subtask: SubtaskInfo,
        _batch_rows: usize,
        _positions: &[Vec<u8>],
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        Err(ConnectorError::Other(format!(
            "table '{}': the '{}' connector cannot resume from a checkpoint",
            table.name,
            table.connector()
        )))
    }
}

/// The connectors a cluster knows, by name.
#[derive(Clone, Default)]
pub struct ConnectorRegistry {
    factories: BTreeMap<&'static str, Arc<dyn ConnectorFactory>>,
}

impl std::fmt::Debug for ConnectorRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.factories.keys()).finish()
    }
}

/// Each table's statistics from its connector.
impl TableStatisticsSource for ConnectorRegistry {
    fn statistics(&self, table: &TableSpec) -> Option<datafusion::common::Statistics> {
        self.get(table).ok()?.statistics(table)
    }
}

impl ConnectorRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, factory: Arc<dyn ConnectorFactory>) {
        self.factories.insert(factory.name(), factory);
    }

    /// The factory for a table's `connector` option, or a clear error listing the known ones.
    pub fn get(&self, table: &TableSpec) -> Result<&Arc<dyn ConnectorFactory>, ConnectorError> {
        let name = table.connector();
        self.factories
            .get(name)
            .ok_or_else(|| ConnectorError::UnknownConnector {
                name: name.to_string(),
                table: table.name.clone(),
                available: self
                    .factories
                    .keys()
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.factories.keys().copied().collect()
    }
}

/// Splits a batch a sink writer received into the table's columns and the row kinds, when it
/// is a changelog (a trailing `$op` TINYINT column); the kinds are `None` for an append-only
/// batch.
pub fn split_changelog(
    batch: &datafusion::arrow::record_batch::RecordBatch,
) -> (
    datafusion::arrow::record_batch::RecordBatch,
    Option<datafusion::arrow::array::Int8Array>,
) {
    use datafusion::arrow::array::{Array, Int8Array};
    let schema = batch.schema();
    let last = schema.fields().len().wrapping_sub(1);
    match schema.fields().last() {
        Some(f) if f.name() == strom_plan::OP_COLUMN => {
            let kinds = batch
                .column(last)
                .as_any()
                .downcast_ref::<Int8Array>()
                .cloned();
            let mut data = batch.clone();
            data.remove_column(last);
            (data, kinds)
        }
        _ => (batch.clone(), None),
    }
}
