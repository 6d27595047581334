"""Tasks from the console (issue 12): an official sends a task down from a small form and follows it.

The form is the same request as ``/task`` in Telegram — a template or one's own words, all of one's area or some
villages/grids, a deadline — sent with the same domain call (:meth:`TaskService.create_and_send`), so the
rights, the refusals (a unit outside the area, no text, a deadline in the past: a clear 4xx page, nothing
written) and the workers' sheets in Telegram are exactly those of the bot. The task page shows the same
progress as ``/task N`` (by village and grid, problems with their cases, who is silent) and the export.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from runtime.tasks_export import task_export_file
from web import forms
from web.auth import HTTPProblem, check_csrf, require_session
from web.pages import console_of, page, read_form, see_other
from workflows.errors import NotPermitted
from workflows.tasks import TaskAudio

#: The deadline field (``<input type="datetime-local">``) in the console's local time.
DUE_FORMAT = "%Y-%m-%dT%H:%M"
TRAIL_KINDS = ("created", "send", "reminder", "summary", "close", "cancel")
MAX_UNITS = 40  # a township has a dozen villages; more boxes ticked than that is not a person at a form


def _units(tasks: Any, me: int) -> list[tuple[Any, list[Any]]]:
    """The issuer's area in two levels (villages with their grids, or grids), for the target boxes."""
    out = []
    for unit in tasks.target_choices(me):
        out.append((unit, tasks.target_choices(me, unit.id) if unit.level != "grid" else []))
    return out


async def tasks_page(request: Request) -> Response:
    """``GET /tasks``: the form (for those who may send tasks) and the tasks one has sent, newest first."""
    session = require_session(request)
    console = console_of(request)
    me = session.person.id
    try:
        units = await run_in_threadpool(_units, console.tasks, me)
    except NotPermitted:
        units = None  # may not send tasks: the page says so instead of showing a form
    sent = await run_in_threadpool(console.tasks.list_tasks, me, limit=30)
    lang = request.state.lang
    templates = [(tpl.key, tpl.name(lang)) for tpl in console.tasks.settings.templates.values()]
    return page(request, "tasks.html", units=units, sent=sent, templates=templates)


def _due(form: Any, tz: Any) -> datetime:
    raw = forms.text(form, "due", required=True, limit=32) or ""
    try:
        local = datetime.strptime(raw, DUE_FORMAT)
    except ValueError:
        raise HTTPProblem(400, "web.err.bad_field", field="due") from None
    return local.replace(tzinfo=tz).astimezone(UTC).replace(tzinfo=None)  # stored as naive UTC


async def _recording(form: Any, limit: int) -> TaskAudio | None:
    """A spoken task uploaded with the form (the workers get the recording first, as with a voice note in
    Telegram); None when no file was chosen."""
    upload = form.get("audio")
    if upload is None or isinstance(upload, str) or not upload.filename:
        return None
    content = await upload.read(limit + 1)
    if len(content) > limit:
        raise HTTPProblem(413, "web.err.too_big")
    return TaskAudio(content, (upload.content_type or "audio/ogg")[:64]) if content else None


async def task_submit(request: Request) -> Response:
    """``POST /tasks``: create and send in one domain call; refusals come back as the error page."""
    form = await read_form(request)
    session = check_csrf(request, form)
    console = console_of(request)
    template = forms.text(form, "template", limit=64)
    text = forms.text(form, "text", limit=2000)
    raw_units = form.getlist("unit")
    if len(raw_units) > MAX_UNITS or not all(
        isinstance(u, str) and u.isdigit() and len(u) <= 12 for u in raw_units
    ):
        raise HTTPProblem(400, "web.err.bad_field", field="unit")
    due = _due(form, console.tz)
    audio = await _recording(form, console.web.max_upload_bytes)
    view = await run_in_threadpool(
        console.tasks.create_and_send,
        session.person.id,
        due_at=due,
        text=text,
        template=template,
        targets=[int(u) for u in raw_units],
        audio=audio,
        language=request.state.lang,
    )
    console.kick()  # the workers' sheets go out now
    return see_other(f"/tasks/{view.id}?done=sent")


async def task_page(request: Request) -> Response:
    """``GET /tasks/N``: completion by village and grid, problems with their cases, who has not answered."""
    session = require_session(request)
    console = console_of(request)
    view = await run_in_threadpool(console.tasks.get, request.path_params["task_id"], session.person.id)
    trail = await run_in_threadpool(console.tasks.timeline, view.id, session.person.id)
    # the audit trail without the answers themselves (they are the table above): who created, sent,
    # reminded, summarized, closed or withdrew it, and when
    steps = [e for e in trail if e.kind in TRAIL_KINDS]
    return page(request, "task.html", task=view, steps=steps, done=request.query_params.get("done"))


async def task_action(request: Request) -> Response:
    """``POST /tasks/N/close`` or ``/cancel`` (the issuer): the same calls as the buttons under ``/task N``."""
    form = await read_form(request)
    session = check_csrf(request, form)
    console = console_of(request)
    task_id, action = request.path_params["task_id"], request.path_params["action"]
    if action == "close":
        await run_in_threadpool(console.tasks.close, task_id, session.person.id)
    elif action == "cancel":
        await run_in_threadpool(
            console.tasks.cancel, task_id, session.person.id, forms.text(form, "reason", limit=500)
        )
    else:
        raise HTTPProblem(404, "web.err.unknown_action")
    console.kick()
    return see_other(f"/tasks/{task_id}?done={action}")


async def task_export(request: Request) -> Response:
    """``GET /tasks/N.xlsx`` / ``.csv``: the answers in Chinese, the same file as the bot's export button."""
    session = require_session(request)
    console = console_of(request)
    task_id, fmt = request.path_params["task_id"], request.path_params["fmt"]
    if fmt not in ("xlsx", "csv"):
        raise HTTPProblem(404, "web.err.not_found")
    rows = await run_in_threadpool(console.tasks.export_rows, task_id, session.person.id)
    data, filename = task_export_file(task_id, rows, fmt, console.services.clock.now())
    media = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if filename.endswith(".xlsx")
        else "text/csv; charset=utf-8"
    )
    return Response(
        data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
