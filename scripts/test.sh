#!/usr/bin/env bash
# Runs every test of the workspace (unit, property, end-to-end with real processes on loopback).
# The Kafka tests start a tansu broker (a Kafka-protocol broker in Rust); it is built once into
# ~/.cargo/bin when missing (about 8 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
export STROM_SHARED_DIR="${STROM_SHARED_DIR:-$(cd .. && pwd)/shared}"
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v tansu >/dev/null; then
    echo "installing the tansu broker for the Kafka tests (cargo install tansu 0.6.0)" >&2
    cargo install tansu --version 0.6.0 --locked --features dynostore,libsql
fi
cargo build -p strom
cargo nextest run --workspace --no-fail-fast
