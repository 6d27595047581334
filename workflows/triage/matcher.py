"""Find every lexicon term (cues, traps, context markers) in a report's units, longest match first.

Why longest match with ranks instead of a segmenter: a trap ("火锅", "兽医") must hide the shorter cue
inside it ("火", "医"), a cue must hide a negator inside it ("没气了", "叫不醒" contain 没/不), but a
context marker that *contains* a cue ("没有人受伤" ⊃ "受伤") must not hide it - the marker is what
negates it. Ranks: trap = name > cue > marker > negator. A *name* (a person, household or place of the
org tree, or a common Tibetan name; see ``names.py``) hides what is inside it like a trap, so a village
called 火烧沟 is not a fire.

Cost: every resolution step looks only at the matches that can overlap (those starting at most the longest
match's length earlier), so finding is linear in the report's length, not quadratic (a 2,000-character
report used to take seconds).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass

from workflows.triage.lexicon import LANGS, Group, Lexicon
from workflows.triage.text import FUSED_PARTICLES, is_open_syllable, is_tibetan, split_syllables, zh_string

RANKS = {"trap": 3, "name": 3, "cue": 2, "negation": 0, "post_negation": 0}
HIDING = ("trap", "name")
MARKER_RANK = 1
BO_NEGATORS = frozenset({"མ", "མི"})


@dataclass(frozen=True)
class Match:
    start: int  # unit index, inclusive
    end: int  # unit index, exclusive
    text: str
    kind: str  # "cue", "trap" or a marker kind ("negation", "past", ...)
    group: Group | None = None
    inner_negated: bool = False  # Tibetan: a negation particle between the cue's syllables (མེ་མ་ཤོར)
    sounds_like: str = ""  # a transcript's sound-alike of this lexicon term (洋剑 for 羊圈); "" = exact

    @property
    def rank(self) -> int:
        return RANKS.get(self.kind, MARKER_RANK)

    @property
    def length(self) -> int:
        return self.end - self.start


Entry = tuple[str, Group | None]  # (kind, group)


class TermIndex:
    """Terms of both languages indexed by their first character / syllable."""

    def __init__(self) -> None:
        self.zh: dict[str, list[tuple[str, str, Group | None]]] = defaultdict(list)  # by first 2 characters
        self.zh1: dict[str, list[tuple[str, str, Group | None]]] = defaultdict(list)  # one-character terms
        self.zh_regex: list[tuple[re.Pattern[str], str, str, Group | None]] = []
        self.bo: dict[str, list[tuple[tuple[str, ...], str, str, Group | None]]] = defaultdict(list)
        self.bo_single: dict[str, list[tuple[tuple[str, ...], str, str, Group | None]]] = defaultdict(list)

    def add(self, term: str, lang: str, kind: str, group: Group | None = None) -> None:
        if lang == "zh":
            if term.startswith("re:"):
                self.zh_regex.append((re.compile(term[3:]), term[3:], kind, group))
            elif len(term) == 1:
                self.zh1[term].append((term, kind, group))
            elif term:
                self.zh[term[:2]].append((term, kind, group))
        else:
            syls = split_syllables(term)
            if syls:
                self.bo[syls[0]].append((syls, term, kind, group))
                if len(syls) == 1 and is_open_syllable(syls[0]):
                    self.bo_single[syls[0]].append((syls, term, kind, group))

    def find(self, units: list[str], flat: str) -> list[Match]:
        found: list[Match] = []
        zh, zh1 = self.zh, self.zh1
        for i, ch in enumerate(flat):
            for term, kind, group in zh1.get(ch, ()):
                found.append(Match(i, i + 1, term, kind, group))
            for term, kind, group in zh.get(flat[i : i + 2], ()):
                if flat.startswith(term, i):
                    found.append(Match(i, i + len(term), term, kind, group))
        for pattern, _source, kind, group in self.zh_regex:
            for m in pattern.finditer(flat):
                if m.end() > m.start():
                    found.append(Match(m.start(), m.end(), m.group(0), kind, group))
        n = len(units)
        for j, unit in enumerate(units):
            if not is_tibetan(unit[0]):
                continue
            candidates = list(self.bo.get(unit, ()))
            for particle in FUSED_PARTICLES:
                if unit.endswith(particle) and len(unit) > len(particle):
                    candidates.extend(self.bo_single.get(unit[: -len(particle)], ()))
            for syls, term, kind, group in candidates:
                hit = match_syllables(units, j, syls, n)
                if hit is not None:
                    end, negated = hit
                    found.append(Match(j, end, term, kind, group, inner_negated=negated))
        return found


def syllable_matches(unit: str, syl: str, last: bool) -> bool:
    if unit == syl:
        return True
    return last and len(unit) > len(syl) and unit.startswith(syl) and unit[len(syl):] in _PARTICLES and (
        is_open_syllable(syl)
    )


_PARTICLES = frozenset(FUSED_PARTICLES)


def match_syllables(units: list[str], j: int, syls: tuple[str, ...], n: int) -> tuple[int, bool] | None:
    """Match a cue's syllables at unit ``j``; a negation particle may stand before any syllable but the
    first (that is where Tibetan puts it: noun མ་ verb)."""
    k = j
    negated = False
    for idx, syl in enumerate(syls):
        last = idx == len(syls) - 1
        if idx > 0 and k + 1 < n and units[k] in BO_NEGATORS and syllable_matches(units[k + 1], syl, last):
            negated = True
            k += 1
        if k >= n or not syllable_matches(units[k], syl, last):
            return None
        k += 1
    return k, negated


class Matcher:
    """Compiled lexicon: ``find(units)`` returns the matches that survive longest-match resolution."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.index = TermIndex()
        for group in lexicon.groups:
            for lang in LANGS:
                for term in getattr(group, lang):
                    self.index.add(term, lang, "cue", group)
        for lang in LANGS:
            for term in lexicon.traps.get(lang, ()):
                self.index.add(term, lang, "trap")
        for kind, langs in lexicon.markers.items():
            for lang, terms in langs.items():
                for term in terms:
                    self.index.add(term, lang, kind)

    def find(self, units: list[str], extra: list[Match] | None = None, flat: str | None = None) -> list[Match]:
        """Every surviving match; ``extra`` are matches found elsewhere (names, sound-alikes) that take part
        in the same longest-match resolution."""
        raw = self.index.find(units, zh_string(units) if flat is None else flat)
        if extra:
            raw.extend(extra)
        return sorted(resolve_overlaps(raw), key=lambda m: (m.start, m.end))


