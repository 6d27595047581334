"""What every handler needs: the services, who is talking, in which language, and safe replies.

Why a single :class:`BotContext` in ``bot_data``: handlers are plain PTB callbacks; they find the domain
services, the voice pipeline and the outbox "kick" there instead of in module globals, so tests can build two
applications side by side. Domain calls are synchronous and run in a thread (``call``) so one slow database
write never stalls other users' updates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.textsplit import split_message
from i18n import normalize, t
from workflows.errors import ConcurrentUpdate, DomainError, InvalidTransition, NotFound, NotPermitted
from workflows.views import PersonView

log = logging.getLogger(__name__)
T = TypeVar("T")

OFFICIAL_ROLES = frozenset(
    {"grid_leader", "township_commander", "county_commander", "governance_operator", "department_contact", "admin"}
)
REPORTER_ROLES = frozenset({"liaison_worker"})


@dataclass
class Limits:
    """Voice limits checked *before* downloading (Telegram tells us size and duration up front)."""

    max_seconds: float = 300.0
    max_bytes: int = 20_000_000
    # The standard Bot API lets bots download at most 20 MB; a self-hosted Bot API server lifts that.
    download_limit: int = 20 * 1024 * 1024


@dataclass
class BotContext:
    config: Any
    cases: Any  # workflows.cases.CaseService
    people: Any  # workflows.people.PeopleService
    db: Any
    clock: Any
    kick: Callable[[], None]  # wake the outbox now (a notification was just queued)
    delivery: Any = None  # bot.delivery.TelegramDelivery
    conversations: Any = None  # workflows.conversation.ConversationState: prompts and other per-chat state
    tasks: Any = None  # workflows.tasks.TaskService
    visits: Any = None  # workflows.visits.VisitService
    voice: Any = None  # runtime.voice.VoicePipeline
    limits: Limits = field(default_factory=Limits)
    followup_window: timedelta = timedelta(minutes=30)
    deep_link: Callable[[str], str | None] = lambda code: None


def ctx_of(context: ContextTypes.DEFAULT_TYPE) -> BotContext:
    return context.application.bot_data["lianhu"]


#: Domain calls that commit a change a user asked for: once one returned, "please try again" would invite the
#: user to report twice (finding 5 of the field run), so the error handler says "saved" instead.
WRITES = frozenset({
    "file_report", "add_details", "accept", "resolve", "confirm", "reopen", "escalate", "reassign", "reject",
    "mark_duplicate", "correct_triage", "acknowledge_reminder", "assign", "request_transcription_retry",
})

# What the update being handled has done so far (one dict per update: PTB handles each update, and its error
# handler, in one task, so a ContextVar set at the start of the update is seen by both).
_UPDATE_STATE: ContextVar[dict[str, Any] | None] = ContextVar("lianhu_update_state", default=None)


def begin_update() -> None:
    """Start a fresh record for the update about to be handled (group -100, before any handler)."""
    _UPDATE_STATE.set({})


def update_state() -> dict[str, Any]:
    """``wrote``: the case id of the last committed write; ``replied``: a reply was sent (or attempted)."""
    return _UPDATE_STATE.get() or {}


def _note(key: str, value: Any) -> None:
    state = _UPDATE_STATE.get()
    if state is not None:
        state[key] = value


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking domain call off the event loop (and remember a committed write, see :data:`WRITES`)."""
    result = await asyncio.to_thread(fn, *args, **kwargs)
    if getattr(fn, "__name__", "") in WRITES:
        _note("wrote", getattr(result, "id", None) or True)
    return result


async def person_of(update: Update, context: ContextTypes.DEFAULT_TYPE) -> PersonView | None:
    user = update.effective_user
    if user is None:
        return None
    return await call(ctx_of(context).people.find_by_telegram, user.id)


