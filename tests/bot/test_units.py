"""Unit tests without Telegram: callback grammar, catalogues, text splitting, rendering, error mapping."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot import keyboards as kb
from bot.callbacks import MAX_BYTES, VERBS, BadCallback, pack, parse
from bot.delivery import as_delivery_error, compose
from bot.render import case_card, list_line
from bot.textsplit import split_message, utf16_len
from i18n import UI_LANGUAGES, catalogue, placeholders, t
from workflows.views import CaseView, PersonRef


def test_callback_round_trip_and_refusals() -> None:
    for data in ("acc:12", "rto:12:345", "scat:3:livestock", "pg:0:overdue.2", "ui:0:bo", "new:5:991"):
        assert parse(data).pack() == data
    cb = parse("rto:12:345")
    assert (cb.verb, cb.case_id, cb.arg) == ("rto", 12, "345")
    for bad in (None, "", "acc", "acc:x", "acc:1:2", "zzz:1", "rto:1", "rto:1:x", "ui:0:fr", "acc:-1",
                "acc:1 ", "a" * (MAX_BYTES + 1), "sp:0:en", "scat:1:DROP TABLE"):
        with pytest.raises(BadCallback):
            parse(bad)
    with pytest.raises(ValueError):
        pack("acc", 1, "surprise")
    assert all(len(pack(v, 9_999_999_999, "a" * 20 if VERBS[v] == r"[a-z_]{1,20}" else None).encode()) <= MAX_BYTES
               for v in VERBS if VERBS[v] in (None, r"[a-z_]{1,20}"))


def test_every_catalogue_has_every_key_with_the_same_placeholders() -> None:
    zh = catalogue("zh")
    assert len(zh) > 150
    for lang in UI_LANGUAGES:
        cat = catalogue(lang)
        assert set(cat) == set(zh), f"{lang}: missing {set(zh) - set(cat)}, extra {set(cat) - set(zh)}"
        for key, text in cat.items():
            assert placeholders(text) == placeholders(zh[key]), (lang, key)
    assert any("\u0f00" <= ch <= "\u0fff" for ch in catalogue("bo")["report.filed"])  # real Tibetan script


def test_translation_fallback_and_missing_params_never_crash() -> None:
    assert t("xx", "btn.accept") == t("zh", "btn.accept")
    assert t("en", "no.such.key") == "no.such.key"
    assert "{owner}" in t("en", "report.filed", case_id=1)


def test_split_message_keeps_lines_and_limit() -> None:
    text = "\n".join(f"第{i}行 " + "ཀ" * 50 for i in range(200))
    pieces = split_message(text)
    assert len(pieces) > 1 and all(utf16_len(p) <= 4096 for p in pieces)
    assert "\n".join(pieces) == text
    one_line = "x" * 9000
    assert "".join(split_message(one_line)) == one_line


def _view(**over) -> CaseView:
    base = dict(
        id=7, state="assigned", urgency="urgent", category="livestock", confidence=0.9,
        cues=({"text": "着火", "negated": False},), text="羊圈着火了", language="zh", transcript_status=None,
        needs_review=False, reporter=PersonRef(1, "扎西"), owner=PersonRef(2, "王建国"), unit_id=4,
        unit_name="第一网格", unit_path=("县", "乡", "村", "第一网格"), created_at=datetime(2026, 1, 5, 8),
        ack_due_at=datetime(2026, 1, 5, 8, 30), resolve_due_at=datetime(2026, 1, 6, 8), overdue=True,
        escalation_level=0, resolution_note=None, close_reason=None, duplicate_of_id=None, has_audio=False,
        attachment_ids=(), allowed_actions=("accept", "resolve", "escalate", "correct_triage", "acknowledge_reminder"),
    )
    base.update(over)
    return CaseView(**base)


def test_card_in_each_language_shows_state_triage_owner_and_local_time() -> None:
    view = _view()
    zh = case_card("zh", view)
    assert "#7" in zh and "待受理" in zh and "牲畜" in zh and "紧急" in zh and "王建国" in zh
    assert "01-05 16:00" in zh  # 08:00 UTC is 16:00 in China
    assert "已超期" in zh and "着火" in zh
    assert "ཛ་དྲག" in case_card("bo", view)
    assert "urgent" in list_line("en", view) and "⏰" in list_line("en", view)


def test_buttons_come_from_allowed_actions_only() -> None:
    view = _view(allowed_actions=("accept",))
    out = compose("case_assigned", {"case_id": 7}, "zh", 2, view)
    assert [b.callback_data for row in out.keyboard.inline_keyboard for b in row] == ["acc:7"]
    nothing = compose("case_assigned", {"case_id": 7}, "zh", 2, _view(allowed_actions=()))
    assert nothing.keyboard is None
    reminder = compose("reminder", {"case_id": 7, "stage": "ack", "due_at": "2026-01-05T08:30:00"}, "zh", 2, _view())
    datas = [b.callback_data for row in reminder.keyboard.inline_keyboard for b in row]
    assert datas[0] == "ack:7" and "acc:7" in datas
    resolved = compose("case_resolved", {"case_id": 7, "note": "修好了"}, "zh", 1,
                       _view(state="resolved", allowed_actions=("confirm", "reopen", "add_details")))
    assert [b.callback_data for row in resolved.keyboard.inline_keyboard for b in row] == ["cfm:7", "nfx:7"]
    assert "修好了" in resolved.text
    auto = compose("case_escalated", {"case_id": 7, "reason": "ack_overdue", "from_owner": {"name": "甲"},
                                      "to_owner": {"id": 3, "name": "乙"}}, "zh", 3, _view())
    assert "超过受理期限" in auto.text and auto.keyboard is not None
    assert kb.case_keyboard("zh", 7, (), kb.OFFICIAL) is None


def test_telegram_errors_map_to_transient_or_permanent() -> None:
    e = as_delivery_error(RetryAfter(timedelta(seconds=12)))
    assert not e.permanent and e.retry_after == 12
    for blocked in ("bot was blocked by the user", "bot can't initiate conversation with a user"):
        err = as_delivery_error(Forbidden(blocked))  # waits for the person to write again, not permanent
        assert err.waiting_for_user and not err.permanent
    assert as_delivery_error(Forbidden("user is deactivated")).permanent
    assert as_delivery_error(BadRequest("Chat not found")).permanent
    for transient in (TimedOut(), NetworkError("Internal Server Error (500)"), NetworkError("Bad Gateway")):
        err = as_delivery_error(transient)
        assert not err.permanent and err.retry_after is None


def test_run_without_token_says_exactly_what_to_set(capsys, tmp_path) -> None:
    from bot.app import run
    from runtime.config import BotConfig, Config, DatabaseConfig

    config = Config(bot=BotConfig(token=None), database=DatabaseConfig(url=f"sqlite:///{tmp_path}/x.sqlite3"))
    assert run(config) == 2
    err = capsys.readouterr().err
    assert "LIANHU_BOT_TOKEN" in err and "[bot]" in err and "BotFather" in err
    assert not (tmp_path / "x.sqlite3").exists()  # stopped before touching anything


def test_why_line_prefers_lexicon_cues_over_model_ngrams() -> None:
    from dataclasses import replace as dc_replace

    from bot.render import _cues

    lexicon = {"text": "着火", "target": "urgent", "weight": 2.0, "negated": False, "note": ""}
    model = {"text": "一个", "target": "urgent", "weight": 0.4, "negated": False, "note": "model"}
    negated = {"text": "打架", "target": "dispute", "weight": 1.0, "negated": True, "note": "negated by 没有"}
    view = _view()
    assert _cues(dc_replace(view, cues=[lexicon, model, negated])) == "着火"
    assert _cues(dc_replace(view, cues=[model, negated])) == "一个"  # nothing else to show: the model's reason


def test_why_line_names_what_decided_urgency_then_category() -> None:
    """Triage marks the cues that decided (``decides``): the model's words when the model made a case urgent,
    before a category word; a sound-alike reads "洋剑≈羊圈"; an overruled precedence rule is not shown."""
    from dataclasses import replace as dc_replace

    from bot.render import _cues

    category = {"text": "低保卡", "target": "paperwork", "weight": 2.0, "negated": False, "note": "",
                "decides": "category"}
    model = {"text": "压住", "target": "urgent", "weight": 0.8, "negated": False, "note": "model", "decides": "urgency"}
    heard = {"text": "洋剑", "target": "livestock", "weight": 2.0, "negated": False, "note": "sounds like 羊圈",
             "decides": "category"}
    overruled = {"text": "rule: x", "target": "dispute", "weight": 0.0, "negated": True,
                 "note": "category precedence: x; overruled by the learned model", "decides": ""}
    view = _view()
    assert _cues(dc_replace(view, cues=[category, model, overruled])) == "压住、低保卡"
    assert _cues(dc_replace(view, cues=[heard])) == "洋剑≈羊圈"
