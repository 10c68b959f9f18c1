//! Strom's REST API: Flink's paths and JSON shapes (`/overview`, `/jobs`, `/jobs/:id`, ...), served
//! by axum on 127.0.0.1:8081 unless configured otherwise. As Flink does, every route is served
//! at the root and under `/v1` (Flink's CLI and REST client call `/v1/jobs/overview`, ...).

mod body;
mod checkpoints;
mod cluster_files;
mod error;
pub mod guard;
mod handlers;
mod job_endpoints;
mod job_extras;
mod metric_queries;
pub mod openapi;
pub mod prometheus;
mod sql;
pub mod triggers;
mod ui;

#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod v1_tests;

use axum::extract::FromRef;
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use strom_cluster::Dispatcher;
use strom_common::config::keys;

pub use checkpoints::operation_status;
pub use error::RestError;

/// What the handlers share: the Dispatcher, and the savepoint and checkpoint operations
/// triggered over REST.
#[derive(Clone)]
pub struct AppState {
    pub dispatcher: Arc<Dispatcher>,
    pub triggers: triggers::SavepointTriggers,
    pub checkpoint_triggers: triggers::CheckpointTriggers,
    pub shutdown: job_endpoints::ShutdownHook,
}

impl FromRef<AppState> for Arc<Dispatcher> {
    fn from_ref(s: &AppState) -> Self {
        s.dispatcher.clone()
    }
}

/// Every route of the API, relative to its base (the root, and `/v1`), each behind the guard.
#[allow(clippy::too_many_lines)] // debt: to split into steps
fn api(guard: Arc<guard::Guard>) -> Router<AppState> {
    guard::GuardedRoutes::new(guard)
        .route("/config", get(handlers::config))
        .route("/overview", get(handlers::overview))
        .route("/jobs", get(handlers::jobs).post(handlers::submit))
        .route("/jobs/overview", get(handlers::jobs_overview))
        .route(
            "/jobs/{jobid}",
            get(handlers::job_details).patch(handlers::job_patch),
        )
        .route("/jobs/{jobid}/status", get(handlers::job_status))
        .route("/jobs/{jobid}/plan", get(handlers::job_plan))
        .route("/jobs/{jobid}/exceptions", get(handlers::job_exceptions))
        .route(
            "/jobs/{jobid}/checkpoints",
            get(checkpoints::checkpoints).post(checkpoints::trigger_checkpoint),
        )
        .route(
            "/jobs/{jobid}/checkpoints/config",
            get(checkpoints::checkpoint_config),
        )
        .route(
            "/jobs/{jobid}/checkpoints/details/{checkpointid}",
            get(checkpoints::checkpoint_details),
        )
        .route(
            "/jobs/{jobid}/checkpoints/details/{checkpointid}/subtasks/{vertexid}",
            get(checkpoints::checkpoint_subtasks),
        )
        .route(
            "/jobs/{jobid}/checkpoints/{triggerid}",
            get(checkpoints::checkpoint_status),
        )
        .route(
            "/jobs/{jobid}/savepoints",
            post(checkpoints::trigger_savepoint),
        )
        .route(
            "/jobs/{jobid}/savepoints/{triggerid}",
            get(checkpoints::savepoint_status),
        )
        .route("/jobs/{jobid}/stop", post(checkpoints::stop_with_savepoint))
        .route(
            "/jobs/{jobid}/execution-result",
            get(handlers::execution_result),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}",
            get(handlers::vertex_detail),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/metrics",
            get(handlers::vertex_metrics),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/subtasks/metrics",
            get(handlers::subtasks_metrics),
        )
        .route("/taskmanagers", get(handlers::taskmanagers))
        .route("/jobs/{jobid}/config", get(job_endpoints::job_config))
        .route(
            "/jobs/{jobid}/accumulators",
            get(job_endpoints::job_accumulators),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/accumulators",
            get(job_endpoints::vertex_accumulators),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/watermarks",
            get(job_endpoints::watermarks),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/backpressure",
            get(job_endpoints::backpressure),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/subtasktimes",
            get(job_endpoints::subtask_times),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}",
            get(job_endpoints::subtask),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/attempts/{attempt}",
            get(job_endpoints::subtask_attempt),
        )
        .route("/jobmanager/config", get(job_endpoints::jobmanager_config))
        .route("/jobmanager/logs", get(cluster_files::jobmanager_logs))
        .route(
            "/jobmanager/logs/{name}",
            get(cluster_files::jobmanager_named_log),
        )
        .route(
            "/jobmanager/environment",
            get(cluster_files::jobmanager_environment),
        )
        .route(
            "/jobmanager/thread-dump",
            get(cluster_files::jobmanager_thread_dump),
        )
        .route("/jobmanager/log", get(cluster_files::jobmanager_log))
        .route("/jobmanager/stdout", get(cluster_files::jobmanager_stdout))
        .route(
            "/taskmanagers/{tmid}/logs",
            get(cluster_files::taskmanager_logs),
        )
        .route(
            "/taskmanagers/{tmid}/logs/{name}",
            get(cluster_files::taskmanager_log_file),
        )
        .route("/taskmanagers/{tmid}/log", get(cluster_files::taskmanager_log))
        .route(
            "/taskmanagers/{tmid}/stdout",
            get(cluster_files::taskmanager_stdout),
        )
        .route(
            "/taskmanagers/{tmid}/thread-dump",
            get(cluster_files::taskmanager_thread_dump),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/taskmanagers",
            get(job_extras::vertex_taskmanagers),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/subtasks/accumulators",
            get(job_extras::subtasks_accumulators),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/metrics",
            get(job_extras::subtask_metrics),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/attempts/{attempt}/accumulators",
            get(job_extras::attempt_accumulators),
        )
        .route(
            "/jobs/{jobid}/jobmanager/config",
            get(job_extras::job_jobmanager_config),
        )
        .route(
            "/jobs/{jobid}/jobmanager/environment",
            get(job_extras::job_jobmanager_environment),
        )
        .route(
            "/jobs/{jobid}/jobmanager/log-url",
            get(job_extras::job_jobmanager_log_url),
        )
        .route(
            "/jobs/{jobid}/taskmanagers/{tmid}/log-url",
            get(job_extras::job_taskmanager_log_url),
        )
        .route(
            "/cluster",
            axum::routing::delete(job_endpoints::shutdown_cluster),
        )
        .route("/metrics", get(prometheus::metrics))
        .route("/jobmanager/metrics", get(metric_queries::jobmanager))
        .route("/jobs/metrics", get(metric_queries::jobs))
        .route("/jobs/{jobid}/metrics", get(metric_queries::job))
        .route("/taskmanagers/metrics", get(metric_queries::taskmanagers))
        .route(
            "/taskmanagers/{tmid}/metrics",
            get(metric_queries::taskmanager),
        )
        .route("/taskmanagers/{tmid}", get(handlers::taskmanager_detail))
        .route("/sql", post(sql::run_sql))
        .route("/openapi.json", get(openapi::document))
        .router
}

