//! `strom sql`: compile a script to JobGraphs and run them, embedded or on a cluster.

use crate::client::Rest;
use crate::collect_client::CollectedResult;
use crate::progress::{JobProgress, ProgressLine};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strom_common::config::{keys, options};
use strom_common::{Configuration, JobStatus};

/// `println!` that ignores a closed stdout (`strom sql ... | head`): a broken pipe is not a panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Replaces `${NAME}` with the environment variable NAME.
fn substitute(text: &str, file: &std::path::Path) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find('}') else {
            out.push_str(&rest[i..]);
            rest = "";
            break;
        };
        let name = &after[..j];
        match std::env::var(name) {
            Ok(v) => out.push_str(&v),
            Err(_) => bail!("{} uses ${{{name}}} but the environment variable {name} is not set; set it, e.g. {name}=... strom sql -f {}", file.display(), file.display()),
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

pub fn run(
    files: &[PathBuf],
    jobmanager: Option<&str>,
    detached: bool,
    mut config: Configuration,
    started: Instant,
) -> Result<i32> {
    // a highly available cluster is the one its leader leads (found in etcd)
    let remote = Rest::connect(jobmanager, &config)?;
    // a SELECT's rows come back through the JobManager (they would print on a TaskManager)
    if remote.is_some() {
        config.set(options::SELECT_RESULTS.key, "collect");
    }
    let mut script = String::new();
    // (file, first line of the file in the script)
    let mut starts: Vec<(&PathBuf, u64)> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read SQL file {}", f.display()))?;
        starts.push((f, 1 + script.matches('\n').count() as u64));
        script.push_str(&substitute(&text, f)?);
        script.push_str("\n;\n");
    }
    // the planner sizes the tables (Parquet footers) to choose join sides and broadcasts
    let statistics = Arc::new(strom_connectors::default_registry());
    let compiled = match strom_sql::compile_script_with_statistics(&script, &config, statistics) {
        Ok(c) => c,
        Err(e) => {
            // positions count lines of the concatenated files: name the file and its own line
            match e.position {
                Some(p) => {
                    let (file, first) = starts
                        .iter()
                        .rev()
                        .find(|(_, first)| *first <= p.line)
                        .copied()
                        .unwrap_or((&files[0], 1));
                    eprintln!(
                        "SQL error: {} (at {} line {}, column {})",
                        e.message,
                        file.display(),
                        p.line - first + 1,
                        p.column
                    );
                }
                None => eprintln!("SQL error: {e}"),
            }
            return Ok(2);
        }
    };
    for plan in &compiled.explains {
        outln!("{plan}");
    }
    if compiled.jobs.is_empty() {
        if compiled.explains.is_empty() {
            outln!("The script has no INSERT or SELECT statement: nothing to run.");
        }
        return Ok(0);
    }
    match remote {
        Some(rest) => {
            let mut code = 0;
            for g in &compiled.jobs {
                let id = rest.submit(g)?;
                outln!("Job has been submitted with JobID {id}");
                if !detached {
                    let mut result = CollectedResult::of(g);
                    code = code.max(watch_remote(&rest, &id, started, result.as_mut())?);
                }
            }
            Ok(code)
        }
        None => run_embedded(compiled, started),
    }
}

