//! Task failures on the embedded cluster: an operator that panics fails the job at once with a
//! clear cause naming it (a panic is certain to happen again: no restart, however generous the
//! restart strategy), and the TaskManager goes on to run other jobs.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::wait;
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;
use std::time::Duration;
use strom_cluster::{start_embedded, Dispatcher};
use strom_common::{Configuration, JobId, JobStatus};
use strom_plan::TableSpec;
use strom_runtime::{ConnectorError, ConnectorFactory, SinkWriter, SourceReader, SubtaskInfo};

/// A sink whose writer panics on its first batch (a bug in an operator, as the test sees it).
struct PanickingSink;

struct PanickingWriter;

impl SinkWriter for PanickingWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        let rows: Vec<usize> = Vec::new();
        panic!(
            "index out of bounds: the len is {} but the index is {}",
            rows.len(),
            batch.num_rows()
        );
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

impl ConnectorFactory for PanickingSink {
    fn name(&self) -> &'static str {
        "panicking"
    }

    fn validate(&self, _table: &TableSpec, as_source: bool) -> Result<(), ConnectorError> {
        match as_source {
            true => Err(ConnectorError::Other("a sink only".into())),
            false => Ok(()),
        }
    }

    fn create_reader(
        &self,
        _table: &TableSpec,
        _projection: &[usize],
        _subtask: SubtaskInfo,
        _batch_rows: usize,
    ) -> Result<Box<dyn SourceReader>, ConnectorError> {
        Err(ConnectorError::Other("a sink only".into()))
    }

    fn create_writer(
        &self,
        _table: &TableSpec,
        _subtask: SubtaskInfo,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        Ok(Box::new(PanickingWriter))
    }
}

fn cluster() -> Arc<Dispatcher> {
    let mut registry = strom_connectors::default_registry();
    registry.register(Arc::new(PanickingSink));
    let mut conf = Configuration::new();
    conf.set("taskmanager.numberOfTaskSlots", "2");
    start_embedded(conf, 1, registry).unwrap()
}

fn submit(d: &Arc<Dispatcher>, sql: &str) -> JobId {
    let job = strom_sql::compile_script(sql, &Configuration::new())
        .unwrap()
        .jobs
        .remove(0);
    d.submit(job).unwrap()
}

#[test]
fn a_panicking_operator_fails_the_job_at_once_naming_it_and_the_taskmanager_goes_on() {
    let d = cluster();
    // streaming with checkpoints: Flink's default restart strategy then restarts without limit
    let id = submit(
        &d,
        "SET 'execution.checkpointing.interval' = '1s';
SET 'restart-strategy.type' = 'fixed-delay';
SET 'restart-strategy.fixed-delay.attempts' = '1000';
SET 'restart-strategy.fixed-delay.delay' = '10 ms';
CREATE TABLE bid (auction BIGINT, price BIGINT)
WITH ('connector' = 'datagen', 'generator' = 'bids', 'rows-per-second' = '1000');
CREATE TABLE p (auction BIGINT, price BIGINT) WITH ('connector' = 'panicking');
INSERT INTO p SELECT auction, price FROM bid;",
    );
    assert_eq!(wait(&d, id, Duration::from_secs(30)), JobStatus::Failed);
    let job = d.job(id).unwrap();
    let st = job.snapshot();
    assert_eq!(st.restarts(), 0, "restarted after a panic");
    let cause = st.root_cause().map(str::to_string).unwrap_or_default();
    assert!(
        cause.contains("operator 'p: Writer' failed with an internal error (a panic): index out of bounds: the len is 0"),
        "{cause}"
    );
    drop(st);

    // the TaskManager survived the panic: the next job runs to its end
    let ok = submit(
        &d,
        "CREATE TABLE bid (auction BIGINT, price BIGINT)
WITH ('connector' = 'datagen', 'generator' = 'bids', 'number-of-rows' = '1000');
CREATE TABLE b (auction BIGINT, price BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO b SELECT auction, price FROM bid;",
    );
    assert_eq!(wait(&d, ok, Duration::from_secs(30)), JobStatus::Finished);
}
