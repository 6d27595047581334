"""Post-correction: put back a county word or name that Whisper wrote as an exact homophone.

Why: biasing (``transcription.biasing``) makes Whisper *prefer* the reporter's words, but it still writes some of
them with other characters that sound the same (二社 -> 二射, 牦牛 -> 茅牛, 社保卡 -> 设宝卡). Mandarin has so
many homophones that a loose repair does harm: an earlier version matched "sounds a bit like" and turned
养老院 into 养老金. So the limits are tight, and each one is there for a failure:

- the stretch of transcript must have **exactly** the term's toneless pinyin, syllable for syllable (no
  near-misses: 养老院 yang lao yuan is not 养老金 yang lao jin);
- terms of at least two characters, and only one term may match the stretch (two names that sound alike:
  leave it as heard);
- a stretch that is itself an ordinary word is never rewritten: ordinary = in jieba's dictionary of about
  350,000 common words (shipped inside the ``jieba`` package), e.g. 及时, 你妈, 养老院 stay as they are;
- a stretch that holds a function character the term does not (的 了 着 是 在 和 ...) is left alone: "来的及时"
  must not become "来德吉时" because a reporter has a neighbour called 德吉;
- at least one character of the stretch must already be the term's (a two-character name changes by one
  character at most), so a whole phrase is never swapped for a name.

It only runs for Mandarin and only with a bias list; whether it runs at all is the faster-whisper setting
``correct`` (see benchmarks/README.md for what it does on each half of the dev clips).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["FUNCTION_CHARS", "correct", "corrected", "is_ordinary_word", "pinyin_key"]

#: Characters that are almost always grammar, not part of a name (a stretch holding one is left alone).
FUNCTION_CHARS = frozenset("的了着是在和有就也都把给被不没个这那们吗呢吧啊呀我你他她它地得又还很从到跟让")
MIN_TERM_CHARS = 2
MAX_TERM_CHARS = 6

_words: frozenset[str] | None = None
_words_lock = threading.Lock()


def _is_cjk(text: str) -> bool:
    return bool(text) and all("\u4e00" <= ch <= "\u9fff" for ch in text)


@lru_cache(maxsize=65536)
def pinyin_key(text: str) -> tuple[str, ...]:
    """Toneless pinyin syllables of ``text`` (pypinyin picks a polyphone's reading from its phrase table)."""
    from pypinyin import Style, lazy_pinyin

    return tuple(lazy_pinyin(text, style=Style.NORMAL, errors="ignore"))


def _dictionary() -> frozenset[str]:
    """jieba's dictionary words of 2-6 characters (read once from the file the package ships)."""
    global _words
    if _words is None:
        with _words_lock:
            if _words is None:
                import jieba

                path = Path(jieba.__file__).with_name("dict.txt")
                words = set()
                with path.open(encoding="utf-8") as fh:
                    for line in fh:
                        word = line.split(" ", 1)[0]
                        if MIN_TERM_CHARS <= len(word) <= MAX_TERM_CHARS:
                            words.add(word)
                _words = frozenset(words)
    return _words


def is_ordinary_word(text: str) -> bool:
    """True for a common word of the language (jieba's dictionary), which post-correction never rewrites."""
    return text in _dictionary()


def _index(terms: Iterable[str]) -> dict[tuple[str, ...], set[str]]:
    index: dict[tuple[str, ...], set[str]] = {}
    for term in terms:
        term = term.strip()
        if MIN_TERM_CHARS <= len(term) <= MAX_TERM_CHARS and _is_cjk(term):
            index.setdefault(pinyin_key(term), set()).add(term)
    return index


def correct(text: str, terms: Iterable[str]) -> str:
    """``text`` with each stretch that is an exact toneless-pinyin homophone of one term replaced by the term,
    within the limits in the module docstring. Longest terms first, left to right, no overlaps."""
    if not text:
        return text
    index = _index(terms)
    if not index:
        return text
    term_set = {t for ts in index.values() for t in ts}
    lengths = sorted({len(k) for k in index}, reverse=True)
    out: list[str] = []
    i = 0
    while i < len(text):
        replaced = False
        for n in lengths:
            window = text[i : i + n]
            if len(window) < n or not _is_cjk(window):
                continue
            if window in term_set:  # already right: keep it whole, so no shorter term rewrites part of it
                out.append(window)
                i += n
                replaced = True
                break
            candidates = index.get(pinyin_key(window))
            if not candidates or len(candidates) != 1:
                continue
            (term,) = candidates
            changed = sum(1 for a, b in zip(window, term, strict=True) if a != b)
            if changed >= n:  # at least one character must already be right
                continue
            if any(ch in FUNCTION_CHARS and ch not in term for ch in window):
                continue
            if is_ordinary_word(window):
                continue
            out.append(term)
            i += n
            replaced = True
            break
        if not replaced:
            out.append(text[i])
            i += 1
    return "".join(out)


def corrected(transcript: Any, terms: Iterable[str]) -> Any:
    """A :class:`transcription.base.Transcript` with :func:`correct` applied segment by segment (the text is
    the segments joined again, so both agree)."""
    terms = tuple(terms)
    segments = tuple(replace(seg, text=correct(seg.text, terms)) for seg in transcript.segments)
    if segments == transcript.segments:
        return transcript
    return replace(
        transcript, segments=segments, text=" ".join(s.text.strip() for s in segments if s.text.strip())
    )
