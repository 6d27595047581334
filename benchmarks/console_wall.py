"""The case wall at scale: server time of one wall page with 100k cases in the database.

    .venv/bin/python benchmarks/console_wall.py [--cases 100000] [--pg URL] [--repeat 15]

Builds the sample county plus N cases (85% settled, the rest open, 5% urgent, spread over a year; bulk
inserts, so building takes seconds) in a fresh SQLite file (and, with ``--pg``, a fresh PostgreSQL schema),
then measures, side by side in one run, for viewers at three levels (county commander, township commander,
grid leader):
- ``wall``: ``CaseWall.page`` — the cards of one page (60) + the counts per township/village;
- ``http``: the whole ``GET /wall`` through the ASGI app (session lookup, query, template) — server time,
  no network;
- ``list``: the bot's ``CaseService.list_cases(scope="jurisdiction", limit=60)`` for comparison (ratio).
Figures are medians of ``--repeat`` runs after one warm-up; the machine is shared, so read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select, text  # noqa: E402

from runtime.config import BotConfig, Config, DatabaseConfig, WebConfig  # noqa: E402
from runtime.wiring import build_services  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Case, Person, Role  # noqa: E402
from storage.orgtree import SAMPLE_DIR, import_org_dir  # noqa: E402
from workflows.ports import FakeClock  # noqa: E402

NOW = datetime(2026, 1, 5, 8, 0)
CATEGORIES = ("safety", "disaster", "dispute", "medical", "hardship", "infrastructure", "livestock", "other")


def build(db: Database, n: int, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    with db.session() as s:
        import_org_dir(s, SAMPLE_DIR)
        people = {p.code: (p.id, p.role, p.unit_id) for p in s.scalars(select(Person))}
    workers = [v for v in people.values() if v[1] == Role.liaison_worker]
    owners = [v[0] for v in people.values() if v[1] == Role.grid_leader]
    rows = []
    for i in range(n):
        reporter, _, unit = rng.choice(workers)
        created = NOW - timedelta(minutes=rng.randint(10, 365 * 24 * 60))
        roll = rng.random()
        state = ("closed" if roll < 0.80 else "rejected" if roll < 0.85 else "resolved" if roll < 0.88
                 else "accepted" if roll < 0.94 else "assigned")
        urgency = "urgent" if rng.random() < 0.05 else "priority" if rng.random() < 0.3 else "general"
        ack = created + timedelta(hours=0.5 if urgency == "urgent" else 24)
        resolve = created + timedelta(days=1 if urgency == "urgent" else 7)
        rows.append({
            "reporter_id": reporter, "unit_id": unit, "owner_id": rng.choice(owners), "state": state,
            "escalation_level": 0, "language": "zh", "text": f"报告 {i}：村里的事情需要处理 {rng.randint(1, 999)}",
            "transcript_attempts": 0, "urgency": urgency, "category": rng.choice(CATEGORIES),
            "needs_review": rng.random() < 0.02, "ack_due_at": ack, "resolve_due_at": resolve,
            "next_reminder_at": ack if state in ("assigned", "accepted") else None, "reminders_sent": 0,
            "created_at": created, "updated_at": created,
            "accepted_at": created + timedelta(hours=2) if state != "assigned" else None,
            "resolved_at": created + timedelta(days=2) if state in ("resolved", "closed") else None,
            "closed_at": created + timedelta(days=3) if state in ("closed", "rejected") else None, "version": 1,
        })
        if len(rows) == 5000:
            with db.session() as s:
                s.execute(insert(Case), rows)
            rows = []
    if rows:
        with db.session() as s:
            s.execute(insert(Case), rows)
    return {code: v[0] for code, v in people.items()}


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def http_ms(app, cookie: str, repeat: int) -> float:
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", cookies={"lianhu_session": cookie}) as c:
        r = await c.get("/wall")
        assert r.status_code == 200, r.status_code
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            r = await c.get("/wall")
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
    return statistics.median(times)


def measure(name: str, db: Database, n: int, repeat: int) -> list[tuple[str, str, float, float, float, int]]:
    from web.app import create_app
    from web.console import Console

    t0 = time.perf_counter()
    people = build(db, n)
    built = time.perf_counter() - t0
    if db.url.startswith("postgresql"):
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    print(f"{name}: built {n} cases in {built:.1f}s", flush=True)
    config = Config(bot=BotConfig(), database=DatabaseConfig(url=db.url), web=WebConfig())
    services = build_services(config, clock=FakeClock(NOW), db=db)
    console = Console(services, web=config.web)
    app = create_app(console)
    out = []
    for code in ("P002", "P100", "P110"):
        viewer = people[code]
        wall = median_ms(lambda v=viewer: console.wall.page(v), repeat)
        listed = median_ms(lambda v=viewer: services.case_service.list_cases(v, scope="jurisdiction", limit=60),
                           repeat)
        token = console.signin.create_link_token(viewer, via="bench")
        cookie, _ = console.signin.redeem_link(token)
        page = asyncio.run(http_ms(app, cookie, repeat))
        total = console.wall.page(viewer).total
        out.append((name, code, wall, page, listed, total))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--pg", metavar="URL", help="also measure on this PostgreSQL (a fresh schema is made)")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.sqlite3")
        db.migrate()
        results += measure("sqlite", db, args.cases, args.repeat)
        db.dispose()
    if args.pg:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = Database(args.pg)
        with admin.engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        sep = "&" if "?" in args.pg else "?"
        db = Database(f"{args.pg}{sep}options=-csearch_path%3D{schema}")
        try:
            db.migrate()
            results += measure("postgresql", db, args.cases, args.repeat)
        finally:
            db.dispose()
            admin = Database(args.pg)
            with admin.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    print(f"\n{args.cases} cases; medians of {args.repeat} runs, ms (server time, no network)")
    print("| database | viewer | open in view | wall query | GET /wall | bot list_cases | wall / list |")
    print("|---|---|---|---|---|---|---|")
    for name, code, wall, page, listed, total in results:
        print(f"| {name} | {code} | {total} | {wall:.1f} | {page:.1f} | {listed:.1f} | {wall / listed:.2f} |")
    worst = max(r[3] for r in results)
    print(f"\nslowest GET /wall: {worst:.1f} ms (budget 300 ms): {'OK' if worst <= 300 else 'OVER BUDGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
