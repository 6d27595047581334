"""Find every lexicon term (cues, traps, context markers) in a report's units, longest match first.

Why longest match with ranks instead of a segmenter: a trap ("火锅", "兽医") must hide the shorter cue
inside it ("火", "医"), a cue must hide a negator inside it ("没气了", "叫不醒" contain 没/不), but a
context marker that *contains* a cue ("没有人受伤" ⊃ "受伤") must not hide it - the marker is what
negates it. Ranks: trap > cue > marker > negator.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from workflows.triage.lexicon import LANGS, Group, Lexicon
from workflows.triage.text import FUSED_PARTICLES, is_open_syllable, is_tibetan, split_syllables, zh_string

RANKS = {"trap": 3, "cue": 2, "negation": 0, "post_negation": 0}
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
        self.zh: dict[str, list[tuple[str, str, Group | None]]] = defaultdict(list)
        self.zh_regex: list[tuple[re.Pattern[str], str, str, Group | None]] = []
        self.bo: dict[str, list[tuple[tuple[str, ...], str, str, Group | None]]] = defaultdict(list)
        self.bo_single: dict[str, list[tuple[tuple[str, ...], str, str, Group | None]]] = defaultdict(list)

    def add(self, term: str, lang: str, kind: str, group: Group | None = None) -> None:
        if lang == "zh":
            if term.startswith("re:"):
                self.zh_regex.append((re.compile(term[3:]), term[3:], kind, group))
            elif term:
                self.zh[term[0]].append((term, kind, group))
        else:
            syls = split_syllables(term)
            if syls:
                self.bo[syls[0]].append((syls, term, kind, group))
                if len(syls) == 1 and is_open_syllable(syls[0]):
                    self.bo_single[syls[0]].append((syls, term, kind, group))

    def find(self, units: list[str], flat: str) -> list[Match]:
        found: list[Match] = []
        for i, ch in enumerate(flat):
            for term, kind, group in self.zh.get(ch, ()):
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
    return last and is_open_syllable(syl) and any(unit == syl + p for p in FUSED_PARTICLES)


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

    def find(self, units: list[str]) -> list[Match]:
        raw = self.index.find(units, zh_string(units))
        return sorted(resolve_overlaps(raw), key=lambda m: (m.start, m.end))


def resolve_overlaps(matches: list[Match]) -> list[Match]:
    """Drop a match hidden by another (see module docstring)."""
    keep: list[Match] = []
    for m in matches:
        hidden = False
        for o in matches:
            if o is m:
                continue
            inside = o.start <= m.start and m.end <= o.end
            # a trap hides everything inside it, except a cue spelled exactly like it
            in_trap = (
                inside
                and o.kind == "trap"
                and m.kind != "trap"
                and not (m.kind == "cue" and m.length == o.length)
            )
            longer = inside and o.length > m.length and o.rank >= m.rank
            # a marker/negator that cuts into a cue ("醒了" in "叫不醒了") is not a marker
            cut = (
                m.rank < RANKS["cue"]
                and o.kind == "cue"
                and o.start < m.end
                and m.start < o.end
                and not (m.start <= o.start and o.end <= m.end)
            )
            if in_trap or longer or cut:
                hidden = True
                break
        if not hidden:
            keep.append(m)
    return keep
