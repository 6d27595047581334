"""Clean Whisper output before it becomes a report: Simplified script, no hallucinations, no echoes.

Why: Whisper was trained on subtitled video, so on silence, noise or the tail of a clip it "hears" subtitle
credits ("字幕由Amara.org社区提供"), channel plugs ("请不吝点赞 订阅 转发 打赏支持明镜与点点栏目"),
"谢谢观看", loops of the same phrase, or the initial prompt read back. In Lianhu a transcript becomes a case that
an official must act on, so an invented sentence is worse than an empty one (empty goes to human review).
Every backend feeds its segments through :func:`clean_segments`; what is dropped is returned so it can be
recorded on the Transcript (nothing is silently lost).

Segments may come from faster-whisper (objects with attributes), openai-whisper (dicts) or anything else with
the fields of :class:`RawSegment`; :func:`as_raw` accepts all of them.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from transcription.base import Segment

__all__ = [
    "HALLUCINATION_PATTERNS",
    "RawSegment",
    "as_raw",
    "clean_segments",
    "join_segments",
    "normalize_for_match",
    "opencc_t2s",
    "to_simplified",
]


@dataclass(frozen=True)
class RawSegment:
    """The input shape every backend can produce. Probabilities default to "confident speech"."""

    text: str
    start: float = 0.0
    end: float = 0.0
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0


def as_raw(segment: Any) -> RawSegment:
    """Accept a RawSegment, a mapping (openai-whisper) or an object with attributes (faster-whisper)."""
    if isinstance(segment, RawSegment):
        return segment
    get = (
        segment.get
        if isinstance(segment, Mapping)
        else (lambda key, default=None: getattr(segment, key, default))
    )
    text = get("text", None)
    if text is None:
        raise TypeError(f"segment has no 'text': {segment!r}")
    return RawSegment(
        text=str(text),
        start=float(get("start", 0.0) or 0.0),
        end=float(get("end", 0.0) or 0.0),
        no_speech_prob=float(get("no_speech_prob", 0.0) or 0.0),
        avg_logprob=float(get("avg_logprob", 0.0) or 0.0),
    )


# --- Traditional -> Simplified -------------------------------------------------------------------------------

_converter = None
_converter_lock = threading.Lock()


def opencc_t2s(text: str) -> str:
    """Plain OpenCC ``t2s`` (Traditional → Simplified), nothing else. Metrics use this one so CER stays
    comparable with the dev set's published baseline, which applies no 著/着 normalisation."""
    global _converter
    if not text:
        return text
    with _converter_lock:  # the C++ converter is created once; guarding calls costs nothing at our volume
        if _converter is None:
            import opencc

            _converter = opencc.OpenCC("t2s")
        return _converter.convert(text)


def to_simplified(text: str) -> str:
    """Simplified text for people and for triage: OpenCC ``t2s``, then the particle 著 → 着.

    Whisper often writes Mandarin in Traditional script, where 著 is both the particle/verb (着火, 等着) and
    "to write / notable" (著作, 著名). OpenCC ``t2s`` keeps every 著 because 著 is also a valid Simplified
    character. In a Simplified transcript of colloquial speech, though, 著 is almost always the particle, and it
    matters: "家里著火了" must read "家里着火了" or triage sees no fire. So every 著 becomes 着 except inside the
    few words where Simplified writes 著 (``_ZHU_WORDS``).
    """
    simplified = opencc_t2s(text)
    return _ZHU_PARTICLE.sub("着", simplified) if "著" in simplified else simplified


# Words where Simplified Chinese keeps 著 ("to write", "notable", "indigenous"); elsewhere 著 is the particle 着.
_ZHU_WORDS = ("著名", "著作", "著称", "著述", "著者", "著录", "显著", "卓著", "昭著", "名著", "巨著", "原著", "编著",
              "论著", "专著", "合著", "遗著", "译著", "新著", "土著")
_ZHU_PARTICLE = re.compile(
    "著(?!" + "|".join(w[1] for w in _ZHU_WORDS if w[0] == "著") + ")"  # not 著名, 著作, ...
    + "".join(f"(?<!{w})" for w in _ZHU_WORDS if w[1] == "著")  # not 显著, 名著, ...
)


# --- matching helpers ----------------------------------------------------------------------------------------


def normalize_for_match(text: str) -> str:
    """Simplified, lower-case, without whitespace, punctuation and symbols: the form rules compare on."""
    text = opencc_t2s(unicodedata.normalize("NFKC", text)).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PSZC")


