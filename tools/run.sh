#!/usr/bin/env bash
# The main job: set up the environment, then run the demo.  Usage: bash tools/run.sh
set -euo pipefail
source "$(dirname "$0")/setup_env.sh" ""
cd "$ROOT"
exec "$PY" -m tools.demo "$@"
