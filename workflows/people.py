"""People: who is this Telegram user, invites that bind a person to a Telegram account, language settings.

Why invites: the org tree (people.csv) is imported by the county; a herder does not type an ID. An admin (or the
CLI) creates a short code for a known person; the person sends it to the bot once, and their Telegram account
is bound to their row. Codes avoid look-alike characters (no 0/O, 1/I/L) because they are read aloud on the
phone and typed on small keyboards.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import InviteCode, Person, Role
from workflows.errors import DomainError, NotFound, NotPermitted, ValidationError
from workflows.outbox import release_for_recipient
from workflows.ports import Clock
from workflows.routing import active_admins, in_subtree
from workflows.views import PersonView, person_view

INVITE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
INVITE_LENGTH = 8
LANGUAGES = ("zh", "bo", "en")
#: Who may make invite codes: admins for anyone; the chain officials for people inside their own area.
#: Workers, department contacts and the governance centre may not (they do not manage people).
INVITER_ROLES = frozenset({Role.admin, Role.county_commander, Role.township_commander, Role.grid_leader})
SPEECH_LANGUAGES = ("zh", "bo")


class InviteError(DomainError):
    """``invite_unknown`` | ``invite_used`` | ``invite_expired`` | ``account_bound_elsewhere`` |
    ``person_already_bound``."""

    default_code = "invite_unknown"


def normalize_code(code: str) -> str:
    """Forgive how people type codes: spaces, dashes, lower case (``/start abcd-efgh`` works)."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


