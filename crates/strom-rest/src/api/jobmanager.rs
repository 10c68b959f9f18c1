//! The JobManager: `GET /jobmanager/config` (secrets hidden), `/environment`, `/thread-dump`,
//! `/logs`, `/logs/:name`, `/log`, `/stdout`, and as a job sees them `/jobs/:id/jobmanager/config`,
//! `/environment` and `/log-url`. The file answers (logs, stdout, thread dumps) are shared with
//! [`super::taskmanagers`].

use crate::api::Routes;
use crate::error::{job_id, RestError};
use crate::openapi::{flink_schema, get, Doc};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use strom_cluster::gateway::TaskManagerQueryError;
use strom_cluster::log_files::{self, LogFile, LogFileError};
use strom_cluster::process_log::{self, ProcessFiles};
use strom_cluster::thread_dump::ThreadInfo;
use strom_cluster::Dispatcher;
use views::{is_sensitive, HIDDEN};

type D = State<Arc<Dispatcher>>;

/// The routes of this resource.
pub(crate) fn routes(r: Routes) -> Routes {
    r.route(
        "/jobmanager/config",
        get(
            jobmanager_config,
            Doc::new("The cluster configuration (secrets hidden)")
                .flink(flink_schema!("jobmanager_config")),
        ),
    )
    .route(
        "/jobmanager/logs",
        get(jobmanager_logs, Doc::new("The JobManager's log files")),
    )
    .route(
        "/jobmanager/logs/{name}",
        get(jobmanager_named_log, Doc::new("One log file").text()),
    )
    .route(
        "/jobmanager/environment",
        get(
            jobmanager_environment,
            Doc::new("The JobManager process: Strom version, CPU architecture, command line (Flink's EnvironmentInfo)"),
        ),
    )
    .route(
        "/jobmanager/thread-dump",
        get(
            jobmanager_thread_dump,
            Doc::new("The JobManager process's threads (name, id, kernel state)"),
        ),
    )
    .route(
        "/jobmanager/log",
        get(
            jobmanager_log,
            Doc::new("The JobManager's log file (env.log.dir)").text(),
        ),
    )
    .route(
        "/jobmanager/stdout",
        get(
            jobmanager_stdout,
            Doc::new("The JobManager's stdout file, if one was kept in env.log.dir").text(),
        ),
    )
    .route(
        "/jobs/{jobid}/jobmanager/config",
        get(
            job_jobmanager_config,
            Doc::new("The configuration the job runs with (cluster's overlaid by the job's; secrets hidden)")
                .flink(flink_schema!("jobmanager_config")),
        ),
    )
    .route(
        "/jobs/{jobid}/jobmanager/environment",
        get(
            job_jobmanager_environment,
            Doc::new("The environment of the JobManager running the job"),
        ),
    )
    .route(
        "/jobs/{jobid}/jobmanager/log-url",
        get(
            job_jobmanager_log_url,
            Doc::new("The URL of the JobManager's log"),
        ),
    )
}

#[cfg(test)]
mod tests;

/// `GET /jobmanager/config`.
pub async fn jobmanager_config(State(d): D) -> Json<Value> {
    Json(views::jobmanager_config(&d))
}

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
pub(crate) fn thread_dump_json(threads: Vec<ThreadInfo>) -> Value {
    let infos: Vec<Value> = threads
        .iter()
        .map(|t| json!({ "threadName": t.name, "stringifiedThreadInfo": t.stringified() }))
        .collect();
    json!({ "threadInfos": infos })
}

pub(crate) fn text(bytes: Vec<u8>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        String::from_utf8_lossy(&bytes).into_owned(),
    )
        .into_response()
}

