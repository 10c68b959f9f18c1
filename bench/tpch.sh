#!/usr/bin/env bash
# TPC-H's 22 queries (bench/tpch/queries) in batch mode: Strom at p=2 on the embedded cluster
# beside DuckDB (2 threads) and DataFusion (2 partitions, its Python package, in process), in
# the same run on the same files (CSV, or Parquet with TPCH_FORMAT=parquet). Each Strom answer is checked against DuckDB's
# (crates/strom/tests/tpch/tpch.py). Prints a markdown table: seconds and peak RSS per engine,
# the ratios, and the geometric means.
#
# Environment (all optional):
#   TPCH_SF=1                   scale factor (data in bench/data/tpch-sf<SF>/, made once)
#   TPCH_QUERIES="1 2 ... 22"
#   TPCH_P=2                    Strom's parallelism
#   TPCH_RUNS=3                 runs per engine and query: the median time and the largest peak
#                               RSS are reported (this VM's times vary run to run, see RESULTS)
#   TPCH_FORMAT=csv             csv | parquet (tpchgen-cli's Parquet: SNAPPY, row groups of ~7 MiB)
#   BENCH_SKIP_BUILD=1          use the existing target/release/strom
#   BENCH_OUT=FILE              also write the report to FILE
#   TPCH_CLUSTER=1              also run Strom on 1 JobManager + 2 TaskManager processes (1 slot
#                               each, so a stage's 2 subtasks run in both and the exchanges cross
#                               TCP); adds the columns Cluster s (job time), TM MiB (the larger of
#                               the TaskManagers' peak RSS during the query) and Cluster/DuckDB
#   TPCH_FLINK=1                also run Apache Flink 2.3.0 (bench/tpch_flink.py: PyFlink, batch
#                               mode, p=2, local MiniCluster); adds the columns Flink s (its job
#                               time), Flink MiB (JVM + Python peak RSS) and Strom/Flink
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SF=${TPCH_SF:-1}
QUERIES=${TPCH_QUERIES:-$(seq -s ' ' 1 22)}
P=${TPCH_P:-2}
RUNS=${TPCH_RUNS:-3}
BIN=$ROOT/target/release/strom
FORMAT=${TPCH_FORMAT:-csv}
DATA=$ROOT/bench/data/tpch-sf$SF
[[ $FORMAT == csv ]] || DATA=$DATA-$FORMAT
ORACLE=$ROOT/crates/strom/tests/tpch/tpch.py
PEER=$ROOT/bench/tpch_peer.py
FLINK=$ROOT/bench/tpch_flink.py
WORK=$(mktemp -d)

log() { echo "[tpch] $*" >&2; }

[[ -x /usr/bin/time ]] || { apt-get update -qq && apt-get install -y -qq time; }
python3 -c "import duckdb" 2>/dev/null || python3 -m pip install --quiet duckdb
python3 -c "import datafusion" 2>/dev/null || python3 -m pip install --quiet datafusion
command -v tpchgen-cli >/dev/null || python3 -m pip install --quiet tpchgen-cli

if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
    log "cargo build --release -p strom"
    (cd "$ROOT" && cargo build --release -p strom)
fi

