//! `GET /v1/openapi.json`: the REST API as OpenAPI 3.0, generated from the routes. Every route
//! is registered with the description of each of its methods ([`get`]`(handler, `[`Doc`]`)`, ...,
//! in its `api/<resource>.rs`), so a route cannot be served undocumented; [`document`] builds the
//! whole document from them: the two servers (the root and `/v1`), path parameters by name
//! (ids of jobs, vertices and triggers are 32 hex digits), query parameters, request bodies,
//! Flink's error shape for 400/404 (401 and 413 for mutating calls and bodies), and the answer:
//! a schema written beside the route, or the one inferred from Flink 2.3.0's captured answer
//! (`openapi/flink/<name>.json`, included by [`flink_schema!`]). The document is checked in as
//! `crates/strom-rest/openapi.json` (what `scripts/rest_fuzz.sh` fuzzes); a test keeps it equal
//! to the generated one (`STROM_WRITE_OPENAPI=1 cargo test` rewrites it).

use axum::handler::Handler;
use axum::routing::MethodRouter;
use serde_json::{json, Map, Value};

/// The schema inferred from Flink's captured answer `<name>.json`, kept as
/// `openapi/flink/<name>.json` (for [`Doc::flink`]).
macro_rules! flink_schema {
    ($name:literal) => {
        $crate::openapi::FlinkSchema {
            name: $name,
            text: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/openapi/flink/",
                $name,
                ".json"
            )),
        }
    };
}
pub(crate) use flink_schema;

/// A schema inferred from Flink's captured answer `name` (see [`flink_schema!`]).
#[derive(Debug, Clone, Copy)]
pub struct FlinkSchema {
    pub name: &'static str,
    /// The schema as JSON text.
    pub text: &'static str,
}

/// What an operation answers with its 200 (GET) or 202 (other methods).
#[derive(Debug, Clone)]
enum Answer {
    /// Some JSON object.
    Object,
    /// JSON of this schema.
    Schema(Value),
    /// JSON of the schema inferred from Flink's answer.
    Flink(FlinkSchema),
    /// `text/plain`.
    Text,
}

/// A request body: a JSON value of `schema`, or (`text`) also plain text.
#[derive(Debug, Clone)]
pub struct Body {
    schema: Value,
    required: bool,
    text: bool,
}

impl Body {
    /// An optional JSON body of this schema.
    pub fn json(schema: Value) -> Self {
        Self {
            schema,
            required: false,
            text: false,
        }
    }

    /// The body must be sent.
    pub fn required(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }

    /// The body may also be `text/plain` (the text itself).
    pub fn or_text(self) -> Self {
        Self { text: true, ..self }
    }
}

/// The description of one operation (a method of a path) in the OpenAPI document.
#[derive(Debug, Clone)]
pub struct Doc {
    summary: &'static str,
    answer: Answer,
    body: Option<Body>,
    query: Vec<(&'static str, Value)>,
    asks_taskmanager: bool,
}

impl Doc {
    /// An operation answering some JSON object.
    pub fn new(summary: &'static str) -> Self {
        Self {
            summary,
            answer: Answer::Object,
            body: None,
            query: Vec::new(),
            asks_taskmanager: false,
        }
    }

    /// The answer's schema.
    pub fn answer(self, schema: Value) -> Self {
        Self {
            answer: Answer::Schema(schema),
            ..self
        }
    }

    /// The answer's schema as inferred from Flink's answer: `flink_schema!("name")`.
    pub fn flink(self, schema: FlinkSchema) -> Self {
        Self {
            answer: Answer::Flink(schema),
            ..self
        }
    }

    /// The answer is `text/plain`.
    pub fn text(self) -> Self {
        Self {
            answer: Answer::Text,
            ..self
        }
    }

    /// The request body.
    pub fn body(self, body: Body) -> Self {
        Self {
            body: Some(body),
            ..self
        }
    }

    /// An optional query parameter taking any string.
    pub fn query(self, name: &'static str) -> Self {
        self.query_of(name, json!({"type": "string"}))
    }