def lang_for(person: PersonView | None, update: Update | None = None) -> str:
    """The person's UI language; before registration, Telegram's language hint (zh by default)."""
    if person is not None:
        return normalize(person.ui_language)
    code = update.effective_user.language_code if update is not None and update.effective_user else None
    return normalize(code)


async def reply(update: Update, text: str, keyboard: InlineKeyboardMarkup | None = None) -> Message | None:
    """Answer in the chat the update came from; long texts are split, the keyboard goes on the last piece."""
    chat = update.effective_chat
    if chat is None:
        return None
    pieces = split_message(text)
    msg = None
    _note("replied", True)  # before sending: a timed-out send may still have reached the user
    for i, piece in enumerate(pieces):
        msg = await chat.send_message(piece, reply_markup=keyboard if i == len(pieces) - 1 else None)
    return msg


async def require_person(update: Update, context: ContextTypes.DEFAULT_TYPE) -> PersonView | None:
    """The registered sender, or None after telling an unregistered one how to get an invite code."""
    person = await person_of(update, context)
    if person is None:
        if update.callback_query is not None:
            await safe_answer(update, t(lang_for(None, update), "reg.unregistered"), alert=True)
        else:
            await reply(update, t(lang_for(None, update), "reg.unregistered"))
    return person


async def safe_answer(update: Update, text: str | None = None, *, alert: bool = False) -> None:
    """Answer a callback query (stops the client's spinner); a failure here is never worth a crash."""
    query = update.callback_query
    if query is None:
        return
    try:
        await query.answer(text[:190] if text else None, show_alert=alert)
    except TelegramError as exc:
        log.info("could not answer callback query: %s", exc)


async def safe_edit(update: Update, text: str | None, keyboard: InlineKeyboardMarkup | None) -> None:
    """Edit the message a button sits on (text or caption); "not modified" and vanished messages are fine."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    msg = query.message
    try:
        if text is None:
            await msg.edit_reply_markup(reply_markup=keyboard)  # type: ignore[union-attr]
        elif getattr(msg, "voice", None) or getattr(msg, "document", None):
            await msg.edit_caption(caption=text[:1024], reply_markup=keyboard)  # type: ignore[union-attr]
        else:
            await msg.edit_text(split_message(text)[0], reply_markup=keyboard)  # type: ignore[union-attr]
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            log.info("could not edit message: %s", exc)


def error_text(lang: str, exc: DomainError, *, state: str | None = None) -> str:
    """A domain error in words for the user (never internals)."""
    from i18n import label

    code = exc.code
    if isinstance(exc, InvalidTransition | ConcurrentUpdate) or code in ("invalid_transition", "concurrent_update"):
        st = state or exc.params.get("state")
        return t(lang, "err.stale", state=label(lang, "state", st)) if st else t(lang, "err.busy")
    if code in ("invite_unknown", "invite_used", "invite_expired"):
        return t(lang, "reg.bad_code")
    if code == "account_bound_elsewhere":
        return t(lang, "reg.taken")
    if code == "person_already_bound":
        return t(lang, "reg.person_bound")
    if code in ("empty_report", "empty_audio"):
        return t(lang, "report.empty")
    if code in ("unknown_category", "unknown_urgency"):  # forged or outdated button data
        return t(lang, "err.unknown_choice")
    if code == "same_owner":
        return t(lang, "err.same_owner")
    if code == "duplicate_of_self":
        return t(lang, "err.duplicate_of_self")
    if code in ("note_required", "reason_required"):
        return t(lang, "err.too_short")
    if code == "case_not_found":
        return t(lang, "err.not_found", case_id=exc.params.get("case_id", "?"))
    if isinstance(exc, NotPermitted | NotFound):
        return t(lang, "err.not_allowed")
    return t(lang, "err.generic")


def tibetan_or_chinese(text: str) -> str:
    """Language hint for typed text: Tibetan script present → "bo", else "zh" (never a speech model guess)."""
    return "bo" if any("\u0f00" <= ch <= "\u0fff" for ch in text) else "zh"
