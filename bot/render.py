"""Turning domain views and notification payloads into text in the reader's language.

Why separate from the handlers and the delivery port: the same case card appears in a new-case ping, a
reminder, ``/case N`` and a refreshed message after a button press; one renderer keeps them identical and
unit-testable without Telegram. Everything here is pure (no I/O); every word comes from :mod:`i18n`.

Times are stored as naive UTC; officials read them in China Standard Time (UTC+8, no daylight saving).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.textsplit import clip
from i18n import event_text, label, plain_label, t
from workflows.views import CaseView, TimelineEntry

LOCAL_OFFSET = timedelta(hours=8)
TEXT_IN_CARD = 600  # characters of the report shown in a card; /case N shows the timeline too
TEXT_IN_LIST = 24


def local_time(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return (value + LOCAL_OFFSET).strftime("%m-%d %H:%M")


def _name(ref: Any, lang: str) -> str:
    """A person ref from a view (PersonRef) or a payload (dict with "name"); None → "nobody"."""
    if ref is None:
        return t(lang, "card.nobody")
    if isinstance(ref, Mapping):
        return str(ref.get("name") or t(lang, "card.nobody"))
    return str(getattr(ref, "name", ref))


def understood(lang: str, category: str | None, urgency: str | None) -> dict[str, str]:
    return {"category": label(lang, "category", category or "other"), "urgency": label(lang, "urgency", urgency or "general")}


def understood_plain(lang: str, category: str | None, urgency: str | None) -> dict[str, str]:
    """:func:`understood` in a herder's words (what a liaison worker reads)."""
    return {"category": plain_label(lang, "category", category or "other"),
            "urgency": plain_label(lang, "urgency", urgency or "general")}


def _cues(view: CaseView) -> str:
    """The "why" line (:meth:`CaseView.why_words`: what decided the urgency, then the category)."""
    return "、".join(view.why_words())[:80]


def case_card(lang: str, view: CaseView, *, timeline: Sequence[TimelineEntry] = (), for_official: bool = True) -> str:
    """The case card: number and state, what it is, who, when, the text; optionally the timeline."""
    lines = [
        t(lang, "card.head", case_id=view.id, state=label(lang, "state", view.state)),
        t(lang, "card.triage", **(understood if for_official else understood_plain)(lang, view.category, view.urgency)),
        t(lang, "card.owner", owner=_name(view.owner, lang)),
    ]
    if for_official:
        lines.append(t(lang, "card.reporter", reporter=view.reporter.name, unit=" / ".join(view.unit_path[1:]) or view.unit_name))
    lines.append(t(lang, "card.reported_at", time=local_time(view.created_at)))
    due = view.ack_due_at if view.state == "assigned" else view.resolve_due_at
    if due is not None and view.state in ("assigned", "accepted"):
        lines.append(t(lang, "card.due", time=local_time(due)))
    if view.overdue:
        lines.append(t(lang, "card.overdue"))
    if view.needs_review:
        lines.append(t(lang, "card.needs_review"))
        if for_official and stand_in_speech(view):
            lines.append(t(lang, "card.stand_in_speech"))
    if for_official and view.cues and _cues(view):
        lines.append(t(lang, "card.why", cues=_cues(view)))
    text = (view.text or "").strip()
    if text:
        lines.append("「" + clip(text, TEXT_IN_CARD) + "」")
    elif view.has_audio:
        lines.append(no_text(lang, view.transcript_status))
    if view.media_kinds:
        lines.append(media_line(lang, view.media_kinds))
    if view.resolution_note:
        lines.append(t(lang, "card.note", note=view.resolution_note))
    if timeline:
        lines.append("")
        lines.append(t(lang, "card.timeline"))
        lines.extend(timeline_line(lang, e) for e in timeline)
    return "\n".join(lines)


def stand_in_speech(view: CaseView) -> bool:
    """A Tibetan voice note whose text came back yet was sent for review: that happens when the transcript is
    from a stand-in model (``reliable=False``, Whisper base for Tibetan; runtime/voice.py), so the official is
    told in one line to listen rather than trust the text."""
    return view.language == "bo" and view.transcript_status == "done" and bool((view.text or "").strip())


def no_text(lang: str, transcript_status: str | None) -> str:
    """The card's text line when there is no text: still waiting for the transcript, or it failed (never
    both "failed" and "waiting" on one card)."""
    if transcript_status in ("failed", "empty"):
        return t(lang, "card.voice_unrecognised")
    return t(lang, "card.no_text")


def media_line(lang: str, kinds: Sequence[str]) -> str:
    """What came with the report, e.g. "附件：📷 照片 ×3、📍 位置" (the media themselves are sent along)."""
    counts: dict[str, int] = {}
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    items = [t(lang, f"media.item.{k}") + (f" ×{n}" if n > 1 else "") for k, n in counts.items()]
    return t(lang, "card.media", items="、".join(items) if lang != "en" else ", ".join(items))


