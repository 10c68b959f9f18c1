//! A job's failures: `GET /jobs/:id/exceptions`, Flink's exception history (one entry per
//! failover, newest first, with its concurrent exceptions).

use crate::api::Routes;
use crate::error::{job_id, RestError};
use crate::openapi::{flink_schema, get, Doc};
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;
use std::sync::Arc;
use strom_cluster::Dispatcher;

type D = State<Arc<Dispatcher>>;

/// The routes of this resource.
pub(crate) fn routes(r: Routes) -> Routes {
    r.route(
        "/jobs/{jobid}/exceptions",
        get(
            job_exceptions,
            Doc::new("Root cause and exception history").flink(flink_schema!("job_exceptions")),
        ),
    )
}

pub async fn job_exceptions(State(d): D, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    let st = j.snapshot();
    Ok(Json(views::exceptions(&d, &st)))
}

/// The JSON answers (Flink's shapes), built from the live job state.
pub(crate) mod views {
    use serde_json::{json, Value};

    use strom_cluster::dispatcher::Dispatcher;
    use strom_cluster::job_master::JobSnapshot;

    /// `/jobs/:id/exceptions`: one entry per failover, newest first: its root cause, and the
    /// failures that came with it as concurrent exceptions (Flink's exception history).
    pub fn exceptions(d: &Dispatcher, st: &JobSnapshot) -> Value {
        let failure = |x: &strom_scheduler::exception_history::Failure| {
            let endpoint = x.task_manager.as_ref().and_then(|tm| {
                d.rm.task_executor(&strom_scheduler::slot_pool::TaskManagerId(tm.clone()))
                    .map(|te| te.info().rpc_address.clone())
            });
            json!({
                "exceptionName": "org.apache.flink.runtime.JobException",
                "stacktrace": x.message,
                "timestamp": x.timestamp,
                "taskName": x.task,
                "endpoint": endpoint,
                "taskManagerId": x.task_manager,
                "failureLabels": {},
            })
        };
        let entries: Vec<Value> = st
            .exceptions()
            .entries()
            .rev()
            .map(|e| {
                let mut v = failure(&e.root);
                v["concurrentExceptions"] = e.concurrent.iter().map(failure).collect();
                v
            })
            .collect();
        json!({ "exceptionHistory": {
        "entries": entries,
        "truncated": st.exceptions().truncated(),
    } })
    }
}
