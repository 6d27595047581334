"""Each hallucination rule on the strings Whisper really produces, plus script conversion and metrics."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from transcription.base import Segment
from transcription.metrics import cer, edit_distance
from transcription.postprocess import RawSegment, as_raw, clean_segments, join_segments, to_simplified

REPORT = "书记 二社的那个羊圈着火了"


def texts(segments: list[Segment]) -> list[str]:
    return [s.text for s in segments]


def test_to_simplified_converts_script() -> None:
    assert to_simplified("電線老化了，請派人來") == "电线老化了，请派人来"
    assert to_simplified("") == ""


@pytest.mark.parametrize(
    "phrase",
    [
        "字幕由Amara.org社区提供",
        "字幕由 Amara.org 社區提供",
        "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
        "請不吝點贊 訂閱 轉發 打賞支持明鏡與點點欄目",
        "谢谢观看",
        "谢谢大家的收看!",
        "感谢观看",
        "Thanks for watching!",
        "Thank you for watching.",
        "Please subscribe to my channel",
        "中文字幕：",
        "优优独播剧场——YoYo Television Series Exclusive",
        "嗯嗯",
    ],
)
def test_known_hallucinations_dropped(phrase: str) -> None:
    kept, dropped = clean_segments([{"text": REPORT}, {"text": phrase}], prompt=None)
    assert texts(kept) == [REPORT]
    assert dropped == [phrase.strip()]


@pytest.mark.parametrize(
    "real",
    [
        "谢谢书记 牛已经找到了",  # thanks, not a credit
        "河上的木桥塌了一半 对面放牧的人回不来",
        "他看了电视说要订阅报纸",
        "嗯 羊丢了两只",
    ],
)
def test_real_reports_are_kept(real: str) -> None:
    kept, dropped = clean_segments([{"text": real}], prompt=None)
    assert texts(kept) == [real] and dropped == []


def test_consecutive_repeated_lines_dropped() -> None:
    segs = [
        {"text": "快派人来", "start": 0.0, "end": 1.0},
        {"text": "快派人来。", "start": 1.0, "end": 2.0},
        {"text": "烟很大", "start": 2.0, "end": 3.0},
        {"text": "快派人来", "start": 3.0, "end": 4.0},  # not consecutive: kept
    ]
    kept, dropped = clean_segments(segs, prompt=None)
    assert texts(kept) == ["快派人来", "烟很大", "快派人来"]
    assert dropped == ["快派人来。"]
    assert [s.start for s in kept] == [0.0, 2.0, 3.0]


def test_looping_phrase_within_line_collapsed() -> None:
    loop = "快派人来快派人来快派人来快派人来快派人来"
    kept, dropped = clean_segments([{"text": loop}], prompt=None)
    assert texts(kept) == ["快派人来"]
    assert dropped == [loop]


def test_looping_with_punctuation_and_single_character_loops() -> None:
    kept, dropped = clean_segments(
        [{"text": "羊圈着火了，着火了，着火了，着火了，着火了"}, {"text": "啊啊啊啊啊啊啊啊 牛跑了"}],
        prompt=None,
    )
    assert texts(kept) == ["羊圈着火了", "啊 牛跑了"]
    assert len(dropped) == 2


def test_natural_repetition_is_kept() -> None:
    kept, dropped = clean_segments([{"text": "快快快 救命救命救命"}], prompt=None)
    assert texts(kept) == ["快快快 救命救命救命"] and dropped == []


def test_prompt_echo_dropped_whole_or_cut_from_start() -> None:
    prompt = "以下是牧区联户长的报告。"
    kept, dropped = clean_segments(
        [
            {"text": "以下是牧区联户长的报告"},
            {"text": "牧区联户长的报告"},  # a long piece of the prompt
            {"text": "以下是牧区联户长的报告。牛病了三头"},
        ],
        prompt=prompt,
    )
    assert texts(kept) == ["牛病了三头"]
    assert dropped == ["以下是牧区联户长的报告", "牧区联户长的报告", "以下是牧区联户长的报告。"]


def test_short_prompt_words_in_speech_are_not_echoes() -> None:
    kept, _ = clean_segments([{"text": "羊圈"}, {"text": "牦牛 草场"}], prompt="牦牛 草场 羊圈 联户长 书记")
    assert texts(kept) == ["羊圈", "牦牛 草场"]


def test_no_speech_and_low_logprob_dropped() -> None:
    segs = [
        {"text": REPORT, "no_speech_prob": 0.1, "avg_logprob": -0.3},
        {"text": "我们明天再说", "no_speech_prob": 0.8, "avg_logprob": -1.4},  # silence guessed as words
        {"text": "烟很大", "no_speech_prob": 0.8, "avg_logprob": -0.4},  # confident text: kept
        {"text": "快派人来", "no_speech_prob": 0.3, "avg_logprob": -1.6},  # unsure but speech: kept
    ]
    kept, dropped = clean_segments(segs, prompt=None)
    assert texts(kept) == [REPORT, "烟很大", "快派人来"]
    assert dropped == ["我们明天再说"]
    kept, _ = clean_segments(segs, prompt=None, no_speech_threshold=0.9)
    assert len(kept) == 4


def test_empty_and_whitespace_segments_skipped_silently() -> None:
    kept, dropped = clean_segments([{"text": "  "}, {"text": ""}, {"text": " 烟很大 "}], prompt=None)
    assert texts(kept) == ["烟很大"] and dropped == []


def test_input_shapes() -> None:
    @dataclass
    class FW:  # the attribute shape of faster_whisper.transcribe.Segment
        text: str
        start: float
        end: float
        no_speech_prob: float
        avg_logprob: float

    seg = as_raw(FW(" 烟很大", 1.0, 2.0, 0.1, -0.2))
    assert seg == RawSegment(" 烟很大", 1.0, 2.0, 0.1, -0.2)
    assert as_raw({"text": "x"}) == RawSegment("x")
    assert as_raw(seg) is seg
    with pytest.raises(TypeError, match="no 'text'"):
        as_raw({"start": 1.0})


def test_join_segments() -> None:
    segs = [Segment(0, 1, "书记"), Segment(1, 2, " 羊圈着火了 "), Segment(2, 3, "")]
    assert join_segments(segs) == "书记 羊圈着火了"
    assert join_segments([]) == ""


def test_cer() -> None:
    assert edit_distance("羊圈着火了", "洋剑着火了") == 2
    assert edit_distance("", "abc") == 3
    assert cer("书记 二社的羊圈着火了", "书记，二社的羊圈著火了。") == pytest.approx(1 / 10)
    assert cer("烟很大", "") == 1.0
    assert cer("", "") == 0.0
    assert cer("", "谢谢观看") == 1.0
    assert cer("电线老化", "電線老化") == 0.0  # script differences are not errors


def test_particle_zhu_becomes_zhe_but_written_words_keep_zhu() -> None:
    """Whisper writes Traditional 著 for the particle; triage needs 着火, not 著火."""
    from transcription.postprocess import to_simplified

    assert to_simplified("家裡著火了 快來人") == "家里着火了 快来人"
    assert to_simplified("老人在家等著") == "老人在家等着"
    assert to_simplified("著名的寺院 他寫的著作 效果顯著 一本名著") == "著名的寺院 他写的著作 效果显著 一本名著"