def payload_card(lang: str, p: Mapping[str, Any]) -> str:
    """A card from a notification payload, for when the case can no longer be read (should be rare)."""
    lines = [
        t(lang, "card.head", case_id=p.get("case_id"), state=label(lang, "state", p.get("state"))),
        t(lang, "card.triage", **understood(lang, p.get("category"), p.get("urgency"))),
        t(lang, "card.owner", owner=_name(p.get("owner"), lang)),
    ]
    text = str(p.get("text") or "").strip()
    lines.append("「" + clip(text, TEXT_IN_CARD) + "」" if text else no_text(lang, p.get("transcript_status")))
    return "\n".join(lines)


def timeline_line(lang: str, e: TimelineEntry) -> str:
    what = event_text(lang, e.kind, e.data, clip(e.note or "", 120))
    who = e.actor_name or t(lang, "card.system")
    return f"{local_time(e.at)} {who}: {what}"


def list_line(lang: str, view: CaseView, *, viewer_id: int | None = None) -> str:
    """One line per case in /my, /cases, /overdue: number, urgency, category, state, who has it when that is
    not the viewer (a case escalated away, or someone else's in the area), a bit of the text."""
    mine = viewer_id is not None and view.reporter.id == viewer_id  # a worker's /my: in a herder's words
    name = plain_label if mine else label
    head = t(
        lang,
        "list.line",
        case_id=view.id,
        urgency=name(lang, "urgency", view.urgency),
        category=name(lang, "category", view.category),
        state=label(lang, "state", view.state),
        overdue=t(lang, "list.overdue_mark") if view.overdue else "",
    )
    if viewer_id is not None and view.reporter.id != viewer_id and (view.owner is None or view.owner.id != viewer_id):
        head += t(lang, "list.owner", owner=_name(view.owner, lang))
    text = (view.text or "").strip().replace("\n", " ")
    return f"{head} {clip(text, TEXT_IN_LIST)}" if text else head


def reason_text(lang: str, payload: Mapping[str, Any]) -> str:
    """Why a case moved up: the official's own words, else the system's reason in words."""
    note = (payload.get("note") or "").strip() if isinstance(payload.get("note"), str) else ""
    reason = payload.get("reason")
    if note:
        return note
    if reason in ("ack_overdue", "resolve_overdue", "triage_corrected", "owner_unreachable"):
        return t(lang, f"reason.{reason}")
    if reason == "manual":
        return t(lang, "reason.manual", by=_name(payload.get("by"), lang))
    return str(reason or "")


def report_receipt(lang: str, view: CaseView | None, payload: Mapping[str, Any], *, voice: bool) -> str:
    """What the worker sees after reporting: number, what we understood, the text echoed, who owns it."""
    case_id = view.id if view else payload.get("case_id")
    category = view.category if view else payload.get("category")
    urgency = view.urgency if view else payload.get("urgency")
    owner = _name(view.owner if view else payload.get("owner"), lang)
    text = ((view.text if view else payload.get("text")) or "").strip()
    needs_review = view.needs_review if view else bool(payload.get("needs_review"))
    if voice and not text:
        body = t(lang, "voice.failed", case_id=case_id, owner=owner)
    elif not text:  # a photo or place routed without words (nobody answered "what happened?" in time)
        body = t(lang, "media.filed_no_words", case_id=case_id, owner=owner)
    else:
        body = t(lang, "report.filed", case_id=case_id, text=clip(text, TEXT_IN_CARD), owner=owner,
                 **understood_plain(lang, category, urgency))
        if needs_review:
            body += "\n" + t(lang, "report.review_note")
    resolve_due = view.resolve_due_at if view else payload.get("resolve_due_at")
    ack_due = view.ack_due_at if view else payload.get("ack_due_at")
    if (view is None or view.state in ("assigned", "accepted")) and resolve_due and ack_due:
        body += "\n" + t(lang, "report.deadline", ack=local_time(ack_due), due=local_time(resolve_due))
    if urgency == "urgent":
        body += "\n" + t(lang, "report.urgent_note", who=_alerted(lang, payload.get("alerted")))
    return body


def _alerted(lang: str, alerted: Any) -> str:
    """Who an urgent report reached at once besides the owner: the county centre, and by name the others
    (the township commander), so the worker knows who was paged."""
    people = [a for a in (alerted or []) if isinstance(a, Mapping)]
    names = [f"{a.get('name')}（{label(lang, 'role', str(a.get('role') or ''))}）" for a in people
             if a.get("role") != "governance_operator"]
    return "、".join([t(lang, "report.centre"), *names])