/// The REST router over a Dispatcher.
pub fn router(d: Arc<Dispatcher>) -> Router {
    router_with_shutdown(d, job_endpoints::ShutdownHook::default())
}

/// The REST router; `DELETE /cluster` notifies `shutdown`.
fn router_with_shutdown(d: Arc<Dispatcher>, shutdown: job_endpoints::ShutdownHook) -> Router {
    let max_body = d
        .config
        .get(guard::MAX_CONTENT_LENGTH)
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(guard::DEFAULT_MAX_CONTENT_LENGTH);
    let guard = Arc::new(guard::Guard {
        token: d
            .config
            .get(guard::AUTH_TOKEN)
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
        max_body,
    });
    let api = api(guard);
    Router::new()
        .merge(api.clone())
        .nest("/v1", api)
        .merge(ui::routes())
        .fallback(handlers::not_found)
        // the guard reads every body within rest.server.max-content-length (the one limit)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(AppState {
            dispatcher: d,
            triggers: triggers::SavepointTriggers::new(),
            checkpoint_triggers: triggers::CheckpointTriggers::new(),
            shutdown,
        })
}

/// Binds `rest.bind-address` (default 127.0.0.1) : `rest.port` (default 8081; 0 picks a free port).
pub async fn bind(d: &Dispatcher) -> std::io::Result<tokio::net::TcpListener> {
    let addr = d
        .config
        .get(keys::REST_BIND_ADDRESS)
        .or(d.config.get(keys::REST_ADDRESS))
        .unwrap_or("127.0.0.1")
        .to_string();
    let port = d
        .config
        .get_u16(keys::REST_PORT, 8081)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let addr = if addr == "localhost" {
        "127.0.0.1".to_string()
    } else {
        addr
    };
    let sock: SocketAddr = format!("{addr}:{port}").parse().map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("bad rest address {addr}:{port}: {e}"),
        )
    })?;
    tokio::net::TcpListener::bind(sock).await
}

/// Serves until the future `shutdown` completes or `DELETE /cluster` is called.
pub async fn serve(
    listener: tokio::net::TcpListener,
    d: Arc<Dispatcher>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let hook = job_endpoints::ShutdownHook::default();
    let deleted = hook.0.clone();
    axum::serve(listener, router_with_shutdown(d, hook))
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = shutdown => {}
                _ = deleted.notified() => {}
            }
        })
        .await
}
