//! TaskManagers: `GET /taskmanagers`, `/taskmanagers/:id` (with its slots, process figures and
//! tasks), a TaskManager's `/logs`, `/logs/:name`, `/log`, `/stdout` and `/thread-dump` (asked of
//! the TaskManager: over gRPC when it is another process), and `/jobs/:id/taskmanagers/:tmid/log-url`.

use super::jobmanager::{base_url, pattern_url, query_error, text, thread_dump_json};
use crate::api::Routes;
use crate::error::{job_id, RestError};
use crate::openapi::{flink_schema, get, Doc};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use strom_cluster::gateway::TaskExecutorGateway;
use strom_cluster::log_files::LogFile;
use strom_cluster::Dispatcher;

type D = State<Arc<Dispatcher>>;

/// The routes of this resource.
pub(crate) fn routes(r: Routes) -> Routes {
    r.route(
        "/taskmanagers",
        get(
            taskmanagers,
            Doc::new("TaskManagers with slots and resources").flink(flink_schema!("taskmanagers")),
        ),
    )
    .route(
        "/taskmanagers/{taskmanagerid}",
        get(
            taskmanager_detail,
            Doc::new("One TaskManager").flink(flink_schema!("taskmanager_detail")),
        ),
    )
    .route(
        "/taskmanagers/{taskmanagerid}/logs",
        get(
            taskmanager_logs,
            Doc::new("The files in a TaskManager's log directory").asks_taskmanager(),
        ),
    )
    .route(
        "/taskmanagers/{taskmanagerid}/logs/{name}",
        get(
            taskmanager_log_file,
            Doc::new("One of a TaskManager's log files")
                .text()
                .asks_taskmanager(),
        ),
    )
    .route(
        "/taskmanagers/{taskmanagerid}/log",
        get(
            taskmanager_log,
            Doc::new("A TaskManager's log file")
                .text()
                .asks_taskmanager(),
        ),
    )
    .route(
        "/taskmanagers/{taskmanagerid}/stdout",
        get(
            taskmanager_stdout,
            Doc::new("A TaskManager's stdout file, if one was kept")
                .text()
                .asks_taskmanager(),
        ),
    )
    .route(
        "/taskmanagers/{taskmanagerid}/thread-dump",
        get(
            taskmanager_thread_dump,
            Doc::new("A TaskManager process's threads").asks_taskmanager(),
        ),
    )
    .route(
        "/jobs/{jobid}/taskmanagers/{taskmanagerid}/log-url",
        get(
            job_taskmanager_log_url,
            Doc::new("The URL of a TaskManager's log"),
        ),
    )
}

pub async fn taskmanagers(State(d): D) -> Json<Value> {
    Json(views::taskmanagers(&d))
}

