//! What the REST API shows, in Flink's JSON shapes (field names and types as Flink 2.x answers).

use crate::dispatcher::{Dispatcher, JobEntry};
use crate::gateway::TaskManagerInfo;
use crate::job_master::JobState;
pub use crate::task_figures::TaskFigures;
use serde_json::{json, Map, Value};
use strom_common::time::now_millis;
use strom_common::{ExecutionState, JobStatus};
pub use strom_runtime::TaskMetricsSnapshot;

/// The version string in `flink-version` fields.
pub fn version() -> String {
    format!("strom-{}", strom_common::STROM_VERSION)
}

fn task_counts_lower(st: &JobState) -> Value {
    let mut m = Map::new();
    let counts = st.graph().task_counts();
    for s in ExecutionState::ALL {
        m.insert(
            s.as_str().to_ascii_lowercase(),
            json!(counts.get(&s).copied().unwrap_or(0)),
        );
    }
    m.insert("reconciling".into(), json!(0));
    m.insert("total".into(), json!(counts.values().sum::<usize>()));
    Value::Object(m)
}

fn state_counts_upper(counts: impl Fn(ExecutionState) -> usize) -> Value {
    let mut m = Map::new();
    for s in ExecutionState::ALL {
        m.insert(s.as_str().to_string(), json!(counts(s)));
    }
    m.insert("RECONCILING".into(), json!(0));
    Value::Object(m)
}

fn times(st: &JobState) -> (i64, i64, i64, i64) {
    let g = &st.graph();
    let start = g.status_timestamp(JobStatus::Initializing).unwrap_or(0);
    let status = g.status();
    let end = if status.is_globally_terminal() {
        g.status_timestamp(status).unwrap_or(-1)
    } else {
        -1
    };
    let duration = if end >= 0 {
        end - start
    } else {
        now_millis() - start
    };
    let last = JobStatus::ALL
        .iter()
        .filter_map(|s| g.status_timestamp(*s))
        .max()
        .unwrap_or(start);
    (start, end, duration, last)
}

pub fn overview(d: &Dispatcher) -> Value {
    let (total, free) = d.rm.slot_counts();
    let mut running = 0;
    let mut finished = 0;
    let mut cancelled = 0;
    let mut failed = 0;
    for j in d.jobs() {
        match j.state.lock().graph().status() {
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
        "window-ms": crate::utilisation::WINDOW_MS,
        "started": d.rm.started_ms,
    })
}

/// The seed's time split of a task (or a vertex: totals summed, per-second figures averaged
/// over `n` subtasks): busy = CPU + I/O; idle and backpressured are the network wait.
fn time_split(f: &TaskFigures, n: usize) -> Value {
    let (t, r) = (&f.totals, &f.rates);
    let n = n.max(1) as f64;
    json!({
        "busy-ms": t.busy_ms,
        "cpu-ms": t.cpu_ms,
        "io-ms": t.io_ms,
        "idle-ms": t.idle_ms,
        "backpressured-ms": t.backpressured_ms,
        "busyTimeMsPerSecond": r.busy / n,
        "cpuTimeMsPerSecond": r.cpu / n,
        "ioTimeMsPerSecond": r.io / n,
        "idleTimeMsPerSecond": r.idle / n,
        "backPressuredTimeMsPerSecond": r.backpressured / n,
        "numRecordsInPerSecond": r.records_in,
        "numRecordsOutPerSecond": r.records_out,
    })
}

/// The figures of a vertex's current attempts, summed.
fn vertex_figures(
    st: &JobState,
    v: &strom_scheduler::execution_graph::ExecutionJobVertex,
) -> TaskFigures {
    let mut f = TaskFigures::default();
    for ev in &v.subtasks {
        let x = st.figures_of(ev.current.attempt_id, ev.current.state);
        f.totals += x.totals;
        f.rates.add(&x.rates);
    }
    f
}

