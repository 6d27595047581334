"""pytest plugin: ``fake_telegram`` (a started :class:`FakeTelegram`) and ``ptb_application_builder``.

Registered by ``pytest_plugins = ["tests.fakebotapi.fixtures"]`` in tests/conftest.py (or ``-p
tests.fakebotapi.fixtures``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .server import DEFAULT_TOKEN, FakeTelegram


@pytest_asyncio.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """A fake Bot API on 127.0.0.1 (random port), token ``123456:TEST-TOKEN``; stopped after the test.

    Point PTB at it with ``.base_url(server.base_url).base_file_url(server.base_file_url)``."""
    server = FakeTelegram(DEFAULT_TOKEN)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
