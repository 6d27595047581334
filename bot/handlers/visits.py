"""The six must-visits in Telegram: ``/visits`` (due and overdue in the official's area, most overdue first),
the visit card's buttons (✅ visited → a line, a voice note or a photo; ➡️ hand on; ✖️ not needed → a reason).

Like case buttons, every press is checked again by :class:`workflows.visits.VisitService`; the words a visit
needs come in the next message (a pending prompt, :func:`bot.conversation.set_prompt`).
"""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot import tasks_render as tr
from bot.callbacks import Callback
from bot.conversation import clear_prompt, peek_prompt, set_prompt
from bot.handlers.common import call, ctx_of, lang_for, reply, require_person, safe_answer, safe_edit
from bot.handlers.media import on_media
from bot.handlers.reporting import PROMPT_ANSWERERS
from bot.handlers.tasks import answers_own_errors
from i18n import t
from workflows.cases import AudioIn
from workflows.conversation import Prompt
from workflows.errors import DomainError, ValidationError
from workflows.views import PersonView
from workflows.visits import VisitMedia

log = logging.getLogger(__name__)

PAGE = 8
PROMPT_DONE, PROMPT_CANCEL = "vdn", "vxr"
OFFICIAL_ROLES = frozenset({"grid_leader", "township_commander", "county_commander", "governance_operator",
                            "department_contact", "admin"})


def visit_error_text(lang: str, exc: DomainError) -> str:
    if exc.code == "visit_closed":
        state = str(exc.params.get("state") or "done")
        return t(lang, "err.visit_closed", visit_id=exc.params.get("visit_id", ""),
                 state=t(lang, f"visit.state.{state}"))
    if exc.code == "visit_not_found":
        return t(lang, "err.visit_not_found", visit_id=exc.params.get("visit_id", ""))
    if exc.code in ("note_required", "reason_required"):
        return t(lang, "err.too_short")
    from bot.handlers.common import error_text

    return error_text(lang, exc)


async def visits_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    person = await require_person(update, context)
    if person is None:
        return
    if person.role not in OFFICIAL_ROLES:
        await reply(update, t(lang_for(person), "visit.list_only_officials"))
        return
    await show_list(update, context, person, 0, edit=False)


