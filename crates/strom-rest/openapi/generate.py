#!/usr/bin/env python3
"""Writes crates/strom-rest/openapi.json: Strom's REST API as OpenAPI 3.0. Response schemas are
inferred from Flink 2.3.0's captured answers (shared/reference/flink-rest/) where one exists, so
the document states Flink's field names and JSON types. Every path is served at the root and
under /v1 (the document's two servers). Run after changing the routes:
    python3 crates/strom-rest/openapi/generate.py
`openapi::tests` checks that the document lists exactly the routes of `router()`."""
import json, os, re, sys

here = os.path.dirname(os.path.abspath(__file__))
crate = os.path.dirname(here)
ref = os.environ.get("STROM_SHARED_DIR", os.path.join(crate, "../../../shared")) + "/reference/flink-rest"

# a Java double as Flink's Jackson writes it: a number, or "NaN" / "Infinity" / "-Infinity"
DOUBLE = {"$ref": "#/components/schemas/Double"}

def infer(v):
    if isinstance(v, bool): return {"type": "boolean"}
    if isinstance(v, int): return {"type": "integer", "format": "int64"}
    if isinstance(v, float): return DOUBLE
    if v in ("NaN", "Infinity", "-Infinity"): return DOUBLE
    if isinstance(v, str): return {"type": "string"}
    if v is None: return {"nullable": True}
    if isinstance(v, list):
        return {"type": "array", "items": infer(v[0]) if v else {}}
    return {"type": "object", "properties": {k: infer(x) for k, x in v.items()}}

def ref_schema(name):
    p = os.path.join(ref, name)
    if not os.path.exists(p): return None
    with open(p) as f: return infer(json.load(f))

HEX32 = {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}
# path parameters: ids of jobs, vertices and triggers are 32 hex digits, the others numbers or names
PATH_PARAMS = {
    "jobid": HEX32,
    "vertexid": HEX32,
    "triggerid": HEX32,
    "checkpointid": {"type": "integer", "format": "int64", "minimum": 0},
    "subtaskindex": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 2147483647},
    "attempt": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 2147483647},
    "taskmanagerid": {"type": "string"},
    "name": {"type": "string"},
}
INTEGER1 = {"type": "integer", "format": "int32", "minimum": 1, "maximum": 2147483647}
# Flink's metric answers: [{"id"}] without ?get=, [{"id", "value"}] with it (values as strings)
METRICS = {"type": "array", "items": {"type": "object", "required": ["id"], "additionalProperties": False,
                                      "properties": {"id": {"type": "string"}, "value": {"type": "string"}}}}
# Flink's AggregatedMetric: [{"id"}] without ?get=, else the asked aggregations of each metric
AGGREGATED = {"type": "array", "items": {"type": "object", "required": ["id"], "additionalProperties": False,
                                         "properties": {"id": {"type": "string"},
                                                        **{a: DOUBLE for a in ("min", "max", "avg", "sum", "skew")}}}}

def body(schema, required=False, text=False):
    """A JSON request body (an object; `text`: or the text itself as text/plain)."""
    content = {"application/json": {"schema": schema}}
    if text:
        content["text/plain"] = {"schema": {"type": "string"}}
    return {"required": required, "content": content}

NULLABLE_HEX32 = {**HEX32, "nullable": True}
TARGET = {"type": "string", "pattern": "\\S", "nullable": True}
# (OpenAPI 3.0: a nullable enum lists null among its values)
FORMAT = {"type": "string", "enum": ["CANONICAL", None], "nullable": True}
# the request bodies of Flink's SavepointTriggerRequestBody, StopWithSavepointRequestBody and
# CheckpointTriggerRequestBody (an empty body is {}); other fields are refused (400)
SAVEPOINT_BODY = body({"type": "object", "additionalProperties": False, "properties": {
    "target-directory": TARGET, "cancel-job": {"type": "boolean"},
    "triggerId": NULLABLE_HEX32, "formatType": FORMAT}})
STOP_BODY = body({"type": "object", "additionalProperties": False, "properties": {
    "targetDirectory": TARGET, "drain": {"type": "boolean"},
    "triggerId": NULLABLE_HEX32, "formatType": FORMAT}})