pub fn jobs(d: &Dispatcher) -> Value {
    let jobs: Vec<Value> = d
        .jobs()
        .iter()
        .map(
            |j| json!({"id": j.id.to_string(), "status": j.state.lock().graph().status().as_str()}),
        )
        .collect();
    json!({ "jobs": jobs })
}

pub fn job_overview(j: &JobEntry) -> Value {
    let st = j.state.lock();
    let (start, end, duration, last) = times(&st);
    json!({
        "jid": j.id.to_string(),
        "name": j.name,
        "jobType": st.graph().job_type.as_str(),
        "schedulerType": "Default",
        "start-time": start,
        "end-time": end,
        "duration": duration,
        "state": st.graph().status().as_str(),
        "last-modification": last,
        "tasks": task_counts_lower(&st),
        "pending-operators": 0,
    })
}

pub fn jobs_overview(d: &Dispatcher) -> Value {
    json!({ "jobs": d.jobs().iter().map(|j| job_overview(j)).collect::<Vec<_>>() })
}

fn vertex_metrics(m: &TaskMetricsSnapshot, source: bool, sink: bool) -> Value {
    json!({
        "read-bytes": if source { 0 } else { m.bytes_in },
        "read-bytes-complete": true,
        "write-bytes": if sink { 0 } else { m.bytes_out },
        "write-bytes-complete": true,
        "read-records": if source { 0 } else { m.records_in },
        "read-records-complete": true,
        "write-records": if sink { 0 } else { m.records_out },
        "write-records-complete": true,
        "accumulated-backpressured-time": m.backpressured_ms,
        "accumulated-idle-time": m.idle_ms,
        "accumulated-busy-time": m.busy_ms as f64,
    })
}

pub fn plan(j: &JobEntry, st: &JobState) -> Value {
    let g = &st.graph();
    let nodes: Vec<Value> = g
        .vertices
        .iter()
        .map(|v| {
            let inputs: Vec<Value> = g
                .edges
                .iter()
                .filter(|e| e.target == v.vertex.id)
                .enumerate()
                .map(|(n, e)| {
                    json!({
                        "id": e.source.to_string(),
                        "num": n,
                        "exchange": match e.result_type {
                            strom_plan::ResultType::Pipelined => "pipelined_bounded",
                            strom_plan::ResultType::Blocking => "blocking",
                        },
                        "ship_strategy": e.ship_strategy.name(),
                    })
                })
                .collect();
            let description: Vec<String> =
                v.vertex.operators.iter().map(|o| o.description()).collect();
            let mut node = json!({
                "id": v.vertex.id.to_string(),
                "operator": "",
                "parallelism": v.vertex.parallelism,
                "operator_strategy": "",
                "description": description.join("<br/>+- "),
                "optimizer_properties": {},
            });
            if !inputs.is_empty() {
                node["inputs"] = json!(inputs);
            }
            node
        })
        .collect();
    json!({ "jid": j.id.to_string(), "name": j.name, "type": g.job_type.as_str(), "nodes": nodes })
}

