"""A 1 MB report never hangs a process: the CLI stores and routes it, and the scheduler retries one left
``reported`` and routes it too, each in bounded time (issue 8, kind 9: a 1 MB report once kept a core at 100 %
for minutes, the case stayed ``reported``, and the scheduler would retry it and hang again).

    .venv/bin/python benchmarks/triage_huge.py [--size 1000000] [--timeout 120]

In a fresh temporary folder (SQLite, the sample org tree):
1. ``lianhu report --from P1111 <1 MB>`` as a subprocess: wall time, and the case's state (routed, not
   ``reported``). A command-line argument may hold at most 128 KiB on Linux, so the text goes in as several
   arguments, which the CLI joins with spaces (that is how a shell user pastes it).
2. The scheduler: a 1 MB case stored by a process that died before triage (simulated in this process: the
   classifier raises a BaseException that nothing catches, like a kill), made older than the scheduler's
   two-minute grace; then ``lianhu tick`` as a subprocess retries it: wall time, and the case's state.
Each subprocess runs under ``--timeout``: exceeding it is a hang and is reported as FAIL. The machine's load
(``os.getloadavg``) is printed next to the figures, because these machines are shared.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLI = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]
SECRETS = ("LIANHU_BOT_TOKEN", "LIANHU_DATABASE_URL", "LIANHU_DB_PASSWORD", "LIANHU_CONFIG")
ARG_CHARS = 40_000  # characters per argument: 3 bytes each in UTF-8, under Linux's 128 KiB per argument


class Killed(BaseException):
    """Stands for the process being killed in the middle of triage (not an Exception: nothing catches it)."""


def huge_text(size: int) -> str:
    """``size`` bytes of UTF-8 made of report lines, repeated: cue-dense text is the worst case for the matcher and
    the context rules."""
    lines = [
        "羊圈着火了 快来人 里面还有娃娃",
        "河水涨上来了 帐篷被冲走了 老阿妈还在里面",
        "两家打起来了 拿着刀 已经有人流血了",
        "三社的低保卡办不下来了 想问一下怎么办",
    ]
    out = "。".join(lines) + "。"
    text = out * (size // len(out.encode("utf-8")) + 1)
    while len(text.encode("utf-8")) > size:
        text = text[: len(text) - max(1, (len(text.encode("utf-8")) - size) // 3)]
    return text


def cli(args: list[str], cwd: Path, timeout: float) -> tuple[float, int | None, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    env["PYTHONPATH"] = str(ROOT)
    t0 = time.perf_counter()
    try:
        done = subprocess.run(
            [*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - t0, None, "TIMEOUT"
    return time.perf_counter() - t0, done.returncode, (done.stdout + done.stderr).strip()


def chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def state_of(case_id: int, cwd: Path, timeout: float) -> str:
    _, _, out = cli(["show", str(case_id)], cwd, timeout)
    first = out.splitlines()[0] if out else ""
    m = re.search(r"\] (\S+) — (\S+)", first)
    return f"{m.group(2)} ({m.group(1)})" if m else first[:80]


def stored_but_never_triaged(cwd: Path, text: str) -> int:
    """File ``text`` as P1111 with a classifier that 'dies' mid-triage, on a clock 10 minutes back, so the
    scheduler sees a stalled case. Returns the case id."""
    from sqlalchemy import select

    from runtime.config import load_config
    from runtime.wiring import build_services
    from storage.models import Case, Person
    from workflows.ports import FakeClock, SystemClock

    here = os.getcwd()
    os.chdir(cwd)
    try:
        config = load_config(None)
        clock = FakeClock(SystemClock().now() - timedelta(minutes=10))
        services = build_services(config, clock=clock)

        class Dies:
            name = "dies"

            def classify(self, text: str, language: str, *, source: str = "text"):
                raise Killed

        services.case_service.classifier = Dies()
        with services.db.session() as s:
            reporter = s.scalars(select(Person.id).where(Person.code == "P1111")).one()
        with contextlib.suppress(Killed):  # the process "dies" after storing, before triage
            services.case_service.file_report(reporter, text=text, language="zh")
        with services.db.session() as s:
            case_id = s.scalars(select(Case.id).order_by(Case.id.desc())).first()
            state = s.get(Case, case_id).state.value
        services.close()
        assert state == "reported", state
        return int(case_id)
    finally:
        os.chdir(here)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1_000_000, help="bytes (UTF-8) of the report")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds before a subprocess counts as hung"
    )
    args = parser.parse_args(argv)
    text = huge_text(args.size)
    mb = f"{len(text.encode('utf-8')) / 1e6:.2f}"
    ok = True
    with tempfile.TemporaryDirectory(prefix="lianhu-huge-") as tmp:
        cwd = Path(tmp)
        t_setup, code, out = cli(["import-org"], cwd, args.timeout)
        if code != 0:
            print(f"setup failed: {out}")
            return 1
        t_small, code, out = cli(["report", "--from", "P1111", "羊圈着火了 快来人"], cwd, args.timeout)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(
            f"CLI report, 16 characters:        {t_small:6.2f} s  exit {code}  {out.splitlines()[-1] if out else ''}"
        )
        t_big, code, out = cli(["report", "--from", "P1111", *chunks(text, ARG_CHARS)], cwd, args.timeout)
        m = re.search(r"case #(\d+)", out)
        if code is None or m is None:
            print(f"CLI report, {mb} MB: FAIL ({out[:200]})")
            ok = False
        else:
            state = state_of(int(m.group(1)), cwd, args.timeout)
            print(
                f"CLI report, {mb} MB ({len(text):,} characters): {t_big:6.2f} s  exit {code}  case #{m.group(1)}: {state}"
            )
            ok &= code == 0 and not state.startswith("reported")
        case_id = stored_but_never_triaged(cwd, text)
        t_tick, code, out = cli(["tick"], cwd, args.timeout)
        state = state_of(case_id, cwd, args.timeout)
        verdict = "FAIL (hung)" if code is None else f"exit {code}"
        print(
            f"scheduler tick retrying a {mb} MB case left 'reported': {t_tick:6.2f} s  {verdict}  "
            f"case #{case_id}: {state}  ({out.splitlines()[0] if out else ''})"
        )
        ok &= code == 0 and not state.startswith("reported")
        print(
            f"load average {os.getloadavg()[0]:.1f}; "
            f"a CLI process costs ~{t_small:.1f} s to start (imports, migration check) in this run"
        )
    print("OK: bounded, stored and routed" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
