#!/usr/bin/env bash
# Checkpoint benchmark (issue 6), release build, 1 JobManager + 2 TaskManager processes:
#  1. q5 over the 5M-row bids file at p=2 into the exactly-once filesystem sink, without
#     checkpoints and with checkpoints every 1 s, 100 ms and 20 ms: job time (median of runs),
#     overhead against no checkpoints, completed checkpoints, their mean duration and size.
#  2. Recovery: q5 over an unbounded-rate datagen source (bids, 200,000 rows/s) with checkpoints
#     every 1 s; `kill -9` of a TaskManager (a replacement is started at once), then the time from
#     the kill until the job is RUNNING again with every task running, and until the next
#     checkpoint completes. Default heartbeat settings: the tasks on the surviving TaskManager
#     see the lost connection at once, and the dead one's port refuses the cancel calls, so
#     detection does not wait for the heartbeat timeout.
#
# Environment (all optional): BENCH_ROWS (5000000), BENCH_RUNS (3), BENCH_SKIP_BUILD=1,
# BENCH_OUT=FILE, STROM_SHARED_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${STROM_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}
SQL_DIR=$SHARED/bench/sql
ROWS=${BENCH_ROWS:-5000000}
RUNS=${BENCH_RUNS:-3}
BIN=$ROOT/target/release/strom
DATA_DIR=$ROOT/bench/data

die() { echo "checkpoints.sh: $*" >&2; exit 1; }
log() { echo "[bench] $*" >&2; }
[[ -f $SQL_DIR/bid_source.sql ]] || die "no $SQL_DIR/bid_source.sql; set STROM_SHARED_DIR"
command -v curl >/dev/null || die "curl is needed"
command -v python3 >/dev/null || die "python3 is needed"

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

