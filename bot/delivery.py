"""TelegramDelivery: the domain's outbox delivers every notification through this port.

Why every notification goes through the outbox (and not straight from a handler): the notification row is
committed with the state change, so a 429, a 500, a dropped connection or a crash between "case stored" and
"message sent" loses nothing; :class:`workflows.outbox.OutboxDispatcher` retries with backoff. This class
only renders and sends, and translates Telegram's failures into :class:`DeliveryError`:

- ``RetryAfter`` (429) → transient with ``retry_after``;
- ``Forbidden`` "bot was blocked by the user" / "can't initiate conversation" → ``waiting_for_user``: the
  outbox retries in long steps, tells the admins once and sends at once when the person writes again;
- other ``Forbidden`` (user deactivated, kicked from a group) and ``BadRequest`` (chat not found, a message
  Telegram will never accept) → permanent: retrying cannot help, the admins are told;
- ``TimedOut``/``NetworkError`` (incl. 5xx) and anything else from Telegram → transient.

Never sent twice: a notification may take several Telegram calls (a long card in pieces; the recording, then
the full card). Each call is a *step*; when one fails, the steps already done travel back to the outbox in
``DeliveryError.progress`` and come back in the payload (``PROGRESS_KEY``), so the retry sends only the rest.

Rendering happens at delivery time in the *recipient's* language, with buttons from what the recipient may
do *now* (``CaseView.allowed_actions``): a reminder delivered after the case was accepted elsewhere shows the
current state, not stale buttons.

Voice: when a case has audio, officials get the original recording (sendVoice with the stored bytes) with the
card as caption, so they can listen even when transcription failed. If Telegram refuses the voice message
(400, e.g. the official's privacy settings forbid voice messages: ``VOICE_MESSAGES_FORBIDDEN``) the recording
goes as a document instead, and if that is refused too, the card goes as text with its buttons and a line
saying the recording is kept with the case. A recording whose bytes could not be downloaded yet is sent by its
Telegram ``file_id``. The worker's "transcribing…" message is
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
from bot.textsplit import MAX_CAPTION, clip, split_message, utf16_len
from i18n import normalize, t
from workflows.errors import DomainError
from workflows.outbox import PROGRESS_KEY
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
        if is_blocked(exc):
            return DeliveryError(f"blocked: {exc.message}", waiting_for_user=True)
        return DeliveryError(f"forbidden: {exc.message}", permanent=True)
    if isinstance(exc, BadRequest):
        return DeliveryError(f"bad request: {exc.message}", permanent=True)
    if isinstance(exc, TimedOut):
        return DeliveryError(f"timed out: {exc.message}")
    if isinstance(exc, NetworkError):
        return DeliveryError(f"network/server error: {exc.message}")
    return DeliveryError(f"telegram error: {exc}")


def is_blocked(exc: TelegramError) -> bool:
    """403 because of the person (blocked the bot, never opened it) — it ends when they write to the bot."""
    text = str(exc.message).lower()
    return isinstance(exc, Forbidden) and ("blocked" in text or "initiate conversation" in text)


def chat_gone(exc: TelegramError) -> bool:
    """A 400 about the chat itself: no other way of sending can help."""
    text = str(exc.message).lower()
    return "chat not found" in text or "chat_id is empty" in text or "peer_id_invalid" in text


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
    if kind == "transcription_retry_failed":  # to the official who pressed "retry transcription"
        key = "n.retry_transcription_empty" if p.get("outcome") == "empty" else "n.retry_transcription_failed"
        return official(t(lang, key, case_id=cid, error=clip(str(p.get("error") or ""), 200)), audio=False)
    if kind == "delivery_failed" and p.get("blocked"):
        rec = p.get("recipient") or {}
        return Outgoing(t(lang, "n.recipient_blocked", recipient=_ref_name(rec, lang), kind=p.get("failed_kind"),
                          case_id=cid if cid is not None else "-", until=render.local_time(p.get("retry_until"))))
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
        payload = notification.payload or {}
        view = await self._view(notification.case_id, notification.recipient_id)
        out = compose(notification.kind, payload, lang, notification.recipient_id, view)
        saved = payload.get(PROGRESS_KEY)
        progress: dict[str, Any] = dict(saved) if isinstance(saved, Mapping) else {}
        progress.setdefault("done", 0)
        before = dict(progress)
        try:
            fresh = progress["done"] == 0 and "audio" not in progress
            if fresh and notification.kind == "case_received" and notification.case_id in self.voice_placeholders:
                ref = await self._edit_placeholder(notification.case_id, out)
                if ref is not None:
                    return ref
            if out.with_audio and view is not None:
                ref = await self._send_with_audio(chat_id, view.id, out, lang, progress)
                if ref is not None:
                    return ref
            return await self.send_text(chat_id, out.text, out.keyboard, progress=progress)
        except TelegramError as exc:
            error = as_delivery_error(exc)
            if progress != before:  # some parts went out (or the way of sending changed): remember it
                error.progress = progress
            raise error from exc

    async def send_text(self, chat_id: int, text: str, keyboard: InlineKeyboardMarkup | None = None, *,
                        progress: dict[str, Any] | None = None) -> str:
        """Send ``text`` split to Telegram's limit; the keyboard goes on the last piece. Returns "chat:msg".
        ``progress["done"]`` pieces were sent by an earlier attempt and are skipped; it is advanced per piece."""
        progress = progress if progress is not None else {}
        pieces = split_message(text)
        ref = progress.get("ref")
        for i in range(int(progress.get("done", 0)), len(pieces)):
            last = i == len(pieces) - 1
            msg = await self.bot.send_message(chat_id, pieces[i], reply_markup=keyboard if last else None)
            ref = f"{chat_id}:{msg.message_id}"
            progress.update(done=i + 1, ref=ref)
        return ref or f"{chat_id}:"

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

    async def _send_with_audio(self, chat_id: int, case_id: int, out: Outgoing, lang: str,
                               progress: dict[str, Any]) -> str | None:
        """Step 1: the original recording with the card as caption (voice; a document if Telegram refuses the
        voice; nothing if it refuses both). Then the full card as text when the caption had to be cut (every
        piece), or — without a recording — the card with its buttons and a line saying why."""
        mode = progress.get("audio")
        if mode is None:  # first attempt: nothing sent yet
            try:
                source = await asyncio.to_thread(self.cases.audio_source, case_id)
            except DomainError:
                return None
            if not source.content and not source.telegram_file_id:
                return None
            mode = "voice" if (source.mime_type or "audio/ogg") in VOICE_MIME else "document"
            progress["audio"] = mode
        if progress["done"] == 0 and mode != "text":
            source = await asyncio.to_thread(self.cases.audio_source, case_id)
            media: Any = source.content or source.telegram_file_id
            caption = clip(out.text, MAX_CAPTION)
            while mode != "text":
                try:
                    if mode == "voice":
                        msg = await self.bot.send_voice(chat_id, media, caption=caption, reply_markup=out.keyboard)
                    else:
                        msg = await self.bot.send_document(
                            chat_id, media, filename=source.filename or f"case-{case_id}", caption=caption,
                            reply_markup=out.keyboard, disable_content_type_detection=True,
                        )
                except BadRequest as exc:
                    if chat_gone(exc):
                        raise
                    log.warning("case %s: Telegram refused the recording as %s for chat %s (%s)", case_id, mode,
                                chat_id, exc.message)
                    mode = "document" if mode == "voice" else "text"
                    progress.update(audio=mode, audio_error=str(exc.message)[:200])
                    continue
                progress.update(done=1, audio_ref=f"{chat_id}:{msg.message_id}")
                break
        if mode == "text":  # no recording could be attached: the card with its buttons, and say so
            text = f"{out.text}\n{t(lang, 'n.audio_not_attached', case_id=case_id)}"
            return await self.send_text(chat_id, text, out.keyboard, progress=progress)
        if utf16_len(out.text) > MAX_CAPTION:  # the full card as text too, every piece, so nothing is cut off
            pieces = split_message(out.text)
            for i in range(int(progress["done"]) - 1, len(pieces)):
                await self.bot.send_message(chat_id, pieces[i])
                progress["done"] = i + 2
        return str(progress["audio_ref"])
