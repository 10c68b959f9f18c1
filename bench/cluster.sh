#!/usr/bin/env bash
# Strom on a real cluster: 1 JobManager + 2 TaskManager processes on this machine, the five bid
# queries at p=2 (subtasks spread over both TaskManagers, exchanges over the network), next to the
# same queries on the embedded cluster; plus the shuffle throughput of q5 with one-phase
# aggregation (every row crosses the hash exchange). See bench/README.md.
#
# Environment (all optional): BENCH_ROWS (5000000), BENCH_QUERIES ("q0 q1 q2 q5 q7"), BENCH_RUNS (3),
# BENCH_SKIP_BUILD=1, BENCH_OUT=FILE, STROM_SHARED_DIR, BENCH_TLS=1 (the cluster's processes talk
# through internal TLS, with certificates from scripts/tls-certs.sh: what encryption costs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${STROM_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}
SQL_DIR=$SHARED/bench/sql
ROWS=${BENCH_ROWS:-5000000}
QUERIES=${BENCH_QUERIES:-"q0 q1 q2 q5 q7"}
RUNS=${BENCH_RUNS:-3}
BIN=$ROOT/target/release/strom
DATA_DIR=$ROOT/bench/data

die() { echo "cluster.sh: $*" >&2; exit 1; }
log() { echo "[bench] $*" >&2; }
[[ -f $SQL_DIR/bid_source.sql ]] || die "no $SQL_DIR/bid_source.sql; set STROM_SHARED_DIR"

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    (cd "$ROOT" && cargo build --release -p strom)
fi
[[ -x $BIN ]] || die "no $BIN"
mkdir -p "$DATA_DIR"
DATA=$DATA_DIR/bids-cluster-$ROWS.csv
[[ $ROWS -eq 5000000 && -f $DATA_DIR/bids.csv ]] && DATA=$DATA_DIR/bids.csv
if [[ ! -f $DATA || $(wc -l <"$DATA") -ne $ROWS ]]; then
    log "generating $ROWS bids into $DATA"
    "$BIN" gen-bids "$ROWS" "$DATA" >&2
fi

