//! Window results behind a hash exchange when source subtasks read several splits each (issue
//! 15: Kafka partitions at p>1 lost partial window results as late at the global aggregate).
//!
//! An in-memory connector plays a Kafka topic: each split (partition) in event-time order,
//! split `k` read by subtask `k % p`, a batch holds rows of one split, a split read to its end
//! is finished ([`SplitState::Finished`]); in the `IdleTail` skew a drained split is idle for a
//! while before it finishes. Each subtask reads its splits in a seeded random order and batch
//! size, and ends after a delay that grows with its index, so subtasks end one after another.
//! Per-auction counts per 1 s tumbling window run at every combination of split count,
//! parallelism and skew on an embedded cluster; the rows must equal the counts computed here
//! from the same rows.
#![allow(clippy::unwrap_used)] // a test may unwrap

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, TimestampMillisecondArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strom_cluster::{start_embedded, Dispatcher};
use strom_common::{Configuration, JobId, JobStatus};
use strom_plan::TableSpec;
use strom_runtime::{
    ConnectorError, ConnectorFactory, ConnectorRegistry, SinkWriter, SourceReader, SplitState,
    SubtaskInfo,
};

/// Event time [0, 4000) ms after `BASE`, 10 rows per ms: four 1 s windows.
const ROWS: u64 = 40_000;
const BASE: i64 = 1_704_067_200_000;
/// Subtask `s` returns end of input `s * END_STAGGER` after its last row.
const END_STAGGER: Duration = Duration::from_millis(150);
/// `IdleTail`: how long a drained split is idle before it is finished.
const IDLE_FOR: Duration = Duration::from_millis(300);

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skew {
    /// Split = auction % splits: every split covers the whole event time.
    Even,
    /// Split 0 holds about 70 % of the rows, the others share the rest.
    Heavy,
    /// Split `k` ends after (k + 1) / splits of the event time: splits end at different times.
    Ranges,
    /// As `Ranges`, and a drained split is idle for `IDLE_FOR` before it finishes.
    IdleTail,
}

/// The rows `(auction, event time)` of each split, each split in event-time order.
fn splits_of(splits: u32, skew: Skew) -> Vec<Vec<(i64, i64)>> {
    let n = splits as u64;
    let mut out = vec![Vec::new(); splits as usize];
    for i in 0..ROWS {
        let auction = 1000 + i / 5000 + splitmix64(i.wrapping_mul(4)) % 1000;
        let ts = (i / 10) as i64;
        let k = match skew {
            Skew::Even | Skew::Ranges | Skew::IdleTail => auction % n,
            Skew::Heavy if n == 1 || splitmix64(i) % 10 < 7 => 0,
            Skew::Heavy => 1 + auction % (n - 1),
        };
        let limit = match skew {
            Skew::Ranges | Skew::IdleTail => (ROWS / 10 * (k + 1) / n) as i64,
            _ => i64::MAX,
        };
        if ts < limit {
            out[k as usize].push((auction as i64, BASE + ts));
        }
    }
    out
}

/// `(auction, window start, count)` of 1 s tumbling windows, sorted.
fn expected(splits: &[Vec<(i64, i64)>]) -> Vec<(i64, i64, i64)> {
    let mut m: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for (auction, ts) in splits.iter().flatten() {
        *m.entry((*auction, ts - ts.rem_euclid(1000))).or_default() += 1;
    }
    m.into_iter().map(|((a, w), n)| (a, w, n)).collect()
}

/// Source (the split rows) and sink (collects `(auction, window start, count)`) of one case.
struct Splits {
    rows: Arc<Vec<Vec<(i64, i64)>>>,
    skew: Skew,
    seed: u64,
    out: Arc<Mutex<Vec<(i64, i64, i64)>>>,
}

impl ConnectorFactory for Splits {
    fn name(&self) -> &'static str {
        "splits"
    }

    fn validate(&self, _: &TableSpec, _: bool) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn create_reader(
        &self,
        table: &TableSpec,
        projection: &[usize],
        subtask: SubtaskInfo,
        _batch_rows: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        let mine: Vec<usize> = (0..self.rows.len())
            .filter(|k| *k as u32 % subtask.parallelism == subtask.index)
            .collect();
        Ok(Box::new(Reader {
            rows: self.rows.clone(),
            schema: table.schema.project(projection).to_arrow(),
            projection: projection.to_vec(),
            pos: vec![0; mine.len()],
            drained: vec![None; mine.len()],
            mine,
            idle_tail: self.skew == Skew::IdleTail,
            rng: self.seed ^ (subtask.index as u64) << 32,
            end_after: END_STAGGER * subtask.index,
            last: None,
            all_read: None,
        }))
    }

    fn create_writer(
        &self,
        _: &TableSpec,
        _: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        Ok(Box::new(Collect(self.out.clone())))
    }
}

struct Reader {
    rows: Arc<Vec<Vec<(i64, i64)>>>,
    schema: arrow::datatypes::SchemaRef,
    projection: Vec<usize>,
    /// This subtask's splits, and per split the next row and when its last row was returned.
    mine: Vec<usize>,
    pos: Vec<usize>,
    drained: Vec<Option<Instant>>,
    idle_tail: bool,
    rng: u64,
    end_after: Duration,
    last: Option<u32>,
    /// When every row of every split was returned.
    all_read: Option<Instant>,
}

impl Reader {
    fn next_rand(&mut self) -> u64 {
        self.rng = splitmix64(self.rng);
        self.rng
    }

    fn state_of(&self, i: usize) -> SplitState {
        match self.drained[i] {
            None => SplitState::Active,
            Some(t) if self.idle_tail && t.elapsed() < IDLE_FOR => SplitState::Idle,
            Some(_) => SplitState::Finished,
        }
    }
}

