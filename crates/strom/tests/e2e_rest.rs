//! Every REST endpoint of a real cluster: one `strom jobmanager` and two `strom taskmanager`
//! processes on loopback, with `rest.auth.token`, a small `rest.server.max-content-length` and
//! `env.log.dir`, running four jobs: a checkpointed streaming job (RUNNING), a batch job
//! (FINISHED), a canceled one and one stopped with a savepoint.
//!
//! The walk takes the operations from the cluster's own `/v1/openapi.json` (generated from the
//! router's routes), fills each path with every real id that applies (jobs, vertices,
//! subtasks, attempts, checkpoints, savepoint and checkpoint triggers, TaskManagers, log files),
//! and calls
//! them all: each answers 200 with JSON (or text where the document says so); where Flink 2.3's
//! answer was captured (`shared/reference/flink-rest/`) every field of it is present with the
//! same JSON type. Each parameter is then replaced by a malformed value (400) and an unknown one
//! (404), both in Flink's error shape. The mutating calls need the token (401 without it), refuse
//! malformed bodies (400) and bodies past the limit (413), and `DELETE /cluster` cancels the
//! running job before the JobManager exits.
#![allow(clippy::unwrap_used)] // a test may unwrap

mod common;

use common::processes::*;
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const TOKEN: &str = "t0ken-rest-walk";
const MAX_BODY: usize = 65_536;
const ZERO_ID: &str = "00000000000000000000000000000000";
const T: Duration = Duration::from_secs(60);

struct Rest<'a> {
    jm: &'a JobManager,
}

impl Rest<'_> {
    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        http_with(self.jm.rest_port, method, path, &headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.jm.proc.describe()))
    }

    /// A mutating call with the token.
    fn send(&self, method: &str, path: &str, body: Option<&str>) -> Resp {
        self.call(method, path, Some(TOKEN), body)
    }

    /// GET without a token (reads need none): 200 and JSON.
    fn get(&self, path: &str) -> Value {
        let r = self.call("GET", path, None, None);
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.json(path)
    }

    fn submit_sql(&self, sql: &str, parallelism: u32) -> String {
        let body = json!({ "sql": sql, "parallelism": parallelism }).to_string();
        let r = self.send("POST", "/v1/sql", Some(&body));
        assert_eq!(r.status, 202, "POST /v1/sql: {}", r.body);
        r.json("POST /v1/sql")["jobids"][0]
            .as_str()
            .unwrap_or_else(|| panic!("no job id in {}", r.body))
            .to_string()
    }

    /// Polls a savepoint/stop trigger (`ops` = "savepoints") or a checkpoint trigger
    /// ("checkpoints") until it completes; returns the answer.
    fn wait_trigger(&self, ops: &str, job: &str, trigger: &str) -> Value {
        poll(&format!("{ops} trigger {trigger} of {job}"), T, || {
            let v = self.get(&format!("/jobs/{job}/{ops}/{trigger}"));
            match v["status"]["id"].as_str() {
                Some("COMPLETED") => Some(v),
                Some("IN_PROGRESS") => None,
                _ => panic!("{ops} trigger {trigger}: {v}"),
            }
        })
    }

    fn wait_vertices(&self, job: &str, state: &str) -> Value {
        poll(&format!("job {job} and its vertices {state}"), T, || {
            let j = self.jm.job(job);
            let all = j["vertices"]
                .as_array()
                .is_some_and(|vs| vs.iter().all(|v| v["status"] == state));
            (j["state"] == state && all).then_some(j)
        })
    }
}

