"""Photos, albums, videos, documents and places from a worker; stickers, contacts and anything else politely.

What each message kind becomes (one table, :data:`KINDS`; recordings — voice, audio files, video notes — are
:func:`bot.handlers.reporting.on_voice`'s):

- **photo, album, video, document** (a document with an audio type is a recording): stored with a case first,
  whatever bytes it has — a file over the Bot API's 20 MB download limit, or one whose download failed, is
  kept by its Telegram ``file_id`` (officials still open it in Telegram) and the worker is told plainly.
- **with a caption**: the caption is the report's text; the case is triaged and routed like a typed report and
  the receipt comes through the outbox as usual.
- **without words**: inside the follow-up window of the worker's open case it joins that case (a photo of the
  crack after "the wall cracked"); otherwise a new case is stored and the bot asks one short question ("what
  happened?"); the answer — typed or spoken — joins the same case and routes it. No answer: the scheduler
  routes it after ``[routing] media_words_wait`` for an official to look at.
- **album**: every message of it (same ``media_group_id``) joins one case; the question is asked once.
- **place** (location, venue): joins the worker's open case, or — like a photo — opens one and asks.
- **sticker, GIF, contact**: a short friendly hint of what to send instead; **anything else**: a polite reply.

Officials are sent the media along with the card (:mod:`bot.delivery`).
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from dataclasses import dataclass
from typing import Any

from telegram import Message, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.conversation import ask_again, clear_prompt, peek_prompt, set_prompt
from bot.handlers.common import (
    REPORTER_ROLES,
    call,
    ctx_of,
    error_text,
    lang_for,
    reply,
    require_person,
    tibetan_or_chinese,
)
from bot.handlers.reporting import PROMPT_ANSWERERS, source_key
from i18n import t
from workflows.cases import AudioIn, MediaIn
from workflows.conversation import Prompt
from workflows.errors import DomainError, ValidationError
from workflows.views import PersonView

log = logging.getLogger(__name__)

#: getFile's limit on api.telegram.org (a self-hosted Bot API server allows far more: ``Limits.download_limit``).
STANDARD_DOWNLOAD_LIMIT = 20 * 1024 * 1024

#: How long the message that opened an album's case waits for the album's caption before asking.
ALBUM_SETTLE_SECONDS = 1.5

#: The prompt verb of "what happened?" (the answer joins the photo's case and routes it).
WHAT = "what"


@dataclass(frozen=True)
class Kind:
    """How one kind of message is taken: ``media`` kind stored with the case, or the hint key to answer."""

    media: str | None = None
    hint: str | None = None


#: Message attribute -> what it becomes; checked in this order (a GIF also carries ``document``, a venue
#: also carries ``location``).
KINDS: tuple[tuple[str, Kind], ...] = (
    ("sticker", Kind(hint="media.sticker_hint")),
    ("animation", Kind(hint="media.sticker_hint")),
    ("dice", Kind(hint="media.sticker_hint")),
    ("contact", Kind(hint="media.contact_hint")),
    ("photo", Kind(media="photo")),
    ("video", Kind(media="video")),
    ("document", Kind(media="document")),
    ("venue", Kind(media="location")),
    ("location", Kind(media="location")),
)


def kind_of(message: Message) -> tuple[str, Kind] | None:
    for attr, kind in KINDS:
        value = getattr(message, attr, None)
        if value:
            return attr, kind
    return None


def _file_of(message: Message, attr: str) -> Any:
    value = getattr(message, attr)
    return value[-1] if attr == "photo" else value  # the largest size of a photo


def _seconds(obj: Any) -> float | None:
    with warnings.catch_warnings():  # PTB 22 warns that ``duration`` becomes a timedelta
        warnings.simplefilter("ignore")
        value = getattr(obj, "duration", None)
    if value is None:
        return None
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


async def _media_in(context: ContextTypes.DEFAULT_TYPE, message: Message, attr: str, kind: str
                    ) -> tuple[MediaIn, str | None]:
    """The message's media with its bytes when they can be had, and a note for the worker when they cannot
    ("too big" — over the download limit, never asked for —, or "download failed"). Never raises for a
    Telegram failure: the case is stored with the ``file_id`` either way."""
    if kind == "location":
        loc = message.location if message.location is not None else message.venue.location  # type: ignore[union-attr]
        return MediaIn("location", latitude=float(loc.latitude), longitude=float(loc.longitude)), None
    obj = _file_of(message, attr)
    size = int(getattr(obj, "file_size", None) or 0)
    limit = ctx_of(context).limits.download_limit
    mime = getattr(obj, "mime_type", None) or ("image/jpeg" if kind == "photo" else None)
    common = {"mime_type": mime, "filename": getattr(obj, "file_name", None), "telegram_file_id": obj.file_id,
              "duration_s": _seconds(obj)}
    if size > limit:
        return MediaIn(kind, **common), "too_big"
    try:
        tg_file = await obj.get_file()
        data = bytes(await tg_file.download_as_bytearray())
    except BadRequest as exc:
        if "too big" in str(exc.message).lower():  # the Bot API's own limit (its size was not in the message)
            return MediaIn(kind, **common), "refused_too_big"
        log.warning("could not download %s %s: %s", kind, obj.file_id, exc)
        return MediaIn(kind, **common), "download_failed"
    except Exception as exc:  # noqa: BLE001 - getFile/download failed: keep the file id, say so
        log.warning("could not download %s %s: %s", kind, obj.file_id, exc)
        return MediaIn(kind, **common), "download_failed"
    return MediaIn(kind, content=data, **common), None


def _note(lang: str, problem: str | None, limit: int) -> str:
    if problem in ("too_big", "refused_too_big"):
        if problem == "refused_too_big":  # Telegram refused the download: its own limit is the one that held
            limit = min(limit, STANDARD_DOWNLOAD_LIMIT)
        return "\n" + t(lang, "media.too_big", limit_mb=f"{limit / 1_048_576:.0f}")
    if problem == "download_failed":
        return "\n" + t(lang, "media.not_downloaded")
    return ""


async def on_media(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any message that is not text, a command or a recording (see the module docstring)."""
    person = await require_person(update, context)
    if person is None:
        return
    message = update.effective_message
    assert message is not None
    lang = lang_for(person)
    found = kind_of(message)
    if found is None:
        await reply(update, t(lang, "media.unsupported"))
        return
    attr, kind = found
    if kind.hint is not None:
        await reply(update, t(lang, kind.hint))
        return
    assert kind.media is not None
    prompt = await peek_prompt(update, context)
    joins = prompt is not None and prompt.verb in (WHAT, "add") and prompt.case_id
    if person.role not in REPORTER_ROLES and not joins:
        await reply(update, t(lang, "help.official_text"))
        return
    media, problem = await _media_in(context, message, attr, kind.media)
    note = _note(lang, problem, ctx_of(context).limits.download_limit)
    caption = (message.caption or "").strip() or None
    try:
        if joins:
            await _join_prompted(update, context, person, prompt, media, caption, note)  # type: ignore[arg-type]
        else:
            await _file(update, context, person, message, media, caption, note)
    except ValidationError as exc:
        await reply(update, error_text(lang, exc))
    except DomainError as exc:
        await reply(update, error_text(lang, exc))