    /// An optional query parameter of this schema.
    pub fn query_of(mut self, name: &'static str, schema: Value) -> Self {
        self.query.push((name, schema));
        self
    }

    /// The operation asks a TaskManager, which may not answer (503).
    pub fn asks_taskmanager(self) -> Self {
        Self {
            asks_taskmanager: true,
            ..self
        }
    }
}

/// One documented operation: `method` (lower case) of `path` (axum's `{param}` syntax, which is
/// OpenAPI's).
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: &'static str,
    pub path: String,
    pub doc: Doc,
}

/// A path's methods with their handlers and descriptions (what `Routes::route` takes).
pub struct Methods<S> {
    pub(crate) router: MethodRouter<S>,
    pub(crate) docs: Vec<(&'static str, Doc)>,
}

/// The constructor of one method's route with its description (`get`, `post`, ...).
macro_rules! method {
    ($name:ident, $method:literal) => {
        #[doc = concat!("`", $method, "` by `handler`, described by `doc`.")]
        pub fn $name<H, T, S>(handler: H, doc: Doc) -> Methods<S>
        where
            H: Handler<T, S>,
            T: 'static,
            S: Clone + Send + Sync + 'static,
        {
            Methods {
                router: axum::routing::$name(handler),
                docs: vec![(stringify!($name), doc)],
            }
        }
    };
}

method!(get, "GET");
method!(post, "POST");
method!(patch, "PATCH");
method!(delete, "DELETE");

impl<S: Clone + Send + Sync + 'static> Methods<S> {
    /// Also `GET`.
    pub fn get<H: Handler<T, S>, T: 'static>(mut self, handler: H, doc: Doc) -> Self {
        self.router = self.router.get(handler);
        self.docs.push(("get", doc));
        self
    }

    /// Also `POST`.
    pub fn post<H: Handler<T, S>, T: 'static>(mut self, handler: H, doc: Doc) -> Self {
        self.router = self.router.post(handler);
        self.docs.push(("post", doc));
        self
    }

    /// Also `PATCH`.
    pub fn patch<H: Handler<T, S>, T: 'static>(mut self, handler: H, doc: Doc) -> Self {
        self.router = self.router.patch(handler);
        self.docs.push(("patch", doc));
        self
    }

    /// Also `DELETE`.
    pub fn delete<H: Handler<T, S>, T: 'static>(mut self, handler: H, doc: Doc) -> Self {
        self.router = self.router.delete(handler);
        self.docs.push(("delete", doc));
        self
    }
}

/// A double as Flink's Jackson writes it: a number, or `"NaN"` / `"Infinity"` / `"-Infinity"`.
pub fn double() -> Value {
    json!({"$ref": "#/components/schemas/Double"})
}

/// 32 hexadecimal digits (Flink's job, vertex and trigger ids).
pub fn hex32() -> Value {
    json!({"type": "string", "pattern": "^[0-9a-fA-F]{32}$"})
}

/// A positive `int`.
pub fn positive_int() -> Value {
    json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": 2_147_483_647})
}

/// `schema`, or `null`.
pub fn nullable(mut schema: Value) -> Value {
    schema["nullable"] = json!(true);
    schema
}

/// Flink's metric answers: `[{"id"}]` without `?get=`, `[{"id", "value"}]` with it (values as
/// strings).
pub fn metric_list() -> Value {
    json!({"type": "array", "items": {"type": "object", "required": ["id"],
        "additionalProperties": false,
        "properties": {"id": {"type": "string"}, "value": {"type": "string"}}}})
}

/// Flink's `AggregatedMetric` list: `[{"id"}]` without `?get=`, else the asked aggregations of
/// each metric.
pub fn aggregated_metrics() -> Value {
    let d = double();
    json!({"type": "array", "items": {"type": "object", "required": ["id"],
        "additionalProperties": false,
        "properties": {"id": {"type": "string"}, "min": d, "max": d, "avg": d, "sum": d,
            "skew": d}}})
}

