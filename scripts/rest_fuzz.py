#!/usr/bin/env python3
"""The REST API against its OpenAPI document (crates/strom-rest/openapi.json), fuzzed by
schemathesis: run by scripts/rest_fuzz.sh (which installs schemathesis), `python3 rest_fuzz.py ST`
with ST the schemathesis CLI.

Starts `target/debug/strom standalone` on a free loopback port with `rest.auth.token`, runs a
checkpointed streaming job (with a manual checkpoint and a savepoint under one trigger id) and a
finished batch job, then runs schemathesis twice, each bounded in examples and time:

1. every GET operation with the path parameters fixed to the real ids (so the answers of real
   jobs, vertices, checkpoints and triggers are checked against the document), query parameters
   generated, no token (undocumented methods must be 405, not 401);
2. every operation but DELETE /cluster with generated parameters and bodies (and the ids
   schemathesis learns from the answers, so it may stop or cancel the job), with the token, under
   the /v1 base (the same API as Flink's clients call it).

Fails on any answer that contradicts the document (status, content type, headers, schema), on a
request that breaks the document yet is accepted, on any 5xx, and when the process dies."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STROM = os.path.join(ROOT, "target", "debug", "strom")
TOKEN = "rest-fuzz-t0ken"
TRIGGER = "0123456789abcdef0123456789abcdef"
# per operation and run, besides the coverage phase's own cases; each run takes about a minute
MAX_EXAMPLES = 25
MAX_TIME = 50  # seconds per schemathesis run
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
])

STREAMING = """SET 'pipeline.name' = 'rest-fuzz-stream';
SET 'execution.checkpointing.interval' = '1 h';
CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '500');
CREATE TABLE out_t (k BIGINT, c BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO out_t SELECT id % 10, COUNT(*) FROM gen GROUP BY id % 10;
"""
BATCH = """SET 'pipeline.name' = 'rest-fuzz-batch';
SET 'execution.runtime-mode' = 'batch';
CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '500',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '500');
CREATE TABLE out_t (id BIGINT, c BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO out_t SELECT id, COUNT(*) FROM gen GROUP BY id;
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rest:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {TOKEN}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def get(self, path):
        status, v = self.call("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {v}")
        return v

    def send(self, method, path, body):
        status, v = self.call(method, path, body)
        if status != 202:
            raise RuntimeError(f"{method} {path}: {status} {v}")
        return v


def until(what, f, timeout=90):
    deadline = time.time() + timeout
    while True:
        try:
            v = f()
        except (OSError, RuntimeError):
            v = None
        if v:
            return v
        if time.time() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


def completed(rest, job, ops, trigger):
    v = rest.get(f"/jobs/{job}/{ops}/{trigger}")
    return v if v["status"]["id"] == "COMPLETED" else None


def real_ids(rest):
    """Starts the jobs; returns the path parameters of a real running job."""
    stream = rest.send("POST", "/v1/sql", {"sql": STREAMING, "parallelism": 2})["jobids"][0]
    batch = rest.send("POST", "/v1/sql", {"sql": BATCH, "parallelism": 1})["jobids"][0]
    until("the streaming job running", lambda: all(
        v["status"] == "RUNNING" for v in rest.get(f"/jobs/{stream}")["vertices"]))
    until("the batch job finished", lambda: rest.get(f"/jobs/{batch}/status")["status"] == "FINISHED")
    # one id for a manual checkpoint and a savepoint (the two trigger stores are apart)
    rest.send("POST", f"/jobs/{stream}/checkpoints", {"triggerId": TRIGGER})
    done = until("the manual checkpoint", lambda: completed(rest, stream, "checkpoints", TRIGGER))
    if "checkpointId" not in done.get("operation", {}):
        raise RuntimeError(f"the manual checkpoint failed: {done}")
    rest.send("POST", f"/jobs/{stream}/savepoints", {"triggerId": TRIGGER})
    done = until("the savepoint", lambda: completed(rest, stream, "savepoints", TRIGGER))
    if "location" not in done.get("operation", {}):
        raise RuntimeError(f"the savepoint failed: {done}")
    job = rest.get(f"/jobs/{stream}")
    tm = rest.get("/taskmanagers")["taskmanagers"][0]["id"]
    logs = [l["name"] for l in rest.get("/jobmanager/logs")["logs"]]
    return {
        "path.jobid": stream,
        "path.vertexid": job["vertices"][-1]["id"],
        "path.checkpointid": done_checkpoint(rest, stream),
        "path.triggerid": TRIGGER,
        "path.subtaskindex": 1,
        "path.attempt": 0,
        "path.taskmanagerid": tm,
        "path.name": logs[0] if logs else "jobmanager.log",
    }


def done_checkpoint(rest, job):
    latest = rest.get(f"/jobs/{job}/checkpoints")["latest"]["completed"]
    return latest["id"]


def toml_value(v):
    return json.dumps(v)  # strings and integers are the same in TOML and JSON


def schemathesis(st, config, url, extra, log):
    # one worker: with two, hypothesis parses lambdas' source (ast.parse) in two threads at once,
    # which CPython 3.11 before 3.11.8 cannot do (gh-106905: "SystemError: AST constructor
    # recursion depth mismatch"); that crashed a CI run with every generated case passing
    cmd = [st, "--no-color", "--config-file", config, "run", os.path.join(ROOT, "crates/strom-rest/openapi.json"),
           "--url", url, "--checks", CHECKS, "--phases", "coverage,fuzzing",
           "--max-examples", str(MAX_EXAMPLES), "--max-time", str(MAX_TIME), "--seed", "15",
           "--workers", "1", "--request-timeout", "30", "--suppress-health-check", "all",
           "--warnings", "off", *extra]
    print("+ " + " ".join(cmd), flush=True)
    # in the temp dir, beside the config: schemathesis keeps a cache (.schemathesis/) where it runs
    return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                          cwd=os.path.dirname(config)).returncode


