"""The liaison worker's side: ``/my`` and the reporter's buttons (add details, correct what the system
understood, confirm fixed / not fixed, keep a follow-up or make it a new case)."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot import keyboards as kb
from bot.callbacks import Callback
from bot.conversation import forget_followup, recall_followup, set_prompt
from bot.handlers.cards import show_my, stale
from bot.handlers.common import (
    call,
    ctx_of,
    lang_for,
    reply,
    require_person,
    safe_answer,
    safe_edit,
    tibetan_or_chinese,
)
from bot.render import understood, understood_plain
from i18n import t
from workflows.views import PersonView


async def my_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    person = await require_person(update, context)
    if person is None:
        return
    await show_my(update, context, person, 0, edit=False)


async def on_my_page(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    await safe_answer(update)
    await show_my(update, context, person, int(cb.arg or 0), edit=True)


async def on_confirm(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    bc = ctx_of(context)
    lang = lang_for(person)
    await call(bc.cases.confirm, cb.case_id, person.id)
    bc.kick()
    await safe_answer(update, t(lang, "done.confirm", case_id=cb.case_id))
    await safe_edit(update, t(lang, "done.confirm", case_id=cb.case_id), None)


async def on_not_fixed(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    bc = ctx_of(context)
    lang = lang_for(person)
    case_id = cb.case_id
    view = await call(bc.cases.reopen, case_id, person.id, None)
    bc.kick()
    owner = view.owner.name if view.owner else t(lang, "card.nobody")
    await safe_answer(update, t(lang, "done.reopen", case_id=case_id, owner=owner))
    await safe_edit(update, t(lang, "done.reopen", case_id=case_id, owner=owner), None)
    await set_prompt(update, context, "add", case_id)  # one optional line about what is still wrong
    await reply(update, t(lang, "prompt.reopen", case_id=case_id), kb.cancel_keyboard(lang, case_id))


async def on_add(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    lang = lang_for(person)
    view = await call(ctx_of(context).cases.get_case, cb.case_id, person.id)
    if "add_details" not in view.allowed_actions:
        await stale(update, context, person, view)
        return
    await set_prompt(update, context, "add", cb.case_id)
    await safe_answer(update)
    await reply(update, t(lang, "add.prompt", case_id=cb.case_id), kb.cancel_keyboard(lang, cb.case_id))


async def on_choose_category(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView,
                             cb: Callback) -> None:
    bc = ctx_of(context)
    view = await call(bc.cases.get_case, cb.case_id, person.id)
    await safe_answer(update)
    await safe_edit(update, None, kb.category_keyboard(lang_for(person), cb.case_id, view.category,
                                                       bc.cases.categories, plain=view.reporter.id == person.id))


async def on_choose_urgency(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView,
                            cb: Callback) -> None:
    view = await call(ctx_of(context).cases.get_case, cb.case_id, person.id)
    await safe_answer(update)
    await safe_edit(update, None, kb.urgency_keyboard(lang_for(person), cb.case_id, view.urgency,
                                                      plain=view.reporter.id == person.id))


async def on_set_triage(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    """``scat:<id>:<category>`` / ``surg:<id>:<urgency>``: the domain checks the value and the right."""
    bc = ctx_of(context)
    lang = lang_for(person)
    case_id = cb.case_id
    kwargs = {"category": cb.arg} if cb.verb == "scat" else {"urgency": cb.arg}
    view = await call(bc.cases.correct_triage, case_id, person.id, **kwargs)
    bc.kick()
    words = understood_plain if view.reporter.id == person.id else understood
    text = t(lang, "triage.corrected", case_id=case_id, owner=view.owner.name if view.owner else "",
             **words(lang, view.category, view.urgency))
    offer = kb.REPORTER_RECEIPT if view.reporter.id == person.id else kb.OFFICIAL
    await safe_answer(update, text)
    await safe_edit(update, text, kb.case_keyboard(lang, case_id, view.allowed_actions, offer))


async def on_link_household(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView,
                            cb: Callback) -> None:
    """``hh:<case>:<household>``: the worker taps which of their households the report is about. The domain
    refuses a household that is not theirs (a forged button); a visit the case opened for "no household yet"
    moves to that household's cadre (``VisitService.relink_case``). The receipt keeps its other buttons."""
    bc = ctx_of(context)
    lang = lang_for(person)
    view = await call(bc.cases.link_household, cb.case_id, person.id, int(cb.arg or 0))
    if bc.visits is not None:
        await call(bc.visits.relink_case, view.id)
    bc.kick()
    head = next((b.text.removeprefix("🏠 ") for row in _keyboard_rows(update) for b in row
                 if b.callback_data == cb.pack()), "")
    done = t(lang, "hh.linked", case_id=view.id, head=head)
    await safe_answer(update, done)
    message = update.callback_query.message if update.callback_query else None
    old = getattr(message, "text", None) or ""
    kept = old.replace(t(lang, "hh.which"), "").rstrip()
    await safe_edit(update, f"{kept}\n{done}" if kept else done,
                    kb.case_keyboard(lang, view.id, view.allowed_actions, kb.REPORTER_RECEIPT))


def _keyboard_rows(update: Update) -> list[list[Any]]:
    message = update.callback_query.message if update.callback_query else None
    markup = getattr(message, "reply_markup", None)
    return [list(r) for r in markup.inline_keyboard] if markup is not None else []


async def on_keep(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    await safe_answer(update)
    await safe_edit(update, t(lang_for(person), "followup.kept", case_id=cb.case_id), None)


async def file_followup_as_new(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    """The worker says the follow-up was a different matter: file it as its own case (same idempotency key
    as the original message, so pressing twice still makes one case)."""
    bc = ctx_of(context)
    lang = lang_for(person)
    message_id = int(cb.arg or 0)
    text = await recall_followup(update, context, message_id)
    if text is None:
        await safe_answer(update)
        await safe_edit(update, t(lang, "followup.gone"), None)
        return
    chat = update.effective_chat
    assert chat is not None
    view = await call(bc.cases.file_report, person.id, text=text, source_key=f"tg:{chat.id}:{message_id}",
                      language=tibetan_or_chinese(text))
    await forget_followup(update, context, message_id)
    bc.kick()
    await safe_answer(update)
    await safe_edit(update, t(lang, "followup.new", case_id=view.id), None)