fn reference(name: &str) -> Value {
    let p = shared_dir().join("reference/flink-rest").join(name);
    serde_json::from_str(&read_text(&p)).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Where `ours` lacks a field of Flink's answer or has it with another JSON type (integers and
/// floats told apart), as "path: what". A null on either side is Flink's "not there yet" and
/// matches any value; Flink's "NaN" (a percentile of nothing) matches a number; in arrays each
/// element of ours is compared with the element of Flink's it is most alike (Flink's plan
/// nodes, say, have "inputs" except the sources).
fn shape_mismatches(at: &str, ours: &Value, flink: &Value, out: &mut Vec<String>) {
    match (ours, flink) {
        (_, Value::Null) | (Value::Null, _) => {}
        (Value::Number(_), Value::String(s)) if s == "NaN" => {}
        (Value::Object(o), Value::Object(f)) => {
            for (k, fv) in f {
                match o.get(k) {
                    None => out.push(format!("{at}.{k}: missing (Flink has {fv})")),
                    Some(ov) => shape_mismatches(&format!("{at}.{k}"), ov, fv, out),
                }
            }
        }
        (Value::Array(o), Value::Array(f)) if !f.is_empty() => {
            for (i, ov) in o.iter().enumerate() {
                let best = f
                    .iter()
                    .map(|fv| {
                        let mut m = Vec::new();
                        shape_mismatches(&format!("{at}[{i}]"), ov, fv, &mut m);
                        m
                    })
                    .min_by_key(Vec::len)
                    .unwrap_or_default();
                out.extend(best);
            }
        }
        _ if json_type(ours) != json_type(flink) => out.push(format!(
            "{at}: {} {ours}, Flink has {} {flink}",
            json_type(ours),
            json_type(flink)
        )),
        _ => {}
    }
}

fn assert_flink_shape(what: &str, ours: &Value, reference_file: &str) {
    let mut out = Vec::new();
    shape_mismatches("", ours, &reference(reference_file), &mut out);
    assert!(
        out.is_empty(),
        "{what} differs from Flink's {reference_file}:\n  {}\nours: {ours}",
        out.join("\n  ")
    );
}

/// The captured answer a concrete GET is compared with: by template, and for job paths by the
/// state of the job the answer was captured in.
fn reference_for(template: &str, job_state: Option<&str>) -> Option<&'static str> {
    Some(match (template, job_state) {
        ("/config", _) => "config.json",
        ("/overview", _) => "overview_running.json",
        ("/jobs", _) => "jobs.json",
        ("/jobs/overview", _) => "jobs_overview.json",
        ("/jobs/{jobid}", Some("RUNNING")) => "job_detail_running.json",
        ("/jobs/{jobid}", Some(_)) => "job_detail_finished.json",
        ("/jobs/{jobid}/status", Some("RUNNING")) => "job_status_running.json",
        ("/jobs/{jobid}/status", Some(_)) => "job_status_canceled.json",
        ("/jobs/{jobid}/plan", _) => "job_plan.json",
        ("/jobs/{jobid}/exceptions", _) => "job_exceptions.json",
        ("/jobs/{jobid}/config", _) => "job_config.json",
        ("/jobs/{jobid}/checkpoints", _) => "job_checkpoints.json",
        ("/jobs/{jobid}/vertices/{vertexid}", _) => "vertex_detail.json",
        ("/jobs/{jobid}/vertices/{vertexid}/subtasks/metrics", _) => "subtasks_metrics.json",
        ("/jobmanager/config", _) => "jobmanager_config.json",
        ("/jobmanager/metrics", _) => "jobmanager_metrics_list.json",
        ("/taskmanagers", _) => "taskmanagers.json",
        ("/taskmanagers/{taskmanagerid}", _) => "taskmanager_detail.json",
        _ => return None,
    })
}

/// What the walk knows of the cluster: the jobs with their vertices (id, parallelism), their
/// completed checkpoints, savepoint and checkpoint triggers, the TaskManagers.
struct World {
    jobs: Vec<JobInfo>,
    taskmanagers: Vec<String>,
}

struct JobInfo {
    id: String,
    /// A batch job takes no checkpoints: its checkpoint paths answer 404 (as Flink's do).
    batch: bool,
    state: String,
    vertices: Vec<(String, u64)>,
    checkpoints: Vec<u64>,
    /// Savepoint and stop-with-savepoint triggers (`/jobs/{jobid}/savepoints/{triggerid}`).
    triggers: Vec<String>,
    /// Manual checkpoint triggers (`/jobs/{jobid}/checkpoints/{triggerid}`).
    checkpoint_triggers: Vec<String>,
}

/// A parameter's values where it stands: what was filled in before it decides (a vertex is one
/// of the job's, a log file one of the TaskManager's).
#[derive(Clone, Default)]
struct Ctx {
    path: String,
    job: Option<usize>,
    vertex: Option<usize>,
    tm: Option<String>,
    /// (parameter name, value) in order.
    params: Vec<(String, String)>,
}

