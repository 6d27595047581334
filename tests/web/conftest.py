"""The console through its real HTTP stack: uvicorn serving ``web.app.create_app`` on a loopback port, with the
real domain services on a real database (SQLite and PostgreSQL) and the sample county; tests talk to it with
httpx like a browser would (cookies, forms, redirects)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio
import uvicorn

from runtime.config import BotConfig, Config, DatabaseConfig, WebConfig
from runtime.wiring import build_services
from storage.db import Database
from web.app import create_app
from web.console import Console
from workflows.ports import FakeClock


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def serve(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.get_running_loop().create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    return server, task


@dataclass
class ConsoleHarness:
    base_url: str
    console: Console
    services: Any
    clock: FakeClock
    org: Any
    kicks: list[int]

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, follow_redirects=False, timeout=20)

    def link(self, code: str) -> str:
        """A sign-in link for person ``code`` (as ``/web`` in the bot would make it)."""
        token = self.console.signin.create_link_token(self.org[code], via="test")
        return self.console.web.signin_url(token)

    @contextlib.asynccontextmanager
    async def signed_in(self, code: str) -> AsyncIterator[httpx.AsyncClient]:
        """A browser signed in as ``code`` with a link, the way an official does it."""
        async with self.client() as client:
            r = await client.post(self.link(code).removeprefix(self.base_url))
            assert r.status_code == 303 and r.headers["location"] == "/wall", r.text[:300]
            yield client

    @staticmethod
    def csrf(html: str) -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', html)
        assert match, "no CSRF token on the page"
        return match.group(1)


@pytest_asyncio.fixture
async def console_harness(database: Database, sample_org: Any) -> AsyncIterator[ConsoleHarness]:
    clock = FakeClock()
    port = free_port()
    web = WebConfig(port=port)
    config = Config(bot=BotConfig(), database=DatabaseConfig(url=database.url), web=web)
    services = build_services(config, clock=clock, db=database)
    kicks: list[int] = []
    console = Console(services, web=web, kick=lambda: kicks.append(1))
    server, task = await serve(create_app(console), port)
    try:
        yield ConsoleHarness(web.base_url, console, services, clock, sample_org, kicks)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
