//! Checkpoints: `GET /jobs/:id/checkpoints` (`CheckpointingStatistics`), `/checkpoints/config`
//! (`CheckpointConfigInfo`), `/checkpoints/details/:cid` (`CheckpointStatistics` with its tasks),
//! `/checkpoints/details/:cid/subtasks/:vid` (`TaskCheckpointStatisticsWithSubtaskDetails`), and
//! a manual checkpoint: `POST /jobs/:id/checkpoints`, `GET /jobs/:id/checkpoints/:triggerid`.
//! The asynchronous-operation answers are shared with [`super::savepoints`].
//!
//! The views take a [`CheckpointStats`](strom_cluster::checkpoint_stats::CheckpointStats) and the
//! job's vertices (id and parallelism by vertex position, see [`views::vertices`]), so they can be
//! tried on hand-built statistics.

use crate::api::Routes;
use crate::body::{json_object_or_default, Expected};
use crate::error::{job_id, RestError};
use crate::openapi::{flink_schema, get, hex32, nullable, Body, Doc};
use crate::triggers::{Outcome, Triggers};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use strom_cluster::protocol::TriggerError;
use strom_cluster::Dispatcher;
use strom_common::VertexId;
use strom_common::{JobId, JobType};

/// The routes of this resource.
pub(crate) fn routes(r: Routes) -> Routes {
    r.route(
        "/jobs/{jobid}/checkpoints",
        get(
            checkpoints,
            Doc::new("Checkpoint statistics: counts, summary, latest, history")
                .flink(flink_schema!("job_checkpoints")),
        )
        .post(
            trigger_checkpoint,
            Doc::new("Trigger a checkpoint now ({\"checkpointType\": \"FULL\" | \"INCREMENTAL\" | \"CONFIGURED\", \"triggerId\"}; 202 with a request id; Strom's checkpoints are always full)")
                .body(Body::json(checkpoint_body_schema())),
        ),
    )
    .route(
        "/jobs/{jobid}/checkpoints/config",
        get(checkpoint_config, Doc::new("Checkpointing configuration")),
    )
    .route(
        "/jobs/{jobid}/checkpoints/details/{checkpointid}",
        get(checkpoint_details, Doc::new("One checkpoint, per vertex")),
    )
    .route(
        "/jobs/{jobid}/checkpoints/details/{checkpointid}/subtasks/{vertexid}",
        get(
            checkpoint_subtasks,
            Doc::new("One checkpoint, per subtask of a vertex"),
        ),
    )
    .route(
        "/jobs/{jobid}/checkpoints/{triggerid}",
        get(
            checkpoint_status,
            Doc::new("Status of a manual checkpoint (operation.checkpointId once COMPLETED)"),
        ),
    )
}

#[cfg(test)]
mod tests;

fn checkpoint_id(s: &str) -> Result<u64, RestError> {
    s.parse().map_err(|_| {
        RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request, could not parse parameters: Cannot resolve path parameter (checkpointid) from value \"{s}\"; a checkpoint id is a non-negative integer"),
        )
    })
}

fn vertex_id(s: &str) -> Result<VertexId, RestError> {
    s.parse().map_err(|_| {
        RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request, could not parse parameters: Cannot resolve path parameter (vertexid) from value \"{s}\"; a vertex id is 32 hexadecimal characters"),
        )
    })
}

pub(crate) fn trigger_id(s: &str) -> Result<String, RestError> {
    if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(RestError(
            StatusCode::BAD_REQUEST,
            format!("Bad request, could not parse parameters: Cannot resolve path parameter (triggerid) from value \"{s}\"; a trigger id is the 32 hexadecimal characters of the \"request-id\" a savepoint, stop or checkpoint request answered"),
        ))
    }
}

pub(crate) fn not_found(msg: String) -> RestError {
    RestError(StatusCode::NOT_FOUND, msg)
}

fn detail_error(e: views::DetailError, job: JobId) -> RestError {
    not_found(e.to_string().replace("<jobid>", &job.to_string()))
}

/// `GET /jobs/:id/checkpoints`.
pub async fn checkpoints(
    State(d): State<Arc<Dispatcher>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    let job = job_id(&id)?;
    let j = d.job(job)?;
    let st = j.snapshot();
    if st.graph().job_type == JobType::Batch {
        return Err(not_found(format!(
            "{} (job {job} runs in batch mode: batch jobs take no checkpoints)",
            views::NOT_ENABLED
        )));
    }
    Ok(Json(views::checkpointing_statistics(&st.checkpoints)))
}