fn param_values(rest: &Rest, world: &World, ctx: &Ctx, name: &str) -> Vec<(String, Ctx)> {
    let with = |value: String, f: &dyn Fn(&mut Ctx)| {
        let mut c = ctx.clone();
        c.params.push((name.to_string(), value.clone()));
        f(&mut c);
        (value, c)
    };
    let job = ctx.job.map(|j| &world.jobs[j]);
    match name {
        "jobid" => (0..world.jobs.len())
            .map(|j| with(world.jobs[j].id.clone(), &|c| c.job = Some(j)))
            .collect(),
        "vertexid" => {
            let job = job.expect("a vertex id after a job id");
            (0..job.vertices.len())
                .map(|v| with(job.vertices[v].0.clone(), &|c| c.vertex = Some(v)))
                .collect()
        }
        "subtaskindex" => {
            let job = job.expect("a job");
            let (_, p) = job.vertices[ctx.vertex.expect("a vertex")];
            (0..p).map(|i| with(i.to_string(), &|_| {})).collect()
        }
        // the jobs of the walk never restarted: attempt 0 is each subtask's only one
        "attempt" => vec![with("0".into(), &|_| {})],
        "checkpointid" => job
            .expect("a job")
            .checkpoints
            .iter()
            .map(|c| with(c.to_string(), &|_| {}))
            .collect(),
        // a checkpoint trigger under /checkpoints/, a savepoint trigger under /savepoints/
        "triggerid" => {
            let job = job.expect("a job");
            let ids = if ctx.path.ends_with("/checkpoints") {
                &job.checkpoint_triggers
            } else {
                &job.triggers
            };
            ids.iter().map(|t| with(t.clone(), &|_| {})).collect()
        }
        "taskmanagerid" | "tmid" => world
            .taskmanagers
            .iter()
            .map(|t| with(t.clone(), &|c| c.tm = Some(t.clone())))
            .collect(),
        "name" | "filename" => {
            let listing = match &ctx.tm {
                Some(tm) => rest.get(&format!("/taskmanagers/{tm}/logs")),
                None => rest.get("/jobmanager/logs"),
            };
            listing["logs"]
                .as_array()
                .unwrap_or_else(|| panic!("no logs array: {listing}"))
                .iter()
                .map(|l| with(l["name"].as_str().unwrap().to_string(), &|_| {}))
                .collect()
        }
        other => panic!("the walk does not know path parameter {{{other}}}"),
    }
}

/// Every concrete path of a template.
fn expand(rest: &Rest, world: &World, template: &str) -> Vec<Ctx> {
    let mut out = vec![Ctx::default()];
    for seg in template.split('/').skip(1) {
        let mut next = Vec::new();
        for ctx in out {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                for (value, mut c) in param_values(rest, world, &ctx, name) {
                    c.path = format!("{}/{value}", ctx.path);
                    next.push(c);
                }
            } else {
                let mut c = ctx.clone();
                c.path = format!("{}/{seg}", ctx.path);
                next.push(c);
            }
        }
        out = next;
    }
    out
}

/// A malformed value (400) and an unknown one (404) of a path parameter.
fn bad_values(name: &str) -> (Option<&'static str>, &'static str) {
    match name {
        "jobid" | "vertexid" => (Some("not-an-id"), ZERO_ID),
        "subtaskindex" | "attempt" | "checkpointid" => (Some("x"), "999"),
        "triggerid" => (Some("not-a-trigger"), "ffffffffffffffffffffffffffffffff"),
        // a TaskManager id and a file name are any string: only unknown ones
        _ => (None, "no-such-thing"),
    }
}

fn rebuild(template: &str, params: &[(String, String)]) -> String {
    let mut path = template.to_string();
    for (k, v) in params {
        path = path.replace(&format!("{{{k}}}"), v);
    }
    path
}

fn streaming_sql(name: &str, rate: u64) -> String {
    format!(
        "SET 'pipeline.name' = '{name}';\n\
         SET 'execution.checkpointing.interval' = '200ms';\n\
         {}\
         CREATE TABLE out_t (auction BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3), num BIGINT)\n\
         WITH ('connector' = 'blackhole');\n\
         INSERT INTO out_t SELECT auction, window_start, window_end, COUNT(*) AS num\n\
         FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))\n\
         GROUP BY auction, window_start, window_end;\n",
        datagen_bid_table(1_000_000_000, rate)
    )
}