class PeopleService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def find_by_telegram(self, telegram_user_id: int) -> PersonView | None:
        with self.db.session() as s:
            person = s.scalars(select(Person).where(Person.telegram_user_id == telegram_user_id)).first()
            return person_view(s, person) if person is not None and person.active else None

    def get(self, person_id: int) -> PersonView:
        with self.db.session() as s:
            person = s.get(Person, person_id)
            if person is None:
                raise NotFound(f"no person {person_id}", code="person_not_found", params={"person_id": person_id})
            return person_view(s, person)

    def by_code(self, code: str) -> PersonView:
        with self.db.session() as s:
            person = s.scalars(select(Person).where(Person.code == code)).first()
            if person is None:
                raise NotFound(f"no person with code {code!r}", code="person_not_found", params={"code": code})
            return person_view(s, person)

    def admins(self) -> list[PersonView]:
        with self.db.session() as s:
            return [person_view(s, p) for p in active_admins(s)]

    def create_invite(
        self, person: str | int, created_by: int | None = None, ttl: timedelta | None = timedelta(days=7)
    ) -> str:
        """A fresh single-use code for the person (by id or by code). Earlier unused codes stay valid until
        they expire (a code sent by SMS may arrive late).

        ``created_by`` is the inviting person, checked here so the bot and the CLI share one rule (see
        :meth:`may_invite`); ``None`` means the operator at the server's command line, who may invite anyone.
        Raises :class:`NotFound` (``person_not_found``) for an unknown person and :class:`NotPermitted`
        (``invite_not_permitted``) when the inviter may not invite them.
        """
        now = self.clock.now()
        with self.db.session() as s:
            target = s.get(Person, person) if isinstance(person, int) else s.scalars(
                select(Person).where(Person.code == person)
            ).first()
            if target is None:
                raise NotFound(f"no person {person!r}", code="person_not_found", params={"person": person})
            if created_by is not None:
                inviter = s.get(Person, created_by)
                if inviter is None or not self._may_invite(s, inviter, target):
                    raise NotPermitted(
                        f"person {created_by} may not invite {target.code}",
                        code="invite_not_permitted",
                        params={"person": target.code},
                    )
            for _ in range(10):
                code = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))
                if s.get(InviteCode, code) is None:
                    break
            s.add(InviteCode(code=code, person_id=target.id, created_by_id=created_by, created_at=now,
                             expires_at=now + ttl if ttl else None))
        return code

    def may_invite(self, inviter_id: int) -> bool:
        """Whether this person may make invite codes at all (the bot shows its usage line only to them)."""
        with self.db.session() as s:
            inviter = s.get(Person, inviter_id)
            return inviter is not None and inviter.active and inviter.role in INVITER_ROLES

    @staticmethod
    def _may_invite(s: Session, inviter: Person, target: Person) -> bool:
        """Admins invite anyone; chain officials only people in their own unit's subtree, so a grid leader
        cannot bind an account to a herder of another township (binding decides who reports as whom)."""
        if not inviter.active or inviter.role not in INVITER_ROLES:
            return False
        return inviter.role == Role.admin or in_subtree(s, target.unit_id, inviter.unit_id)

    def redeem_invite(self, code: str, telegram_user_id: int, chat_id: int) -> PersonView:
        """Bind the Telegram account to the invited person. Re-sending a used code from the same account
        is harmless (returns the person); anything else raises :class:`InviteError` with a precise code."""
        now = self.clock.now()
        key = normalize_code(code)
        try:
            with self.db.session() as s:
                invite = s.get(InviteCode, key)
                if invite is None:
                    raise InviteError("unknown invite code", code="invite_unknown", params={"code": key})
                person = s.get(Person, invite.person_id)
                assert person is not None
                if invite.used_at is not None:
                    if person.telegram_user_id == telegram_user_id:
                        return person_view(s, person)
                    raise InviteError("this invite code was already used", code="invite_used",
                                      params={"code": key})
                if invite.expires_at is not None and invite.expires_at < now:
                    raise InviteError("this invite code has expired", code="invite_expired",
                                      params={"code": key, "expired_at": invite.expires_at.isoformat()})
                other = s.scalars(select(Person).where(Person.telegram_user_id == telegram_user_id)).first()
                if other is not None and other.id != person.id:
                    raise InviteError(
                        f"this Telegram account is already linked to {other.name}",
                        code="account_bound_elsewhere",
                        params={"person_name": other.name},
                    )
                if person.telegram_user_id is not None and person.telegram_user_id != telegram_user_id:
                    raise InviteError(
                        f"{person.name} is already linked to another Telegram account",
                        code="person_already_bound",
                        params={"person_name": person.name},
                    )
                # claim the code atomically: of two concurrent redemptions only one updates the row
                claimed = s.execute(
                    update(InviteCode)
                    .where(InviteCode.code == key, InviteCode.used_at.is_(None))
                    .values(used_at=now)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if claimed != 1:
                    raise InviteError("this invite code was already used", code="invite_used",
                                      params={"code": key})
                invite.used_at = now  # the row already says so; keep the loaded object in step
                person.telegram_user_id = telegram_user_id
                person.telegram_chat_id = chat_id
                person.unreachable_since = person.unreachable_reason = None  # a new chat: reachable again
                s.flush()
                release_for_recipient(s, person.id, now)  # notifications that waited for a chat go out now
                return person_view(s, person)
        except IntegrityError:  # the same account redeemed two codes at once
            raise InviteError("this Telegram account is already linked", code="account_bound_elsewhere") from None

    def set_language(self, person_id: int, ui: str | None = None, speech: str | None = None) -> PersonView:
        if ui is not None and ui not in LANGUAGES:
            raise ValidationError(f"unknown language {ui!r}", code="unknown_language", params={"language": ui})
        if speech is not None and speech not in SPEECH_LANGUAGES:
            raise ValidationError(f"unknown speech language {speech!r}", code="unknown_language",
                                  params={"language": speech})
        with self.db.session() as s:
            person = s.get(Person, person_id)
            if person is None:
                raise NotFound(f"no person {person_id}", code="person_not_found", params={"person_id": person_id})
            if ui is not None:
                person.ui_language = ui
            if speech is not None:
                person.speech_language = speech
            s.flush()
            return person_view(s, person)
