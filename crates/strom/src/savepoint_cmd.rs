//! `strom savepoint`, `strom stop` and `strom checkpoint` (Flink's CLI verbs, over REST), and the
//! options that start a job from a savepoint (`--from-savepoint`, `--allow-non-restored-state`).

use crate::client::Rest;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use strom_common::config::keys;

/// The job configuration `--from-savepoint PATH` and `--allow-non-restored-state` stand for.
pub fn restore_config(
    from_savepoint: Option<&str>,
    allow_non_restored: bool,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(p) = from_savepoint {
        out.push((keys::STATE_RECOVERY_PATH.to_string(), p.to_string()));
    }
    if allow_non_restored {
        out.push((
            keys::STATE_RECOVERY_IGNORE_UNCLAIMED.to_string(),
            "true".to_string(),
        ));
    }
    out
}

/// The operations `wait_for` polls: `savepoints` or `checkpoints`.
#[derive(Clone, Copy)]
enum Operation {
    Savepoint,
    Checkpoint,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Self::Savepoint => "savepoint",
            Self::Checkpoint => "checkpoint",
        }
    }
}

/// Polls `GET /jobs/:id/savepoints/:trigger` (or `/checkpoints/:trigger`) until the operation
/// completes: its `operation` (the savepoint's location, the checkpoint's id), or its failure as
/// an error.
fn wait_for(
    rest: &Rest,
    op: Operation,
    job: &str,
    trigger: &str,
    timeout: Duration,
) -> Result<Value> {
    let what = op.name();
    let path = format!("/jobs/{job}/{what}s/{trigger}");
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        let v = rest.get(&path)?;
        match v["status"]["id"].as_str() {
            Some("COMPLETED") => {
                let op = &v["operation"];
                if op["failure-cause"].is_null() {
                    return Ok(op.clone());
                }
                let cause = &op["failure-cause"];
                let msg = cause["stack-trace"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .or(cause["class"].as_str())
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                bail!("{msg}");
            }
            Some("IN_PROGRESS") => {}
            _ => bail!("unexpected answer about the {what} of job {job}: {v}"),
        }
        if started.elapsed() >= timeout {
            bail!(
                "the {what} of job {job} did not complete within {} s; it may still complete: see GET {path} or /jobs/{job}/checkpoints (wait longer with --timeout SECONDS)",
                timeout.as_secs()
            );
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// A savepoint's path from its completed operation.
fn location(op: &Value) -> Result<String> {
    op["location"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("the cluster answered without the savepoint's location: {op}"))
}

fn request_id(v: &Value) -> Result<String> {
    v["request-id"]
        .as_str()
        .map(str::to_string)
        .context("the cluster answered without a request-id")
}

/// `strom savepoint JOB_ID [TARGET_DIR]`.
pub fn savepoint(rest: &Rest, job: &str, target: Option<&str>, timeout: Duration) -> Result<i32> {
    println!("Triggering savepoint for job {job}.");
    let mut body = json!({ "cancel-job": false });
    if let Some(t) = target {
        body["target-directory"] = json!(t);
    }
    let trigger = request_id(&rest.post(&format!("/jobs/{job}/savepoints"), &body)?)?;
    println!("Waiting for response...");
    let path = wait_for(rest, Operation::Savepoint, job, &trigger, timeout)
        .and_then(|op| location(&op))
        .with_context(|| format!("Triggering a savepoint for the job {job} failed"))?;
    println!("Savepoint completed. Path: {path}");
    println!("You can resume your program from this savepoint with the run command (--from-savepoint {path}).");
    Ok(0)
}

/// `strom stop JOB_ID [--savepoint DIR]`: a savepoint, then the job ends FINISHED.
pub fn stop(
    rest: &Rest,
    job: &str,
    target: Option<&str>,
    drain: bool,
    timeout: Duration,
) -> Result<i32> {
    if drain {
        println!("Draining job \"{job}\" with a CANONICAL savepoint.");
    } else {
        println!("Suspending job \"{job}\" with a CANONICAL savepoint.");
    }
    let mut body = json!({ "drain": drain });
    if let Some(t) = target {
        body["targetDirectory"] = json!(t);
    }
    let trigger = request_id(&rest.post(&format!("/jobs/{job}/stop"), &body)?)?;
    let path = wait_for(rest, Operation::Savepoint, job, &trigger, timeout)
        .and_then(|op| location(&op))
        .with_context(|| format!("Could not stop with a savepoint job \"{job}\""))?;
    println!("Savepoint completed. Path: {path}");
    Ok(0)
}

/// `strom checkpoint JOB_ID [--full]` (Flink's `flink checkpoint [-full] JOB_ID`): one checkpoint
/// now, outside the periodic schedule; prints its id. Strom's checkpoints are always full, so
/// `--full` changes only what is asked for (FULL rather than CONFIGURED).
pub fn checkpoint(rest: &Rest, job: &str, full: bool, timeout: Duration) -> Result<i32> {
    println!("Triggering checkpoint for job {job}.");
    let kind = if full { "FULL" } else { "CONFIGURED" };
    let body = json!({ "checkpointType": kind });
    let trigger = request_id(&rest.post(&format!("/jobs/{job}/checkpoints"), &body)?)?;
    println!("Waiting for response...");
    let id = wait_for(rest, Operation::Checkpoint, job, &trigger, timeout)
        .and_then(|op| {
            op["checkpointId"]
                .as_u64()
                .with_context(|| format!("the cluster answered without a checkpointId: {op}"))
        })
        .with_context(|| format!("Triggering a checkpoint for the job {job} failed"))?;
    println!("Checkpoint({kind}) {id} for job {job} completed.");
    // where it is, while it is retained (a newer one subsumes it)
    let path = rest
        .get(&format!("/jobs/{job}/checkpoints/details/{id}"))
        .ok()
        .and_then(|d| d["external_path"].as_str().map(str::to_string));
    match path {
        Some(p) => println!(
            "You can resume your program from this checkpoint with the run command (--from-savepoint {p})."
        ),
        None => println!("You can resume your program from this checkpoint with the run command."),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_options_become_job_config() {
        assert!(restore_config(None, false).is_empty());
        assert_eq!(
            restore_config(Some("/tmp/sp/savepoint-1"), true),
            vec![
                (
                    "execution.state-recovery.path".to_string(),
                    "/tmp/sp/savepoint-1".to_string()
                ),
                (
                    "execution.state-recovery.ignore-unclaimed-state".to_string(),
                    "true".to_string()
                ),
            ]
        );
    }
}
