//! The JobManager's, jobs' and TaskManagers' metrics by Flink's names (what
//! `/jobmanager/metrics`, `/jobs/metrics`, `/taskmanagers/metrics` and the Prometheus exposition
//! show), and the tasks of running jobs with their figures.

use crate::dispatcher::{Dispatcher, JobEntry};
use crate::task_figures::{MetricValue, TaskFigures};
use crate::utilisation::UtilisationFigure;
use strom_common::time::now_millis;
use strom_common::JobStatus;

/// Metrics of the JobManager: slots, TaskManagers, running jobs (Flink's names), and Strom's
/// cluster utilisation.
pub fn jobmanager_metrics(d: &Dispatcher) -> Vec<(&'static str, MetricValue)> {
    let (total, free) = d.rm.slot_counts();
    let running = d
        .jobs()
        .iter()
        .filter(|j| !j.snapshot().graph().status().is_globally_terminal())
        .count();
    let now = now_millis();
    let (w, s): (UtilisationFigure, UtilisationFigure) = {
        let mut u = d.rm.utilisation.lock();
        (u.last_window(now), u.since_start(now))
    };
    vec![
        ("taskSlotsTotal", MetricValue::Count(total as u64)),
        ("taskSlotsAvailable", MetricValue::Count(free as u64)),
        ("numRunningJobs", MetricValue::Count(running as u64)),
        (
            "numRegisteredTaskManagers",
            MetricValue::Count(d.rm.task_executors().len() as u64),
        ),
        ("utilisationLastMinute", MetricValue::Rate(w.ratio())),
        ("utilisationSinceStart", MetricValue::Rate(s.ratio())),
        ("accumulateSlotBusyTimeMs", MetricValue::Rate(s.busy_ms)),
        ("accumulateSlotTimeMs", MetricValue::Rate(s.slot_ms)),
        (
            "uptime",
            MetricValue::Count((now - d.rm.started_ms).max(0) as u64),
        ),
    ]
}

/// Metrics of one job (Flink's job scope on the JobManager).
pub fn job_metrics(j: &JobEntry) -> Vec<(&'static str, MetricValue)> {
    let st = j.snapshot();
    let c = &st.checkpoints;
    let g = &st.graph();
    let status = g.status();
    let uptime = match (status, g.status_timestamp(JobStatus::Running)) {
        (JobStatus::Running, Some(t)) => (now_millis() - t).max(0),
        _ => 0,
    };
    let last = c.latest_completed.as_ref();
    vec![
        ("uptime", MetricValue::Count(uptime as u64)),
        ("numRestarts", MetricValue::Count(st.restarts() as u64)),
        (
            "lastCheckpointDuration",
            MetricValue::Gauge(last.map(|r| r.end_to_end_duration()).unwrap_or(-1)),
        ),
        (
            "lastCheckpointSize",
            MetricValue::Gauge(last.map(|r| r.state_size as i64).unwrap_or(-1)),
        ),
        (
            "numberOfCompletedCheckpoints",
            MetricValue::Count(c.completed),
        ),
        ("numberOfFailedCheckpoints", MetricValue::Count(c.failed)),
        (
            "numberOfInProgressCheckpoints",
            MetricValue::Count(c.in_progress),
        ),
        ("totalNumberOfCheckpoints", MetricValue::Count(c.triggered)),
    ]
}

/// One task (current attempt of a subtask) of a job, with where it runs and its figures.
#[derive(Debug, Clone)]
pub struct TaskRow {
    pub vertex_id: String,
    pub vertex_name: String,
    pub subtask: u32,
    /// The TaskManager it runs on (empty when not deployed).
    pub task_manager: String,
    pub figures: TaskFigures,
}

/// The tasks of a job that are deployed and not yet ended (Flink reports a task's metrics while
/// it runs).
pub fn running_tasks(j: &JobEntry) -> Vec<TaskRow> {
    let st = j.snapshot();
    let mut out = Vec::new();
    for v in &st.graph().vertices {
        for ev in &v.subtasks {
            let e = &ev.current;
            let Some(slot) = &e.slot else { continue };
            if e.state.is_terminal() {
                continue;
            }
            out.push(TaskRow {
                vertex_id: v.vertex.id.to_string(),
                vertex_name: v.vertex.name.clone(),
                subtask: ev.id.subtask,
                task_manager: slot.task_manager.to_string(),
                figures: st.figures_of(e.attempt_id, e.state),
            });
        }
    }
    out
}

/// Metrics of one TaskManager: its slots, running tasks and their time split (summed).
pub fn taskmanager_metrics(d: &Dispatcher, tm: &str) -> Option<Vec<(&'static str, MetricValue)>> {
    let id = strom_scheduler::slot_pool::TaskManagerId(tm.to_string());
    let te = d.rm.task_executor(&id)?;
    let allocated = d.rm.allocated_on(&id).unwrap_or(0);
    let slots = te.info().slots as u64;
    let mut tasks = 0u64;
    let mut sum = TaskFigures::default();
    for j in d.jobs() {
        for t in running_tasks(&j)
            .into_iter()
            .filter(|t| t.task_manager == tm)
        {
            tasks += 1;
            sum.totals += t.figures.totals;
            sum.rates.add(&t.figures.rates);
        }
    }
    Some(vec![
        ("taskSlotsTotal", MetricValue::Count(slots)),
        (
            "taskSlotsAvailable",
            MetricValue::Count(slots.saturating_sub(allocated as u64)),
        ),
        ("numRunningTasks", MetricValue::Count(tasks)),
        ("busyTimeMsPerSecond", MetricValue::Rate(sum.rates.busy)),
        ("idleTimeMsPerSecond", MetricValue::Rate(sum.rates.idle)),
        (
            "backPressuredTimeMsPerSecond",
            MetricValue::Rate(sum.rates.backpressured),
        ),
        ("ioTimeMsPerSecond", MetricValue::Rate(sum.rates.io)),
        ("cpuTimeMsPerSecond", MetricValue::Rate(sum.rates.cpu)),
    ])
}
