"""Generic harm semantics (lexicon "generic harm semantics" section), the borderline -> priority rule and
the shipped model setting (the model itself: test_model.py).

The sentences are new phrasings that appear in no data file: they check that a *concept* (a victim of
something, a crash, something swallowed, someone stuck, an attack, a zoonosis sign, a mob) makes a
report urgent without a listed emergency word, and that context still cancels it. The rules are tested
alone (``learned = false``) so these tests say what the rules generalise to, not what the model learned.
"""

from __future__ import annotations

import pytest

from workflows.triage import TriageConfigError, default_classifier
from workflows.triage.rules import RulesClassifier


@pytest.fixture(scope="module")
def rules() -> RulesClassifier:
    classifier = default_classifier({"learned": False})
    assert isinstance(classifier, RulesClassifier) and classifier.model is None
    return classifier


@pytest.mark.parametrize(
    ("text", "lang", "category"),
    [
        ("拖拉机在坡上翻了 开车的人卡在下面 喊不出声", "zh", "safety"),
        ("阿妈家的小子被藏獒扑倒了 腿上咬了好几口 血一直流", "zh", "medical"),
        ("娃娃偷喝了半瓶敌敌畏 现在一直吐", "zh", "medical"),
        ("老汉捡了一只病死的羊剥了吃 现在手上长了黑疮 发烧", "zh", "public_health"),
        ("两个社的人为了虫草山 几十个人拿石头对着扔", "zh", "dispute"),
        ("仓库的顶子压弯了 嘎吱响 工人都还在里面", "zh", None),
        ("那只狗好像疯了 追着人咬", "zh", "public_health"),
        ("娃娃被摩托车撞了 躺在路边 流血", "zh", None),
        ("ཕྲུ་གུ་ཞིག་ཆུ་ལ་ལྷུང་འདུག མྱུར་དུ་ཤོག", "bo", "safety"),
        ("གཡག་གིས་རྒན་པོ་ལ་རྨས་བཏང་འདུག ཁྲག་འཛག་གི་འདུག", "bo", "medical"),
        ("ཕྲུ་གུ་གཉིས་ད་དུང་ལོག་མ་སླེབ། ཁ་བ་ཆེན་པོ་འབབ་ཀྱི་འདུག", "bo", "safety"),
    ],
)
def test_novel_emergencies_are_urgent(rules, text, lang, category):
    result = rules.classify(text, lang)
    assert result.urgency == "urgent", result.cues
    if category:
        assert result.category == category, result.category_scores


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("上个月拖拉机翻了 开车的人腿断了 现在已经出院了", "zh"),  # past + resolved
        ("娃娃吃了野蘑菇 没有吐 也没有不舒服 精神挺好", "zh"),  # negated symptoms
        ("如果有人被狗咬了 要马上去打狂犬疫苗", "zh"),  # hypothetical / advice
        ("去年被熊抓伤的那个牧民 想问医药费能不能报", "zh"),  # past, a request
        ("路被拉矿的大车压坏了 坑坑洼洼的", "zh"),  # the victim is a road
        ("娃娃摔了一跤 膝盖擦破点皮 不严重", "zh"),  # mild
        ("ན་ནིང་གཡག་གིས་རྒན་པོ་ལ་རྨས་བཏང་། ད་ལྟ་བདེ་ཐང་ཡིན།", "bo"),  # last year, fine now
    ],
)
def test_past_negated_hypothetical_and_mild_harm_is_not_urgent(rules, text, lang):
    assert rules.classify(text, lang).urgency != "urgent"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("娃娃被门夹了手", "zh"),  # harm, no immediacy: must not wait a week
        ("老阿妈在院子里摔了一下 手腕肿了", "zh"),
        ("身份证过期了 人在夏季牧场下不来", "zh"),  # far away, not in danger: no rescue, but not a week
    ],
)
def test_borderline_harm_is_priority(rules, text, lang):
    result = rules.classify(text, lang)
    assert result.urgency == "priority", (result.urgent_score, result.cues)
    assert (
        rules.settings.harm_priority_threshold <= (result.urgent_score or 0) < rules.settings.urgent_threshold
    )


def test_harm_priority_threshold_is_a_setting():
    text = "手腕肿得老高"  # one harm word: urgent score 1.25, no priority words
    assert default_classifier({"learned": False}).classify(text, "zh").urgency == "priority"
    strict = default_classifier({"learned": False, "harm_priority_threshold": 9.0})
    assert strict.classify(text, "zh").urgency == "general"


# ------------------------------------------------------------------ shipped model settings
def test_model_is_shipped_and_trained_on_every_file():
    shipped = default_classifier()
    assert isinstance(shipped, RulesClassifier) and shipped.model is not None
    assert "triage-train/part-c.jsonl" in shipped.model.trained_on


@pytest.mark.parametrize("bad", [3, "/no/such/model.npz"])
def test_bad_learned_setting_names_the_key(bad):
    with pytest.raises(TriageConfigError, match=r"^triage\.learned"):
        default_classifier({"learned": bad})


def test_wrong_model_file_is_rejected(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"not a model")
    with pytest.raises(TriageConfigError, match=r"^triage\.learned"):
        default_classifier({"learned": str(path)})
