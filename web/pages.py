"""The console's pages for people: sign-in, the case wall, a case (with the same actions as in Telegram),
filing on someone's behalf, the household archive.

Every handler runs the domain as the signed-in person (``session.person.id``); the domain checks rights and
jurisdiction exactly as for a Telegram button, and queues the same notifications, which the process's outbox
delivers to Telegram (``console.kick()`` right after an action).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from web import forms
from web.auth import SESSION_COOKIE, HTTPProblem, check_csrf, require_session
from web.render import context
from workflows.cases import AudioIn
from workflows.console.archive import Archive
from workflows.console.media import CaseMedia
from workflows.console.signin import SignInError
from workflows.console.wall import WallFilter

PAGE_SIZE = 60


def console_of(request: Request) -> Any:
    return request.app.state.console


def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = console_of(request).templates.get_template(template).render(context(request, **values))
    return HTMLResponse(html, status_code=status)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def read_form(request: Request) -> Any:
    """The posted form, bounded: at most one file of ``max_upload_bytes`` and small text fields."""
    limit = console_of(request).web.max_upload_bytes
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit + 64_000):
        raise HTTPProblem(413, "web.err.too_big")
    try:
        return await request.form(max_files=1, max_fields=40, max_part_size=64_000)
    except Exception as exc:  # malformed multipart, too many fields, a part too large
        raise HTTPProblem(400, "web.err.bad_form") from exc


# ------------------------------------------------------------------------------------------------ sign-in


async def home(request: Request) -> Response:
    return see_other("/wall" if request.state.session is not None else "/signin")


async def signin_help(request: Request) -> Response:
    return page(request, "signin_help.html")


async def signin_page(request: Request) -> Response:
    token = request.path_params["token"]
    try:
        person = await run_in_threadpool(console_of(request).signin.check_link, token)
    except SignInError as exc:
        return page(request, "signin_help.html", status=410 if exc.code != "signin_unknown" else 404, error=exc.code)
    return page(request, "signin.html", person=person, token=token)


async def signin_submit(request: Request) -> Response:
    console = console_of(request)
    token = request.path_params["token"]
    try:
        cookie, session = await run_in_threadpool(console.signin.redeem_link, token)
    except SignInError as exc:
        return page(request, "signin_help.html", status=410 if exc.code != "signin_unknown" else 404, error=exc.code)
    response = see_other("/wall")
    response.set_cookie(SESSION_COOKIE, cookie, max_age=int(console.web.session_max), httponly=True,
                        samesite="lax", secure=console.secure_cookies, path="/")
    return response


async def signout(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form)
    await run_in_threadpool(console_of(request).signin.sign_out, request.cookies.get(SESSION_COOKIE))
    response = see_other("/signin")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ------------------------------------------------------------------------------------------------- wall


def wall_filter(request: Request) -> WallFilter:
    q = request.query_params

    def num(name: str) -> int | None:
        raw = q.get(name) or ""
        if not raw:
            return None
        if not raw.isdigit() or len(raw) > 12:
            raise HTTPProblem(400, "web.err.bad_field", field=name)
        return int(raw)

    return WallFilter(urgency=q.get("urgency") or None, category=q.get("category") or None,
                      state=q.get("state") or None, unit_id=num("unit"), owner_id=num("owner"),
                      overdue=q.get("overdue") == "1", needs_review=q.get("review") == "1",
                      household_id=num("household"))


async def wall(request: Request) -> Response:
    session = require_session(request)
    console = console_of(request)
    filt = wall_filter(request)
    raw_page = request.query_params.get("page", "1")
    number = int(raw_page) if raw_page.isdigit() and len(raw_page) < 7 else 1
    result = await run_in_threadpool(console.wall.page, session.person.id, filt, limit=PAGE_SIZE,
                                     offset=(max(1, number) - 1) * PAGE_SIZE, lang=request.state.lang)
    params = {k: v for k, v in request.query_params.items() if k not in ("page", "lang") and v}
    pages = max(1, -(-result.total // PAGE_SIZE))
    return page(request, "wall.html", wall=result, filt=filt, number=number, pages=pages,
                query=lambda **kw: "?" + urlencode({**params, **{k: v for k, v in kw.items() if v is not None}}),
                categories=console.cases.categories, refresh=console.web.wall_refresh_seconds)


# ------------------------------------------------------------------------------------------------- a case


async def case_page(request: Request) -> Response:
    session = require_session(request)
    console = console_of(request)
    case_id = request.path_params["case_id"]
    me = session.person.id

    def load() -> dict[str, Any]:
        case = console.cases.get_case(case_id, me)
        people = console.cases.jurisdiction_people(me) if {"reassign", "assign"} & set(case.allowed_actions) else []
        return {"case": case, "timeline": console.cases.timeline(case_id, me),
                "media": CaseMedia(console.cases).list(case_id, me), "people": people}

    data = await run_in_threadpool(load)
    return page(request, "case.html", **data, categories=console.cases.categories,
                done=request.query_params.get("done"))


@dataclass(frozen=True)
class Action:
    """One web action: the domain call, with the form fields it needs (the same calls the bot's buttons make)."""

    call: Callable[[Any, int, int, Any], Any]


ACTIONS: dict[str, Action] = {
    "accept": Action(lambda c, cid, me, f: c.accept(cid, me)),
    "resolve": Action(lambda c, cid, me, f: c.resolve(cid, me, forms.text(f, "note", required=True))),
    "escalate": Action(lambda c, cid, me, f: c.escalate(cid, me, forms.text(f, "reason"))),
    "reassign": Action(lambda c, cid, me, f: c.reassign(cid, me, forms.integer(f, "to", required=True))),
    "assign": Action(lambda c, cid, me, f: c.assign(cid, me, forms.integer(f, "to"))),
    "reject": Action(lambda c, cid, me, f: c.reject(cid, me, forms.text(f, "reason", required=True))),
    "mark_duplicate": Action(lambda c, cid, me, f: c.mark_duplicate(cid, me, forms.integer(f, "of", required=True),
                                                                    forms.text(f, "reason"))),
    "correct_triage": Action(lambda c, cid, me, f: c.correct_triage(
        cid, me, urgency=forms.text(f, "urgency", limit=32), category=forms.text(f, "category", limit=32))),
    "acknowledge_reminder": Action(lambda c, cid, me, f: c.acknowledge_reminder(cid, me)),
    "confirm": Action(lambda c, cid, me, f: c.confirm(cid, me)),
    "reopen": Action(lambda c, cid, me, f: c.reopen(cid, me, forms.text(f, "reason"))),
    "add_details": Action(lambda c, cid, me, f: c.add_details(cid, me, text=forms.text(f, "text", required=True))),
}


async def case_action(request: Request) -> Response:
    form = await read_form(request)
    session = check_csrf(request, form)
    console = console_of(request)
    case_id, name = request.path_params["case_id"], request.path_params["action"]
    action = ACTIONS.get(name)
    if action is None:
        raise HTTPProblem(404, "web.err.unknown_action")
    await run_in_threadpool(action.call, console.cases, case_id, session.person.id, form)
    console.kick()
    return see_other(f"/cases/{case_id}?done={name}")


async def case_media(request: Request) -> Response:
    session = require_session(request)
    console = console_of(request)
    content, info = await run_in_threadpool(CaseMedia(console.cases).content, request.path_params["case_id"],
                                            request.path_params["attachment_id"], session.person.id)
    disposition = "inline" if info.is_audio or info.is_image else "attachment"
    return Response(content, media_type=info.mime_type, headers={
        "Content-Disposition": f'{disposition}; filename="case-{request.path_params["case_id"]}-{info.id}"',
        "Cache-Control": "private, max-age=300"})


# ---------------------------------------------------------------------------------- filing on behalf


async def file_form(request: Request) -> Response:
    session = require_session(request)
    archive = Archive(console_of(request).cases)
    lang = request.state.lang
    workers = await run_in_threadpool(archive.workers, session.person.id, lang)
    households = await run_in_threadpool(archive.households, session.person.id, lang=lang)
    return page(request, "file.html", workers=workers, households=households,
                filed=request.query_params.get("filed"))


async def file_submit(request: Request) -> Response:
    form = await read_form(request)
    session = check_csrf(request, form)
    console = console_of(request)
    me = session.person.id
    text = forms.text(form, "text")
    worker_id = forms.integer(form, "worker")
    household_id = forms.integer(form, "household")
    upload = form.get("audio")
    audio = None
    if upload is not None and not isinstance(upload, str) and upload.filename:
        content = await upload.read(console.web.max_upload_bytes + 1)
        if len(content) > console.web.max_upload_bytes:
            raise HTTPProblem(413, "web.err.too_big")
        if content:
            audio = AudioIn(content=content, mime_type=(upload.content_type or "audio/ogg")[:64], kind="audio",
                            filename=(upload.filename or "")[:200] or None)
    if text is None and audio is None:
        raise HTTPProblem(400, "web.err.empty_report")
    archive = Archive(console.cases)

    def file() -> Any:
        unit_id, reporter = None, worker_id
        if household_id is not None:
            hh = archive.household(me, household_id)
            reporter = reporter or hh.liaison_id
            unit_id = hh.unit_id
        if reporter is None:
            raise HTTPProblem(400, "web.err.no_reporter")
        return console.cases.file_report(reporter, text=text, audio=audio, household_id=household_id,
                                         unit_id=unit_id, filed_by=me, channel="console")

    case = await run_in_threadpool(file)
    if audio is not None and console.submit_voice is not None:
        await console.submit_voice(case.id)  # its transcription job was queued with it; take it here now
    console.kick()
    return see_other(f"/cases/{case.id}?done=filed")


# --------------------------------------------------------------------------------------------- archive


async def households(request: Request) -> Response:
    session = require_session(request)
    archive = Archive(console_of(request).cases)
    query = (request.query_params.get("q") or "").strip()[:50]
    rows = await run_in_threadpool(archive.households, session.person.id, query=query or None,
                                   lang=request.state.lang)
    return page(request, "households.html", households=rows, q=query)


async def household(request: Request) -> Response:
    session = require_session(request)
    console = console_of(request)
    archive = Archive(console.cases)
    hh = await run_in_threadpool(archive.household, session.person.id, request.path_params["household_id"],
                                 request.state.lang)
    cases = await run_in_threadpool(console.wall.page, session.person.id, WallFilter(household_id=hh.id, state="all"),
                                    limit=100)
    visits = await run_in_threadpool(console.visits.of_household, hh.id, session.person.id)
    return page(request, "household.html", household=hh, cases=cases, visits=visits)


# ---------------------------------------------------------------------------------------------- ledger


LEDGER_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


async def _ledger(request: Request, fmt: str) -> Response:
    """The 台账 for the wall's filters (every state unless ``state`` is given), as the bot's /ledger and
    ``lianhu ledger`` write it: fixed columns, local times, headers and words in the page's language (zh by
    default); XLSX for Excel/WPS, CSV with a BOM. Rows are the viewer's desk (``CaseService.ledger``) cut to
    the filter's ids, consumed one at a time by the writer."""
    from runtime.ledger import csv_bytes, localized, xlsx_bytes
    from runtime.tasks_export import VISITS_SHEET, visits_grid

    session = require_session(request)
    console = console_of(request)
    filt = wall_filter(request)
    me = session.person.id
    lang = request.state.lang

    def build() -> bytes:
        ids = console.wall.ids(me, filt)
        rows = localized((r for r in console.cases.ledger(me) if r["case_id"] in ids), console.tz)
        if fmt != "xlsx":
            return csv_bytes(rows, lang)
        visits = (VISITS_SHEET, visits_grid(console.visits.ledger_rows(me)))  # issue 12: the visits sheet
        return xlsx_bytes(rows, lang, [visits])

    body = await run_in_threadpool(build)
    stamp = console.services.clock.now().strftime("%Y-%m-%d")
    return Response(body, media_type=LEDGER_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="ledger-{stamp}.{fmt}"'})


async def ledger_csv(request: Request) -> Response:
    return await _ledger(request, "csv")


async def ledger_xlsx(request: Request) -> Response:
    return await _ledger(request, "xlsx")
