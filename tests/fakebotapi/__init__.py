"""A fake Telegram Bot API server for end-to-end tests of the bot through python-telegram-bot's real HTTP
layer. See README.md. Typical use is through the ``fake_telegram`` fixture (tests/fakebotapi/fixtures.py)."""

from .driver import FakeUser
from .models import Chat, FileRecord, Message
from .server import DEFAULT_TOKEN, Call, FakeTelegram, WaitTimeout

__all__ = ["DEFAULT_TOKEN", "Call", "Chat", "FakeTelegram", "FakeUser", "FileRecord", "Message", "WaitTimeout"]
