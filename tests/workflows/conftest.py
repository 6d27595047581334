"""Fixtures for the workflow tests: a tiny keyword classifier (the real one lives in workflows.triage and has
its own tests), the sample county, and services wired to a FakeClock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Notification
from workflows.cases import CaseService
from workflows.people import PeopleService
from workflows.policy import Policies
from workflows.ports import FakeClock
from workflows.triage.base import DEFAULT_CATEGORIES, Cue, TriageResult

ROUTING = {"department_for_category": {"medical": "health", "disaster": "emergency", "water": "water"}}


class KeywordClassifier:
    """Deterministic stand-in: 火/救命 → urgent safety, 病 → medical (urgent when 急), 水 → water."""

    name = "keywords"
    categories = (*DEFAULT_CATEGORIES, "water")  # what correct_triage accepts

    def __init__(self) -> None:
        self.calls: list[str] = []

    def classify(self, text: str, language: str) -> TriageResult:
        self.calls.append(text)
        if "崩溃" in text:
            raise RuntimeError("classifier crashed")
        if "火" in text or "救命" in text:
            return TriageResult("urgent", "safety", 0.9, (Cue("火", "urgent", 1.0),), model="keywords")
        if "病" in text:
            urgency = "urgent" if "急" in text else "priority"
            return TriageResult(urgency, "medical", 0.8, (Cue("病", "medical", 1.0),), model="keywords")
        if "水" in text:
            return TriageResult("general", "water", 0.7, (Cue("水", "water", 1.0),), model="keywords")
        return TriageResult("general", "other", 0.2, (), model="keywords")


@dataclass
class World:
    db: Database
    clock: FakeClock
    org: object
    cases: CaseService
    people: PeopleService
    classifier: KeywordClassifier

    def id(self, code: str) -> int:
        return self.org[code]  # type: ignore[index]

    def notes(self, kind: str | None = None, recipient: str | None = None, case_id: int | None = None) -> list[Notification]:
        with self.db.session() as s:
            q = select(Notification).order_by(Notification.id)
            if kind is not None:
                q = q.where(Notification.kind == kind)
            if recipient is not None:
                q = q.where(Notification.recipient_id == self.id(recipient))
            if case_id is not None:
                q = q.where(Notification.case_id == case_id)
            return list(s.scalars(q))

    def recipients(self, kind: str, case_id: int | None = None) -> set[int]:
        return {n.recipient_id for n in self.notes(kind, case_id=case_id)}

    def ids(self, *codes: str) -> set[int]:
        return {self.id(c) for c in codes}

    def service(self, policies: Policies | dict | None = None) -> CaseService:
        return CaseService(self.db, self.clock, self.classifier, policies, ROUTING)


@pytest.fixture
def world(database: Database, sample_org, clock: FakeClock) -> World:
    classifier = KeywordClassifier()
    return World(
        db=database,
        clock=clock,
        org=sample_org,
        cases=CaseService(database, clock, classifier, None, ROUTING),
        people=PeopleService(database, clock),
        classifier=classifier,
    )


@pytest.fixture
def sworld(sqlite_database: Database, clock: FakeClock) -> World:
    """Same world on SQLite only, for tests where the backend does not matter."""
    from tests.conftest import load_sample_org

    org = load_sample_org(sqlite_database)
    classifier = KeywordClassifier()
    return World(
        db=sqlite_database,
        clock=clock,
        org=org,
        cases=CaseService(sqlite_database, clock, classifier, None, ROUTING),
        people=PeopleService(sqlite_database, clock),
        classifier=classifier,
    )
