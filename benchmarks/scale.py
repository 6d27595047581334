"""A county with 100k open cases: officials' lists, the idle scheduler tick, and the streamed ``cases``/``ledger``.

    .venv/bin/python benchmarks/scale.py [--cases 100000] [--pg URL] [--repeat 7]

Builds (bulk inserts, seconds) a county of 8 townships x 12 villages x 4 grids with ``--cases`` open cases
(assigned 40 %, accepted 45 %, resolved 15 %; 5 % urgent; 3 % escalated once, so "watched" lists have rows)
in a fresh SQLite file and, with ``--pg`` (default ``$LIANHU_TEST_PG_URL``), a fresh PostgreSQL schema. Then,
side by side:
- ``/cases`` for five officials (county commander, governance operator, department contact, township
  commander, grid leader): ``list_cases(scope="desk", limit=10)`` + ``desk_counts`` (the header), median ms;
- the idle scheduler tick (``DueWork.run_once`` with nothing due), median ms;
- ``lianhu cases`` (50 newest open) and ``lianhu ledger`` (every case, CSV to stdout) as real processes:
  time to the first row, total time, rows/s, peak RSS of the process.
Goals (issue 11): list ≤ 300 ms, tick ≤ 20 ms, first row ≤ 1 s, ≤ 150 MB, ≥ 20k rows/s.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

from benchmarks.county import write_tree  # noqa: E402
from storage.db import Database  # noqa: E402

NOW = datetime(2026, 1, 5, 8, 0)
CATEGORIES = ("safety", "disaster", "dispute", "medical", "hardship", "infrastructure", "livestock", "other")
VIEWERS = {
    "county commander": "P1CC",
    "governance operator": "P1GO",
    "department contact": "P1HE",
    "township commander": "PT1-1",
    "grid leader": "PV1-1-1",
}
RSS_WRAPPER = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: sys.stderr.write(f'MAXRSS_KB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n'))\n"
    "from bot.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def build(db: Database, n: int, seed: int = 11) -> dict[str, int]:
    from storage.models import Case, CaseEvent, Person, Role, Unit, UnitLevel
    from storage.orgtree import import_org_dir

    rng = random.Random(seed)
    db.migrate()
    with tempfile.TemporaryDirectory() as tmp:
        write_tree(Path(tmp), workers_per_grid=2)
        with db.session() as s:
            import_org_dir(s, Path(tmp))
    with db.session() as s:
        people = {p.code: p.id for p in s.scalars(select(Person))}
        workers = [
            (p.id, p.unit_id) for p in s.scalars(select(Person).where(Person.role == Role.liaison_worker))
        ]
        grid_leader = {
            p.unit_id: p.id for p in s.scalars(select(Person).where(Person.role == Role.grid_leader))
        }
        village_of = {u.id: u.parent_id for u in s.scalars(select(Unit).where(Unit.level == UnitLevel.grid))}
    rows: list[dict] = []
    events: list[dict] = []
    first_id = 1
    for i in range(n):
        reporter, unit = rng.choice(workers)
        owner = grid_leader[village_of[unit]]
        created = NOW - timedelta(minutes=rng.randint(10, 60 * 24 * 120))
        roll = rng.random()
        state = "assigned" if roll < 0.40 else "accepted" if roll < 0.85 else "resolved"
        urgency = "urgent" if rng.random() < 0.05 else "priority" if rng.random() < 0.3 else "general"
        ack = created + timedelta(hours=0.5 if urgency == "urgent" else 24)
        resolve = created + timedelta(days=1 if urgency == "urgent" else 7)
        rows.append(
            {
                "reporter_id": reporter,
                "unit_id": unit,
                "owner_id": owner,
                "state": state,
                "escalation_level": 0,
                "language": "zh",
                "text": f"报告 {i}：村里的事情需要处理 {rng.randint(1, 999)}",
                "transcript_attempts": 0,
                "urgency": urgency,
                "category": rng.choice(CATEGORIES),
                "needs_review": False,
                "ack_due_at": ack,
                "resolve_due_at": resolve,
                # nothing due at NOW: the tick measured is an idle one
                "next_reminder_at": NOW + timedelta(hours=rng.randint(1, 48))
                if state != "resolved"
                else None,
                "autoclose_at": NOW + timedelta(days=2) if state == "resolved" else None,
                "reminders_sent": 0,
                "created_at": created,
                "updated_at": created,
                "accepted_at": created + timedelta(hours=2) if state != "assigned" else None,
                "resolved_at": created + timedelta(days=2) if state == "resolved" else None,
                "version": 1,
            }
        )
        if rng.random() < 0.03:
            events.append(
                {
                    "case_id": first_id + i,
                    "at": created + timedelta(days=1),
                    "kind": "escalated",
                    "from_state": "assigned",
                    "to_state": "assigned",
                    "data": {"previous_owner_id": owner, "reason": "ack_overdue"},
                }
            )
        if len(rows) == 5000:
            with db.session() as s:
                s.execute(insert(Case), rows)
            rows = []
    with db.session() as s:
        if rows:
            s.execute(insert(Case), rows)
        if events:
            s.execute(insert(CaseEvent), events)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return people


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run_cli(url: str, *args: str) -> dict[str, float]:
    """Run ``lianhu <args>`` as its own process; time to the first line of output, total, lines, peak RSS."""
    env = {**os.environ, "LIANHU_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", RSS_WRAPPER, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=str(ROOT),
    )
    assert proc.stdout is not None
    first = None
    lines = 0
    for _ in proc.stdout:
        if first is None:
            first = time.perf_counter() - t0
        lines += 1
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.wait()
    total = time.perf_counter() - t0
    rss = next((int(line.split()[1]) for line in err.splitlines() if line.startswith("MAXRSS_KB")), 0)
    if proc.returncode != 0:
        raise RuntimeError(f"lianhu {' '.join(args)} failed: {err[-2000:]}")
    return {"first_s": first or total, "total_s": total, "lines": lines, "rss_mb": rss / 1024}


def measure(name: str, db: Database, n: int, repeat: int) -> dict:
    from runtime.config import BotConfig, Config, DatabaseConfig
    from runtime.wiring import build_services
    from workflows.ports import FakeClock

    t0 = time.perf_counter()
    people = build(db, n)
    print(f"{name}: built {n} open cases in {time.perf_counter() - t0:.1f}s", flush=True)
    services = build_services(
        Config(bot=BotConfig(), database=DatabaseConfig(url=db.url)), clock=FakeClock(NOW), db=db
    )
    cases = services.case_service
    lists = {}
    for label, code in VIEWERS.items():
        viewer = people[code]
        lists[label] = (
            median_ms(lambda v=viewer: cases.list_cases(v, scope="desk", limit=10), repeat),
            median_ms(lambda v=viewer: cases.desk_counts(v), repeat),
            cases.desk_counts(viewer).total,
        )
    due = services.due_work()
    tick = median_ms(due.run_once, repeat)
    cli_cases = run_cli(db.url, "cases")
    ledger = run_cli(db.url, "ledger")
    return {"name": name, "lists": lists, "tick": tick, "cases": cli_cases, "ledger": ledger}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--pg", metavar="URL", default=os.environ.get("LIANHU_TEST_PG_URL"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/scale.sqlite3")
        results.append(measure("sqlite", db, args.cases, args.repeat))
        db.dispose()
    if args.pg:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = Database(args.pg)
        with admin.engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in args.pg else "?"
        db = Database(f"{args.pg}{sep}options=-csearch_path%3D{schema}")
        try:
            results.append(measure("postgresql", db, args.cases, args.repeat))
        finally:
            db.dispose()
            with admin.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    load = os.getloadavg()
    print(
        f"\n{args.cases} open cases; medians of {args.repeat}; load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} ({os.cpu_count()} cores)"
    )
    print("\n/cases (list_cases desk limit 10 + desk_counts), ms — goal ≤ 300")
    print(
        "| official | "
        + " | ".join(f"{r['name']} list | {r['name']} header | open on desk" for r in results)
        + " |"
    )
    print("|---|" + "---|---|---|" * len(results))
    worst = 0.0
    for label in VIEWERS:
        cells = []
        for r in results:
            lst, hdr, total = r["lists"][label]
            worst = max(worst, lst + hdr)
            cells.append(f"{lst:.1f} | {hdr:.1f} | {total}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\n| measure | goal | " + " | ".join(r["name"] for r in results) + " |")
    print("|---|---|" + "---|" * len(results))
    print("| idle tick ms | ≤ 20 | " + " | ".join(f"{r['tick']:.1f}" for r in results) + " |")
    for cmd in ("cases", "ledger"):
        print(
            f"| `lianhu {cmd}` first row s | ≤ 1 | "
            + " | ".join(f"{r[cmd]['first_s']:.2f}" for r in results)
            + " |"
        )
        print(
            f"| `lianhu {cmd}` total s (lines) | | "
            + " | ".join(f"{r[cmd]['total_s']:.2f} ({r[cmd]['lines']})" for r in results)
            + " |"
        )
        print(
            f"| `lianhu {cmd}` peak RSS MB | ≤ 150 | "
            + " | ".join(f"{r[cmd]['rss_mb']:.0f}" for r in results)
            + " |"
        )
    print(
        "| `lianhu ledger` rows/s (after the first row) | ≥ 20000 | "
        + " | ".join(
            f"{(r['ledger']['lines'] - 1) / max(1e-9, r['ledger']['total_s'] - r['ledger']['first_s']):.0f}"
            for r in results
        )
        + " |"
    )
    print(f"\nslowest /cases: {worst:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
