"""Intake speed: a text report stored, triaged, routed and its notifications queued (``CaseService.file_report``).

    .venv/bin/python benchmarks/intake.py [--reports 600] [--writers 4] [--pg URL] [--county sample|big]

Side by side in one run (the machine is shared; read the ratios):
- ``sqlite``: one process filing reports one after another into a fresh SQLite file;
- ``postgresql``: ``--writers`` processes filing at once into a fresh PostgreSQL schema (``--pg``, default
  ``$LIANHU_TEST_PG_URL``), like bot replicas behind a load balancer.

Each report is a real one from ``tests/data/reports-dev.jsonl`` (a third of them urgent, so the urgent alert
runs too), filed by a liaison worker of the county with the shipped classifier (rules + model). Printed per
database: p50/p95 latency of ``file_report`` (ms), reports/s over the wall-clock time of the whole run, SQL
statements and commits per report (counted with SQLAlchemy's ``before_cursor_execute`` / ``commit`` events).
``--county big`` imports a county with 8 townships x 12 villages x 4 grids (400+ units), so the org tree is not
trivially small. The first 20 reports per writer are a warm-up (classifier loading) and are not counted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, select, text  # noqa: E402

from benchmarks.county import write_tree  # noqa: E402
from storage.db import Database  # noqa: E402

WARMUP = 20
TARGETS = {"sqlite": (10.0, 300.0), "postgresql": (20.0, 300.0)}  # p95 ms, reports/s


@dataclass
class Result:
    latencies_ms: list[float]
    statements: int
    commits: int
    reports: int
    started: float
    finished: float


def texts() -> list[str]:
    rows = [
        json.loads(line)
        for line in (ROOT / "tests/data/reports-dev.jsonl").read_text("utf-8").splitlines()
        if line.strip()
    ]
    return [r["text"] for r in rows if r.get("text")]


def prepare(db: Database, county: str) -> None:
    from storage.orgtree import SAMPLE_DIR, import_org_dir

    db.migrate()
    if county == "sample":
        with db.session() as s:
            import_org_dir(s, SAMPLE_DIR)
        return
    with tempfile.TemporaryDirectory() as tmp:
        write_tree(Path(tmp))
        with db.session() as s:
            import_org_dir(s, Path(tmp))


def writer(url: str, index: int, count: int, start_at: float | None, out: mp.Queue | None = None) -> Result:
    """File ``count`` reports (after the warm-up) and measure each; ``start_at``: a shared start instant."""
    from runtime.config import BotConfig, Config, DatabaseConfig
    from runtime.wiring import build_services
    from storage.models import Person, Role

    db = Database(url)
    services = build_services(Config(bot=BotConfig(), database=DatabaseConfig(url=url)), db=db)
    cases = services.case_service
    with db.session() as s:
        workers = list(
            s.scalars(select(Person.id).where(Person.role == Role.liaison_worker).order_by(Person.id))
        )
    corpus = texts()
    counter = {"sql": 0, "commit": 0}

    @event.listens_for(db.engine, "before_cursor_execute")
    def _count(*_a: object) -> None:
        counter["sql"] += 1

    @event.listens_for(db.engine, "commit")
    def _commit(*_a: object) -> None:
        counter["commit"] += 1

    def one(i: int) -> float:
        t0 = time.perf_counter()
        cases.file_report(
            workers[(i * 7 + index) % len(workers)],
            text=corpus[i % len(corpus)],
            source_key=f"bench:{index}:{i}",
        )
        return (time.perf_counter() - t0) * 1000

    for i in range(WARMUP):
        one(10_000_000 + i)
    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    counter["sql"] = counter["commit"] = 0
    started = time.time()
    latencies = [one(i) for i in range(count)]
    result = Result(latencies, counter["sql"], counter["commit"], count, started, time.time())
    db.dispose()
    if out is not None:
        out.put(result)
    return result


def _writer_proc(url: str, index: int, count: int, start_at: float, out: mp.Queue) -> None:
    writer(url, index, count, start_at, out)


def run(url: str, writers: int, reports: int) -> list[Result]:
    if writers == 1:
        return [writer(url, 0, reports, None)]
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    start_at = time.time() + 25.0  # time for every process to import, wire and warm up
    procs = [
        ctx.Process(target=_writer_proc, args=(url, i, reports // writers, start_at, out))
        for i in range(writers)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=900) for _ in procs]
    for p in procs:
        p.join()
    return results


def summarise(name: str, writers: int, results: list[Result]) -> dict[str, float | str | int]:
    lat = sorted(x for r in results for x in r.latencies_ms)
    n = sum(r.reports for r in results)
    wall = max(r.finished for r in results) - min(r.started for r in results)
    p95 = lat[max(0, int(len(lat) * 0.95) - 1)]
    return {
        "db": name,
        "writers": writers,
        "reports": n,
        "p50": statistics.median(lat),
        "p95": p95,
        "rps": n / wall,
        "sql": sum(r.statements for r in results) / n,
        "commits": sum(r.commits for r in results) / n,
    }


def pg_schema_url(base: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = Database(base)
    with admin.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(base: str, schema: str) -> None:
    admin = Database(base)
    with admin.engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reports", type=int, default=600, help="reports per database (split over the writers)"
    )
    parser.add_argument("--writers", type=int, default=4, help="concurrent writer processes on PostgreSQL")
    parser.add_argument(
        "--pg",
        metavar="URL",
        default=os.environ.get("LIANHU_TEST_PG_URL"),
        help="PostgreSQL base URL (a fresh schema is made and dropped)",
    )
    parser.add_argument("--county", choices=("sample", "big"), default="big")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/intake.sqlite3"
        db = Database(url)
        prepare(db, args.county)
        db.dispose()
        rows.append(summarise("sqlite", 1, run(url, 1, args.reports)))
        print(f"sqlite done: {rows[-1]}", flush=True)
    if args.pg:
        url, schema = pg_schema_url(args.pg)
        try:
            db = Database(url)
            prepare(db, args.county)
            db.dispose()
            rows.append(summarise("postgresql", args.writers, run(url, args.writers, args.reports)))
        finally:
            drop_schema(args.pg, schema)
    load = os.getloadavg()
    print(
        f"\nintake, {args.county} county, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"({os.cpu_count()} cores)"
    )
    print(
        "| database | writers | reports | p50 ms | p95 ms | reports/s | SQL/report | commits/report | target |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        p95_t, rps_t = TARGETS[str(r["db"])]
        ok = "met" if r["p95"] <= p95_t and r["rps"] >= rps_t else "not met"
        print(
            f"| {r['db']} | {r['writers']} | {r['reports']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['rps']:.0f} "
            f"| {r['sql']:.1f} | {r['commits']:.2f} | p95 ≤ {p95_t:.0f} ms, ≥ {rps_t:.0f}/s: {ok} |"
        )
    if len(rows) == 2:
        print(
            f"\npostgresql / sqlite: p95 x{rows[1]['p95'] / rows[0]['p95']:.2f}, "
            f"throughput x{rows[1]['rps'] / rows[0]['rps']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
