"""The bot's side of :mod:`workflows.conversation`: one conversation per Telegram chat (``"tg:<chat_id>"``).

Why not PTB's ``chat_data``: it lives in the process (and a pickle file), so with two bot processes behind a
load balancer the answer to "type the resolution note" could reach the process that never asked. Everything
the bot keeps between two updates goes through these helpers to the database instead.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from workflows.conversation import ConversationState, Prompt

#: A follow-up the worker may still file as a new case ("no, this is a new case") is kept this long.
FOLLOWUP_TTL = timedelta(days=2)


def subject(chat_id: int) -> str:
    return f"tg:{chat_id}"


def subject_of(update: Update) -> str:
    chat = update.effective_chat
    if chat is None:  # pragma: no cover - every handler that asks or answers runs in a chat
        raise ValueError("this update has no chat")
    return subject(chat.id)


def _store(context: ContextTypes.DEFAULT_TYPE) -> ConversationState:
    return context.application.bot_data["lianhu"].conversations


async def set_prompt(update: Update, context: ContextTypes.DEFAULT_TYPE, verb: str, case_id: int | None,
                     **data: Any) -> None:
    """The chat's next message answers this question (``verb`` as in the callback data)."""
    await asyncio.to_thread(_store(context).ask, subject_of(update), Prompt(verb, case_id, data))


async def ask_again(update: Update, context: ContextTypes.DEFAULT_TYPE, prompt: Prompt) -> None:
    """Keep a question open after an answer that did not do (too short, unreadable voice...)."""
    await asyncio.to_thread(_store(context).ask, subject_of(update), prompt)


async def clear_prompt(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Prompt | None:
    """The open question this message answers, now cleared (one process gets it, even if two try)."""
    return await asyncio.to_thread(_store(context).answer, subject_of(update))


async def peek_prompt(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Prompt | None:
    return await asyncio.to_thread(_store(context).pending, subject_of(update))


async def remember_followup(update: Update, context: ContextTypes.DEFAULT_TYPE, message_id: int, text: str) -> None:
    await asyncio.to_thread(_store(context).put, subject_of(update), f"followup:{message_id}", {"text": text},
                            ttl=FOLLOWUP_TTL)


async def recall_followup(update: Update, context: ContextTypes.DEFAULT_TYPE, message_id: int) -> str | None:
    value = await asyncio.to_thread(_store(context).get, subject_of(update), f"followup:{message_id}")
    return None if value is None else str(value.get("text") or "")


async def forget_followup(update: Update, context: ContextTypes.DEFAULT_TYPE, message_id: int) -> None:
    await asyncio.to_thread(_store(context).drop, subject_of(update), f"followup:{message_id}")