pub fn job_details(j: &JobEntry) -> Value {
    let st = j.state.lock();
    let (start, end, duration, _) = times(&st);
    let g = &st.graph();
    let mut timestamps = Map::new();
    for s in JobStatus::ALL {
        timestamps.insert(
            s.as_str().to_string(),
            json!(g.status_timestamp(s).unwrap_or(0)),
        );
    }
    let mut status_counts = std::collections::BTreeMap::new();
    let vertices: Vec<Value> = g
        .vertices
        .iter()
        .map(|v| {
            let mut m = TaskMetricsSnapshot::default();
            let mut counts = std::collections::BTreeMap::new();
            let mut vstart = i64::MAX;
            let mut vend = -1i64;
            for ev in &v.subtasks {
                let e = &ev.current;
                m += st.metrics_of(e.attempt_id);
                *counts.entry(e.state).or_insert(0usize) += 1;
                if let Some(t) = e.state_timestamps.get(&ExecutionState::Deploying) {
                    vstart = vstart.min(*t);
                }
                if e.state.is_terminal() {
                    vend = vend.max(e.state_timestamps.get(&e.state).copied().unwrap_or(-1));
                } else {
                    vend = i64::MAX;
                }
            }
            let vstart = if vstart == i64::MAX { -1 } else { vstart };
            let vend = if vend == i64::MAX { -1 } else { vend };
            let vstatus = v.aggregate_state();
            *status_counts.entry(vstatus).or_insert(0usize) += 1;
            let source = matches!(v.vertex.operators.first(), Some(strom_plan::OperatorSpec::Source(_)));
            let sink = matches!(v.vertex.operators.last(), Some(strom_plan::OperatorSpec::Sink(_)));
            json!({
                "id": v.vertex.id.to_string(),
                "slotSharingGroupId": strom_common::VertexId::derive(v.vertex.slot_sharing_group.as_bytes()).to_string(),
                "name": v.vertex.name,
                "maxParallelism": v.vertex.max_parallelism,
                "parallelism": v.vertex.parallelism,
                "status": vstatus.as_str(),
                "start-time": vstart,
                "end-time": vend,
                "duration": if vstart < 0 { -1 } else if vend < 0 { now_millis() - vstart } else { vend - vstart },
                "tasks": state_counts_upper(|s| counts.get(&s).copied().unwrap_or(0)),
                "metrics": vertex_metrics(&m, source, sink),
                "strom-time": time_split(&vertex_figures(&st, v), v.subtasks.len()),
            })
        })
        .collect();
    let mut detail = json!({
        "jid": j.id.to_string(),
        "application-id": j.id.to_string(),
        "name": j.name,
        "isStoppable": false,
        "state": g.status().as_str(),
        "job-type": g.job_type.as_str(),
        "schedulerType": "Default",
        "start-time": start,
        "end-time": end,
        "duration": duration,
        "maxParallelism": -1,
        "now": now_millis(),
        "timestamps": timestamps,
        "vertices": vertices,
        "status-counts": state_counts_upper(|s| status_counts.get(&s).copied().unwrap_or(0)),
        "plan": plan(j, &st),
        // Flink 2's operators not yet in the job graph (adaptive graph generation); Strom
        // plans the whole graph at submission
        "pending-operators": 0,
    });
    let (rin, rout) = job_totals(&st);
    detail["strom-records"] = json!({"in": rin, "out": rout});
    if let Some(c) = st.root_cause() {
        detail["strom-root-cause"] = json!(c);
    }
    if let Some(w) = st.waiting_for_slots() {
        detail["strom-waiting-for-slots"] = json!(w);
    }
    detail
}

