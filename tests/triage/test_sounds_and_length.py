"""Sound-alike cues in transcripts (sounds.py), and the cost of long reports (matcher/rules are linear-ish;
longer than MAX_CHARS is read at both ends). Speed itself is measured by benchmarks/triage.py, not here."""

from __future__ import annotations

import pytest

from workflows.triage import default_classifier
from workflows.triage.rules import MAX_CHARS, TRUNCATED_NOTE
from workflows.triage.sounds import keys, merge


@pytest.fixture(scope="module")
def clf():
    return default_classifier({"learned": False})


def test_pinyin_mergers():
    assert merge("zhang") == merge("zang") and merge("shi") == merge("si") and merge("chu") == merge("cu")
    assert merge("jing") == merge("jin") and merge("feng") == merge("fen")
    assert merge("juan") == merge("jian")  # 羊圈 heard as 洋剑
    assert merge("lan") != merge("nan")  # no loose one-letter rule
    assert keys("圈") & keys("剑") and not keys("a")


@pytest.mark.parametrize(
    ("heard", "term"),
    [("帝正了，房子塌了，有人压在下面", "地震"), ("她洋水破了，生不下来", "羊水破")],
)
def test_a_misheard_danger_word_still_fires_in_a_transcript(clf, heard, term):
    speech = clf.classify(heard, "zh", source="speech")
    typed = clf.classify(heard, "zh")
    sound = [c for c in speech.cues if c.note == f"sounds like {term}"]
    assert sound and not any(c.note.startswith("sounds like") for c in typed.cues)
    assert {"urgent": 0, "priority": 1, "general": 2}[speech.urgency] <= {
        "urgent": 0,
        "priority": 1,
        "general": 2,
    }[typed.urgency]


def test_a_sound_alike_weighs_less_than_the_word_itself(clf):
    exact = clf.classify("地震了", "zh", source="speech")
    heard = clf.classify("帝正了", "zh", source="speech")
    assert heard.urgent_score < exact.urgent_score
    assert heard.urgent_score == pytest.approx(exact.urgent_score * clf.settings.sound_factor)


def test_function_words_never_sound_like_a_cue(clf):
    """是了 (shi le) merges with 死了 (si le): a function character is not a misheard keyword."""
    r = clf.classify("就是了，我们社都挺好的", "zh", source="speech")
    assert not any(c.note.startswith("sounds like") for c in r.cues)


@pytest.mark.parametrize("text", ["谁看见了说一声", "牛羊刨不到草 饲草只够三天了", "河面上的冰开始化了"])
def test_a_rare_reading_of_a_heard_character_is_no_sound_alike(clf, text):
    """The speech model writes what it heard in the character's usual reading: 声 (sheng, rarely qing) does not
    make 一声 "sound like" 疫情, nor 见 (jian, rarely xian) 见了 like 掀了."""
    r = clf.classify(text, "zh", source="speech")
    heard_as = {c.note.removeprefix("sounds like ") for c in r.cues if c.note.startswith("sounds like")}
    assert (
        not heard_as & {"疫情", "掀了", "失火", "报复"} and r.urgency != "urgent"
    )  # 一声 ≈ 医生 is a real one


def test_typed_text_keeps_exact_matching(clf):
    assert not any(c.note.startswith("sounds like") for c in clf.classify("帝正了", "zh").cues)


def test_a_long_report_is_read_at_both_ends_and_says_so(clf):
    filler = "今天天气不错，牛羊都在山上吃草。" * 1000
    assert len(filler) > MAX_CHARS
    for text in ("后山滑坡了，有一户人家在下面。" + filler, filler + "后山滑坡了，有一户人家在下面。"):
        r = clf.classify(text, "zh")
        assert r.urgency == "urgent"
        assert any(c.note.startswith(TRUNCATED_NOTE) for c in r.cues)


def test_a_megabyte_is_bounded(clf):
    """1 MB of cue-dense text used to keep a core at 100 % for minutes; now two MAX_CHARS windows are read."""
    r = clf.classify("着火了快来人" * 180_000, "zh", source="speech")
    assert r.urgency == "urgent"


def test_overlap_resolution_compares_only_neighbours():
    """resolve_overlaps used to compare every match with every other; the result is the same."""
    from workflows.triage.matcher import Match, resolve_overlaps

    matches = [Match(i, i + 2, "ab", "cue") for i in range(0, 20000, 3)] + [Match(5, 9, "xxxx", "trap")]
    kept = resolve_overlaps(matches)
    assert len(kept) == len(matches) - 1  # only the cue at 6..8, inside the trap, is hidden
