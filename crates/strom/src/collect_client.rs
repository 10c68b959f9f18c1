//! The client's side of a SELECT collected through the JobManager (`strom sql --jobmanager`):
//! fetches the rows of the job's `collect` sink (`GET /jobs/:id/strom-results`) while the job
//! runs, and prints them as the embedded `strom sql` does: the lines of an updating query as
//! they come (`+I[...]`, `-U[...]`, ...), a batch result as Flink's SQL client table at the end.

use crate::client::Rest;
use anyhow::{Context, Result};
use arrow::ipc::reader::StreamReader;
use base64::Engine as _;
use std::io::Write;
use strom_connectors::print::{format_rows, tableau};
use strom_plan::{JobGraph, OperatorSpec};

/// A collected result on its way to the terminal.
pub struct CollectedResult {
    names: Vec<String>,
    /// A batch result printed as a table at the end; else lines as they come.
    tableau: bool,
    /// The next chunk to fetch.
    next: u64,
    /// Table rows with the chunk each came in (rows of a failed attempt are dropped).
    rows: Vec<(u64, Vec<String>)>,
    finished: bool,
}

impl CollectedResult {
    /// The result of `graph`'s `collect` sink, if it has one.
    pub fn of(graph: &JobGraph) -> Option<Self> {
        let sink = graph
            .vertices
            .iter()
            .flat_map(|v| v.operators.iter())
            .find_map(|op| match op {
                OperatorSpec::Sink(s)
                    if s.table.connector() == strom_runtime::collect::CONNECTOR =>
                {
                    Some(s)
                }
                _ => None,
            })?;
        Some(Self {
            names: sink.table.schema.names(),
            tableau: sink.table.options.get("print.style").map(String::as_str) == Some("tableau"),
            next: 0,
            rows: Vec::new(),
            finished: false,
        })
    }

    /// Whether the sink sent its last rows.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Fetches what arrived (in several answers when there is much); prints the lines of an
    /// updating result.
    pub fn fetch(&mut self, rest: &Rest, job: &str) -> Result<()> {
        // bounded, so that the job's state is looked at between rows that keep coming
        for _ in 0..64 {
            if self.fetch_once(rest, job)? == 0 || self.finished {
                break;
            }
        }
        Ok(())
    }

    /// One answer; returns how many chunks it brought.
    fn fetch_once(&mut self, rest: &Rest, job: &str) -> Result<usize> {
        let v = rest.get(&format!("/jobs/{job}/strom-results?from={}", self.next))?;
        let start = v["attempt-start"].as_u64().unwrap_or(0);
        self.rows.retain(|(seq, _)| *seq >= start);
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut lines = Vec::new();
        let chunks = v["chunks"].as_array().map_or(0, Vec::len);
        for c in v["chunks"].as_array().into_iter().flatten() {
            let seq = c["seq"].as_u64().unwrap_or(0);
            if seq < self.next {
                continue;
            }
            let bytes = b64
                .decode(c["data"].as_str().unwrap_or_default())
                .context("the JobManager sent rows that are not base64")?;
            let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None)
                .context("the JobManager sent rows that are not Arrow IPC")?;
            for batch in reader {
                let batch = batch.context("unreadable rows from the JobManager")?;
                if self.tableau {
                    let mut cells = Vec::new();
                    tableau::push_cells(&batch, &mut cells)?;
                    self.rows.extend(cells.into_iter().map(|r| (seq, r)));
                } else {
                    format_rows(&batch, b"", &mut lines)?;
                }
            }
        }
        if !lines.is_empty() {
            let _ = std::io::stdout().lock().write_all(&lines);
        }
        self.next = v["next"].as_u64().unwrap_or(self.next);
        self.finished = v["finished"].as_bool().unwrap_or(false);
        Ok(chunks)
    }

    /// Prints a batch result's table (once all rows are in).
    pub fn print_table(&self) {
        if self.tableau {
            let rows: Vec<Vec<String>> = self.rows.iter().map(|(_, r)| r.clone()).collect();
            let _ = std::io::stdout()
                .lock()
                .write_all(tableau::render(&self.names, &rows).as_bytes());
        }
    }
}
