"""Open311 integrations: API keys per integration, each scoped to one unit's subtree (its jurisdiction).

Why an ``integration`` person per key: a case needs a reporter, and the reporter is who filed it — here another
system (a county's 12345 hotline, another platform). That person has no Telegram chat and gets no
notifications (it reads status through the API); its unit is the key's scope, so routing and the jurisdiction
checks treat its reports like any other report from that unit. Keys are made from the CLI only
(``lianhu api-key create``); only their SHA-256 is stored and the key is shown once.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from storage.db import Database
from storage.models import ApiKey, Person, Role, Unit
from workflows.console.signin import digest
from workflows.errors import DomainError, NotFound, ValidationError
from workflows.ports import Clock

KEY_PREFIX = "lh_"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TOUCH_EVERY = timedelta(minutes=5)


class ApiKeyError(DomainError):
    default_code = "api_key_invalid"


@dataclass(frozen=True)
class ApiKeyView:
    id: int
    name: str
    key_prefix: str
    unit_id: int
    unit_code: str
    unit_name: str
    person_id: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _view(key: ApiKey) -> ApiKeyView:
    return ApiKeyView(key.id, key.name, key.key_prefix, key.unit_id, key.unit.code, key.unit.name, key.person_id,
                      key.created_at, key.last_used_at, key.revoked_at)


class IntegrationService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def create_key(self, name: str, unit_code: str) -> tuple[str, ApiKeyView]:
        """A new key for integration ``name`` scoped to unit ``unit_code``; returns (the key, shown once; view)."""
        name = (name or "").strip()
        if not _NAME_RE.match(name):
            raise ValidationError(f"{name!r} is not a key name (letters, digits, . _ -; at most 64)",
                                  code="api_key_name")
        now = self.clock.now()
        key = KEY_PREFIX + secrets.token_urlsafe(30)
        with self.db.session() as s:
            unit = s.scalars(select(Unit).where(Unit.code == unit_code)).first()
            if unit is None:
                raise NotFound(f"no unit with code {unit_code!r}", code="unit_not_found")
            if s.scalars(select(ApiKey.id).where(ApiKey.name == name)).first() is not None:
                raise ValidationError(f"an API key named {name!r} already exists", code="api_key_exists")
            code = f"api:{name}"
            person = s.scalars(select(Person).where(Person.code == code)).first()
            if person is None:
                person = Person(code=code, name=name, role=Role.integration, unit_id=unit.id, active=True)
                s.add(person)
            person.unit_id, person.active, person.role = unit.id, True, Role.integration
            s.flush()
            row = ApiKey(name=name, key_hash=digest(key), key_prefix=key[:10], unit_id=unit.id, person_id=person.id,
                         created_at=now)
            s.add(row)
            s.flush()
            row.unit = unit
            return key, _view(row)

    def authenticate(self, key: str | None) -> ApiKeyView | None:
        """The live key behind ``key``, or None (unknown, revoked). Records its last use (coarsely)."""
        if not key or len(key) > 128:
            return None
        now = self.clock.now()
        with self.db.session() as s:
            row = s.scalars(select(ApiKey).where(ApiKey.key_hash == digest(key.strip()))).first()
            if row is None or row.revoked_at is not None or not row.person.active:
                return None
            if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
                row.last_used_at = now
            return _view(row)

    def revoke(self, name: str) -> bool:
        with self.db.session() as s:
            row = s.scalars(select(ApiKey).where(ApiKey.name == name)).first()
            if row is None:
                raise NotFound(f"no API key named {name!r}", code="api_key_not_found")
            done = s.execute(update(ApiKey).where(ApiKey.id == row.id, ApiKey.revoked_at.is_(None))
                             .values(revoked_at=self.clock.now())).rowcount == 1
            # a revoked integration files nothing more, but its cases keep their reporter
            if not s.scalars(select(ApiKey.id).where(ApiKey.person_id == row.person_id,
                                                     ApiKey.revoked_at.is_(None))).first():
                row.person.active = False
            return done

    def keys(self) -> list[ApiKeyView]:
        with self.db.session() as s:
            return [_view(k) for k in s.scalars(select(ApiKey).order_by(ApiKey.id))]


# ------------------------------------------------------------------------------------------ requests (Open311)


@dataclass(frozen=True)
class RequestRow:
    """A case as another system sees it through the API (no reporter identities, no internal notes)."""

    id: int
    category: str
    state: str
    urgency: str
    text: str | None
    unit_code: str
    unit_name: str
    owner_name: str | None
    owner_role: str | None
    created_at: datetime
    updated_at: datetime
    resolve_due_at: datetime | None
    resolution_note: str | None
    close_reason: str | None
    details: dict[str, Any]


def guess_language(text: str) -> str:
    """``bo`` when the text is mostly Tibetan script, else ``zh`` (the API carries no language field)."""
    tibetan = sum(1 for ch in text if "\u0f00" <= ch <= "\u0fff")
    return "bo" if tibetan and tibetan >= len([ch for ch in text if not ch.isspace()]) / 3 else "zh"


class OpenRequests:
    """Filing and reading cases for an API key, always inside the key's unit subtree."""

    def __init__(self, cases: Any, integrations: IntegrationService) -> None:
        self.cases, self.integrations = cases, integrations
        self.db = cases.db

    def file(self, key: ApiKeyView, *, description: str, service_code: str, unit_code: str | None = None,
             details: dict[str, Any] | None = None) -> int:
        if service_code not in self.cases.categories:
            raise NotFound(f"no service {service_code!r}", code="service_not_found")
        unit_id = None
        if unit_code:
            with self.db.session() as s:
                from workflows.console.units import UnitMap

                units = UnitMap(s)
                unit = units.by_code(unit_code)
                if unit is None or not units.inside(unit.id, key.unit_id):
                    raise NotFound(f"no unit {unit_code!r} inside this key's area", code="unit_not_found")
                unit_id = unit.id
        case = self.cases.file_report(key.person_id, text=description, language=guess_language(description),
                                      unit_id=unit_id, channel="open311",
                                      details={"integration": key.name, "service_code": service_code, **(details or {})})
        if case.category != service_code and "correct_triage" in case.allowed_actions:
            # the caller chose the service: a person at a hotline classified it, which beats our text classifier
            self.cases.correct_triage(case.id, key.person_id, category=service_code)
        return case.id

    def rows(self, key: ApiKeyView, *, ids: list[int] | None = None, service_code: str | None = None,
             start: datetime | None = None, end: datetime | None = None, status: str | None = None,
             limit: int = 1000) -> list[RequestRow]:
        from storage.models import Case, CaseEvent
        from workflows.console.units import UnitMap

        with self.db.session() as s:
            units = UnitMap(s)
            q = select(Case).where(Case.unit_id.in_(units.subtree(key.unit_id)))
            if ids is not None:
                q = q.where(Case.id.in_(ids))
            if service_code:
                q = q.where(Case.category == service_code)
            if start is not None:
                q = q.where(Case.created_at >= start)
            if end is not None:
                q = q.where(Case.created_at <= end)
            if status in ("open", "closed"):
                states = OPEN_311 if status == "open" else CLOSED_311
                q = q.where(Case.state.in_(states))
            cases = s.scalars(q.order_by(Case.created_at.desc(), Case.id.desc()).limit(max(1, min(limit, 1000)))).all()
            out = []
            for c in cases:
                reported = s.scalars(select(CaseEvent.data).where(CaseEvent.case_id == c.id,
                                                                  CaseEvent.kind == "reported").limit(1)).first() or {}
                unit = units.get(c.unit_id)
                owner = c.owner
                out.append(RequestRow(
                    c.id, c.category, getattr(c.state, "value", c.state), getattr(c.urgency, "value", c.urgency),
                    c.text, unit.code if unit else "", unit.name if unit else "", owner.name if owner else None,
                    getattr(owner.role, "value", owner.role) if owner else None, c.created_at, c.updated_at,
                    c.resolve_due_at, c.resolution_note, c.close_reason,
                    dict(reported.get("details") or {}) if reported.get("channel") == "open311" else {}))
            return out


OPEN_311 = ["reported", "assigned", "accepted"]
CLOSED_311 = ["resolved", "closed", "rejected", "duplicate"]
