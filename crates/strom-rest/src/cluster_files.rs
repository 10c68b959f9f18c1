//! The processes behind the cluster: `/jobmanager/environment`, `/jobmanager/thread-dump`,
//! `/jobmanager/log`, `/jobmanager/stdout`, and a TaskManager's `/logs`, `/logs/:name`, `/log`,
//! `/stdout` and `/thread-dump` (asked of the TaskManager: over gRPC when it is another process).

use crate::error::RestError;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use strom_cluster::extra_views::{is_sensitive, HIDDEN};
use strom_cluster::gateway::{TaskExecutorGateway, TaskManagerQueryError};
use strom_cluster::log_files::{self, LogFile, LogFileError};
use strom_cluster::process_log::{self, ProcessFiles};
use strom_cluster::thread_dump::ThreadInfo;
use strom_cluster::Dispatcher;

#[cfg(test)]
#[path = "cluster_files_tests.rs"]
mod cluster_files_tests;

type D = State<Arc<Dispatcher>>;

/// A command-line argument with a secret's value hidden (`-Dcluster.secret=x`, `key=x`).
fn masked(arg: &str) -> String {
    match arg.split_once('=') {
        Some((k, _)) if is_sensitive(k.trim_start_matches('-').trim_start_matches('D')) => {
            format!("{k}={HIDDEN}")
        }
        _ => arg.to_string(),
    }
}

/// Flink's `EnvironmentInfo` for this process: there is no JVM, so `jvm` tells the Strom
/// version, the CPU architecture and the command line (secrets hidden); no classpath.
pub fn environment() -> Value {
    let options: Vec<String> = std::env::args().map(|a| masked(&a)).collect();
    json!({
        "jvm": {
            "version": format!(
                "Strom {} (native {} process, no JVM)",
                strom_common::STROM_VERSION,
                std::env::consts::OS
            ),
            "arch": std::env::consts::ARCH,
            "options": options,
        },
        "classpath": [],
    })
}

/// Flink's `ThreadDumpInfo`.
fn thread_dump_json(threads: Vec<ThreadInfo>) -> Value {
    let infos: Vec<Value> = threads
        .iter()
        .map(|t| json!({ "threadName": t.name, "stringifiedThreadInfo": t.stringified() }))
        .collect();
    json!({ "threadInfos": infos })
}

fn text(bytes: Vec<u8>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        String::from_utf8_lossy(&bytes).into_owned(),
    )
        .into_response()
}

fn file_error(e: LogFileError) -> RestError {
    match e {
        LogFileError::NotFound(m) => RestError(StatusCode::NOT_FOUND, m),
        e => RestError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn query_error(e: TaskManagerQueryError) -> RestError {
    match e {
        TaskManagerQueryError::File(f) => file_error(f),
        e => RestError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

fn blocking_failed(e: tokio::task::JoinError) -> RestError {
    RestError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// The JobManager's log files: this process's log when it writes one, else
/// `<env.log.dir>/jobmanager.log` (written by whoever started the process).
fn jobmanager_files(d: &Dispatcher) -> Option<ProcessFiles> {
    process_log::current().or_else(|| {
        process_log::log_dir(&d.config).map(|dir| ProcessFiles {
            dir,
            log: process_log::JOBMANAGER_LOG.into(),
        })
    })
}

async fn jobmanager_file(d: &Dispatcher, which: LogFile) -> Result<Response, RestError> {
    let files = jobmanager_files(d);
    let bytes =
        tokio::task::spawn_blocking(move || log_files::read(files.as_ref(), &which, "JobManager"))
            .await
            .map_err(blocking_failed)?
            .map_err(file_error)?;
    Ok(text(bytes))
}

/// `GET /jobmanager/logs`: the files in the JobManager's log directory (none when it logs to
/// stderr only).
pub async fn jobmanager_logs(State(d): D) -> Result<Json<Value>, RestError> {
    let dir = jobmanager_files(&d).map(|f| f.dir);
    let files = tokio::task::spawn_blocking(move || log_files::list(dir.as_deref()))
        .await
        .map_err(blocking_failed)?;
    Ok(Json(json!({ "logs": files })))
}

/// `GET /jobmanager/logs/:name`: one of the files `/jobmanager/logs` lists, as text.
pub async fn jobmanager_named_log(
    State(d): D,
    Path(name): Path<String>,
) -> Result<Response, RestError> {
    jobmanager_file(&d, LogFile::Named(name)).await
}

/// `GET /jobmanager/environment`.
pub async fn jobmanager_environment() -> Json<Value> {
    Json(environment())
}

/// `GET /jobmanager/thread-dump`.
pub async fn jobmanager_thread_dump() -> Result<Json<Value>, RestError> {
    let threads = tokio::task::spawn_blocking(strom_cluster::thread_dump::threads)
        .await
        .map_err(blocking_failed)?;
    Ok(Json(thread_dump_json(threads)))
}

/// `GET /jobmanager/log`.
pub async fn jobmanager_log(State(d): D) -> Result<Response, RestError> {
    jobmanager_file(&d, LogFile::Log).await
}

/// `GET /jobmanager/stdout`.
pub async fn jobmanager_stdout(State(d): D) -> Result<Response, RestError> {
    jobmanager_file(&d, LogFile::Stdout).await
}

/// The registered TaskManager `id`, or 404.
pub(crate) fn task_manager(
    d: &Dispatcher,
    id: &str,
) -> Result<Arc<dyn TaskExecutorGateway>, RestError> {
    let tm = strom_cluster::gateway::TaskManagerId(id.to_string());
    d.rm.task_executor(&tm).ok_or_else(|| {
        RestError(
            StatusCode::NOT_FOUND,
            format!("Could not find TaskExecutor {id}: it is not registered; see /taskmanagers"),
        )
    })
}

/// `GET /taskmanagers/:id/logs`.
pub async fn taskmanager_logs(
    State(d): D,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    let files = task_manager(&d, &id)?
        .file_list()
        .await
        .map_err(query_error)?;
    Ok(Json(json!({ "logs": files })))
}

async fn taskmanager_file(d: &Dispatcher, id: &str, which: LogFile) -> Result<Response, RestError> {
    let bytes = task_manager(d, id)?
        .file(which)
        .await
        .map_err(query_error)?;
    Ok(text(bytes))
}

/// `GET /taskmanagers/:id/logs/:name`.
pub async fn taskmanager_log_file(
    State(d): D,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, RestError> {
    taskmanager_file(&d, &id, LogFile::Named(name)).await
}

/// `GET /taskmanagers/:id/log`.
pub async fn taskmanager_log(State(d): D, Path(id): Path<String>) -> Result<Response, RestError> {
    taskmanager_file(&d, &id, LogFile::Log).await
}

/// `GET /taskmanagers/:id/stdout`.
pub async fn taskmanager_stdout(
    State(d): D,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    taskmanager_file(&d, &id, LogFile::Stdout).await
}

/// `GET /taskmanagers/:id/thread-dump`.
pub async fn taskmanager_thread_dump(
    State(d): D,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    let threads = task_manager(&d, &id)?
        .thread_dump()
        .await
        .map_err(query_error)?;
    Ok(Json(thread_dump_json(threads)))
}
