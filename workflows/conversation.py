"""Conversation state in the database: what a bot process must remember between two updates.

Why the database and not the process: behind a load balancer, an official may press "办结" (resolve) on one
bot process and type the note to another; a restart (deploy, crash) between question and answer must not
lose the question either. Each entry is a small JSON value under ``(subject, name)``:

- ``subject`` is whose conversation it is, as a plain string chosen by the adapter (the Telegram bot uses
  ``"tg:<chat_id>"``; another adapter picks its own prefix). The domain never interprets it.
- ``name`` says what is remembered: ``"prompt"`` for the one open question (see :class:`Prompt`), or any
  other key (``"followup:<message_id>"``, ``"voice_placeholder:<case_id>"``...).

:meth:`ConversationState.take` reads *and* deletes in one statement (``DELETE ... RETURNING``), so when the
same answer reaches two processes (a redelivered update) only one of them gets the question. Entries expire
(``ttl``): a question nobody answered within a day is forgotten rather than catching an unrelated message a
week later. Expired rows are invisible at once and removed by :meth:`ConversationState.prune`.

Prompts (one per subject): ``ask(subject, Prompt("res", case_id=12))`` when the bot asks "how was it
resolved?", ``answer(subject)`` when a message arrives (returns the prompt and clears it; ask again to keep
it open), ``pending(subject)`` to look without clearing, ``cancel(subject)``. ``Prompt.data`` carries
whatever else the answer needs (e.g. ``{"task_id": 7, "step": "problem"}`` for a task answer given in two
steps).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Database
from storage.models import ConversationEntry
from workflows.ports import Clock

PROMPT = "prompt"
DEFAULT_TTL = timedelta(hours=24)
#: Longest value stored (characters of its JSON); a guard against storing a whole report by mistake.
MAX_VALUE_CHARS = 8_000


@dataclass(frozen=True)
class Prompt:
    """An open question to the person: ``verb`` says what the next message answers (the bot's callback verb,
    e.g. ``"res"``, ``"esc"``, ``"rej"``, ``"dup"``, ``"add"``), ``case_id`` which case it is about."""

    verb: str
    case_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"verb": self.verb, "case_id": self.case_id, "data": dict(self.data)}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Prompt:
        case_id = value.get("case_id")
        return cls(verb=str(value["verb"]), case_id=int(case_id) if case_id is not None else None,
                   data=dict(value.get("data") or {}))


class ConversationState:
    """Small key-value store per conversation, shared by every process on the database. Synchronous (call
    it through ``asyncio.to_thread`` from async code); every method is one short transaction."""

    def __init__(self, db: Database, clock: Clock, *, default_ttl: timedelta = DEFAULT_TTL) -> None:
        self.db = db
        self.clock = clock
        self.default_ttl = default_ttl

    # -- generic entries ------------------------------------------------------------------------------------

    def put(self, subject: str, name: str, value: Mapping[str, Any], *, ttl: timedelta | None = None) -> None:
        """Remember ``value`` under ``(subject, name)``, replacing what was there (``ttl`` None: the default;
        entries always expire)."""
        value = dict(value)
        if len(json.dumps(value, ensure_ascii=False, default=str)) > MAX_VALUE_CHARS:
            raise ValueError(f"conversation value for {subject}/{name} is too large")
        now = self.clock.now()
        expires = now + (ttl if ttl is not None else self.default_ttl)
        insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
        stmt = insert(ConversationEntry).values(subject=subject, name=name, value=value, updated_at=now,
                                                expires_at=expires)
        stmt = stmt.on_conflict_do_update(
            index_elements=[ConversationEntry.subject, ConversationEntry.name],
            set_={"value": stmt.excluded.value, "updated_at": now, "expires_at": expires},
        )
        with self.db.session() as s:
            s.execute(stmt)

    def get(self, subject: str, name: str) -> dict[str, Any] | None:
        """The value, or None (never stored, taken, or expired)."""
        now = self.clock.now()
        with self.db.session() as s:
            row = s.execute(
                select(ConversationEntry.value).where(
                    ConversationEntry.subject == subject, ConversationEntry.name == name,
                    ConversationEntry.expires_at > now,
                )
            ).first()
        return dict(row[0]) if row is not None else None

    def take(self, subject: str, name: str) -> dict[str, Any] | None:
        """The value, removed in the same statement: of two processes taking it at once, one gets it."""
        now = self.clock.now()
        with self.db.session() as s:
            row = s.execute(
                delete(ConversationEntry)
                .where(ConversationEntry.subject == subject, ConversationEntry.name == name)
                .returning(ConversationEntry.value, ConversationEntry.expires_at)
            ).first()
        if row is None or row[1] <= now:
            return None
        return dict(row[0])

    def drop(self, subject: str, name: str | None = None) -> int:
        """Forget one entry, or everything about ``subject``. Returns how many rows went."""
        q = delete(ConversationEntry).where(ConversationEntry.subject == subject)
        if name is not None:
            q = q.where(ConversationEntry.name == name)
        with self.db.session() as s:
            return s.execute(q).rowcount or 0

    def prune(self, now: datetime | None = None) -> int:
        """Remove expired entries (the scheduler calls this now and then)."""
        now = now or self.clock.now()
        with self.db.session() as s:
            return s.execute(delete(ConversationEntry).where(ConversationEntry.expires_at <= now)).rowcount or 0

    # -- the one open question per subject ---------------------------------------------------------------------

    def ask(self, subject: str, prompt: Prompt, *, ttl: timedelta | None = None) -> None:
        """The next message from ``subject`` answers ``prompt`` (replaces an earlier open question)."""
        self.put(subject, PROMPT, prompt.to_json(), ttl=ttl)

    def answer(self, subject: str) -> Prompt | None:
        """A message arrived: the open question it answers, now cleared (``ask`` again to keep it open)."""
        value = self.take(subject, PROMPT)
        return Prompt.from_json(value) if value is not None else None

    def pending(self, subject: str) -> Prompt | None:
        """The open question, left open."""
        value = self.get(subject, PROMPT)
        return Prompt.from_json(value) if value is not None else None

    def cancel(self, subject: str) -> Prompt | None:
        """The person pressed "cancel": forget the question (returns it, if there was one)."""
        return self.answer(subject)