impl SourceReader for Reader {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        let open: Vec<usize> = (0..self.mine.len())
            .filter(|i| self.drained[*i].is_none())
            .collect();
        if open.is_empty() {
            let all_read = *self.all_read.get_or_insert_with(Instant::now);
            let finished = (0..self.mine.len()).all(|i| self.state_of(i) == SplitState::Finished);
            if finished && all_read.elapsed() >= self.end_after {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(5));
            self.last = None;
            return Ok(Some(RecordBatch::new_empty(self.schema.clone())));
        }
        let i = open[(self.next_rand() % open.len() as u64) as usize];
        let n = 1 + (self.next_rand() % 700) as usize;
        let split = &self.rows[self.mine[i]];
        let end = (self.pos[i] + n).min(split.len());
        let rows = &split[self.pos[i]..end];
        self.pos[i] = end;
        if end == split.len() {
            self.drained[i] = Some(Instant::now());
        }
        self.last = Some(self.mine[i] as u32);
        let columns: Vec<ArrayRef> = self
            .projection
            .iter()
            .map(|c| match c {
                0 => Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
                _ => Arc::new(TimestampMillisecondArray::from_iter_values(
                    rows.iter().map(|r| r.1),
                )),
            })
            .collect();
        RecordBatch::try_new(self.schema.clone(), columns)
            .map(Some)
            .map_err(|e| ConnectorError::Other(e.to_string()))
    }

    fn splits(&self) -> Vec<u32> {
        self.mine.iter().map(|k| *k as u32).collect()
    }

    fn last_split(&self) -> Option<u32> {
        self.last
    }

    fn split_state(&self, split: u32) -> SplitState {
        match self.mine.iter().position(|k| *k as u32 == split) {
            Some(i) => self.state_of(i),
            None => SplitState::Active,
        }
    }
}

struct Collect(Arc<Mutex<Vec<(i64, i64, i64)>>>);

impl SinkWriter for Collect {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        let long = |i: usize| -> Result<Int64Array, ConnectorError> {
            let a = cast(batch.column(i), &DataType::Int64)
                .map_err(|e| ConnectorError::Other(e.to_string()))?;
            Ok(a.as_any().downcast_ref::<Int64Array>().unwrap().clone())
        };
        let (auction, start, num) = (long(0)?, long(1)?, long(3)?);
        let mut out = self.0.lock().unwrap();
        for r in 0..batch.num_rows() {
            out.push((auction.value(r), start.value(r), num.value(r)));
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

fn wait(d: &Dispatcher, id: JobId) -> JobStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = d.status(id).unwrap();
        if s.is_globally_terminal() {
            return s;
        }
        assert!(Instant::now() < deadline, "job {id} did not end: {s}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs the windowed count over `splits` splits at parallelism `p`; checks every row.
fn check(splits: u32, p: u32, skew: Skew, seed: u64) {
    let label = format!("{splits} splits, p={p}, {skew:?}, seed {seed}");
    let rows = splits_of(splits, skew);
    let want = expected(&rows);
    let out = Arc::new(Mutex::new(Vec::new()));
    let mut registry = ConnectorRegistry::new();
    registry.register(Arc::new(Splits {
        rows: Arc::new(rows),
        skew,
        seed,
        out: out.clone(),
    }));
    let mut conf = Configuration::new();
    conf.set("taskmanager.numberOfTaskSlots", p.to_string());
    let d = start_embedded(conf, 1, registry).unwrap();
    let sql = format!(
        "SET 'parallelism.default' = '{p}';
CREATE TABLE bid (auction BIGINT, date_time TIMESTAMP(3),
  WATERMARK FOR date_time AS date_time - INTERVAL '0.001' SECOND)
WITH ('connector' = 'splits');
CREATE TABLE s (auction BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3), num BIGINT)
WITH ('connector' = 'splits');
INSERT INTO s SELECT auction, window_start, window_end, COUNT(*) AS num
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '1' SECOND))
GROUP BY auction, window_start, window_end;"
    );
    let job = strom_sql::compile_script(&sql, &Configuration::new())
        .unwrap()
        .jobs
        .remove(0);
    if p > 1 {
        assert!(
            job.vertices
                .iter()
                .any(|v| v.name.contains("LocalWindowAggregate")),
            "{label}: the aggregate runs in two phases"
        );
    }
    let id = d.submit(job).unwrap();
    let status = wait(&d, id);
    assert_eq!(
        status,
        JobStatus::Finished,
        "{label}: {:?}",
        d.job(id).unwrap().snapshot().root_cause()
    );
    let mut got = out.lock().unwrap().clone();
    got.sort();
    if got != want {
        let missing = want.iter().filter(|r| !got.contains(r)).count();
        panic!(
            "{label}: {} rows, expected {} ({missing} expected rows missing, e.g. {:?})",
            got.len(),
            want.len(),
            want.iter().find(|r| !got.contains(r))
        );
    }
}

#[test]
fn every_window_result_arrives_whatever_the_splits_parallelism_and_skew() {
    let mut seed = 1;
    for (splits, p, skews) in [
        (4, 1, &[Skew::Even][..]),
        (
            4,
            2,
            &[Skew::Even, Skew::Heavy, Skew::Ranges, Skew::IdleTail][..],
        ),
        (4, 4, &[Skew::Even, Skew::Ranges, Skew::IdleTail][..]),
        (3, 2, &[Skew::Heavy, Skew::Ranges][..]),
        (6, 4, &[Skew::Even, Skew::Heavy, Skew::IdleTail][..]),
        (2, 4, &[Skew::Even][..]),
    ] {
        for &skew in skews {
            check(splits, p, skew, seed);
            seed += 1;
        }
    }
}
