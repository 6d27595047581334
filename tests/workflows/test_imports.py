"""Import direction (docs/design.md): ``bot``/``web`` → ``runtime`` → ``workflows`` → ``storage``; ``web`` never
imports ``bot``; ``transcription`` stands alone.

Every module of each package is imported (``pkgutil.walk_packages``) in a fresh interpreter, so a forbidden
import anywhere — even in a module nothing imports yet, or behind a function-level import that runs at import
time — shows up, and modules imported by earlier tests in this process cannot hide it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

import workflows

# package -> top-level packages none of its modules may pull in
# (``web`` is the console adapter, a sibling of ``bot``; ``i18n`` is the adapters' shared text catalogue)
FORBIDDEN = {
    "workflows": ("telegram", "bot", "web", "i18n", "transcription"),
    "storage": ("telegram", "bot", "web", "i18n", "workflows", "transcription"),
    "transcription": ("telegram", "bot", "web", "i18n", "workflows", "storage"),
    "i18n": ("telegram", "bot", "web", "workflows", "storage", "transcription"),
    # shared by both adapters (config, wiring, the voice pipeline): neither adapter, nor Telegram, at import
    "runtime": ("telegram", "bot", "web"),
}
if importlib.util.find_spec("web") is not None:  # the console adapter: a sibling of the bot, never its client
    FORBIDDEN["web"] = ("telegram", "bot")

_PROBE = """
import importlib, json, pkgutil, sys
package, forbidden = sys.argv[1], tuple(sys.argv[2].split(","))
root = importlib.import_module(package)
skip = {"storage.migrations.env"}  # Alembic's script: only runs inside `alembic` (needs alembic.context.config)
names = [package] + [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")
                     if not m.name.split(".")[-1].startswith("__") and m.name not in skip]
failed, bad = {}, {}
for name in names:
    try:
        importlib.import_module(name)
    except ImportError as exc:  # an optional backend (openai-whisper, transformers) not installed here
        failed[name] = str(exc)
        continue
    offenders = sorted({m.split(".")[0] for m in sys.modules} & set(forbidden))
    if offenders:
        bad[name] = offenders
        for m in [m for m in sys.modules if m.split(".")[0] in forbidden]:
            del sys.modules[m]  # so the next module is judged on its own
print(json.dumps({"modules": names, "failed": failed, "bad": bad}))
"""


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_every_module_imports_only_downstream(package: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, package, ",".join(FORBIDDEN[package])],
        capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(report["modules"]) > (0 if package == "i18n" else 3), report["modules"]
    assert report["bad"] == {}, f"{package} pulls in {report['bad']}"
    # only third-party optional extras may be missing, never one of our own packages
    for name, error in report["failed"].items():
        assert not any(f"'{top}" in error for top in ("bot", "workflows", "storage", "transcription", "telegram")), (
            name, error)


def test_package_exports_resolve():
    for name in workflows.__all__:
        assert getattr(workflows, name).__name__ == name
