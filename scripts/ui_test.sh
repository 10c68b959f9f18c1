#!/usr/bin/env bash
# The Web UI test (crates/strom-rest/ui/test/ui.test.mjs): Debian's chromium driven by
# playwright-core, against `target/debug/strom standalone`. Installs chromium (and Node.js) with
# apt and the test's npm packages with `npm ci` only when they are missing; no browser download.
# Screenshots: target/ui-screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else echo "the UI test needs '$*' (run it as root or install the packages)" >&2; exit 1
    fi
}
missing=()
[ -x "${STROM_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} for the Web UI test (apt)" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    echo "the UI test needs Node.js 20 or later (playwright-core 1.65); this is $(node --version)" >&2
    exit 1
fi
cargo build --workspace --all-targets   # the feature set of scripts/test.sh (no second build)
cd crates/strom-rest/ui/test
# npm ci when node_modules is missing or older than the lock file
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
fi
node ui.test.mjs
