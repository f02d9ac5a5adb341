#!/usr/bin/env bash
# The main job: set up the environment, then train a model (python -m tools.train).
# Usage: bash tools/run.sh [train options], e.g.
#   bash tools/run.sh                                   # MLP on the bundled spiral set
#   bash tools/run.sh --data-dir DIR --epochs 1         # LeNet-5 on MNIST IDX files in DIR
set -euo pipefail
source "$(dirname "$0")/setup_env.sh" "plot"
cd "$ROOT"
exec "$PY" -m tools.train "$@"