pub(crate) fn file_error(e: LogFileError) -> RestError {
    match e {
        LogFileError::NotFound(m) => RestError(StatusCode::NOT_FOUND, m),
        e => RestError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

pub(crate) fn query_error(e: TaskManagerQueryError) -> RestError {
    match e {
        TaskManagerQueryError::File(f) => file_error(f),
        e => RestError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

pub(crate) fn blocking_failed(e: tokio::task::JoinError) -> RestError {
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

/// `GET /jobs/:id/jobmanager/config`: the cluster configuration overlaid by the job's own
/// (its SET statements), as `[{"key", "value"}]` with secrets hidden.
pub async fn job_jobmanager_config(
    State(d): D,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    let mut merged: BTreeMap<String, String> = d
        .config
        .entries()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    merged.extend(j.snapshot().plan.config.clone());
    let entries: Vec<Value> = merged
        .iter()
        .map(|(k, v)| {
            let v = if is_sensitive(k) { HIDDEN } else { v.as_str() };
            json!({ "key": k, "value": v })
        })
        .collect();
    Ok(Json(Value::Array(entries)))
}

/// `GET /jobs/:id/jobmanager/environment`: the JobManager process's environment.
pub async fn job_jobmanager_environment(
    State(d): D,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    d.job(job_id(&id)?)?;
    Ok(Json(environment()))
}

/// This REST server's address as the client reached it (its `Host` header).
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', ' ']))
        .map(|h| format!("http://{h}"))
        .unwrap_or_default()
}

/// `historyserver.log.*.url-pattern` with its placeholders filled, if configured (Flink).
pub(crate) fn pattern_url(
    d: &Dispatcher,
    key: &str,
    job: &str,
    tm: Option<&str>,
) -> Option<String> {
    let p = d.config.get(key).map(str::trim).filter(|p| !p.is_empty())?;
    let url = p.replace("<jobid>", job);
    Some(match tm {
        Some(tm) => url.replace("<tmid>", tm),
        None => url,
    })
}

/// `GET /jobs/:id/jobmanager/log-url`: `{"url"}` of the JobManager's log, `/jobmanager/log`
/// of this server (or Flink's `historyserver.log.jobmanager.url-pattern`).
pub async fn job_jobmanager_log_url(
    State(d): D,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    let job = j.id.to_string();
    let url = pattern_url(&d, "historyserver.log.jobmanager.url-pattern", &job, None)
        .unwrap_or_else(|| format!("{}/jobmanager/log", base_url(&headers)));
    Ok(Json(json!({ "url": url })))
}

/// The JSON answers (Flink's shapes), built from the live job state.
pub(crate) mod views {
    use serde_json::{json, Value};

    use strom_cluster::dispatcher::Dispatcher;

    /// Configuration keys whose values are shown as `******` (Flink's `GlobalConfiguration`
    /// sensitive-key fragments, matched case-insensitively, plus Strom's `cluster.secret`).
    const SENSITIVE: &[&str] = &[
        "password",
        "secret",
        "fs.azure.account.key",
        "apikey",
        "api-key",
        "auth-params",
        "service-key",
        "token",
        "basic-auth",
        "jaas.config",
        "http-headers",
    ];

    pub const HIDDEN: &str = "******";

    pub fn is_sensitive(key: &str) -> bool {
        let k = key.to_ascii_lowercase();
        SENSITIVE.iter().any(|s| k.contains(s))
    }

    /// `/jobmanager/config`: the cluster configuration as `[{"key", "value"}]`, secrets hidden.
    pub fn jobmanager_config(d: &Dispatcher) -> Value {
        let entries: Vec<Value> = d
            .config
            .entries()
            .map(|(k, v)| {
                let v = if is_sensitive(k) { HIDDEN } else { v };
                json!({ "key": k, "value": v })
            })
            .collect();
        Value::Array(entries)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn secrets_are_recognised() {
            assert!(is_sensitive("cluster.secret"));
            assert!(is_sensitive("rest.auth.token"));
            assert!(is_sensitive("s3.Password"));
            assert!(!is_sensitive("rest.port"));
        }
    }
}
