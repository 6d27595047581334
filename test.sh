#!/usr/bin/env bash
# Runs the whole test suite: sets up .venv (with every backend and the test tools) on first use, then pytest.
# PostgreSQL tests run when LIANHU_TEST_PG_URL is set (see README), and are skipped with a reason otherwise.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh all
exec .venv/bin/python -m pytest "$@"