def main():
    st = os.path.abspath(sys.argv[1])
    if not os.access(STROM, os.X_OK):
        sys.exit(f"{STROM} is missing: cargo build -p strom first")
    tmp = tempfile.mkdtemp(prefix="strom-rest-fuzz-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out_dir = os.path.join(ROOT, "target", "rest-fuzz")
    os.makedirs(out_dir, exist_ok=True)
    strom_log = open(os.path.join(out_dir, "strom.log"), "w")
    proc = subprocess.Popen(
        [STROM, "standalone", "--taskmanagers", "1", "--slots", "4",
         "-D", "rest.bind-address=127.0.0.1", "-D", f"rest.port={port}", "-D", f"rest.auth.token={TOKEN}",
         "-D", f"state.checkpoints.dir={tmp}/checkpoints", "-D", f"state.savepoints.dir={tmp}/savepoints",
         "-D", f"env.log.dir={tmp}/logs", "-D", "rest.server.max-content-length=1048576"],
        # in the temp dir: a savepoint to a relative directory (the fuzzer sends some) lands there
        stdout=strom_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp)
    failed = []
    passed = 0
    try:
        rest = Rest(base)
        until("the REST API", lambda: rest.get("/overview")["taskmanagers"] == 1)
        params = real_ids(rest)
        config = os.path.join(tmp, "real-ids.toml")
        plain = os.path.join(tmp, "plain.toml")
        open(plain, "w").close()
        with open(config, "w") as f:
            f.write("[parameters]\n")
            for k, v in params.items():
                f.write(f"{toml_value(k)} = {toml_value(v)}\n")
        runs = [
            ("get", "GET operations on the real ids, without a token", config, base,
             ["--include-method", "GET"]),
            ("all", "every operation but DELETE /cluster under /v1, with the token", plain,
             base + "/v1", ["--exclude-path", "/cluster", "-H", f"Authorization: Bearer {TOKEN}"]),
        ]
        for short, name, cfg, url, extra in runs:
            log_path = os.path.join(out_dir, f"schemathesis-{short}.log")
            with open(log_path, "w") as log:
                rc = schemathesis(st, cfg, url, extra, log)
            with open(log_path, errors="replace") as log:
                tail = log.read()[-6000:]
            print(f"--- schemathesis: {name}: exit {rc} (log: {log_path})\n{tail}", flush=True)
            if rc != 0:
                failed.append(name)
            else:
                passed += 1
            if proc.poll() is not None:
                failed.append(f"strom standalone exited ({proc.returncode}) during: {name}")
                break
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        strom_log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    with open(os.path.join(out_dir, "strom.log"), errors="replace") as f:
        if "panicked" in f.read():
            failed.append("a thread of strom panicked (target/rest-fuzz/strom.log)")
    if failed:
        print("REST fuzz FAILED: " + "; ".join(failed), flush=True)
    else:
        print("REST fuzz: every answer agreed with the document, no 5xx", flush=True)
    print(f"rest-fuzz: {passed} passed, {len(failed)} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