pub async fn taskmanager_detail(
    State(d): D,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    views::taskmanager_detail(&d, &id).map(Json).ok_or_else(|| {
        RestError(
            StatusCode::NOT_FOUND,
            format!("TaskManager {id} is not registered; see /taskmanagers"),
        )
    })
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

/// `GET /jobs/:id/taskmanagers/:tmid/log-url`: `{"url"}` of the TaskManager's log,
/// `/taskmanagers/:tmid/log` of this server (or `historyserver.log.taskmanager.url-pattern`).
pub async fn job_taskmanager_log_url(
    State(d): D,
    Path((id, tm)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, RestError> {
    let j = d.job(job_id(&id)?)?;
    task_manager(&d, &tm)?;
    let job = j.id.to_string();
    let url = pattern_url(
        &d,
        "historyserver.log.taskmanager.url-pattern",
        &job,
        Some(&tm),
    )
    .unwrap_or_else(|| format!("{}/taskmanagers/{tm}/log", base_url(&headers)));
    Ok(Json(json!({ "url": url })))
}

/// The JSON answers (Flink's shapes), built from the live job state.
pub(crate) mod views {
    use serde_json::{json, Value};

    use strom_cluster::dispatcher::Dispatcher;
    use strom_cluster::gateway::TaskManagerInfo;

    use strom_common::ExecutionState;

    pub fn taskmanagers(d: &Dispatcher) -> Value {
        let pool_allocated =
            |id: &strom_scheduler::slot_pool::TaskManagerId| d.rm.allocated_on(id).unwrap_or(0);
        let tms: Vec<Value> =
            d.rm.task_executors()
                .iter()
                .map(|te| {
                    let id = &te.info().id;
                    taskmanager(te.info(), pool_allocated(id), assigned_tasks(d, id).len())
                })
                .collect();
        json!({ "taskmanagers": tms })
    }

    /// A task not yet terminal on a TaskManager: (job, vertex, its name, subtask, the execution).
    struct AssignedTask {
        job: strom_common::JobId,
        vertex: strom_common::VertexId,
        name: String,
        subtask: u32,
        attempt_number: u32,
        state: ExecutionState,
        slot: u32,
    }

    fn assigned_tasks(
        d: &Dispatcher,
        tm: &strom_scheduler::slot_pool::TaskManagerId,
    ) -> Vec<AssignedTask> {
        let mut tasks = Vec::new();
        for j in d.jobs() {
            let st = j.snapshot();
            for jv in &st.graph().vertices {
                for ev in &jv.subtasks {
                    let e = &ev.current;
                    match &e.slot {
                        Some(s) if !e.state.is_terminal() && &s.task_manager == tm => {
                            tasks.push(AssignedTask {
                                job: j.id,
                                vertex: jv.vertex.id,
                                name: jv.vertex.name.clone(),
                                subtask: ev.id.subtask,
                                attempt_number: e.attempt_number,
                                state: e.state,
                                slot: s.index,
                            })
                        }
                        _ => {}
                    }
                }
            }
        }
        tasks
    }

    /// One TaskManager in Flink's shape (`/taskmanagers` item and `/taskmanagers/:id`). A native
    /// process has no JVM memory model: `memoryConfiguration` has zeros for the JVM's parts and the
    /// machine's memory as the total, `hardware.freeMemory` is the machine's available memory, and
    /// what the process uses is under `strom-process`. `timeSinceLastHeartbeat` is, as in Flink
    /// despite its name, the time of the last heartbeat (epoch ms).
    pub fn taskmanager(info: &TaskManagerInfo, allocated: usize, assigned_tasks: usize) -> Value {
        let free = (info.slots as usize).saturating_sub(allocated);
        let cpu = info.hardware.cpu_cores as f64;
        let per_slot = if info.slots > 0 {
            cpu / info.slots as f64
        } else {
            0.0
        };
        let p = info.process_status();
        let memory = info.hardware.physical_memory;
        json!({
            "id": info.id.to_string(),
            "path": if info.rpc_address.is_empty() { format!("strom://{}", info.id) } else { format!("grpc://{}", info.rpc_address) },
            "dataPort": info.data_port(),
            "jmxPort": -1,
            "timeSinceLastHeartbeat": info.last_heartbeat(),
            "slotsNumber": info.slots,
            "freeSlots": free,
            "assignedTasks": assigned_tasks,
            "totalResource": resource(cpu),
            "freeResource": resource(per_slot * free as f64),
            "hardware": {"cpuCores": info.hardware.cpu_cores, "physicalMemory": memory, "freeMemory": p.free_memory_bytes, "managedMemory": 0},
            "memoryConfiguration": {
                "frameworkHeap": 0, "taskHeap": 0, "frameworkOffHeap": 0, "taskOffHeap": 0,
                "networkMemory": 0, "managedMemory": 0, "jvmMetaspace": 0, "jvmOverhead": 0,
                "totalFlinkMemory": memory, "totalProcessMemory": memory,
            },
            "blocked": false,
            "strom-process": {
                "rssBytes": p.rss_bytes,
                "peakRssBytes": p.peak_rss_bytes,
                "cpuTimeMs": p.cpu_time_ms,
                "threads": p.threads,
            },
        })
    }

    /// Flink's `ResourceProfileInfo` of some CPU (Strom does not budget memory per slot).
    fn resource(cpu: f64) -> Value {
        json!({"cpuCores": cpu, "taskHeapMemory": 0, "taskOffHeapMemory": 0, "managedMemory": 0, "networkMemory": 0, "extendedResources": {}})
    }

    /// `/taskmanagers/:id`: one TaskManager with its allocated slots (Flink's `SlotInfo`), the
    /// process's figures in Flink's `TaskManagerMetricsInfo` (the resident set as "heap"; no JVM:
    /// no non-heap, direct or mapped memory, no garbage collectors) and, Strom's, the tasks it runs.
    pub fn taskmanager_detail(d: &Dispatcher, id: &str) -> Option<Value> {
        let tm = strom_scheduler::slot_pool::TaskManagerId(id.to_string());
        let te = d.rm.task_executor(&tm)?;
        let info = te.info();
        let allocated = d.rm.allocated_on(&tm).unwrap_or(0);
        let tasks = assigned_tasks(d, &tm);
        let mut v = taskmanager(info, allocated, tasks.len());
        let per_slot = if info.slots > 0 {
            info.hardware.cpu_cores as f64 / info.slots as f64
        } else {
            0.0
        };
        let slots: std::collections::BTreeSet<(u32, String)> =
            tasks.iter().map(|t| (t.slot, t.job.to_string())).collect();
        v["allocatedSlots"] = slots
            .iter()
            .map(|(_, job)| json!({ "resource": resource(per_slot), "jobId": job }))
            .collect();
        let p = info.process_status();
        let rss = p.rss_bytes;
        let memory = info.hardware.physical_memory;
        v["metrics"] = json!({
            "heapUsed": rss, "heapCommitted": rss, "heapMax": memory,
            "nonHeapUsed": 0, "nonHeapCommitted": 0, "nonHeapMax": 0,
            "directCount": 0, "directUsed": 0, "directMax": 0,
            "mappedCount": 0, "mappedUsed": 0, "mappedMax": 0,
            "nettyShuffleMemorySegmentsAvailable": 0, "nettyShuffleMemorySegmentsUsed": 0,
            "nettyShuffleMemorySegmentsTotal": 0, "nettyShuffleMemoryAvailable": 0,
            "nettyShuffleMemoryUsed": 0, "nettyShuffleMemoryTotal": 0,
            "garbageCollectors": [],
        });
        v["strom-tasks"] = tasks
            .iter()
            .map(|t| {
                json!({
                    "jobId": t.job.to_string(),
                    "vertexId": t.vertex.to_string(),
                    "taskName": t.name,
                    "subtaskIndex": t.subtask,
                    "attemptNumber": t.attempt_number,
                    "status": t.state.as_str(),
                })
            })
            .collect();
        Some(v)
    }
}
