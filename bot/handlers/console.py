"""``/web``: a one-time sign-in link to the web console; ``/stats``: the official's area as a PNG chart with one
line of summary (the same figures and the same chart as the console's statistics page).

Why a link in the private chat: the official already proved who they are to Telegram, so the link is the whole
sign-in (short-lived, single use, bound to them; ``workflows.console.signin``). Link previews are switched off
so Telegram's preview robot does not even open the page. Liaison workers are told politely that the console
is for officials — they report right here.
"""

from __future__ import annotations

import io
from datetime import timedelta

from telegram import LinkPreviewOptions, Update
from telegram.ext import ContextTypes

from bot.handlers.common import OFFICIAL_ROLES, call, ctx_of, lang_for, reply, require_person
from i18n import t
from workflows.console.signin import SignInService
from workflows.console.stats import CaseStats
from workflows.views import PersonView


async def _official(update: Update, context: ContextTypes.DEFAULT_TYPE) -> tuple[PersonView, str] | None:
    """The registered official who sent the command and their language; others are answered and get None."""
    person = await require_person(update, context)
    if person is None:
        return None
    lang = lang_for(person)
    if person.role not in OFFICIAL_ROLES:
        await reply(update, t(lang, "web.bot.officials_only"))
        return None
    return person, lang


async def web_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    who = await _official(update, context)
    if who is None:
        return
    person, lang = who
    bc = ctx_of(context)
    web = bc.config.web
    service = SignInService(bc.db, bc.clock, link_ttl=timedelta(seconds=web.link_ttl))
    token = await call(service.create_link_token, person.id, via="bot")
    chat = update.effective_chat
    assert chat is not None
    await chat.send_message(t(lang, "web.bot.link", url=web.signin_url(token), minutes=int(web.link_ttl // 60)),
                            link_preview_options=LinkPreviewOptions(is_disabled=True))


async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    who = await _official(update, context)
    if who is None:
        return
    person, lang = who
    from web import charts  # matplotlib: loaded the first time someone asks for a chart

    bc = ctx_of(context)
    stats = await call(CaseStats(bc.cases).compute, person.id, lang=lang)
    png = await call(charts.units_chart, stats, lang, title=f"{person.unit_name} · {t(lang, 'web.stats.chart_units')}")
    chat = update.effective_chat
    assert chat is not None
    await chat.send_photo(io.BytesIO(png), caption=charts.summary_line(stats, lang), filename="stats.png")
