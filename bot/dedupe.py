"""Updates delivered twice are handled once.

Telegram re-delivers an update when the bot did not confirm it (a crash, a timeout on getUpdates, a webhook
that answered late). Reports are already idempotent by ``source_key``; this guard covers everything else (a
follow-up added to a case, a button pressed once but delivered twice) using the ``processed_updates`` table.

The update id is recorded *after* the handlers ran (a late handler group), so an update whose handling was
cut short by a crash is handled again on redelivery rather than lost; the duplicate check runs first.
Rows older than a few days are pruned (Telegram keeps undelivered updates for 24 hours).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from telegram import Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from storage.models import ProcessedUpdate

log = logging.getLogger(__name__)

KEEP_FOR = timedelta(days=3)
PRUNE_EVERY = 500  # updates


class UpdateDeduplicator:
    def __init__(self, db, clock) -> None:
        self.db = db
        self.clock = clock
        self._seen_since_prune = 0
        self._in_progress: set[int] = set()

    def _known(self, update_id: int) -> bool:
        with self.db.session() as s:
            return s.scalar(select(ProcessedUpdate.update_id).where(ProcessedUpdate.update_id == update_id)) is not None

    def _record(self, update_id: int) -> None:
        try:
            with self.db.session() as s:
                s.add(ProcessedUpdate(update_id=update_id, at=self.clock.now()))
        except IntegrityError:
            pass  # recorded by a concurrent delivery of the same update

    def _prune(self) -> None:
        with self.db.session() as s:
            s.execute(delete(ProcessedUpdate).where(ProcessedUpdate.at < self.clock.now() - KEEP_FOR))

    async def check(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Group -100: stop processing an update we have handled (or are handling) already."""
        if not isinstance(update, Update):
            return
        uid = update.update_id
        if uid in self._in_progress or await asyncio.to_thread(self._known, uid):
            log.info("update %s delivered again; already handled", uid)
            raise ApplicationHandlerStop
        self._in_progress.add(uid)

    async def record(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Group 100: the handlers are done with this update."""
        if not isinstance(update, Update):
            return
        uid = update.update_id
        try:
            await asyncio.to_thread(self._record, uid)
        finally:
            self._in_progress.discard(uid)
        self._seen_since_prune += 1
        if self._seen_since_prune >= PRUNE_EVERY:
            self._seen_since_prune = 0
            await asyncio.to_thread(self._prune)
