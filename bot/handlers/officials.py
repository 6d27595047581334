"""The officials' side: ``/cases``, ``/case N``, ``/overdue`` and the handling buttons (accept, resolve,
escalate, reassign, reject, duplicate, acknowledge a reminder, retry a transcription).

Buttons that need words (resolve → a note, escalate/reject → a reason, duplicate → the earlier case number)
ask a question; the official's next text or voice message in this chat is the answer
(:func:`bot.handlers.reporting.complete_prompt`). Before asking, the case is checked so nobody types a note
for a case that has already moved on.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import keyboards as kb
from bot import render
from bot.callbacks import Callback
from bot.conversation import clear_prompt, set_prompt
from bot.handlers.cards import card_keyboard, case_list, refresh_card, show_case, show_my, stale
from bot.handlers.common import (
    OFFICIAL_ROLES,
    call,
    ctx_of,
    lang_for,
    reply,
    require_person,
    safe_answer,
    safe_edit,
)
from i18n import t
from workflows.views import PersonView

REASSIGN_PAGE = 8  # people per page of the reassign list (one per row, big enough for a thumb)

# verb -> (domain action it leads to, question to ask)
PROMPTS = {
    "res": ("resolve", "prompt.resolve"),
    "esc": ("escalate", "prompt.escalate"),
    "rej": ("reject", "prompt.reject"),
    "dup": ("mark_duplicate", "prompt.duplicate"),
}


async def cases_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    person = await require_person(update, context)
    if person is None:
        return
    await show_cases(update, context, person, "open", 0, edit=False)


async def overdue_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    person = await require_person(update, context)
    if person is None:
        return
    await show_cases(update, context, person, "overdue", 0, edit=False)


async def show_cases(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, which: str, page: int,
                     *, edit: bool) -> None:
    if person.role not in OFFICIAL_ROLES:  # a worker's own list is /my
        await show_my(update, context, person, page, edit=edit)
        return
    # Both lists are the official's desk (workflows.scopes): /overdue is always a subset of /cases, and the
    # counts on top come from the same clauses.
    overdue = which == "overdue"
    counts = await call(ctx_of(context).cases.desk_counts, person.id)
    lang = lang_for(person)
    summary = t(lang, "desk.counts", mine=counts.mine, watched=counts.watched, other=counts.other,
                overdue=counts.overdue) if counts.total else None
    await case_list(
        update, context, person, scope="desk", overdue_only=overdue, page=page,
        header_key="overdue.header" if overdue else "cases.header",
        empty_key="overdue.empty" if overdue else "cases.empty",
        page_verb="pg", page_arg=which, edit=edit, summary=summary,
    )


async def case_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    person = await require_person(update, context)
    if person is None:
        return
    arg = (context.args or [""])[0].lstrip("#＃")
    if not arg.isdigit() or len(arg) > 10:
        await reply(update, t(lang_for(person), "case.usage"))
        return
    await show_case(update, context, person, int(arg))


async def on_accept(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    bc = ctx_of(context)
    view = await call(bc.cases.accept, cb.case_id, person.id)
    bc.kick()
    await safe_answer(update, t(lang_for(person), "done.accept", case_id=cb.case_id))
    await refresh_card(update, context, person, view)


async def on_acknowledge(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    """「暂停催办」 on a reminder: the owner's reminders pause for the policy's ``ack_pause`` and the deadline
    still holds (Grafana OnCall / PagerDuty acknowledge). Both are said in the toast *and* written under the
    reminder, whose buttons become the card's (accept first), so the press visibly did something."""
    bc = ctx_of(context)
    lang = lang_for(person)
    view = await call(bc.cases.acknowledge_reminder, cb.case_id, person.id)
    timeline = await call(bc.cases.timeline, cb.case_id, person.id)
    seen = next((e for e in reversed(timeline) if e.kind == "reminder_seen"), None)
    until = render.local_time((seen.data or {}).get("paused_until")) if seen else ""
    if view.state == "assigned" and view.ack_due_at is not None:
        line = t(lang, "ack.paused_accept_due", until=until, due=render.local_time(view.ack_due_at))
    elif view.resolve_due_at is not None:
        line = t(lang, "ack.paused_resolve_due", until=until, due=render.local_time(view.resolve_due_at))
    else:
        line = t(lang, "ack.paused", until=until)
    await safe_answer(update, line, alert=True)
    query = update.callback_query
    message = query.message if query is not None else None
    before = (getattr(message, "text", None) or getattr(message, "caption", None) or "") if message else ""
    await safe_edit(update, f"{before}\n{line}" if before else line,
                    kb.case_keyboard(lang, cb.case_id, view.allowed_actions, kb.OFFICIAL_MAIN, more=True))


