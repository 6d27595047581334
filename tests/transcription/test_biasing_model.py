"""Biasing with the real packaged model on a real clip: the hints fit Whisper's budget with the model's own
tokenizer, and the reporter's words come out right where the unbiased model wrote homophones."""

from __future__ import annotations

import pytest

from tests.transcription.conftest import DEV_CLIPS, EDGE, clip_bytes
from transcription.backends.faster_whisper import BIAS_LAYOUTS, FasterWhisperTranscriber
from transcription.biasing import DEFAULT_LEXICON, PROMPT_TOKEN_BUDGET, Bias, load_lexicon
from transcription.metrics import cer

pytestmark = pytest.mark.slow

# a liaison worker's nearest names as workflows.speech_context orders them (sample county, P1111), padded with
# many more households so the budget has to drop the farthest
NAMES = (
    "仁青",
    "曲珍",
    "昂秀",
    "加措",
    "索措",
    "多卡村第一网格",
    "多卡村",
    "多卡",
    "扎西乡",
    "卓玛",
    "王建国",
    *(f"才让{chr(0x4E00 + i)}" for i in range(200)),
)


@pytest.mark.parametrize("layout", BIAS_LAYOUTS)
def test_hints_fit_the_token_budget_nearest_first(
    zh_transcriber: FasterWhisperTranscriber, layout: str
) -> None:
    bias = Bias(names=NAMES, lexicon=load_lexicon(DEFAULT_LEXICON))
    zh_transcriber.bias_layout = layout
    try:
        prompt, hotwords = zh_transcriber.prompts(bias)
    finally:
        zh_transcriber.bias_layout = "hotwords"
    model = zh_transcriber._get_model()
    count = zh_transcriber._count_tokens(model)
    used = sum(count(" " + text) for text in (prompt, hotwords) if text)
    assert 150 < used <= PROMPT_TOKEN_BUDGET  # filled, never over (the rest of the 448 is for the answer)
    given = " ".join(t for t in (hotwords, prompt) if t).split()
    first = bias.lexicon[0] if layout == "lexicon-first" else "仁青"
    assert first in given  # the front of the list (the nearest name, or the first county word) always survives
    assert NAMES[-1] not in given  # the farthest is dropped whole, never cut
    assert all(term in set(NAMES) | set(bias.lexicon) for term in given)


def test_bias_puts_back_the_reporters_words(zh_transcriber: FasterWhisperTranscriber) -> None:
    row = next(r for r in DEV_CLIPS if r["file"] == "zh/000.ogg")  # 书记 二社的那个羊圈着火了 烟很大 快派人来
    plain = zh_transcriber.transcribe(clip_bytes(row), "zh")
    bias = Bias(names=NAMES[:11], lexicon=load_lexicon(DEFAULT_LEXICON))
    biased = zh_transcriber.transcribe(clip_bytes(row), "zh", bias=bias)
    assert "二社" not in plain.text  # Whisper base alone hears 二射
    assert "二社" in biased.text, biased.text
    assert cer(row["text"], biased.text) < cer(row["text"], plain.text)
    # no hint is read back as speech
    assert not set(biased.text.replace(" ", "")) >= set("仁青曲珍昂秀")
    assert "多卡村第一网格" not in biased.text


def test_bias_on_silence_invents_nothing(zh_transcriber: FasterWhisperTranscriber) -> None:
    bias = Bias(names=NAMES[:11], lexicon=load_lexicon(DEFAULT_LEXICON))
    for kind in ("silence", "noise"):
        assert zh_transcriber.transcribe(clip_bytes(EDGE[kind]), "zh", bias=bias).text == ""