async def show_list(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, page: int, *,
                    edit: bool) -> None:
    bc = ctx_of(context)
    lang = lang_for(person)
    total = await call(bc.visits.count_visits, person.id)
    if total == 0:
        await reply(update, t(lang, "visit.list_empty"))
        return
    page = max(0, min(page, (total - 1) // PAGE))
    views = await call(bc.visits.list_visits, person.id, limit=PAGE, offset=page * PAGE)
    text = "\n".join([t(lang, "visit.list_header", count=total), *(tr.visit_list_line(lang, v) for v in views)])
    keyboard = tr.visit_list_keyboard(lang, views, page, (total + PAGE - 1) // PAGE)
    if edit:
        await safe_edit(update, text, keyboard)
    else:
        await reply(update, text, keyboard)


@answers_own_errors
async def on_list_page(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    await safe_answer(update)
    await show_list(update, context, person, int(cb.arg or 0), edit=True)


@answers_own_errors
async def on_view(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    """``vv:<visit>``: the card (a new message from a list; in place when it came from the card itself)."""
    bc = ctx_of(context)
    lang = lang_for(person)
    view = await call(bc.visits.get, cb.case_id, person.id)
    await safe_answer(update)
    query = update.callback_query
    from_list = query is not None and query.message is not None and "🏠" not in (getattr(query.message, "text", "") or "")
    if from_list:
        await reply(update, tr.visit_card(lang, view), tr.visit_keyboard(lang, view))
    else:
        await safe_edit(update, tr.visit_card(lang, view), tr.visit_keyboard(lang, view))


async def _ask(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback, verb: str,
               key: str, action: str) -> None:
    bc = ctx_of(context)
    view = await call(bc.visits.get, cb.case_id, person.id)
    if action not in view.allowed_actions:
        if view.state != "open":
            await safe_answer(update, visit_error_text(lang_for(person), ValidationError(
                "closed", code="visit_closed", params={"visit_id": view.id, "state": view.state})), alert=True)
        else:
            await safe_answer(update, t(lang_for(person), "err.not_allowed"), alert=True)
        return
    await set_prompt(update, context, verb, view.id)
    await safe_answer(update)
    await reply(update, t(lang_for(person), key))


@answers_own_errors
async def on_done(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    await _ask(update, context, person, cb, PROMPT_DONE, "visit.ask_note", "complete")


@answers_own_errors
async def on_not_needed(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    await _ask(update, context, person, cb, PROMPT_CANCEL, "visit.ask_cancel", "cancel")


@answers_own_errors
async def on_hand_on(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    bc = ctx_of(context)
    lang = lang_for(person)
    people = await call(bc.visits.hand_on_choices, cb.case_id, person.id)
    await safe_answer(update)
    if not people:
        await reply(update, t(lang, "visit.nobody_to_hand_to"))
        return
    await reply(update, t(lang, "visit.choose_person", visit_id=cb.case_id), tr.people_keyboard(lang, cb.case_id, people))


@answers_own_errors
async def on_hand_to(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    bc = ctx_of(context)
    lang = lang_for(person)
    view = await call(bc.visits.hand_on, cb.case_id, person.id, int(cb.arg or 0))
    bc.kick()
    await safe_answer(update, t(lang, "task.answered"))
    await safe_edit(update, t(lang, "visit.handed_ok", visit_id=view.id, name=view.owner.name if view.owner else ""),
                    None)


async def complete_prompt(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, prompt: Prompt,
                          text: str, audio: AudioIn | None, photo: VisitMedia | None = None) -> None:
    """The next message after "how did the visit go?" (text, voice or photo) or "why not needed?"."""
    verb, visit_id = prompt.verb, int(prompt.case_id or 0)
    bc = ctx_of(context)
    lang = lang_for(person)
    try:
        if verb == PROMPT_CANCEL:
            view = await call(bc.visits.cancel, visit_id, person.id, text)
            answer = t(lang, "visit.cancel_ok", visit_id=view.id)
        else:
            media = photo
            if audio is not None:
                media = VisitMedia("voice", audio.content, audio.mime_type, audio.telegram_file_id)
                if not text:
                    text = await _transcript(context, person, audio)
            view = await call(bc.visits.complete, visit_id, person.id, note=text or None, media=media)
            answer = t(lang, "visit.done_ok", visit_id=view.id)
    except ValidationError as exc:
        if exc.code in ("note_required", "reason_required"):
            await set_prompt(update, context, verb, visit_id)
        await reply(update, visit_error_text(lang, exc))
        return
    except DomainError as exc:
        await reply(update, visit_error_text(lang, exc))
        return
    bc.kick()
    await reply(update, answer)


async def _transcript(context: ContextTypes.DEFAULT_TYPE, person: PersonView, audio: AudioIn) -> str:
    """The voice note's words for the visit's note (the recording is kept either way)."""
    try:
        transcript = await ctx_of(context).voice.pool.transcribe(audio.content, person.speech_language)
        return transcript.text.strip()
    except Exception as exc:  # noqa: BLE001 - the recording is the record; the note just says 🎙
        log.info("could not transcribe a visit note: %s", exc)
        return ""


def photo_media(message: Message, data: bytes) -> VisitMedia:
    largest = message.photo[-1]
    return VisitMedia("photo", data, "image/jpeg", largest.file_id)


async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo answers "how did the visit go?" when that question is open (the caption is the note);
    otherwise it goes where any other photo goes."""
    pending = await peek_prompt(update, context)
    message = update.effective_message
    if pending is None or pending.verb != PROMPT_DONE or message is None or not message.photo:
        await on_media(update, context)
        return
    person = await require_person(update, context)
    if person is None:
        return
    prompt = await clear_prompt(update, context)
    if prompt is None:  # another process took the answer first
        return
    try:
        tg_file = await message.photo[-1].get_file()
        data = bytes(await tg_file.download_as_bytearray())
    except Exception as exc:  # noqa: BLE001 - keep the question open and say so
        log.warning("could not download a visit photo: %s", exc)
        await set_prompt(update, context, prompt.verb, prompt.case_id)
        await reply(update, t(lang_for(person), "voice.download_failed"))
        return
    await complete_prompt(update, context, person, prompt, (message.caption or "").strip(), None,
                          photo_media(message, data))


for _verb in (PROMPT_DONE, PROMPT_CANCEL):
    PROMPT_ANSWERERS[_verb] = complete_prompt
