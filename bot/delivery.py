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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot import keyboards as kb
from bot import render
from bot.conversation import subject as conversation_subject
from bot.textsplit import MAX_CAPTION, clip, split_message, utf16_len
from i18n import label, normalize, t
from workflows.conversation import ConversationState
from workflows.errors import DomainError
from workflows.notifications import Kind
from workflows.outbox import PROGRESS_KEY
from workflows.ports import DeliveryError
from workflows.views import AUDIO_KINDS, CaseView

log = logging.getLogger(__name__)

#: Conversation-state name of the worker's "transcribing…" message for a case (see TelegramDelivery).
PLACEHOLDER = "voice_placeholder"
PLACEHOLDER_TTL = timedelta(days=3)
VOICE_MIME = ("audio/ogg", "audio/opus", "audio/mpeg", "audio/mp3", "audio/mp4", "audio/x-m4a", "audio/m4a")


@dataclass
class Outgoing:
    text: str
    keyboard: InlineKeyboardMarkup | None = None
    with_audio: bool = False
    voice_first: Any = None  # a recording (bytes or Telegram file id) sent before the text (a spoken task)
    media: tuple[int, ...] = ()  # attachments sent along after the card (photos, videos, files, places)


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
        return DeliveryError(f"forbidden: {exc.message}", permanent=True, recipient_gone=True)
    if isinstance(exc, BadRequest):
        return DeliveryError(f"bad request: {exc.message}", permanent=True, recipient_gone=chat_gone(exc))
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


@dataclass(frozen=True)
class Notice:
    """What a renderer gets: one notification, the reader's language, and the case as the reader sees it now
    (``view`` is None when the reader may no longer see the case: render from the payload, no buttons)."""

    kind: str
    payload: Mapping[str, Any]
    lang: str
    recipient_id: int
    view: CaseView | None
    # what a task or visit notification is about, as the reader sees it now (a WorkerSheet, TaskView or
    # VisitView; None when the reader may no longer see it: render from the payload)
    subject: Any = None

    @property
    def case_id(self) -> Any:
        return self.payload.get("case_id")

    @property
    def for_reporter(self) -> bool:
        return self.view is not None and self.view.reporter.id == self.recipient_id

    def t(self, key: str, **params: Any) -> str:
        return t(self.lang, key, **params)

    def name(self, key: str) -> str:
        """A person ref from the payload (``owner``, ``by`` ...) as a name."""
        return _ref_name(self.payload.get(key), self.lang)

    def keyboard(self, offer: tuple[str, ...], *, more: bool = False, open_card: bool = False
                 ) -> InlineKeyboardMarkup | None:
        """The reader's buttons for this case among ``offer`` (from what they may do now); ``more`` adds
        "⋯ more" when they may do more than the offer shows."""
        cid = self.case_id
        if not cid:
            return None
        allowed = self.view.allowed_actions if self.view is not None else ()
        retry = bool(self.view and self.view.has_audio and self.view.transcript_status == "failed")
        return kb.case_keyboard(self.lang, int(cid), allowed, offer, retry_transcription=retry, more=more,
                                open_card=open_card)

    def card(self, header: str, offer: tuple[str, ...] = kb.OFFICIAL_MAIN, *, audio: bool = True) -> Outgoing:
        """An official's message: a header line, the case card, the most used buttons and "⋯ more" (and the
        recording)."""
        view = self.view
        body = render.case_card(self.lang, view) if view is not None else render.payload_card(self.lang, self.payload)
        return Outgoing(f"{header}\n{body}", self.keyboard(offer, more=True),
                        with_audio=audio and bool(view and view.has_audio),
                        media=visual_media(view, upto=self.payload.get("media_upto")) if audio and view is not None
                        else ())


def visual_media(view: CaseView, only: Any = None, upto: Any = None) -> tuple[int, ...]:
    """The case's photos, videos, files and places (not its recordings: those go as the card itself): of those
    only the ids in ``only`` (the ones a follow-up just added), or those up to ``upto`` (the newest when the
    notification was queued: later ones come with their own notice, so nothing is sent twice)."""
    wanted = {int(i) for i in only} if only else None
    last = int(upto) if isinstance(upto, int) else None
    return tuple(i for i, kind in zip(view.attachment_ids, view.media_kinds, strict=False)
                 if kind not in AUDIO_KINDS and (wanted is None or i in wanted) and (last is None or i <= last))


Renderer = Callable[[Notice], Outgoing]

#: One renderer per notification kind (``workflows.notifications.Kind``); a test checks none is missing.
RENDERERS: dict[str, Renderer] = {}


