"""PeopleService: invites, binding Telegram accounts, languages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows.errors import NotFound, ValidationError
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
