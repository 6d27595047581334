"""One entry point for every inline-button press: parse, identify, dispatch through one table, and answer
errors uniformly.

Why one router: every press must get an answer (or the user's client spins), garbled or forged data must
get a polite refusal, and a stale button (the case moved on) must say what the case is now and redraw the
card — the same way for every verb. The domain decides rights and state; this module only translates.

Why one table (:data:`BUTTONS`, verb → handler): the verbs' argument grammar is one table in
:mod:`bot.callbacks`; their handlers are this one. A test checks the two have the same verbs, so a button can
never be drawn that nothing handles. Handler modules never import this module (the stale-button answer lives in
:mod:`bot.handlers.cards`), so there is no import cycle. To add a button: a verb in ``callbacks.VERBS``, a
handler ``async (update, context, person, cb) -> None`` in the module of its feature, one line here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.ext import ContextTypes

from bot.callbacks import BadCallback, Callback, parse
from bot.handlers import language, officials, reporting, tasks, visits, worker
from bot.handlers.cards import card_keyboard, handed_away, stale
from bot.handlers.common import call, ctx_of, error_text, lang_for, require_person, safe_answer, safe_edit
from i18n import t
from workflows.errors import ConcurrentUpdate, DomainError, InvalidTransition, NotFound, NotPermitted
from workflows.views import CaseView, PersonView

log = logging.getLogger(__name__)

ButtonHandler = Callable[[Update, ContextTypes.DEFAULT_TYPE, PersonView, Callback], Awaitable[None]]

#: Every button verb and the handler that answers it (argument shapes: ``bot.callbacks.VERBS``).
BUTTONS: dict[str, ButtonHandler] = {
    # officials: handling a case
    "acc": officials.on_accept,
    "res": officials.on_prompt,  # asks for the resolution note
    "esc": officials.on_prompt,  # asks for the reason
    "rej": officials.on_prompt,  # asks for the reason
    "dup": officials.on_prompt,  # asks for the earlier case number
    "rsg": officials.on_reassign_list,
    "rpg": officials.on_reassign_list,
    "rto": officials.on_reassign_to,
    "ack": officials.on_acknowledge,
    "rtr": reporting.on_retry_transcription,
    # reporters: their own case
    "cfm": worker.on_confirm,
    "nfx": worker.on_not_fixed,
    "add": worker.on_add,
    "cat": worker.on_choose_category,
    "urg": worker.on_choose_urgency,
    "scat": worker.on_set_triage,
    "surg": worker.on_set_triage,
    "keep": worker.on_keep,
    "new": worker.file_followup_as_new,
    "hh": worker.on_link_household,
    # anyone
    "view": officials.on_view,
    "back": officials.on_back,
    "more": officials.on_more,
    "cnl": officials.on_cancel,
    "my": worker.on_my_page,
    "pg": officials.on_list_page,
    "ui": language.on_ui_language,
    "sp": language.on_speech_language,
    # tasks down the hierarchy: the issuer's dialogue, progress, and the workers' answers
    "tkn": tasks.on_template,
    "tku": tasks.on_target,
    "tkw": tasks.on_target,
    "tkok": tasks.on_targets_done,
    "tkd": tasks.on_due,
    "tks": tasks.on_send,
    "tkx": tasks.on_cancel,
    "tkc": tasks.on_close,
    "tkv": tasks.on_view,
    "tke": tasks.on_export,
    "ta": tasks.on_answer,
    # the six must-visits
    "vv": visits.on_view,
    "vd": visits.on_done,
    "vh": visits.on_hand_on,
    "vht": visits.on_hand_to,
    "vx": visits.on_not_needed,
    "vpg": visits.on_list_page,
}


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
    handler = BUTTONS.get(cb.verb)
    if handler is None:  # a verb with a grammar but no handler: a bug, caught by tests; still answer
        log.error("no handler for button verb %r", cb.verb)
        await safe_answer(update, t(lang_for(None, update), "err.bad_button"), alert=True)
        return
    person = await require_person(update, context)
    if person is None:
        return
    lang = lang_for(person)
    try:
        await handler(update, context, person, cb)
    except (InvalidTransition, ConcurrentUpdate):
        view = await _current(context, cb.case_id, person.id)
        if view is None:
            await safe_answer(update, t(lang, "err.not_allowed"), alert=True)
        else:
            await stale(update, context, person, view)
    except (NotPermitted, NotFound) as exc:
        log.info("user %s (person %s) refused %s: %s", query.from_user.id, person.id, query.data, exc)
        view = await _current(context, cb.case_id, person.id) if isinstance(exc, NotPermitted) else None
        moved = await handed_away(context, lang, view, person.id) if view is not None else None
        if moved is not None:  # their card is stale: the case went to someone else (escalated, reassigned)
            await stale(update, context, person, view)
        else:
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