def renders(*kinds: Kind) -> Callable[[Renderer], Renderer]:
    """Register the renderer of ``kinds`` (each kind exactly once)."""

    def register(fn: Renderer) -> Renderer:
        for kind in kinds:
            if kind.value in RENDERERS:
                raise ValueError(f"two renderers for notification kind {kind.value!r}")
            RENDERERS[kind.value] = fn
        return fn

    return register


@renders(Kind.case_assigned)
def _case_assigned(n: Notice) -> Outgoing:
    header = n.t("n.case_assigned")
    if n.payload.get("reassigned_by"):
        header += " " + n.t("n.reassigned_from", by=n.name("reassigned_by"))
    return n.card(header)


@renders(Kind.urgent_alert)
def _urgent_alert(n: Notice) -> Outgoing:
    return n.card(n.t("n.urgent_alert"))


@renders(Kind.transcript_ready)
def _transcript_ready(n: Notice) -> Outgoing:
    return n.card(n.t("n.transcript_ready", case_id=n.case_id, text=clip(str(n.payload.get("text") or ""), 300)))


@renders(Kind.case_reopened)
def _case_reopened(n: Notice) -> Outgoing:
    reason = n.payload.get("reason") or n.t("reason.not_fixed")
    return n.card(n.t("n.case_reopened", case_id=n.case_id, reason=reason), audio=False)


@renders(Kind.reminder)
def _reminder(n: Notice) -> Outgoing:
    """One short line that points to the card (the owner already has it) instead of repeating it: which
    case, where, what, and by when; buttons: pause reminders, the next step, "📄 case" to open the card."""
    p = n.payload
    due = render.local_time(p.get("due_at"))
    view = n.view
    where = (view.unit_name if view is not None else p.get("unit_name")) or ""
    category = view.category if view is not None else p.get("category")
    what = label(n.lang, "category", str(category or "other"))
    if p.get("overdue"):
        key = "n.reminder_line_overdue"
    elif p.get("stage") == "ack":
        key = "n.reminder_line_ack"
    else:
        key = "n.reminder_line_resolve"
    return Outgoing(n.t(key, case_id=n.case_id, where=where, what=what, due=due),
                    n.keyboard(kb.REMINDER, open_card=True))


@renders(Kind.case_escalated)
def _case_escalated(n: Notice) -> Outgoing:
    p = n.payload
    if n.for_reporter:  # plain words, once per case (the domain sends the reporter only the first move)
        return Outgoing(n.t("n.case_escalated_reporter", case_id=n.case_id, to_owner=n.name("to_owner"),
                            reason=render.reason_text(n.lang, p)))
    header = n.t("n.case_escalated", case_id=n.case_id, from_owner=n.name("from_owner"),
                 to_owner=n.name("to_owner"), reason=render.reason_text(n.lang, p))
    to_owner = p.get("to_owner") or {}
    if isinstance(to_owner, Mapping) and to_owner.get("id") == n.recipient_id:
        return n.card(header)
    return Outgoing(header)


@renders(Kind.case_received)
def _case_received(n: Notice) -> Outgoing:
    """The reporter's receipt; when the report named none of their households, those households as buttons
    (``Notice.subject``: :meth:`CaseService.household_choices`, loaded at delivery)."""
    view = n.view
    text = render.report_receipt(n.lang, view, n.payload, voice=bool(view and view.has_audio))
    choices = n.subject if isinstance(n.subject, list) and view is not None else []
    if choices:
        text += "\n" + n.t("hh.which")
    return Outgoing(text, kb.with_households(n.lang, int(n.case_id), n.keyboard(kb.REPORTER_RECEIPT), choices))


@renders(Kind.case_accepted)
def _case_accepted(n: Notice) -> Outgoing:
    key = "n.took_over" if n.payload.get("took_over") else "n.case_accepted"
    return Outgoing(n.t(key, case_id=n.case_id, owner=n.name("owner")))


@renders(Kind.case_reassigned)
def _case_reassigned(n: Notice) -> Outgoing:
    text = n.t("n.case_reassigned", case_id=n.case_id, to_owner=n.name("to_owner"))
    if n.payload.get("reason") == "triage_corrected":
        text += "\n" + n.t("reason.triage_corrected")
    return Outgoing(text)


@renders(Kind.case_resolved)
def _case_resolved(n: Notice) -> Outgoing:
    note = n.payload.get("note") or ""
    if n.for_reporter:
        return Outgoing(n.t("n.case_resolved", case_id=n.case_id, note=note), n.keyboard(kb.REPORTER_RESOLVED))
    return Outgoing(n.t("n.case_resolved_owner", case_id=n.case_id, note=note, by=n.name("by")))


