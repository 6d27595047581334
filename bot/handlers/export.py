"""``/ledger``: the official's 台账 (case ledger) as two documents, straight into the chat: an XLSX workbook
and the same rows as CSV.

Why files and not a message: township and county offices keep the ledger in Excel/WPS and hand it up the
chain; the workbook opens there as it is (frozen Chinese header, auto-filter, dates as dates), and the CSV
serves any other tool. Both are the very files ``lianhu ledger`` writes (same columns, Beijing time, headers
and words in the official's language, CSV in UTF-8 with a BOM so Chinese and Tibetan show correctly). The rows come from
``CaseService.ledger(viewer_id)``, so the domain decides what "my jurisdiction" is — the same rule as
``/cases`` and the buttons: a grid leader gets the village, the governance centre the county's urgent cases,
a department contact its own categories.

Liaison workers are told politely that the ledger is for officials and pointed to ``/my``: a spreadsheet on
a herder's phone helps nobody, and their own cases are already one tap away.
"""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import Update
from telegram.ext import ContextTypes

from bot.handlers.common import OFFICIAL_ROLES, call, ctx_of, lang_for, reply, require_person
from i18n import t
from runtime.ledger import DEFAULT_TIMEZONE, csv_bytes, open_only, present, unit_code, xlsx_bytes, zone
from runtime.tasks_export import VISITS_SHEET, visits_grid

#: ``/ledger open`` (or the Chinese words officials actually type) → only cases still being worked on.
OPEN_WORDS = frozenset({"open", "未办结", "未结", "待办"})


def ledger_filename(unit: str, when: datetime, ext: str = "csv") -> str:
    """``ledger-V0101-2026-01-05.xlsx``: the unit and the local date, so files from different days and
    townships do not overwrite each other in a download folder (ASCII: safe on every phone and PC)."""
    return f"ledger-{unit}-{when:%Y-%m-%d}.{ext}"


async def ledger_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    person = await require_person(update, context)
    if person is None:
        return
    lang = lang_for(person)
    if person.role not in OFFICIAL_ROLES:
        await reply(update, t(lang, "ledger.officials_only"))
        return
    args = [a.strip().lower() for a in context.args or [] if a.strip()]
    if len(args) > 1 or (args and args[0] not in OPEN_WORDS):
        await reply(update, t(lang, "ledger.usage"))
        return
    only_open = bool(args)
    bc = ctx_of(context)
    rows = await call(bc.cases.ledger, person.id)
    visits = await call(bc.visits.ledger_rows, person.id)  # the workbook's second sheet: the six must-visits
    if only_open:
        rows = open_only(rows)
        visits = [v for v in visits if v["state"] == "open"]
    if not rows and not visits:
        await reply(update, t(lang, "ledger.empty_open" if only_open else "ledger.empty"))
        return
    tz = zone(DEFAULT_TIMEZONE)
    now = bc.clock.now()
    local_now = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(tz)
    code = await call(unit_code, bc.db, person.unit_id)
    caption = t(lang, "ledger.caption_open" if only_open else "ledger.caption", unit=person.unit_name,
                count=len(rows), date=f"{local_now:%Y-%m-%d %H:%M}")
    chat = update.effective_chat
    assert chat is not None
    table = present(rows, tz)
    workbook = await call(xlsx_bytes, table, lang, [(VISITS_SHEET, visits_grid(visits))])
    await chat.send_document(document=workbook, filename=ledger_filename(code, local_now, "xlsx"), caption=caption)
    await chat.send_document(document=csv_bytes(table, lang), filename=ledger_filename(code, local_now, "csv"))
