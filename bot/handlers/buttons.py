"""One entry point for every inline-button press: parse, identify, dispatch, and answer errors uniformly.

Why one router: every press must get an answer (or the user's client spins), garbled or forged data must
get a polite refusal, and a stale button (the case moved on) must say what the case is now and redraw the
card — the same way for every verb. The domain decides rights and state; this module only translates.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ContextTypes

from bot.callbacks import BadCallback, parse
from bot.handlers.cards import card_keyboard, refresh_card
from bot.handlers.common import call, ctx_of, error_text, lang_for, require_person, safe_answer, safe_edit
from bot.handlers.language import on_language_button
from bot.handlers.officials import on_official_button, show_cases
from bot.handlers.reporting import on_retry_transcription
from bot.handlers.worker import on_reporter_button, show_my
from i18n import label, t
from workflows.errors import ConcurrentUpdate, DomainError, InvalidTransition, NotFound, NotPermitted
from workflows.views import CaseView, PersonView

log = logging.getLogger(__name__)

REPORTER_VERBS = frozenset({"cfm", "nfx", "add", "cat", "urg", "scat", "surg", "keep", "new"})
OFFICIAL_VERBS = frozenset({"acc", "res", "esc", "rsg", "rpg", "rto", "rej", "dup", "ack", "rtr", "cnl", "view", "back"})


async def stale(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, view: CaseView,
                action: str | None = None) -> None:
    """The button no longer applies: say what the case is now and redraw the card with current buttons.
    Someone who may do nothing at all with the case gets a plain "not allowed"."""
    lang = lang_for(person)
    if not view.allowed_actions and view.reporter.id != person.id and action is not None:
        await safe_answer(update, t(lang, "err.not_allowed"), alert=True)
        return
    await safe_answer(update, t(lang, "err.stale", state=label(lang, "state", view.state)), alert=True)
    await refresh_card(update, context, person, view)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None:
        return
    try:
        cb = parse(query.data)
    except BadCallback as exc:
        log.warning("refused callback data %r from user %s: %s", query.data, query.from_user.id, exc)
        await safe_answer(update, t(lang_for(None, update), "err.bad_button"), alert=True)
        return
    person = await require_person(update, context)
    if person is None:
        return
    lang = lang_for(person)
    try:
        if cb.verb in ("ui", "sp"):
            await on_language_button(update, context, person, cb)
        elif cb.verb == "my":
            await safe_answer(update)
            await show_my(update, context, person, int(cb.arg or 0), edit=True)
        elif cb.verb == "pg":
            which, _, page = (cb.arg or "open.0").partition(".")
            await safe_answer(update)
            await show_cases(update, context, person, "overdue" if which == "overdue" else "open", int(page or 0),
                             edit=True)
        elif cb.verb == "rtr":
            await on_retry_transcription(update, context, person, cb.case_id)
        elif cb.verb in REPORTER_VERBS:
            await on_reporter_button(update, context, person, cb)
        elif cb.verb in OFFICIAL_VERBS:
            await on_official_button(update, context, person, cb)
    except (InvalidTransition, ConcurrentUpdate):
        view = await _current(context, cb.case_id, person.id)
        if view is None:
            await safe_answer(update, t(lang, "err.not_allowed"), alert=True)
        else:
            await stale(update, context, person, view)
    except (NotPermitted, NotFound) as exc:
        log.info("user %s (person %s) refused %s: %s", query.from_user.id, person.id, query.data, exc)
        await safe_answer(update, t(lang, "err.not_allowed"), alert=True)
    except DomainError as exc:
        await safe_answer(update, error_text(lang, exc), alert=True)
        view = await _current(context, cb.case_id, person.id)
        if view is not None:
            await safe_edit(update, None, card_keyboard(lang, view, person.id))


async def _current(context: ContextTypes.DEFAULT_TYPE, case_id: int, person_id: int) -> CaseView | None:
    if not case_id:
        return None
    try:
        return await call(ctx_of(context).cases.get_case, case_id, person_id)
    except DomainError:
        return None