pub fn taskmanagers(d: &Dispatcher) -> Value {
    let pool_allocated = |id: &strom_scheduler::slot_pool::TaskManagerId| {
        d.rm.pool.lock().allocated_on(id).unwrap_or(0)
    };
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
        let st = j.state.lock();
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

/// Per-job summary a client prints at the end: records in/out of sources and sinks.
pub fn job_totals(st: &JobState) -> (u64, u64) {
    let mut read = 0;
    let mut written = 0;
    for v in &st.graph().vertices {
        let source = matches!(
            v.vertex.operators.first(),
            Some(strom_plan::OperatorSpec::Source(_))
        );
        let sink = matches!(
            v.vertex.operators.last(),
            Some(strom_plan::OperatorSpec::Sink(_))
        );
        for ev in &v.subtasks {
            let m = st.metrics_of(ev.current.attempt_id);
            if source {
                read += m.records_in;
            }
            if sink {
                written += m.records_out;
            }
        }
    }
    (read, written)
}

/// (start, end, duration) of an attempt: from DEPLOYING to its terminal state (or now); -1
/// where it has not got there.
pub(crate) fn span(e: &strom_scheduler::execution_graph::Execution, now: i64) -> (i64, i64, i64) {
    let start = e
        .state_timestamps
        .get(&ExecutionState::Deploying)
        .copied()
        .unwrap_or(-1);
    let end = if e.state.is_terminal() {
        e.state_timestamps.get(&e.state).copied().unwrap_or(-1)
    } else {
        -1
    };
    let duration = match (start, end) {
        (s, _) if s < 0 => -1,
        (s, e) if e < 0 => now - s,
        (s, e) => e - s,
    };
    (start, end, duration)
}

/// Where a task runs: (TaskManager id, its address) as Flink shows them.
pub(crate) fn location(
    d: &Dispatcher,
    slot: Option<&strom_scheduler::slot_pool::SlotId>,
) -> (Value, Value) {
    let Some(slot) = slot else {
        return (Value::Null, Value::Null);
    };
    let endpoint =
        d.rm.task_executor(&slot.task_manager)
            .map(|te| {
                let i = te.info();
                if i.rpc_address.is_empty() {
                    "localhost".to_string()
                } else {
                    i.rpc_address.clone()
                }
            })
            .unwrap_or_else(|| "(lost)".into());
    (json!(slot.task_manager.to_string()), json!(endpoint))
}

/// `/jobs/:id/vertices/:vid`: the subtasks of a vertex, with attempt, state and location.
pub fn vertex_detail(
    d: &Dispatcher,
    j: &JobEntry,
    vertex: strom_common::VertexId,
) -> Option<Value> {
    let st = j.state.lock();
    let v = st.graph().job_vertex(vertex)?;
    let source = matches!(
        v.vertex.operators.first(),
        Some(strom_plan::OperatorSpec::Source(_))
    );
    let sink = matches!(
        v.vertex.operators.last(),
        Some(strom_plan::OperatorSpec::Sink(_))
    );
    let now = now_millis();
    let subtasks: Vec<Value> = v
        .subtasks
        .iter()
        .map(|ev| {
            let e = &ev.current;
            let (start, end, duration) = span(e, now);
            let (tm, endpoint) = location(d, e.slot.as_ref());
            let mut durations = Map::new();
            let mut entered: Vec<(&ExecutionState, &i64)> = e.state_timestamps.iter().collect();
            entered.sort_by_key(|(_, t)| **t);
            for (i, (s, t)) in entered.iter().enumerate() {
                let until = entered
                    .get(i + 1)
                    .map(|(_, t)| **t)
                    .unwrap_or(if s.is_terminal() { **t } else { now });
                durations.insert(s.as_str().to_string(), json!(until - **t));
            }
            json!({
                "subtask": ev.id.subtask,
                "status": e.state.as_str(),
                "attempt": e.attempt_number,
                "endpoint": endpoint,
                "start-time": start,
                "end-time": end,
                "duration": duration,
                "metrics": vertex_metrics(&st.metrics_of(e.attempt_id), source, sink),
                "strom-time": time_split(&st.figures_of(e.attempt_id, e.state), 1),
                "taskmanager-id": tm,
                "status-duration": durations,
                "start_time": start,
                "strom-prior-attempts": ev.prior_attempts.iter().map(|p| json!({
                    "attempt": p.attempt_number,
                    "status": p.state.as_str(),
                    "taskmanager-id": p.slot.as_ref().map(|s| s.task_manager.to_string()),
                    "failure": p.failure,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let aggregated = crate::subtask_statistics::aggregated(&subtasks.iter().collect::<Vec<_>>());
    Some(json!({
        "id": v.vertex.id.to_string(),
        "name": v.vertex.name,
        "parallelism": v.vertex.parallelism,
        "maxParallelism": v.vertex.max_parallelism,
        "now": now,
        "subtasks": subtasks,
        "aggregated": aggregated,
        "strom-time": time_split(&vertex_figures(&st, v), v.subtasks.len()),
    }))
}

/// `/jobs/:id/exceptions`: one entry per failover, newest first: its root cause, and the
/// failures that came with it as concurrent exceptions (Flink's exception history).
pub fn exceptions(d: &Dispatcher, st: &JobState) -> Value {
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

/// `/taskmanagers/:id`: one TaskManager with its allocated slots (Flink's `SlotInfo`), the
/// process's figures in Flink's `TaskManagerMetricsInfo` (the resident set as "heap"; no JVM:
/// no non-heap, direct or mapped memory, no garbage collectors) and, Strom's, the tasks it runs.
pub fn taskmanager_detail(d: &Dispatcher, id: &str) -> Option<Value> {
    let tm = strom_scheduler::slot_pool::TaskManagerId(id.to_string());
    let te = d.rm.task_executor(&tm)?;
    let info = te.info();
    let allocated = d.rm.pool.lock().allocated_on(&tm).unwrap_or(0);
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

/// The figures of each subtask of a vertex (its current attempt), in subtask order.
pub fn subtask_metrics(j: &JobEntry, vertex: strom_common::VertexId) -> Option<Vec<TaskFigures>> {
    let st = j.state.lock();
    let v = st.graph().job_vertex(vertex)?;
    Some(
        v.subtasks
            .iter()
            .map(|ev| st.figures_of(ev.current.attempt_id, ev.current.state))
            .collect(),
    )
}

/// `/jobs/:id/vertices/:vid/subtasks/metrics`: without `get`, the metric ids; with
/// `get=a,b`, each metric aggregated over the subtasks (`agg` picks among min, max, avg, sum,
/// skew; all by default), as Flink answers.
pub fn aggregated_metrics(subtasks: &[TaskFigures], get: Option<&str>, agg: Option<&str>) -> Value {
    let names = TaskFigures::names();
    let Some(get) = get else {
        return Value::Array(names.iter().map(|n| json!({ "id": n })).collect());
    };
    let aggs: Vec<&str> = match agg {
        Some(a) => a.split(',').map(str::trim).collect(),
        None => vec!["min", "max", "avg", "sum", "skew"],
    };
    let mut out = Vec::new();
    for id in get.split(',').map(str::trim) {
        if !names.contains(&id) {
            continue;
        }
        let vals: Vec<f64> = subtasks
            .iter()
            .filter_map(|m| m.get(id).map(|v| v.as_f64()))
            .collect();
        out.extend(aggregated_metric(id, &vals, &aggs));
    }
    Value::Array(out)
}

/// Flink's `AggregatedMetric` of one metric over several components: `{"id", "min", "max",
/// "avg", "sum", "skew"}` with the aggregations asked for (unknown names are skipped); None
/// when no component has the metric.
pub fn aggregated_metric(id: &str, vals: &[f64], aggs: &[&str]) -> Option<Value> {
    if vals.is_empty() {
        return None;
    }
    let sum: f64 = vals.iter().sum();
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let avg = sum / vals.len() as f64;
    // Flink's skew: (max - avg) / max * 100
    let skew = if max > 0.0 {
        (max - avg) / max * 100.0
    } else {
        0.0
    };
    let mut o = Map::new();
    o.insert("id".into(), json!(id));
    for a in aggs {
        let v = match *a {
            "min" => min,
            "max" => max,
            "avg" => avg,
            "sum" => sum,
            "skew" => skew,
            _ => continue,
        };
        o.insert((*a).to_string(), json!(v));
    }
    Some(Value::Object(o))
}

/// `/jobs/:id/vertices/:vid/metrics`: ids `<subtask>.<name>`; with `get`, their values as
/// strings (Flink's shape).
pub fn vertex_metrics_by_subtask(subtasks: &[TaskFigures], get: Option<&str>) -> Value {
    let Some(get) = get else {
        let mut ids = Vec::new();
        for i in 0..subtasks.len() {
            for n in TaskFigures::names() {
                ids.push(json!({ "id": format!("{i}.{n}") }));
            }
        }
        return Value::Array(ids);
    };
    let mut out = Vec::new();
    for id in get.split(',').map(str::trim) {
        let Some((i, name)) = id.split_once('.') else {
            continue;
        };
        let Some(m) = i.parse::<usize>().ok().and_then(|i| subtasks.get(i)) else {
            continue;
        };
        if let Some(v) = m.get(name) {
            out.push(json!({ "id": id, "value": v.to_string() }));
        }
    }
    Value::Array(out)
}
