"""What the console's request handlers share: the domain services, the settings, and two hooks into the
process that runs it (deliver notifications now; queue a recording for transcription)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment

from runtime.config import WebConfig
from web.render import build_environment
from workflows.console.health import HealthService
from workflows.console.integrations import IntegrationService
from workflows.console.signin import SignInService
from workflows.console.stats import CaseStats
from workflows.console.wall import CaseWall


def _nothing() -> None:
    return None


@dataclass
class Console:
    services: Any  # runtime.wiring.Services
    web: WebConfig = field(default_factory=WebConfig)
    lease_seconds: float = 120.0
    #: Called after every action: the process's outbox loop delivers the notifications it queued now.
    kick: Callable[[], None] = _nothing
    #: ``async (case_id)``: take the transcription job of a recording filed from the form in this process now
    #: (runtime.voice.VoicePipeline.submit); any process's pipeline would claim it from the job table anyway.
    submit_voice: Callable[[int], Any] | None = None
    telegram_on: bool = False

    def __post_init__(self) -> None:
        s = self.services
        self.cases = s.case_service
        self.people = s.people_service
        self.visits = s.visit_service  # the household archive lists them beside its cases
        self.tasks = s.task_service  # tasks sent from the console (web/taskpages.py)
        self.signin = SignInService(s.db, s.clock, link_ttl=timedelta(seconds=self.web.link_ttl),
                                    session_idle=timedelta(seconds=self.web.session_idle),
                                    session_max=timedelta(seconds=self.web.session_max))
        self.integrations = IntegrationService(s.db, s.clock)
        self.wall = CaseWall(self.cases)
        self.stats = CaseStats(self.cases)
        self.health = HealthService(s.db, s.clock, lease_seconds=self.lease_seconds)
        self.tz = ZoneInfo(self.web.timezone)
        self.templates: Environment = build_environment(self.web.timezone)

    @property
    def secure_cookies(self) -> bool:
        return self.web.base_url.startswith("https://")
