"""Incoming messages: a worker's text or voice report, a follow-up, or the answer to a prompt.

Why "store first, answer through the outbox": ``file_report`` commits the report before anything else; the
worker's receipt (case number, what we understood, who owns it, correction buttons) is the domain's
``case_received`` notification, delivered by the outbox right away (we "kick" it). If Telegram is down at
that moment, the receipt is retried — the case was never at risk. Only answers that are not notifications
(prompts, "added to case #N", errors) are sent directly.

Follow-ups: a text within the configured window after an open case is *added to that case at once* (stored,
the owner is told) and the worker gets one tap to say "no, this is a new case" instead — asking first would
keep the text only in memory until they answer. The domain re-triages the case with the follow-up and may only
raise its urgency ("羊圈着火了" after a routine report makes the case urgent and alerts the governance centre at
once); the answer says so.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Awaitable, Callable

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes, filters

from bot import keyboards as kb
from bot.callbacks import Callback
from bot.conversation import ask_again, clear_prompt, peek_prompt, remember_followup
from bot.handlers.cards import refresh_card
from bot.handlers.common import (
    OFFICIAL_ROLES,
    REPORTER_ROLES,
    call,
    ctx_of,
    error_text,
    lang_for,
    reply,
    require_person,
    safe_answer,
    tibetan_or_chinese,
)
from bot.render import report_receipt
from i18n import plain_label, t
from workflows.cases import AudioIn
from workflows.conversation import Prompt
from workflows.errors import DomainError, NotPermitted, ValidationError
from workflows.views import CaseView, PersonView

log = logging.getLogger(__name__)

_DUP_RE = re.compile(r"^\s*[#＃]?\s*(\d{1,10})\s*[,，:：]?\s*(.*)$", re.S)


#: Prompt verbs answered elsewhere (tasks, visits): verb -> ``async (update, context, person, verb, subject_id,
#: text, audio)``. Those modules register here when imported (this module may not import them: no cycles).
PROMPT_ANSWERERS: dict[str, Callable[..., Awaitable[None]]] = {}


def source_key(message: Message) -> str:
    """Idempotency key of a report: the same Telegram message delivered twice is the same case."""
    return f"tg:{message.chat_id}:{message.message_id}"


async def current_state(context: ContextTypes.DEFAULT_TYPE, case_id: int, person_id: int) -> str | None:
    try:
        return (await call(ctx_of(context).cases.get_case, case_id, person_id)).state
    except DomainError:
        return None


async def complete_prompt(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, prompt: Prompt, text: str,
    audio: AudioIn | None = None,
) -> None:
    """The message answers an earlier question ("how was it resolved?", "why escalate?", ...)."""
    bc = ctx_of(context)
    lang = lang_for(person)
    verb, case_id = prompt.verb, int(prompt.case_id or 0)
    if verb in PROMPT_ANSWERERS:
        await PROMPT_ANSWERERS[verb](update, context, person, prompt, text, audio)
        return
    try:
        if verb == "res":
            await call(bc.cases.resolve, case_id, person.id, text)
            answer = t(lang, "done.resolve", case_id=case_id)
        elif verb == "esc":
            view = await call(bc.cases.escalate, case_id, person.id, text)
            answer = t(lang, "done.escalate", case_id=case_id, owner=view.owner.name if view.owner else "")
        elif verb == "rej":
            await call(bc.cases.reject, case_id, person.id, text)
            answer = t(lang, "done.reject", case_id=case_id)
        elif verb == "dup":
            m = _DUP_RE.match(text)
            if not m:
                await ask_again(update, context, prompt)
                await reply(update, t(lang, "prompt.duplicate_bad"), kb.cancel_keyboard(lang, case_id))
                return
            of_case = int(m.group(1))
            await call(bc.cases.mark_duplicate, case_id, person.id, of_case, m.group(2).strip() or None)
            answer = t(lang, "done.duplicate", case_id=case_id, of_case_id=of_case)
        else:  # "add"
            await call(bc.cases.add_details, case_id, person.id, text or None, audio)
            answer = t(lang, "add.ok", case_id=case_id)
    except ValidationError as exc:
        if exc.code in ("note_required", "reason_required", "empty_report", "duplicate_of_self"):
            await ask_again(update, context, prompt)  # the question still stands
            await reply(update, error_text(lang, exc), kb.cancel_keyboard(lang, case_id))
            return
        await reply(update, error_text(lang, exc))
        return
    except DomainError as exc:
        await reply(update, error_text(lang, exc, state=await current_state(context, case_id, person.id)))
        return
    bc.kick()
    await reply(update, answer)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    person = await require_person(update, context)
    if person is None:
        return
    message = update.effective_message
    assert message is not None
    lang = lang_for(person)
    text = (message.text or "").strip()
    prompt = await clear_prompt(update, context)
    if prompt is not None:
        if not text:
            await ask_again(update, context, prompt)
            await reply(update, t(lang, "err.too_short"))
            return
        await complete_prompt(update, context, person, prompt, text)
        return
    if not text:
        await reply(update, t(lang, "report.empty"))
        return
    if person.role not in REPORTER_ROLES:
        await reply(update, t(lang, "help.official_text"))
        return
    await file_text_report(update, context, person, message, text)


async def file_text_report(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, message: Message, text: str
) -> None:
    bc = ctx_of(context)
    lang = lang_for(person)
    recent = await call(bc.cases.latest_open_case, person.id, bc.followup_window)
    if recent is not None:
        view = await call(bc.cases.add_details, recent.id, person.id, text)  # re-triaged: urgency only goes up
        bc.kick()
        await remember_followup(update, context, message.message_id, text)
        await reply(update, _followup_answer(lang, recent, view),
                    kb.followup_keyboard(lang, recent.id, message.message_id))
        return
    view = await call(bc.cases.file_report, person.id, text=text, source_key=source_key(message),
                      language=tibetan_or_chinese(text))
    bc.kick()
    if view.state == "reported":  # stored but not routed (no owner found): no receipt will come from routing
        await reply(update, report_receipt(lang, view, {}, voice=False) + "\n" + t(lang, "report.no_owner"))


def _followup_answer(lang: str, before: CaseView, after: CaseView) -> str:
    """"Added to case #N" — and, when the follow-up made the case more urgent, say so (and who was alerted)."""
    if after.urgency == before.urgency:
        return t(lang, "followup.attached", case_id=before.id)
    text = t(lang, "followup.raised", case_id=before.id, urgency=plain_label(lang, "urgency", after.urgency))
    return text + ("\n" + t(lang, "followup.alerted") if after.urgency == "urgent" else "")


#: Recordings a phone may send as a plain file (the name says it; the type is often application/octet-stream).
AUDIO_EXTENSIONS = ("m4a", "mp3", "wav", "amr", "ogg", "oga", "opus", "aac", "3gp")
AUDIO_EXTENSIONS_FILTER = filters.Document.FileExtension(AUDIO_EXTENSIONS[0])
for _ext in AUDIO_EXTENSIONS[1:]:
    AUDIO_EXTENSIONS_FILTER = AUDIO_EXTENSIONS_FILTER | filters.Document.FileExtension(_ext)


def _is_audio_document(doc: object) -> bool:
    name = (getattr(doc, "file_name", None) or "").lower()
    return (getattr(doc, "mime_type", None) or "").startswith("audio/") or name.rsplit(".", 1)[-1] in AUDIO_EXTENSIONS


def _media(message: Message) -> tuple[object | None, str]:
    if message.voice is not None:
        return message.voice, "voice"
    if message.audio is not None:
        return message.audio, "audio"
    if message.video_note is not None:
        return message.video_note, "video_note"
    doc = message.document
    if doc is not None and _is_audio_document(doc):
        return doc, "audio"
    return None, ""


def _duration_seconds(media: object) -> float | None:
    """PTB 22 warns that ``duration`` becomes a timedelta; accept both without the warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        duration = getattr(media, "duration", None)
    if duration is None:
        return None
    return duration.total_seconds() if hasattr(duration, "total_seconds") else float(duration)


