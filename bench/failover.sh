#!/usr/bin/env bash
# JobManager failover with high availability (high-availability.type: etcd), release build, on
# loopback: an etcd of its own, JobManagers (one leads, one stands by), one TaskManager, and a
# streaming job with checkpoints (Nexmark q5 from the bids generator into CSV files). Each trial
# starts a standby, kills the leader with SIGKILL and measures from the kill to
#   (a) a new leader elected (its "ready" line),
#   (b) the job RUNNING again on it,
#   (c) the job's next completed checkpoint after the restore.
# Prints a markdown table (also to BENCH_OUT) with the lease and heartbeat settings.
#
# Environment (all optional):
#   FAILOVER_TRIALS=10      kills
#   FAILOVER_LEASE=2        high-availability.etcd.lease-ttl, seconds
#   BENCH_SKIP_BUILD=1      use the existing target/release/strom
#   BENCH_OUT=FILE          also write the report to FILE
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TRIALS=${FAILOVER_TRIALS:-10}
LEASE=${FAILOVER_LEASE:-2}
BIN=$ROOT/target/release/strom
SHARED=${STROM_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "[failover] $*" >&2; }

command -v etcd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
    log "cargo build --release -p strom"
    (cd "$ROOT" && cargo build --release -p strom)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

EP=$(free_port); PEER=$(free_port)
etcd --data-dir "$WORK/etcd" --name b --listen-client-urls "http://127.0.0.1:$EP" \
    --advertise-client-urls "http://127.0.0.1:$EP" --listen-peer-urls "http://127.0.0.1:$PEER" \
    --initial-advertise-peer-urls "http://127.0.0.1:$PEER" --initial-cluster "b=http://127.0.0.1:$PEER" \
    >"$WORK/etcd.log" 2>&1 &
PIDS+=($!); disown $!
until grep -q "ready to serve client requests" "$WORK/etcd.log"; do sleep 0.1; done

CONF=(-D high-availability.type=etcd -D "high-availability.etcd.endpoints=127.0.0.1:$EP"
      -D high-availability.cluster-id=bench -D "high-availability.storageDir=$WORK/ha"
      -D "high-availability.etcd.lease-ttl=${LEASE}s"
      -D heartbeat.interval=200ms -D heartbeat.timeout=1s)
N=0
start_jm() {
    N=$((N + 1))
    "$BIN" jobmanager -D rest.port=0 -D jobmanager.rpc.port=0 "${CONF[@]}" >"$WORK/jm$N.out" 2>"$WORK/jm$N.err" &
    PIDS+=($!); disown $!
    JM_PID=$!
}
rest_of() { sed -n 's/.*REST \(http:[^,]*\),.*/\1/p' "$WORK/jm$1.out" | head -1; }
wait_ready() { until grep -q "Strom JobManager ready" "$WORK/jm$1.out"; do sleep 0.01; done; }

start_jm; LEADER=$N; LEADER_PID=$JM_PID; wait_ready "$LEADER"
"$BIN" taskmanager --slots 4 "${CONF[@]}" >"$WORK/tm.out" 2>"$WORK/tm.err" &
PIDS+=($!); disown $!
until grep -q "registered at the JobManager" "$WORK/tm.out"; do sleep 0.1; done

# a job long enough for every trial: 50,000 bids/s
ROWS=$(( (TRIALS * (LEASE + 4) + 20) * 50000 ))
sed "s|WITH ('connector' = 'blackhole')|WITH ('connector' = 'filesystem', 'path' = '$WORK/out', 'format' = 'csv')|" \
    "$SHARED/bench/sql/q5.sql" >"$WORK/q5-body.sql"
cat >"$WORK/q5.sql" <<SQL
SET 'execution.checkpointing.interval' = '500ms';
SET 'state.checkpoints.dir' = '$WORK/checkpoints';
CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  date_time TIMESTAMP(3), extra STRING, WATERMARK FOR date_time AS date_time - INTERVAL '0.001' SECOND)
WITH ('connector' = 'datagen', 'generator' = 'bids', 'number-of-rows' = '$ROWS', 'rows-per-second' = '50000');
SQL
cat "$WORK/q5-body.sql" >>"$WORK/q5.sql"
JOB=$("$BIN" sql -f "$WORK/q5.sql" -p 2 --detached "${CONF[@]}" | sed -n 's/.*JobID \([0-9a-f]*\).*/\1/p')
log "job $JOB, $ROWS rows; lease ${LEASE} s"
completed() { curl -s "$1/jobs/$JOB/checkpoints" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["completed"])' 2>/dev/null || echo 0; }
state() { curl -s "$1/jobs/$JOB" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null || echo NONE; }

ROWS_OUT="| trial | new leader (ms) | job RUNNING (ms) | next checkpoint (ms) |
|---|---|---|---|"
for t in $(seq 1 "$TRIALS"); do
    R=$(rest_of "$LEADER")
    until [[ $(state "$R") == RUNNING && $(completed "$R") -ge 1 ]]; do sleep 0.05; done
    start_jm; NEXT=$N; NEXT_PID=$JM_PID
    until grep -q "stands by" "$WORK/jm$NEXT.out"; do sleep 0.05; done
    T0=$(now_ms)
    kill -9 "$LEADER_PID"
    wait_ready "$NEXT"; T1=$(now_ms)
    R=$(rest_of "$NEXT")
    until [[ $(state "$R") == RUNNING ]]; do sleep 0.01; done; T2=$(now_ms)
    until [[ $(completed "$R") -ge 1 ]]; do sleep 0.01; done; T3=$(now_ms)
    ROWS_OUT+="
| $t | $((T1 - T0)) | $((T2 - T0)) | $((T3 - T0)) |"
    log "trial $t: leader $((T1 - T0)) ms, RUNNING $((T2 - T0)) ms, checkpoint $((T3 - T0)) ms"
    LEADER=$NEXT; LEADER_PID=$NEXT_PID
done
REPORT="## JobManager failover (kill -9 of the leader), $TRIALS trials

lease ${LEASE} s (high-availability.etcd.lease-ttl), heartbeat.interval 200 ms, heartbeat.timeout 1 s,
checkpoints every 500 ms; q5 from the bids generator at 50,000 rows/s, p=2, one TaskManager.
Flink's defaults for comparison: Kubernetes HA lease 15 s, ZooKeeper session 60 s.

$ROWS_OUT"
echo "$REPORT"
[[ -n ${BENCH_OUT:-} ]] && echo "$REPORT" >"$BENCH_OUT"
exit 0
