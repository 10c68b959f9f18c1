//! The cluster's lifecycle: `DELETE /cluster` (cancel every job, then stop the process).

use crate::api::Routes;
use crate::openapi::{delete, Doc};
use crate::AppState;
use axum::extract::FromRef;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;
use strom_cluster::Dispatcher;

type D = State<Arc<Dispatcher>>;

/// The routes of this resource.
pub(crate) fn routes(r: Routes) -> Routes {
    r.route(
        "/cluster",
        delete(shutdown_cluster, Doc::new("Shut the cluster down")),
    )
}

/// What `DELETE /cluster` pulls: `serve` returns (as on SIGTERM) once it is notified.
#[derive(Clone, Default)]
pub struct ShutdownHook(pub Arc<tokio::sync::Notify>);

impl FromRef<AppState> for ShutdownHook {
    fn from_ref(s: &AppState) -> Self {
        s.shutdown.clone()
    }
}

/// How long `DELETE /cluster` waits for the jobs it cancels to reach a terminal state.
const SHUTDOWN_CANCEL_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `DELETE /cluster`: 202 `{}`; every job that is not terminal is canceled (so that no
/// TaskManager is left running tasks of a JobManager that is gone), and once their JobMasters
/// have ended (or after 30 s) the REST server and the process stop as on SIGTERM.
pub async fn shutdown_cluster(State(d): D, State(hook): State<ShutdownHook>) -> Response {
    let running: Vec<_> = d
        .jobs()
        .into_iter()
        .filter(|j| !j.snapshot().graph().status().is_globally_terminal())
        .map(|j| j.id)
        .collect();
    tracing::info!(
        "DELETE /cluster: canceling {} job(s), then shutting the cluster down",
        running.len()
    );
    for id in &running {
        let _ = d.cancel(*id);
    }
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_CANCEL_WAIT;
        loop {
            let left: Vec<_> = running
                .iter()
                .filter(|id| d.job(**id).is_ok_and(|j| !j.is_archived()))
                .collect();
            if left.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    "DELETE /cluster: {} job(s) not terminal after {} s; shutting down anyway",
                    left.len(),
                    SHUTDOWN_CANCEL_WAIT.as_secs()
                );
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        hook.0.notify_one();
    });
    (StatusCode::ACCEPTED, Json(json!({}))).into_response()
}
