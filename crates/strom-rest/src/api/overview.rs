//! The cluster as a whole: `GET /overview` (Flink's `ClusterOverviewWithVersion`, with Strom's
//! utilisation) and `GET /config` (the dashboard configuration).

use crate::api::Routes;
use crate::openapi::{flink_schema, get, Doc};
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use strom_cluster::Dispatcher;

type D = State<Arc<Dispatcher>>;

/// The routes of this resource.
pub(crate) fn routes(r: Routes) -> Routes {
    r.route(
        "/config",
        get(
            config,
            Doc::new("Web UI configuration (refresh interval, versions, features)")
                .flink(flink_schema!("config")),
        ),
    )
    .route(
        "/overview",
        get(
            overview,
            Doc::new("Cluster overview: TaskManagers, slots, jobs by state, utilisation")
                .flink(flink_schema!("overview")),
        ),
    )
}

pub async fn config(State(d): D) -> Json<Value> {
    let option = &strom_common::config::options::WEB_REFRESH_INTERVAL;
    let refresh = option.get(&d.config).unwrap_or(option.default);
    Json(json!({
        "refresh-interval": refresh,
        "timezone-name": "Coordinated Universal Time",
        "timezone-offset": 0,
        "flink-version": views::version(),
        "flink-revision": "unknown",
        "features": {"web-submit": true, "web-cancel": true, "web-rescale": false, "web-history": false},
    }))
}

pub async fn overview(State(d): D) -> Json<Value> {
    Json(views::overview(&d))
}

/// The JSON answers (Flink's shapes), built from the live job state.
pub(crate) mod views {
    use serde_json::{json, Value};

    use strom_cluster::dispatcher::Dispatcher;

    use strom_common::time::now_millis;
    use strom_common::JobStatus;

    /// The version string in `flink-version` fields.
    pub fn version() -> String {
        format!("strom-{}", strom_common::STROM_VERSION)
    }

    pub fn overview(d: &Dispatcher) -> Value {
        let (total, free) = d.rm.slot_counts();
        let mut running = 0;
        let mut finished = 0;
        let mut cancelled = 0;
        let mut failed = 0;
        for j in d.jobs() {
            match j.snapshot().graph().status() {
                JobStatus::Finished => finished += 1,
                JobStatus::Canceled => cancelled += 1,
                JobStatus::Failed => failed += 1,
                _ => running += 1,
            }
        }
        json!({
            "taskmanagers": d.rm.task_executors().len(),
            "slots-total": total,
            "slots-available": free,
            "jobs-running": running,
            "jobs-finished": finished,
            "jobs-cancelled": cancelled,
            "jobs-failed": failed,
            "flink-version": version(),
            "flink-commit": option_env!("STROM_COMMIT").unwrap_or("unknown"),
            "utilisation": utilisation(d),
            // with high availability: who leads (this JobManager), else null
            "strom-leader": d.leader().map(|l| json!({
                "name": l.name,
                "rest": l.rest,
                "rpc": l.rpc,
                "fencing-token": l.token,
            })),
        })
    }

    /// Cluster utilisation U = Σ task busy time / (slots × wall time): over the last minute and
    /// since the cluster started, with the busy and slot milliseconds behind each ratio.
    pub fn utilisation(d: &Dispatcher) -> Value {
        let now = now_millis();
        let (w, s) = {
            let mut u = d.rm.utilisation.lock();
            (u.last_window(now), u.since_start(now))
        };
        json!({
            "last-minute": w.ratio(),
            "since-start": s.ratio(),
            "last-minute-busy-ms": w.busy_ms,
            "last-minute-slot-ms": w.slot_ms,
            "since-start-busy-ms": s.busy_ms,
            "since-start-slot-ms": s.slot_ms,
            "window-ms": strom_cluster::utilisation::WINDOW_MS,
            "started": d.rm.started_ms,
        })
    }
}
