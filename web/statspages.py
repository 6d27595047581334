"""The statistics page (数据分析): charts as PNG, every chart also as a table and a CSV download."""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from i18n import t
from web import charts
from web.auth import HTTPProblem, require_session
from web.pages import console_of, page

TABLES = ("townships", "villages", "departments", "weeks", "workers")


def _params(request: Request) -> tuple[int, int | None]:
    q = request.query_params
    weeks = q.get("weeks", "12")
    unit = q.get("unit", "")
    if not weeks.isdigit() or not 1 <= int(weeks) <= 104 or (unit and (not unit.isdigit() or len(unit) > 12)):
        raise HTTPProblem(400, "web.err.bad_field", field="weeks/unit")
    return int(weeks), int(unit) if unit else None


async def _stats(request: Request) -> Any:
    session = require_session(request)
    weeks, unit = _params(request)
    return await run_in_threadpool(console_of(request).stats.compute, session.person.id, weeks=weeks, unit_id=unit,
                                   lang=request.state.lang)


async def stats_page(request: Request) -> Response:
    stats = await _stats(request)
    weeks, unit = _params(request)
    return page(request, "stats.html", stats=stats, weeks=weeks, unit=unit,
                suffix=f"weeks={weeks}" + (f"&unit={unit}" if unit else "") + f"&lang={request.state.lang}")


async def stats_chart(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ("units", "weeks-urgency", "weeks-category"):
        raise HTTPProblem(404, "web.err.not_found")
    stats = await _stats(request)
    lang = request.state.lang
    if name == "units":
        png = await run_in_threadpool(charts.units_chart, stats, lang)
    else:
        png = await run_in_threadpool(charts.weeks_chart, stats, lang, name.removeprefix("weeks-"))
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=60"})


def table_rows(stats: Any, name: str, lang: str) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of one table, headers in the viewer's language."""
    from i18n import label

    if name in ("townships", "villages", "departments"):
        keys = ["unit", "opened", "open_now", "overdue_now", "accepted_on_time", "accepted", "resolved_on_time",
                "resolved", "on_time_rate", "median_accept_hours", "median_resolve_hours", "reopen_rate"]
        items = getattr(stats, name)
        rows = [[(label(lang, "department", r.label) if name == "departments" else r.label)] +
                [r.row()[k] for k in keys[1:]] for r in items]
        rows.append([t(lang, "web.stats.total")] + [stats.total.row()[k] for k in keys[1:]])
        return [t(lang, f"web.stats.{k}") for k in keys], rows
    if name == "weeks":
        cats = list(stats.by_category)
        header = [t(lang, "web.stats.week")] + [label(lang, "urgency", u) for u in stats.by_urgency] + \
            [label(lang, "category", c) for c in cats]
        rows = [[w.isoformat()] + [stats.by_urgency[u][i] for u in stats.by_urgency] +
                [stats.by_category[c][i] for c in cats] for i, w in enumerate(stats.weeks)]
        return header, rows
    header = [t(lang, "web.stats.worker"), t(lang, "web.stats.unit"), t(lang, "web.stats.reports"),
              t(lang, "web.stats.last_report"), t(lang, "web.stats.silent")]
    rows = [[w.name, w.unit, w.reports, w.last_report_at.isoformat(" ", "minutes") if w.last_report_at else "",
             "1" if w.silent else ""] for w in stats.workers]
    return header, rows


async def stats_csv(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in TABLES:
        raise HTTPProblem(404, "web.err.not_found")
    stats = await _stats(request)
    header, rows = table_rows(stats, name, request.state.lang)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(("\ufeff" + buf.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="lianhu-stats-{name}.csv"'})