if [[ ! -f $DATA/lineitem.$FORMAT ]]; then
    log "writing TPC-H SF $SF to $DATA"
    mkdir -p "$DATA.tmp/raw"
    if [[ $FORMAT == parquet ]]; then
        tpchgen-cli parquet -s "$SF" --output-dir "$DATA.tmp"
    else
        tpchgen-cli csv -s "$SF" --output-dir "$DATA.tmp/raw"
        for f in "$DATA.tmp/raw"/*.csv; do tail -n +2 "$f" > "$DATA.tmp/$(basename "$f")"; done
    fi
    rm -rf "$DATA.tmp/raw" && mv "$DATA.tmp" "$DATA"
fi
sed -e "s#{dir}#$DATA#g; s#{format}#$FORMAT#g" "$ROOT/bench/tpch/schema.sql" > "$WORK/schema.sql"

# seconds and peak RSS (MiB) of a command run under GNU time
measure() {
    /usr/bin/time -v "$@" > "$WORK/out" 2> "$WORK/time" || { cat "$WORK/out" "$WORK/time" >&2; return 1; }
    local rss
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time")
    echo "$((rss / 1024))"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
# runs "$@" RUNS times under measure; sets run_s (median of what $time_of reads from the output)
# and run_mib (the largest peak RSS)
runs() {
    local time_of=$1 ts=() mib m; shift
    run_mib=0
    for ((r = 1; r <= RUNS; r++)); do
        [[ -z ${CLEAN:-} ]] || rm -rf "$CLEAN"
        m=$(measure "$@") || return 1
        ((m > run_mib)) && run_mib=$m
        ts+=("$($time_of)")
    done
    run_s=$(printf '%s\n' "${ts[@]}" | median)
}
strom_time() { grep -o 'FINISHED in [0-9]* ms' "$WORK/out" | awk '{printf "%.3f", $3 / 1000}'; }
peer_time() { awk '{print $1}' "$WORK/out"; }

report() { echo "$*"; [[ -z ${BENCH_OUT:-} ]] || echo "$*" >> "$BENCH_OUT"; }
[[ -z ${BENCH_OUT:-} ]] || : > "$BENCH_OUT"

# --- optional: a cluster of JobManager and TaskManager processes (TPCH_CLUSTER=1) ---
cl_title=""; cl_head=""; cl_rule=""; cl_cols=""; ln_sum_cl=0; cl_n=0; PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
if [[ -n ${TPCH_CLUSTER:-} ]]; then
    (cd "$WORK" && exec "$BIN" jobmanager -D rest.port=0 -D jobmanager.rpc.port=0 > jm.out 2> jm.err) &
    PIDS+=($!)
    for _ in $(seq 1 500); do grep -q 'ready in' "$WORK/jm.out" 2>/dev/null && break; sleep 0.01; done
    REST=$(grep -oE 'REST http://[0-9.]+:[0-9]+' "$WORK/jm.out" | sed 's/REST //')
    RPC=$(grep -oE 'RPC [0-9.]+:[0-9]+' "$WORK/jm.out" | sed 's/RPC //')
    [[ -n $REST && -n $RPC ]] || { echo "the JobManager did not start: $(cat "$WORK/jm.err")" >&2; exit 1; }
    TMS=()
    for i in 1 2; do
        (cd "$WORK" && exec "$BIN" taskmanager --jobmanager "$RPC" --slots 1 > "tm$i.out" 2> "tm$i.err") &
        PIDS+=($!); TMS+=($!)
    done
    for _ in $(seq 1 500); do
        [[ $(cat "$WORK"/tm*.out 2>/dev/null | grep -c 'registered at the JobManager') -ge 2 ]] && break
        sleep 0.01
    done
    log "cluster: REST $REST, TaskManagers ${TMS[*]}"
    cl_title=", Strom p=2 on 1 JobManager + 2 TaskManagers of 1 slot (job time; MiB = larger TaskManager peak RSS)"
    cl_head=" Cluster s | TM MiB | Cluster/DuckDB |"; cl_rule="---|---|---|"
fi
# the cluster's job time and its TaskManagers' peak RSS for query $q (the answer checked too)
cluster_run() {
    cl_cols=" failed | | |"
    python3 "$ORACLE" sink "$WORK/schema.sql" "$DATA" "$query" | sed "s#{out}#$out-cl#" > "$WORK/q$q-cl.sql"
    local ts=() r cl_s cl_mib=0 m cl_r
    for t in "${TMS[@]}"; do echo 5 > "/proc/$t/clear_refs"; done   # VmHWM back to the current RSS
    for ((r = 1; r <= RUNS; r++)); do
        rm -rf "$out-cl"
        "$BIN" sql -f "$WORK/schema.sql" -f "$WORK/q$q-cl.sql" -p "$P" -D execution.runtime-mode=batch \
            --jobmanager "$REST" > "$WORK/cl.out" 2>&1 || { cat "$WORK/cl.out" >&2; return 0; }
        ts+=("$(grep -o 'FINISHED in [0-9]* ms' "$WORK/cl.out" | awk '{printf "%.3f", $3 / 1000}')")
    done
    python3 "$ORACLE" check "$WORK/schema.sql" "$DATA" "$query" "$out-cl" > "$WORK/check" 2>&1 \
        || { cat "$WORK/check" >&2; right=NO; }
    cl_s=$(printf '%s\n' "${ts[@]}" | median)
    for t in "${TMS[@]}"; do
        m=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$t/status")
        ((m > cl_mib)) && cl_mib=$m
    done
    cl_r=$(awk -v a="$cl_s" -v b="$duck_s" 'BEGIN {printf "%.2f", a / b}')
    ln_sum_cl=$(awk -v s="$ln_sum_cl" -v r="$cl_r" 'BEGIN {print s + log(r)}')
    cl_cols=" $cl_s | $cl_mib | $cl_r |"; cl_n=$((cl_n + 1))
}

# --- optional: Flink (TPCH_FLINK=1); its columns are empty strings otherwise ---
fl_title=""; fl_head=""; fl_rule=""; fl_cols=""; ln_sum_fl=0; fl_n=0
if [[ -n ${TPCH_FLINK:-} ]]; then
    python3 "$FLINK" --setup > /dev/null   # its virtual environment, made once
    fl_title=", Flink 2.3.0 p=2 local MiniCluster (job time; MiB = JVM + Python)"
    fl_head=" Flink s | Flink MiB | Strom/Flink |"; fl_rule="---|---|---|"
fi
# Flink's job time and peak RSS for query $1 (from the stats line tpch_flink.py prints on stderr)
# (a failure leaves the row's Flink cells at "failed" and the mean without that query)
flink_run() {
    fl_cols=" failed | | |"
    measure python3 "$FLINK" "$WORK/schema.sql" "$DATA" "$1" > /dev/null || return 0
    log "q$q: Flink $(grep '^flink: ' "$WORK/time" | cut -c8-)"
    fl_s=$(grep -o 'job_s=[0-9.]*' "$WORK/time" | cut -d= -f2)
    fl_mib=$(grep -o 'peak_rss_mib=[0-9]*' "$WORK/time" | cut -d= -f2)
    fl_r=$(awk -v a="$strom_s" -v b="$fl_s" 'BEGIN {printf "%.2f", a / b}')
    ln_sum_fl=$(awk -v s="$ln_sum_fl" -v r="$fl_r" 'BEGIN {print s + log(r)}')
    fl_cols=" $fl_s | $fl_mib | $fl_r |"; fl_n=$((fl_n + 1))
}

report "TPC-H SF $SF, $FORMAT, $(nproc) cores; Strom p=$P embedded (job time), DuckDB 2 threads, DataFusion 2 partitions$cl_title$fl_title; s = seconds, MiB = peak RSS of the process"
report ""
report "| query | right | Strom s | Strom MiB | DuckDB s | DuckDB MiB | DataFusion s | DataFusion MiB | Strom/DuckDB | Strom/DataFusion |$cl_head$fl_head"
report "|---|---|---|---|---|---|---|---|---|---|$cl_rule$fl_rule"
ln_sum_duck=0; ln_sum_df=0; n=0; worst=0
for q in $QUERIES; do
    query=$ROOT/bench/tpch/queries/q$q.sql
    out=$WORK/q$q
    python3 "$ORACLE" sink "$WORK/schema.sql" "$DATA" "$query" | sed "s#{out}#$out#" > "$WORK/q$q.sql"
    CLEAN=$out runs strom_time "$BIN" sql -f "$WORK/schema.sql" -f "$WORK/q$q.sql" -p "$P" -D execution.runtime-mode=batch
    strom_s=$run_s; strom_mib=$run_mib
    right=yes
    python3 "$ORACLE" check "$WORK/schema.sql" "$DATA" "$query" "$out" > "$WORK/check" 2>&1 || { right=NO; cat "$WORK/check" >&2; }
    runs peer_time python3 "$PEER" duckdb "$WORK/schema.sql" "$DATA" "$query"
    duck_s=$run_s; duck_mib=$run_mib
    runs peer_time python3 "$PEER" datafusion "$WORK/schema.sql" "$DATA" "$query"
    df_s=$run_s; df_mib=$run_mib
    r_duck=$(awk -v a="$strom_s" -v b="$duck_s" 'BEGIN {printf "%.2f", a / b}')
    r_df=$(awk -v a="$strom_s" -v b="$df_s" 'BEGIN {printf "%.2f", a / b}')
    ln_sum_duck=$(awk -v s="$ln_sum_duck" -v r="$r_duck" 'BEGIN {print s + log(r)}')
    ln_sum_df=$(awk -v s="$ln_sum_df" -v r="$r_df" 'BEGIN {print s + log(r)}')
    worst=$(awk -v w="$worst" -v r="$r_duck" 'BEGIN {print (r > w) ? r : w}')
    [[ -z ${TPCH_CLUSTER:-} ]] || cluster_run
    [[ -z ${TPCH_FLINK:-} ]] || flink_run "$query"
    n=$((n + 1))
    report "| q$q | $right | $strom_s | $strom_mib | $duck_s | $duck_mib | $df_s | $df_mib | $r_duck | $r_df |$cl_cols$fl_cols"
    log "q$q: Strom ${strom_s}s ${strom_mib}MiB, DuckDB ${duck_s}s, DataFusion ${df_s}s ($right)"
done
report ""
report "Geometric mean of the ratios: Strom/DuckDB $(awk -v s="$ln_sum_duck" -v n="$n" 'BEGIN {printf "%.2f", exp(s / n)}'), Strom/DataFusion $(awk -v s="$ln_sum_df" -v n="$n" 'BEGIN {printf "%.2f", exp(s / n)}'); slowest against DuckDB: ${worst}x"
[[ -z ${TPCH_CLUSTER:-} ]] || report "Geometric mean of Cluster/DuckDB: $(awk -v s="$ln_sum_cl" -v n="$cl_n" 'BEGIN {printf "%.2f", exp(s / n)}') ($cl_n queries)"
[[ -z ${TPCH_FLINK:-} ]] || report "Geometric mean of Strom/Flink: $(awk -v s="$ln_sum_fl" -v n="$fl_n" 'BEGIN {printf "%.2f", exp(s / n)}') ($fl_n queries)"
