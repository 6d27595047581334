"""Open311 GeoReport v2 (JSON): a county's 12345 hotline or another platform files reports into the same loop
(triage, routing, deadlines) and reads their status.

- ``GET  /open311/v2/services.json`` — the services (our categories), names in Chinese;
- ``GET  /open311/v2/services/{code}.json`` — one service's definition (no extra attributes);
- ``POST /open311/v2/requests.json`` — file a request (form-encoded, as the spec says; JSON bodies accepted);
- ``GET  /open311/v2/requests.json`` — requests inside the key's area (``service_request_id``, ``service_code``,
  ``start_date``, ``end_date``, ``status``);
- ``GET  /open311/v2/requests/{id}.json`` — one request.

Every call needs an API key (``api_key`` parameter or ``X-Api-Key`` header), made with ``lianhu api-key create``
and scoped to one unit's subtree: a key sees and files only there. The ``.json`` suffix is optional; XML is not
offered. Errors are GeoReport's ``[{"code": ..., "description": ...}]`` with the same HTTP status.
Statuses: reported/assigned/accepted → ``open``; resolved/closed/rejected/duplicate → ``closed``, with
``status_notes`` saying which and why.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from i18n import label, t
from workflows.console.integrations import ApiKeyView, OpenRequests, RequestRow
from workflows.errors import DomainError, NotFound, NotPermitted, ValidationError

MAX_BODY = 64_000
MAX_DESCRIPTION = 4000
CONTACT_FIELDS = ("email", "first_name", "last_name", "phone", "device_id", "account_id", "address_string",
                  "lat", "long", "media_url")


class Problem(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def problem(status: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": status, "description": description}], status_code=status)


def _console(request: Request) -> Any:
    return request.app.state.console


def _format(request: Request) -> None:
    fmt = request.path_params.get("fmt") or ""
    if fmt not in ("", ".json"):
        raise Problem(400, f"format {fmt.lstrip('.')!r} is not supported; use .json")


async def _key(request: Request, params: Any) -> ApiKeyView:
    raw = request.headers.get("x-api-key") or params.get("api_key")
    if not raw or not isinstance(raw, str):
        raise Problem(401, "api_key is required")
    key = await run_in_threadpool(_console(request).integrations.authenticate, raw)
    if key is None:
        raise Problem(403, "api_key is not valid")
    return key


def _iso(value: datetime | None) -> str | None:
    return value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z") if value is not None else None


def _parse_date(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Problem(400, f"{name} must be a W3C date-time, e.g. 2026-11-01T00:00:00Z") from None
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _status(row: RequestRow) -> tuple[str, str]:
    lang = "zh"
    state = label(lang, "state", row.state)
    if row.state in ("reported", "assigned", "accepted"):
        who = f"{row.owner_name}（{label(lang, 'role', row.owner_role)}）" if row.owner_name else ""
        return "open", f"{state}{('：' + who) if who else ''}"
    note = row.resolution_note or row.close_reason or ""
    return "closed", f"{state}{('：' + note) if note else ''}"


def _request_json(row: RequestRow) -> dict[str, Any]:
    status, notes = _status(row)
    d = row.details
    return {
        "service_request_id": str(row.id),
        "status": status,
        "status_notes": notes,
        "service_name": label("zh", "category", row.category),
        "service_code": row.category,
        "description": row.text,
        "agency_responsible": row.owner_name,
        "service_notice": None,
        "requested_datetime": _iso(row.created_at),
        "updated_datetime": _iso(row.updated_at),
        "expected_datetime": _iso(row.resolve_due_at) if status == "open" else None,
        "address": d.get("address_string") or row.unit_name,
        "address_id": row.unit_code,
        "zipcode": None,
        "lat": d.get("lat"),
        "long": d.get("long"),
        "media_url": d.get("media_url"),
    }


def _service_json(code: str) -> dict[str, Any]:
    return {"service_code": code, "service_name": label("zh", "category", code),
            "description": t("zh", "web.open311.service_description", name=label("zh", "category", code)),
            "metadata": False, "type": "realtime", "keywords": "", "group": "联户"}


async def _guard(request: Request, handler: Any) -> Response:
    try:
        _format(request)
        return await handler(request)
    except Problem as exc:
        return problem(exc.status, exc.description)
    except NotPermitted as exc:
        return problem(403, exc.message)
    except NotFound as exc:
        return problem(404, exc.message)
    except (ValidationError, DomainError) as exc:
        return problem(400, exc.message)


async def services(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        await _key(request, request.query_params)
        return JSONResponse([_service_json(c) for c in _console(request).cases.categories])
    return await _guard(request, handle)


async def service(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        await _key(request, request.query_params)
        code = request.path_params["code"]
        if code not in _console(request).cases.categories:
            raise Problem(404, f"service_code {code!r} does not exist")
        return JSONResponse({"service_code": code, "attributes": []})
    return await _guard(request, handle)


async def _body(request: Request) -> dict[str, Any]:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise Problem(413, f"the request body is larger than {MAX_BODY} bytes")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise Problem(413, f"the request body is larger than {MAX_BODY} bytes")
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Problem(400, "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Problem(400, "the JSON body must be an object")
        return {str(k): v for k, v in data.items()}
    try:
        form = await request.form(max_files=0, max_fields=60)
    except Exception:
        raise Problem(400, "the body is not a valid form") from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def post_request(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        body = await _body(request)
        key = await _key(request, {**dict(request.query_params), **body})
        code = body.get("service_code")
        if not isinstance(code, str) or not code:
            raise Problem(400, "service_code is required")
        if code not in _console(request).cases.categories:
            raise Problem(404, f"service_code {code!r} does not exist")
        description = body.get("description")
        if not isinstance(description, str) or not description.strip():
            raise Problem(400, "description is required")
        if len(description) > MAX_DESCRIPTION:
            raise Problem(400, f"description is longer than {MAX_DESCRIPTION} characters")
        details = {}
        for name in CONTACT_FIELDS:
            value = body.get(name)
            if value is not None:
                if not isinstance(value, str | int | float) or len(str(value)) > 500:
                    raise Problem(400, f"{name} is not valid")
                details[name] = str(value)
        for name in ("lat", "long"):
            if name in details:
                try:
                    float(details[name])
                except ValueError:
                    raise Problem(400, f"{name} must be a number") from None
        address_id = body.get("address_id")
        if address_id is not None and (not isinstance(address_id, str) or len(address_id) > 64):
            raise Problem(400, "address_id is not valid")
        console = _console(request)
        case_id = await run_in_threadpool(OpenRequests(console.cases, console.integrations).file, key,
                                          description=description.strip(), service_code=code,
                                          unit_code=address_id or None, details=details)
        console.kick()
        return JSONResponse([{"service_request_id": str(case_id), "service_notice": "", "account_id": None}],
                            status_code=201)
    return await _guard(request, handle)


async def get_requests(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        q = request.query_params
        key = await _key(request, q)
        ids = None
        if q.get("service_request_id"):
            parts = [p.strip() for p in q["service_request_id"].split(",") if p.strip()]
            if not parts or len(parts) > 200 or not all(p.isdigit() and len(p) < 12 for p in parts):
                raise Problem(400, "service_request_id must be a comma-separated list of numbers")
            ids = [int(p) for p in parts]
        status = q.get("status")
        if status not in (None, "", "open", "closed"):
            raise Problem(400, "status must be open or closed")
        console = _console(request)
        rows = await run_in_threadpool(
            OpenRequests(console.cases, console.integrations).rows, key, ids=ids,
            service_code=q.get("service_code") or None, start=_parse_date("start_date", q.get("start_date")),
            end=_parse_date("end_date", q.get("end_date")), status=status or None)
        return JSONResponse([_request_json(r) for r in rows])
    return await _guard(request, handle)


async def get_request(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        key = await _key(request, request.query_params)
        console = _console(request)
        rows = await run_in_threadpool(OpenRequests(console.cases, console.integrations).rows, key,
                                       ids=[request.path_params["request_id"]])
        if not rows:
            raise Problem(404, f"service_request_id {request.path_params['request_id']} does not exist")
        return JSONResponse([_request_json(rows[0])])
    return await _guard(request, handle)
