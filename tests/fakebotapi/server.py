"""The fake Telegram Bot API server: a tornado app on 127.0.0.1 plus the state and driver hooks tests use.

python-telegram-bot talks to it through its real HTTP stack (HTTPXRequest), so what the bot sends is exactly
what it would send to api.telegram.org — only the base URLs differ. The server runs in the test's own event
loop: the test drives fake users (``server.add_user``), the bot under test polls ``getUpdates``, and the test
awaits the bot's replies with the waiting helpers. Telegram semantics that matter to a bot (offset
confirmation, long polling, message ids per chat, edit/"not modified" rules, error texts, 429 retry_after)
follow the real service; see README.md for the driver API.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web

from .models import Chat, FileRecord, Message
from .wire import STATUS_DESCRIPTIONS, ApiError, Params, decode, ok

DEFAULT_TOKEN = "123456:TEST-TOKEN"
_LOG = logging.getLogger(__name__)
T = TypeVar("T")

#: Update types Telegram sends when allowed_updates is unset/empty (the others must be asked for).
_DEFAULT_EXCLUDED = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class WaitTimeout(AssertionError):
    """A waiting helper gave up. An AssertionError so pytest shows it as a test failure with context."""


@dataclass
class Call:
    """One request the bot made: for assertions such as "sendMessage was retried after a 429"."""

    method: str  # canonical Bot API name, e.g. "sendMessage" (or as sent, for unknown methods)
    params: dict[str, Any]
    status: int
    result: Any = None  # the "result" on success
    description: str | None = None  # the error description on failure
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class Fault:
    """An injected failure (or delay) for the next ``times`` calls of one method."""

    status: int | None
    retry_after: int | None
    times: int
    delay: float
    description: str | None
    after_serving: bool = False  # do the call (the message arrives), then answer with the error anyway


@dataclass
class _Pending:
    update: dict[str, Any]
    forced: bool = False  # redelivery: served even though its id is below the confirmed offset
    delivered: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])


class RequestContext:
    """Per-request facts a method may need (long polling stops early when the client went away)."""

    def __init__(self) -> None:
        self.closed = False


class FakeTelegram:
    """A fake Bot API server. ``async with FakeTelegram() as server:`` or the ``fake_telegram`` fixture."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, bot_username: str = "lianhu_test_bot",
                 bot_first_name: str = "Lianhu Test Bot") -> None:
        self.token = token
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.port = 0
        self.chats: dict[int, Chat] = {}
        self.users: dict[int, Any] = {}  # user_id -> FakeUser
        self.files: dict[str, FileRecord] = {}
        self.calls: list[Call] = []
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.pending_callbacks: dict[str, dict[str, Any]] = {}
        self.updates: dict[int, dict[str, Any]] = {}  # every update ever enqueued, by id
        self.delivery_count: dict[int, int] = {}  # update_id -> times served by getUpdates
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.webhook: dict[str, Any] = {}
        self.allowed_updates: list[str] | None = None
        self.recorded: dict[str, list[dict[str, Any]]] = {}  # harmless setters: method -> params list
        self._pending: list[_Pending] = []
        self._next_update_id = 100_001
        self._callback_ids = itertools.count(4_000_000_000_000_000_001)
        self._faults: dict[str, list[Fault]] = {}
        self._change = asyncio.Event()
        self._poll_generation = 0
        self._closing = False
        self._inflight = 0  # API requests being served (stop() lets them answer before closing sockets)
        self._http: tornado.httpserver.HTTPServer | None = None

    # ================================================================== lifecycle
    @property
    def base_url(self) -> str:
        """Pass to ``ApplicationBuilder.base_url`` / ``Bot(base_url=...)``: PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Pass to ``ApplicationBuilder.base_file_url``: PTB builds ``<this><token>/<file_path>``."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self) -> FakeTelegram:
        app = tornado.web.Application(
            [
                (r"/bot([^/]+)/([^/]*)/?", _ApiHandler, {"server": self}),
                (r"/file/bot([^/]+)/(.+)", _FileHandler, {"server": self}),
            ],
            log_function=lambda handler: None,  # no access log noise in test output
        )
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self._http = tornado.httpserver.HTTPServer(app, max_body_size=60 * 1024 * 1024)
        self._http.add_sockets(sockets)
        self._closing = False
        return self

    async def stop(self) -> None:
        """Wake long polls, stop listening and close every connection (idempotent)."""
        self._closing = True
        self._notify()
        if self._http is not None:
            http, self._http = self._http, None
            http.stop()
            # Let woken long polls write their (empty) answers, so a client sees a clean reply, not a reset.
            deadline = time.monotonic() + 2.0
            while self._inflight and time.monotonic() < deadline:
                await self.wait_changed(0.01)
            await http.close_all_connections()

    def application_builder(self) -> Any:
        """``Application.builder()`` with token, base_url and base_file_url pointing at this server."""
        from telegram.ext import Application

        return (Application.builder().token(self.token).base_url(self.base_url)
                .base_file_url(self.base_file_url))

    @contextlib.asynccontextmanager
    async def polling(self, app: Any, *, timeout: float = 1, allowed_updates: list[str] | None = None,
                      drop_pending_updates: bool = False) -> AsyncIterator[Any]:
        """Run a PTB ``Application`` with long polling for the duration of the block, then stop it cleanly.

        ``timeout`` is the getUpdates long-poll time; the server answers as soon as an update arrives, so it
        only bounds how long stopping may take. Note PTB backs off ~1 s after a failed getUpdates."""
        async with app:
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=timeout, allowed_updates=allowed_updates,
                                            drop_pending_updates=drop_pending_updates)
            try:
                yield app
            finally:
                if app.updater.running:
                    await app.updater.stop()
                if app.running:
                    await app.stop()

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ================================================================== chats and users
    def add_user(self, user_id: int, first_name: str = "Test", language_code: str | None = "zh", *,
                 last_name: str | None = None, username: str | None = None, has_started: bool = True) -> Any:
        """Create a fake user with a private chat to the bot; returns a :class:`~.driver.FakeUser`.

        ``has_started=False``: the user never opened the bot, so the bot cannot message them (403) until
        they write to it - e.g. an official who was assigned a case but never pressed /start."""
        from .driver import FakeUser

        if user_id in self.users:
            raise ValueError(f"user {user_id} already added")
        user = FakeUser(self, user_id, first_name, language_code, last_name=last_name, username=username,
                        has_started=has_started)
        self.users[user_id] = user
        self.chats[user_id] = user.chat
        return user

    def add_group(self, chat_id: int, title: str, *, username: str | None = None,
                  type: str = "supergroup") -> Chat:
        """Create a group chat (negative id by convention) that users can write to (``chat=`` argument)."""
        chat = Chat(id=chat_id, type=type, title=title, username=username)
        self.chats[chat_id] = chat
        return chat

    def user(self, user_id: int) -> Any:
        return self.users[user_id]

    def message(self, chat_id: int, message_id: int) -> Message | None:
        chat = self.chats.get(chat_id)
        return chat.find(message_id) if chat else None

    def resolve_chat(self, chat_id: Any) -> Chat:
        """The target chat of a bot request, with Telegram's errors for unknown/blocked chats."""
        chat: Chat | None = None
        if isinstance(chat_id, int):
            chat = self.chats.get(chat_id)
        elif isinstance(chat_id, str) and chat_id.startswith("@"):
            chat = next((c for c in self.chats.values() if c.username and "@" + c.username == chat_id), None)
        elif chat_id is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if chat.blocked:
            if chat.type == "private":
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            raise ApiError(403, "Forbidden: bot was kicked from the group chat")
        if not chat.started:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return chat

    # ================================================================== files
    def register_file(self, data: bytes | None, kind: str, *, mime_type: str | None = None,
                      file_name: str | None = None) -> FileRecord:
        rec = FileRecord.create(data, kind, mime_type=mime_type, file_name=file_name)
        self.files[rec.file_id] = rec
        return rec

    def file_by_path(self, file_path: str) -> FileRecord | None:
        return next((f for f in self.files.values() if f.file_path == file_path), None)

    # ================================================================== updates
    def enqueue_raw(self, update: dict[str, Any]) -> int:
        """Queue an update as-is (an ``update_id`` is assigned if missing). Returns the update_id."""
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        uid = int(update["update_id"])
        self._next_update_id = max(self._next_update_id, uid + 1)
        self.updates[uid] = update
        self._pending.append(_Pending(update))
        self._notify()
        return uid

    def enqueue(self, kind: str, payload: dict[str, Any]) -> int:
        return self.enqueue_raw({kind: payload})

    def redeliver(self, update_id: int) -> None:
        """Serve an already-delivered (even confirmed) update again, as Telegram does when the bot did not
        confirm its offset before restarting. The bot under test must deduplicate."""
        if update_id not in self.updates:
            raise KeyError(f"unknown update_id {update_id}")
        self._pending.append(_Pending(self.updates[update_id], forced=True))
        self._notify()

    @property
    def pending_update_count(self) -> int:
        return len(self._pending)

    def confirm(self, offset: int) -> None:
        """getUpdates offset semantics: every update with a lower id is confirmed and forgotten."""
        if offset < 0:
            keep = -offset
            self._pending = self._pending[-keep:] if keep else []
            return
        self._pending = [
            p for p in self._pending if p.update_id >= offset or (p.forced and not p.delivered)
        ]

    def drop_pending(self) -> None:
        self._pending.clear()

    def _wanted(self, update: dict[str, Any]) -> bool:
        kind = next((k for k in update if k != "update_id"), "")
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in _DEFAULT_EXCLUDED

    def take_updates(self, limit: int) -> list[dict[str, Any]]:
        """The updates a getUpdates call returns now (marks them delivered; they stay until confirmed)."""
        # Unconfirmed updates are served again on every call, as Telegram does.
        batch = [p for p in self._pending if self._wanted(p.update)][:limit]
        for p in batch:
            if p.forced:
                # A redelivered update is served once, then behaves like any delivered update.
                self._pending.remove(p)
            p.delivered = True
            self.delivery_count[p.update_id] = self.delivery_count.get(p.update_id, 0) + 1
        # Clients take the last update's id + 1 as the next offset: keep ids ascending.
        return [p.update for p in sorted(batch, key=lambda p: p.update_id)]

    # ================================================================== fault injection
    def fail_next(self, method: str, status: int | None = 429, *, retry_after: int | None = None,
                  times: int = 1, delay: float = 0.0, description: str | None = None,
                  after_serving: bool = False) -> None:
        """Make the next ``times`` calls of ``method`` ("*" = any method) fail with HTTP ``status``.

        429 replies carry ``parameters.retry_after`` (default 1). ``delay`` seconds are waited before the
        reply (use a delay longer than the client's read timeout to provoke ``TimedOut``); ``status=None``
        with a delay only slows the call down and then serves it normally. ``after_serving``: the call is done
        first (a message arrives in the chat) and the error is returned anyway, like a connection that drops
        after Telegram did the work."""
        if status == 429 and retry_after is None:
            retry_after = 1
        self._faults.setdefault(method.lower(), []).append(
            Fault(status=status, retry_after=retry_after, times=times, delay=delay, description=description,
                  after_serving=after_serving)
        )

    def delay_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Serve the next ``times`` calls of ``method`` normally, but only after ``seconds``."""
        self.fail_next(method, None, times=times, delay=seconds)

    def clear_faults(self) -> None:
        self._faults.clear()

    def _take_fault(self, method_lower: str) -> Fault | None:
        for key in (method_lower, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                fault.times -= 1
                if fault.times <= 0:
                    queue.pop(0)
                return fault
        return None

    # ================================================================== waiting
    def _notify(self) -> None:
        """Wake everything waiting for a state change (new update, new message, edit, answer...)."""
        self._change.set()
        self._change = asyncio.Event()

    async def wait_changed(self, timeout: float) -> None:
        """Sleep until the next state change or ``timeout`` seconds, whichever comes first."""
        if timeout <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._change.wait(), timeout)

    async def wait_for(self, condition: Callable[[], T], timeout: float = 5.0, *,
                       message: str | None = None) -> T:
        """Wait until ``condition()`` is truthy and return its value. It is re-checked on every server
        state change and at least every 50 ms (so it may also look at the bot's database)."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(
                    (message or f"condition {getattr(condition, '__name__', condition)!s} not met")
                    + f" within {timeout}s. Recent calls: {self.describe_calls()}"
                )
            await self.wait_changed(min(left, 0.05))

    async def wait_for_call(self, method: str, predicate: Callable[[Call], bool] | None = None, *,
                            timeout: float = 5.0, after: int = 0) -> Call:
        """Wait for a logged call of ``method`` (index >= ``after`` in ``calls``) matching ``predicate``."""
        def find() -> Call | None:
            for call in self.calls[after:]:
                if call.method.lower() == method.lower() and (predicate is None or predicate(call)):
                    return call
            return None
        return await self.wait_for(find, timeout, message=f"no {method} call matched")

    async def wait_for_message(self, chat_id: int, predicate: Callable[[Message], bool] | None = None,
                               timeout: float = 10.0) -> Message:
        """Like ``FakeUser.wait_for_message`` for any chat (e.g. a group): the next unread bot message."""
        chat = self.chats[chat_id]
        return await self.wait_for(lambda: chat.next_bot_message(predicate), timeout,
                                   message=f"no new bot message in chat {chat_id}")

    def expire_callback(self, callback_id: str) -> None:
        """Make a pressed button's query too old to answer (Telegram gives bots only a few seconds)."""
        self.pending_callbacks.pop(callback_id, None)

    async def wait_for_answer(self, callback_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """Wait until the bot answered callback query ``callback_id``; returns the answer's parameters."""
        return await self.wait_for(lambda: self.callback_answers.get(callback_id), timeout,
                                   message=f"callback query {callback_id} was not answered")

    async def wait_delivered(self, update_id: int, timeout: float = 5.0) -> None:
        """Wait until getUpdates has served ``update_id`` (it reached the bot, not necessarily handled)."""
        await self.wait_for(lambda: self.delivery_count.get(update_id, 0) > 0, timeout,
                            message=f"update {update_id} was not fetched")

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def describe_calls(self, last: int = 12) -> str:
        relevant = [c for c in self.calls if c.method != "getUpdates" or c.result]
        return "; ".join(
            f"{c.method}->{c.status}{'' if c.ok else ' ' + repr(c.description)}" for c in relevant[-last:]
        ) or "(none)"

    # ================================================================== request dispatch
    async def handle(self, token: str, method: str, params: Params, ctx: RequestContext) -> tuple[int, dict]:
        """Run one Bot API request; returns (HTTP status, JSON body). Every request is logged in ``calls``."""
        from .methods import METHODS

        if token != self.token:
            err = ApiError(401, "Unauthorized")
            self.calls.append(Call(method, params.loggable(), 401, description=err.description))
            return 401, err.payload()
        entry = METHODS.get(method.lower())
        name = entry[0] if entry else method
        status, body = await self._run(name, entry[1] if entry else None, params, ctx)
        self.calls.append(Call(name, params.loggable(), status, result=body.get("result"),
                               description=body.get("description")))
        self._notify()
        return status, body

    async def _run(self, name: str, impl: Any, params: Params, ctx: RequestContext) -> tuple[int, dict]:
        fault = self._take_fault(name.lower())
        if fault is not None and fault.after_serving and impl is not None:
            # the connection drops after Telegram did the work: the user sees the message, the bot an error
            with contextlib.suppress(ApiError):
                await impl(self, params, ctx)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                desc = fault.description or STATUS_DESCRIPTIONS.get(fault.status, f"Error {fault.status}")
                err = ApiError(fault.status, desc.format(retry_after=fault.retry_after),
                               retry_after=fault.retry_after if fault.status == 429 else None)
                return fault.status, err.payload()
        if impl is None:
            return 404, ApiError(404, "Not Found: method not found").payload()
        try:
            result = await impl(self, params, ctx)
        except ApiError as err:
            return err.status, err.payload()
        except Exception as exc:  # a harness bug: say so loudly instead of hanging the bot
            _LOG.exception("fake Bot API crashed in %s", name)
            return 500, ApiError(500, f"Internal Server Error: fake server crashed: {exc!r}").payload()
        return 200, ok(result)


class _ApiHandler(tornado.web.RequestHandler):
    """``/bot<token>/<method>`` for GET and POST, any encoding."""

    def initialize(self, server: FakeTelegram) -> None:
        self.server = server
        self.ctx = RequestContext()

    def on_connection_close(self) -> None:
        self.ctx.closed = True
        self.server._notify()

    async def _serve(self, token: str, method: str) -> None:
        self.server._inflight += 1
        try:
            await self._serve_one(token, method)
        finally:
            self.server._inflight -= 1
            self.server._notify()

    async def _serve_one(self, token: str, method: str) -> None:
        try:
            params = decode(
                self.request.query_arguments,
                self.request.body_arguments,
                self.request.files,
                self.request.headers.get("Content-Type", ""),
                self.request.body if self.request.method == "POST" else b"",
            )
        except ApiError as err:
            status, body = err.status, err.payload()
        else:
            status, body = await self.server.handle(token, method, params, self.ctx)
        if self.ctx.closed:
            return
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        with contextlib.suppress(tornado.iostream.StreamClosedError):
            await self.finish(json.dumps(body, ensure_ascii=False))

    async def get(self, token: str, method: str) -> None:
        await self._serve(token, method)

    async def post(self, token: str, method: str) -> None:
        await self._serve(token, method)

    def check_xsrf_cookie(self) -> None:  # an API, not a web form
        return None


class _FileHandler(tornado.web.RequestHandler):
    """``/file/bot<token>/<file_path>``: downloads of files registered with the server."""

    def initialize(self, server: FakeTelegram) -> None:
        self.server = server

    def get(self, token: str, file_path: str) -> None:
        rec = self.server.file_by_path(file_path) if token == self.server.token else None
        self.server.calls.append(Call("<download>", {"file_path": file_path}, 200 if rec else 404))
        if rec is None or rec.data is None:
            self.set_status(404)
            self.finish(json.dumps({"ok": False, "error_code": 404, "description": "Not Found"}))
            return
        self.set_header("Content-Type", rec.mime_type or "application/octet-stream")
        self.finish(rec.data)
