//! `POST /v1/sql` over HTTP against an embedded cluster with the real connectors: jobs run and
//! write what an independent computation says; bad requests and bad SQL are 400 in Flink's shape.

use serde_json::Value;
use std::time::{Duration, Instant};

/// An embedded cluster without a REST token; requests with the content type a test chooses.
struct Server(crate::test_server::Server);

impl Server {
    fn start() -> Self {
        let mut config = strom_common::Configuration::new();
        config.set(strom_common::config::keys::NUM_TASK_SLOTS, "4");
        let d =
            strom_cluster::start_embedded(config, 1, strom_connectors::default_registry()).unwrap();
        Self(crate::test_server::Server::serve(d))
    }

    /// (status, body as JSON) of a request with a body of `content_type` (None: no header).
    fn call(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let ct = content_type
            .map(|c| format!("Content-Type: {c}\r\n"))
            .unwrap_or_default();
        crate::test_server::http_call(self.0.addr, method, path, &ct, body)
    }

    fn sql_json(&self, sql: &str, parallelism: Option<u32>) -> (u16, Value) {
        let mut req = serde_json::json!({ "sql": sql });
        if let Some(p) = parallelism {
            req["parallelism"] = p.into();
        }
        self.call(
            "POST",
            "/v1/sql",
            Some("application/json"),
            &req.to_string(),
        )
    }

