#!/usr/bin/env bash
# Set up the environment with test dependencies and run the whole test suite.
# Usage: bash tools/test.sh [pytest args]
set -euo pipefail
source "$(dirname "$0")/setup_env.sh" "dev,distributed,scipy,tensorboard"
cd "$ROOT"
# System programs the tests use, installed where we can (root on Debian/Ubuntu):
# Graphviz's `dot` renders graphs; Debian's Chromium opens the pictures in
# tests/test_viz_browser.py (driven by Playwright from the dev extra, no browser download).
APT_UPDATED=""
need_apt() {  # need_apt COMMAND PACKAGE WHAT-HAPPENS-WITHOUT-IT
    if command -v "$1" >/dev/null 2>&1; then return 0; fi
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        if [ -z "$APT_UPDATED" ]; then apt-get update -qq >/dev/null 2>&1 || true; APT_UPDATED=1; fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 \
            || echo "note: could not install $2; $3"
    else
        echo "note: '$1' not found; $3"
    fi
}
need_apt dot graphviz "the Graphviz rendering tests will fail (the library itself falls back to its built-in SVG layout)"
need_apt chromium chromium "the browser tests will skip (and fail under CI=true)"
set +e
"$PY" -m pytest "$@"
rc=$?
set -e
if [ "$rc" = "5" ]; then
    echo "error: pytest collected no tests" >&2
    exit 1
fi
exit "$rc"
