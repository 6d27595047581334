"""The county lexicon file and fitting hints into Whisper's token budget (transcription.biasing), and the
factory's ``lexicon``/``biasing`` settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from transcription.biasing import DEFAULT_LEXICON, Bias, LexiconError, fit_terms, load_lexicon
from transcription.factory import TranscriptionConfigError, build_transcribers


def test_the_shipped_lexicon_loads_in_its_order_without_comments():
    terms = load_lexicon(DEFAULT_LEXICON)
    assert len(terms) >= 60
    assert len(set(terms)) == len(terms)
    assert terms.index("一社") < terms.index("牦牛")  # order is the priority, kept as written
    assert not any(t.startswith("#") for t in terms)
    assert {"羊圈", "冬窝子", "养老院", "养老金", "乡卫生院"} <= set(terms)


def test_lexicon_file_comments_bom_duplicates(tmp_path: Path):
    path = tmp_path / "lex.txt"
    path.write_text("\ufeff# county words\n\n羊圈\n  牦牛  # the animal\n羊圈\n", encoding="utf-8")
    assert load_lexicon(path) == ("羊圈", "牦牛")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("羊圈 牦牛\n", ":1: one term per line"),
        ("好\n" + "很" * 13 + "\n", ":2: "),
    ],
)
def test_a_bad_lexicon_line_is_named_with_file_and_line(tmp_path: Path, content: str, problem: str):
    path = tmp_path / "lex.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LexiconError, match=problem):
        load_lexicon(path)


def test_missing_or_binary_lexicon_file(tmp_path: Path):
    with pytest.raises(LexiconError, match="cannot read"):
        load_lexicon(tmp_path / "nope.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(LexiconError, match="UTF-8"):
        load_lexicon(tmp_path / "bin.txt")


def test_fit_terms_keeps_whole_terms_in_order_within_the_budget():
    count = len  # one "token" per character here; the backends pass the model's tokenizer
    terms = ["扎西", "卓玛", "多卡村第一网格", "拉日", "扎西"]
    assert fit_terms(terms, count, budget=100) == "扎西 卓玛 多卡村第一网格 拉日"
    # " 扎西 卓玛" is 6; the long unit name does not fit in 10, the short one after it still does
    assert fit_terms(terms, count, budget=10) == "扎西 卓玛 拉日"
    assert fit_terms(terms, count, budget=2) == ""


def test_bias_terms_names_first_once():
    bias = Bias(names=("卓玛", "羊圈"), lexicon=("羊圈", "牦牛"))
    assert bias.terms == ("卓玛", "羊圈", "牦牛")
    assert not Bias()


def test_factory_reads_the_lexicon_for_mandarin_only(tmp_path: Path):
    built = build_transcribers({})
    assert built["zh"].biasing is True
    assert built["zh"].bias_names is False  # org-tree names off by default: they cost CER on the dev clips
    assert build_transcribers({"names": True})["zh"].bias_names is True
    assert built["zh"].lexicon == load_lexicon(DEFAULT_LEXICON)
    assert built["bo"].biasing is False and built["bo"].lexicon == ()  # Chinese hints would pull Tibetan off
    own = tmp_path / "county.txt"
    own.write_text("冬窝子\n", encoding="utf-8")
    assert build_transcribers({"lexicon": str(own)})["zh"].lexicon == ("冬窝子",)
    assert build_transcribers({"lexicon": ""})["zh"].lexicon == ()
    assert build_transcribers({"biasing": False})["zh"].biasing is False


def test_factory_names_a_bad_lexicon_setting(tmp_path: Path):
    bad = tmp_path / "county.txt"
    bad.write_text("羊圈 牦牛\n", encoding="utf-8")
    with pytest.raises(TranscriptionConfigError, match=r"^transcription\.lexicon: .*county\.txt:1"):
        build_transcribers({"lexicon": str(bad)})
    with pytest.raises(TranscriptionConfigError, match=r"^transcription\.lexicon: .*cannot read"):
        build_transcribers({"lexicon": str(tmp_path / "missing.txt")})
    with pytest.raises(TranscriptionConfigError, match=r"^transcription\.biasing: expected true or false"):
        build_transcribers({"biasing": "yes"})
    table = {
        "languages": {"zh": {"backend": "faster_whisper", "model": "packaged:whisper-base", "lexicon": 3}}
    }
    with pytest.raises(TranscriptionConfigError, match=r"^transcription\.languages\.zh\.lexicon: "):
        build_transcribers(table)
