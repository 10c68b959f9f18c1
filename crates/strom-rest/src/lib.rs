//! Strom's REST API: Flink's paths and JSON shapes (`/overview`, `/jobs`, `/jobs/:id`, ...), served
//! by axum on 127.0.0.1:8081 unless configured otherwise. As Flink does, every route is served
//! at the root and under `/v1` (Flink's CLI and REST client call `/v1/jobs/overview`, ...).

mod api;
mod body;
mod error;
pub mod guard;
mod json_stats;
mod listener;
pub mod openapi;
mod params;
pub mod prometheus;
pub mod standby;
pub mod triggers;
pub use listener::RestListener;
mod ui;

#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;

use axum::extract::FromRef;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use strom_cluster::Dispatcher;
use strom_common::config::options;

pub use api::jobs::views::job_totals;
pub use api::savepoints::operation_status;
pub use error::RestError;

/// What the handlers share: the Dispatcher, and the savepoint and checkpoint operations
/// triggered over REST.
#[derive(Clone)]
pub struct AppState {
    pub dispatcher: Arc<Dispatcher>,
    pub triggers: triggers::SavepointTriggers,
    pub checkpoint_triggers: triggers::CheckpointTriggers,
    pub shutdown: api::cluster::ShutdownHook,
}

impl FromRef<AppState> for Arc<Dispatcher> {
    fn from_ref(s: &AppState) -> Self {
        s.dispatcher.clone()
    }
}

/// Every route of the API, relative to its base (the root, and `/v1`), each behind the guard.
fn api(guard: Arc<guard::Guard>) -> Router<AppState> {
    api::routes(guard::GuardedRoutes::new(guard)).router
}

/// The REST router over a Dispatcher.
pub fn router(d: Arc<Dispatcher>) -> Router {
    router_with_shutdown(d, api::cluster::ShutdownHook::default())
}

/// The REST router; `DELETE /cluster` notifies `shutdown`.
fn router_with_shutdown(d: Arc<Dispatcher>, shutdown: api::cluster::ShutdownHook) -> Router {
    let max = &options::REST_MAX_CONTENT_LENGTH;
    let max_body = max.get(&d.config).unwrap_or(max.default);
    let guard = Arc::new(guard::Guard {
        token: options::REST_AUTH_TOKEN
            .get(&d.config)
            .ok()
            .flatten()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
        max_body: usize::try_from(max_body).unwrap_or(usize::MAX),
    });
    let api = api(guard);
    Router::new()
        .merge(api.clone())
        .nest("/v1", api)
        .merge(ui::routes())
        .fallback(error::not_found)
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
/// With `security.ssl.rest.enabled` the port serves HTTPS.
pub async fn bind(d: &Dispatcher) -> std::io::Result<RestListener> {
    bind_config(&d.config).await
}

/// [`bind`] with the settings of `config`.
pub async fn bind_config(config: &strom_common::Configuration) -> std::io::Result<RestListener> {
    let tls = strom_common::tls::rest_server(config)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let addr = match options::REST_BIND_ADDRESS.text(config) {
        Some((_, a)) => a.to_string(),
        None => options::REST_ADDRESS
            .get(config)
            .ok()
            .flatten()
            .unwrap_or_else(|| options::REST_BIND_ADDRESS.default.to_string()),
    };
    let port = options::REST_PORT
        .get(config)
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
    Ok(RestListener::new(
        tokio::net::TcpListener::bind(sock).await?,
        tls,
    ))
}

/// Serves until the future `shutdown` completes or `DELETE /cluster` is called.
pub async fn serve(
    listener: RestListener,
    d: Arc<Dispatcher>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let hook = api::cluster::ShutdownHook::default();
    let deleted = hook.0.clone();
    listener
        .serve(router_with_shutdown(d, hook), async move {
            tokio::select! {
                _ = shutdown => {}
                _ = deleted.notified() => {}
            }
        })
        .await
}
