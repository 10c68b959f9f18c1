#!/usr/bin/env bash
# The REST API fuzzed against its OpenAPI document by schemathesis (scripts/rest_fuzz.py): a
# `target/debug/strom standalone` on a free loopback port, two bounded runs (about a minute each);
# fails on any answer that contradicts the document and on any 5xx. Logs: target/rest-fuzz/.
# schemathesis (PyPI) is installed into target/rest-fuzz/venv when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
version=4.32.5
venv=target/rest-fuzz/venv
if [ "$("$venv/bin/st" --version 2>/dev/null || true)" != "st, version $version" ]; then
    echo "installing schemathesis $version for the REST fuzz test (pip, into $venv)" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi
cargo build --workspace --all-targets   # the feature set of scripts/test.sh (no second build)
exec "$venv/bin/python" scripts/rest_fuzz.py "$venv/bin/st"
