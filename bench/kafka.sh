#!/usr/bin/env bash
# The Kafka benchmark (issue 5): a tansu broker on loopback (sqlite storage), then
#   1. the broker alone: produce the bids into a 4-partition topic, consume them back;
#   2. throughput: q0 and q5 as Strom jobs Kafka -> Kafka over those bids (bounded at the
#      offsets of job start), rows/s from the job time, peak RSS;
#   3. latency: datagen bids at a fixed rate through q2 (+ PROCTIME()) into a topic, read live;
#      end-to-end p50/p99/max.
# See crates/strom-connectors/examples/kafka_bench.rs.
#
# Environment (all optional):
#   BENCH_ROWS=5000000      bids preloaded into the topic
#   BENCH_PARALLELISM=2
#   BENCH_RATE=100000       datagen rows/s of the latency run
#   BENCH_SECONDS=60        measured seconds of the latency run
#   BENCH_SKIP_BUILD=1      use the existing release binaries
#   BENCH_OUT=FILE          also write the markdown report to FILE
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROWS=${BENCH_ROWS:-5000000}
P=${BENCH_PARALLELISM:-2}
RATE=${BENCH_RATE:-100000}
SECONDS_=${BENCH_SECONDS:-60}
export PATH="$HOME/.cargo/bin:$PATH"
cd "$ROOT"

command -v tansu >/dev/null || {
    echo "[bench] installing the tansu broker (cargo install tansu 0.6.0, about 8 minutes)" >&2
    cargo install tansu --version 0.6.0 --locked --features dynostore,libsql
}
[[ -x /usr/bin/time ]] || { apt-get update -qq && apt-get install -y -qq time; }
if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
    # one invocation: the strom binary and the bench tool share one feature resolution
    cargo build --release -p strom -p strom-connectors --bins --example kafka_bench
fi
DATA=bench/data/bids.csv
[[ $ROWS -eq 5000000 ]] || DATA=bench/data/bids-$ROWS.csv
if [[ ! -f $DATA ]]; then
    mkdir -p bench/data
    target/release/strom gen-bids "$ROWS" "$DATA"
fi
report=$(target/release/examples/kafka_bench --strom target/release/strom --bids "$DATA" \
    --rows "$ROWS" --parallelism "$P" --rate "$RATE" --seconds "$SECONDS_")
echo "$report"
[[ -z ${BENCH_OUT:-} ]] || echo "$report" > "$BENCH_OUT"