/// `GET /jobs/:id/checkpoints/config`.
pub async fn checkpoint_config(
    State(d): State<Arc<Dispatcher>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    let job = job_id(&id)?;
    let j = d.job(job)?;
    let st = j.snapshot();
    views::checkpoint_config(&st.checkpoints, st.graph().job_type)
        .map(Json)
        .ok_or_else(|| not_found(views::config_not_enabled(&job.to_string())))
}

/// `GET /jobs/:id/checkpoints/details/:checkpointid`.
pub async fn checkpoint_details(
    State(d): State<Arc<Dispatcher>>,
    Path((id, cid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let job = job_id(&id)?;
    let cid = checkpoint_id(&cid)?;
    let j = d.job(job)?;
    let st = j.snapshot();
    if st.graph().job_type == JobType::Batch {
        return Err(not_found(views::NOT_ENABLED.to_string()));
    }
    views::checkpoint_details(&st.checkpoints, &views::vertices(&st), cid)
        .map(Json)
        .map_err(|e| detail_error(e, job))
}

/// `GET /jobs/:id/checkpoints/details/:checkpointid/subtasks/:vertexid`.
pub async fn checkpoint_subtasks(
    State(d): State<Arc<Dispatcher>>,
    Path((id, cid, vid)): Path<(String, String, String)>,
) -> Result<Json<Value>, RestError> {
    let job = job_id(&id)?;
    let cid = checkpoint_id(&cid)?;
    let vertex = vertex_id(&vid)?;
    let j = d.job(job)?;
    let st = j.snapshot();
    if st.graph().job_type == JobType::Batch {
        return Err(not_found(views::NOT_ENABLED.to_string()));
    }
    views::task_checkpoint_details(&st.checkpoints, &views::vertices(&st), cid, vertex)
        .map(Json)
        .map_err(|e| detail_error(e, job))
}

/// Body of `POST /jobs/:id/checkpoints` (Flink's `CheckpointTriggerRequestBody`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointBody {
    #[serde(rename = "checkpointType")]
    checkpoint_type: Option<CheckpointType>,
    #[serde(rename = "triggerId")]
    trigger_id: Option<String>,
}

/// The schema of [`CheckpointBody`] (an empty body is `{}`; other fields are refused: 400).
fn checkpoint_body_schema() -> Value {
    json!({"type": "object", "additionalProperties": false, "properties": {
        "checkpointType": {"type": "string",
            "enum": ["CONFIGURED", "FULL", "INCREMENTAL", null], "nullable": true},
        "triggerId": nullable(hex32())}})
}

/// Flink's `CheckpointType` of a manual checkpoint. Strom's snapshots are always complete, so
/// the three are one: as in Flink on a backend without incremental snapshots (hashmap), where
/// INCREMENTAL takes a regular checkpoint, and that one is full.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum CheckpointType {
    #[default]
    Configured,
    Full,
    Incremental,
}

/// Starts an operation of `job` under the given or a new trigger id (a known id is not started
/// again: Flink's idempotent triggers); `start` returns how to wait for the job's answer (None:
/// the job ended first), kept in `triggers`. Answers 202 `{"request-id": ...}`.
pub(crate) fn trigger<T, W>(
    d: &Dispatcher,
    triggers: &Triggers<T>,
    job: JobId,
    given: Option<String>,
    what: &'static str,
    start: impl FnOnce() -> Result<W, RestError>,
) -> Result<Response, RestError>
where
    T: Clone + Send + 'static,
    W: FnOnce() -> Option<Outcome<T>> + Send + 'static,
{
    let id = match given {
        Some(t) => trigger_id(&t).map_err(|_| {
            RestError(
                StatusCode::BAD_REQUEST,
                format!("Bad request: triggerId \"{t}\" is not 32 hexadecimal characters"),
            )
        })?,
        None => JobId::random().to_string(),
    };
    d.job(job)?;
    if !triggers.contains(job, &id) {
        let wait = start()?;
        let ended = TriggerError::JobEnded { what };
        triggers
            .insert(job, id.clone(), move || wait().unwrap_or(Err(ended)))
            .map_err(|e| {
                RestError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot wait for the {what}: {e}"),
                )
            })?;
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "request-id": id }))).into_response())
}