LOGS=$(mktemp -d "${TMPDIR:-/tmp}/strom-ckpt-bench.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

# --- the cluster -----------------------------------------------------------------------------
(cd "$LOGS" && exec "$BIN" jobmanager -D rest.port=0 -D jobmanager.rpc.port=0 >jm.out 2>jm.err) &
PIDS+=($!)
for _ in $(seq 1 500); do grep -q 'ready in' "$LOGS/jm.out" 2>/dev/null && break; sleep 0.01; done
REST=$(grep -oE 'REST http://[0-9.]+:[0-9]+' "$LOGS/jm.out" | sed 's/REST //')
RPC=$(grep -oE 'RPC [0-9.]+:[0-9]+' "$LOGS/jm.out" | sed 's/RPC //')
[[ -n $REST && -n $RPC ]] || die "the JobManager did not start: $(cat "$LOGS/jm.err")"
TMS=0
declare -A TM_PID
start_tm() {
    TMS=$((TMS + 1))
    (cd "$LOGS" && exec "$BIN" taskmanager --jobmanager "$RPC" --slots 2 >"tm$TMS.out" 2>"tm$TMS.err") &
    PIDS+=($!)
    TM_PID[$TMS]=$!
    for _ in $(seq 1 1000); do grep -q 'registered at the JobManager' "$LOGS/tm$TMS.out" 2>/dev/null && return; sleep 0.01; done
    die "TaskManager $TMS did not register: $(cat "$LOGS/tm$TMS.err")"
}
start_tm
start_tm
log "cluster: REST $REST, RPC $RPC"

q5_sql() { # interval_or_empty out_dir -> SQL on stdout
    [[ -n $1 ]] && echo "SET 'execution.checkpointing.interval' = '$1';"
    echo "SET 'state.checkpoints.dir' = '$LOGS/checkpoints';"
    cat "$SQL_DIR/bid_source.sql"
    sed "s|WITH ('connector' = 'blackhole')|WITH ('connector' = 'filesystem', 'path' = '$2', 'format' = 'csv')|" "$SQL_DIR/q5.sql"
}

# --- 1. overhead -----------------------------------------------------------------------------
REPORT=()
BASE=""
for interval in none 1s 100ms 20ms; do
    times=() counts=() durs=() sizes=()
    for ((r = 1; r <= RUNS; r++)); do
        out=$LOGS/q5-$interval-$r
        rm -rf "$out.dir"
        q5_sql "$([[ $interval == none ]] || echo "$interval")" "$out.dir" >"$out.sql"
        BID_PATH=$DATA "$BIN" sql -f "$out.sql" -p 2 --jobmanager "$REST" >"$out.out" 2>&1 ||
            die "q5 ($interval) failed: $(tail -n 5 "$out.out")"
        line=$(grep -E 'Job [0-9a-f]{32} FINISHED in [0-9]+ ms' "$out.out" | tail -n 1)
        [[ -n $line ]] || die "no FINISHED line in $out.out"
        id=$(grep -oE '[0-9a-f]{32}' <<<"$line" | head -n 1)
        ms=$(sed -E 's/.* FINISHED in ([0-9]+) ms.*/\1/' <<<"$line")
        times+=("$(awk -v m="$ms" 'BEGIN {printf "%.3f", m / 1000}')")
        ck=$(curl -sf "$REST/jobs/$id/checkpoints")
        counts+=("$(json 'd["counts"]["completed"]' <<<"$ck")")
        durs+=("$(json 'd["summary"]["end_to_end_duration"]["avg"]' <<<"$ck")")
        sizes+=("$(json 'd["summary"]["state_size"]["avg"]' <<<"$ck")")
    done
    t=$(printf '%s\n' "${times[@]}" | median)
    [[ $interval == none ]] && BASE=$t
    over=$(awk -v a="$t" -v b="$BASE" 'BEGIN {printf "%+.1f%%", (a / b - 1) * 100}')
    n=$(printf '%s\n' "${counts[@]}" | median)
    d=$(printf '%s\n' "${durs[@]}" | median)
    s=$(printf '%s\n' "${sizes[@]}" | median)
    REPORT+=("| $interval | $t | $(awk -v n="$ROWS" -v s="$t" 'BEGIN {printf "%.2f M", n / s / 1e6}') | $over | $n | $d | $(awk -v b="$s" 'BEGIN {printf "%.1f", b / 1024}') |")
    log "q5 checkpoints=$interval: ${t}s, $n checkpoints"
done

# --- 2. recovery after kill -9 ---------------------------------------------------------------
REC=$LOGS/recovery
mkdir -p "$REC"
{
    echo "SET 'execution.checkpointing.interval' = '1s';"
    echo "SET 'state.checkpoints.dir' = '$LOGS/checkpoints';"
    echo "SET 'restart-strategy.type' = 'fixed-delay';"
    echo "SET 'restart-strategy.fixed-delay.attempts' = '10';"
    echo "SET 'restart-strategy.fixed-delay.delay' = '100 ms';"
    sed -e "s|'connector' = 'filesystem',|'connector' = 'datagen', 'generator' = 'bids', 'number-of-rows' = '6000000', 'rows-per-second' = '200000'|" \
        -e "/'path' = /d" -e "/'format' = 'csv'/d" -e '/^--/d' "$SQL_DIR/bid_source.sql"
    sed "s|WITH ('connector' = 'blackhole')|WITH ('connector' = 'filesystem', 'path' = '$REC/out', 'format' = 'csv')|" "$SQL_DIR/q5.sql"
} >"$REC/job.sql"
"$BIN" sql -f "$REC/job.sql" -p 2 --jobmanager "$REST" --detached >"$REC/submit.out" 2>&1 || die "recovery job: $(cat "$REC/submit.out")"
JOB=$(grep -oE '[0-9a-f]{32}' "$REC/submit.out" | head -n 1)
# "<job state> <all tasks running> <latest RUNNING transition, epoch ms>"
state() { curl -sf "$REST/jobs/$JOB" | json 'd["state"] + " " + str(all(v["status"] == "RUNNING" for v in d["vertices"])) + " " + str(d["timestamps"].get("RUNNING", 0))'; }
completed() { curl -sf "$REST/jobs/$JOB/checkpoints" | json 'd["counts"]["completed"]'; }
for _ in $(seq 1 3000); do [[ $(completed) -ge 3 ]] && break; sleep 0.01; done
VICTIM=1
t0=$(date +%s%3N)
kill -9 "${TM_PID[$VICTIM]}"
start_tm &
REPLACEMENT=$!
running_ms="-"
ckpt_ms="-"
transition_ms="-"
while (($(date +%s%3N) - t0 < 60000)); do
    read -r s all since <<<"$(state || echo "? False 0")"
    if [[ $running_ms == - && $s == RUNNING && $all == True && $since -gt $t0 ]]; then
        running_ms=$(($(date +%s%3N) - t0))
        transition_ms=$((since - t0))
        n_before=$(completed)
    fi
    if [[ $running_ms != - && $(completed) -gt $n_before ]]; then
        ckpt_ms=$(($(date +%s%3N) - t0))
        break
    fi
    sleep 0.005
done
wait "$REPLACEMENT" || true
curl -sf -X PATCH "$REST/jobs/$JOB" >/dev/null || true

{
    echo "## Checkpoint benchmark (bench/checkpoints.sh)"
    echo
    echo "Release build, $(nproc) cores, 1 JobManager + 2 TaskManager processes (2 slots each)."
    echo "q5 over $ROWS bids at p=2 into the exactly-once filesystem sink; job time = median of $RUNS runs."
    echo
    echo "| checkpoints | job s | rows/s | overhead | completed checkpoints | mean duration ms | mean size KiB |"
    echo "|---|---|---|---|---|---|---|"
    printf '%s\n' "${REPORT[@]}"
    echo
    echo "Recovery (datagen bids at 200,000 rows/s, checkpoints every 1 s, default heartbeat settings):"
    echo "kill -9 of a TaskManager -> job RUNNING again: ${transition_ms} ms (JobMaster's RUNNING"
    echo "timestamp), all tasks seen running by a REST poll: ${running_ms} ms;"
    echo "-> next checkpoint completed: ${ckpt_ms} ms."
} | tee "${BENCH_OUT:-/dev/null}"
