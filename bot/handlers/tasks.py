"""Tasks in Telegram: ``/task`` (the issuer's dialogue and ``/task N`` progress), ``/tasks``, the workers'
one-tap answers per household, and a "problem" told in the next message.

The dialogue is a draft row in the database (:meth:`TaskService.create_draft`), driven by buttons that carry the
draft's id (``tku:7:12`` ticks unit 12 on draft 7) and edited in place; the two steps that need typing (the
task's text, a deadline typed instead of tapped) and a worker's "what problem?" are pending prompts
(:func:`bot.conversation.set_prompt`, kept in the database), answered by the next text or voice message. Every press is checked
again by the domain (who may send where, whose line this is, whether the task is still open).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import wraps

from telegram import Update
from telegram.ext import ContextTypes

from bot import deadlines
from bot import tasks_render as tr
from bot.callbacks import Callback
from bot.conversation import clear_prompt, set_prompt
from bot.handlers.common import (
    call,
    ctx_of,
    lang_for,
    reply,
    require_person,
    safe_answer,
    safe_edit,
)
from bot.handlers.reporting import PROMPT_ANSWERERS
from i18n import t
from runtime.tasks_export import task_export_file
from workflows.cases import AudioIn
from workflows.conversation import Prompt
from workflows.errors import DomainError, InvalidTransition, ValidationError
from workflows.views import PersonView

log = logging.getLogger(__name__)

ISSUER_ROLES = frozenset({"grid_leader", "township_commander", "county_commander", "governance_operator", "admin"})
#: Prompt verbs (the next message answers them): the task's text, a typed deadline, a worker's problem.
PROMPT_TEXT, PROMPT_DUE, PROMPT_PROBLEM = "tkt", "tkdt", "tap"
EXPORT_WORDS = {"csv": "csv", "xlsx": "xlsx", "excel": "xlsx", "导出": "xlsx", "表格": "xlsx"}


def task_error_text(lang: str, exc: DomainError) -> str:
    """The domain's task errors in words (cases have :func:`bot.handlers.common.error_text`)."""
    code, p = exc.code, exc.params
    if code in ("task_closed", "invalid_transition") and p.get("state") == "sent":
        return t(lang, "err.task_already_sent")  # a second tap on "send", or editing a task already out
    if code == "task_closed" or (isinstance(exc, InvalidTransition) and p.get("state") in ("closed", "cancelled")):
        return t(lang, "err.task_closed", state=tr.task_state(lang, str(p.get("state") or "closed")))
    if code in ("not_a_recipient", "household_not_in_task", "target_not_in_jurisdiction", "deadline_past",
                "empty_task", "no_recipients", "task_not_found"):
        return t(lang, f"err.{code}", unit=p.get("unit", ""), task_id=p.get("task_id", ""))
    if code == "not_a_task_issuer":
        return t(lang, "task.not_issuer")
    if code == "deadline_required":
        return t(lang, "task.choose_due")
    if code == "note_required":
        return t(lang, "err.too_short")
    from bot.handlers.common import error_text

    return error_text(lang, exc)


Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE, PersonView, Callback], Awaitable[None]]


