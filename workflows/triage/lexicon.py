"""The lexicon as data: cue groups, context markers, traps and thresholds, loaded from TOML.

Why TOML and groups: operators (not programmers) read and extend it; a *group* is one concept ("fire")
with its terms in both languages and what it points to, so adding a synonym is one word in a list and a
weight is set once per concept. The shipped file is ``lexicon.toml`` beside this module; ``config.py``
merges the operator's ``[triage]`` table on top of it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from workflows.triage.base import DEFAULT_CATEGORIES, LIFE_EVENTS


class TriageConfigError(ValueError):
    """A bad lexicon or ``[triage]`` config; the message starts with the offending key."""


MARKER_KINDS = (
    "negation",
    "long_negation",
    "not_negation",
    "post_negation",
    "past",
    "hypothetical",
    "drill",
    "resolved",
    "all_clear",
    "reset",
    "contrast",
)
LANGS = ("zh", "bo")


@dataclass(frozen=True)
class Settings:
    urgent_threshold: float = 2.0
    priority_threshold: float = 1.5
    # Borderline harm: an urgent score at or above this (but below urgent_threshold) gives "priority"
    # (4 h acknowledgement) on its own, so an uncertain emergency cannot wait in "general" for a week.
    harm_priority_threshold: float = 1.0
    # Unused since the NB second opinion was replaced by model.npz (its threshold lives in the model
    # file); kept so existing configs that set it still load.
    learned_threshold: float = 5.0
    min_category_score: float = 0.75
    negation_gap: int = 3
    long_negation_gap: int = 8
    past_scope: int = 8
    hypothetical_scope: int = 10
    all_clear_scope: int = 14
    # units after a cue within which a resolution (…已经灭了) covers it; it used to reach the end of the report
    resolved_scope: int = 30
    # units after a live danger cue within which the report may deny it ("有人说着火了 … 没着火"): 0 = off
    denial_scope: int = 0
    # weight factor of a cue heard only by its sound in a transcript (洋剑 for 羊圈), see sounds.py
    sound_factor: float = 0.75
    negated_category_factor: float = 0.5
    # A category backed only by cancelled cues (a past / resolved / negated emergency) gives way to one
    # with live cues scoring at least this: "去年雪灾死了羊 … 补偿款还没发" is about the money now.
    background_live_min: float = 1.5


SETTING_TYPES: dict[str, type] = {
    "urgent_threshold": float,
    "priority_threshold": float,
    "harm_priority_threshold": float,
    "learned_threshold": float,
    "min_category_score": float,
    "negation_gap": int,
    "long_negation_gap": int,
    "past_scope": int,
    "hypothetical_scope": int,
    "all_clear_scope": int,
    "resolved_scope": int,
    "denial_scope": int,
    "sound_factor": float,
    "negated_category_factor": float,
    "background_live_min": float,
}


@dataclass(frozen=True)
class Group:
    """One concept: its terms and what they point to (see lexicon.toml header)."""

    name: str
    category: str | None = None
    weight: float = 0.0
    urgent: float = 0.0
    priority: float = 0.0
    zh: tuple[str, ...] = ()
    bo: tuple[str, ...] = ()
    needs_any: tuple[str, ...] = ()
    blocked_by: tuple[str, ...] = ()
    unless_any: tuple[str, ...] = ()
    window: int = 10
    life_event: str | None = None  # one of base.LIFE_EVENTS: this group's live cues flag that life event


GROUP_FIELDS = {
    "category": str,
    "life_event": str,
    "weight": float,
    "urgent": float,
    "priority": float,
    "zh": list,
    "bo": list,
    "needs_any": list,
    "blocked_by": list,
    "unless_any": list,
    "window": int,
}


@dataclass(frozen=True)
class Precedence:
    """A known answer when two categories both fire: when any group in ``when`` has a live cue and the
    best category by score is one of ``over``, the category is ``prefer``.

    Why rules and not weights: the sums cannot express *cause*. "暴雪把牛棚压塌了 老人被压在下面" has
    collapse + trapped + stuck (safety) outweighing the storm (disaster), yet the natural event decides
    which desk acts. A rule names the relation once, readably, instead of re-balancing every weight."""

    name: str
    prefer: str
    when: tuple[str, ...]
    over: tuple[str, ...]


PRECEDENCE_FIELDS = {"name", "prefer", "when", "over"}


@dataclass(frozen=True)
class Lexicon:
    settings: Settings
    groups: tuple[Group, ...]
    markers: dict[str, dict[str, tuple[str, ...]]]  # kind -> lang -> terms
    traps: dict[str, tuple[str, ...]]  # lang -> terms
    categories: tuple[str, ...] = field(default=DEFAULT_CATEGORIES)
    precedence: tuple[Precedence, ...] = ()

    def group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)


DEFAULT_LEXICON = "lexicon.toml"


def load_lexicon(path: str | Path | None = None) -> Lexicon:
    """The shipped lexicon (package data), or a replacement file given by path."""
    if path is None:
        raw = resources.files("workflows.triage").joinpath(DEFAULT_LEXICON).read_text(encoding="utf-8")
        where = DEFAULT_LEXICON
    else:
        try:
            raw = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise TriageConfigError(f"triage.lexicon: cannot read {path}: {exc}") from exc
        where = str(path)
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise TriageConfigError(f"triage.lexicon: {where} is not valid TOML: {exc}") from exc
    return parse_lexicon(data, where)


def parse_lexicon(data: dict[str, Any], where: str = "lexicon") -> Lexicon:
    unknown = set(data) - {"settings", "markers", "traps", "group", "precedence"}
    if unknown:
        raise TriageConfigError(f"{where}.{sorted(unknown)[0]}: unknown section")
    settings = apply_settings(Settings(), data.get("settings", {}), f"{where}.settings")
    markers = parse_markers(data.get("markers", {}), f"{where}.markers")
    traps = parse_lang_lists(data.get("traps", {}), f"{where}.traps")
    groups: list[Group] = []
    seen: set[str] = set()
    for i, raw in enumerate(data.get("group", [])):
        key = f"{where}.group[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
            raise TriageConfigError(f"{key}.name: every group needs a name")
        if raw["name"] in seen:
            raise TriageConfigError(f"{key}.name: duplicate group {raw['name']!r}")
        seen.add(raw["name"])
        fields = {k: v for k, v in raw.items() if k != "name"}
        groups.append(update_group(Group(name=raw["name"]), fields, f"{key}({raw['name']})"))
    categories = list(DEFAULT_CATEGORIES)
    for g in groups:
        if g.category and g.category not in categories:
            categories.append(g.category)
    precedence = parse_precedence(data.get("precedence", []), {g.name for g in groups}, f"{where}.precedence")
    return Lexicon(settings, tuple(groups), markers, traps, tuple(categories), precedence)


def parse_precedence(raw: Any, group_names: set[str], key: str) -> tuple[Precedence, ...]:
    """``[[precedence]]`` tables, checked against the groups so a typo fails loudly instead of never firing."""
    if not isinstance(raw, list):
        raise TriageConfigError(f"{key}: must be a list of tables ([[precedence]])")
    rules: list[Precedence] = []
    for i, item in enumerate(raw):
        at = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise TriageConfigError(f"{at}: must be a table")
        unknown = sorted(set(item) - PRECEDENCE_FIELDS)
        if unknown:
            raise TriageConfigError(
                f"{at}.{unknown[0]}: unknown field (known: {', '.join(sorted(PRECEDENCE_FIELDS))})"
            )
        for name in ("name", "prefer"):
            if not isinstance(item.get(name), str) or not item[name]:
                raise TriageConfigError(f"{at}.{name}: must be a non-empty string")
        when = check_terms(item.get("when"), f"{at}.when")
        over = check_terms(item.get("over"), f"{at}.over")
        missing = [g for g in when if g not in group_names]
        if missing:
            raise TriageConfigError(f"{at}.when: unknown group {missing[0]!r}")
        rules.append(Precedence(item["name"], item["prefer"], when, over))
    return tuple(rules)


def apply_settings(settings: Settings, raw: Any, key: str) -> Settings:
    if not isinstance(raw, dict):
        raise TriageConfigError(f"{key}: must be a table")
    changes: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in SETTING_TYPES:
            raise TriageConfigError(f"{key}.{name}: unknown setting (known: {', '.join(SETTING_TYPES)})")
        changes[name] = check_number(value, f"{key}.{name}", SETTING_TYPES[name])
    return replace(settings, **changes)


def check_number(value: Any, key: str, kind: type) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TriageConfigError(f"{key}: must be a number, got {value!r}")
    if value < 0:
        raise TriageConfigError(f"{key}: must be >= 0, got {value!r}")
    if kind is int:
        if int(value) != value:
            raise TriageConfigError(f"{key}: must be a whole number, got {value!r}")
        return int(value)
    return float(value)


def check_terms(value: Any, key: str, lang: str | None = None) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
        raise TriageConfigError(f"{key}: must be a list of non-empty strings")
    for t in value:
        if lang == "zh" and t.startswith("re:"):
            try:
                re.compile(t[3:])
            except re.error as exc:
                raise TriageConfigError(f"{key}: bad regular expression {t!r}: {exc}") from exc
    return tuple(t.strip() for t in value)


def parse_lang_lists(raw: Any, key: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise TriageConfigError(f"{key}: must be a table with zh/bo lists")
    out: dict[str, tuple[str, ...]] = {lang: () for lang in LANGS}
    for lang, terms in raw.items():
        if lang not in LANGS:
            raise TriageConfigError(f"{key}.{lang}: unknown language (use zh or bo)")
        out[lang] = check_terms(terms, f"{key}.{lang}", lang)
    return out


def parse_markers(raw: Any, key: str) -> dict[str, dict[str, tuple[str, ...]]]:
    """``[markers]`` holds ``<kind>_<lang>`` lists, e.g. ``past_zh``."""
    if not isinstance(raw, dict):
        raise TriageConfigError(f"{key}: must be a table")
    out: dict[str, dict[str, tuple[str, ...]]] = {kind: {lang: () for lang in LANGS} for kind in MARKER_KINDS}
    for name, terms in raw.items():
        kind, _, lang = name.rpartition("_")
        if kind not in MARKER_KINDS or lang not in LANGS:
            raise TriageConfigError(
                f"{key}.{name}: unknown marker list (use <kind>_zh / <kind>_bo, kinds: {', '.join(MARKER_KINDS)})"
            )
        out[kind][lang] = check_terms(terms, f"{key}.{name}", lang)
    return out


def update_group(group: Group, raw: Any, key: str, *, extend_terms: bool = False) -> Group:
    """Apply the fields of a TOML table to a group. Term lists replace, or extend when ``extend_terms``."""
    if not isinstance(raw, dict):
        raise TriageConfigError(f"{key}: must be a table")
    changes: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in GROUP_FIELDS:
            raise TriageConfigError(f"{key}.{name}: unknown field (known: {', '.join(GROUP_FIELDS)})")
        kind = GROUP_FIELDS[name]
        if kind is list:
            terms = check_terms(value, f"{key}.{name}", name if name in LANGS else None)
            changes[name] = (getattr(group, name) + terms) if extend_terms else terms
        elif kind is str:
            if not isinstance(value, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", value):
                raise TriageConfigError(
                    f"{key}.{name}: must be a lower-case name like 'public_health', got {value!r}"
                )
            if name == "life_event" and value not in LIFE_EVENTS:
                raise TriageConfigError(
                    f"{key}.{name}: must be one of {', '.join(LIFE_EVENTS)}, got {value!r}"
                )
            changes[name] = value
        else:
            changes[name] = check_number(value, f"{key}.{name}", kind)
    updated = replace(group, **changes)
    if updated.weight > 0 and not updated.category:
        raise TriageConfigError(f"{key}.category: a group with a weight needs a category")
    return updated
