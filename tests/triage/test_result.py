"""The result contract: always a valid result, never an exception, confidence in range, reasons."""

from __future__ import annotations

import pytest

from workflows.triage import URGENCIES, Classifier, TriageResult


def test_is_a_classifier(clf):
    assert isinstance(clf, Classifier)
    assert clf.name == "rules"


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "。。。", "།།", None, 12345])
def test_empty_or_odd_input(clf, text):
    result = clf.classify(text, "zh")  # type: ignore[arg-type]
    assert (result.urgency, result.category, result.confidence, result.cues) == ("general", "other", 0.0, ())


@pytest.mark.parametrize(
    "text", ["😀😀🔥🔥", "asdfgh qwerty", "1234567890", "\u200b\u200b\ufeff", "\x00\x01\x02"]
)
def test_garbage_gives_a_valid_result(clf, text):
    result = clf.classify(text, "bo")
    assert result.urgency in URGENCIES
    assert result.category == "other"
    assert 0.0 <= result.confidence <= 1.0


def test_very_long_text_still_works(clf):
    text = "嗯 那个 就是 " * 2000 + "后山滑坡了 有一户人家在下面"
    result = clf.classify(text, "zh")
    assert result.urgency == "urgent"
    assert result.category == "disaster"


def test_confidence_grows_with_evidence(clf):
    weak = clf.classify("好像有点烟", "zh")
    strong = clf.classify("着火了 火势很大 房子烧起来了 快来人", "zh")
    assert 0.0 <= weak.confidence < strong.confidence <= 1.0
    assert strong.urgency_confidence is not None and strong.urgency_confidence > 0.9


def test_nothing_recognised_means_no_confidence(clf):
    result = clf.classify("谢谢书记", "zh")
    assert result.category == "other"
    assert result.confidence == 0.0


def test_why_is_json_friendly_and_names_the_cues(clf):
    result = clf.classify("村口电线掉在地上 还冒火星子", "zh")
    why = result.why()
    assert {"text", "target", "weight", "negated", "note"} <= set(why[0])
    assert any(w["target"] == "urgent" and not w["negated"] for w in why)
    assert any(w["target"] == "safety" for w in why)


def test_deterministic(clf):
    text = "卓玛要生了 流了很多血 路不通 救护车进不来"
    assert clf.classify(text, "zh") == clf.classify(text, "zh")


def test_language_hint_is_only_a_hint(clf):
    assert clf.classify("房子着火了", "bo").urgency == "urgent"
    assert clf.classify("ཁྱིམ་ཚང་འདིར་མེ་ཤོར་སོང་།", "zh").urgency == "urgent"


def test_result_defaults_stay_compatible():
    result = TriageResult("general", "other", 0.0)
    assert result.model == "rules" and result.cues == () and result.urgency_confidence is None
