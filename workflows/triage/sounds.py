"""Sound-alike cues in speech transcripts: a lexicon term also matches a span that *sounds* like it.

Why: the speech model often replaces the one keyword of a report by a homophone (羊圈 heard as 洋剑, 地震
as 帝正, 羊水 as 洋水), and the case dropped to priority. When the text comes from speech
(``classify(..., source="speech")``), every Chinese cue of two or more characters is also matched on
toneless pinyin (pypinyin, the well-kept library for it) with the mergers usual in Amdo/Kham Mandarin and in
the speech model's confusions: zh/z, ch/c, sh/s, in/ing, en/eng, and uan/ian (需要 for 洋剑→羊圈). Typed
text keeps exact matching. A sound-alike counts at ``settings.sound_factor`` of its weight and shows in the
"why" as "sounds like 羊圈".

What is not a sound-alike (each measured as a false hit on the labelled transcripts): a span with a
function word where the term has another character (是了 is not 死了), a span with a masked name, and a
span that another lexicon term or trap already explains exactly (the longest-match resolution drops it).
A looser one-letter rule (any initial or final one edit away) produced false hits and is not used. A
transcript's character is read in its usual reading only (the term's reading comes from the lexicon word):
a rare heteronym (声 as qing) is not what the speech model heard.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

from workflows.triage.lexicon import Lexicon
from workflows.triage.matcher import Match
from workflows.triage.model import FUNCTION_CHARS

_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"))
_FINALS = (("uan", "ian"), ("ing", "in"), ("eng", "en"))


def merge(syllable: str) -> str:
    """Toneless pinyin with the regional mergers applied (``shuang`` -> ``suang``, ``jing`` -> ``jin``)."""
    s = syllable.replace("ü", "v").replace("u:", "v")
    for a, b in _INITIALS:
        if s.startswith(a):
            s = b + s[len(a) :]
            break
    if s[:1] in "jqxy" and s[1:2] == "u" and s[1:4] != "uan" and len(s) > 1:
        s = s[0] + "v" + s[2:]  # ju = jü
    for a, b in _FINALS:
        if s.endswith(a):
            s = s[: -len(a)] + b
            break
    return s


@lru_cache(maxsize=8192)
def keys(ch: str) -> frozenset[str]:
    """Every merged reading of one Han character (heteronyms included); empty for anything else."""
    if not ("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"):
        return frozenset()
    from pypinyin import Style, pinyin

    readings = pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")
    return frozenset(merge(r) for r in (readings[0] if readings else ()) if r and r.isascii())


@lru_cache(maxsize=8192)
def primary_keys(ch: str) -> frozenset[str]:
    """The merged *usual* reading of one Han character of a transcript. Why not every heteronym: the speech model
    writes a character for the sound it heard, i.e. in its usual reading; a rare reading (声 as qing, 见 as xian)
    was never heard, and matching it made false alarms (一声 "sounds like" 疫情, 见了 like 掀了)."""
    if not ("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"):
        return frozenset()
    from pypinyin import Style, pinyin

    readings = pinyin(ch, style=Style.NORMAL, heteronym=False, errors="ignore")
    return frozenset(merge(r) for r in (readings[0] if readings else ())[:1] if r and r.isascii())


# The readings a transcript's character may stand for. Measured (rules only, the 2,003 Mandarin labelled rows
# classified as transcripts): every heteronym 120 false alarms / 167 missed, usual reading only 106 / 171; the 4
# "missed" had been caught by spurious sound-alikes (始化 as 失火, 刨不 as 报复, 不知 as 斧子).
transcript_keys = primary_keys


class SoundIndex:
    """The lexicon's Chinese cue terms by the merged pinyin of their first two characters."""

    def __init__(self, lexicon: Lexicon) -> None:
        from pypinyin import Style, lazy_pinyin

        self.pairs: dict[tuple[str, str], list[tuple[tuple[str, ...], str, object]]] = defaultdict(list)
        for group in lexicon.groups:
            for term in group.zh:
                if term.startswith("re:") or len(term) < 2 or not all(keys(ch) for ch in term):
                    continue
                reading = tuple(merge(p) for p in lazy_pinyin(term, style=Style.NORMAL))
                if len(reading) == len(term):
                    self.pairs[reading[:2]].append((reading, term, group))

    def find(self, flat: str, hidden: list[tuple[int, int]]) -> list[Match]:
        """Sound-alike cue matches in ``flat`` (one character per unit) that are not the term itself."""
        masked = set()
        for a, b in hidden:
            masked.update(range(a, b))
        found: list[Match] = []
        n = len(flat)
        readings = [frozenset() if i in masked else transcript_keys(ch) for i, ch in enumerate(flat)]
        pairs = self.pairs
        for i in range(n - 1):
            first, second = readings[i], readings[i + 1]
            if not first or not second:
                continue
            for k1 in first:
                for k2 in second:
                    for reading, term, group in pairs.get((k1, k2), ()):
                        end = i + len(reading)
                        if end > n or flat.startswith(term, i):
                            continue
                        span = flat[i:end]
                        if any(
                            reading[k] not in readings[i + k]
                            or (span[k] != term[k] and span[k] in FUNCTION_CHARS)
                            for k in range(len(reading))
                        ):
                            continue
                        found.append(Match(i, end, span, "cue", group, sounds_like=term))  # type: ignore[arg-type]
        return found
