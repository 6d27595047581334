#!/usr/bin/env bash
# Creates ./.venv (once) and installs the project into it with the given extras.
# Re-installs only when pyproject.toml changes, so the run/test commands stay fast after the first time.
# Usage: scripts/bootstrap.sh [extras]   e.g. scripts/bootstrap.sh all
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$py" -c 'import sys; assert sys.version_info >= (3, 11), "Lianhu needs Python 3.11 or newer"'
  "$py" -m venv .venv
fi
stamp=".venv/.lianhu-installed-${extras:-core}"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  .venv/bin/python -m pip install --quiet -e "$spec"
  echo "$want" > "$stamp"
fi
