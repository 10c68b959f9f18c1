//! The REST API, one file per resource (grouped as Flink's REST handlers are), each holding the
//! resource's routes (`routes`), its handlers (path and query parsing, errors) and its views
//! (`views`: Flink's JSON built from the live job state). Each route is registered with the
//! OpenAPI description of each of its methods (`get(handler, Doc::new(...))`, see
//! [`crate::openapi`]), from which `GET /openapi.json` is generated. A new endpoint is one of
//! these files (and the regenerated `openapi.json`).
//!
//! - [`overview`] — `/overview`, `/config`
//! - [`jobs`] — `/jobs`, `/jobs/overview`, `/jobs/:id` (details, cancel), submit, status, plan,
//!   execution result, config, accumulators
//! - [`vertices`] — `/jobs/:id/vertices/:vid` and its accumulators, watermarks, backpressure,
//!   subtask times, TaskManagers
//! - [`subtasks`] — `/jobs/:id/vertices/:vid/subtasks/...` (attempts, accumulators)
//! - [`checkpoints`] — `/jobs/:id/checkpoints/...` (statistics, config, details, manual trigger)
//! - [`savepoints`] — `/jobs/:id/savepoints/...`, `/jobs/:id/stop`
//! - [`exceptions`] — `/jobs/:id/exceptions`
//! - [`results`] — `/jobs/:id/strom-results` (the rows of a collected SELECT, Strom's)
//! - [`taskmanagers`] — `/taskmanagers/...` (details, logs, stdout, thread dumps), log URLs
//! - [`jobmanager`] — `/jobmanager/...` (config, environment, logs, thread dump), the job's view
//! - [`metrics`] — Prometheus `/metrics` and Flink's metric queries (JobManager, jobs, vertices,
//!   subtasks, TaskManagers)
//! - [`cluster`] — `DELETE /cluster`
//! - [`sql`] — `POST /sql` (Strom's)
//!
//! Shared by them: [`crate::params`] (path parameters and lookups), [`crate::json_stats`]
//! (statistics in Flink's shapes), [`crate::body`] (JSON bodies), [`crate::error`] (the error
//! shape), [`crate::guard`] (auth and limits around every route).

pub(crate) mod checkpoints;
pub(crate) mod cluster;
pub(crate) mod exceptions;
pub(crate) mod jobmanager;
pub(crate) mod jobs;
pub(crate) mod metrics;
pub(crate) mod overview;
pub(crate) mod results;
pub(crate) mod savepoints;
pub(crate) mod sql;
pub(crate) mod subtasks;
pub(crate) mod taskmanagers;
pub(crate) mod vertices;

#[cfg(test)]
mod tests;

use crate::guard::{Guard, GuardedRoutes};
use crate::openapi::{get, Doc, Operation};
use crate::AppState;
use axum::http::header;
use axum::response::IntoResponse;
use std::sync::{Arc, OnceLock};

/// Routes being registered, each behind the guard.
pub(crate) type Routes = GuardedRoutes<AppState>;

/// Every route of the API, relative to its base (the root, and `/v1`).
pub(crate) fn routes(r: Routes) -> Routes {
    let r = overview::routes(r);
    let r = jobs::routes(r);
    let r = vertices::routes(r);
    let r = subtasks::routes(r);
    let r = checkpoints::routes(r);
    let r = savepoints::routes(r);
    let r = exceptions::routes(r);
    let r = results::routes(r);
    let r = taskmanagers::routes(r);
    let r = jobmanager::routes(r);
    let r = metrics::routes(r);
    let r = cluster::routes(r);
    let r = sql::routes(r);
    r.route("/openapi.json", get(openapi, Doc::new("This document")))
}

/// Every documented operation: the routes' methods with their descriptions.
pub(crate) fn operations() -> Vec<Operation> {
    let guard = Arc::new(Guard {
        token: None,
        max_body: 0,
    });
    routes(GuardedRoutes::new(guard)).operations
}

/// `GET /openapi.json`: the document generated from [`operations`] (once), as checked in.
async fn openapi() -> impl IntoResponse {
    static TEXT: OnceLock<String> = OnceLock::new();
    let text =
        TEXT.get_or_init(|| crate::openapi::to_text(&crate::openapi::document(&operations())));
    ([(header::CONTENT_TYPE, "application/json")], text.as_str())
}