async def on_prompt(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    """Resolve / escalate / reject / duplicate: check the case still allows it, then ask for the words."""
    action, question = PROMPTS[cb.verb]
    lang = lang_for(person)
    view = await call(ctx_of(context).cases.get_case, cb.case_id, person.id)
    if action not in view.allowed_actions:
        await stale(update, context, person, view, action=action)
        return
    await set_prompt(update, context, cb.verb, cb.case_id)
    await safe_answer(update)
    await reply(update, t(lang, question, case_id=cb.case_id), kb.cancel_keyboard(lang, cb.case_id))


async def on_reassign_list(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    """The list of people (``rsg``), or another page of it (``rpg``, edited in place)."""
    bc = ctx_of(context)
    lang = lang_for(person)
    case_id = cb.case_id
    view = await call(bc.cases.get_case, case_id, person.id)
    if not {"reassign", "assign"} & set(view.allowed_actions):
        await stale(update, context, person, view, action="reassign")
        return
    people = await call(bc.cases.jurisdiction_people, person.id)
    choices = [(p.id, p.name, p.role) for p in people if view.owner is None or p.id != view.owner.id]
    await safe_answer(update)
    if not choices:
        await reply(update, t(lang, "prompt.reassign_none"))
        return
    pages = -(-len(choices) // REASSIGN_PAGE)
    page = min(int(cb.arg or 0), pages - 1)
    shown = choices[page * REASSIGN_PAGE : (page + 1) * REASSIGN_PAGE]
    text = (t(lang, "prompt.reassign_page", case_id=case_id, page=page + 1, pages=pages) if pages > 1
            else t(lang, "prompt.reassign", case_id=case_id))
    keyboard = kb.people_keyboard(lang, case_id, shown, page=page, pages=pages)
    if cb.verb == "rsg":
        await reply(update, text, keyboard)
    else:
        await safe_edit(update, text, keyboard)


async def on_reassign_to(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    bc = ctx_of(context)
    lang = lang_for(person)
    case_id, target = cb.case_id, int(cb.arg or 0)
    current = await call(bc.cases.get_case, case_id, person.id)
    if current.state == "reported" and "assign" in current.allowed_actions:
        view = await call(bc.cases.assign, case_id, person.id, target)
    else:
        view = await call(bc.cases.reassign, case_id, person.id, target)
    bc.kick()
    owner = view.owner.name if view.owner else ""
    await safe_answer(update, t(lang, "done.reassign", case_id=case_id, owner=owner))
    await safe_edit(update, t(lang, "done.reassign", case_id=case_id, owner=owner), None)


async def on_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    lang = lang_for(person)
    await clear_prompt(update, context)
    await safe_answer(update, t(lang, "prompt.cancelled"))
    await safe_edit(update, t(lang, "prompt.cancelled"), None)


async def on_back(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    """Leave the category/urgency picker: the case's buttons again."""
    lang = lang_for(person)
    view = await call(ctx_of(context).cases.get_case, cb.case_id, person.id)
    offer = kb.REPORTER_RECEIPT if view.reporter.id == person.id else kb.OFFICIAL
    await safe_answer(update)
    await safe_edit(update, None, kb.case_keyboard(lang, cb.case_id, view.allowed_actions, offer))


async def on_more(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    """「⋯ 更多」 on an official's card: the same message with every action the viewer may take now."""
    view = await call(ctx_of(context).cases.get_case, cb.case_id, person.id)
    await safe_answer(update)
    await safe_edit(update, None, card_keyboard(lang_for(person), view, person.id))


async def on_view(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    await safe_answer(update)
    await show_case(update, context, person, cb.case_id)


async def on_list_page(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    """◀ ▶ on /cases or /overdue: ``pg:0:<open|overdue>.<page>``."""
    which, _, page = (cb.arg or "open.0").partition(".")
    await safe_answer(update)
    await show_cases(update, context, person, "overdue" if which == "overdue" else "open", int(page or 0), edit=True)
