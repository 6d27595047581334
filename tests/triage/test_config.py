"""The ``[triage]`` config table: extension of categories and cues, thresholds, and clear errors."""

from __future__ import annotations

import pytest

from workflows.triage import TriageConfigError, default_classifier


def test_no_config_is_the_shipped_lexicon():
    assert default_classifier(None).classify("房子着火了", "zh").urgency == "urgent"
    assert default_classifier({}).classify("房子着火了", "zh").urgency == "urgent"


def test_new_category_with_its_cues():
    clf = default_classifier({"categories": {"wildlife": {"zh": ["雪豹"], "bo": ["གཟིག"], "weight": 3.0}}})
    assert "wildlife" in clf.categories
    result = clf.classify("昨晚在山口看到雪豹了", "zh")
    assert result.category == "wildlife"
    assert result.urgency != "urgent"  # no urgency unless the operator gives one
    assert clf.classify("གཟིག་ཡོང་སོང་།", "bo").category == "wildlife"


def test_new_category_can_be_urgent():
    clf = default_classifier({"categories": {"wildlife": {"zh": ["棕熊进村"], "urgent": 3.0}}})
    result = clf.classify("棕熊进村了", "zh")
    assert (result.urgency, result.category) == ("urgent", "wildlife")


def test_override_group_weight_and_extend_terms():
    base = default_classifier({"learned": False})  # the rules alone (the model calls bare 冒烟 urgent)
    assert base.classify("冒烟", "zh").urgency != "urgent"
    clf = default_classifier({"groups": {"smoke": {"urgent": 3.0, "zh": ["黑烟滚滚"]}}})
    assert clf.classify("冒烟", "zh").urgency == "urgent"
    assert clf.classify("黑烟滚滚", "zh").urgency == "urgent"
    assert clf.classify("着火了", "zh").urgency == "urgent"  # other groups untouched


def test_thresholds():
    # the rules' own threshold (the model's blend threshold lives in model.npz)
    strict = default_classifier({"urgent_threshold": 10.0, "learned": False})
    assert strict.classify("房子着火了", "zh").urgency != "urgent"


def test_extra_traps_and_markers():
    clf = default_classifier(
        {"traps": {"zh": ["火焰山"]}, "markers": {"past_zh": ["大前年"]}, "learned": False}
    )
    assert clf.classify("火焰山那边", "zh").cues == ()
    assert clf.classify("大前年着火的那家", "zh").urgency != "urgent"


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"urgent_treshold": 2.0}, "triage.urgent_treshold"),
        ({"urgent_threshold": "high"}, "triage.urgent_threshold"),
        ({"urgent_threshold": -1}, "triage.urgent_threshold"),
        ({"negation_gap": 2.5}, "triage.negation_gap"),
        ({"categories": {"wildlife": {}}}, "triage.categories.wildlife"),
        ({"categories": {"wildlife": {"zh": "雪豹"}}}, "triage.categories.wildlife.zh"),
        ({"categories": {"wildlife": {"zh": ["雪豹"], "weigth": 2}}}, "triage.categories.wildlife.weigth"),
        ({"categories": {"Wild Life": {"zh": ["雪豹"]}}}, "triage.categories.Wild Life"),
        ({"categories": ["wildlife"]}, "triage.categories"),
        ({"groups": {"fire": {"urgent": "very"}}}, "triage.groups.fire.urgent"),
        ({"groups": {"newthing": {"urgent": 1.0}}}, "triage.groups.newthing"),
        ({"groups": {"newthing": {"zh": ["某"]}}}, "triage.groups.newthing"),
        ({"groups": {"newthing": {"zh": ["某"], "weight": 1.0}}}, "triage.groups.newthing.category"),
        ({"groups": {"newthing": {"zh": ["re:(["], "urgent": 1.0}}}, "triage.groups.newthing.zh"),
        ({"traps": {"en": ["fire"]}}, "triage.traps.en"),
        ({"markers": {"sometime_zh": ["x"]}}, "triage.markers.sometime_zh"),
        ({"lexicon": "/nonexistent/lexicon.toml"}, "triage.lexicon"),
        ("not a table", "triage"),
    ],
)
def test_bad_config_names_the_key(config, key):
    with pytest.raises(TriageConfigError) as err:
        default_classifier(config)  # type: ignore[arg-type]
    assert str(err.value).startswith(key + ":"), str(err.value)


def test_replacement_lexicon_file(tmp_path):
    path = tmp_path / "lexicon.toml"
    path.write_text(
        '[[group]]\nname = "only"\ncategory = "safety"\nweight = 2.0\nurgent = 3.0\nzh = ["狼来了"]\n',
        encoding="utf-8",
    )
    clf = default_classifier({"lexicon": str(path), "learned": False})  # the rules alone
    assert clf.classify("狼来了", "zh").urgency == "urgent"
    assert clf.classify("着火了", "zh").urgency == "general"  # the shipped cues are gone
