"""Apply the operator's ``[triage]`` config table on top of the shipped lexicon.

Why a merge and not a replacement: a county that adds a category ("wildlife" for snow-leopard
attacks) or a local place-name trap should not have to copy ~1000 cues and miss every later fix to
them. Every problem is reported as ``TriageConfigError("triage.<key>: <problem>")`` so the operator
knows which line to fix.

```toml
[triage]
urgent_threshold = 2.5                  # any key of the lexicon's [settings]
lexicon = "/etc/lianhu/lexicon.toml"     # optional: replace the shipped lexicon file
learned = true                          # rules+model blend (model.npz); false = rules only, or a model path

[triage.categories.wildlife]            # new (or existing) category with its own cues
zh = ["雪豹", "棕熊进村"]
bo = ["གཟིག"]
weight = 2.5                            # default 2.0
urgent = 3.0                            # default 0: these cues alone do not make a case urgent

[triage.groups.fire]                    # change a shipped group: numbers replace, term lists extend
urgent = 3.5
zh = ["烧起来啦"]

[triage.traps]                          # words that must never count as cues ("火锅店")
zh = ["火焰山"]

[triage.markers]                        # extra context words, <kind>_<lang>
past_zh = ["大前年"]
```
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from workflows.triage.lexicon import (
    LANGS,
    SETTING_TYPES,
    Group,
    Lexicon,
    TriageConfigError,
    apply_settings,
    load_lexicon,
    parse_lang_lists,
    parse_markers,
    update_group,
)

TOP_KEYS = {"lexicon", "categories", "groups", "traps", "markers", "learned", *SETTING_TYPES}


def build_lexicon(config: dict[str, Any] | None) -> Lexicon:
    """The lexicon the classifier uses for this ``[triage]`` table (``None`` or ``{}``: the shipped one)."""
    config = config or {}
    if not isinstance(config, dict):
        raise TriageConfigError(f"triage: must be a table, got {type(config).__name__}")
    unknown = sorted(set(config) - TOP_KEYS)
    if unknown:
        raise TriageConfigError(f"triage.{unknown[0]}: unknown key (known: {', '.join(sorted(TOP_KEYS))})")
    lexicon_path = config.get("lexicon")
    if lexicon_path is not None and not isinstance(lexicon_path, str):
        raise TriageConfigError("triage.lexicon: must be a file path")
    lexicon = load_lexicon(lexicon_path)

    settings = apply_settings(
        lexicon.settings, {k: v for k, v in config.items() if k in SETTING_TYPES}, "triage"
    )
    groups = list(lexicon.groups)
    categories = list(lexicon.categories)

    raw_categories = config.get("categories", {})
    if not isinstance(raw_categories, dict):
        raise TriageConfigError("triage.categories: must be a table of category tables")
    for name, raw in raw_categories.items():
        key = f"triage.categories.{name}"
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise TriageConfigError(
                f"{key}: a category name is lower case letters, digits and _ (like 'public_health')"
            )
        if not isinstance(raw, dict):
            raise TriageConfigError(f"{key}: must be a table with zh/bo cue lists")
        if not raw.get("zh") and not raw.get("bo"):
            raise TriageConfigError(f"{key}: needs at least one cue in zh or bo")
        if "category" in raw:
            raise TriageConfigError(f"{key}.category: not allowed here (the table name is the category)")
        group = update_group(Group(name=f"category:{name}", category=name, weight=2.0), raw, key)
        if group.category not in categories:
            categories.append(name)
        groups.append(group)

    raw_groups = config.get("groups", {})
    if not isinstance(raw_groups, dict):
        raise TriageConfigError("triage.groups: must be a table of group tables")
    for name, raw in raw_groups.items():
        key = f"triage.groups.{name}"
        index = next((i for i, g in enumerate(groups) if g.name == name), None)
        if index is None:
            if not isinstance(raw, dict) or not (raw.get("zh") or raw.get("bo")):
                raise TriageConfigError(f"{key}: a new group needs zh or bo cues")
            group = update_group(Group(name=name), raw, key)
            if group.weight == 0 and group.urgent == 0 and group.priority == 0:
                raise TriageConfigError(
                    f"{key}: a new group needs a weight (with a category), urgent or priority"
                )
            groups.append(group)
        else:
            group = update_group(groups[index], raw, key, extend_terms=True)
            groups[index] = group
        if group.category and group.category not in categories:
            categories.append(group.category)

    traps = dict(lexicon.traps)
    if "traps" in config:
        extra = parse_lang_lists(config["traps"], "triage.traps")
        traps = {lang: traps.get(lang, ()) + extra[lang] for lang in LANGS}

    extra_markers = parse_markers(config.get("markers", {}), "triage.markers")  # lists extend the lexicon's
    markers = {
        kind: {lang: terms + extra_markers[kind][lang] for lang, terms in langs.items()}
        for kind, langs in lexicon.markers.items()
    }

    return replace(
        lexicon,
        settings=settings,
        groups=tuple(groups),
        traps=traps,
        markers=markers,
        categories=tuple(categories),
    )
