#!/usr/bin/env bash
# Create .venv (once) and install tapegrad with the given extras, e.g. `dev`.
# Sourced by tools/run.sh and tools/test.sh; needs only python3 (>= 3.10).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
EXTRAS="${1:-}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
SPEC="$ROOT"
[ -n "$EXTRAS" ] && SPEC="$ROOT[$EXTRAS]"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$SPEC"
PY="$VENV/bin/python"
