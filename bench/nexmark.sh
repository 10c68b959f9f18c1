#!/usr/bin/env bash
# The Nexmark queries (bench/nexmark/queries, nexmark-flink's files unmodified) in streaming mode
# into blackhole sinks, release build, at each parallelism of NEXMARK_P:
#   - Strom on the `nexmark` source (ddl_gen.sql + ddl_views.sql): events/s, events/s per core
#     (per subtask), peak RSS;
#   - Strom and, with NEXMARK_FLINK=1, Apache Flink 2.3.0 (bench/nexmark_flink.py: PyFlink, local
#     MiniCluster) on the same events written once to CSV files (bench/nexmark/ddl_files.sql),
#     since nexmark-flink's connector jar is on no registry this project reaches.
# Prints a markdown table (also to BENCH_OUT).
#
# Environment (all optional):
#   NEXMARK_EVENTS=10000000     events per query
#   NEXMARK_QUERIES="q0 q1 ..." the queries (default: those Strom runs)
#   NEXMARK_P="1 2"             parallelisms
#   NEXMARK_FILES=1             also run Strom on the events from files (on with NEXMARK_FLINK)
#   NEXMARK_FLINK=1             also run Flink on the events from files
#   BENCH_SKIP_BUILD=1          use the existing target/release/strom
#   BENCH_OUT=FILE              also write the report to FILE
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${NEXMARK_EVENTS:-10000000}
QUERIES=${NEXMARK_QUERIES:-"q0 q1 q2 q3 q4 q5 q7 q8 q9 q11 q12 q13 q14 q15 q16 q17 q18 q19 q20 q21 q22"}
PS=${NEXMARK_P:-"1 2"}
FLINK=${NEXMARK_FLINK:-}
FILES=${NEXMARK_FILES:-$FLINK}
BIN=$ROOT/target/release/strom
Q=$ROOT/bench/nexmark/queries
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

log() { echo "[nexmark] $*" >&2; }

[[ -x /usr/bin/time ]] || { apt-get update -qq && apt-get install -y -qq time; }

if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
    log "cargo build --release -p strom"
    (cd "$ROOT" && cargo build --release -p strom)
fi

# nexmark-flink's template variables: as fast as the source can (first-event.rate sets the
# event-time spacing: 10M events/s of event time)
export TPS=10000000 EVENTS_NUM=$N PERSON_PROPORTION=1 AUCTION_PROPORTION=3 BID_PROPORTION=46
export NEXMARK_TABLE=datagen
# q13's side input: ${FLINK_HOME}/data/side_input.txt, lines key,value for keys 0..9999
export FLINK_HOME=${FLINK_HOME:-$ROOT/bench/data/flink-home}
if [[ ! -f $FLINK_HOME/data/side_input.txt ]]; then
    mkdir -p "$FLINK_HOME/data"
    seq 0 9999 | awk '{ print $1 ",value-" $1 }' >"$FLINK_HOME/data/side_input.txt"
fi

# strom <label> <parallelism> <sql files...>: prints "job_ms peak_rss_mib"
strom() {
    local label=$1 p=$2
    shift 2
    local args=()
    for f in "$@"; do args+=(-f "$f"); done
    if ! /usr/bin/time -v -o "$WORK/time" "$BIN" sql "${args[@]}" -p "$p" >"$WORK/out" 2>&1; then
        log "$label failed:"
        tail -5 "$WORK/out" >&2
        echo "- -"
        return
    fi
    local ms rss
    ms=$(grep -o 'FINISHED in [0-9]* ms' "$WORK/out" | grep -o '[0-9]*' | tail -1)
    rss=$(awk '/Maximum resident set size/ {print int($6 / 1024)}' "$WORK/time")
    echo "$ms $rss"
}

rate() { # events ms -> events/s
    awk -v n="$1" -v ms="$2" 'BEGIN { if (ms > 0) printf "%.0f", n / (ms / 1000); else print "-" }'
}

per_core() { # events/s p -> events/s per subtask
    awk -v r="$1" -v p="$2" 'BEGIN { if (r != "-") printf "%.0f", r / p; else print "-" }'
}

if [[ -n $FILES ]]; then
    EVENTS_DIR=$ROOT/bench/data/nexmark-$N
    export EVENTS_DIR
    if [[ ! -d $EVENTS_DIR/bid ]]; then
        log "writing $N events to $EVENTS_DIR (the nexmark source at parallelism 1)"
        rm -rf "$EVENTS_DIR.tmp"
        EVENTS_DIR=$EVENTS_DIR.tmp "$BIN" sql -f "$Q/ddl_gen.sql" -f "$Q/ddl_views.sql" \
            -f "$ROOT/bench/nexmark/write_events.sql" -p 1 >&2
        mv "$EVENTS_DIR.tmp" "$EVENTS_DIR"
    fi
fi

header="| query | p | Strom events/s | per core | Strom MiB |"
rule="|---|---|---|---|---|"
if [[ -n $FILES ]]; then
    header+=" Strom (files) s | Strom (files) MiB |"
    rule+="---|---|"
fi
if [[ -n $FLINK ]]; then
    header+=" Flink (files) s | Flink MiB | Strom/Flink |"
    rule+="---|---|---|"
fi
report=("$header" "$rule")
for q in $QUERIES; do
    for p in $PS; do
        log "$q p=$p"
        read -r ms rss < <(strom "$q nexmark" "$p" "$Q/ddl_gen.sql" "$Q/ddl_views.sql" "$Q/$q.sql")
        r=$(rate "$N" "$ms")
        line="| $q | $p | $r | $(per_core "$r" "$p") | $rss |"
        if [[ -n $FILES ]]; then
            read -r fms frss < <(strom "$q files" "$p" "$ROOT/bench/nexmark/ddl_files.sql" "$Q/$q.sql")
            fs=$(awk -v ms="$fms" 'BEGIN { if (ms != "-") printf "%.2f", ms / 1000; else print "-" }')
            line+=" $fs | $frss |"
        fi
        if [[ -n $FLINK && ( $q == q13 || $q == q14 ) ]]; then
            # Flink 2 has no legacy `connector.type` tables (q13), and q14's UDF is in
            # nexmark-flink's jar, on no registry this project reaches
            line+=" - | - | - |"
        elif [[ -n $FLINK ]]; then
            # (PyFlink takes FLINK_HOME for its own installation: not q13's data directory)
            if env -u FLINK_HOME python3 "$ROOT/bench/nexmark_flink.py" "$EVENTS_DIR" "$Q/$q.sql" "$p" \
                >"$WORK/flink" 2>&1; then
                fl=$(grep -o 'job_s=[0-9.]*' "$WORK/flink" | cut -d= -f2)
                fm=$(grep -o 'peak_rss_mib=[0-9]*' "$WORK/flink" | cut -d= -f2)
                ratio=$(awk -v a="$fs" -v b="$fl" 'BEGIN { if (a != "-" && b > 0) printf "%.2fx", a / b; else print "-" }')
                line+=" $fl | $fm | $ratio |"
            else
                log "flink $q failed:"
                tail -5 "$WORK/flink" >&2
                line+=" - | - | - |"
            fi
        fi
        report+=("$line")
    done
done

{
    echo "Nexmark, $N events per query, streaming, blackhole sinks ($(nproc) cores)"
    echo
    printf '%s\n' "${report[@]}"
} | tee "${BENCH_OUT:-/dev/null}"