fn run_embedded(compiled: strom_sql::CompiledScript, started: Instant) -> Result<i32> {
    let mut config = compiled.config.clone();
    let p = compiled
        .jobs
        .iter()
        .flat_map(|j| j.vertices.iter().map(|v| v.parallelism))
        .max()
        .unwrap_or(1);
    let slots = options::NUM_TASK_SLOTS.get(&config)?.max(p);
    config.set(keys::NUM_TASK_SLOTS, slots.to_string());
    let tms = options::LOCAL_NUMBER_TASKMANAGER.get(&config)?;
    let d = strom_cluster::start_embedded(config, tms, strom_connectors::default_registry())?;
    let mut code = 0;
    for g in compiled.jobs {
        let id = match d.submit(g) {
            Ok(id) => id,
            Err(e) => {
                eprintln!("The job was rejected: {e}");
                code = 1;
                continue;
            }
        };
        outln!("Job has been submitted with JobID {id}");
        let job = d.job(id)?;
        {
            let st = job.snapshot();
            if let Some((_, _, path, _)) = &st.checkpoints.latest_restored {
                outln!("Restoring the job's state from {path}:");
                for line in &st.checkpoints.restore_report {
                    outln!("  {line}");
                }
            }
        }
        let mut line = ProgressLine::new();
        let mut last_print: Option<Instant> = None;
        loop {
            let (status, progress) = {
                let st = job.snapshot();
                let status = st.graph().status();
                let (rows_in, rows_out) = strom_rest::job_totals(&st);
                let progress = JobProgress {
                    status: status.to_string(),
                    rows_in,
                    rows_out,
                    restarts: u64::from(st.restarts()),
                    checkpoints_completed: st.checkpoints.completed,
                    checkpoints_failed: st.checkpoints.failed,
                    root_cause: st.root_cause().map(str::to_string),
                };
                (status, progress)
            };
            if status.is_globally_terminal() {
                line.clear();
                let st = job.snapshot();
                let start = st
                    .graph()
                    .status_timestamp(JobStatus::Initializing)
                    .unwrap_or(0);
                let end = st.graph().status_timestamp(status).unwrap_or(start);
                outln!(
                    "Job {id} {status} in {} ms (job time); read {} rows, wrote {} rows; {:.0} rows/s; command wall time {:.3} s{}",
                    end - start,
                    progress.rows_in,
                    progress.rows_out,
                    progress.rows_in as f64 / ((end - start).max(1) as f64 / 1e3),
                    started.elapsed().as_secs_f64(),
                    progress.summary_tail()
                );
                if status != JobStatus::Finished {
                    if let Some(c) = st.root_cause() {
                        eprintln!("Root cause: {c}");
                    }
                    code = 1;
                }
                break;
            }
            if last_print.is_none_or(|t| t.elapsed() > Duration::from_millis(500)) {
                line.update(&progress, started.elapsed());
                last_print = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(code)
}

/// Polls a submitted job until it ends; prints progress, the rows of its SELECT (`result`) and
/// the outcome.
pub fn watch_remote(
    rest: &Rest,
    id: &str,
    started: Instant,
    mut result: Option<&mut CollectedResult>,
) -> Result<i32> {
    let mut line = ProgressLine::new();
    let mut last_print: Option<Instant> = None;
    loop {
        if let Some(r) = result.as_deref_mut() {
            r.fetch(rest, id)?;
        }
        let v = rest.get(&format!("/jobs/{id}"))?;
        let state = v["state"].as_str().unwrap_or("UNKNOWN").to_string();
        let done = matches!(state.as_str(), "FINISHED" | "FAILED" | "CANCELED");
        let due = last_print.is_none_or(|t| t.elapsed() > Duration::from_millis(500));
        if !done && !due {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let progress = remote_progress(rest, id, &v, state.clone());
        if done {
            line.clear();
            if let Some(r) = result.as_deref_mut() {
                // the sink's last rows were taken before it reported FINISHED
                r.fetch(rest, id)?;
                if state == "FINISHED" && !r.finished() {
                    eprintln!("The job finished but its result did not arrive completely.");
                }
                r.print_table();
            }
            outln!(
                "Job {id} {state} in {} ms (job time); read {} rows, wrote {} rows; command wall time {:.3} s{}",
                v["duration"],
                progress.rows_in,
                progress.rows_out,
                started.elapsed().as_secs_f64(),
                progress.summary_tail()
            );
            if state != "FINISHED" {
                if let Some(c) = &progress.root_cause {
                    eprintln!("Root cause: {c}");
                }
                return Ok(1);
            }
            return Ok(0);
        }
        line.update(&progress, started.elapsed());
        last_print = Some(Instant::now());
    }
}

/// A remote job's figures: `/jobs/:id` (`v`) and Flink's job metrics for the restarts and
/// checkpoints.
fn remote_progress(rest: &Rest, id: &str, v: &serde_json::Value, status: String) -> JobProgress {
    let mut p = JobProgress {
        status,
        rows_in: v["strom-records"]["in"].as_u64().unwrap_or(0),
        rows_out: v["strom-records"]["out"].as_u64().unwrap_or(0),
        root_cause: v["strom-root-cause"].as_str().map(str::to_string),
        ..Default::default()
    };
    let metrics = rest
        .get(&format!(
            "/jobs/{id}/metrics?get=numRestarts,numberOfCompletedCheckpoints,numberOfFailedCheckpoints"
        ))
        .unwrap_or_default();
    for m in metrics.as_array().into_iter().flatten() {
        let value = m["value"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .or_else(|| m["value"].as_u64())
            .unwrap_or(0);
        match m["id"].as_str() {
            Some("numRestarts") => p.restarts = value,
            Some("numberOfCompletedCheckpoints") => p.checkpoints_completed = value,
            Some("numberOfFailedCheckpoints") => p.checkpoints_failed = value,
            _ => {}
        }
    }
    p
}