async def _join_prompted(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, prompt: Prompt,
                         media: MediaIn, caption: str | None, note: str) -> None:
    """A photo or place while "what happened?" (or "add details") is open: it joins that case. A caption
    answers "what happened?"; without one the question stays open."""
    bc = ctx_of(context)
    lang = lang_for(person)
    case_id = int(prompt.case_id or 0)
    waiting = await call(bc.cases.is_waiting_for_words, case_id)
    if caption or prompt.verb != WHAT:
        await clear_prompt(update, context)
    view = await call(bc.cases.add_details, case_id, person.id, caption, media=[media])
    bc.kick()
    if prompt.verb != WHAT or not waiting:
        await reply(update, t(lang, "media.added", case_id=case_id) + note)
    elif caption and view.state == "reported":  # the words came but routing found nobody: no receipt will come
        await reply(update, t(lang, "report.no_owner"))
    elif note:
        await reply(update, t(lang, "media.added", case_id=case_id) + note)
    # else: still waiting (the question stands), or routed by the words (the receipt comes from routing)


async def _file(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, message: Message,
                media: MediaIn, caption: str | None, note: str) -> None:
    bc = ctx_of(context)
    lang = lang_for(person)
    group = message.media_group_id
    if caption is None and group is None:
        recent = await call(bc.cases.latest_open_case, person.id, bc.followup_window)
        if recent is not None:  # a photo of the crack, or the place, right after the report: same case
            await call(bc.cases.add_details, recent.id, person.id, None, media=[media])
            bc.kick()
            await reply(update, t(lang, "media.added", case_id=recent.id) + note)
            return
    filed = await call(bc.cases.file_media, person.id, media, text=caption, source_key=source_key(message),
                       group_key=f"tg:{message.chat_id}:album:{group}" if group else None,
                       language=tibetan_or_chinese(caption) if caption else None)
    bc.kick()
    case_id = filed.case.id
    if filed.waiting_for_words and filed.new_case and group is not None:
        # the album's other messages (one may carry the caption) are usually being handled this very moment:
        # give them a moment before asking "what happened?" about an album that said it already
        await asyncio.sleep(ALBUM_SETTLE_SECONDS)
        if not await call(bc.cases.is_waiting_for_words, case_id):
            return
    if filed.waiting_for_words:
        if filed.new_case:
            await set_prompt(update, context, WHAT, case_id)
            await reply(update, t(lang, "media.what_happened", case_id=case_id) + note)
        elif note:
            await reply(update, t(lang, "media.added", case_id=case_id) + note)
        return
    if caption and not filed.new_case:  # an album's caption came after its first photo: the question is moot
        pending = await peek_prompt(update, context)
        if pending is not None and pending.verb == WHAT and pending.case_id == case_id:
            await clear_prompt(update, context)
    if filed.case.state == "reported" and filed.new_case:
        # stored, routing failed (nobody to own it): no receipt will come from routing
        await reply(update, t(lang, "report.no_owner") + note)
    elif note:  # the receipt comes from routing; this says what became of the file
        await reply(update, note.strip() if filed.new_case else t(lang, "media.added", case_id=case_id) + note)


