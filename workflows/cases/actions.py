"""What people do to a case: add details, accept, resolve, confirm, reopen, escalate, reassign, reject, mark
duplicate, correct triage, acknowledge a reminder, assign an unplaced case, link the reporter's household. Each
is one ``_act`` call: load, check permission and state, apply, return the case as the actor now sees it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from storage.models import Case, CaseState, Household, Person, Role, TriageCorrection, Urgency
from storage.text import original_record, storable
from workflows import lifecycle, permissions, transcription_jobs
from workflows.cases.plumbing import _v, text_source
from workflows.cases.reporting import AudioIn, CaseReporting, MediaIn
from workflows.errors import NotPermitted, ValidationError
from workflows.notifications import Kind, iso, notify, person_ref
from workflows.policy import URGENCY_ORDER, wakeup_after_ack
from workflows.routing import OFFICIAL_ROLES, Skipped, in_subtree, unreachable_why
from workflows.triage.base import classify
from workflows.views import CaseView, HouseholdChoice

log = logging.getLogger(__name__)


#: A liaison worker looks after 5–12 households; more than this many buttons would not fit a phone screen.
MAX_HOUSEHOLD_CHOICES = 16
#: The states in which the reporter may still say which household a case is about (as for adding details).
LINKABLE_STATES = frozenset({"reported", "assigned", "accepted", "resolved"})


def _required(text: str | None, what: str) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise ValidationError(f"a {what} is required", code=f"{what}_required", params={"field": what})
    return cleaned


class CaseActions(CaseReporting):
    """What people do to a case; each is one permission-checked transaction via ``_act``."""

    def add_details(self, case_id: int, actor_id: int, text: str | None = None, audio: AudioIn | None = None,
                    media: Sequence[MediaIn] = ()) -> CaseView:
        """More words, a recording, photos or a place for a case. On a photo or place still waiting for words
        (stored without text, not routed yet) the reporter's words route it now (triage sees them) and a
        recording is queued for transcription, whose transcript routes it (``transcript_status`` "pending")."""
        cleaned, altered = storable(text)  # NUL and lone surrogates (storage/text.py); the original is kept
        cleaned = (cleaned or "").strip() or None
        if cleaned is None and audio is None and not media:
            raise ValidationError("nothing to add", code="empty_report")
        words_arrived: list[bool] = []

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            waiting = self.waiting_for_words(case)
            event = self._event(s, case, now, "details_added", actor=actor, note=cleaned,
                                data={"has_audio": audio is not None,
                                      **({"original_text": original_record(text)} if altered and text else {}),
                                      **({"media": [m.kind for m in media]} if media else {})})
            added = []
            if audio is not None:
                attachment = self._attachment(case, event, audio, now)
                s.add(attachment)
                if waiting and actor.id == case.reporter_id and not cleaned:
                    s.flush()  # the recording is the report's words: transcribe it, its transcript routes
                    case.transcript_status = "pending"
                    transcription_jobs.enqueue(s, case_id=case.id, attachment_id=attachment.id,
                                               language=case.language, now=now, hold=transcription_jobs.HOLD)
            for item in media:
                attachment = self._attachment(case, event, item, now)
                s.add(attachment)
                added.append(attachment)
            s.flush()
            # Always a new version of the case, even when nothing on its row changes: a routing running at the
            # same moment (another message of the album) must then lose the optimistic lock and be redone with
            # this attachment in view, instead of sending a card that misses it while no notice carries it.
            flag_modified(case, "updated_at")
            if waiting and cleaned and actor.id == case.reporter_id:
                words_arrived.append(True)
            if cleaned and case.transcript_status in (None, "pending") and case.state == CaseState.reported:
                # not yet triaged (text that failed routing, or a voice note still being transcribed): the
                # follow-up joins the text so triage sees it (attach_transcript appends the transcript after it)
                case.text = f"{case.text}\n{cleaned}" if case.text else cleaned
            elif cleaned and actor.id == case.reporter_id and _v(case.state) in lifecycle.ACTIVE_STATES:
                self._retriage_with_details(s, case, actor, cleaned, now)
            to = case.owner_id if actor.id == case.reporter_id else case.reporter_id
            notify(s, now=now, kind=Kind.details_added, recipients=[to], case=case, event=event,
                   payload={"text": cleaned, "has_audio": audio is not None, "by": person_ref(actor),
                            **({"media": [m.kind for m in media], "attachment_ids": [a.id for a in added]}
                               if media else {})},
                   exclude=[actor.id])

        view = self._act(case_id, actor_id, "add_details", apply)
        if words_arrived:  # "what happened?" answered: triage and route with the words (its own transaction)
            self._triage_and_route(case_id)
            view = self.get_case(case_id, actor_id)
        return view

    @staticmethod
    def waiting_for_words(case: Case) -> bool:
        """A photo, video, document or place stored without words and not routed yet (see ``file_report``)."""
        return case.state == CaseState.reported and case.text is None and case.transcript_status is None

    def _retriage_with_details(self, s: Session, case: Case, actor: Person, added: str, now: datetime) -> None:
        """The reporter's follow-up on a routed case is triaged with the report (like a late transcript): it
        may only *raise* urgency. Why not a new case: the text is about the same household most of the time
        ("the water is in the house now"), the owner already has the history, and an urgent line must alert
        at once without waiting for the worker to tap anything; the worker can still split it off.
        Category and owner stay (a human may have corrected them); the worker can correct them as usual."""
        combined = f"{case.text}\n{added}" if case.text else added
        try:
            result = classify(self.classifier, combined, case.language, source=text_source(case))
        except Exception:  # noqa: BLE001 - the follow-up is stored and the owner told; triage is a bonus
            log.exception("case %s: re-triage of a follow-up failed", case.id)
            return
        self._life_event(s, case, getattr(result, "life_event", None), now)
        if not case.text:  # a photo or place routed without words: these words are the report's text now
            case.text = added
        old = _v(case.urgency)
        if result.urgency not in URGENCY_ORDER or URGENCY_ORDER.index(result.urgency) >= URGENCY_ORDER.index(old):
            return
        case.text = combined  # the alert card must show why the case became urgent
        case.urgency = Urgency(result.urgency)
        case.triage_confidence = result.confidence
        case.triage_cues = result.why()
        case.triage_model = result.model
        self._redeadline(case, now)
        event = self._event(s, case, now, "triaged", data={
            "urgency": result.urgency, "category": case.category, "confidence": result.confidence,
            "model": result.model, "upgraded_from": old, "trigger": "details_added"})
        notify(s, now=now, kind=Kind.triage_corrected, recipients=[case.owner_id], case=case, event=event,
               payload={"old_urgency": old, "new_urgency": result.urgency, "old_category": case.category,
                        "new_category": case.category, "by": person_ref(actor), "automatic": True,
                        "reason": "details_added"})
        self._alert_if_urgent(s, case, event, now)

    def accept(self, case_id: int, actor_id: int) -> CaseView:
        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            previous = case.owner
            took_over = previous is None or previous.id != actor.id
            if took_over:
                case.owner = actor
                case.owner_id = actor.id
            case.accepted_at = now
            event = self._transition(
                s, case, "accept", now, actor=actor,
                data={"took_over_from": previous.id if (took_over and previous) else None},
            )
            self._rearm(case, now)
            payload = {"owner": person_ref(actor), "resolve_due_at": iso(case.resolve_due_at)}
            notify(s, now=now, kind=Kind.case_accepted, recipients=[case.reporter_id], case=case, event=event,
                   payload=payload, exclude=[actor.id])
            if took_over and previous is not None:
                notify(s, now=now, kind=Kind.case_accepted, recipients=[previous], case=case, event=event,
                       payload={**payload, "took_over": True})

        return self._act(case_id, actor_id, "accept", apply)

    def resolve(self, case_id: int, actor_id: int, note: str) -> CaseView:
        note = _required(note, "note")

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            policy = self.case_policy(case)
            case.resolution_note = note
            case.resolved_at = now
            case.next_reminder_at = None
            case.autoclose_at = now + policy.autoclose_after
            event = self._transition(s, case, "resolve", now, actor=actor, note=note,
                                     data={"autoclose_at": iso(case.autoclose_at)})
            notify(s, now=now, kind=Kind.case_resolved, recipients=[case.reporter_id], case=case, event=event,
                   payload={"note": note, "by": person_ref(actor), "autoclose_at": iso(case.autoclose_at)},
                   exclude=[actor.id])
            if case.owner_id != actor.id:
                notify(s, now=now, kind=Kind.case_resolved, recipients=[case.owner_id], case=case, event=event,
                       payload={"note": note, "by": person_ref(actor)})

        return self._act(case_id, actor_id, "resolve", apply)

    def confirm(self, case_id: int, actor_id: int) -> CaseView:
        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            case.closed_at = now
            case.close_reason = "confirmed"
            case.autoclose_at = None
            event = self._transition(s, case, "confirm", now, actor=actor, data={"how": "confirmed"})
            notify(s, now=now, kind=Kind.case_closed, recipients=[case.owner_id], case=case, event=event,
                   payload={"auto": False, "by": person_ref(actor)}, exclude=[actor.id])

        return self._act(case_id, actor_id, "confirm", apply)

    def reopen(self, case_id: int, actor_id: int, reason: str | None = None) -> CaseView:
        reason = (reason or "").strip() or None

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            owner = case.owner
            skipped: list[Skipped] = []
            if owner is None or not owner.active or (self.router.skip_unreachable and unreachable_why(owner)):
                owner = self.router.owner_for(s, case.unit_id, case.category, skipped)
            previous_note = case.resolution_note
            case.resolved_at = case.closed_at = case.autoclose_at = None
            case.resolution_note = case.close_reason = None
            case.accepted_at = None
            event = self._hand_to(s, case, owner, "reopen", now, actor=actor, fresh_policy=False, note=reason,
                                  data={"reason": reason, "previous_resolution": previous_note})
            notify(s, now=now, kind=Kind.case_reopened, recipients=[owner], case=case, event=event, card=True,
                   payload={"reason": reason, "by": person_ref(actor), "previous_resolution": previous_note},
                   exclude=[actor.id])
            self._note_skipped(s, case, skipped, now)

        return self._act(case_id, actor_id, "reopen", apply)

    def escalate(self, case_id: int, actor_id: int, reason: str | None = None) -> CaseView:
        reason = (reason or "").strip() or None

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            skipped: list[Skipped] = []
            target = self.router.escalation_target(s, case, skipped)
            assert target is not None  # permissions.require checked there is one
            self._escalate(s, case, target, now, actor=actor, reason="manual", note=reason)
            self._note_skipped(s, case, skipped, now)

        return self._act(case_id, actor_id, "escalate", apply)

    def reassign(self, case_id: int, actor_id: int, to_person_id: int) -> CaseView:
        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            target = self._person(s, to_person_id)
            self._check_reassign_target(s, actor, target)
            if target.id == case.owner_id:
                raise ValidationError("the case is already theirs", code="same_owner", params={"person_id": target.id})
            old = case.owner
            case.accepted_at = None
            event = self._hand_to(s, case, target, "reassign", now, actor=actor, fresh_policy=False,
                                  data={"by": actor.id})
            notify(s, now=now, kind=Kind.case_assigned, recipients=[target], case=case, event=event, card=True,
                   payload={"reassigned_by": person_ref(actor), "from_owner": person_ref(old)}, exclude=[actor.id])
            notify(s, now=now, kind=Kind.case_reassigned, recipients=[old, case.reporter_id], case=case, event=event,
                   payload={"from_owner": person_ref(old), "to_owner": person_ref(target), "by": person_ref(actor)},
                   exclude=[actor.id, target.id])

        return self._act(case_id, actor_id, "reassign", apply)

    def _check_reassign_target(self, s: Session, actor: Person, target: Person) -> None:
        ok = bool(target.active) and target.role in OFFICIAL_ROLES
        if ok and actor.role != Role.admin:
            ok = in_subtree(s, target.unit_id, actor.unit_id)
        if not ok:
            raise NotPermitted(
                f"{target.name} is not an official within {actor.name}'s jurisdiction",
                code="target_not_in_jurisdiction",
                params={"person_id": target.id},
            )

    def reject(self, case_id: int, actor_id: int, reason: str) -> CaseView:
        reason = _required(reason, "reason")

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            self._close_off(s, case, actor, now, "reject", reason, duplicate_of=None)

        return self._act(case_id, actor_id, "reject", apply)

    def mark_duplicate(self, case_id: int, actor_id: int, of_case_id: int, reason: str | None = None) -> CaseView:
        reason = (reason or "").strip() or None
        if of_case_id == case_id:
            raise ValidationError("a case cannot duplicate itself", code="duplicate_of_self")

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            original = s.get(Case, of_case_id)
            if (
                original is None
                or not permissions.relation(s, self.router, original, actor).can_view
                or _v(original.state) in ("duplicate", "rejected")
                or original.duplicate_of_id is not None
            ):
                # one error for missing and invisible (no probing of case ids); a duplicate/rejected original
                # would chain (or cycle: A dup of B, B dup of A) and leave the matter with no open case
                raise ValidationError(f"case #{of_case_id} cannot be the original of a duplicate",
                                      code="duplicate_of_invalid", params={"case_id": of_case_id})
            case.duplicate_of_id = original.id
            self._close_off(s, case, actor, now, "mark_duplicate", reason or f"duplicate of #{original.id}",
                            duplicate_of=original.id)

        return self._act(case_id, actor_id, "mark_duplicate", apply)

    def _close_off(
        self, s: Session, case: Case, actor: Person, now: datetime, trigger: str, reason: str, *, duplicate_of: int | None
    ) -> None:
        case.close_reason = reason
        case.closed_at = now
        case.next_reminder_at = case.autoclose_at = None
        event = self._transition(s, case, trigger, now, actor=actor, note=reason,
                                 data={"reason": reason, "duplicate_of": duplicate_of})
        notify(s, now=now, kind=Kind.case_rejected, recipients=[case.reporter_id, case.owner_id], case=case,
               event=event, payload={"reason": reason, "duplicate_of": duplicate_of, "by": person_ref(actor)},
               exclude=[actor.id])

    def correct_triage(
        self, case_id: int, actor_id: int, *, urgency: str | None = None, category: str | None = None
    ) -> CaseView:
        """Record a human correction of what the system understood (training data), then act on it: a new
        department re-routes, a new urgency restarts the clock with its policy, upgrading to urgent alerts."""
        if urgency is not None and urgency not in URGENCY_ORDER:
            raise ValidationError(f"unknown urgency {urgency!r}", code="unknown_urgency", params={"urgency": urgency})
        if category is not None and category not in self.categories:
            raise ValidationError(f"unknown category {category!r}", code="unknown_category",
                                  params={"category": category})

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            old_u, old_c = _v(case.urgency), case.category
            new_u, new_c = urgency or old_u, category or old_c
            if (new_u, new_c) == (old_u, old_c):
                return
            s.add(TriageCorrection(case_id=case.id, actor_id=actor.id, at=now, text=case.text, language=case.language,
                                   old_urgency=old_u, new_urgency=new_u, old_category=old_c, new_category=new_c))
            case.urgency, case.category, case.needs_review = Urgency(new_u), new_c, False
            event = self._event(s, case, now, "triage_corrected", actor=actor,
                                data={"old_urgency": old_u, "new_urgency": new_u, "old_category": old_c,
                                      "new_category": new_c})
            if _v(case.state) not in lifecycle.ACTIVE_STATES:
                return
            old_owner = case.owner
            new_owner = old_owner
            skipped: list[Skipped] = []
            if self.router.department_for(old_c) != self.router.department_for(new_c):
                new_owner = self.router.owner_for(s, case.unit_id, new_c, skipped)
            if old_owner is None or new_owner.id != old_owner.id:
                case.accepted_at = None
                move = self._hand_to(s, case, new_owner, "reassign", now, actor=actor, fresh_policy=True,
                                     data={"reason": "triage_corrected"})
                notify(s, now=now, kind=Kind.case_assigned, recipients=[new_owner], case=case, event=move, card=True,
                       payload={"reassigned_by": person_ref(actor), "from_owner": person_ref(old_owner)})
                notify(s, now=now, kind=Kind.case_reassigned, recipients=[old_owner, case.reporter_id], case=case,
                       event=move, payload={"from_owner": person_ref(old_owner), "to_owner": person_ref(new_owner),
                                            "by": person_ref(actor), "reason": "triage_corrected"},
                       exclude=[actor.id, new_owner.id])
            elif new_u != old_u:
                self._redeadline(case, now)
            self._note_skipped(s, case, skipped, now)
            notify(s, now=now, kind=Kind.triage_corrected, recipients=[case.owner_id], case=case, event=event,
                   payload={"old_urgency": old_u, "new_urgency": new_u, "old_category": old_c, "new_category": new_c,
                            "by": person_ref(actor)}, exclude=[actor.id])
            if new_u == "urgent" and old_u != "urgent":
                self._alert_if_urgent(s, case, event, now)

        return self._act(case_id, actor_id, "correct_triage", apply)

    def acknowledge_reminder(self, case_id: int, actor_id: int) -> CaseView:
        """An official says "seen, I'm on it" on a reminder (Grafana OnCall / PagerDuty acknowledge): that
        owner's reminders pause for the policy's ``ack_pause``, then resume if the case is still open; the
        accept and resolve deadlines do not move, so the case still escalates if nobody accepts it in time.
        The view's ``paused_until`` and ``ack_due_at`` let the button say exactly that."""

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            until, wake = wakeup_after_ack(self.case_policy(case), now, accepted=_v(case.state) == "accepted",
                                           ack_due=case.ack_due_at, resolve_due=case.resolve_due_at)
            case.next_reminder_at = wake
            self._event(s, case, now, "reminder_seen", actor=actor,
                        data={"paused_until": iso(until), "ack_due_at": iso(case.ack_due_at),
                              "resolve_due_at": iso(case.resolve_due_at)})

        return self._act(case_id, actor_id, "acknowledge_reminder", apply)

    def assign(self, case_id: int, actor_id: int, to_person_id: int | None = None) -> CaseView:
        """Place a case routing could not place (admin, or the county commander): to the routed owner, or to
        the given official."""

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            skipped: list[Skipped] = []
            if to_person_id is None:
                owner = self.router.owner_for(s, case.unit_id, case.category, skipped)
            else:
                owner = self._person(s, to_person_id)
                if not owner.active or owner.role not in OFFICIAL_ROLES:
                    raise NotPermitted(f"{owner.name} cannot own cases", code="target_not_official",
                                       params={"person_id": owner.id})
                self._check_reassign_target(s, actor, owner)  # same jurisdiction rule as reassign
            self._first_assignment(s, case, owner, now, actor=actor)
            self._note_skipped(s, case, skipped, now)

        return self._act(case_id, actor_id, "assign", apply)

    # ------------------------------------------------------------------------------------ the household

    def household_choices(self, case_id: int, viewer_id: int) -> list[HouseholdChoice]:
        """The reporter's own households to offer as one-tap buttons under the receipt, when the case is not
        linked to a household yet (the text named none, or several) and is still open. Empty for anyone but the
        reporting liaison worker, so an official's copy of the case never shows them."""
        with self.db.session() as s:
            case = self._case(s, case_id)
            viewer = self._person(s, viewer_id)
            if (case.reporter_id != viewer.id or viewer.role != Role.liaison_worker or case.household_id is not None
                    or _v(case.state) not in LINKABLE_STATES):
                return []
            rows = s.execute(select(Household.id, Household.code, Household.head_name)
                             .where(Household.liaison_id == viewer.id)
                             .order_by(Household.code).limit(MAX_HOUSEHOLD_CHOICES + 1)).all()
            if len(rows) > MAX_HOUSEHOLD_CHOICES:  # not one worker's 5–12 households: offer no buttons
                return []
            return [HouseholdChoice(hid, code, head or code) for hid, code, head in rows]

    def link_household(self, case_id: int, actor_id: int, household_id: int) -> CaseView:
        """The reporter taps which of *their* households the report is about; the household archive lists the case
        from then on. Refused (``NotPermitted``) for anyone but the reporting liaison worker and for a household
        they do not look after — a forged button cannot attach a case to a stranger's family. Tapping the
        household already linked changes nothing; a different one of theirs corrects a mis-tap."""
        now = self.clock.now()
        with self._tx(case_id) as s:
            case = self._case(s, case_id)
            actor = self._person(s, actor_id)
            permissions.require_view(s, self.router, case, actor)
            if case.reporter_id != actor.id or actor.role != Role.liaison_worker:
                raise NotPermitted(f"{actor.name} did not report case {case.id}", code="not_reporter",
                                   params={"action": "link_household"})
            if _v(case.state) not in LINKABLE_STATES:
                raise NotPermitted(f"case {case.id} is {_v(case.state)}", code="case_closed",
                                   params={"action": "link_household"})
            household = s.get(Household, household_id)
            if household is None or household.liaison_id != actor.id:
                raise NotPermitted(f"household {household_id} is not looked after by {actor.name}",
                                   code="household_not_yours", params={"action": "link_household"})
            if case.household_id != household.id:
                previous = case.household_id
                case.household_id = household.id
                self._event(s, case, now, "household_linked", actor=actor, note=household.head_name,
                            data={"household_id": household.id, "code": household.code, "previous": previous})
                case.updated_at = now
                s.flush()
            return self._view(s, case, actor, now)
