"""Sign-in without passwords: a one-time link from the bot (``/web``) or the CLI opens a browser session.

Why this shape:
- Officials already prove who they are to Telegram; a link sent to their private chat (or handed out by an
  admin with ``lianhu web-link``) is the whole sign-in, so there are no passwords to manage or forget.
- A link is short-lived (``link_ttl``), single use (consumed by one conditional UPDATE, so two tabs racing
  cannot both win) and bound to one person. Opening it (GET) only shows a "sign in" button; the session is
  made by the POST behind that button, so a link-preview robot that fetches the URL does not burn it.
- Only SHA-256 digests of link and session tokens are stored: a copy of the database opens no session.
- A session ends after ``session_idle`` without use or ``session_max`` after sign-in, whichever is first, and
  at once when its person is deactivated. Every session carries its own CSRF token for forms.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from storage.db import Database
from storage.models import Person, Role, WebSession, WebSignIn
from workflows.errors import DomainError, NotFound, NotPermitted
from workflows.ports import Clock
from workflows.views import PersonView, person_view

LINK_TTL = timedelta(minutes=15)
SESSION_IDLE = timedelta(days=7)
SESSION_MAX = timedelta(days=30)
#: A session's last use is written at most this often (a wall screen refreshing every 30 s costs no writes).
TOUCH_EVERY = timedelta(minutes=5)
#: Who may use the console: every official and admin. Liaison workers report from Telegram; integrations use
#: the Open311 API with a key.
CONSOLE_ROLES = frozenset(set(Role) - {Role.liaison_worker, Role.integration})


class SignInError(DomainError):
    """``signin_unknown`` (forged or mistyped) | ``signin_used`` | ``signin_expired``."""

    default_code = "signin_unknown"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class ConsoleSession:
    person: PersonView
    csrf_token: str
    created_at: datetime
    expires_at: datetime

    def csrf_ok(self, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(self.csrf_token, str(candidate))


class SignInService:
    def __init__(self, db: Database, clock: Clock, *, link_ttl: timedelta = LINK_TTL,
                 session_idle: timedelta = SESSION_IDLE, session_max: timedelta = SESSION_MAX) -> None:
        self.db, self.clock = db, clock
        self.link_ttl, self.session_idle, self.session_max = link_ttl, session_idle, session_max

    # ------------------------------------------------------------------------------------------- links

    def create_link_token(self, person_id: int, *, via: str = "bot") -> str:
        """A fresh one-time token for ``person_id`` (the bot or CLI puts it in ``<public_url>/signin/<token>``).
        Raises :class:`NotPermitted` (``console_not_for_role``) for workers, integrations and inactive people."""
        now = self.clock.now()
        token = secrets.token_urlsafe(32)
        with self.db.session() as s:
            person = s.get(Person, person_id)
            if person is None:
                raise NotFound(f"no person {person_id}", code="person_not_found")
            if not person.active or person.role not in CONSOLE_ROLES:
                raise NotPermitted(f"{person.name} may not use the console", code="console_not_for_role",
                                   params={"role": getattr(person.role, "value", person.role)})
            s.add(WebSignIn(token_hash=digest(token), person_id=person.id, created_via=via, created_at=now,
                            expires_at=now + self.link_ttl))
        return token

    def check_link(self, token: str) -> PersonView:
        """Who the link is for, without using it up (the page behind the link shows "sign in as ...")."""
        now = self.clock.now()
        with self.db.session() as s:
            row = s.get(WebSignIn, digest(token)) if _plausible(token) else None
            person = self._usable(s, row, now)
            return person_view(s, person)

    def redeem_link(self, token: str) -> tuple[str, ConsoleSession]:
        """Use the link up and open a session: returns (cookie token, session). Exactly one caller wins."""
        now = self.clock.now()
        with self.db.session() as s:
            row = s.get(WebSignIn, digest(token)) if _plausible(token) else None
            person = self._usable(s, row, now)
            won = s.execute(
                update(WebSignIn)
                .where(WebSignIn.token_hash == row.token_hash, WebSignIn.used_at.is_(None))  # type: ignore[union-attr]
                .values(used_at=now)
            ).rowcount
            if won != 1:
                raise SignInError("this sign-in link was already used", code="signin_used")
            cookie = secrets.token_urlsafe(32)
            session = WebSession(token_hash=digest(cookie), person_id=person.id, csrf_token=secrets.token_urlsafe(24),
                                 created_at=now, last_seen_at=now, expires_at=now + self.session_max)
            s.add(session)
            s.flush()
            return cookie, ConsoleSession(person_view(s, person), session.csrf_token, now, session.expires_at)

    @staticmethod
    def _usable(s, row: WebSignIn | None, now: datetime) -> Person:
        if row is None:
            raise SignInError("unknown sign-in link", code="signin_unknown")
        if row.used_at is not None:
            raise SignInError("this sign-in link was already used", code="signin_used")
        if row.expires_at <= now:
            raise SignInError("this sign-in link has expired", code="signin_expired")
        person = s.get(Person, row.person_id)
        if person is None or not person.active or person.role not in CONSOLE_ROLES:
            raise SignInError("this sign-in link is no longer valid", code="signin_unknown")
        return person

    # ---------------------------------------------------------------------------------------- sessions

    def session(self, cookie: str | None) -> ConsoleSession | None:
        """The live session behind a cookie, or None (unknown, expired, idle too long, signed out, person
        deactivated). Refreshes its last use at most every :data:`TOUCH_EVERY`."""
        if not cookie or not _plausible(cookie):
            return None
        now = self.clock.now()
        with self.db.session() as s:
            row = s.scalars(select(WebSession).where(WebSession.token_hash == digest(cookie))).first()
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                return None
            if row.last_seen_at + self.session_idle <= now:
                return None
            person = row.person
            if not person.active or person.role not in CONSOLE_ROLES:
                return None
            if now - row.last_seen_at >= TOUCH_EVERY:
                row.last_seen_at = now
            return ConsoleSession(person_view(s, person), row.csrf_token, row.created_at, row.expires_at)

    def sign_out(self, cookie: str | None) -> bool:
        if not cookie or not _plausible(cookie):
            return False
        with self.db.session() as s:
            return s.execute(
                update(WebSession).where(WebSession.token_hash == digest(cookie), WebSession.revoked_at.is_(None))
                .values(revoked_at=self.clock.now())
            ).rowcount == 1


def _plausible(token: str) -> bool:
    """Tokens we make are 43 URL-safe characters; anything far off is refused before touching the database."""
    return 16 <= len(token) <= 128 and all(c.isalnum() or c in "-_" for c in token)