# Whisper's well-known inventions, matched on normalize_for_match() output (so no punctuation/space here).
HALLUCINATION_PATTERNS: tuple[str, ...] = (
    r"字幕由.*提供",
    r"amara\.?org",
    r"字幕(组|制作|翻译|校对|来源)",
    r"^(中文)?字幕(by|：|:)?",
    r"明镜.*点点栏目",
    r"请不吝点赞",
    r"点赞.{0,4}订阅",
    r"(订阅|关注)(我的|本)?频道",
    r"^(谢谢|感谢)(大家|您|你们)?的?(观看|收看|收听)",
    r"^(请)?(欢迎)?(订阅|关注)(并)?(点赞|转发)?$",
    r"优优独播剧场",
    r"yoyotelevisionseriesexclusive",
    r"^(thankyou|thanks)(verymuch|somuch)?forwatching",
    r"^(thankyou|thanks)(verymuch|somuch)?$",
    r"pleasesubscribe",
    r"likeandsubscribe",
    r"subtitlesby",
    r"^(字幕|subtitles)$",
    r"^(嗯|啊|呃|哦|唔)+$",  # filler alone carries no report
)
_HALLUCINATION_RE = re.compile("|".join(f"(?:{p})" for p in HALLUCINATION_PATTERNS))

# A unit repeated back to back: a single character 6+ times, or 2–30 characters 4+ times.
_LOOP_1 = re.compile(r"(\S)\1{5,}")
_LOOP_N = re.compile(r"(\S.{1,29}?)(?:[\s，,。、]*\1){3,}")

NO_SPEECH_THRESHOLD = 0.6
LOGPROB_THRESHOLD = -1.0
_MIN_ECHO_CHARS = 6


def _collapse_loops(text: str) -> tuple[str, str | None]:
    """Replace a looping repeat by one copy; return (new_text, removed_part or None)."""
    original = text
    text = _LOOP_1.sub(lambda m: m.group(1), text)  # single characters first, or "啊啊" counts as a unit
    text = _LOOP_N.sub(lambda m: m.group(1), text)
    if text == original:
        return text, None
    return text, original


def _strip_prompt_echo(norm: str, prompt_norm: str) -> str | None:
    """If the segment repeats the prompt, return what remains after removing it; None if no echo."""
    if not prompt_norm or not norm:
        return None
    if norm == prompt_norm or (len(norm) >= _MIN_ECHO_CHARS and norm in prompt_norm):
        return ""
    if len(prompt_norm) >= _MIN_ECHO_CHARS and norm.startswith(prompt_norm):
        return norm[len(prompt_norm) :]
    return None


def clean_segments(
    segments: Iterable[Any],
    *,
    prompt: str | None = None,
    no_speech_threshold: float = NO_SPEECH_THRESHOLD,
    logprob_threshold: float = LOGPROB_THRESHOLD,
) -> tuple[list[Segment], list[str]]:
    """Drop hallucinated segments; return ``(kept, dropped_texts)``.

    Rules, in order, each on the segment's text as Whisper wrote it (kept text is stripped, not rewritten;
    callers convert script with :func:`to_simplified` first if they want Simplified output):

    1. likely silence: ``no_speech_prob > no_speech_threshold`` and ``avg_logprob < logprob_threshold``
       (the same test Whisper uses internally, applied again because VAD-less backends let these through);
    2. known subtitle/channel phrases (:data:`HALLUCINATION_PATTERNS`);
    3. the initial ``prompt`` read back (whole segment, or a leading copy of it which is cut off);
    4. a line identical to the previous kept line;
    5. a phrase looping inside a line ("快派人来快派人来快派人来快派人来") is collapsed to one copy, the
       original is reported as dropped.
    """
    kept: list[Segment] = []
    dropped: list[str] = []
    prompt_norm = normalize_for_match(prompt) if prompt else ""
    previous_norm: str | None = None
    for item in segments:
        seg = as_raw(item)
        text = seg.text.strip()
        if not text:
            continue
        if seg.no_speech_prob > no_speech_threshold and seg.avg_logprob < logprob_threshold:
            dropped.append(text)
            continue
        norm = normalize_for_match(text)
        if not norm or _HALLUCINATION_RE.search(norm):
            dropped.append(text)
            continue
        rest = _strip_prompt_echo(norm, prompt_norm)
        if rest is not None:
            if not rest:
                dropped.append(text)
                continue
            echo, text = _split_prefix(text, len(prompt_norm))
            dropped.append(echo)
            norm = rest
        if norm == previous_norm:
            dropped.append(text)
            continue
        collapsed, loop = _collapse_loops(text)
        if loop is not None:
            dropped.append(loop)
            text = collapsed.strip()
            norm = normalize_for_match(text)
        kept.append(Segment(start=seg.start, end=seg.end, text=text))
        previous_norm = norm
    return kept, dropped


def _split_prefix(text: str, n_norm_chars: int) -> tuple[str, str]:
    """Split off the first ``n_norm_chars`` matchable characters: ``(prefix, rest)``, punctuation to the prefix."""
    count = 0
    for index, ch in enumerate(text):
        if normalize_for_match(ch):
            count += 1
            if count == n_norm_chars:
                rest = text[index + 1 :]
                stripped = rest.lstrip(" ，,。.、!！?？:：")
                return text[: len(text) - len(stripped)].strip(), stripped
    return text, ""


def join_segments(segments: Iterable[Segment]) -> str:
    """Join segment texts with one space: Whisper's segments are phrases, and a space reads as a pause in
    Chinese and Tibetan alike (the reference transcripts are written the same way)."""
    return " ".join(piece for piece in (seg.text.strip() for seg in segments) if piece)