def _separate(a: Match, b: Match) -> bool:
    return (
        a.group is not None and b.group is not None and bool(a.group.life_event) != bool(b.group.life_event)
    )


def resolve_overlaps(matches: list[Match]) -> list[Match]:
    """Drop a match hidden by another (see module docstring). Words first (traps, names, cues), then the
    context markers against the words that survived: a cue that loses to a longer crossing word ("没有煤" in
    "没有煤气泄漏") must not hide the negator inside it. Only matches that can overlap are compared."""
    words = [m for m in matches if m.rank >= RANKS["cue"]]
    markers = [m for m in matches if m.rank < RANKS["cue"]]
    kept = _resolve(words, words, crossing=True)
    return kept + _resolve(markers, kept + markers, crossing=False)


def _resolve(candidates: list[Match], others: list[Match], *, crossing: bool) -> list[Match]:
    if not candidates:
        return []
    by_start = sorted(others, key=lambda m: m.start)
    starts = [m.start for m in by_start]
    longest = max((m.length for m in by_start), default=0)
    keep: list[Match] = []
    for m in candidates:
        hidden = False
        lo = bisect_left(starts, m.start - longest)
        hi = bisect_left(starts, max(m.end, m.start + 1))
        for o in by_start[lo:hi]:
            if o is m or o.end <= m.start:
                continue
            inside = o.start <= m.start and m.end <= o.end
            # a trap or a name hides everything inside it, except a term spelled exactly like it (a cue or
            # marker that is also a name, "平安", is still that word)
            in_trap = (
                inside
                and o.kind in HIDING
                and m.kind not in HIDING
                and not (m.length == o.length and (m.kind == "cue" or o.kind == "name"))
            )
            # a life-event cue and a category cue are separate readings of the same words: neither hides
            # the other ("过世了" is bereavement and the death life event)
            longer = inside and o.length > m.length and o.rank >= m.rank and not _separate(o, m)
            # two cues that cross ("没有煤" / "煤气泄漏"): the longer word is the reading
            crossed = (
                crossing
                and m.kind == "cue"
                and o.kind == "cue"
                and not inside
                and not (m.start <= o.start and o.end <= m.end)
                and o.length > m.length
                and not _separate(o, m)
            )
            # a marker/negator that cuts into a cue ("醒了" in "叫不醒了") is not a marker
            cut = (
                m.rank < RANKS["cue"]
                and o.kind == "cue"
                and o.start < m.end
                and m.start < o.end
                and not (m.start <= o.start and o.end <= m.end)
            )
            if in_trap or longer or crossed or cut:
                hidden = True
                break
        if not hidden:
            keep.append(m)
    return keep