LOGS=$(mktemp -d "${TMPDIR:-/tmp}/strom-cluster-bench.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# --- the cluster -----------------------------------------------------------------------------
TLS=()
if [[ ${BENCH_TLS:-0} == 1 ]]; then
    bash "$ROOT/scripts/tls-certs.sh" "$LOGS/tls" >&2
    TLS=(-D security.ssl.internal.enabled=true -D "security.ssl.internal.keystore=$LOGS/tls/node.pem"
         -D "security.ssl.internal.truststore=$LOGS/tls/ca.pem")
fi
(cd "$LOGS" && exec "$BIN" jobmanager -D rest.port=0 -D jobmanager.rpc.port=0 "${TLS[@]}" >jm.out 2>jm.err) &
PIDS+=($!)
for _ in $(seq 1 500); do grep -q 'ready in' "$LOGS/jm.out" 2>/dev/null && break; sleep 0.01; done
REST=$(grep -oE 'REST http://[0-9.]+:[0-9]+' "$LOGS/jm.out" | sed 's/REST //')
RPC=$(grep -oE 'RPC [0-9.]+:[0-9]+' "$LOGS/jm.out" | sed 's/RPC //')
[[ -n $REST && -n $RPC ]] || die "the JobManager did not start: $(cat "$LOGS/jm.err")"
TM_PIDS=()
for i in 1 2; do
    (cd "$LOGS" && exec "$BIN" taskmanager --jobmanager "$RPC" --slots 2 "${TLS[@]}" >"tm$i.out" 2>"tm$i.err") &
    PIDS+=($!)
    TM_PIDS+=($!)
done
for _ in $(seq 1 500); do
    [[ $(grep -ho 'registered at the JobManager' "$LOGS"/tm*.out 2>/dev/null | wc -l) -ge 2 ]] && break
    sleep 0.01
done
log "cluster: REST $REST, RPC $RPC, TaskManagers ${TM_PIDS[*]}"

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
job_seconds() { grep -E 'Job [0-9a-f]{32} FINISHED in [0-9]+ ms' "$1" | tail -n 1 | sed -E 's/.* FINISHED in ([0-9]+) ms.*/\1/' | awk '{printf "%.3f", $1 / 1000}'; }
rss_mib() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

REPORT=()
for q in $QUERIES; do
    emb=() clu=()
    for ((r = 1; r <= RUNS; r++)); do
        log "$q run $r/$RUNS: embedded, then cluster"
        BID_PATH=$DATA "$BIN" sql -f "$SQL_DIR/bid_source.sql" -f "$SQL_DIR/$q.sql" -p 2 >"$LOGS/$q-emb-$r.out" 2>&1 || die "embedded $q failed: $(tail -n 5 "$LOGS/$q-emb-$r.out")"
        emb+=("$(job_seconds "$LOGS/$q-emb-$r.out")")
        BID_PATH=$DATA "$BIN" sql -f "$SQL_DIR/bid_source.sql" -f "$SQL_DIR/$q.sql" -p 2 --jobmanager "$REST" >"$LOGS/$q-clu-$r.out" 2>&1 || die "cluster $q failed: $(tail -n 5 "$LOGS/$q-clu-$r.out")"
        clu+=("$(job_seconds "$LOGS/$q-clu-$r.out")")
    done
    e=$(printf '%s\n' "${emb[@]}" | median)
    c=$(printf '%s\n' "${clu[@]}" | median)
    REPORT+=("| $q | $e | $c | $(awk -v e="$e" -v c="$c" 'BEGIN {printf "%+.0f%%", (c - e) / e * 100}') | $(awk -v n="$ROWS" -v c="$c" 'BEGIN {printf "%.2f M", n / c / 1e6}') |")
done

# --- shuffle throughput: q5, one-phase aggregation: every row crosses the hash exchange --------
ONE=$LOGS/one_phase.sql
echo "SET 'table.optimizer.agg-phase-strategy' = 'ONE_PHASE';" >"$ONE"
SHUF=()
for ((r = 1; r <= RUNS; r++)); do
    BID_PATH=$DATA "$BIN" sql -f "$ONE" -f "$SQL_DIR/bid_source.sql" -f "$SQL_DIR/q5.sql" -p 2 --jobmanager "$REST" >"$LOGS/shuffle-$r.out" 2>&1 || die "shuffle run failed"
    SHUF+=("$(job_seconds "$LOGS/shuffle-$r.out")")
done
shuf_s=$(printf '%s\n' "${SHUF[@]}" | median)
JOB=$(grep -oE 'JobID [0-9a-f]{32}' "$LOGS/shuffle-$RUNS.out" | awk '{print $2}')
BYTES=$(curl -s "$REST/jobs/$JOB" | python3 -c "
import json, sys
j = json.load(sys.stdin)
src = [v for v in j['vertices'] if v['name'].startswith('Source')][0]
print(src['metrics']['write-bytes'])")
RSS1=$(rss_mib "${TM_PIDS[0]}")
RSS2=$(rss_mib "${TM_PIDS[1]}")
RSSJ=$(rss_mib "${PIDS[0]}")

{
    echo "## Strom on 1 JobManager + 2 TaskManager processes$([[ ${BENCH_TLS:-0} == 1 ]] && echo ', internal TLS')"
    echo
    echo "$ROWS bids, $(nproc) cores, strom $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ), p=2 streaming, medians of $RUNS."
    echo
    echo "| query | embedded job s | cluster job s | cluster vs embedded | cluster rows/s |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${REPORT[@]}"
    echo
    echo "Shuffle: q5 with one-phase aggregation (all $ROWS rows hash-partitioned, half of them to the"
    echo "other TaskManager process): $shuf_s s, $(awk -v n="$ROWS" -v s="$shuf_s" 'BEGIN {printf "%.2f M rows/s", n / s / 1e6}'),"
    echo "$(awk -v b="$BYTES" -v s="$shuf_s" 'BEGIN {printf "%.0f MB/s", b / s / 1e6}') of Arrow data out of the sources ($BYTES bytes)."
    echo
    echo "Peak RSS after all runs: JobManager $RSSJ MiB, TaskManagers $RSS1 MiB and $RSS2 MiB."
} | tee "${BENCH_OUT:-/dev/null}"
