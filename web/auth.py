"""Who is asking: the session behind the cookie, the page language, and CSRF checks for every form.

- The session cookie is HttpOnly (no script can read it), SameSite=Lax (other sites' forms do not carry it)
  and Secure when the console is served over https; it holds a random token, the database only its digest.
- Every POST form carries the session's CSRF token (synchronizer token); a missing or wrong one is refused
  with 403 before anything changes. A cross-site Origin header is refused too.
- Jurisdiction is never decided here: every handler asks the domain as the signed-in person, exactly like
  the bot does, and the domain says what that person may see and do.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from i18n import UI_LANGUAGES, normalize

SESSION_COOKIE = "lianhu_session"
LANG_COOKIE = "lianhu_lang"
#: Paths that never look at the session (machine clients and files).
PUBLIC_PREFIXES = ("/static/", "/open311/", "/healthz", "/metrics")


class HTTPProblem(Exception):
    """A clear 4xx for a person (rendered as a page in their language) or a client (JSON)."""

    def __init__(self, status: int, key: str, **params: Any) -> None:
        super().__init__(key)
        self.status, self.key, self.params = status, key, params


class SessionMiddleware(BaseHTTPMiddleware):
    def __init__(self, app: Any, console: Any) -> None:
        super().__init__(app)
        self.console = console

    async def dispatch(self, request: Request, call_next: Any) -> Response:
        request.state.session = None
        if not request.url.path.startswith(PUBLIC_PREFIXES):
            cookie = request.cookies.get(SESSION_COOKIE)
            if cookie:
                request.state.session = await run_in_threadpool(self.console.signin.session, cookie)
        wanted = request.query_params.get("lang")
        lang = wanted if wanted in UI_LANGUAGES else request.cookies.get(LANG_COOKIE)
        if lang not in UI_LANGUAGES:
            session = request.state.session
            lang = session.person.ui_language if session is not None else normalize(
                request.headers.get("accept-language", "zh")[:8])
        request.state.lang = normalize(lang)
        response = await call_next(request)
        if wanted in UI_LANGUAGES:
            response.set_cookie(LANG_COOKIE, wanted, max_age=365 * 86400, httponly=True, samesite="lax",
                                secure=self.console.secure_cookies)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")  # sign-in tokens never leak in Referer
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        return response


def require_session(request: Request) -> Any:
    session = request.state.session
    if session is None:
        raise HTTPProblem(401, "web.err.signed_out")
    return session


def check_csrf(request: Request, form: Any) -> Any:
    """The signed-in session, after the form's CSRF token and the Origin header have been checked."""
    session = require_session(request)
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc != host:
            raise HTTPProblem(403, "web.err.csrf")
    if not session.csrf_ok(form.get("csrf")):
        raise HTTPProblem(403, "web.err.csrf")
    return session
