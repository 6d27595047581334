"""Showing cases: a case card with its timeline and the viewer's buttons, paged case lists, and the answer to a
button that no longer applies.

Shared by workers (/my) and officials (/cases, /case N, /overdue) so both see the same card. Every button
handler may import this module; this module imports no handler module (so there is no import cycle).
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot import keyboards as kb
from bot.handlers.common import call, ctx_of, error_text, lang_for, reply, safe_answer, safe_edit
from bot.render import case_card, list_line
from i18n import label, t
from workflows.errors import DomainError
from workflows.views import CaseView, PersonView

PAGE_SIZE = 8
FULL_OFFER = kb.OFFICIAL + ("confirm", "reopen", "add_details", "acknowledge_reminder")


def card_keyboard(lang: str, view: CaseView, viewer_id: int) -> InlineKeyboardMarkup | None:
    """Every button the viewer may use on this case, as the reporter or as an official."""
    offer = kb.REPORTER_CARD if view.reporter.id == viewer_id else FULL_OFFER
    retry = view.has_audio and view.transcript_status == "failed"
    return kb.case_keyboard(lang, view.id, view.allowed_actions, offer, retry_transcription=retry, refresh=True)


async def show_case(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, case_id: int) -> None:
    """Send the case card with its timeline (a new message, so the list it came from stays usable)."""
    bc = ctx_of(context)
    lang = lang_for(person)
    try:
        view = await call(bc.cases.get_case, case_id, person.id)
        timeline = await call(bc.cases.timeline, case_id, person.id)
    except DomainError as exc:
        await reply(update, error_text(lang, exc))
        return
    text = case_card(lang, view, timeline=timeline, for_official=view.reporter.id != person.id)
    await reply(update, text, card_keyboard(lang, view, person.id))


async def refresh_card(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, view: CaseView) -> None:
    """Re-draw the message a button sat on with the case as it is now (state, buttons)."""
    lang = lang_for(person)
    text = case_card(lang, view, for_official=view.reporter.id != person.id)
    await safe_edit(update, text, card_keyboard(lang, view, person.id))


async def stale(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, view: CaseView,
                action: str | None = None) -> None:
    """The button no longer applies: say what the case is now and redraw the card with current buttons.
    Someone who may do nothing at all with the case gets a plain "not allowed"."""
    lang = lang_for(person)
    moved = await handed_away(context, lang, view, person.id)
    if moved is not None:  # an old owner's card after an escalation: say who has it now
        await safe_answer(update, moved, alert=True)
        await refresh_card(update, context, person, view)
        return
    if not view.allowed_actions and view.reporter.id != person.id and action is not None:
        await safe_answer(update, t(lang, "err.not_allowed"), alert=True)
        return
    await safe_answer(update, t(lang, "err.stale", state=label(lang, "state", view.state)), alert=True)
    await refresh_card(update, context, person, view)


async def handed_away(context: ContextTypes.DEFAULT_TYPE, lang: str, view: CaseView, viewer_id: int) -> str | None:
    """"Case #N is now with 陈志强 (escalated)" for an official who owned the case and whose card is stale because
    it moved to someone else, instead of a bare "you cannot"; None when that is not what happened."""
    if view.reporter.id == viewer_id or view.owner is None or view.owner.id == viewer_id:
        return None
    if view.state not in ("assigned", "accepted"):
        return None
    try:
        timeline = await call(ctx_of(context).cases.timeline, view.id, viewer_id)
    except DomainError:
        return None
    if not any((e.data or {}).get("owner_id") == viewer_id for e in timeline):
        return None  # never theirs (e.g. the county centre watching): the plain answer fits
    return t(lang, "err.handed_to", case_id=view.id, owner=view.owner.name, state=label(lang, "state", view.state))


async def show_my(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, page: int, *,
                  edit: bool) -> None:
    """The reporter's own cases (``/my``), newest state first; also what a worker gets for ``/cases``."""
    await case_list(update, context, person, scope="reported", overdue_only=False, page=page,
                    header_key="my.header", empty_key="my.empty", page_verb="my", page_arg=None, edit=edit)


async def case_list(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, *, scope: str, overdue_only: bool,
    page: int, header_key: str, empty_key: str, page_verb: str, page_arg: str | None, edit: bool,
    summary: str | None = None,
) -> None:
    bc = ctx_of(context)
    lang = lang_for(person)
    page = max(0, page)
    open_only = scope != "reported"
    views = await call(bc.cases.list_cases, person.id, scope=scope, open_only=open_only, overdue_only=overdue_only,
                       limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    total = await call(bc.cases.count_cases, person.id, scope=scope, open_only=open_only, overdue_only=overdue_only)
    if not views:
        text = t(lang, empty_key)
        if edit:
            await safe_edit(update, text, None)
        else:
            await reply(update, text)
        return
    lines = [t(lang, header_key, page=page + 1)] + ([summary] if summary else [])
    lines += [list_line(lang, v, viewer_id=person.id) for v in views]
    remaining = total - (page + 1) * PAGE_SIZE
    if remaining > 0:
        lines.append(t(lang, "list.more", count=remaining))
    keyboard = kb.list_keyboard(
        lang, [(v.id, list_line(lang, v, viewer_id=person.id)) for v in views], page_verb=page_verb, page_arg=page_arg, page=page,
        has_prev=page > 0, has_next=remaining > 0,
    )
    text = "\n".join(lines)
    if edit:
        await safe_edit(update, text, keyboard)
    else:
        await reply(update, text, keyboard)
