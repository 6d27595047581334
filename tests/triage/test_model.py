"""The learned model (model.py) and its training (train.py): features, the shipped file, an end-to-end
retrain on a small subset, and the rules+model blend's contract (cues, context veto, local categories).
Cross-validated figures are printed by ``benchmarks/train_triage.py`` and recorded in README.md (too
slow for a test); speed is measured by ``benchmarks/triage.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflows.triage import default_classifier
from workflows.triage.model import MODEL_CUE_NOTE, TriageModel, load_model, text_features

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"


def test_text_features_drop_spaces_and_punctuation_and_cut_tibetan_syllables():
    # 着 alone is a function character: it carries nothing, but the n-grams it is part of do
    assert text_features("着 火，") == text_features("着火") == sorted(["着火", "火"])
    feats = text_features("ཆུ་ལ་ལྷུང་། 快")
    assert {"t:ཆུ", "t:ཆུ_ལ", "快"} <= set(feats)
    assert text_features("") == [] and text_features(None) == []  # type: ignore[arg-type]
    assert text_features("3号") == text_features("7号") == text_features("三号")  # numbers folded


def test_function_words_fillers_and_names_make_no_features():
    """The old model's top urgent n-grams were 家的 / 一个 / 来了 / 好几 and names: none is a feature now."""
    feats = set(text_features("那个 嗯 书记 他家的一个来了好几起来"))
    assert not feats & {"家的", "一个", "来了", "好几", "起来", "那个", "书记", "嗯"}
    masked = set(text_features(["@", "家", "的", "牛"]))  # a name is one placeholder unit
    assert "牛" in masked and "@" not in masked and "@家" not in masked


def test_shipped_model_loads_and_is_small():
    model = load_model()
    assert model is not None and len(model.categories) == 15
    assert (Path(__file__).resolve().parents[2] / "workflows/triage/model.npz").stat().st_size < 3_000_000
    assert "threshold" in model.meta["blend"]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    """Train end to end (scikit-learn) on two files only, no CV, into a temp file."""
    pytest.importorskip("sklearn")
    from workflows.triage.train import main

    out = tmp_path_factory.mktemp("model") / "small.npz"
    assert (
        main(
            [
                str(DATA / "reports-extra.jsonl"),
                str(DATA / "triage-train/part-a.jsonl"),
                "-o",
                str(out),
                "--no-cv",
            ]
        )
        == 0
    )
    return out


def test_small_retrain_round_trips_and_gives_sensible_predictions(small_model):
    model = TriageModel.load(small_model)
    assert model.meta["trained_on"] == ["reports-extra.jsonl", "triage-train/part-a.jsonl"]
    clf = default_classifier({"learned": str(small_model)})
    fire = clf.classify("快来人 牧民家的帐篷着火了 里面还有娃娃", "zh")
    assert fire.urgency == "urgent" and fire.category == "safety" and fire.model == "rules+model"
    school = clf.classify("想问一下娃娃上学的事 学费能不能减免", "zh")
    assert school.urgency != "urgent" and school.category == "education"
    assert clf.classify("", "zh").urgency == "general"


def test_model_cues_explain_a_model_decision(small_model):
    clf = default_classifier({"learned": str(small_model)})
    result = clf.classify("快来人 牧民家的帐篷着火了 里面还有娃娃", "zh")
    model_cues = [c for c in result.cues if c.note == MODEL_CUE_NOTE]
    assert model_cues and all(c.weight > 0 for c in model_cues)
    assert {c.target for c in model_cues} <= {"urgent", result.category}


def test_local_category_stays_the_rules_call(small_model):
    clf = default_classifier(
        {"learned": str(small_model), "categories": {"wildlife": {"zh": ["雪豹"], "weight": 5.0}}}
    )
    assert clf.classify("雪豹又来了 在山坡上转", "zh").category == "wildlife"


def test_veto_blend_keeps_a_cancelled_emergency_from_the_model(small_model, tmp_path):
    """With ``veto`` on, an urgent cue the rules cancelled (negation) cannot be raised by the model."""
    model = TriageModel.load(small_model)
    model.meta["blend"] = {**model.meta["blend"], "veto": True, "threshold": -50.0}
    path = tmp_path / "veto.npz"
    model.save(path)
    clf = default_classifier({"learned": str(path)})
    assert clf.classify("没有着火 只是想问问补贴", "zh").urgency != "urgent"
    assert clf.classify("想问问补贴", "zh").urgency == "urgent"  # threshold -50: everything else raised
