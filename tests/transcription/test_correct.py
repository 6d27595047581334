"""Pinyin post-correction (transcription.correct): exact homophones of a listed term are put back, and the
limits keep ordinary words as they were heard."""

from __future__ import annotations

from transcription.base import Segment, Transcript
from transcription.correct import correct, corrected, is_ordinary_word

LEXICON = ("二社", "羊圈", "牦牛", "社保卡", "养老金", "养老院", "低保")
NAMES = ("卓玛", "德吉", "尼玛", "扎西")


def test_exact_homophones_of_listed_words_are_put_back():
    assert correct("二射的牛跑了", LEXICON) == "二社的牛跑了"
    assert correct("家里的茅牛病了", LEXICON) == "家里的牦牛病了"
    assert correct("设宝卡丢了", LEXICON) == "社保卡丢了"


def test_an_ordinary_word_is_never_rewritten_into_a_listed_one():
    # the loose version's failure: 养老院 (yang lao yuan) is not 养老金 (yang lao jin), and both are words
    assert correct("把老人送到养老院去", (*LEXICON, *NAMES)) == "把老人送到养老院去"
    assert correct("养老金没发下来", ("养老院",)) == "养老金没发下来"
    # 及时 (ji shi) is a word; 你妈 holds a function character: neither becomes a name
    assert is_ordinary_word("及时")
    assert correct("来得及时", ("吉时",)) == "来得及时"
    assert correct("你妈在家吗", NAMES) == "你妈在家吗"


def test_function_characters_and_whole_swaps_are_left_alone():
    assert correct("来的及时", ("德吉",)) == "来的及时"  # 的及 sounds like 德吉 but 的 is grammar
    # every character different: no swap of a whole stretch for a name; one kept character is enough
    assert correct("渣稀来了", ("扎西",)) == "渣稀来了"
    assert correct("扎稀来了", ("扎西",)) == "扎西来了"


def test_two_terms_that_sound_alike_leave_the_text_as_heard():
    assert correct("志玛来了", ("智玛", "治玛")) == "志玛来了"


def test_a_term_already_right_is_kept_whole():
    # 二社 is right; the shorter 社保 inside "二社保卡" context must not rewrite part of a correct term
    assert correct("二社保管员", ("二社", "设保")) == "二社保管员"
    assert correct("", LEXICON) == ""
    assert correct("二射", ()) == "二射"


def test_corrected_keeps_text_and_segments_in_step():
    t = Transcript(
        text="二射的 茅牛", language="zh", segments=(Segment(0, 1, "二射的"), Segment(1, 2, "茅牛"))
    )
    fixed = corrected(t, LEXICON)
    assert fixed.text == "二社的 牦牛"
    assert [s.text for s in fixed.segments] == ["二社的", "牦牛"]
    same = Transcript(text="你好", language="zh", segments=(Segment(0, 1, "你好"),))
    assert corrected(same, LEXICON) is same