def answers_own_errors(fn: Handler) -> Handler:
    """The button router's fallback speaks about *cases*; a task button answers its own errors in task words."""

    @wraps(fn)
    async def run(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
        try:
            await fn(update, context, person, cb)
        except DomainError as exc:
            log.info("task button %s:%s:%s refused for person %s: %s", cb.verb, cb.case_id, cb.arg, person.id, exc)
            await safe_answer(update, task_error_text(lang_for(person), exc), alert=True)

    return run


# ------------------------------------------------------------------------------------------- commands


async def task_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/task`` → templates; ``/task 7`` → progress (a worker: their sheet); ``/task 7 csv`` → export;
    ``/task <text>`` → a draft with that text."""
    person = await require_person(update, context)
    if person is None:
        return
    bc = ctx_of(context)
    lang = lang_for(person)
    args = [a for a in (context.args or []) if a.strip()]
    try:
        if args and args[0].lstrip("#").isdigit():
            task_id = int(args[0].lstrip("#"))
            if len(args) > 1 and args[1].lower() in EXPORT_WORDS:
                await send_export(update, context, person, task_id, EXPORT_WORDS[args[1].lower()])
            elif person.role in ISSUER_ROLES:
                await show_progress(update, context, person, task_id, edit=False)
            else:
                await send_sheet(update, context, person, task_id)
            return
        if person.role not in ISSUER_ROLES:
            await my_open_tasks(update, context, person)
            return
        if args:
            view = await call(bc.tasks.create_draft, person.id, text=" ".join(args), language=person.ui_language)
            await ask_targets(update, context, person, view.id, edit=False)
            return
        templates = [(tpl.key, tpl.name(lang)) for tpl in bc.tasks.settings.templates.values()]
        await reply(update, t(lang, "task.choose"), tr.templates_keyboard(lang, templates))
    except DomainError as exc:
        await reply(update, task_error_text(lang, exc))


async def tasks_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/tasks``: an issuer's tasks with their completion; a worker's unanswered ones."""
    person = await require_person(update, context)
    if person is None:
        return
    lang = lang_for(person)
    if person.role not in ISSUER_ROLES:
        await my_open_tasks(update, context, person)
        return
    rows = await call(ctx_of(context).tasks.list_tasks, person.id, limit=15)
    if not rows:
        await reply(update, t(lang, "task.list_empty"))
        return
    lines = [t(lang, "task.list_header")] + [
        t(lang, "task.list_line", task_id=r.id, state=tr.task_state(lang, r.state), answered=r.answered,
          total=r.total, text=r.text[:24]) for r in rows
    ]
    await reply(update, "\n".join(lines))


async def my_open_tasks(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView) -> None:
    lang = lang_for(person)
    sheets = await call(ctx_of(context).tasks.open_sheets, person.id)
    if not sheets:
        await reply(update, t(lang, "task.worker_list_empty"))
        return
    for sheet in sheets:
        await reply(update, tr.sheet_text(lang, sheet), tr.sheet_keyboard(lang, sheet))


async def send_sheet(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, task_id: int) -> None:
    lang = lang_for(person)
    sheet = await call(ctx_of(context).tasks.sheet, task_id, person.id)
    await reply(update, tr.sheet_text(lang, sheet), tr.sheet_keyboard(lang, sheet))


async def show_progress(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, task_id: int, *,
                        edit: bool) -> None:
    lang = lang_for(person)
    view = await call(ctx_of(context).tasks.get, task_id, person.id)
    text, keyboard = tr.progress_text(lang, view), tr.progress_keyboard(lang, view)
    if edit:
        await safe_edit(update, text, keyboard)
    else:
        await reply(update, text, keyboard)


async def send_export(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, task_id: int,
                      fmt: str) -> None:
    bc = ctx_of(context)
    lang = lang_for(person)
    rows = await call(bc.tasks.export_rows, task_id, person.id)
    data, filename = task_export_file(task_id, rows, fmt, bc.clock.now())
    chat = update.effective_chat
    assert chat is not None
    await chat.send_document(document=data, filename=filename,
                             caption=t(lang, "task.export_caption", task_id=task_id, rows=len(rows)))


# ------------------------------------------------------------------------------------------- the dialogue


async def ask_targets(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, task_id: int, *,
                      edit: bool) -> None:
    bc = ctx_of(context)
    lang = lang_for(person)
    view = await call(bc.tasks.get, task_id, person.id)
    choices = await call(bc.tasks.target_choices, person.id)
    area = sum(c.workers for c in choices)
    keyboard = tr.targets_keyboard(lang, task_id, choices, set(view.target_ids), area)
    text = f"{t(lang, 'task.choose_targets')}\n「{view.text}」" if view.text else t(lang, "task.choose_targets")
    if edit:
        await safe_edit(update, text, keyboard)
    else:
        await reply(update, text, keyboard)


async def ask_due(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, task_id: int, *,
                  edit: bool) -> None:
    bc = ctx_of(context)
    lang = lang_for(person)
    view = await call(bc.tasks.get, task_id, person.id)
    template = bc.tasks.settings.template(view.template)
    options = [(code, t(lang, key, **params)) for code, (key, params) in
               deadlines.choices(bc.clock.now(), template.due if template else None)]
    await set_prompt(update, context, PROMPT_DUE, task_id)  # a typed time answers too
    keyboard = tr.due_keyboard(lang, task_id, options)
    if edit:
        await safe_edit(update, t(lang, "task.choose_due"), keyboard)
    else:
        await reply(update, t(lang, "task.choose_due"), keyboard)


async def show_preview(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, task_id: int, *,
                       edit: bool) -> None:
    bc = ctx_of(context)
    lang = lang_for(person)
    view = await call(bc.tasks.get, task_id, person.id)
    workers, households = await call(bc.tasks.reach, task_id, person.id)
    text = tr.preview_text(lang, view, workers, households)
    if edit:
        await safe_edit(update, text, tr.preview_keyboard(lang, task_id))
    else:
        await reply(update, text, tr.preview_keyboard(lang, task_id))


@answers_own_errors
async def on_template(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    """``tkn:0:<template|own>``: start a draft."""
    bc = ctx_of(context)
    lang = lang_for(person)
    await safe_answer(update)
    template = None if cb.arg == "own" else cb.arg
    view = await call(bc.tasks.create_draft, person.id, template=template, language=person.ui_language)
    if view.text:
        await ask_targets(update, context, person, view.id, edit=True)
        return
    await set_prompt(update, context, PROMPT_TEXT, view.id)
    await safe_edit(update, t(lang, "task.ask_text"), None)


@answers_own_errors
async def on_target(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    """``tku:<task>:<unit>`` ticks or unticks a unit; ``tkw:<task>`` the whole area."""
    bc = ctx_of(context)
    view = await call(bc.tasks.get, cb.case_id, person.id)
    chosen = set(view.target_ids)
    if cb.verb == "tkw":
        chosen = set()
    else:
        chosen ^= {int(cb.arg or 0)}
    await call(bc.tasks.update_draft, cb.case_id, person.id, targets=sorted(chosen))
    await safe_answer(update)
    await ask_targets(update, context, person, cb.case_id, edit=True)


@answers_own_errors
async def on_targets_done(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView,
                          cb: Callback) -> None:
    await safe_answer(update)
    await ask_due(update, context, person, cb.case_id, edit=True)


@answers_own_errors
async def on_due(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    """``tkd:<task>:<code>``: a deadline button."""
    bc = ctx_of(context)
    view = await call(bc.tasks.get, cb.case_id, person.id)
    template = bc.tasks.settings.template(view.template)
    due = deadlines.choice_deadline(cb.arg or "", bc.clock.now(), template.due if template else None)
    await call(bc.tasks.update_draft, cb.case_id, person.id, due_at=due)
    await clear_prompt(update, context)  # the typed-deadline question is answered by the tap
    await safe_answer(update)
    await show_preview(update, context, person, cb.case_id, edit=True)


@answers_own_errors
async def on_send(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    bc = ctx_of(context)
    lang = lang_for(person)
    view = await call(bc.tasks.send, cb.case_id, person.id)
    bc.kick()
    await safe_answer(update, t(lang, "task.answered"))
    await safe_edit(update, t(lang, "task.sent", task_id=view.id, workers=view.workers, lines=view.total),
                    tr.progress_keyboard(lang, view))


@answers_own_errors
async def on_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    """``tkx``: a draft is dropped; a sent task is withdrawn (the workers are told)."""
    bc = ctx_of(context)
    lang = lang_for(person)
    before = await call(bc.tasks.get, cb.case_id, person.id)
    await call(bc.tasks.cancel, cb.case_id, person.id)
    await clear_prompt(update, context)
    bc.kick()
    await safe_answer(update)
    key = "task.draft_cancelled" if before.state == "draft" else "task.withdrawn_ok"
    await safe_edit(update, t(lang, key, task_id=cb.case_id), None)


@answers_own_errors
async def on_close(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    bc = ctx_of(context)
    lang = lang_for(person)
    await call(bc.tasks.close, cb.case_id, person.id)
    await safe_answer(update, t(lang, "task.closed_ok", task_id=cb.case_id))
    await show_progress(update, context, person, cb.case_id, edit=True)


@answers_own_errors
async def on_view(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    await safe_answer(update)
    await show_progress(update, context, person, cb.case_id, edit=True)


@answers_own_errors
async def on_export(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    await safe_answer(update)
    await send_export(update, context, person, cb.case_id, cb.arg or "xlsx")


# ------------------------------------------------------------------------------------------- answers


@answers_own_errors
async def on_answer(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    """``ta:<task>:<household>.<d|p|u>``: ✅ / 🚫 are recorded at once; ⚠️ asks what the problem is."""
    bc = ctx_of(context)
    lang = lang_for(person)
    raw_household, _, code = (cb.arg or "").partition(".")
    household_id = int(raw_household) or None
    status = tr.ANSWER_OF_CODE[code]
    if status == "problem":
        sheet = await call(bc.tasks.check_answerable, cb.case_id, person.id, household_id)
        line = next(li for li in sheet.lines if li.household_id == household_id)
        await set_prompt(update, context, PROMPT_PROBLEM, line.line_id)
        await safe_answer(update)
        await reply(update, t(lang, "task.ask_problem", head=line.head_name or t(lang, "task.myself")))
        return
    result = await call(bc.tasks.answer, cb.case_id, person.id, household_id, status)
    await safe_answer(update, t(lang, "task.answered" if result.changed else "task.same_answer"))
    if result.changed:
        await safe_edit(update, tr.sheet_text(lang, result.sheet), tr.sheet_keyboard(lang, result.sheet))


async def complete_prompt(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, prompt: Prompt,
                          text: str, audio: AudioIn | None) -> None:
    """The next message after a task question: the task's text, a typed deadline, or a problem."""
    verb, subject_id = prompt.verb, int(prompt.case_id or 0)
    bc = ctx_of(context)
    lang = lang_for(person)
    try:
        if verb == PROMPT_TEXT:
            if audio is not None:
                from workflows.tasks import TaskAudio

                await call(bc.tasks.update_draft, subject_id, person.id,
                           audio=TaskAudio(audio.content, audio.mime_type, audio.telegram_file_id))
            else:
                await call(bc.tasks.update_draft, subject_id, person.id, text=text)
            await ask_targets(update, context, person, subject_id, edit=False)
        elif verb == PROMPT_DUE:
            due = deadlines.parse_deadline(text, bc.clock.now())
            if due is None:
                await set_prompt(update, context, PROMPT_DUE, subject_id)
                await reply(update, t(lang, "task.due_bad"))
                return
            await call(bc.tasks.update_draft, subject_id, person.id, due_at=due)
            await show_preview(update, context, person, subject_id, edit=False)
        elif verb == PROMPT_PROBLEM:
            task_id, household_id = await call(bc.tasks.line, subject_id, person.id)
            result = await call(bc.tasks.answer, task_id, person.id, household_id, "problem", text=text or None,
                                audio=audio, language=person.speech_language if audio else None)
            bc.kick()
            if audio is not None and result.case_id is not None:
                await _transcribe(context, result.case_id, person.id)
            line = next((li for li in result.sheet.lines if li.household_id == household_id), None)
            head = (line.head_name if line else None) or t(lang, "task.myself")
            await reply(update, t(lang, "task.problem_filed", head=head, case_id=result.case_id))
            await reply(update, tr.sheet_text(lang, result.sheet), tr.sheet_keyboard(lang, result.sheet))
    except ValidationError as exc:
        if exc.code in ("deadline_past", "empty_task", "note_required"):
            await set_prompt(update, context, verb, subject_id)  # ask again: the question still stands
        await reply(update, task_error_text(lang, exc))
    except DomainError as exc:
        await reply(update, task_error_text(lang, exc))


async def _transcribe(context: ContextTypes.DEFAULT_TYPE, case_id: int, person_id: int) -> None:
    """A problem told by voice is a voice report: queue it like one (the case waits for its transcript)."""
    bc = ctx_of(context)
    view = await call(bc.cases.get_case, case_id, person_id)
    if view.transcript_status == "pending":
        await bc.voice.submit(case_id)  # its job was queued with the case (workflows.transcription_jobs)


for _verb in (PROMPT_TEXT, PROMPT_DUE, PROMPT_PROBLEM):
    PROMPT_ANSWERERS[_verb] = complete_prompt