CHECKPOINT_BODY = body({"type": "object", "additionalProperties": False, "properties": {
    "checkpointType": {"type": "string", "enum": ["CONFIGURED", "FULL", "INCREMENTAL", None], "nullable": True},
    "triggerId": NULLABLE_HEX32}})
JOB_GRAPH = body({"type": "object", "required": ["name", "vertices"],
                  "properties": {"name": {"type": "string"}, "vertices": {"type": "array"}}}, required=True)
SQL_BODY = body({"type": "object", "required": ["sql"], "additionalProperties": False, "properties": {
    "sql": {"type": "string"}, "parallelism": {**INTEGER1, "nullable": True}}}, required=True, text=True)

# (method, path, summary, reference answer (a file of shared/reference/flink-rest or a schema),
#  mutating/body kind (a request body, or "none", "text", "tm", "tmtext"), query parameters
#  (name, None for any string, a list of the values, or a schema))
ROUTES = [
    ("get", "/config", "Web UI configuration (refresh interval, versions, features)", "config.json", None, []),
    ("get", "/overview", "Cluster overview: TaskManagers, slots, jobs by state, utilisation", "overview.json", None, []),
    ("get", "/jobs", "Job ids and states", "jobs.json", None, []),
    ("post", "/jobs", "Submit a JobGraph as JSON", None, JOB_GRAPH, []),
    ("get", "/jobs/overview", "Every job with its counts and times", "jobs_overview.json", None, []),
    ("get", "/jobs/{jobid}", "A job: vertices, states, timestamps", "job_detail_running.json", None, []),
    ("patch", "/jobs/{jobid}", "Cancel a job (?mode=cancel)", None, "none", [("mode", ["cancel"])]),
    ("get", "/jobs/{jobid}/status", "A job's status", "job_status_running.json", None, []),
    ("get", "/jobs/{jobid}/plan", "A job's plan (vertices and edges with ship strategies)", "job_plan.json", None, []),
    ("get", "/jobs/{jobid}/exceptions", "Root cause and exception history", "job_exceptions.json", None, []),
    ("get", "/jobs/{jobid}/config", "A job's execution configuration", "job_config.json", None, []),
    ("get", "/jobs/{jobid}/accumulators", "A job's accumulators", None, None, []),
    ("get", "/jobs/{jobid}/execution-result", "The result of a finished job", None, None, []),
    ("get", "/jobs/{jobid}/checkpoints", "Checkpoint statistics: counts, summary, latest, history", "job_checkpoints.json", None, []),
    ("get", "/jobs/{jobid}/checkpoints/config", "Checkpointing configuration", None, None, []),
    ("get", "/jobs/{jobid}/checkpoints/details/{checkpointid}", "One checkpoint, per vertex", None, None, []),
    ("get", "/jobs/{jobid}/checkpoints/details/{checkpointid}/subtasks/{vertexid}", "One checkpoint, per subtask of a vertex", None, None, []),
    ("post", "/jobs/{jobid}/checkpoints", "Trigger a checkpoint now ({\"checkpointType\": \"FULL\" | \"INCREMENTAL\" | \"CONFIGURED\", \"triggerId\"}; 202 with a request id; Strom's checkpoints are always full)", None, CHECKPOINT_BODY, []),
    ("get", "/jobs/{jobid}/checkpoints/{triggerid}", "Status of a manual checkpoint (operation.checkpointId once COMPLETED)", None, None, []),
    ("post", "/jobs/{jobid}/savepoints", "Trigger a savepoint (202 with a request id)", None, SAVEPOINT_BODY, []),
    ("get", "/jobs/{jobid}/savepoints/{triggerid}", "Status of a savepoint operation", None, None, []),
    ("post", "/jobs/{jobid}/stop", "Stop with a savepoint ({\"targetDirectory\", \"drain\"})", None, STOP_BODY, []),
    ("get", "/jobs/{jobid}/metrics", "Job metrics (list, or values with ?get=)", METRICS, None, [("get", None)]),
    ("get", "/jobs/{jobid}/vertices/{vertexid}", "A vertex and its subtasks (attempts, TaskManagers, time split)", "vertex_detail.json", None, []),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/metrics", "Vertex metrics (list, or values with ?get=)", METRICS, None, [("get", None)]),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/subtasks/metrics", "Subtask metrics aggregated (?get=, ?agg=, ?subtasks=)", AGGREGATED, None, [("get", None), ("agg", None), ("subtasks", None)]),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/accumulators", "A vertex's accumulators", None, None, []),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/watermarks", "Input watermark of each subtask (Flink's metric list: <subtask>.currentInputWatermark)", METRICS, None, []),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/backpressure", "Backpressure level and ratios per subtask", None, None, []),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/subtasktimes", "State timestamps of each subtask", None, None, []),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}", "A subtask's current attempt", None, None, []),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/attempts/{attempt}", "One attempt of a subtask", None, None, []),
    ("get", "/jobs/metrics", "Metrics aggregated over jobs (?get=, ?agg=, ?jobs=)", AGGREGATED, None, [("get", None), ("agg", None), ("jobs", None)]),
    ("get", "/taskmanagers", "TaskManagers with slots and resources", "taskmanagers.json", None, []),
    ("get", "/taskmanagers/{taskmanagerid}", "One TaskManager", "taskmanager_detail.json", None, []),
    ("get", "/taskmanagers/{taskmanagerid}/metrics", "TaskManager metrics (list, or values with ?get=)", METRICS, None, [("get", None)]),
    ("get", "/taskmanagers/metrics", "Metrics aggregated over TaskManagers (?get=, ?agg=, ?taskmanagers=)", AGGREGATED, None, [("get", None), ("agg", None), ("taskmanagers", None)]),
    ("get", "/jobmanager/config", "The cluster configuration (secrets hidden)", "jobmanager_config.json", None, []),
    ("get", "/jobmanager/metrics", "JobManager metrics (list, or values with ?get=)", METRICS, None, [("get", None)]),
    ("get", "/jobmanager/logs", "The JobManager's log files", None, None, []),
    ("get", "/jobmanager/logs/{name}", "One log file", None, "text", []),
    ("get", "/jobmanager/environment", "The JobManager process: Strom version, CPU architecture, command line (Flink's EnvironmentInfo)", None, None, []),
    ("get", "/jobmanager/thread-dump", "The JobManager process's threads (name, id, kernel state)", None, None, []),
    ("get", "/jobmanager/log", "The JobManager's log file (env.log.dir)", None, "text", []),
    ("get", "/jobmanager/stdout", "The JobManager's stdout file, if one was kept in env.log.dir", None, "text", []),
    ("get", "/taskmanagers/{taskmanagerid}/logs", "The files in a TaskManager's log directory", None, "tm", []),
    ("get", "/taskmanagers/{taskmanagerid}/logs/{name}", "One of a TaskManager's log files", None, "tmtext", []),
    ("get", "/taskmanagers/{taskmanagerid}/log", "A TaskManager's log file", None, "tmtext", []),
    ("get", "/taskmanagers/{taskmanagerid}/stdout", "A TaskManager's stdout file, if one was kept", None, "tmtext", []),
    ("get", "/taskmanagers/{taskmanagerid}/thread-dump", "A TaskManager process's threads", None, "tm", []),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/taskmanagers", "A vertex's subtasks grouped by TaskManager (IO figures, state counts, statistics)", None, None, []),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/subtasks/accumulators", "The accumulators of every subtask of a vertex", None, None, []),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/metrics", "One subtask's metrics (list, or values with ?get=)", METRICS, None, [("get", None)]),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/attempts/{attempt}/accumulators", "The accumulators of one attempt of a subtask", None, None, []),
    ("get", "/jobs/{jobid}/jobmanager/config", "The configuration the job runs with (cluster's overlaid by the job's; secrets hidden)", "jobmanager_config.json", None, []),
    ("get", "/jobs/{jobid}/jobmanager/environment", "The environment of the JobManager running the job", None, None, []),
    ("get", "/jobs/{jobid}/jobmanager/log-url", "The URL of the JobManager's log", None, None, []),
    ("get", "/jobs/{jobid}/taskmanagers/{taskmanagerid}/log-url", "The URL of a TaskManager's log", None, None, []),
    ("delete", "/cluster", "Shut the cluster down", None, "none", []),
    ("get", "/metrics", "Prometheus text exposition (Flink's PrometheusReporter names)", None, "text", []),
    ("post", "/sql", "Strom only: run a SQL script ({\"sql\", \"parallelism\"} or text/plain; 202 {\"jobids\"}; a SQL error is 400 with its line and column)", None, SQL_BODY, [("parallelism", INTEGER1)]),
    ("get", "/openapi.json", "This document", None, None, []),
]

