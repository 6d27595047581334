"""PeopleService: invites, binding Telegram accounts, languages."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import workflows.people as people_mod
from storage.models import InviteCode, Person
from workflows.errors import NotFound, NotPermitted, ValidationError
from workflows.people import INVITE_ALPHABET, InviteError


def test_invite_redeem_and_find(world):
    code = world.people.create_invite("P1111", created_by=world.id("P001"))
    assert len(code) == 8 and set(code) <= set(INVITE_ALPHABET)
    assert not set(code) & set("0O1IL")
    assert world.people.find_by_telegram(555) is None
    person = world.people.redeem_invite(f" {code[:4].lower()}-{code[4:]} ", telegram_user_id=555, chat_id=666)
    assert (person.code, person.telegram_chat_id, person.ui_language) == ("P1111", 666, "zh")
    assert world.people.find_by_telegram(555).id == world.id("P1111")
    assert world.people.redeem_invite(code, 555, 666).id == world.id("P1111")  # harmless repeat


def test_invite_errors_have_precise_codes(world):
    with pytest.raises(InviteError) as err:
        world.people.redeem_invite("ABCDEFGH", 1, 1)
    assert err.value.code == "invite_unknown"
    code = world.people.create_invite(world.id("P110"))
    world.people.redeem_invite(code, 1, 1)
    with pytest.raises(InviteError) as err:
        world.people.redeem_invite(code, 2, 2)
    assert err.value.code == "invite_used"
    second = world.people.create_invite("P110")
    with pytest.raises(InviteError) as err:
        world.people.redeem_invite(second, 2, 2)
    assert err.value.code == "person_already_bound"
    other = world.people.create_invite("P120")
    with pytest.raises(InviteError) as err:
        world.people.redeem_invite(other, 1, 1)  # this account already belongs to P110
    assert err.value.code == "account_bound_elsewhere" and err.value.params["person_name"] == "王建国"
    late = world.people.create_invite("P120", ttl=timedelta(days=1))
    world.clock.advance(days=2)
    with pytest.raises(InviteError) as err:
        world.people.redeem_invite(late, 3, 3)
    assert err.value.code == "invite_expired"
    with pytest.raises(NotFound):
        world.people.create_invite("NOBODY")


def test_languages_and_lookups(world):
    view = world.people.set_language(world.id("P2111"), ui="zh", speech="bo")
    assert (view.ui_language, view.speech_language) == ("zh", "bo")
    with pytest.raises(ValidationError):
        world.people.set_language(world.id("P2111"), speech="en")
    assert world.people.by_code("P001").role == "admin"
    assert [a.code for a in world.people.admins()] == ["P001"]
    assert world.people.get(world.id("P210")).unit_name == "曲隆村"


def _invite_count(world) -> int:
    with world.db.session() as s:
        return s.scalar(select(func.count()).select_from(InviteCode)) or 0


@pytest.mark.parametrize(
    ("inviter", "target", "allowed"),
    [
        ("P001", "P2111", True),  # admin: anyone in the county
        ("P002", "P2111", True),  # county commander: the whole county
        ("P100", "P1211", True),  # township commander: a worker of another village in the township
        ("P100", "P2111", False),  # ... but not in another township
        ("P110", "P1121", True),  # grid leader: a worker of the other grid in the village
        ("P110", "P1211", False),  # ... not in the neighbouring village
        ("P110", "P100", False),  # ... and not the township commander above
        ("P1111", "P1112", False),  # liaison workers do not invite
        ("P010", "P1111", False),  # nor department contacts
        ("P003", "P1111", False),  # nor the governance centre
    ],
)
def test_who_may_invite_whom(world, inviter: str, target: str, allowed: bool) -> None:
    before = _invite_count(world)
    if allowed:
        code = world.people.create_invite(target, created_by=world.id(inviter))
        assert world.people.redeem_invite(code, 9001, 9001).code == target
        assert _invite_count(world) == before + 1
    else:
        with pytest.raises(NotPermitted) as err:
            world.people.create_invite(target, created_by=world.id(inviter))
        assert err.value.code == "invite_not_permitted" and err.value.params == {"person": target}
        assert _invite_count(world) == before  # a refused invite leaves no code behind
    assert world.people.may_invite(world.id(inviter)) is (inviter in ("P001", "P002", "P100", "P110"))


def test_operator_invites_anyone_and_unknown_person_comes_before_permission(world) -> None:
    assert world.people.create_invite("P2111", created_by=None)  # the CLI at the server
    with pytest.raises(NotFound):
        world.people.create_invite("NOBODY", created_by=world.id("P1111"))


def test_deactivated_official_may_no_longer_invite(world) -> None:
    with world.db.session() as s:
        s.get(Person, world.id("P110")).active = False
    assert not world.people.may_invite(world.id("P110"))
    with pytest.raises(NotPermitted):
        world.people.create_invite("P1111", created_by=world.id("P110"))


def test_concurrent_redemptions_of_one_code_bind_only_one_account(world, monkeypatch):
    code = world.people.create_invite("P1111")
    barrier = threading.Barrier(2, timeout=5)
    real_select = people_mod.select

    def gated_select(*args, **kwargs):
        if args and args[0] is Person:  # both have read the unused invite before either claims it
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
        return real_select(*args, **kwargs)

    monkeypatch.setattr(people_mod, "select", gated_select)
    results: dict[int, object] = {}

    def go(uid: int) -> None:
        try:
            results[uid] = world.people.redeem_invite(code, uid, uid).id
        except InviteError as e:
            results[uid] = e.code

    threads = [threading.Thread(target=go, args=(uid,)) for uid in (9001, 9002)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values(), key=str) == sorted([world.id("P1111"), "invite_used"], key=str)