/// `POST /jobs/:id/checkpoints` with `{"checkpointType": "FULL" | "INCREMENTAL" | "CONFIGURED",
/// "triggerId": ...}`: one checkpoint now, outside the periodic schedule.
pub async fn trigger_checkpoint(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, RestError> {
    let job = job_id(&id)?;
    let b: CheckpointBody = json_object_or_default(
        &body,
        Expected {
            what: "CheckpointTriggerRequestBody",
            example: r#"{"checkpointType": "FULL"} (FULL, INCREMENTAL or CONFIGURED)"#,
        },
    )?;
    let kind = b.checkpoint_type.unwrap_or_default();
    tracing::info!("manual checkpoint of job {job} ({kind:?}; Strom's checkpoints are full)");
    let d = &s.dispatcher;
    trigger(
        d,
        &s.checkpoint_triggers,
        job,
        b.trigger_id,
        "checkpoint",
        || {
            let rx = d.checkpoint(job)?;
            Ok(move || rx.recv().ok())
        },
    )
}

/// Flink's `AsynchronousOperationResult`: in progress, or completed with `done(value)` (a
/// `SavepointInfo`, a `CheckpointInfo`) or a failure cause.
pub(crate) fn operation_result<T>(
    outcome: Option<Outcome<T>>,
    done: impl FnOnce(T) -> Value,
) -> Value {
    match outcome {
        None => json!({ "status": { "id": "IN_PROGRESS" } }),
        Some(Ok(v)) => json!({
            "status": { "id": "COMPLETED" },
            "operation": done(v),
        }),
        Some(Err(cause)) => json!({
            "status": { "id": "COMPLETED" },
            "operation": { "failure-cause": {
                "class": "org.apache.flink.runtime.checkpoint.CheckpointException",
                "stack-trace": cause.to_string(),
                "serialized-throwable": "",
            } },
        }),
    }
}

/// `GET /jobs/:id/checkpoints/:triggerid`: Flink's `CheckpointInfo` once done.
pub async fn checkpoint_status(
    State(s): State<AppState>,
    Path((id, tid)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let job = job_id(&id)?;
    let tid = trigger_id(&tid)?;
    match s.checkpoint_triggers.status(job, &tid) {
        Some(outcome) => Ok(Json(operation_result(
            outcome,
            |id| json!({ "checkpointId": id }),
        ))),
        None => {
            s.dispatcher.job(job)?;
            Err(not_found(format!(
                "There is no checkpoint operation with triggerId={tid} for job {job}. (or its result expired {} s after it completed)",
                crate::triggers::STORE_FOR.as_secs()
            )))
        }
    }
}

/// The JSON answers (Flink's shapes), built from the live job state.
pub(crate) mod views {
    use crate::json_stats::percentile;
    use serde_json::Map;
    use serde_json::{json, Value};
    use strom_cluster::checkpoint_stats::{CheckpointRecord, CheckpointStats, CheckpointStatus};

    use strom_cluster::job_master::JobSnapshot;

    use strom_common::JobType;
    use strom_common::VertexId;

    /// The job's vertices by position (the order of `CheckpointRecord::acks`): id and parallelism.
    pub fn vertices(st: &JobSnapshot) -> Vec<(VertexId, usize)> {
        st.graph()
            .vertices
            .iter()
            .map(|v| (v.id(), v.subtasks.len()))
            .collect()
    }

    /// Flink's message when a job has no checkpoint coordinator (batch jobs).
    pub const NOT_ENABLED: &str = "Checkpointing has not been enabled.";

    /// Flink's `/checkpoints/config` message when a job has no checkpoint coordinator.
    pub fn config_not_enabled(job: &str) -> String {
        format!("Checkpointing is not enabled for this job ({job}).")
    }

    /// A double as Flink writes it: a number, or the string "NaN".
    fn double(x: f64) -> Value {
        if x.is_finite() {
            json!(x)
        } else if x.is_nan() {
            json!("NaN")
        } else if x > 0.0 {
            json!("Infinity")
        } else {
            json!("-Infinity")
        }
    }

    /// Flink's `StatsSummaryDto`: min, max, avg (integers, 0 without values) and percentiles
    /// (doubles, "NaN" without values).
    pub fn stats_summary(values: &[i64]) -> Value {
        let mut sorted: Vec<f64> = values.iter().map(|v| *v as f64).collect();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let (min, max, avg) = if values.is_empty() {
            (0, 0, 0)
        } else {
            let sum: i128 = values.iter().map(|v| *v as i128).sum();
            (
                *values.iter().min().expect("not empty"),
                *values.iter().max().expect("not empty"),
                (sum / values.len() as i128) as i64,
            )
        };
        json!({
            "min": min,
            "max": max,
            "avg": avg,
            "p50": double(percentile(&sorted, 50.0)),
            "p90": double(percentile(&sorted, 90.0)),
            "p95": double(percentile(&sorted, 95.0)),
            "p99": double(percentile(&sorted, 99.0)),
            "p999": double(percentile(&sorted, 99.9)),
        })
    }

    /// Flink's summary of a figure that is always zero (alignment buffered: 0.0 percentiles).
    fn zero_summary() -> Value {
        json!({"min": 0, "max": 0, "avg": 0, "p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0, "p999": 0.0})
    }

    fn class_name(r: &CheckpointRecord) -> &'static str {
        match r.status {
            CheckpointStatus::Completed => ".CompletedCheckpointStatistics",
            CheckpointStatus::Failed => ".FailedCheckpointStatistics",
            CheckpointStatus::InProgress => ".PendingCheckpointStatistics",
        }
    }

    /// Whether a completed checkpoint's files were discarded: the coordinator keeps the newest
    /// `num_retained` completed checkpoints (savepoints included); a savepoint's copy stays.
    fn discarded(stats: &CheckpointStats, r: &CheckpointRecord) -> bool {
        if r.savepoint || r.status != CheckpointStatus::Completed {
            return false;
        }
        let newer = stats
            .history
            .iter()
            .filter(|o| o.status == CheckpointStatus::Completed && o.id > r.id)
            .count();
        newer >= stats.settings.num_retained.max(1)
    }

    /// One vertex's part of a checkpoint (Flink's `TaskCheckpointStatistics`).
    fn task_statistics(r: &CheckpointRecord, position: usize, parallelism: usize) -> Value {
        let acks: &[(u32, i64, u64)] = r.acks.get(position).map(Vec::as_slice).unwrap_or(&[]);
        let size: u64 = acks.iter().map(|a| a.2).sum();
        let latest = acks.iter().map(|a| a.1).max();
        json!({
            "id": r.id,
            "status": r.status.as_str(),
            "latest_ack_timestamp": latest.unwrap_or(-1),
            "checkpointed_size": size,
            "state_size": size,
            "end_to_end_duration": latest.map(|t| (t - r.trigger_timestamp).max(0)).unwrap_or(-1),
            "alignment_buffered": 0,
            "processed_data": 0,
            "persisted_data": 0,
            "num_subtasks": parallelism,
            "num_acknowledged_subtasks": acks.len(),
        })
    }

    /// One checkpoint (Flink's `CheckpointStatistics` and its subclasses); `tasks` holds the
    /// per-vertex figures when `vertices` is given (details), and is empty otherwise (as Flink's
    /// history and latest entries are).
    pub fn checkpoint_statistics(
        stats: &CheckpointStats,
        r: &CheckpointRecord,
        vertices: Option<&[(VertexId, usize)]>,
    ) -> Value {
        let mut tasks = Map::new();
        for (pos, (id, parallelism)) in vertices.unwrap_or(&[]).iter().enumerate() {
            tasks.insert(id.to_string(), task_statistics(r, pos, *parallelism));
        }
        let mut v = json!({
            "className": class_name(r),
            "id": r.id,
            "status": r.status.as_str(),
            "is_savepoint": r.savepoint,
            "savepointFormat": if r.savepoint { json!("CANONICAL") } else { Value::Null },
            "trigger_timestamp": r.trigger_timestamp,
            "latest_ack_timestamp": r.latest_ack_timestamp,
            "checkpointed_size": r.state_size,
            "state_size": r.state_size,
            "end_to_end_duration": r.end_to_end_duration(),
            "alignment_buffered": 0,
            "processed_data": 0,
            "persisted_data": 0,
            "num_subtasks": r.num_subtasks,
            "num_acknowledged_subtasks": r.num_acknowledged,
            "checkpoint_type": if r.savepoint { "SAVEPOINT" } else { "CHECKPOINT" },
            "tasks": tasks,
        });
        match r.status {
            CheckpointStatus::Completed => {
                v["external_path"] = json!(r.external_path);
                v["discarded"] = json!(discarded(stats, r));
            }
            CheckpointStatus::Failed => {
                v["failure_timestamp"] =
                    json!(r.failure_timestamp.unwrap_or(r.latest_ack_timestamp));
                v["failure_message"] = json!(r.failure_message);
            }
            CheckpointStatus::InProgress => {}
        }
        v
    }

    /// `GET /jobs/:id/checkpoints` (Flink's `CheckpointingStatistics`). The summary covers the
    /// completed checkpoints still in the history.
    pub fn checkpointing_statistics(stats: &CheckpointStats) -> Value {
        let completed: Vec<&CheckpointRecord> = stats
            .history
            .iter()
            .filter(|r| r.status == CheckpointStatus::Completed)
            .collect();
        let figures = |f: &dyn Fn(&CheckpointRecord) -> i64| -> Vec<i64> {
            completed.iter().map(|r| f(r)).collect()
        };
        let sizes = figures(&|r| r.state_size as i64);
        let durations = figures(&|r| r.end_to_end_duration());
        let zeros = figures(&|_| 0);
        // the latest entries as they are now in the history (a savepoint may have completed since)
        let current = |r: &Option<CheckpointRecord>| -> Value {
            match r {
                Some(r) => {
                    let r = stats.record(r.id).unwrap_or(r);
                    checkpoint_statistics(stats, r, None)
                }
                None => Value::Null,
            }
        };
        let restored = match &stats.latest_restored {
            Some((id, at, path, savepoint)) => json!({
                "id": id,
                "restore_timestamp": at,
                "is_savepoint": savepoint,
                "external_path": path,
            }),
            None => Value::Null,
        };
        json!({
            "counts": {
                "restored": stats.restored,
                "total": stats.triggered,
                "in_progress": stats.in_progress,
                "completed": stats.completed,
                "failed": stats.failed,
            },
            "summary": {
                "checkpointed_size": stats_summary(&sizes),
                "state_size": stats_summary(&sizes),
                "end_to_end_duration": stats_summary(&durations),
                "alignment_buffered": zero_summary(),
                "processed_data": stats_summary(&zeros),
                "persisted_data": stats_summary(&zeros),
            },
            "latest": {
                "completed": current(&stats.latest_completed),
                "savepoint": current(&stats.latest_savepoint),
                "failed": current(&stats.latest_failed),
                "restored": restored,
            },
            "history": stats
                .history
                .iter()
                .map(|r| checkpoint_statistics(stats, r, None))
                .collect::<Vec<_>>(),
        })
    }

    /// `GET /jobs/:id/checkpoints/config` (Flink's `CheckpointConfigInfo`); None for a job without
    /// checkpoints (batch), which Flink answers with 404 ([`config_not_enabled`]).
    pub fn checkpoint_config(stats: &CheckpointStats, job_type: JobType) -> Option<Value> {
        if job_type == JobType::Batch {
            return None;
        }
        let s = &stats.settings;
        Some(json!({
            "mode": "exactly_once",
            // Flink shows Long.MAX_VALUE when periodic checkpoints are off
            "interval": if s.enabled { s.interval_ms } else { i64::MAX },
            "timeout": s.timeout_ms,
            "min_pause": s.min_pause_ms,
            "max_concurrent": s.max_concurrent,
            // completed checkpoints stay in state.checkpoints.dir/<job id> after the job ends
            "externalization": { "enabled": true, "delete_on_cancellation": false },
            "state_backend": "HashMapStateBackend",
            "checkpoint_storage": "FileSystemCheckpointStorage",
            "unaligned_checkpoints": false,
            "tolerable_failed_checkpoints": s.tolerable_failed_checkpoints,
            "aligned_checkpoint_timeout": 0,
            "checkpoints_after_tasks_finish": false,
            "state_changelog_enabled": false,
            "changelog_periodic_materialization_interval": 600_000,
            "changelog_storage": "memory",
            "job_type": job_type.as_str(),
        }))
    }

    /// Why a checkpoint detail cannot be shown (Flink answers 404 with these messages).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum DetailError {
        UnknownCheckpoint(u64),
        UnknownVertex(VertexId),
    }

    impl std::fmt::Display for DetailError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
            DetailError::UnknownCheckpoint(id) => write!(
                f,
                "Could not find checkpoint statistics for checkpoint {id}. Only the latest checkpoints are kept; see /jobs/<jobid>/checkpoints for their ids."
            ),
            DetailError::UnknownVertex(v) => write!(
                f,
                "There is no checkpoint statistics for task {v}. See /jobs/<jobid> for the job's vertex ids."
            ),
        }
        }
    }

    /// `GET /jobs/:id/checkpoints/details/:cid`: the checkpoint with its per-vertex figures.
    pub fn checkpoint_details(
        stats: &CheckpointStats,
        vertices: &[(VertexId, usize)],
        id: u64,
    ) -> Result<Value, DetailError> {
        let r = stats.record(id).ok_or(DetailError::UnknownCheckpoint(id))?;
        Ok(checkpoint_statistics(stats, r, Some(vertices)))
    }

    /// `GET /jobs/:id/checkpoints/details/:cid/subtasks/:vid` (Flink's
    /// `TaskCheckpointStatisticsWithSubtaskDetails`): one vertex's subtasks, acknowledged or not.
    pub fn task_checkpoint_details(
        stats: &CheckpointStats,
        vertices: &[(VertexId, usize)],
        id: u64,
        vertex: VertexId,
    ) -> Result<Value, DetailError> {
        let r = stats.record(id).ok_or(DetailError::UnknownCheckpoint(id))?;
        let (pos, parallelism) = vertices
            .iter()
            .enumerate()
            .find(|(_, (v, _))| *v == vertex)
            .map(|(pos, (_, p))| (pos, *p))
            .ok_or(DetailError::UnknownVertex(vertex))?;
        let acks: &[(u32, i64, u64)] = r.acks.get(pos).map(Vec::as_slice).unwrap_or(&[]);
        let mut v = task_statistics(r, pos, parallelism);
        let sizes: Vec<i64> = acks.iter().map(|a| a.2 as i64).collect();
        let durations: Vec<i64> = acks
            .iter()
            .map(|a| (a.1 - r.trigger_timestamp).max(0))
            .collect();
        let zeros: Vec<i64> = acks.iter().map(|_| 0).collect();
        v["summary"] = json!({
            "checkpointed_size": stats_summary(&sizes),
            "state_size": stats_summary(&sizes),
            "end_to_end_duration": stats_summary(&durations),
            "checkpoint_duration": {
                "sync": stats_summary(&zeros),
                "async": stats_summary(&zeros),
            },
            "alignment": {
                "buffered": stats_summary(&zeros),
                "processed": stats_summary(&zeros),
                "persisted": stats_summary(&zeros),
                "duration": stats_summary(&zeros),
            },
            "start_delay": stats_summary(&zeros),
        });
        let subtasks: Vec<Value> = (0..parallelism)
            .map(|i| match acks.iter().find(|a| a.0 as usize == i) {
                Some(&(_, at, size)) => json!({
                    "className": ".CompletedSubtaskCheckpointStatistics",
                    "index": i,
                    "status": "completed",
                    "ack_timestamp": at,
                    "end_to_end_duration": (at - r.trigger_timestamp).max(0),
                    "state_size": size,
                    "checkpointed_size": size,
                    "checkpoint": { "sync": 0, "async": 0 },
                    "alignment": { "buffered": 0, "processed": 0, "persisted": 0, "duration": 0 },
                    "start_delay": 0,
                    "unaligned_checkpoint": false,
                    "aborted": false,
                }),
                None => json!({
                    "className": ".PendingSubtaskCheckpointStatistics",
                    "index": i,
                    "status": "pending_or_failed",
                }),
            })
            .collect();
        v["subtasks"] = json!(subtasks);
        Ok(v)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn percentiles_follow_commons_math() {
            let s = [1.0, 2.0, 3.0, 4.0];
            assert_eq!(percentile(&s, 50.0), 2.5);
            assert_eq!(percentile(&s, 99.0), 4.0);
            assert_eq!(percentile(&s, 10.0), 1.0);
            assert_eq!(percentile(&[7.0], 90.0), 7.0);
            assert!(percentile(&[], 50.0).is_nan());
        }

        #[test]
        fn summary_of_nothing_is_zero_and_nan() {
            let v = stats_summary(&[]);
            assert_eq!(v["min"], json!(0));
            assert_eq!(v["avg"], json!(0));
            assert_eq!(v["p50"], json!("NaN"));
            let v = stats_summary(&[10, 20, 40]);
            assert_eq!(v["min"], json!(10));
            assert_eq!(v["max"], json!(40));
            assert_eq!(v["avg"], json!(23));
            assert_eq!(v["p50"], json!(20.0));
        }
    }
}
