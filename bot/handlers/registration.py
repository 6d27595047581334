"""Onboarding: ``/start CODE`` (and the deep link ``t.me/<bot>?start=CODE``), ``/invite``, ``/help``.

Why invite codes: the org tree is imported from the county's spreadsheets; a herder cannot be asked for an
ID. An official or admin creates a code for a known person; sending it once binds the Telegram account.
"""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.handlers.common import (
    OFFICIAL_ROLES,
    call,
    ctx_of,
    error_text,
    lang_for,
    person_of,
    reply,
    require_person,
)
from i18n import label, t
from workflows.errors import DomainError, NotFound, NotPermitted


def hint_for(lang: str, role: str) -> str:
    return t(lang, "start.official_hint" if role in OFFICIAL_ROLES else "start.worker_hint")


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bc = ctx_of(context)
    person = await person_of(update, context)
    code = " ".join(context.args or []).strip()
    if person is not None and not code:
        lang = lang_for(person)
        await reply(update, t(lang, "reg.already", name=person.name, role=label(lang, "role", person.role))
                    + "\n" + hint_for(lang, person.role))
        return
    if not code:
        await reply(update, t(lang_for(None, update), "reg.unregistered"))
        return
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    if chat.type != ChatType.PRIVATE:  # never bind a group's chat id to a person (add_handlers filters too)
        return
    try:
        bound = await call(bc.people.redeem_invite, code, user.id, chat.id)
    except DomainError as exc:
        await reply(update, error_text(lang_for(person, update), exc))
        return
    lang = lang_for(bound)
    await reply(
        update,
        t(lang, "reg.ok", name=bound.name, role=label(lang, "role", bound.role), unit=bound.unit_name)
        + "\n" + hint_for(lang, bound.role),
    )
    bc.kick()  # notifications that waited for this person's chat can go out now


async def invite(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/invite PERSON_CODE``. Who may invite whom is decided by ``PeopleService.create_invite`` (shared with
    the CLI); this handler only turns its answer into words."""
    person = await require_person(update, context)
    if person is None:
        return
    lang = lang_for(person)
    bc = ctx_of(context)
    if not context.args:
        allowed = await call(bc.people.may_invite, person.id)
        await reply(update, t(lang, "invite.usage" if allowed else "err.not_allowed"))
        return
    target_code = context.args[0].strip()
    try:
        target = await call(bc.people.by_code, target_code)
        if target.telegram_user_id is not None and await call(bc.people.may_invite, person.id):
            # a new code only works from the account already linked: say so instead of a useless code
            await reply(update, t(lang, "invite.already_registered", name=target.name, code=target.code))
            return
        code = await call(bc.people.create_invite, target.id, created_by=person.id)
    except NotFound:
        await reply(update, t(lang, "invite.unknown", code=target_code))
        return
    except NotPermitted:
        await reply(update, t(lang, "err.not_allowed"))
        return
    link = bc.deep_link(code) or f"/start {code}"
    await reply(update, t(lang, "invite.ok", name=target.name, code=code, link=link))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    person = await require_person(update, context)
    if person is None:
        return
    lang = lang_for(person)
    await reply(update, t(lang, "help.official" if person.role in OFFICIAL_ROLES else "help.worker"))