/// The schema of a path parameter, by name: ids of jobs, vertices and triggers are 32 hex
/// digits, the others numbers or names.
fn path_parameter(name: &str) -> Value {
    let index =
        json!({"type": "integer", "format": "int32", "minimum": 0, "maximum": 2_147_483_647});
    match name {
        "jobid" | "vertexid" | "triggerid" => hex32(),
        "checkpointid" => json!({"type": "integer", "format": "int64", "minimum": 0}),
        "subtaskindex" | "attempt" => index,
        _ => json!({"type": "string"}),
    }
}

fn error(description: &str) -> Value {
    json!({"description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The OpenAPI operation of one route's method.
fn operation(op: &Operation) -> Value {
    let doc = &op.doc;
    let mut params: Vec<Value> = op
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|n| json!({"name": n, "in": "path", "required": true, "schema": path_parameter(n)}))
        .collect();
    params.extend(
        doc.query.iter().map(
            |(n, schema)| json!({"name": n, "in": "query", "required": false, "schema": schema}),
        ),
    );
    let content = match &doc.answer {
        Answer::Text => json!({"text/plain": {"schema": {"type": "string"}}}),
        Answer::Object => json!({"application/json": {"schema": {"type": "object"}}}),
        Answer::Schema(s) => json!({"application/json": {"schema": s}}),
        Answer::Flink(f) => json!({"application/json": {"schema":
            serde_json::from_str::<Value>(f.text).unwrap_or_else(|_| json!({"type": "object"}))}}),
    };
    let ok = if op.method == "get" { "200" } else { "202" };
    let mut responses = Map::new();
    responses.insert(ok.into(), json!({"description": "OK", "content": content}));
    responses.insert("400".into(), error("Bad request"));
    responses.insert("404".into(), error("Not found"));
    if doc.asks_taskmanager {
        responses.insert("503".into(), error("The TaskManager did not answer"));
    }
    let operation_id: String = format!("{}{}", op.method, op.path)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    let mut out = json!({"summary": doc.summary, "operationId": operation_id,
        "parameters": params});
    if op.method != "get" {
        responses.insert(
            "401".into(),
            error("rest.auth.token is set and the bearer token is missing or wrong"),
        );
        out["security"] = json!([{"bearer": []}, {}]);
    }
    if let Some(body) = &doc.body {
        let mut content = json!({"application/json": {"schema": body.schema}});
        if body.text {
            content["text/plain"] = json!({"schema": {"type": "string"}});
            responses.insert("415".into(), error("A body neither JSON nor text"));
        }
        out["requestBody"] = json!({"required": body.required, "content": content});
        responses.insert(
            "413".into(),
            error("Body larger than rest.server.max-content-length"),
        );
    }
    out["responses"] = Value::Object(responses);
    out
}

/// The OpenAPI document of these operations.
pub fn document(ops: &[Operation]) -> Value {
    let mut paths = Map::new();
    for op in ops {
        let path = paths.entry(op.path.clone()).or_insert_with(|| json!({}));
        path[op.method] = operation(op);
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Strom REST API", "version": "v1",
            "description": "Flink's dispatcher REST API as Strom serves it (paths, field names and JSON types of Flink 2.3.0), plus POST /sql. As in Flink, every path is served at the root and under /v1 (the two servers): GET /jobs/overview and GET /v1/jobs/overview are one operation. A method a path lacks is 405, with the path's methods in the Allow header."},
        "servers": [{"url": "http://127.0.0.1:8081", "description": "the root"},
            {"url": "http://127.0.0.1:8081/v1",
                "description": "the same API under /v1, as Flink's clients call it"}],
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {"type": "object", "required": ["errors"],
                    "properties": {"errors": {"type": "array", "items": {"type": "string"}}}},
                "Double": {"description": "A double as Flink writes it: a number, or NaN or an infinity as a string",
                    "oneOf": [{"type": "number"},
                        {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}

/// The document as checked in: keys sorted, indented by one space, a final newline.
pub fn to_text(doc: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            v => v.clone(),
        }
    }
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        serde_json::ser::PrettyFormatter::with_indent(b" "),
    );
    // serializing a Value into a Vec cannot fail
    let _ = serde::Serialize::serialize(&sorted(doc), &mut ser);
    let mut text = String::from_utf8_lossy(&out).into_owned();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests;
