"""Conversation state in the database: prompts survive processes, one taker wins, entries expire."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from storage.db import Database
from workflows.conversation import ConversationState, Prompt
from workflows.ports import FakeClock


@pytest.fixture
def store(database: Database, clock: FakeClock) -> ConversationState:
    return ConversationState(database, clock)


def test_a_prompt_asked_through_one_store_is_answered_through_another(database: Database, clock: FakeClock) -> None:
    asking = ConversationState(database, clock)  # two processes: two stores on one database
    answering = ConversationState(Database(database.url), clock)
    asking.ask("tg:42", Prompt("res", case_id=7, data={"step": "note"}))
    assert answering.pending("tg:42") == Prompt("res", 7, {"step": "note"})
    assert answering.answer("tg:42") == Prompt("res", 7, {"step": "note"})
    assert asking.answer("tg:42") is None  # answered once, gone for everyone
    assert asking.pending("tg:42") is None
    answering.db.dispose()


def test_asking_again_replaces_the_open_question(store: ConversationState) -> None:
    store.ask("tg:1", Prompt("res", 1))
    store.ask("tg:1", Prompt("esc", 2))
    assert store.answer("tg:1") == Prompt("esc", 2)
    assert store.answer("tg:1") is None


def test_subjects_and_names_are_separate(store: ConversationState) -> None:
    store.ask("tg:1", Prompt("res", 1))
    store.put("tg:1", "followup:55", {"text": "还有两只羊"})
    store.put("tg:2", "followup:55", {"text": "别的"})
    assert store.get("tg:1", "followup:55") == {"text": "还有两只羊"}
    assert store.take("tg:2", "followup:55") == {"text": "别的"}
    assert store.get("tg:2", "followup:55") is None
    assert store.pending("tg:1") == Prompt("res", 1)
    assert store.drop("tg:1") == 2
    assert store.get("tg:1", "followup:55") is None and store.pending("tg:1") is None


def test_entries_expire(store: ConversationState, clock: FakeClock) -> None:
    store.ask("tg:1", Prompt("rej", 3))  # default: a day
    store.put("tg:1", "followup:9", {"text": "x"}, ttl=timedelta(minutes=5))
    clock.advance(timedelta(minutes=6))
    assert store.get("tg:1", "followup:9") is None
    assert store.pending("tg:1") == Prompt("rej", 3)
    clock.advance(timedelta(hours=24))
    assert store.answer("tg:1") is None  # an old question never catches an unrelated message
    store.put("tg:3", "x", {"v": 1})
    assert store.prune() == 1  # the followup (the prompt was taken above); tg:3 stays
    assert store.get("tg:3", "x") == {"v": 1}


def test_only_one_of_many_concurrent_takers_gets_the_prompt(database: Database, clock: FakeClock) -> None:
    ConversationState(database, clock).ask("tg:5", Prompt("res", 11))
    stores = [ConversationState(database, clock) for _ in range(6)]
    got: list[Prompt | None] = []
    barrier = threading.Barrier(len(stores))

    def take(s: ConversationState) -> None:
        barrier.wait()
        got.append(s.answer("tg:5"))

    threads = [threading.Thread(target=take, args=(s,)) for s in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert [p for p in got if p is not None] == [Prompt("res", 11)]


def test_values_must_stay_small(store: ConversationState) -> None:
    with pytest.raises(ValueError, match="too large"):
        store.put("tg:1", "big", {"text": "字" * 10_000})
