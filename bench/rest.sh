#!/usr/bin/env bash
# The REST API under a monitoring load: 1 JobManager + 2 TaskManager processes (release build)
# running q5 over generated bids at 20,000 rows/s (p=2, checkpoints every second); then, over one
# keep-alive connection on loopback, BENCH_CALLS sequential GETs of each endpoint a dashboard or
# a Prometheus scraper polls. Prints median / p99 / max latency per endpoint and the processes'
# RSS before and after. See bench/README.md.
#
# Environment (all optional): BENCH_CALLS (500), BENCH_SKIP_BUILD=1, BENCH_OUT=FILE.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CALLS=${BENCH_CALLS:-500}
BIN=$ROOT/target/release/strom
die() { echo "rest.sh: $*" >&2; exit 1; }
log() { echo "[bench] $*" >&2; }

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    (cd "$ROOT" && cargo build --release -p strom)
fi
[[ -x $BIN ]] || die "no $BIN"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

"$BIN" jobmanager -D rest.port=0 -D jobmanager.rpc.port=0 -D env.log.dir="$WORK/log" >"$WORK/jm.out" 2>/dev/null &
PIDS+=($!)
JM_PID=$!
for _ in $(seq 100); do grep -q 'ready in' "$WORK/jm.out" 2>/dev/null && break; sleep 0.1; done
REST=$(grep -o 'REST http://[0-9.:]*' "$WORK/jm.out" | cut -d' ' -f2)
RPC=$(grep -o 'RPC [0-9.:]*' "$WORK/jm.out" | head -1 | cut -d' ' -f2)
[[ -n $REST && -n $RPC ]] || die "the JobManager did not start: $(cat "$WORK/jm.out")"
TM_PIDS=()
for i in 1 2; do
    "$BIN" taskmanager --jobmanager "$RPC" --slots 2 -D env.log.dir="$WORK/log" >"$WORK/tm$i.out" 2>/dev/null &
    PIDS+=($!)
    TM_PIDS+=($!)
done
cat >"$WORK/q5.sql" <<'SQL'
SET 'pipeline.name' = 'bench-rest-q5';
SET 'execution.checkpointing.interval' = '1s';
CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  date_time TIMESTAMP(3), extra STRING,
  WATERMARK FOR date_time AS date_time - INTERVAL '0.001' SECOND
) WITH ('connector' = 'datagen', 'generator' = 'bids', 'number-of-rows' = '100000000',
        'rows-per-second' = '20000');
CREATE TABLE sink_q5 (auction BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3), num BIGINT)
  WITH ('connector' = 'blackhole');
INSERT INTO sink_q5
SELECT auction, window_start, window_end, COUNT(*) AS num
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
SQL
for _ in $(seq 100); do
    [[ $(curl -s "$REST/overview" | python3 -c 'import json,sys; print(json.load(sys.stdin)["taskmanagers"])') == 2 ]] && break
    sleep 0.1
done
JOB=$("$BIN" sql -f "$WORK/q5.sql" -p 2 --jobmanager "$REST" --detached | grep -o '[0-9a-f]\{32\}' | head -1)
[[ -n $JOB ]] || die "no job id"
log "job $JOB running; waiting 5 s for checkpoints and rates"
sleep 5
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$1/status"; }
RSS_BEFORE="JobManager $(rss "$JM_PID") MiB, TaskManagers $(rss "${TM_PIDS[0]}") and $(rss "${TM_PIDS[1]}") MiB"

RESULT=$(python3 - "$REST" "$JOB" "$CALLS" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse
base, job, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = urllib.parse.urlparse(base)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
def get(path):
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        raise SystemExit(f"GET {path}: HTTP {r.status}: {body[:300]!r}")
    return body
detail = json.loads(get(f"/jobs/{job}"))
vid = detail["vertices"][0]["id"]
tm = json.loads(get("/taskmanagers"))["taskmanagers"][0]["id"]
paths = ["/overview", "/jobs/overview", f"/jobs/{job}", f"/jobs/{job}/vertices/{vid}",
         f"/jobs/{job}/checkpoints", f"/jobs/{job}/vertices/{vid}/subtasks/metrics?get=numRecordsInPerSecond,busyTimeMsPerSecond",
         f"/taskmanagers/{urllib.parse.quote(tm)}", "/metrics"]
print(f"| endpoint | calls | median ms | p99 ms | max ms | bytes |")
print(f"|---|---|---|---|---|---|")
for p in paths:
    ts, size = [], 0
    for _ in range(calls):
        t = time.perf_counter()
        size = len(get(p))
        ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    name = p.replace(job, ":id").replace(vid, ":vid").replace(urllib.parse.quote(tm), ":tmid")
    print(f"| `{name}` | {calls} | {statistics.median(ts):.3f} | {ts[int(len(ts) * 0.99) - 1]:.3f} | {ts[-1]:.3f} | {size} |")
PY
)
RSS_AFTER="JobManager $(rss "$JM_PID") MiB, TaskManagers $(rss "${TM_PIDS[0]}") and $(rss "${TM_PIDS[1]}") MiB"
STATE=$(curl -s "$REST/jobs/$JOB/status")
OUT=$(cat <<EOF
REST latency, $(date -u +%Y-%m-%d), release build, $(nproc) cores; q5 at 20,000 rows/s on 1 JobManager + 2 TaskManagers
$RESULT

RSS before the calls: $RSS_BEFORE; after: $RSS_AFTER. Job after the calls: $STATE
EOF
)
echo "$OUT"
[[ -n ${BENCH_OUT:-} ]] && echo "$OUT" >"$BENCH_OUT"
exit 0