@renders(Kind.case_closed)
def _case_closed(n: Notice) -> Outgoing:
    return Outgoing(n.t("n.case_closed_auto" if n.payload.get("auto") else "n.case_closed", case_id=n.case_id))


@renders(Kind.case_rejected)
def _case_rejected(n: Notice) -> Outgoing:
    if n.payload.get("duplicate_of"):
        return Outgoing(n.t("n.case_duplicate", case_id=n.case_id, of_case_id=n.payload.get("duplicate_of")))
    return Outgoing(n.t("n.case_rejected", case_id=n.case_id, reason=n.payload.get("reason") or ""))


@renders(Kind.triage_corrected)
def _triage_corrected(n: Notice) -> Outgoing:
    p = n.payload
    text = n.t("n.triage_corrected", case_id=n.case_id,
               **render.understood(n.lang, p.get("new_category"), p.get("new_urgency")))
    return n.card(text, audio=False)


@renders(Kind.details_added)
def _details_added(n: Notice) -> Outgoing:
    p = n.payload
    kinds = [str(k) for k in p.get("media") or ()]
    added = p.get("text") or " ".join(n.t(f"media.item.{k}") for k in kinds) or ("🎙" if p.get("has_audio") else "")
    text = n.t("n.details_added", case_id=n.case_id, text=added)
    if n.for_reporter:
        return Outgoing(text)
    out = n.card(text, audio=False)
    if n.view is not None and p.get("attachment_ids"):  # the photo or place just added, sent along
        out.media = visual_media(n.view, p.get("attachment_ids"))
    return out


@renders(Kind.transcription_retry_failed)
def _transcription_retry_failed(n: Notice) -> Outgoing:
    """To the official who pressed "retry transcription"."""
    key = "n.retry_transcription_empty" if n.payload.get("outcome") == "empty" else "n.retry_transcription_failed"
    return n.card(n.t(key, case_id=n.case_id, error=clip(str(n.payload.get("error") or ""), 200)), audio=False)


@renders(Kind.delivery_failed)
def _delivery_failed(n: Notice) -> Outgoing:
    p = n.payload
    cid = n.case_id if n.case_id is not None else "-"
    recipient = n.name("recipient")
    if p.get("blocked"):
        return Outgoing(n.t("n.recipient_blocked", recipient=recipient, kind=p.get("failed_kind"), case_id=cid,
                            until=render.local_time(p.get("retry_until"))))
    return Outgoing(n.t("n.delivery_failed", recipient=recipient, kind=p.get("failed_kind"), case_id=cid,
                        error=clip(str(p.get("error") or ""), 200)))


@renders(Kind.routing_failed)
def _routing_failed(n: Notice) -> Outgoing:
    return n.card(n.t("n.routing_failed", case_id=n.case_id), audio=False)


@renders(Kind.processing_failed)
def _processing_failed(n: Notice) -> Outgoing:
    return Outgoing(n.t("n.processing_failed", case_id=n.case_id, error=clip(str(n.payload.get("error") or ""), 200)))


@renders(Kind.official_unreachable)
def _official_unreachable(n: Notice) -> Outgoing:
    """To admins and the county centre, once per unreachable person: who, why, where the case went instead,
    and what to do about it."""
    p = n.payload
    person = p.get("person") if isinstance(p.get("person"), Mapping) else {}
    role = person.get("role") if isinstance(person, Mapping) else None
    key = "n.official_unreachable_fallback" if p.get("fallback") else "n.official_unreachable"
    return Outgoing(n.t(key, name=n.name("person"), role=label(n.lang, "role", str(role or "")),
                        unit=p.get("unit_name") or "", why=label(n.lang, "unreachable", str(p.get("why") or "")),
                        case_id=n.case_id if n.case_id is not None else "-", owner=n.name("owner"),
                        code=p.get("code") or ""))


def _unknown(n: Notice) -> Outgoing:
    """A kind this version cannot render (a row written by a newer release): a generic line, never silence."""
    log.warning("no renderer for notification kind %r; sending a generic update", n.kind)
    return Outgoing(n.t("n.generic", case_id=n.case_id) if n.case_id else n.t("n.unknown"))


def compose(kind: str, payload: Mapping[str, Any], lang: str, recipient_id: int, view: CaseView | None,
            subject: Any = None) -> Outgoing:
    """Text and buttons for one notification (pure; unit-tested without Telegram)."""
    return RENDERERS.get(str(kind), _unknown)(Notice(str(kind), payload, lang, recipient_id, view, subject))


