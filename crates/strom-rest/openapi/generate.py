#!/usr/bin/env python3
"""Writes crates/strom-rest/openapi.json: Strom's REST API as OpenAPI 3.0. Response schemas are
inferred from Flink 2.3.0's captured answers (shared/reference/flink-rest/) where one exists, so
the document states Flink's field names and JSON types. Run after changing the routes:
    python3 crates/strom-rest/openapi/generate.py
`openapi::tests` checks that the document lists exactly the routes of `router()`."""
import json, os, re, sys

here = os.path.dirname(os.path.abspath(__file__))
crate = os.path.dirname(here)
ref = os.environ.get("STROM_SHARED_DIR", os.path.join(crate, "../../../shared")) + "/reference/flink-rest"

def infer(v):
    if isinstance(v, bool): return {"type": "boolean"}
    if isinstance(v, int): return {"type": "integer", "format": "int64"}
    if isinstance(v, float): return {"type": "number"}
    if isinstance(v, str): return {"type": "string"}
    if v is None: return {"nullable": True}
    if isinstance(v, list):
        return {"type": "array", "items": infer(v[0]) if v else {}}
    return {"type": "object", "properties": {k: infer(x) for k, x in v.items()}}

def ref_schema(name):
    p = os.path.join(ref, name)
    if not os.path.exists(p): return None
    with open(p) as f: return infer(json.load(f))

# (method, path, summary, reference answer, mutating/body kind, query parameters)
ROUTES = [
    ("get", "/config", "Web UI configuration (refresh interval, versions, features)", "config.json", None, []),
    ("get", "/overview", "Cluster overview: TaskManagers, slots, jobs by state, utilisation", "overview.json", None, []),
    ("get", "/jobs", "Job ids and states", "jobs.json", None, []),
    ("post", "/jobs", "Submit a JobGraph as JSON", None, "json", []),
    ("get", "/jobs/overview", "Every job with its counts and times", "jobs_overview.json", None, []),
    ("get", "/jobs/{jobid}", "A job: vertices, states, timestamps", "job_detail_running.json", None, []),
    ("patch", "/jobs/{jobid}", "Cancel a job (?mode=cancel)", None, "none", [("mode", "cancel")]),
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
    ("post", "/jobs/{jobid}/checkpoints", "Trigger a checkpoint now ({\"checkpointType\": \"FULL\" | \"INCREMENTAL\" | \"CONFIGURED\", \"triggerId\"}; 202 with a request id; Strom's checkpoints are always full)", None, "json", []),
    ("get", "/jobs/{jobid}/checkpoints/{triggerid}", "Status of a manual checkpoint (operation.checkpointId once COMPLETED)", None, None, []),
    ("post", "/jobs/{jobid}/savepoints", "Trigger a savepoint (202 with a request id)", None, "json", []),
    ("get", "/jobs/{jobid}/savepoints/{triggerid}", "Status of a savepoint operation", None, None, []),
    ("post", "/jobs/{jobid}/stop", "Stop with a savepoint ({\"targetDirectory\", \"drain\"})", None, "json", []),
    ("get", "/jobs/{jobid}/metrics", "Job metrics (list, or values with ?get=)", "jobmanager_metrics_list.json", None, [("get", None)]),
    ("get", "/jobs/{jobid}/vertices/{vertexid}", "A vertex and its subtasks (attempts, TaskManagers, time split)", "vertex_detail.json", None, []),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/metrics", "Vertex metrics (list, or values with ?get=)", None, None, [("get", None)]),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/subtasks/metrics", "Subtask metrics aggregated (?get=, ?agg=, ?subtasks=)", "subtasks_metrics.json", None, [("get", None), ("agg", None), ("subtasks", None)]),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/accumulators", "A vertex's accumulators", None, None, []),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/watermarks", "Input watermark of each subtask", None, None, []),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/backpressure", "Backpressure level and ratios per subtask", None, None, []),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/subtasktimes", "State timestamps of each subtask", None, None, []),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}", "A subtask's current attempt", None, None, []),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/attempts/{attempt}", "One attempt of a subtask", None, None, []),
    ("get", "/jobs/metrics", "Metrics aggregated over jobs (?get=, ?agg=, ?jobs=)", None, None, [("get", None), ("agg", None), ("jobs", None)]),
    ("get", "/taskmanagers", "TaskManagers with slots and resources", "taskmanagers.json", None, []),
    ("get", "/taskmanagers/{taskmanagerid}", "One TaskManager", "taskmanager_detail.json", None, []),
    ("get", "/taskmanagers/{taskmanagerid}/metrics", "TaskManager metrics (list, or values with ?get=)", None, None, [("get", None)]),
    ("get", "/taskmanagers/metrics", "Metrics aggregated over TaskManagers (?get=, ?agg=, ?taskmanagers=)", None, None, [("get", None), ("agg", None), ("taskmanagers", None)]),
    ("get", "/jobmanager/config", "The cluster configuration (secrets hidden)", "jobmanager_config.json", None, []),
    ("get", "/jobmanager/metrics", "JobManager metrics (list, or values with ?get=)", "jobmanager_metrics_get.json", None, [("get", None)]),
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
    ("get", "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/metrics", "One subtask's metrics (list, or values with ?get=)", None, None, [("get", None)]),
    ("get", "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/attempts/{attempt}/accumulators", "The accumulators of one attempt of a subtask", None, None, []),
    ("get", "/jobs/{jobid}/jobmanager/config", "The configuration the job runs with (cluster's overlaid by the job's; secrets hidden)", "jobmanager_config.json", None, []),
    ("get", "/jobs/{jobid}/jobmanager/environment", "The environment of the JobManager running the job", None, None, []),
    ("get", "/jobs/{jobid}/jobmanager/log-url", "The URL of the JobManager's log", None, None, []),
    ("get", "/jobs/{jobid}/taskmanagers/{taskmanagerid}/log-url", "The URL of a TaskManager's log", None, None, []),
    ("delete", "/cluster", "Shut the cluster down", None, "none", []),
    ("get", "/metrics", "Prometheus text exposition (Flink's PrometheusReporter names)", None, "text", []),
    ("post", "/v1/jobs", "Submit a JobGraph as JSON (same as POST /jobs)", None, "json", []),
    ("post", "/v1/sql", "Strom only: run a SQL script ({\"sql\", \"parallelism\"} or text/plain)", None, "sql", [("parallelism", None)]),
    ("get", "/v1/openapi.json", "This document", None, None, []),
]