const BATCH_SQL: &str = "SET 'pipeline.name' = 'walk-batch';\n\
     SET 'execution.runtime-mode' = 'batch';\n\
     CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10000',\n\
     'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '10000');\n\
     CREATE TABLE out_t (k BIGINT, c BIGINT) WITH ('connector' = 'blackhole');\n\
     INSERT INTO out_t SELECT id % 10, COUNT(*) FROM gen GROUP BY id % 10;\n";

fn job_info(
    rest: &Rest,
    id: &str,
    triggers: Vec<String>,
    checkpoint_triggers: Vec<String>,
) -> JobInfo {
    let job = rest.get(&format!("/jobs/{id}"));
    let vertices = job["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_string(),
                v["parallelism"].as_u64().unwrap(),
            )
        })
        .collect();
    let batch = job["job-type"] == "BATCH";
    let checkpoints = if batch {
        Vec::new()
    } else {
        rest.get(&format!("/jobs/{id}/checkpoints"))["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "COMPLETED")
            .map(|c| c["id"].as_u64().unwrap())
            .collect()
    };
    JobInfo {
        id: id.to_string(),
        batch,
        state: job["state"].as_str().unwrap().to_string(),
        vertices,
        checkpoints,
        triggers,
        checkpoint_triggers,
    }
}

