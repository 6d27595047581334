"""The console's ASGI application (Starlette): the route table, static files, and error pages.

Why Starlette + Jinja2 (+ uvicorn to serve it) — see docs/design.md "Web console": a small, well-kept ASGI
toolkit that runs in the same asyncio loop as python-telegram-bot, server-rendered HTML that works without
any script on old phones and offline networks, and nothing loaded from the internet.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from i18n import t
from web import open311, ops, pages, statspages, taskpages
from web.auth import HTTPProblem, SessionMiddleware
from web.console import Console
from web.render import STATIC, context
from workflows.errors import (
    ConcurrentUpdate,
    DomainError,
    InvalidTransition,
    NotFound,
    NotPermitted,
    ValidationError,
)

log = logging.getLogger(__name__)

#: Domain errors → HTTP status (the message comes from the catalogue by the error's code).
STATUS_FOR: tuple[tuple[type[DomainError], int], ...] = (
    (NotPermitted, 403), (NotFound, 404), (ConcurrentUpdate, 409), (InvalidTransition, 409), (ValidationError, 400),
    (DomainError, 400),
)

class _Format(Convertor):
    """Open311's optional format suffix: ``""`` or ``.json`` (anything else is refused by the handler)."""

    regex = r"(?:\.[A-Za-z0-9]{1,8})?"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class _Code(_Format):
    regex = r"[A-Za-z0-9_-]{1,64}"


register_url_convertor("fmt", _Format())
register_url_convertor("code", _Code())

O311 = "/open311/v2"
ROUTES = [
    Route("/", pages.home),
    Route("/signin", pages.signin_help),
    Route("/signin/{token:str}", pages.signin_page, methods=["GET"]),
    Route("/signin/{token:str}", pages.signin_submit, methods=["POST"]),
    Route("/signout", pages.signout, methods=["POST"]),
    Route("/wall", pages.wall),
    Route("/cases/{case_id:int}", pages.case_page),
    Route("/cases/{case_id:int}/media/{attachment_id:int}", pages.case_media),
    Route("/cases/{case_id:int}/{action:str}", pages.case_action, methods=["POST"]),
    Route("/file", pages.file_form, methods=["GET"]),
    Route("/file", pages.file_submit, methods=["POST"]),
    Route("/ledger.csv", pages.ledger_csv),
    Route("/ledger.xlsx", pages.ledger_xlsx),
    Route("/households", pages.households),
    Route("/households/{household_id:int}", pages.household),
    Route("/tasks", taskpages.tasks_page, methods=["GET"]),
    Route("/tasks", taskpages.task_submit, methods=["POST"]),
    Route("/tasks/{task_id:int}", taskpages.task_page),
    Route("/tasks/{task_id:int}.{fmt:str}", taskpages.task_export),
    Route("/tasks/{task_id:int}/{action:str}", taskpages.task_action, methods=["POST"]),
    Route("/stats", statspages.stats_page),
    Route("/stats/{name:str}.png", statspages.stats_chart),
    Route("/stats/{name:str}.csv", statspages.stats_csv),
    Route("/healthz", ops.healthz),
    Route("/metrics", ops.metrics),
    Route(O311 + "/services{fmt:fmt}", open311.services),
    Route(O311 + "/services/{code:code}{fmt:fmt}", open311.service),
    Route(O311 + "/requests{fmt:fmt}", open311.get_requests, methods=["GET"]),
    Route(O311 + "/requests{fmt:fmt}", open311.post_request, methods=["POST"]),
    Route(O311 + "/requests/{request_id:int}{fmt:fmt}", open311.get_request),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/open311/", "/healthz"))


def _error_page(request: Request, status: int, key: str, **params: Any) -> Response:
    if _wants_json(request):
        return JSONResponse([{"code": status, "description": t("en", key, **params)}], status_code=status)
    console = request.app.state.console
    if not hasattr(request.state, "lang"):
        request.state.lang = "zh"
        request.state.session = None
    html = console.templates.get_template("error.html").render(
        context(request, status=status, message=t(request.state.lang, key, **params)))
    from starlette.responses import HTMLResponse

    return HTMLResponse(html, status_code=status)


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPProblem)
    if exc.status == 401 and not _wants_json(request):
        return _error_page(request, 401, exc.key)
    return _error_page(request, exc.status, exc.key, **exc.params)


async def _domain(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    status = next(code for cls, code in STATUS_FOR if isinstance(exc, cls))
    key = f"web.err.{exc.code}"
    from i18n import has

    if not has(key):
        key = {403: "web.err.not_permitted", 404: "web.err.not_found", 409: "web.err.conflict"}.get(status,
                                                                                                   "web.err.invalid")
    return _error_page(request, status, key, **exc.params, detail=exc.message)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    key = {404: "web.err.not_found", 405: "web.err.method"}.get(exc.status_code, "web.err.invalid")
    return _error_page(request, exc.status_code, key)


def create_app(console: Console) -> Starlette:
    app = Starlette(routes=ROUTES, exception_handlers={HTTPProblem: _problem, DomainError: _domain,
                                                       HTTPException: _http})
    app.add_middleware(SessionMiddleware, console=console)
    app.state.console = console
    return app