class TelegramDelivery:
    """Implements ``workflows.ports.DeliveryPort`` with a PTB ``Bot``."""

    def __init__(self, bot: Bot, case_service: Any, conversations: ConversationState | None = None, *,
                 tasks: Any = None, visits: Any = None) -> None:
        self.bot = bot
        self.cases = case_service
        self.tasks = tasks  # workflows.tasks.TaskService: task notifications render the current sheet
        self.visits = visits  # workflows.visits.VisitService
        # Where the worker's "transcribing…" message is (edited with the result). In the database: the
        # process that sends the receipt is often not the one that received the voice note.
        self.conversations = conversations

    def remember_voice_placeholder(self, case_id: int, chat_id: int, message_id: int) -> None:
        """Synchronous (call it in a thread): the receipt of ``case_id`` should edit this message."""
        if self.conversations is not None:
            self.conversations.put(conversation_subject(chat_id), f"{PLACEHOLDER}:{case_id}",
                                   {"message_id": message_id}, ttl=PLACEHOLDER_TTL)

    def _voice_placeholder(self, case_id: int, chat_id: int) -> int | None:
        if self.conversations is None:
            return None
        value = self.conversations.get(conversation_subject(chat_id), f"{PLACEHOLDER}:{case_id}")
        return int(value["message_id"]) if value and value.get("message_id") else None

    def _forget_voice_placeholder(self, case_id: int, chat_id: int) -> None:
        if self.conversations is not None:
            self.conversations.drop(conversation_subject(chat_id), f"{PLACEHOLDER}:{case_id}")

    def _household_choices(self, case_id: int, recipient_id: int) -> list[Any]:
        """The reporter's households for the receipt's buttons (none when the case already has one)."""
        try:
            return list(self.cases.household_choices(case_id, recipient_id))
        except DomainError:
            return []

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
        subject = await asyncio.to_thread(load_subject, self.tasks, self.visits, notification.kind, payload,
                                          notification.recipient_id)
        if notification.kind == "case_received" and subject is None and view is not None:
            subject = await asyncio.to_thread(self._household_choices, view.id, notification.recipient_id)
        out = compose(notification.kind, payload, lang, notification.recipient_id, view, subject)
        saved = payload.get(PROGRESS_KEY)
        progress: dict[str, Any] = dict(saved) if isinstance(saved, Mapping) else {}
        progress.setdefault("done", 0)
        before = dict(progress)
        try:
            if out.voice_first is not None and not progress.get("voice_first"):
                msg = await self.bot.send_voice(chat_id, out.voice_first)  # a task given as a voice note
                progress["voice_first"] = f"{chat_id}:{msg.message_id}"
            fresh = progress["done"] == 0 and "audio" not in progress
            if fresh and notification.kind == "case_received" and notification.case_id is not None:
                placeholder = await asyncio.to_thread(self._voice_placeholder, notification.case_id, chat_id)
                if placeholder is not None:
                    ref = await self._edit_placeholder(notification.case_id, chat_id, placeholder, out)
                    if ref is not None:
                        return ref
            ref = None
            if out.with_audio and view is not None:
                ref = await self._send_with_audio(chat_id, view.id, out, lang, progress)
            if ref is None:
                ref = await self.send_text(chat_id, out.text, out.keyboard, progress=progress)
            if out.media and view is not None:
                await self._send_along(chat_id, view.id, notification.recipient_id, out.media, lang, ref, progress)
            return ref
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

    async def _edit_placeholder(self, case_id: int, chat_id: int, message_id: int, out: Outgoing) -> str | None:
        try:
            await self.bot.edit_message_text(
                clip(out.text, 4096), chat_id=chat_id, message_id=message_id, reply_markup=out.keyboard
            )
        except BadRequest as exc:  # placeholder deleted or unchanged: fall back to a new message
            log.info("could not edit voice placeholder of case %s (%s); sending a new message", case_id, exc)
            await asyncio.to_thread(self._forget_voice_placeholder, case_id, chat_id)
            return None
        await asyncio.to_thread(self._forget_voice_placeholder, case_id, chat_id)
        return f"{chat_id}:{message_id}"

    async def _send_along(self, chat_id: int, case_id: int, recipient_id: int, ids: tuple[int, ...], lang: str,
                          card_ref: str, progress: dict[str, Any]) -> None:
        """After the card: each photo, video, file and place of the case as its own message, replying to the
        card and captioned "case #N: photo (1/3)", so an official sees what the worker saw and can open the
        place in their map app. ``progress["along"]`` counts those sent (a retry sends only the rest). One that
        Telegram refuses (400) is replaced by a line saying the original is kept with the case."""
        try:
            items = await asyncio.to_thread(self.cases.case_media, case_id, recipient_id, ids)
        except DomainError:
            return
        _, _, card_id = card_ref.partition(":")
        reply_to = ReplyParameters(int(card_id), allow_sending_without_reply=True) if card_id.isdigit() else None
        total = len(items)
        for n in range(int(progress.get("along", 0)), total):
            item = items[n]
            what = t(lang, f"media.item.{item.kind}")
            caption = t(lang, "media.along", case_id=case_id, item=what, n=n + 1, total=total)
            try:
                await self._send_item(chat_id, case_id, item, caption, reply_to)
            except BadRequest as exc:
                if chat_gone(exc):
                    raise
                log.warning("case %s: Telegram refused attachment %s (%s) for chat %s: %s", case_id, item.id,
                            item.kind, chat_id, exc.message)
                await self.bot.send_message(chat_id, t(lang, "media.not_sent", case_id=case_id, item=what),
                                            reply_parameters=reply_to)
            progress["along"] = n + 1

    async def _send_item(self, chat_id: int, case_id: int, item: Any, caption: str,
                         reply_to: ReplyParameters | None) -> None:
        """One attachment: a place as a Telegram location (opens in the official's map app), a file by its
        Telegram file id (no upload) or, failing that, by its stored bytes; a photo Telegram cannot process
        goes as a file."""
        if item.kind == "location":
            await self.bot.send_location(chat_id, latitude=item.latitude, longitude=item.longitude,
                                         reply_parameters=reply_to)
            await self.bot.send_message(chat_id, caption, reply_parameters=reply_to)  # a location has no caption
            return
        sources: list[Any] = [item.telegram_file_id] if item.telegram_file_id else []
        content = await asyncio.to_thread(self.cases.media_content, case_id, item.id)
        if content:
            sources.append(content)
        if not sources:
            raise BadRequest("attachment has neither bytes nor a file id")
        name = item.filename or f"case-{case_id}-{item.id}"
        senders: list[Callable[[Any], Any]] = []
        if item.kind == "photo":
            senders.append(lambda m: self.bot.send_photo(chat_id, m, caption=caption, reply_parameters=reply_to))
        elif item.kind == "video":
            senders.append(lambda m: self.bot.send_video(chat_id, m, caption=caption, reply_parameters=reply_to))
        senders.append(lambda m: self.bot.send_document(chat_id, m, filename=name, caption=caption,
                                                        reply_parameters=reply_to,
                                                        disable_content_type_detection=True))
        last: BadRequest | None = None
        for send in senders:
            for media in sources:
                try:
                    await send(media)
                    return
                except BadRequest as exc:
                    if chat_gone(exc):
                        raise
                    last = exc
        assert last is not None
        raise last

    async def _send_video_note(self, chat_id: int, media: Any, out: Outgoing, progress: dict[str, Any]) -> str:
        """A round video note as the worker recorded it, then the whole card as text with its buttons (a video
        note takes no caption). The note is marked sent before the text goes, so a retry sends only the text."""
        msg = await self.bot.send_video_note(chat_id, media)
        progress.update(audio_ref=f"{chat_id}:{msg.message_id}")
        return await self.send_text(chat_id, out.text, out.keyboard, progress=progress)

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
            if source.kind == "video_note":
                mode = "video_note"  # a round video note as the worker recorded it (it takes no caption)
            else:
                mode = "voice" if (source.mime_type or "audio/ogg") in VOICE_MIME else "document"
            progress["audio"] = mode
        if mode == "video_note" and progress.get("audio_ref"):  # sent; the card text is what is left
            return await self.send_text(chat_id, out.text, out.keyboard, progress=progress)
        if progress["done"] == 0 and mode != "text":
            source = await asyncio.to_thread(self.cases.audio_source, case_id)
            media: Any = source.content or source.telegram_file_id
            caption = clip(out.text, MAX_CAPTION)
            while mode != "text":
                try:
                    if mode == "video_note":
                        return await self._send_video_note(chat_id, media, out, progress)
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
                    mode = "document" if mode in ("voice", "video_note") else "text"
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


# The renderers of task and visit notifications register themselves in RENDERERS (imported last: they use
# ``renders`` and ``Notice`` from this module).
from bot.tasks_delivery import load_subject  # noqa: E402
