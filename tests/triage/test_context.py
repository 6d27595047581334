"""Negation, past, resolved, hypothetical, traps and keyword-less urgency, in Chinese and Tibetan."""

from __future__ import annotations

import pytest


def urgency(clf, text: str, lang: str = "zh") -> str:
    return clf.classify(text, lang).urgency


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("没有着火 是烧牛粪冒的烟", "zh"),
        ("不是着火 是在烧荒草 有人看着的", "zh"),
        ("没 打起来 就是吵了几句", "zh"),  # spaces from ASR between negator and cue
        ("没有人受伤", "zh"),
        ("没看到有人打架 就是喝酒声音大", "zh"),
        ("མེ་ཤོར་མེད། དུ་བ་དེ་ལྕི་བ་བསྲེགས་པ་རེད།", "bo"),  # no fire broke out (post-negation)
        ("མེ་མ་ཤོར། ལྕི་བ་བསྲེགས་པ་རེད།", "bo"),  # negation particle inside the cue
        ("ས་ཡོམ་བྱུང་མེད།", "bo"),
    ],
)
def test_negated_hazards_are_not_urgent(clf, text, lang):
    assert urgency(clf, text, lang) != "urgent"


def test_negated_cue_is_kept_as_a_reason_marked_negated(clf):
    result = clf.classify("没有着火", "zh")
    fire = [c for c in result.cues if c.text == "着火" and c.target == "urgent"]
    assert fire and fire[0].negated and "没有" in fire[0].note


def test_words_containing_a_negator_still_count(clf):
    # 不停/止不住/叫不醒 contain 不 but negate nothing
    assert urgency(clf, "他一直不停地流血 血止不住") == "urgent"
    assert urgency(clf, "阿爸叫不醒了") == "urgent"
    assert urgency(clf, "有没有人来看看 房子着火了") == "urgent"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("上个月着火的那户已经修好了", "zh"),
        ("去年雪灾死了好多羊 今年的补偿款还没发", "zh"),
        ("以前这里滑坡过 现在修了挡墙", "zh"),
        ("两家的草场纠纷 已经调解好了", "zh"),
        ("昨天打架的那两个人 派出所已经处理了 现在没事了", "zh"),
        ("羊圈的火已经灭了 没人受伤", "zh"),
        ("上次骑马摔伤的那个娃娃已经出院了", "zh"),
        ("ན་ནིང་མེ་ཤོར་བའི་ཁྱིམ་ཚང་དེའི་ཁང་པ་བཟོ་ཚར་སོང་།", "bo"),  # last year's fire, house repaired
        ("ས་མཚམས་ཀྱི་རྩོད་པ་དེ་ཞི་བདེ་ངང་ཐག་གཅོད་ཚར་སོང་།", "bo"),  # boundary dispute settled
    ],
)
def test_past_and_resolved_events_are_not_urgent(clf, text, lang):
    assert urgency(clf, text, lang) != "urgent"


def test_a_new_event_after_a_resolved_one_counts(clf):
    assert urgency(clf, "上次着火修好了 但是今天又着火了 快来") == "urgent"
    assert urgency(clf, "火已经灭了 但是有个老人被烧伤了 一直流血") == "urgent"


def test_unresolved_is_not_resolved(clf):
    # "修好" negated by 没: the bridge is still broken, the report is about it
    result = clf.classify("那个桥冲坏了 到现在还没修好", "zh")
    assert result.category == "infrastructure"


@pytest.mark.parametrize(
    "text",
    [
        "乡上通知下周搞消防演练 让每户去一个人",
        "如果发生地震 我们家老人跑不了怎么办",
        "万一下大雪 山上的牧民怎么办 有没有预案",
        "电视上说明天要下大雪",
        "ལུག་ལ་ནད་ཡམས་ཀྱི་སྔོན་འགོག་སྨན་རྒྱག་དགོས།",  # epidemic *prevention* for sheep
    ],
)
def test_hypotheticals_drills_and_forecasts_are_not_urgent(clf, text):
    assert urgency(clf, text) != "urgent"


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("村里那个火锅店 晚上太吵 喝酒闹到半夜", "dispute"),
        ("坐火车去西宁打工的车票能不能报销", "employment"),
        ("火腿肠吃多了 娃娃上火了", "medical"),
        ("家里的电视 电话都没信号了", "infrastructure"),
        ("他爸一说这个事就发火 想让村里给调解一下", "dispute"),
        ("我儿子找不到工作", "employment"),
        ("牦牛丢了五头 在山那边找了两天没找到", "livestock"),
        ("身份证丢了 去县上补办要带什么", "paperwork"),
        ("母牦牛难产 生不下来 兽医电话打不通", "livestock"),
        ("洋剑的门坏了 晚上狼进来咬死了三只羊", "livestock"),  # ASR 洋剑 = 羊圈; a predator is no epidemic
        ("包工头欠着工钱 现在找不到人了", "dispute"),  # evading, not missing
        ("ཕྱུགས་ལ་ཁབ་རྒྱག་དགོས། ཕྱུགས་སྨན་པ་ནམ་ཡོང་གི་རེད།", "livestock"),  # vet, not doctor (སྨན)
        ("གཡག་གསུམ་བོར་སོང་། རི་ལ་བཙལ་ཡང་མ་རྙེད།", "livestock"),  # lost yaks, not a lost person
        ("ངོ་སྤྲོད་ལག་ཁྱེར་བོར་སོང་།", "paperwork"),  # lost ID card
    ],
)
def test_traps_are_not_emergencies(clf, text, category):
    result = clf.classify(text, "zh")
    assert result.urgency != "urgent", result.cues
    assert result.category == category