async def answer_what(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, prompt: Prompt,
                      text: str, audio: AudioIn | None) -> None:
    """The answer to "what happened?": typed words route the case now (the receipt comes from routing, as
    for any report); a voice answer is transcribed and its transcript routes it (the "transcribing…" message
    is edited with the receipt, as for a voice report)."""
    bc = ctx_of(context)
    lang = lang_for(person)
    case_id = int(prompt.case_id or 0)
    try:
        waiting = await call(bc.cases.is_waiting_for_words, case_id)
        view = await call(bc.cases.add_details, case_id, person.id, text or None, audio)
    except ValidationError as exc:
        if exc.code == "empty_report":
            await ask_again(update, context, prompt)
            await reply(update, t(lang, "media.what_happened", case_id=case_id))
            return
        await reply(update, error_text(lang, exc))
        return
    except DomainError as exc:
        await reply(update, error_text(lang, exc))
        return
    bc.kick()
    if waiting and audio is not None and view.transcript_status == "pending":
        placeholder = await reply(update, t(lang, "voice.queued", case_id=case_id,
                                            position=await bc.voice.position(case_id)))
        if placeholder is not None:
            await call(bc.delivery.remember_voice_placeholder, case_id, placeholder.chat_id, placeholder.message_id)
        await bc.voice.submit(case_id)
    elif not waiting:  # routed meanwhile (no answer in time): the words were just added
        await reply(update, t(lang, "add.ok", case_id=case_id))
    elif view.state == "reported":  # routing found nobody: say so (no receipt will come)
        await reply(update, t(lang, "report.no_owner"))


PROMPT_ANSWERERS[WHAT] = answer_what
