"""Category precedence: the known answers when two categories both fire (lexicon ``[[precedence]]`` plus the
built-in "background gives way to the present"), checked on the shipped lexicon and on toy lexicons whose
weights are chosen so that only the rule can explain the result."""

from __future__ import annotations

import pytest

from workflows.triage.lexicon import TriageConfigError, parse_lexicon
from workflows.triage.rules import PRECEDENCE_CUE, RulesClassifier


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # the storm caused the collapse: disaster, although collapse + people inside add up to safety
        ("雪一直在下 牛棚压垮了 阿爸还在里面", "disaster"),
        ("山上滑坡了 冲下来的石头把路边的房子砸了", "disaster"),
        # ... but a live wire stays safety whatever blew it down
        ("大风把电线刮断了 掉在路上 还在冒火花", "safety"),
        # a missing person is a search even in a snowstorm
        ("放羊的小伙子进山两天了 还没回来 山上下着大雪", "safety"),
        # stolen animals go to the police, not to the vet
        ("昨天晚上三头牦牛被人偷走了", "safety"),
        # a wound from a fight is the fight
        ("两个人喝醉了打起来 一个头上流了好多血", "dispute"),
        # money owed is a dispute even when it is wages
        ("包工头欠着我们五个人的工钱 一直不还", "dispute"),
        # a household short of coal is hardship, not a utility case
        ("老两口的煤烧完了 路也不通 买不到", "hardship"),
        # an outage is infrastructure wherever it happens
        ("夏季牧场没信号 放牧的人打不了电话", "infrastructure"),
    ],
)
def test_shipped_precedence_rules(clf, text, category):
    result = clf.classify(text, "zh")
    assert result.category == category, (result.category_scores, result.cues)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # last year's disaster is background to this year's question about the money
        ("去年雪灾死了不少牛 今年的补贴什么时候发", "policy"),
        ("以前着过火的那家 现在想申请危房改造", "housing"),
    ],
)
def test_background_gives_way_to_the_present(clf, text, category):
    result = clf.classify(text, "zh")
    assert result.urgency != "urgent"
    assert result.category == category, (result.category_scores, result.cues)


@pytest.mark.parametrize(
    ("text", "category"), [("娃娃不想上学了 天天在家玩", "education"), ("没有工作 想出去打工", "employment")]
)
def test_negated_topic_word_is_still_the_topic(clf, text, category):
    assert clf.classify(text, "zh").category == category


def test_tie_goes_to_the_more_specific_phrase(clf):
    # policy "养老保险" (4 units) against hardship "年纪大" would tie on weight alone
    result = clf.classify("听说有养老保险的政策 我阿妈七十多了 能不能领", "zh")
    assert result.category == "policy", result.category_scores


# ---------------------------------------------------------------- mechanics on a toy lexicon
def toy(precedence: list[dict], **groups: dict) -> RulesClassifier:
    data = {
        "group": [{"name": name, **fields} for name, fields in groups.items()],
        "precedence": precedence,
        "markers": {
            "negation_zh": ["没有"],
            "past_zh": ["去年"],
            "resolved_zh": ["灭了"],
            "reset_zh": ["现在"],
        },
    }
    return RulesClassifier(parse_lexicon(data, "toy"))


SNOW = {"category": "disaster", "weight": 1.0, "zh": ["暴雪"]}
ROOF = {"category": "housing", "weight": 3.0, "zh": ["屋顶"]}
RULE = {"name": "cause", "prefer": "disaster", "when": ["snow"], "over": ["housing"]}


def test_rule_overrides_the_sum_and_says_so():
    plain = toy([], snow=SNOW, roof=ROOF).classify("暴雪 屋顶", "zh")
    assert plain.category == "housing"
    ruled = toy([RULE], snow=SNOW, roof=ROOF).classify("暴雪 屋顶", "zh")
    assert ruled.category == "disaster"
    assert any(c.text == PRECEDENCE_CUE + "cause" and c.target == "disaster" for c in ruled.cues)
    assert ruled.why()[-1]["note"] == "category precedence: cause"


