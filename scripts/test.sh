#!/usr/bin/env bash
# Runs every test of the workspace (unit, property, end-to-end with real processes on loopback).
# The Kafka tests start a tansu broker (a Kafka-protocol broker in Rust); it is built once into
# ~/.cargo/bin when missing (about 8 minutes). The Web UI test runs in Debian's headless chromium,
# driven by playwright-core from npm; chromium (apt) and the npm packages are installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export STROM_SHARED_DIR="${STROM_SHARED_DIR:-$(cd .. && pwd)/shared}"
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v tansu >/dev/null; then
    echo "installing the tansu broker for the Kafka tests (cargo install tansu 0.6.0)" >&2
    cargo install tansu --version 0.6.0 --locked --features dynostore,libsql
fi
cargo build --workspace --all-targets
cargo nextest run --workspace --no-fail-fast

# the Web UI in headless Chromium against target/debug/strom; screenshots in target/ui-screenshots/
bash scripts/ui_test.sh
