"""The learned model (model.py) and its training (train.py): features, the shipped file, an end-to-end
retrain on a small subset, and the rules+model blend's contract (cues, context veto, local categories).
Cross-validated figures are printed by ``benchmarks/train_triage.py`` and recorded in README.md (too
slow for a test); speed is measured by ``benchmarks/triage.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def _life_model(tmp_path: Path, threshold: float) -> Path:
    """A tiny hand-made model whose life-event head reads "放牛" as a child out of school (dropout)."""
    from workflows.triage.base import DEFAULT_CATEGORIES
    from workflows.triage.train import LIFE_CLASSES

    categories = tuple(DEFAULT_CATEGORIES)
    vocab = {"放牛": 0, "学校": 1}
    width = 1 + len(categories) + len(LIFE_CLASSES)
    W = np.zeros((len(vocab), width), dtype=np.float32)
    b = np.zeros(width, dtype=np.float32)
    b[0] = -5.0  # never urgent
    b[1 + categories.index("education")] = 1.0
    none, dropout = (1 + len(categories) + LIFE_CLASSES.index(k) for k in ("none", "dropout"))
    b[none] = 2.0
    W[0, dropout] = 6.0  # 放牛 -> dropout
    meta = {"blend": {"threshold": 0.0, "life_threshold": threshold}, "life_events": list(LIFE_CLASSES)}
    path = tmp_path / f"life-{threshold}.npz"
    TriageModel(vocab, W, b, categories, meta).save(path)
    return path


def test_the_life_event_head_flags_what_the_rules_missed_and_says_why(tmp_path):
    """Blind batches put the rules' life-event recall at 0.60-0.78: the model's life-event head flags a kind the
    rules did not see when it is confident enough (``life_threshold``), with its n-grams as the reason."""
    text = "才让家的娃娃这学期没见着 在山上放牛"
    rules_only = default_classifier({"learned": False}).classify(text, "zh")
    assert rules_only.life_event is None  # the premise: no life-event word of the lexicon
    result = default_classifier({"learned": str(_life_model(tmp_path, 0.5))}).classify(text, "zh")
    assert result.life_event == "dropout"
    why = result.life_event_cues
    assert [c.text for c in why] == ["放牛"] and all(
        c.decides == "life_event" and c.note == MODEL_CUE_NOTE for c in why
    )
    # above 1 the head never flags: the rules alone decide (an older model file behaves like this)
    assert (
        default_classifier({"learned": str(_life_model(tmp_path, 1.1))}).classify(text, "zh").life_event
        is None
    )
    # the rules' own life event stands and keeps its readable cues
    death = default_classifier({"learned": str(_life_model(tmp_path, 0.5))}).classify(
        "老阿爸昨天去世了 在家放牛的", "zh"
    )
    assert death.life_event == "death" and all(c.note != MODEL_CUE_NOTE for c in death.life_event_cues)


def test_a_model_file_without_a_life_event_head_still_loads(tmp_path):
    from workflows.triage.base import DEFAULT_CATEGORIES

    categories = tuple(DEFAULT_CATEGORIES)
    W = np.zeros((1, 1 + len(categories)), dtype=np.float32)
    path = tmp_path / "old.npz"
    TriageModel(
        {"火": 0}, W, np.zeros(1 + len(categories), dtype=np.float32), categories, {"blend": {}}
    ).save(path)
    model = TriageModel.load(path)
    assert model.life_events == () and model.score({"火": 1.0})[2] is None
    assert default_classifier({"learned": str(path)}).classify("老人昨天去世了", "zh").life_event == "death"
