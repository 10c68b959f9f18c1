//! The REST API, one file per resource (grouped as Flink's REST handlers are), each holding the
//! resource's routes (`routes`), its handlers (path and query parsing, errors) and its views
//! (`views`: Flink's JSON built from the live job state). A new endpoint is one of these files
//! (and the regenerated `openapi.json`).
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
pub(crate) mod savepoints;
pub(crate) mod sql;
pub(crate) mod subtasks;
pub(crate) mod taskmanagers;
pub(crate) mod vertices;

#[cfg(test)]
mod job_endpoints_tests;
#[cfg(test)]
mod job_extras_tests;

use crate::guard::GuardedRoutes;
use crate::AppState;
use axum::routing::get;

/// Routes being registered, each behind the guard.
pub(crate) type Routes = GuardedRoutes<AppState>;

/// The sources holding `.route(...)` calls (the OpenAPI test reads them).
#[cfg(test)]
pub(crate) const SOURCES: &[&str] = &[
    include_str!("mod.rs"),
    include_str!("checkpoints.rs"),
    include_str!("cluster.rs"),
    include_str!("exceptions.rs"),
    include_str!("jobmanager.rs"),
    include_str!("jobs.rs"),
    include_str!("metrics.rs"),
    include_str!("overview.rs"),
    include_str!("savepoints.rs"),
    include_str!("sql.rs"),
    include_str!("subtasks.rs"),
    include_str!("taskmanagers.rs"),
    include_str!("vertices.rs"),
];

/// Every route of the API, relative to its base (the root, and `/v1`).
pub(crate) fn routes(r: Routes) -> Routes {
    let r = overview::routes(r);
    let r = jobs::routes(r);
    let r = vertices::routes(r);
    let r = subtasks::routes(r);
    let r = checkpoints::routes(r);
    let r = savepoints::routes(r);
    let r = exceptions::routes(r);
    let r = taskmanagers::routes(r);
    let r = jobmanager::routes(r);
    let r = metrics::routes(r);
    let r = cluster::routes(r);
    let r = sql::routes(r);
    r.route("/openapi.json", get(crate::openapi::document))
}
