//! `POST /v1/sql` (Strom only; what the Web UI's "Submit SQL" form uses): compiles a Flink SQL
//! script (SET, CREATE TABLE, INSERT INTO ... SELECT) on the cluster and submits its jobs.
//!
//! The body is JSON `{"sql": "...", "parallelism": 2}` (parallelism optional) or the script as
//! `text/plain` (then `?parallelism=` gives the parallelism). The answer is `202 {"jobids": [...]}`;
//! a SQL error is `400 {"errors": ["... (at line L, column C)"], "strom-position": {"line", "column"}}`.

use crate::api::Routes;
use crate::body::{json_object, Expected};
use crate::error::RestError;
use crate::openapi::{nullable, positive_int, post, Body, Doc};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use strom_cluster::Dispatcher;
use strom_common::config::keys;
use strom_common::Configuration;
use strom_plan::table::TableStatisticsSource;

#[cfg(test)]
mod tests;

/// Cluster configuration keys a SQL session starts from (the rest is the cluster's own business;
/// the Dispatcher lays the whole cluster configuration under each job's anyway).
const SESSION_PREFIXES: &[&str] = &[
    "parallelism.",
    "execution.",
    "pipeline.",
    "table.",
    "state.",
    "restart-strategy.",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    sql: String,
    #[serde(default)]
    parallelism: Option<u32>,
}

fn bad(msg: impl Into<String>) -> RestError {
    RestError(StatusCode::BAD_REQUEST, msg.into())
}

/// The request as (script, parallelism), from a JSON or a text body.
fn parse_request(
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Result<(String, Option<u32>), RestError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let text = std::str::from_utf8(body)
        .map_err(|_| bad("Bad request: the body of POST /v1/sql is not UTF-8 text"))?;
    let query_parallelism = match query.get("parallelism") {
        None => None,
        Some(p) => Some(p.parse::<u32>().map_err(|_| {
            bad(format!(
                "Bad request: query parameter parallelism='{p}' is not a positive integer"
            ))
        })?),
    };
    let json = content_type.contains("json")
        || (content_type.is_empty() && text.trim_start().starts_with('{'));
    let (sql, parallelism) = if json {
        let r: SqlRequest = json_object(
            body,
            Expected {
                what: "SqlRequest (the body of POST /v1/sql as JSON)",
                example: r#"{"sql": "...", "parallelism": N (optional)}, or send the script as text/plain"#,
            },
        )?;
        (r.sql, r.parallelism.or(query_parallelism))
    } else if content_type.is_empty() || content_type.starts_with("text/") {
        (text.to_string(), query_parallelism)
    } else {
        return Err(RestError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Bad request: POST /v1/sql takes application/json or text/plain, not '{content_type}'"),
        ));
    };
    if sql.trim().is_empty() {
        return Err(bad(
            "Bad request: the SQL script is empty; send SET, CREATE TABLE and INSERT INTO statements",
        ));
    }
    if parallelism == Some(0) {
        return Err(bad("Bad request: parallelism must be at least 1"));
    }
    Ok((sql, parallelism))
}

/// The configuration a script is compiled with: the cluster's job-level keys, then the request's
/// parallelism; the script's SET statements come on top.
fn session_config(cluster: &Configuration, parallelism: Option<u32>) -> Configuration {
    let mut c = Configuration::new();
    for (k, v) in cluster.entries() {
        if SESSION_PREFIXES.iter().any(|p| k.starts_with(p)) {
            c.set(k, v);
        }
    }
    if let Some(p) = parallelism {
        c.set(keys::PARALLELISM_DEFAULT, p.to_string());
    }
    c
}

/// The routes of this resource.
pub(crate) fn routes(r: Routes) -> Routes {
    r.route(
        "/sql",
        post(
            run_sql,
            Doc::new("Strom only: run a SQL script ({\"sql\", \"parallelism\"} or text/plain; 202 {\"jobids\"}; a SQL error is 400 with its line and column)")
                .query_of("parallelism", positive_int())
                .body(Body::json(request_schema()).required().or_text()),
        ),
    )
}

/// The JSON request body ([`SqlRequest`]; other fields are refused).
fn request_schema() -> serde_json::Value {
    json!({"type": "object", "required": ["sql"], "additionalProperties": false, "properties": {
        "sql": {"type": "string"}, "parallelism": nullable(positive_int())}})
}

/// `POST /v1/sql`.
pub async fn run_sql(
    State(d): State<Arc<Dispatcher>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, RestError> {
    let (sql, parallelism) = parse_request(&headers, &query, &body)?;
    let config = session_config(&d.config, parallelism);
    let d2 = d.clone();
    // the planner sizes the tables through the connectors (Parquet footers) to choose join
    // sides and broadcasts
    let statistics = Arc::clone(&d.connectors) as Arc<dyn TableStatisticsSource>;
    // compiling plans with DataFusion and submitting are blocking work
    let outcome = tokio::task::spawn_blocking(move || {
        let compiled = strom_sql::compile_script_with_statistics(&sql, &config, statistics)
            .map_err(Outcome::Sql)?;
        if compiled.jobs.is_empty() {
            return Err(Outcome::Rest(bad(if compiled.explains.is_empty() {
                "Bad request: the script has no INSERT or SELECT statement: nothing to run"
            } else {
                "Bad request: the script only has EXPLAIN statements (`strom sql` prints their plans): nothing to run"
            })));
        }
        let total = compiled.jobs.len();
        let mut ids = Vec::with_capacity(total);
        for (i, g) in compiled.jobs.into_iter().enumerate() {
            match d2.submit(g) {
                Ok(id) => ids.push(id.to_string()),
                Err(e) => {
                    let mut err = RestError::from(e);
                    if total > 1 {
                        err.1 = format!(
                            "job {} of {total} of the script was rejected: {}; submitted before it: {ids:?}",
                            i + 1,
                            err.1
                        );
                    }
                    return Err(Outcome::Rest(err));
                }
            }
        }
        Ok(ids)
    })
    .await
    .map_err(|e| RestError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match outcome {
        Ok(ids) => Ok((StatusCode::ACCEPTED, Json(json!({ "jobids": ids }))).into_response()),
        Err(Outcome::Rest(e)) => Err(e),
        Err(Outcome::Sql(e)) => {
            let mut body = json!({ "errors": [format!("SQL error: {e}")] });
            if let Some(p) = e.position {
                body["strom-position"] = json!({ "line": p.line, "column": p.column });
            }
            Ok((StatusCode::BAD_REQUEST, Json(body)).into_response())
        }
    }
}

enum Outcome {
    Sql(strom_sql::SqlError),
    Rest(RestError),
}