@pytest.mark.parametrize(
    ("text", "lang", "category"),
    [
        ("我阿爸早上叫不醒 呼吸很弱", "zh", "medical"),
        ("邻居老阿奶两天没看到她出来了 门也从里面锁着", "zh", "safety"),
        ("那个娃娃站在桥上一直往下看 情绪很不对", "zh", "safety"),
        ("索南这几天一直说活着没意思 把自己的东西都送人了", "zh", "safety"),
        ("放牛的娃娃到现在还没回来 天都黑了", "zh", "safety"),
        ("娃娃吃了药瓶里的药片 不知道吃了多少", "zh", "medical"),
        ("孩子吃错东西了 一直吐 肚子疼得打滚", "zh", "medical"),
        ("邻居家有哭喊的声音 女的喊救命", "zh", "dispute"),
        ("屋里有煤烟味 一家人都头疼恶心", "zh", "safety"),
        ("ཨ་ཕ་བརྒྱལ་སོང་། སད་ཀྱི་མི་འདུག", "bo", "medical"),  # fainted, does not wake
        ("ཕྲུ་གུ་ཞིག་བོར་སོང་། ད་ལྟ་བར་མ་རྙེད།", "bo", "safety"),  # a child lost, still not found
        ("ངའི་ཨ་མ་ན་ཚ་ཚབས་ཆེན་ཡོད། སྨན་ཁང་ལ་འགྲོ་དགོས།", "bo", "medical"),  # seriously ill
    ],
)
def test_urgency_without_hazard_keywords(clf, text, lang, category):
    result = clf.classify(text, lang)
    assert result.urgency == "urgent", result.cues
    assert result.category == category


@pytest.mark.parametrize(
    ("text", "lang", "category"),
    [
        ("书记 二社的羊圈着火了 烟很大 快派人来", "zh", "safety"),
        ("着货了着货了快来人啊房子烧起来了", "zh", "safety"),  # ASR 着货 = 着火
        ("打价了 两个人在村口打价 头都打破了", "zh", "dispute"),  # ASR 打价 = 打架
        ("草场上起了火 风往村子这边刮", "zh", "disaster"),  # a grassland fire is a disaster
        ("河上的木桥塌了 对面的人回不来", "zh", "infrastructure"),
        ("村里好几个人发烧咳嗽 一家传一家", "zh", "public_health"),
        ("水井里的水变黄了 喝了以后好几个人拉肚子", "zh", "public_health"),
        ("ཁྱིམ་ཚང་འདིར་མེ་ཤོར་སོང་། མགྱོགས་པོ་ཤོག", "bo", "safety"),
        ("ཆུ་ལོག་བྱུང་ནས་སྦྲ་ནག་ཆུས་ཁྱེར་སོང་།", "bo", "disaster"),  # fused particle: ཆུས = ཆུ + ས
        ("扎西家的 ལུག་ར 着火了", "zh", "safety"),  # mixed script
        ("ཁ་བ 下得很大 路封了 羊都在山上下不来", "zh", "disaster"),
    ],
)
def test_plain_emergencies_in_both_languages(clf, text, lang, category):
    result = clf.classify(text, lang)
    assert result.urgency == "urgent"
    assert result.category == category
    assert any(not c.negated and c.target == "urgent" for c in result.cues)


def test_spaces_inside_words_do_not_hide_cues(clf):
    assert urgency(clf, "羊 圈 着 火 了") == "urgent"


def test_priority_level_for_slow_harm(clf):
    assert urgency(clf, "停电三天了 什么时候来电") == "priority"
    assert urgency(clf, "冬天快到了 家里没有吃的了 煤也烧完了") == "priority"
    assert urgency(clf, "想问一下身份证怎么补办") == "general"


@pytest.mark.parametrize(
    "text",
    [
        "二社那边有人喊帐篷着火了 我骑马过去看了 没着火 是在烧牛粪 大家放心",
        "群里说山上冒黑烟 我们去看了 不是着火 是有人在烧荒",
    ],
)
def test_a_danger_the_report_denies_later_is_an_all_clear(clf, text):
    """Hearsay corrected later ("有人说着火了 … 没着火") is an all-clear: the first mention must not page the
    centre. The category stays what the report is about, and the "why" shows the denial."""
    from workflows.triage import default_classifier

    result = clf.classify(text, "zh")
    assert result.urgency != "urgent" and result.category == "safety"
    assert any(c.negated and c.target == "urgent" and c.decides == "urgency" for c in result.cues)
    # the premise: without the denial the first mention pages the centre
    assert default_classifier({"learned": False, "denial_scope": 0}).classify(text, "zh").urgency == "urgent"


@pytest.mark.parametrize(
    "text",
    [
        "房顶塌了一角 还好没砸到人 剩下的梁也在响 老阿妈还在里面 叫不出来",  # one harm denied, danger goes on
        "没着火 但是冒黑烟了 越来越大 快来人",  # the denial comes first: the news is after it
    ],
)
def test_a_denial_that_is_not_the_last_word_on_danger_denies_nothing(clf, text):
    assert urgency(clf, text) == "urgent"


@pytest.mark.parametrize("text", ["帐篷着火了 火很大 快来人 还好没人受伤", "牛棚着火了 快点来人 人都没事"])
def test_an_all_clear_about_people_does_not_end_a_danger_that_is_still_live(clf, text):
    """Nobody is hurt *yet*: a call for help or "it goes on" between the danger and the all-clear keeps it live
    (the all-clear used to cancel every cue 14 units before it)."""
    from workflows.triage import default_classifier

    assert default_classifier({"learned": False}).classify(text, "zh").urgency == "urgent"


def test_an_all_clear_after_a_danger_that_is_over_still_ends_it(clf):
    assert urgency(clf, "帐篷着火了 已经扑灭了 没人受伤") != "urgent"
