#!/usr/bin/env bash
# Runs the bot: sets up .venv on first use, then `lianhu run`.
# Config: ./config.toml if present (copy config.example.toml), else defaults; token from LIANHU_BOT_TOKEN.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
exec .venv/bin/lianhu "${@:-run}"
