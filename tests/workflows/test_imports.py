"""Import direction: the domain never pulls in Telegram, the bot or the speech code."""

from __future__ import annotations

import subprocess
import sys

import workflows


def test_domain_imports_neither_bot_nor_telegram_nor_transcription():
    code = (
        "import sys, workflows.cases, workflows.scheduler, workflows.people, workflows.outbox;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('telegram', 'bot', 'transcription'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_exports_resolve():
    for name in workflows.__all__:
        assert getattr(workflows, name).__name__ == name
