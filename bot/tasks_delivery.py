"""Renderers of the task and visit notifications (one per Kind, registered in ``bot.delivery.RENDERERS``) and
the loader of what they are about.

Why load at delivery time: a task sheet shows each household's current mark, a reminder must not show a line
already answered as open, and a visit card shows its current owner and state — so the renderer gets the sheet,
the task or the visit as the *recipient* sees it now (``Notice.subject``), like case cards get the case.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot import tasks_render as tr
from bot.delivery import Notice, Outgoing, renders
from bot.render import local_time
from i18n import label
from workflows.errors import DomainError
from workflows.notifications import Kind

log = logging.getLogger(__name__)

WORKER_KINDS = frozenset({"task_assigned", "task_reminder", "task_cancelled"})
ISSUER_KINDS = frozenset({"task_summary", "task_complete", "task_closed"})


def load_subject(tasks: Any, visits: Any, kind: str, payload: Mapping[str, Any], recipient_id: int) -> Any:
    """The sheet / task / visit a notification is about, as the recipient may see it now (None: render from
    the payload). Synchronous: the delivery port calls it in a thread."""
    try:
        if kind in WORKER_KINDS and tasks is not None and payload.get("task_id"):
            sheet = tasks.sheet(int(payload["task_id"]), recipient_id)
            if kind == "task_assigned" and sheet.has_audio:
                return sheet, tasks.audio(sheet.task_id, recipient_id)
            return sheet
        if kind in ISSUER_KINDS and tasks is not None and payload.get("task_id"):
            return tasks.get(int(payload["task_id"]), recipient_id)
        if kind.startswith("visit_") and visits is not None and payload.get("visit_id"):
            return visits.get(int(payload["visit_id"]), recipient_id)
    except DomainError as exc:  # e.g. the reporter told of a visit may not open the visit itself
        log.info("%s for person %s rendered from its payload: %s", kind, recipient_id, exc)
    return None


# ------------------------------------------------------------------------------------------- tasks


@renders(Kind.task_assigned)
def _task_assigned(n: Notice) -> Outgoing:
    subject, audio = n.subject if isinstance(n.subject, tuple) else (n.subject, None)
    if subject is None:
        return Outgoing(n.t("n.generic", case_id=n.payload.get("task_id")))
    return Outgoing(tr.sheet_text(n.lang, subject), tr.sheet_keyboard(n.lang, subject), voice_first=audio)


@renders(Kind.task_reminder)
def _task_reminder(n: Notice) -> Outgoing:
    sheet = n.subject
    if sheet is None or sheet.state != "sent" or sheet.open_lines == 0:  # answered or closed meanwhile
        task_id = n.payload.get("task_id")
        return Outgoing(n.t("task.sheet_reminder", task_id=task_id, open=n.payload.get("open", 0),
                            due=local_time(n.payload.get("due_at"))) if sheet is None else
                        tr.sheet_text(n.lang, sheet))
    return Outgoing(tr.sheet_text(n.lang, sheet, reminder=True), tr.sheet_keyboard(n.lang, sheet))


@renders(Kind.task_cancelled)
def _task_cancelled(n: Notice) -> Outgoing:
    reason = n.payload.get("reason") or ""
    return Outgoing(n.t("n.task_cancelled", task_id=n.payload.get("task_id"), reason=reason).strip())


def _issuer(n: Notice, key: str) -> Outgoing:
    view = n.subject
    header = n.t(key, task_id=n.payload.get("task_id"))
    if view is None:
        return Outgoing(header)
    return Outgoing(tr.progress_text(n.lang, view, header), tr.progress_keyboard(n.lang, view))


@renders(Kind.task_summary)
def _task_summary(n: Notice) -> Outgoing:
    return _issuer(n, "n.task_summary")


@renders(Kind.task_complete)
def _task_complete(n: Notice) -> Outgoing:
    return _issuer(n, "n.task_complete")


@renders(Kind.task_closed)
def _task_closed(n: Notice) -> Outgoing:
    return _issuer(n, "n.task_closed")


# ------------------------------------------------------------------------------------------- visits


def _card(n: Notice, header: str) -> Outgoing:
    view = n.subject
    if view is None:
        return Outgoing(header)
    return Outgoing(tr.visit_card(n.lang, view, header), tr.visit_keyboard(n.lang, view))


@renders(Kind.visit_assigned)
def _visit_assigned(n: Notice) -> Outgoing:
    return _card(n, n.t("n.visit_unowned" if n.payload.get("unowned") else "n.visit_assigned"))


@renders(Kind.visit_reminder)
def _visit_reminder(n: Notice) -> Outgoing:
    key = "n.visit_overdue" if n.payload.get("overdue") else "n.visit_reminder"
    view = n.subject
    if view is not None and view.state != "open":
        return Outgoing(tr.visit_card(n.lang, view))  # done meanwhile: say so, no buttons
    return _card(n, n.t(key, visit_id=n.payload.get("visit_id"), due=local_time(n.payload.get("due_at"))))


@renders(Kind.visit_escalated)
def _visit_escalated(n: Notice) -> Outgoing:
    header = n.t("n.visit_escalated", visit_id=n.payload.get("visit_id"), from_owner=n.name("from_owner"),
                 to_owner=n.name("to_owner"))
    to_owner = n.payload.get("to_owner") or {}
    if isinstance(to_owner, Mapping) and to_owner.get("id") == n.recipient_id:
        return _card(n, header)
    return Outgoing(header)


@renders(Kind.visit_handed_on)
def _visit_handed_on(n: Notice) -> Outgoing:
    header = n.t("n.visit_handed_on", visit_id=n.payload.get("visit_id"), by=n.name("by"), to_owner=n.name("to_owner"))
    to_owner = n.payload.get("to_owner") or {}
    if isinstance(to_owner, Mapping) and to_owner.get("id") == n.recipient_id:
        return _card(n, header)
    return Outgoing(header)


@renders(Kind.visit_done)
def _visit_done(n: Notice) -> Outgoing:
    view = n.subject
    household = (view.household.head_name if view is not None and view.household else
                 n.payload.get("household") or label(n.lang, "visit_kind", str(n.payload.get("visit_kind") or "")))
    return Outgoing(n.t("n.visit_done", by=n.name("by"), household=household, note=n.payload.get("note") or ""))


@renders(Kind.visit_cancelled)
def _visit_cancelled(n: Notice) -> Outgoing:
    return Outgoing(n.t("n.visit_cancelled", visit_id=n.payload.get("visit_id"), by=n.name("by"),
                        reason=n.payload.get("reason") or ""))