def test_past_emergency_is_background_but_a_resolved_one_is_not():
    fire = {"category": "safety", "weight": 5.0, "urgent": 3.0, "zh": ["着火"]}
    roof = {"category": "housing", "weight": 2.0, "zh": ["屋顶"]}
    clf = toy([], fire=fire, roof=roof)
    past = clf.classify("去年着火 现在屋顶要修", "zh")
    assert dict(past.category_scores)["safety"] > dict(past.category_scores)["housing"]
    assert past.category == "housing"  # last year's fire is why, the roof is what
    assert past.cues[-1].note == "category precedence: background gives way to the present"
    # "the fire is out" is still about the fire
    assert clf.classify("着火 灭了 屋顶", "zh").category == "safety"


def test_rule_needs_a_live_trigger():
    # the storm is negated: it cannot be the cause of anything
    assert toy([RULE], snow=SNOW, roof=ROOF).classify("没有暴雪 屋顶", "zh").category == "housing"


def test_first_matching_rule_wins_and_a_confirming_rule_stops_the_search():
    wire = {"category": "safety", "weight": 3.0, "zh": ["电线"]}
    keep = {"name": "wire", "prefer": "safety", "when": ["wire"], "over": ["disaster"]}
    cause = {"name": "cause", "prefer": "disaster", "when": ["snow"], "over": ["safety"]}
    clf = toy([keep, cause], snow=SNOW, wire=wire)
    assert clf.classify("暴雪 电线", "zh").category == "safety"
    assert toy([cause], snow=SNOW, wire=wire).classify("暴雪 电线", "zh").category == "disaster"


def test_rule_cannot_route_an_emergency_where_nothing_urgent_points():
    fire = {"category": "safety", "weight": 1.0, "urgent": 3.0, "zh": ["着火"]}
    debt = {"category": "dispute", "weight": 3.0, "zh": ["欠钱"]}
    rule = {"name": "debt", "prefer": "dispute", "when": ["debt"], "over": ["safety"]}
    result = toy([rule], fire=fire, debt=debt).classify("着火了 他还欠钱", "zh")
    assert result.urgency == "urgent"
    assert result.category == "safety"
    # ... unless the trigger itself is urgent evidence (a knife has no category but makes it a fight)
    knife = {"urgent": 2.5, "zh": ["拿刀"]}
    cut = {"category": "medical", "weight": 2.0, "urgent": 1.0, "zh": ["流血"]}
    fight = {"name": "fight", "prefer": "dispute", "when": ["knife"], "over": ["medical"]}
    assert toy([fight], knife=knife, cut=cut).classify("他拿刀 流血了", "zh").category == "dispute"
    # ... also when nothing else gave a category: the rule is the evidence, not "other"
    alone = toy([{**fight, "over": ["medical", "other"]}], knife=knife, cut=cut).classify("他拿刀", "zh")
    assert (alone.urgency, alone.category) == ("urgent", "dispute")
    assert alone.cues[-1].target == "dispute"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({**RULE, "when": ["nosuch"]}, "toy.precedence[0].when: unknown group 'nosuch'"),
        ({**RULE, "unless": ["x"]}, "toy.precedence[0].unless: unknown field"),
        ({**RULE, "prefer": ""}, "toy.precedence[0].prefer: must be a non-empty string"),
    ],
)
def test_bad_precedence_names_the_key(rule, message):
    with pytest.raises(TriageConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        toy([rule], snow=SNOW, roof=ROOF)


def test_shipped_rules_only_name_existing_groups_and_categories(clf):
    names = {g.name for g in clf.lexicon.groups}
    for rule in clf.lexicon.precedence:
        assert set(rule.when) <= names
        assert {rule.prefer, *rule.over} <= set(clf.categories)