async def on_voice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A voice note, audio file or video note: check limits, download, store the case, queue transcription."""
    person = await require_person(update, context)
    if person is None:
        return
    message = update.effective_message
    assert message is not None
    bc = ctx_of(context)
    lang = lang_for(person)
    media, kind = _media(message)
    if media is None:
        await on_unsupported(update, context)
        return
    size = getattr(media, "file_size", None) or 0
    seconds = _duration_seconds(media)
    limit = min(bc.limits.max_bytes, bc.limits.download_limit)
    if size > limit:
        await reply(update, t(lang, "voice.too_big", size_mb=f"{size / 1_048_576:.1f}", limit_mb=f"{limit / 1_048_576:.0f}"))
        return
    if seconds is not None and seconds > bc.limits.max_seconds:
        await reply(update, t(lang, "voice.too_long", seconds=int(seconds), limit=int(bc.limits.max_seconds)))
        return
    prompt = await clear_prompt(update, context)
    if prompt is None and person.role not in REPORTER_ROLES:
        await reply(update, t(lang, "help.official_text"))
        return
    try:
        tg_file = await media.get_file()  # type: ignore[attr-defined]
        data = bytes(await tg_file.download_as_bytearray())
    except Exception as exc:  # getFile or the download failed (Telegram error, network, timeout)
        log.warning("could not download voice note %s: %s", getattr(media, "file_id", "?"), exc)
        if prompt is not None:  # an answer to a question, not a report: keep the question, ask again
            await ask_again(update, context, prompt)
            await reply(update, t(lang, "voice.download_failed"))
            return
        # A report: store it now with the file id (nothing is lost); the pipeline fetches the bytes with backoff.
        data = b""
    audio = AudioIn(
        content=data,
        mime_type=getattr(media, "mime_type", None) or ("video/mp4" if kind == "video_note" else "audio/ogg"),
        duration_s=float(seconds) if seconds is not None else None,
        kind=kind,
        telegram_file_id=getattr(media, "file_id", None),
        filename=getattr(media, "file_name", None),
    )
    if prompt is not None:
        await answer_prompt_by_voice(update, context, person, prompt, audio)
        return
    view = await call(bc.cases.file_report, person.id, audio=audio, source_key=source_key(message),
                      language=person.speech_language)
    if view.transcript_status != "pending":  # the same update again: the case exists and is being handled
        return
    position = await bc.voice.position(view.id)
    try:
        placeholder = await reply(update, t(lang, "voice.queued", case_id=view.id, position=position))
        if placeholder is not None:
            await call(bc.delivery.remember_voice_placeholder, view.id, placeholder.chat_id, placeholder.message_id)
    except TelegramError as exc:  # the receipt will come as a new message via the outbox instead
        log.warning("could not send the 'transcribing' message for case %s: %s", view.id, exc)
    await bc.voice.submit(view.id)  # after the "transcribing…" message is on record, so the result edits it


async def on_retry_transcription(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback
) -> None:
    """An official's "Retry transcription" button (``rtr:``): the domain puts the case back to ``pending`` (a
    restart still picks it up), the pipeline transcribes (downloading first if it must), and the official who
    pressed is told the outcome through the outbox: the updated card, or why it failed again."""
    bc = ctx_of(context)
    lang = lang_for(person)
    case_id = cb.case_id
    view = await call(bc.cases.get_case, case_id, person.id)
    if not (kb.HANDLER_MARKERS & set(view.allowed_actions)) or not view.has_audio:
        raise NotPermitted(f"person {person.id} may not retry the transcription of case #{case_id}",
                           params={"case_id": case_id, "action": "retry_transcription"})
    await bc.voice.retry(case_id, view.language, requested_by=person.id)
    await safe_answer(update, t(lang, "voice.retry_queued", case_id=case_id))
    await refresh_card(update, context, person, await call(bc.cases.get_case, case_id, person.id))


async def answer_prompt_by_voice(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, prompt: Prompt, audio: AudioIn
) -> None:
    """An official answers "how was it resolved?" by voice: transcribe now (the note must be text)."""
    bc = ctx_of(context)
    lang = lang_for(person)
    verb, case_id = prompt.verb, int(prompt.case_id or 0)
    if verb == "add" or verb in PROMPT_ANSWERERS:  # details (a task's problem, a visit note) may stay audio
        await complete_prompt(update, context, person, prompt, "", audio)
        return
    try:
        transcript = await bc.voice.pool.transcribe(audio.content, person.speech_language)
        text = transcript.text.strip()
    except Exception as exc:  # any transcription failure: ask for text, keep the question open
        log.warning("could not transcribe a spoken %s note: %s", verb, exc)
        text = ""
    if not text:
        await ask_again(update, context, prompt)
        await reply(update, t(lang, "voice.note_failed"), kb.cancel_keyboard(lang, case_id))
        return
    await complete_prompt(update, context, person, prompt, text)


async def on_unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, locations...: a polite hint, never silence and never a crash."""
    person = await require_person(update, context)
    if person is None:
        return
    lang = lang_for(person)
    official = person.role in OFFICIAL_ROLES and await peek_prompt(update, context) is None
    key = "help.official_text" if official else "report.unsupported"
    await reply(update, t(lang, key))

