#!/usr/bin/env bash
# Strom benchmark: the five bid queries (shared/bench/sql) x streaming/batch x p=1/2 on the
# generated bids CSV, side by side with the Flink 2.3.0 figures of shared/bench/README.md, plus
# the start-to-ready time of `strom standalone`. See bench/README.md.
#
# Environment (all optional):
#   BENCH_ROWS=5000000          rows of the bids file (Flink figures and ratios only for 5000000)
#   BENCH_QUERIES="q0 q1 q2 q5 q7"
#   BENCH_MODES="streaming batch"
#   BENCH_PARALLELISM="1 2"
#   BENCH_RUNS=1                runs per case; the table shows medians (peak RSS: maximum)
#   BENCH_SKIP_BUILD=1          use the existing target/release/strom
#   BENCH_OUT=FILE              also write the markdown report to FILE
#   STROM_SHARED_DIR=DIR        the shared dir holding bench/sql (default: <repo>/../shared)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${STROM_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}
SQL_DIR=$SHARED/bench/sql
ROWS=${BENCH_ROWS:-5000000}
QUERIES=${BENCH_QUERIES:-"q0 q1 q2 q5 q7"}
MODES=${BENCH_MODES:-"streaming batch"}
PARALLELISM=${BENCH_PARALLELISM:-"1 2"}
RUNS=${BENCH_RUNS:-1}
BIN=$ROOT/target/release/strom
DATA_DIR=$ROOT/bench/data
FULL_ROWS=5000000
FULL_SIZE=633703828 # bytes of the 5M-row file (shared/bench/README.md)

die() { echo "run.sh: $*" >&2; exit 1; }
log() { echo "[bench] $*" >&2; }

[[ -f $SQL_DIR/bid_source.sql ]] || die "no $SQL_DIR/bid_source.sql; set STROM_SHARED_DIR"
[[ $ROWS =~ ^[0-9]+$ && $ROWS -gt 0 ]] || die "BENCH_ROWS must be a positive integer"
[[ $RUNS =~ ^[0-9]+$ && $RUNS -gt 0 ]] || die "BENCH_RUNS must be a positive integer"

# --- tools -----------------------------------------------------------------------------------
if [[ ! -x /usr/bin/time ]]; then
    log "installing GNU time (/usr/bin/time is missing)"
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO=sudo
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq time >/dev/null
fi
/usr/bin/time -v true 2>/dev/null || die "/usr/bin/time does not support -v (GNU time needed)"

# --- build -----------------------------------------------------------------------------------
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release -p strom"
    (cd "$ROOT" && cargo build --release -p strom)
fi
[[ -x $BIN ]] || die "no $BIN (build failed?)"

# --- data ------------------------------------------------------------------------------------
mkdir -p "$DATA_DIR"
if [[ $ROWS -eq $FULL_ROWS ]]; then
    DATA=$DATA_DIR/bids.csv
else
    DATA=$DATA_DIR/bids-$ROWS.csv
fi
data_ok() {
    [[ -f $DATA ]] || return 1
    if [[ $ROWS -eq $FULL_ROWS ]]; then
        [[ $(stat -c %s "$DATA") -eq $FULL_SIZE ]]
    else
        [[ $(wc -l <"$DATA") -eq $ROWS ]]
    fi
}
if data_ok; then
    log "using $DATA ($(stat -c %s "$DATA") bytes)"
else
    log "generating $ROWS bids into $DATA"
    "$BIN" gen-bids "$ROWS" "$DATA.tmp" >&2
    mv "$DATA.tmp" "$DATA"
    data_ok || die "$DATA has an unexpected size ($(stat -c %s "$DATA") bytes)"
fi
DATA=$(cd "$(dirname "$DATA")" && pwd)/$(basename "$DATA")