    fn job_ids(answer: &Value) -> Vec<String> {
        answer["jobids"]
            .as_array()
            .unwrap_or_else(|| panic!("no jobids: {answer}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    /// Waits until the job is FINISHED (or fails the test) and answers `/jobs/:id`.
    fn wait_finished(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, job) = self.call("GET", &format!("/jobs/{id}"), None, "");
            assert_eq!(status, 200, "{job}");
            match job["state"].as_str().unwrap() {
                "FINISHED" => return job,
                "FAILED" | "CANCELED" => panic!("job {id} ended {}", job),
                _ => {}
            }
            assert!(Instant::now() < deadline, "job {id} did not finish: {job}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Expects a Flink error answer: `status`, one message containing `needle`.
    fn expect_error(&self, content_type: Option<&str>, body: &str, status: u16, needle: &str) {
        self.expect_error_at("/v1/sql", content_type, body, status, needle);
    }

    fn expect_error_at(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: &str,
        status: u16,
        needle: &str,
    ) -> Value {
        let (got, answer) = self.call("POST", path, content_type, body);
        assert_eq!(got, status, "{body}: {answer}");
        let errors = answer["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("not Flink's error shape: {answer}"));
        assert_eq!(errors.len(), 1, "{answer}");
        let msg = errors[0].as_str().unwrap();
        assert!(msg.contains(needle), "{body}: '{msg}' lacks '{needle}'");
        answer
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("strom-rest-sql-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The first CSV column of every `part-*` file in `dir`, sorted.
fn ids_written(dir: &std::path::Path) -> Vec<i64> {
    let mut ids = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if !p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("part-")
        {
            continue;
        }
        for line in std::fs::read_to_string(&p).unwrap().lines() {
            ids.push(line.split(',').next().unwrap().parse::<i64>().unwrap());
        }
    }
    ids.sort_unstable();
    ids
}

fn datagen_to_csv(out: &std::path::Path) -> String {
    format!(
        "CREATE TABLE gen (id BIGINT, v INT) WITH ('connector' = 'datagen', 'number-of-rows' = '1000',\n\
         'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '1000');\n\
         CREATE TABLE out_t (id BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         INSERT INTO out_t SELECT id FROM gen WHERE id % 3 = 0;\n",
        out.display()
    )
}

#[test]
fn a_json_script_runs_at_the_requested_parallelism() {
    let s = Server::start();
    let out = temp_dir("json");
    let (status, answer) = s.sql_json(&datagen_to_csv(&out), Some(2));
    assert_eq!(status, 202, "{answer}");
    let ids = Server::job_ids(&answer);
    assert_eq!(ids.len(), 1);
    let job = s.wait_finished(&ids[0]);
    let parallelisms: Vec<u64> = job["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["parallelism"].as_u64().unwrap())
        .collect();
    assert!(
        !parallelisms.is_empty() && parallelisms.iter().all(|p| *p == 2),
        "{parallelisms:?}"
    );
    let want: Vec<i64> = (1..=1000).filter(|i| i % 3 == 0).collect();
    assert_eq!(ids_written(&out), want);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_text_script_with_set_statements_and_two_inserts_gives_two_jobs() {
    let s = Server::start();
    let out = temp_dir("text");
    let out2 = temp_dir("text2");
    let script = format!(
        "SET 'pipeline.name' = 'from-the-form';\n{}\
         CREATE TABLE out2 (id BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         INSERT INTO out2 SELECT id FROM gen WHERE id > 990;\n",
        datagen_to_csv(&out),
        out2.display()
    );
    let (status, answer) = s.call(
        "POST",
        "/v1/sql?parallelism=1",
        Some("text/plain; charset=utf-8"),
        &script,
    );
    assert_eq!(status, 202, "{answer}");
    let ids = Server::job_ids(&answer);
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        let job = s.wait_finished(id);
        assert_eq!(job["name"], "from-the-form");
        assert!(job["vertices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["parallelism"] == 1));
    }
    assert_eq!(ids_written(&out).len(), 333);
    assert_eq!(ids_written(&out2), (991..=1000).collect::<Vec<i64>>());
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&out2);
}

#[test]
fn bad_sql_is_400_with_line_and_column() {
    let s = Server::start();
    // the misspelt keyword starts line 3, column 3
    let script = "CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen');\n\
                  \n  SELEKT id FROM gen;\n";
    let (status, answer) = s.sql_json(script, None);
    assert_eq!(status, 400, "{answer}");
    let msg = answer["errors"][0].as_str().unwrap();
    assert!(msg.starts_with("SQL error: "), "{msg}");
    assert!(msg.contains("SELEKT"), "{msg}");
    assert!(msg.contains("line 3, column 3"), "{msg}");
    assert_eq!(answer["strom-position"]["line"], 3, "{answer}");
    assert_eq!(answer["strom-position"]["column"], 3, "{answer}");
    // an unknown table in the query, at its own position
    let script = "CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen');\n\
                  INSERT INTO gen SELECT id FROM nope;\n";
    let answer = s.expect_error_at("/v1/sql", Some("text/plain"), script, 400, "nope");
    assert_eq!(answer["strom-position"]["line"], 2, "{answer}");
}

#[test]
fn bad_requests_are_400_in_flinks_shape() {
    let s = Server::start();
    let json = Some("application/json");
    s.expect_error(
        json,
        "{\"sql\": ",
        400,
        "Expected a JSON object like {\"sql\"",
    );
    s.expect_error(
        json,
        "{\"query\": \"SELECT 1\"}",
        400,
        "Expected a JSON object like {\"sql\"",
    );
    s.expect_error(
        json,
        "{\"sql\": \"SELECT 1\", \"parallelism\": -1}",
        400,
        "Expected a JSON object like {\"sql\"",
    );
    s.expect_error(
        json,
        "{\"sql\": \"SELECT 1\", \"parallelism\": 0}",
        400,
        "at least 1",
    );
    s.expect_error(json, "{\"sql\": \"  \"}", 400, "empty");
    s.expect_error(None, "", 400, "empty");
    s.expect_error(
        Some("text/plain"),
        "SET 'parallelism.default' = '2';",
        400,
        "no INSERT or SELECT statement",
    );
    s.expect_error(
        Some("application/xml"),
        "<sql/>",
        415,
        "application/json or text/plain",
    );
    s.expect_error_at(
        "/v1/sql?parallelism=two",
        Some("text/plain"),
        "SELECT 1",
        400,
        "parallelism='two'",
    );
    // the Dispatcher's refusal of a job: an unknown connector
    s.expect_error(
        Some("text/plain"),
        "CREATE TABLE t (id BIGINT) WITH ('connector' = 'no-such-connector');\n\
         CREATE TABLE o (id BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO o SELECT id FROM t;",
        400,
        "no-such-connector",
    );
    // nothing was submitted by any of these
    let (status, jobs) = s.call("GET", "/jobs", None, "");
    assert_eq!(status, 200);
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "{jobs}");
}