ERROR = {"$ref": "#/components/schemas/Error"}

def op(method, path, summary, answer, kind, query):
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
              for n in re.findall(r"{([^}]+)}", path)]
    params += [{"name": n, "in": "query", "required": False,
                "schema": {"type": "string", **({"enum": [e]} if e else {})}} for n, e in query]
    ok = "200" if method == "get" else "202"
    if kind in ("text", "tmtext"):
        body = {"text/plain": {"schema": {"type": "string"}}}
    else:
        body = {"application/json": {"schema": ref_schema(answer) if answer else {"type": "object"}}}
    responses = {ok: {"description": "OK", "content": body},
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
    if kind in ("json", "sql"):
        content = {"application/json": {"schema": {"type": "object"}}}
        if kind == "sql":
            content["text/plain"] = {"schema": {"type": "string"}}
        o["requestBody"] = {"required": kind == "sql", "content": content}
        responses["413"] = {"description": "Body larger than rest.server.max-content-length",
                            "content": {"application/json": {"schema": ERROR}}}
    return o

doc = {
    "openapi": "3.0.3",
    "info": {"title": "Strom REST API", "version": "v1",
             "description": "Flink's dispatcher REST API as Strom serves it (paths, field names and JSON types of Flink 2.3.0), plus /v1/sql."},
    "servers": [{"url": "http://127.0.0.1:8081"}],
    "paths": {},
    "components": {
        "schemas": {"Error": {"type": "object", "required": ["errors"],
                              "properties": {"errors": {"type": "array", "items": {"type": "string"}}}}},
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