# --- Flink 2.3.0 figures (shared/bench/README.md: job s, wall s; 5M rows) --------------------
# "batch, data in 2 files" rows of that table are used for batch p=2 (marked with *).
flink_figures() { # mode query p -> "job wall mark" or "- - "
    case "$1 $2 $3" in
    "streaming q0 1") echo "4.15 8.90" ;;
    "streaming q1 1") echo "4.26 8.81" ;;
    "streaming q2 1") echo "3.81 8.58" ;;
    "streaming q5 1") echo "4.33 9.39" ;;
    "streaming q7 1") echo "3.98 9.25" ;;
    "streaming q5 2") echo "4.04 9.18" ;;
    "batch q2 1") echo "2.11 6.74" ;;
    "batch q5 1") echo "3.99 9.55" ;;
    "batch q2 2") echo "1.32 5.16 *" ;;
    "batch q5 2") echo "2.95 9.48 *" ;;
    *) echo "- -" ;;
    esac
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { # flink strom -> "12.3x" or "-"
    if [[ $1 == - || $2 == - || $ROWS -ne $FULL_ROWS ]]; then echo "-"; else awk -v f="$1" -v s="$2" 'BEGIN {if (s < 0.0005) s = 0.0005; printf "%.1fx", f / s}'; fi
}
# "h:mm:ss" or "m:ss.cc" (GNU time) -> seconds
to_seconds() { awk -F: '{ if (NF == 3) printf "%.3f", $1 * 3600 + $2 * 60 + $3; else printf "%.3f", $1 * 60 + $2 }'; }

LOGS=$(mktemp -d "${TMPDIR:-/tmp}/strom-bench.XXXXXX")
log "logs in $LOGS"

# --- the queries -----------------------------------------------------------------------------
ROWS_OUT=()
REPORT=()
FAILED=0
for mode in $MODES; do
    for q in $QUERIES; do
        [[ -f $SQL_DIR/$q.sql ]] || die "no $SQL_DIR/$q.sql"
        for p in $PARALLELISM; do
            jobs_s=() walls=() rsss=() out_rows=- status=ok
            for ((r = 1; r <= RUNS; r++)); do
                base=$LOGS/$mode-$q-p$p-run$r
                log "$mode $q p=$p run $r/$RUNS"
                if ! BID_PATH=$DATA /usr/bin/time -v -o "$base.time" \
                    "$BIN" sql -f "$SQL_DIR/bid_source.sql" -f "$SQL_DIR/$q.sql" -p "$p" \
                    -D "execution.runtime-mode=$mode" >"$base.out" 2>"$base.err"; then
                    status="FAILED (see $base.err)"
                    log "FAILED: $(grep -E 'Root cause|error|rejected' "$base.err" | tail -n 3 || true)"
                    break
                fi
                line=$(grep -E '^Job [0-9a-f]{32} FINISHED in [0-9]+ ms' "$base.out" | tail -n 1 || true)
                if [[ -z $line ]]; then
                    status="NO FINISHED LINE (see $base.out)"
                    break
                fi
                ms=$(sed -E 's/.* FINISHED in ([0-9]+) ms.*/\1/' <<<"$line")
                read_rows=$(sed -E 's/.*read ([0-9]+) rows.*/\1/' <<<"$line")
                out_rows=$(sed -E 's/.*wrote ([0-9]+) rows.*/\1/' <<<"$line")
                [[ $read_rows == "$ROWS" ]] || log "WARNING: $mode $q p=$p read $read_rows rows, expected $ROWS"
                jobs_s+=("$(awk -v m="$ms" 'BEGIN {printf "%.3f", m / 1000}')")
                walls+=("$(grep 'Elapsed (wall clock) time' "$base.time" | awk '{print $NF}' | to_seconds)")
                rsss+=("$(grep 'Maximum resident set size' "$base.time" | awk '{print $NF}')")
            done
            read -r fjob fwall fmark <<<"$(flink_figures "$mode" "$q" "$p")"
            fmark=${fmark:-}
            if [[ $status != ok ]]; then
                FAILED=$((FAILED + 1))
                REPORT+=("| $mode | $q | $p | $status | - | - | - | ${fjob}${fmark} | ${fwall}${fmark} | - | - | - |")
                continue
            fi
            job=$(printf '%s\n' "${jobs_s[@]}" | median)
            wall=$(printf '%s\n' "${walls[@]}" | median)
            rss_kb=$(printf '%s\n' "${rsss[@]}" | sort -n | tail -n 1)
            rss=$(awk -v k="$rss_kb" 'BEGIN {printf "%.0f", k / 1024}')
            rate=$(awk -v n="$ROWS" -v s="$job" 'BEGIN {if (s < 0.0005) s = 0.0005; r = n / s; if (r >= 1e6) printf "%.2f M", r / 1e6; else printf "%.0f K", r / 1e3}')
            REPORT+=("| $mode | $q | $p | $(printf '%.3f' "$job") | $rate | $(printf '%.2f' "$wall") | $rss | ${fjob}${fmark} | ${fwall}${fmark} | $(ratio "$fjob" "$job") | $(ratio "$fwall" "$wall") | $out_rows |")
        done
    done
