"""Cut a report into *units*: the positions every cue, negation window and scope is measured in.

Why units and not characters: Chinese is matched by substring, Tibetan by syllable, and a window like
"a negator at most 3 units before the cue" must mean the same thing in both. One unit is one Han
character, Latin letter or digit, or one Tibetan syllable. Sentence ends (。！？ shad །) become the unit
``"|"``, commas ``","``; spaces are dropped (ASR transcripts put them anywhere, even inside words:
"着 火").

Why no botok / jieba: botok downloads its dialect packs from GitHub at run time, which this deployment
cannot do, and Tibetan syllables are delimited in the script itself (tsheg ་), so cues are written as
syllable sequences and matched on syllable boundaries. For Chinese, jieba's segmentation would only
move the trap problem ("火锅" vs "着火") into its dictionary; longest-match over a lexicon that lists
the traps is more transparent and cheaper (measured here: jieba's dictionary load 2.0 s, its cut alone
0.18 ms per report, more than this whole classifier's 0.1 ms).
"""

from __future__ import annotations

import unicodedata

TSHEG = "\u0f0b"
_TSHEGS = {"\u0f0b", "\u0f0c"}
_SHADS = {chr(c) for c in range(0x0F0D, 0x0F15)} | {
    "\u0f08",
    "\u0f34",
    "\u0f3a",
    "\u0f3b",
    "\u0f3c",
    "\u0f3d",
}
_SENTENCE_END = set("。！？!?；;…\n\r") | _SHADS
_COMMA = set("，,、：:（）()《》“”\"'‘’~～-—·/\\|")
HARD = "|"
SOFT = ","
TIBETAN_PLACEHOLDER = "\x01"  # stands for a Tibetan syllable in the Chinese matching string


def is_tibetan(ch: str) -> bool:
    return "\u0f00" <= ch <= "\u0fff"


def is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def normalize(text: str) -> str:
    """NFKC (full-width digits/letters), lower case, Tibetan NFC-stable, no control characters."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    if text.replace("\n", "").replace("\r", "").replace("\t", "").isprintable():
        return text  # the common case, without a per-character look-up
    return "".join(ch for ch in text if ch in "\n\r\t" or unicodedata.category(ch)[0] != "C")


def to_units(text: str) -> list[str]:
    """Split normalised text into units (see module docstring). Emoji and other symbols are dropped."""
    return units_and_breaks(text)[0]


def units_and_breaks(text: str) -> tuple[list[str], frozenset[int]]:
    """``to_units`` plus the *breaks*: unit indices ``i`` with a space between unit ``i-1`` and unit ``i``.

    Why breaks are kept apart from the units: cue matching must ignore spaces (an ASR transcript puts them
    inside words, "着 火"), but in typed reports a space is how a herder separates clauses ("他不回来 快来人":
    the 不 belongs to 回来, not to 快来人). Context rules (negation scope) read the breaks of typed text only."""
    units: list[str] = []
    breaks: set[int] = set()
    syllable: list[str] = []
    pending_space = False

    def flush() -> None:
        if syllable:
            units.append("".join(syllable))
            syllable.clear()

    for ch in normalize(text):
        if (
            is_tibetan(ch)
            and ch not in _TSHEGS
            and ch not in _SHADS
            and ch not in "\u0f08\u0f34\u0f3a\u0f3b\u0f3c\u0f3d"
        ):
            if pending_space and not syllable and units and units[-1] not in (HARD, SOFT):
                breaks.add(len(units))
            pending_space = False
            syllable.append(ch)
            continue
        flush()
        if ch in _TSHEGS:
            continue
        if ch.isspace() and ch not in "\n\r":
            pending_space = True
            continue
        if ch in _SENTENCE_END:
            if units and units[-1] != HARD:
                units.append(HARD)
        elif ch in _COMMA:
            if units and units[-1] not in (HARD, SOFT):
                units.append(SOFT)
        elif is_han(ch) or ch.isalnum():
            if pending_space and units and units[-1] not in (HARD, SOFT):
                breaks.add(len(units))
            units.append(ch)
        else:
            continue  # anything else (emoji, symbols) carries no meaning for triage
        pending_space = False
    flush()
    return units, frozenset(breaks)


def zh_string(units: list[str]) -> str:
    """One character per unit, so a substring index *is* a unit index; Tibetan syllables become a
    placeholder that no Chinese cue contains."""
    return "".join(u if len(u) == 1 and not is_tibetan(u[0]) else TIBETAN_PLACEHOLDER for u in units)


def split_syllables(term: str) -> tuple[str, ...]:
    """A Tibetan cue as written in the lexicon ("མེ་ཤོར") -> its syllables."""
    parts = []
    for chunk in normalize(term).replace("\u0f0c", TSHEG).split(TSHEG):
        chunk = "".join(ch for ch in chunk if is_tibetan(ch) and ch not in _SHADS)
        if chunk:
            parts.append(chunk)
    return tuple(parts)


_VOWEL_OR_SUBJOINED = (
    {chr(c) for c in range(0x0F71, 0x0F7E)} | {"\u0f80"} | {chr(c) for c in range(0x0F90, 0x0FBD)}
)
FUSED_PARTICLES = ("ས", "ར", "འི", "འང", "འམ", "འོ")


def is_open_syllable(syl: str) -> bool:
    """True when a case particle can fuse onto the syllable (ཆུ + ས -> ཆུས): it ends in a vowel sign or a
    subjoined letter, or is a single letter. Closed syllables (ལུག) cannot: ལུགས is another word."""
    return len(syl) == 1 or syl[-1] in _VOWEL_OR_SUBJOINED