#[test]
#[allow(clippy::too_many_lines)]
fn every_endpoint_of_a_real_cluster_answers_in_flinks_shape_and_every_error_path_holds() {
    let logs = TempDir::new("rest-walk-logs");
    let savepoints = TempDir::new("rest-walk-savepoints");
    let max_body = format!("rest.server.max-content-length={MAX_BODY}");
    let log_dir = format!("env.log.dir={}", logs.path().display());
    let token = format!("rest.auth.token={TOKEN}");
    let mut settings = vec![max_body.as_str(), log_dir.as_str(), token.as_str()];
    settings.extend(HB_FAST);
    let mut jm = JobManager::start(&settings);
    let (_tm1, id1) = start_taskmanager("taskmanager-1", &jm, 3, &[&log_dir]);
    let (_tm2, id2) = start_taskmanager("taskmanager-2", &jm, 3, &[&log_dir]);
    let rest = Rest { jm: &jm };

    // ---- the mutating calls need the token; bad bodies are refused before anything runs
    let sql_body = json!({ "sql": BATCH_SQL, "parallelism": 1 }).to_string();
    for (method, path, body) in [
        ("POST", "/v1/sql", sql_body.as_str()),
        ("POST", "/jobs", "{}"),
        ("POST", "/v1/jobs", "{}"),
        ("PATCH", "/jobs/{ZERO_ID}?mode=cancel", ""),
        ("POST", "/jobs/{ZERO_ID}/savepoints", "{}"),
        ("POST", "/jobs/{ZERO_ID}/stop", "{}"),
        ("POST", "/jobs/{ZERO_ID}/checkpoints", "{}"),
        ("DELETE", "/cluster", ""),
    ] {
        let path = path.replace("{ZERO_ID}", ZERO_ID);
        let what = format!("{method} {path} without the token");
        let r = rest.call(method, &path, None, Some(body));
        r.assert_error(401, &what);
        let r = rest.call(method, &path, Some("wrong-token"), Some(body));
        r.assert_error(401, &format!("{method} {path} with a wrong token"));
    }
    assert_eq!(rest.get("/jobs")["jobs"], json!([]), "a refused call ran");
    for (path, body) in [
        ("/jobs", "{bad"),
        ("/v1/jobs", "{\"not\": \"a job graph\"}"),
        ("/v1/sql", "{bad"),
        ("/v1/sql", "{\"sql\": \"SELEC 1\"}"),
    ] {
        rest.send("POST", path, Some(body))
            .assert_error(400, &format!("POST {path} {body}"));
    }
    let big = format!(
        "{{\"sql\": \"-- {}\\nSELECT 1\"}}",
        "x".repeat(MAX_BODY + 10)
    );
    rest.send("POST", "/v1/sql", Some(&big))
        .assert_error(413, "POST /v1/sql past rest.server.max-content-length");

    // ---- the jobs: one through the CLI (POST /jobs with a JobGraph), three through /v1/sql
    let dir = TempDir::new("rest-walk-sql");
    let stream_file = dir.join("stream.sql");
    write_text(&stream_file, &streaming_sql("walk-stream", 2_000));
    let out = run_with_timeout(
        strom()
            .arg("sql")
            .arg("-f")
            .arg(&stream_file)
            .args(["-p", "2", "--jobmanager", &jm.url(), "--detached"])
            .env("STROM_REST_TOKEN", TOKEN),
        T,
    );
    let stream = out.assert_success().job_id();
    let batch = rest.submit_sql(BATCH_SQL, 2);
    let canceled = rest.submit_sql(&streaming_sql("walk-canceled", 500), 1);
    let stopped = rest.submit_sql(&streaming_sql("walk-stopped", 500), 1);
    for id in [&stream, &canceled, &stopped] {
        rest.wait_vertices(id, "RUNNING");
    }
    rest.wait_vertices(&batch, "FINISHED");
    poll("two completed checkpoints of the streaming jobs", T, || {
        [&stream, &stopped]
            .iter()
            .all(|id| {
                rest.get(&format!("/jobs/{id}/checkpoints"))["counts"]["completed"]
                    .as_u64()
                    .unwrap_or(0)
                    >= 2
            })
            .then_some(())
    });

    // cancel: bad mode 400, then 202 with Flink's empty body
    rest.send("PATCH", &format!("/jobs/{canceled}?mode=bogus"), None)
        .assert_error(400, "PATCH ?mode=bogus");
    let r = rest.send("PATCH", &format!("/jobs/{canceled}?mode=cancel"), None);
    let want = read_text(&shared_dir().join("reference/flink-rest/job_cancel_patch_response.txt"));
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(want.contains("HTTP 202"), "{want}");
    assert_eq!(r.json("cancel"), json!({}));
    rest.wait_vertices(&canceled, "CANCELED");

    // a savepoint and a manual checkpoint of the running job, and stop-with-savepoint of the
    // other
    for (path, body) in [
        (format!("/jobs/{stream}/savepoints"), "{bad"),
        (format!("/jobs/{stream}/stop"), "{\"drain\": \"yes\"}"),
        (
            format!("/jobs/{stream}/checkpoints"),
            "{\"checkpointType\": \"DELTA\"}",
        ),
        (format!("/jobs/{batch}/checkpoints"), "{}"),
    ] {
        rest.send("POST", &path, Some(body))
            .assert_error(400, &format!("POST {path} {body}"));
    }
    let target = savepoints.path().display().to_string();
    let r = rest.send(
        "POST",
        &format!("/jobs/{stream}/savepoints"),
        Some(&json!({ "target-directory": target, "cancel-job": false }).to_string()),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let sp_trigger = r.json("savepoint")["request-id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = rest.wait_trigger("savepoints", &stream, &sp_trigger);
    let location = done["operation"]["location"].as_str().unwrap().to_string();
    assert!(
        location.contains(&target)
            && std::path::Path::new(&location.replace("file:", ""))
                .join("_metadata")
                .exists(),
        "{done}"
    );
    let r = rest.send(
        "POST",
        &format!("/jobs/{stream}/checkpoints"),
        Some(r#"{"checkpointType": "FULL"}"#),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let ck_trigger = r.json("checkpoint")["request-id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = rest.wait_trigger("checkpoints", &stream, &ck_trigger);
    let ck_id = done["operation"]["checkpointId"]
        .as_u64()
        .unwrap_or_else(|| panic!("{done}"));
    // Flink's CLI verb, the token from the environment
    let out = run_with_timeout(
        strom()
            .args(["checkpoint", &stream, "--full", "-m", &jm.url()])
            .env("STROM_REST_TOKEN", TOKEN),
        T,
    );
    out.assert_success();
    let line = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Checkpoint(FULL) "))
        .unwrap_or_else(|| panic!("no checkpoint line\n{}", out.describe()));
    let cli_id: u64 = line
        .strip_suffix(&format!(" for job {stream} completed."))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(cli_id > ck_id, "{cli_id} after {ck_id}");
    let r = rest.send(
        "POST",
        &format!("/jobs/{stopped}/stop"),
        Some(&json!({ "targetDirectory": target, "drain": false }).to_string()),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let stop_trigger = r.json("stop")["request-id"].as_str().unwrap().to_string();
    rest.wait_trigger("savepoints", &stopped, &stop_trigger);
    // as in Flink: the job and each of its tasks end FINISHED, not CANCELED
    let j = rest.wait_vertices(&stopped, "FINISHED");
    for v in j["vertices"].as_array().unwrap() {
        let vid = v["id"].as_str().unwrap();
        let d = rest.get(&format!("/jobs/{stopped}/vertices/{vid}"));
        for st in d["subtasks"].as_array().unwrap() {
            assert_eq!(st["status"], "FINISHED", "{d}");
        }
    }
    assert_eq!(rest.jm.job(&stream)["state"], "RUNNING");

    // ---- the walk
    // the stdout files a launcher redirecting stdout (as Flink's scripts do) would leave beside
    // the logs: `<log>.out`
    let stdout_of = |name: &str| format!("what {name} printed\n");
    write_text(&logs.join("jobmanager.out"), &stdout_of("jobmanager"));
    for tm in [&id1, &id2] {
        let port = tm.split(['-', ':']).nth(1).unwrap();
        let name = format!("taskmanager-{port}");
        assert!(logs.join(&format!("{name}.log")).exists(), "no {name}.log");
        write_text(&logs.join(&format!("{name}.out")), &stdout_of(&name));
    }
    let r = rest.call("GET", "/jobmanager/stdout", None, None);
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, stdout_of("jobmanager").as_str())
    );
    let world = World {
        jobs: vec![
            job_info(&rest, &stream, vec![sp_trigger], vec![ck_trigger]),
            job_info(&rest, &batch, vec![], vec![]),
            job_info(&rest, &canceled, vec![], vec![]),
            job_info(&rest, &stopped, vec![stop_trigger], vec![]),
        ],
        taskmanagers: vec![id1, id2],
    };
    assert!(!world.jobs[0].checkpoints.is_empty());
    let doc = rest.get("/v1/openapi.json");
    let mut calls = 0usize;
    let mut compared: BTreeMap<&str, usize> = BTreeMap::new();
    let paths = doc["paths"].as_object().unwrap();
    for (template, ops) in paths {
        let Some(op) = ops.get("get") else { continue };
        let content = &op["responses"]["200"]["content"];
        let is_json = content.get("application/json").is_some();
        let concrete = expand(&rest, &world, template);
        assert!(
            !concrete.is_empty(),
            "the walk found no value for every parameter of GET {template}"
        );
        for ctx in &concrete {
            let path = &ctx.path;
            let r = rest.call("GET", path, None, None);
            calls += 1;
            let job = ctx.job.map(|j| &world.jobs[j]);
            if job.is_some_and(|j| j.batch) && template.starts_with("/jobs/{jobid}/checkpoints") {
                r.assert_error(404, &format!("GET {path} of a batch job"));
                // Flink's two wordings: "has not been enabled", "is not enabled for this job"
                assert!(
                    r.body.contains("Checkpointing") && r.body.contains("enabled"),
                    "{}",
                    r.body
                );
                continue;
            }
            assert_eq!(r.status, 200, "GET {path} (from {template}): {}", r.body);
            if !is_json {
                assert!(!r.body.is_empty(), "GET {path}: an empty answer");
                continue;
            }
            let v = r.json(path);
            let state = ctx.job.map(|j| world.jobs[j].state.as_str());
            if let Some(file) = reference_for(template, state) {
                assert_flink_shape(&format!("GET {path}"), &v, file);
                *compared.entry(file).or_default() += 1;
            }
        }
        // each parameter malformed (400) and unknown (404), the others real
        let first = concrete
            .iter()
            .find(|c| c.job.is_none_or(|j| !world.jobs[j].batch))
            .unwrap_or(&concrete[0]);
        for i in 0..first.params.len() {
            let (name, _) = &first.params[i];
            let (malformed, unknown) = bad_values(name);
            for (value, status) in [(malformed, 400), (Some(unknown), 404)] {
                let Some(value) = value else { continue };
                let mut params = first.params.clone();
                params[i].1 = value.to_string();
                let path = rebuild(template, &params);
                rest.call("GET", &path, None, None)
                    .assert_error(status, &format!("GET {path} ({{{name}}} = {value})"));
                calls += 1;
            }
        }
    }
    // every captured answer of a GET was compared with at least one of ours
    for file in [
        "config.json",
        "overview_running.json",
        "jobs.json",
        "jobs_overview.json",
        "job_detail_running.json",
        "job_detail_finished.json",
        "job_status_running.json",
        "job_status_canceled.json",
        "job_plan.json",
        "job_exceptions.json",
        "job_config.json",
        "job_checkpoints.json",
        "vertex_detail.json",
        "subtasks_metrics.json",
        "jobmanager_config.json",
        "jobmanager_metrics_list.json",
        "taskmanagers.json",
        "taskmanager_detail.json",
    ] {
        assert!(compared.contains_key(file), "{file} was never compared");
    }
    // the captured answers of other states and queries
    for (path, file) in [
        ("/overview".to_string(), "overview.json"),
        ("/overview".to_string(), "overview_after_cancel.json"),
        ("/jobs/overview".to_string(), "jobs_overview_running.json"),
        ("/jobs/overview".to_string(), "jobs_overview_canceled.json"),
        (
            "/jobmanager/metrics?get=numRunningJobs,taskSlotsTotal".to_string(),
            "jobmanager_metrics_get.json",
        ),
    ] {
        assert_flink_shape(&format!("GET {path}"), &rest.get(&path), file);
    }
    let got = rest.get("/jobmanager/metrics?get=numRunningJobs,taskSlotsTotal");
    assert_eq!(
        got,
        json!([{"id": "numRunningJobs", "value": "1"}, {"id": "taskSlotsTotal", "value": "6"}])
    );
    let overview = rest.get("/overview");
    assert_eq!(
        (
            &overview["taskmanagers"],
            &overview["slots-total"],
            &overview["jobs-running"],
            &overview["jobs-finished"],
            &overview["jobs-cancelled"]
        ),
        (&json!(2), &json!(6), &json!(1), &json!(2), &json!(1)),
        "{overview}"
    );
    // Flink's error answers
    for (path, status, file) in [
        (
            "/jobs/doesnotexist".to_string(),
            400,
            "error_400_bad_jobid.json",
        ),
        (
            format!("/jobs/{ZERO_ID}"),
            404,
            "error_404_job_not_found.json",
        ),
        ("/nosuchpath".to_string(), 404, "error_404_path.json"),
    ] {
        let r = rest.call("GET", &path, None, None);
        r.assert_error(status, &path);
        assert_flink_shape(&format!("GET {path}"), &r.json(&path), file);
    }
    eprintln!(
        "walked {} GET templates with {calls} calls; compared with {} captured answers",
        paths.values().filter(|o| o.get("get").is_some()).count(),
        compared.len()
    );

    // the TaskManagers as their heartbeats and the slot pool tell: only the streaming job runs
    // (2 vertices at parallelism 2 sharing 2 slots)
    let (mut tasks, mut slots) = (0, 0);
    for tm in &world.taskmanagers {
        let t = rest.get(&format!("/taskmanagers/{tm}"));
        let p = &t["strom-process"];
        assert!(
            p["rssBytes"].as_u64().unwrap() > 1 << 20 && p["threads"].as_u64().unwrap() > 1,
            "{t}"
        );
        assert!(t["hardware"]["freeMemory"].as_u64().unwrap() > 0, "{t}");
        tasks += t["assignedTasks"].as_u64().unwrap();
        let allocated = t["allocatedSlots"].as_array().unwrap();
        assert!(
            allocated.iter().all(|s| s["jobId"] == stream.as_str()),
            "{t}"
        );
        slots += allocated.len();
        assert_eq!(
            t["strom-tasks"].as_array().unwrap().len() as u64,
            t["assignedTasks"].as_u64().unwrap()
        );
    }
    assert_eq!((tasks, slots), (4, 2));

    // ---- DELETE /cluster: the running job is canceled, then the JobManager exits
    let r = rest.send("DELETE", "/cluster", None);
    assert_eq!((r.status, r.json("DELETE /cluster")), (202, json!({})));
    let status = jm.proc.wait_exit(T);
    assert!(status.success(), "{status:?}\n{}", jm.proc.describe());
    let log = jm.proc.text(Stream::Stderr);
    assert!(
        log.contains(&format!("job {stream} is CANCELED")),
        "the running job was not canceled before the JobManager exited:\n{}",
        jm.proc.describe()
    );
}
