"""A burst: 1,000 reminders (and some urgent alerts) fall due at once — how long until the last one leaves?

    .venv/bin/python benchmarks/burst.py [--reminders 1000] [--officials 120] [--urgent 30] [--pg URL]

Builds a county (8 townships x 12 villages x 4 grids), ``--reminders`` assigned cases whose reminder is due now,
owned by ``--officials`` grid leaders (so a chat gets several: the 1-per-second-per-chat limit matters), and
``--urgent`` urgent alerts queued *after* the reminders. Then one scheduler run (``DueWork.run_once``) and the
outbox's drain (``OutboxDispatcher.drain``, the scheduler's outbox tick) with the production limits: 25 sends/s
for the bot, per chat a burst of 3 then 1/s. The port stands in for Telegram: 40–120 ms per call, and 1 % of
calls answered 429 with ``retry_after`` 1 s. (It is not the fake Bot API server: this measures the outbox's
pacing and claiming, not PTB's HTTP stack.)

Printed: time for the due run, drain time of everything (goal: all within 60 s), when the urgent alerts left
(goal: before the routine reminders they were queued after), sends/s, the peak per-second rate (must be ≤ 25 + a
burst), the worst per-chat spacing, notifications lost (must be 0) and sent twice (must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

from benchmarks.county import write_tree  # noqa: E402
from storage.db import Database  # noqa: E402

NOW = datetime(2026, 1, 5, 8, 0)


class TelegramLikePort:
    """40–120 ms per call; 1 % answered 429 (retry after 1 s), like a busy Bot API."""

    def __init__(self, seed: int = 3) -> None:
        self.rng = random.Random(seed)
        self.sent: list[tuple[float, int, int, str]] = []  # (t, chat, notification id, kind)
        self.throttled = 0

    async def deliver(self, item) -> str | None:  # noqa: ANN001
        from workflows.ports import DeliveryError

        await asyncio.sleep(self.rng.uniform(0.04, 0.12))
        if self.rng.random() < 0.01:
            self.throttled += 1
            raise DeliveryError("429 Too Many Requests: retry after 1", retry_after=1.0)
        self.sent.append((time.monotonic(), item.chat_id, item.id, item.kind))
        return str(item.id)


def build(db: Database, reminders: int, officials: int, urgent: int) -> tuple:
    from storage.models import Case, Person, Role
    from storage.orgtree import import_org_dir
    from workflows.outbox import enqueue

    db.migrate()
    with tempfile.TemporaryDirectory() as tmp:
        write_tree(Path(tmp))
        with db.session() as s:
            import_org_dir(s, Path(tmp))
    rng = random.Random(5)
    with db.session() as s:
        for p in s.scalars(select(Person)):
            p.telegram_chat_id = 900_000 + p.id
        leaders = list(s.scalars(select(Person).where(Person.role == Role.grid_leader).order_by(Person.id)))
        workers = list(s.scalars(select(Person).where(Person.role == Role.liaison_worker)))
        # urgent alerts go to the county centre and the township commanders: several chats, as in life
        ops = list(s.scalars(select(Person).where(Person.role.in_(
            [Role.governance_operator, Role.township_commander, Role.county_commander]))))
    owners = leaders[:officials]
    policy = {
        "urgency": "general",
        "ack_within": 86400,
        "resolve_within": 604800,
        "remind_every": 86400,
        "remind_before_resolve": 86400,
        "autoclose_after": 259200,
    }
    rows = [
        {
            "reporter_id": rng.choice(workers).id,
            "unit_id": rng.choice(workers).unit_id,
            "owner_id": owners[i % len(owners)].id,
            "state": "assigned",
            "escalation_level": 0,
            "language": "zh",
            "text": f"报告 {i}",
            "transcript_attempts": 0,
            "urgency": "general",
            "category": "other",
            "needs_review": False,
            "policy": policy,
            "ack_due_at": NOW + timedelta(days=1),
            "resolve_due_at": NOW + timedelta(days=7),
            "next_reminder_at": NOW - timedelta(minutes=1),
            "reminders_sent": 0,
            "created_at": NOW - timedelta(days=1),
            "updated_at": NOW - timedelta(days=1),
            "version": 1,
        }
        for i in range(reminders)
    ]
    with db.session() as s:
        s.execute(insert(Case), rows)
    return ops, urgent, enqueue


async def run(db: Database, reminders: int, officials: int, urgent: int) -> dict:
    from runtime.config import BotConfig, Config, DatabaseConfig
    from runtime.wiring import build_services
    from storage.models import Notification, NotificationStatus
    from workflows.outbox import OutboxDispatcher
    from workflows.ports import FakeClock

    ops, n_urgent, enqueue = build(db, reminders, officials, urgent)
    clock = FakeClock(NOW)
    services = build_services(
        Config(bot=BotConfig(), database=DatabaseConfig(url=db.url)), clock=clock, db=db
    )
    t0 = time.monotonic()
    summary = await asyncio.to_thread(services.due_work(clock).run_once)
    due_s = time.monotonic() - t0
    with db.session() as s:  # urgent alerts queued after the burst of reminders
        for i in range(n_urgent):
            enqueue(
                s,
                recipient_id=ops[i % len(ops)].id if ops else 1,
                kind="urgent_alert",
                case_id=None,
                payload={"case_id": None, "urgency": "urgent"},
                dedupe_key=f"bench-alert:{i}",
                now=clock.now(),
            )
    port = TelegramLikePort()
    dispatcher = OutboxDispatcher(db, clock, port)
    start = time.monotonic()
    sent = 0
    while True:  # the outbox tick, again and again; the fake clock follows real time so retry_after passes
        sent += await dispatcher.drain(budget_s=20.0)
        clock.set(NOW + timedelta(seconds=time.monotonic() - start))
        with db.session() as s:
            left = s.scalar(
                select(text("count(*)"))
                .select_from(Notification)
                .where(Notification.status != NotificationStatus.sent)
            )
        if not left or time.monotonic() - start > 600:
            break
        await asyncio.sleep(0.2)
    drain_s = time.monotonic() - start
    with db.session() as s:
        total = s.scalar(select(text("count(*)")).select_from(Notification))
        unsent = s.scalar(
            select(text("count(*)"))
            .select_from(Notification)
            .where(Notification.status != NotificationStatus.sent)
        )
    ids = Counter(i for _, _, i, _ in port.sent)
    per_second = Counter(int(t - start) for t, _, _, _ in port.sent)
    by_chat: dict[int, list[float]] = defaultdict(list)
    for t, chat, _, _ in port.sent:
        by_chat[chat].append(t)
    tightest = min(
        (b - a for ts in by_chat.values() for a, b in zip(sorted(ts)[2:], sorted(ts)[3:], strict=False)),
        default=float("nan"),
    )
    alerts = [t - start for t, _, _, kind in port.sent if kind == "urgent_alert"]
    routine = [t - start for t, _, _, kind in port.sent if kind == "reminder"]
    return {
        "db": db.dialect,
        "due_s": due_s,
        "reminders": summary.reminders,
        "drain_s": drain_s,
        "total": total,
        "unsent": unsent,
        "twice": sum(1 for c in ids.values() if c > 1),
        "peak": max(per_second.values()),
        "rate": len(port.sent) / drain_s,
        "tightest": tightest,
        "throttled": port.throttled,
        "alerts_last": max(alerts) if alerts else float("nan"),
        "alerts_first": min(alerts) if alerts else float("nan"),
        "routine_first": min(routine) if routine else float("nan"),
        "routine_median": sorted(routine)[len(routine) // 2] if routine else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=1000)
    parser.add_argument("--officials", type=int, default=96)
    parser.add_argument("--urgent", type=int, default=30)
    parser.add_argument("--pg", metavar="URL", default=os.environ.get("LIANHU_TEST_PG_URL"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/burst.sqlite3")
        results.append(asyncio.run(run(db, args.reminders, args.officials, args.urgent)))
        db.dispose()
    if args.pg:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = Database(args.pg)
        with admin.engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in args.pg else "?"
        db = Database(f"{args.pg}{sep}options=-csearch_path%3D{schema}")
        try:
            results.append(asyncio.run(run(db, args.reminders, args.officials, args.urgent)))
        finally:
            db.dispose()
            with admin.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    load = os.getloadavg()
    print(
        f"\n{args.reminders} reminders due at once to {args.officials} officials + {args.urgent} urgent alerts "
        f"queued after them; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)"
    )
    print(
        "| database | due run s | reminders | notifications | drain s (goal ≤ 60) | sends/s | peak/s (≤ 25+burst) "
        "| tightest chat gap s | 429s | urgent alerts first–last s | reminders first–median s | lost | twice |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['db']} | {r['due_s']:.1f} | {r['reminders']} | {r['total']} | {r['drain_s']:.1f} | {r['rate']:.1f} "
            f"| {r['peak']} | {r['tightest']:.2f} | {r['throttled']} | {r['alerts_first']:.1f}–{r['alerts_last']:.1f} "
            f"| {r['routine_first']:.1f}–{r['routine_median']:.1f} | {r['unsent']} | {r['twice']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
