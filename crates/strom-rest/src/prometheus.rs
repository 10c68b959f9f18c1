//! `GET /metrics`: the Prometheus text exposition (format 0.0.4) with Flink's metric names and
//! scopes, as Flink's PrometheusReporter writes them: `flink_<logical scope>_<name>`, every
//! metric a gauge, `# HELP <name> (scope: <scope>)`, label values with characters outside
//! `[a-zA-Z0-9:_]` replaced by `_`. Labels are of low cardinality: job name and id, task (vertex)
//! name and id, subtask index, TaskManager id; never an attempt id, so a restarted task keeps
//! its series.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;
use strom_cluster::cluster_metrics::{job_metrics, jobmanager_metrics, running_tasks};
use strom_cluster::task_figures::MetricValue;
use strom_cluster::Dispatcher;

/// The content type of the text exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Flink's filter for label values (and metric names): only `[a-zA-Z0-9:_]` stay.
pub fn filter_chars(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

struct Family {
    name: String,
    help: String,
    samples: Vec<(String, MetricValue)>,
}

/// Metric families in the order first seen, each with its samples.
#[derive(Default)]
pub struct Exposition {
    families: Vec<Family>,
    index: HashMap<String, usize>,
}

fn format_value(v: MetricValue) -> String {
    match v {
        MetricValue::Count(c) => c.to_string(),
        MetricValue::Gauge(g) => g.to_string(),
        MetricValue::Rate(r) if r.is_nan() => "NaN".into(),
        MetricValue::Rate(r) if r.is_infinite() => {
            String::from(if r > 0.0 { "+Inf" } else { "-Inf" })
        }
        MetricValue::Rate(r) => format!("{r:?}"),
    }
}

impl Exposition {
    /// Adds one sample of metric `name` in `scope` (e.g. `taskmanager_job_task`).
    pub fn add(&mut self, scope: &str, name: &str, labels: &[(&str, &str)], v: MetricValue) {
        let full = format!("flink_{scope}_{}", filter_chars(name));
        let i = match self.index.get(&full) {
            Some(i) => *i,
            None => {
                self.families.push(Family {
                    name: full.clone(),
                    help: format!("{name} (scope: {scope})"),
                    samples: Vec::new(),
                });
                self.index.insert(full, self.families.len() - 1);
                self.families.len() - 1
            }
        };
        let mut l = String::new();
        for (k, val) in labels {
            if !l.is_empty() {
                l.push(',');
            }
            let _ = write!(l, "{k}=\"{}\"", filter_chars(val));
        }
        self.families[i].samples.push((l, v));
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.families {
            let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
            let _ = writeln!(out, "# TYPE {} gauge", f.name);
            for (labels, v) in &f.samples {
                if labels.is_empty() {
                    let _ = writeln!(out, "{} {}", f.name, format_value(*v));
                } else {
                    let _ = writeln!(out, "{}{{{labels}}} {}", f.name, format_value(*v));
                }
            }
        }
        out
    }
}

/// Task metrics Flink reports in the operator scope (Strom counts them per task: the operator
/// labels name the task's chain).
const OPERATOR_SCOPED: [&str; 2] = ["numLateRecordsDropped", "currentOutputWatermark"];

/// The whole exposition of a cluster.
pub fn exposition(d: &Dispatcher) -> String {
    let mut e = Exposition::default();
    for (name, v) in jobmanager_metrics(d) {
        e.add("jobmanager", name, &[], v);
    }
    for j in d.jobs() {
        if j.snapshot().graph().status().is_globally_terminal() {
            continue;
        }
        let (job_id, job_name) = (j.id.to_string(), j.name.clone());
        let job = [("job_id", job_id.as_str()), ("job_name", job_name.as_str())];
        for (name, v) in job_metrics(&j) {
            e.add("jobmanager_job", name, &job, v);
        }
        for t in running_tasks(&j) {
            let subtask = t.subtask.to_string();
            let labels = [
                ("job_id", job_id.as_str()),
                ("job_name", job_name.as_str()),
                ("task_id", t.vertex_id.as_str()),
                ("task_name", t.vertex_name.as_str()),
                ("subtask_index", subtask.as_str()),
                ("tm_id", t.task_manager.as_str()),
            ];
            let mut op_labels = labels.to_vec();
            op_labels.push(("operator_id", t.vertex_id.as_str()));
            op_labels.push(("operator_name", t.vertex_name.as_str()));
            for (name, v) in t.figures.named() {
                if OPERATOR_SCOPED.contains(&name) {
                    e.add("taskmanager_job_task_operator", name, &op_labels, v);
                } else {
                    e.add("taskmanager_job_task", name, &labels, v);
                }
            }
        }
    }
    e.render()
}

/// `GET /metrics`.
pub async fn metrics(State(d): State<Arc<Dispatcher>>) -> impl IntoResponse {
    let body = tokio::task::spawn_blocking(move || exposition(&d))
        .await
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_with_help_type_and_filtered_labels() {
        let mut e = Exposition::default();
        e.add(
            "taskmanager_job_task",
            "numRecordsIn",
            &[("job_name", "insert-into q5"), ("subtask_index", "0")],
            MetricValue::Count(7),
        );
        e.add(
            "taskmanager_job_task",
            "numRecordsIn",
            &[("job_name", "b"), ("subtask_index", "1")],
            MetricValue::Count(8),
        );
        e.add("jobmanager", "x", &[], MetricValue::Rate(0.5));
        assert_eq!(
            e.render(),
            "# HELP flink_taskmanager_job_task_numRecordsIn numRecordsIn (scope: taskmanager_job_task)\n\
             # TYPE flink_taskmanager_job_task_numRecordsIn gauge\n\
             flink_taskmanager_job_task_numRecordsIn{job_name=\"insert_into_q5\",subtask_index=\"0\"} 7\n\
             flink_taskmanager_job_task_numRecordsIn{job_name=\"b\",subtask_index=\"1\"} 8\n\
             # HELP flink_jobmanager_x x (scope: jobmanager)\n\
             # TYPE flink_jobmanager_x gauge\n\
             flink_jobmanager_x 0.5\n"
        );
    }
}
