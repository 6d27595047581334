"""CaseService: the one door through which reports become cases and cases move.

Why it is shaped this way:
- **Store first.** ``file_report`` commits the raw report (text or audio bytes) before any triage or routing;
  a classifier bug or an org tree with nobody to own the case leaves a stored case in ``reported`` with a
  ``routing_failed`` event and a notice to the admins — never a lost report.
- **One transaction per step.** Every change updates the case, appends its ``CaseEvent`` (actor, time, from/to,
  note, data) and queues its notifications (outbox) atomically. ``Case.version`` is an optimistic lock: when
  two officials press a button at once, one wins and the other gets :class:`ConcurrentUpdate`.
- **Permissions live here**, not in the bot (see :mod:`workflows.permissions`).
- **Views out.** Every method returns frozen dataclasses (:mod:`workflows.views`), never ORM objects.
- All methods are synchronous (the bot calls them via ``asyncio.to_thread``).

Why a package: one service, one object for the bot and the scheduler to hold, but its code split by who calls
it, each module a layer that builds only on the ones below it:

- :mod:`~workflows.cases.plumbing` — construction, transactions, loading, events, transitions, deadlines and
  the hand-over steps (assign, escalate, urgent alert) that several operations share;
- :mod:`~workflows.cases.queries` — reads: a case, its timeline, lists and counts, the ledger;
- :mod:`~workflows.cases.reporting` — a report comes in: store it, triage it, route it;
- :mod:`~workflows.cases.voice` — the transcription worker's side: transcripts in, failures, pending work;
- :mod:`~workflows.cases.actions` — officials' and reporters' buttons (accept, resolve, reassign ...);
- :mod:`~workflows.cases.media` — photos, albums, videos, documents, places in; what officials are sent along;
- :mod:`~workflows.cases.due` — the scheduler's side: reminders, automatic escalation and closing.

:class:`CaseService` is just the composition of the last three (which include the rest).
"""

from __future__ import annotations

from workflows.cases.due import CaseDueWork
from workflows.cases.media import CaseMediaReports, MediaFiled, MediaItem
from workflows.cases.plumbing import EVENT_KIND
from workflows.cases.queries import SCOPES
from workflows.cases.reporting import MEDIA_KINDS, AudioIn, MediaIn
from workflows.cases.voice import MAX_TRANSCRIPTION_ATTEMPTS, CaseVoice, PendingTranscription

__all__ = [
    "EVENT_KIND",
    "MAX_TRANSCRIPTION_ATTEMPTS",
    "MEDIA_KINDS",
    "SCOPES",
    "AudioIn",
    "CaseService",
    "MediaFiled",
    "MediaIn",
    "MediaItem",
    "PendingTranscription",
]


class CaseService(CaseVoice, CaseMediaReports, CaseDueWork):
    """Reports in, cases moved, due work done, cases read. See the package docstring for the layout."""
