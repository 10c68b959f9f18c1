#!/usr/bin/env bash
# Runs every test of the workspace (unit, property, end-to-end with real processes on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
export STROM_SHARED_DIR="${STROM_SHARED_DIR:-$(cd .. && pwd)/shared}"
cargo build -p strom
cargo nextest run --workspace --no-fail-fast
