"""TelegramDelivery: the domain's outbox delivers every notification through this port.

Why every notification goes through the outbox (and not straight from a handler): the notification row is
committed with the state change, so a 429, a 500, a dropped connection or a crash between "case stored" and
"message sent" loses nothing; :class:`workflows.outbox.OutboxDispatcher` retries with backoff. This class
only renders and sends, and translates Telegram's failures into :class:`DeliveryError`:

- ``RetryAfter`` (429) → transient with ``retry_after``;
- ``Forbidden`` (blocked the bot, deactivated) and ``BadRequest`` (chat not found, a message Telegram will
  never accept) → permanent: retrying cannot help, the admins are told;
- ``TimedOut``/``NetworkError`` (incl. 5xx) and anything else from Telegram → transient.

Rendering happens at delivery time in the *recipient's* language, with buttons from what the recipient may
do *now* (``CaseView.allowed_actions``): a reminder delivered after the case was accepted elsewhere shows the
current state, not stale buttons.

Voice: when a case has audio, officials get the original recording (sendVoice with the stored bytes) with the
card as caption, so they can listen even when transcription failed. The worker's "transcribing…" message is
edited in place with the result (the ``case_received`` notification) instead of sending a second message.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot import keyboards as kb
from bot import render
from bot.i18n import normalize, t
from bot.textsplit import MAX_CAPTION, clip, split_message
from workflows.errors import DomainError
from workflows.ports import DeliveryError
from workflows.views import CaseView

log = logging.getLogger(__name__)

AUDIO_FOR = frozenset({"case_assigned", "urgent_alert", "transcript_ready", "case_escalated"})
VOICE_MIME = ("audio/ogg", "audio/opus", "audio/mpeg", "audio/mp3", "audio/mp4", "audio/x-m4a", "audio/m4a")


@dataclass
class Outgoing:
    text: str
    keyboard: InlineKeyboardMarkup | None = None
    with_audio: bool = False


def retry_seconds(exc: RetryAfter) -> float:
    """PTB 22 keeps the value as a timedelta internally and warns when the int property is read."""
    value = getattr(exc, "_retry_after", None)
    if isinstance(value, timedelta):
        return value.total_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = exc.retry_after
    return raw.total_seconds() if isinstance(raw, timedelta) else float(raw)


def as_delivery_error(exc: TelegramError) -> DeliveryError:
    """Telegram failure → transient/permanent DeliveryError (see module docstring)."""
    if isinstance(exc, RetryAfter):
        return DeliveryError(f"429 flood control: {exc}", retry_after=retry_seconds(exc))
    if isinstance(exc, Forbidden):
        return DeliveryError(f"forbidden: {exc.message}", permanent=True)
    if isinstance(exc, BadRequest):
        return DeliveryError(f"bad request: {exc.message}", permanent=True)
    if isinstance(exc, TimedOut):
        return DeliveryError(f"timed out: {exc.message}")
    if isinstance(exc, NetworkError):
        return DeliveryError(f"network/server error: {exc.message}")
    return DeliveryError(f"telegram error: {exc}")


def _ref_name(ref: Any, lang: str) -> str:
    return render._name(ref, lang)


def compose(kind: str, payload: Mapping[str, Any], lang: str, recipient_id: int, view: CaseView | None) -> Outgoing:
    """Text and buttons for one notification (pure; unit-tested without Telegram)."""
    p = payload
    cid = p.get("case_id")
    allowed = view.allowed_actions if view is not None else ()
    card = render.case_card(lang, view) if view is not None else render.payload_card(lang, p)
    retry = bool(view and view.has_audio and view.transcript_status == "failed")

    def official(header: str, offer: tuple[str, ...] = kb.OFFICIAL, audio: bool = True) -> Outgoing:
        keyboard = kb.case_keyboard(lang, int(cid), allowed, offer, retry_transcription=retry) if cid else None
        return Outgoing(f"{header}\n{card}", keyboard, with_audio=audio and bool(view and view.has_audio))

    if kind == "case_assigned":
        header = t(lang, "n.case_assigned")
        if p.get("reassigned_by"):
            header += " " + t(lang, "n.reassigned_from", by=_ref_name(p.get("reassigned_by"), lang))
        return official(header)
    if kind == "urgent_alert":
        return official(t(lang, "n.urgent_alert"))
    if kind == "transcript_ready":
        return official(t(lang, "n.transcript_ready", case_id=cid, text=clip(str(p.get("text") or ""), 300)))
    if kind == "case_reopened":
        reason = p.get("reason") or t(lang, "reason.not_fixed")
        return official(t(lang, "n.case_reopened", case_id=cid, reason=reason), audio=False)
    if kind == "reminder":
        due = render.local_time(p.get("due_at"))
        if p.get("overdue"):
            header = t(lang, "n.reminder_overdue", case_id=cid, due=due)
        elif p.get("stage") == "ack":
            header = t(lang, "n.reminder_ack", case_id=cid, due=due)
        else:
            header = t(lang, "n.reminder_resolve", case_id=cid, due=due)
        return official(header, kb.REMINDER, audio=False)
    if kind == "case_escalated":
        header = t(lang, "n.case_escalated", case_id=cid, from_owner=_ref_name(p.get("from_owner"), lang),
                   to_owner=_ref_name(p.get("to_owner"), lang), reason=render.reason_text(lang, p))
        to_owner = p.get("to_owner") or {}
        if isinstance(to_owner, Mapping) and to_owner.get("id") == recipient_id:
            return official(header)
        return Outgoing(header)
    if kind == "case_received":
        text = render.report_receipt(lang, view, p, voice=bool(view and view.has_audio))
        keyboard = kb.case_keyboard(lang, int(cid), allowed, kb.REPORTER_RECEIPT) if cid else None
        return Outgoing(text, keyboard)
    if kind == "case_accepted":
        key = "n.took_over" if p.get("took_over") else "n.case_accepted"
        return Outgoing(t(lang, key, case_id=cid, owner=_ref_name(p.get("owner"), lang)))
    if kind == "case_reassigned":
        text = t(lang, "n.case_reassigned", case_id=cid, to_owner=_ref_name(p.get("to_owner"), lang))
        if p.get("reason") == "triage_corrected":
            text += "\n" + t(lang, "reason.triage_corrected")
        return Outgoing(text)
    if kind == "case_resolved":
        by = p.get("by") or {}
        if view is not None and view.reporter.id == recipient_id:
            keyboard = kb.case_keyboard(lang, int(cid), allowed, kb.REPORTER_RESOLVED)
            return Outgoing(t(lang, "n.case_resolved", case_id=cid, note=p.get("note") or ""), keyboard)
        return Outgoing(t(lang, "n.case_resolved_owner", case_id=cid, note=p.get("note") or "", by=_ref_name(by, lang)))
    if kind == "case_closed":
        return Outgoing(t(lang, "n.case_closed_auto" if p.get("auto") else "n.case_closed", case_id=cid))
    if kind == "case_rejected":
        if p.get("duplicate_of"):
            return Outgoing(t(lang, "n.case_duplicate", case_id=cid, of_case_id=p.get("duplicate_of")))
        return Outgoing(t(lang, "n.case_rejected", case_id=cid, reason=p.get("reason") or ""))
    if kind == "triage_corrected":
        text = t(lang, "n.triage_corrected", case_id=cid,
                 **render.understood(lang, p.get("new_category"), p.get("new_urgency")))
        return official(text, audio=False)
    if kind == "details_added":
        added = p.get("text") or ("🎙" if p.get("has_audio") else "")
        text = t(lang, "n.details_added", case_id=cid, text=added)
        if view is not None and view.reporter.id == recipient_id:
            return Outgoing(text)
        return official(text, audio=False)
    if kind == "delivery_failed":
        rec = p.get("recipient") or {}
        return Outgoing(t(lang, "n.delivery_failed", recipient=_ref_name(rec, lang), kind=p.get("failed_kind"),
                          case_id=cid if cid is not None else "-", error=clip(str(p.get("error") or ""), 200)))
    if kind == "routing_failed":
        return official(t(lang, "n.routing_failed", case_id=cid), audio=False)
    if kind == "processing_failed":
        return Outgoing(t(lang, "n.processing_failed", case_id=cid, error=clip(str(p.get("error") or ""), 200)))
    log.warning("no renderer for notification kind %r; sending a generic update", kind)
    return Outgoing(t(lang, "n.generic", case_id=cid) if cid else t(lang, "n.unknown"))


class TelegramDelivery:
    """Implements ``workflows.ports.DeliveryPort`` with a PTB ``Bot``."""

    def __init__(self, bot: Bot, case_service: Any) -> None:
        self.bot = bot
        self.cases = case_service
        # case id -> (chat id, message id) of the worker's "transcribing…" message, edited with the result.
        self.voice_placeholders: dict[int, tuple[int, int]] = {}

    async def _view(self, case_id: int | None, recipient_id: int) -> CaseView | None:
        if case_id is None:
            return None
        try:
            return await asyncio.to_thread(self.cases.get_case, case_id, recipient_id)
        except DomainError:  # e.g. an old owner may no longer see it: render from the payload, no buttons
            return None

    async def deliver(self, notification: Any) -> str | None:
        chat_id = getattr(notification, "chat_id", None)
        if chat_id is None:
            raise DeliveryError("recipient has no Telegram chat", permanent=True)
        lang = normalize(getattr(notification, "language", None))
        view = await self._view(notification.case_id, notification.recipient_id)
        out = compose(notification.kind, notification.payload or {}, lang, notification.recipient_id, view)
        try:
            if notification.kind == "case_received" and notification.case_id in self.voice_placeholders:
                ref = await self._edit_placeholder(notification.case_id, out)
                if ref is not None:
                    return ref
            if out.with_audio and view is not None:
                ref = await self._send_with_audio(chat_id, view.id, out)
                if ref is not None:
                    return ref
            return await self.send_text(chat_id, out.text, out.keyboard)
        except TelegramError as exc:
            raise as_delivery_error(exc) from exc

    async def send_text(self, chat_id: int, text: str, keyboard: InlineKeyboardMarkup | None = None) -> str:
        """Send ``text`` split to Telegram's limit; the keyboard goes on the last piece. Returns "chat:msg"."""
        pieces = split_message(text)
        msg = None
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            msg = await self.bot.send_message(chat_id, piece, reply_markup=keyboard if last else None)
        assert msg is not None
        return f"{chat_id}:{msg.message_id}"

    async def _edit_placeholder(self, case_id: int, out: Outgoing) -> str | None:
        chat_id, message_id = self.voice_placeholders[case_id]
        try:
            await self.bot.edit_message_text(
                clip(out.text, 4096), chat_id=chat_id, message_id=message_id, reply_markup=out.keyboard
            )
        except BadRequest as exc:  # placeholder deleted or unchanged: fall back to a new message
            log.info("could not edit voice placeholder of case %s (%s); sending a new message", case_id, exc)
            self.voice_placeholders.pop(case_id, None)
            return None
        self.voice_placeholders.pop(case_id, None)
        return f"{chat_id}:{message_id}"

    async def _send_with_audio(self, chat_id: int, case_id: int, out: Outgoing) -> str | None:
        """The original recording with the card as caption (one call, so a retry never half-sends)."""
        try:
            audio, mime = await asyncio.to_thread(self.cases.audio_of, case_id)
        except DomainError:
            return None
        caption = clip(out.text, MAX_CAPTION)
        if (mime or "audio/ogg") in VOICE_MIME:
            msg = await self.bot.send_voice(chat_id, audio, caption=caption, reply_markup=out.keyboard)
        else:  # e.g. an MP4 video note: Telegram refuses it as a voice message
            msg = await self.bot.send_document(chat_id, audio, filename=f"case-{case_id}", caption=caption,
                                               reply_markup=out.keyboard)
        if len(out.text) > MAX_CAPTION:  # the full card as text too, so nothing is cut off
            await self.bot.send_message(chat_id, split_message(out.text)[0])
        return f"{chat_id}:{msg.message_id}"
