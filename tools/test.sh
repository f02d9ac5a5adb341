#!/usr/bin/env bash
# Set up the environment with test dependencies and run the whole test suite.
# Usage: bash tools/test.sh [pytest args]
set -euo pipefail
source "$(dirname "$0")/setup_env.sh" "dev,distributed"
cd "$ROOT"
# Graphviz's `dot` renders graphs in the tests; install it where we can (root on Debian).
if ! command -v dot >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz) >/dev/null 2>&1 \
            || echo "note: could not install graphviz; rendering tests will use the built-in SVG layout"
    else
        echo "note: graphviz's 'dot' not found; rendering tests will use the built-in SVG layout"
    fi
fi
set +e
"$PY" -m pytest "$@"
rc=$?
set -e
if [ "$rc" = "5" ]; then
    echo "error: pytest collected no tests" >&2
    exit 1
fi
exit "$rc"
