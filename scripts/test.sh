#!/usr/bin/env bash
# Runs every test of the workspace (unit, property, end-to-end with real processes on loopback).
# The Kafka tests start a tansu broker (a Kafka-protocol broker in Rust); it is built once into
# ~/.cargo/bin when missing (about 8 minutes). The Web UI test runs in Debian's headless chromium,
# driven by playwright-core from npm; chromium (apt) and the npm packages are installed when missing.
# The jdbc tests start PostgreSQL servers of their own (Debian's postgresql, installed when missing).
# The TLS and multi-host tests need root: they capture with tcpdump and make network namespaces.
# The REST fuzz test runs schemathesis (PyPI, installed into target/rest-fuzz/venv when missing)
# against the API's OpenAPI document.
set -euo pipefail
cd "$(dirname "$0")/.."
export STROM_SHARED_DIR="${STROM_SHARED_DIR:-$(cd .. && pwd)/shared}"
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v tansu >/dev/null; then
    echo "installing the tansu broker for the Kafka tests (cargo install tansu 0.6.0)" >&2
    cargo install tansu --version 0.6.0 --locked --features dynostore,libsql
fi
# DuckDB (PyPI) computes the independent answers of the SQL tests
if ! python3 -c "import duckdb" 2>/dev/null; then
    echo "installing duckdb from PyPI for the SQL answer tests" >&2
    python3 -m pip install --quiet duckdb
fi
# tpchgen-cli (PyPI) writes the TPC-H tables of the batch SQL tests
if ! command -v tpchgen-cli >/dev/null; then
    echo "installing tpchgen-cli from PyPI for the TPC-H tests" >&2
    python3 -m pip install --quiet tpchgen-cli
fi
# PostgreSQL (Debian) for the jdbc connector's tests, which start servers of their own
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v psql >/dev/null; then
    echo "installing postgresql (apt) for the jdbc tests" >&2
    apt-get update -qq && apt-get install -y -qq postgresql
fi
# etcd (Debian's etcd-server) for the high-availability tests, which start servers of their own
if ! command -v etcd >/dev/null; then
    echo "installing etcd-server (apt) for the high-availability tests" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server
fi
# tcpdump (Debian) captures what crosses loopback and the test hosts' links in the TLS tests;
# iproute2 makes those hosts (network namespaces), curl asks their REST
for tool in tcpdump:tcpdump ip:iproute2 curl:curl openssl:openssl; do
    if ! command -v "${tool%%:*}" >/dev/null; then
        echo "installing ${tool#*:} (apt) for the TLS and multi-host tests" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool#*:}"
    fi
done
# one-way module dependencies inside each crate (docs/DESIGN.md)
python3 scripts/import_cycles.py
cargo build --workspace --all-targets
cargo nextest run --workspace --no-fail-fast

# the Web UI in headless Chromium against target/debug/strom; screenshots in target/ui-screenshots/
bash scripts/ui_test.sh

# the REST API against its OpenAPI document, fuzzed by schemathesis; logs in target/rest-fuzz/
bash scripts/rest_fuzz.sh