ERROR = {"$ref": "#/components/schemas/Error"}

def query_schema(q):
    if q is None: return {"type": "string"}
    if isinstance(q, list): return {"type": "string", "enum": q}
    return q

def op(method, path, summary, answer, kind, query):
    params = [{"name": n, "in": "path", "required": True, "schema": PATH_PARAMS[n]}
              for n in re.findall(r"{([^}]+)}", path)]
    params += [{"name": n, "in": "query", "required": False, "schema": query_schema(q)} for n, q in query]
    ok = "200" if method == "get" else "202"
    if kind in ("text", "tmtext"):
        content = {"text/plain": {"schema": {"type": "string"}}}
    elif isinstance(answer, dict):
        content = {"application/json": {"schema": answer}}
    else:
        content = {"application/json": {"schema": ref_schema(answer) if answer else {"type": "object"}}}
    responses = {ok: {"description": "OK", "content": content},
                 "400": {"description": "Bad request", "content": {"application/json": {"schema": ERROR}}},
                 "404": {"description": "Not found", "content": {"application/json": {"schema": ERROR}}}}
    if kind in ("tm", "tmtext"):
        responses["503"] = {"description": "The TaskManager did not answer",
                            "content": {"application/json": {"schema": ERROR}}}
    o = {"summary": summary, "operationId": (method + re.sub(r"[^A-Za-z0-9]+", "_", path)).rstrip("_"),
         "parameters": params, "responses": responses}
    if method != "get":
        responses["401"] = {"description": "rest.auth.token is set and the bearer token is missing or wrong",
                            "content": {"application/json": {"schema": ERROR}}}
        o["security"] = [{"bearer": []}, {}]
    if isinstance(kind, dict):
        o["requestBody"] = kind
        responses["413"] = {"description": "Body larger than rest.server.max-content-length",
                            "content": {"application/json": {"schema": ERROR}}}
        if "text/plain" in kind["content"]:
            responses["415"] = {"description": "A body neither JSON nor text",
                                "content": {"application/json": {"schema": ERROR}}}
    return o

doc = {
    "openapi": "3.0.3",
    "info": {"title": "Strom REST API", "version": "v1",
             "description": "Flink's dispatcher REST API as Strom serves it (paths, field names and JSON types of Flink 2.3.0), plus POST /sql. As in Flink, every path is served at the root and under /v1 (the two servers): GET /jobs/overview and GET /v1/jobs/overview are one operation. A method a path lacks is 405, with the path's methods in the Allow header."},
    "servers": [{"url": "http://127.0.0.1:8081", "description": "the root"},
                {"url": "http://127.0.0.1:8081/v1", "description": "the same API under /v1, as Flink's clients call it"}],
    "paths": {},
    "components": {
        "schemas": {"Error": {"type": "object", "required": ["errors"],
                              "properties": {"errors": {"type": "array", "items": {"type": "string"}}}},
                    "Double": {"description": "A double as Flink writes it: a number, or NaN or an infinity as a string",
                               "oneOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}},
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
}
for r in ROUTES:
    doc["paths"].setdefault(r[1], {})[r[0]] = op(*r)
out = os.path.join(crate, "openapi.json")
with open(out, "w") as f:
    json.dump(doc, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"wrote {out}: {len(ROUTES)} operations")
