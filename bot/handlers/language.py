"""``/lang``: the interface language (中文 / བོད་ཡིག / English) and the speech language (Mandarin / Tibetan).

Two separate settings on purpose: many workers read Chinese but speak Tibetan in voice notes, and the speech
language decides which transcription model is used (never guessed from the audio).
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import keyboards as kb
from bot.callbacks import Callback
from bot.handlers.common import call, ctx_of, lang_for, reply, require_person, safe_answer, safe_edit
from i18n import label, t
from workflows.views import PersonView


async def lang_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    person = await require_person(update, context)
    if person is None:
        return
    lang = lang_for(person)
    await reply(update, t(lang, "lang.choose_ui"), kb.language_keyboard())


async def on_ui_language(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView, cb: Callback) -> None:
    """``ui:0:<zh|bo|en>``; then asks for the speech language."""
    updated = await call(ctx_of(context).people.set_language, person.id, ui=cb.arg)
    lang = lang_for(updated)
    await safe_answer(update, t(lang, "lang.ui_set"))
    await safe_edit(update, t(lang, "lang.ui_set"), None)
    await reply(update, t(lang, "lang.choose_speech"), kb.speech_keyboard(lang))


async def on_speech_language(update: Update, context: ContextTypes.DEFAULT_TYPE, person: PersonView,
                             cb: Callback) -> None:
    """``sp:0:<zh|bo>``: which transcription model hears this person's voice notes."""
    updated = await call(ctx_of(context).people.set_language, person.id, speech=cb.arg)
    lang = lang_for(updated)
    text = t(lang, "lang.speech_set", speech=label(lang, "speech", updated.speech_language))
    await safe_answer(update, text)
    await safe_edit(update, text, None)