done

# --- standalone start-to-ready ---------------------------------------------------------------
# Strom's own figure (process start to "ready", printed by `strom standalone`) and an outside
# one: spawn until GET /overview answers with the slots registered (bash /dev/tcp, polled).
http_get() { # port path -> response (headers + body), or fails
    local port=$1 path=$2
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$path" "$port" >&3
    cat <&3
    exec 3<&- 3>&-
}
READY_SELF=() READY_OUTSIDE=()
for i in 1 2 3; do
    out=$LOGS/standalone-$i.out
    t0=$(date +%s%N)
    (cd "$LOGS" && exec "$BIN" standalone -D rest.port=0 >"$out" 2>&1) &
    pid=$!
    port=""
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "strom standalone exited early: $(cat "$out")"
            break
        fi
        if [[ -z $port ]]; then
            port=$(grep -oE 'REST http://[0-9.]+:[0-9]+' "$out" | sed -E 's/.*://' || true)
        fi
        if [[ -n $port ]] && http_get "$port" /overview 2>/dev/null | grep -q '"slots-total"'; then
            t1=$(date +%s%N)
            READY_OUTSIDE+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1e6}')")
            READY_SELF+=("$(grep -oE 'ready in [0-9.]+ ms' "$out" | grep -oE '[0-9.]+')")
            break
        fi
        if (($(date +%s%N) - t0 > 30000000000)); then
            log "strom standalone not ready within 30 s: $(cat "$out")"
            break
        fi
        sleep 0.002
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
ready_self=$(printf '%s\n' "${READY_SELF[@]:-}" | awk 'NF' | median)
ready_outside=$(printf '%s\n' "${READY_OUTSIDE[@]:-}" | awk 'NF' | median)

# --- report ----------------------------------------------------------------------------------
{
    echo "## Strom benchmark"
    echo
    echo "$ROWS bids ($(stat -c %s "$DATA") bytes, $DATA), $(nproc) cores, strom $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ), runs per case: $RUNS (medians; RSS: max)."
    if [[ $ROWS -ne $FULL_ROWS ]]; then
        echo
        echo "**Not the benchmark size**: Flink's figures are for $FULL_ROWS rows; ratios are left out."
    fi
    echo
    echo "| mode | query | p | job s | rows/s (job) | wall s | peak RSS MiB | Flink job s | Flink wall s | Flink/Strom job | Flink/Strom wall | rows out |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${REPORT[@]}"
    echo
    echo "job s: Strom's job time (the \`FINISHED in <ms> ms\` line: job created to FINISHED). wall s and"
    echo "peak RSS: the whole \`strom sql\` command (embedded cluster) from \`/usr/bin/time -v\`."
    echo "Flink: shared/bench/README.md (standalone cluster already running, medians of 3); \`-\` = no"
    echo "Flink figure; \`*\` = Flink read the data as 2 files."
    echo
    echo "\`strom standalone\` start to ready (3 starts, median): ${ready_self} ms as reported by Strom"
    echo "(process start to ready line), ${ready_outside} ms from spawn until GET /overview answered with the"
    echo "slots (outside, polled every 2 ms). Flink: 6.5 s (\`start-cluster.sh\` until REST shows the slots)."
} | tee "${BENCH_OUT:-/dev/null}"

log "logs kept in $LOGS"
[[ $FAILED -eq 0 ]] || die "$FAILED case(s) failed"
