"""User-facing text: gettext catalogues per language (``locales/<lang>/*.po``), read with Babel.

Shared by every adapter (the Telegram bot, the web console): it imports nothing of theirs.

Why gettext .po files read by Babel (and not dicts in code or compiled .mo files):
- translators and reviewers (e.g. a Tibetan-speaking county cadre) can edit a .po file with any PO editor or a
  plain text editor, and see every string of one language in one place;
- Babel parses .po directly, so there is no compile step to forget;
- message ids are stable keys (``report.filed``) rather than source sentences: the bot has three equal
  languages and the keys stay put when the Chinese wording is improved;
- one file per area of the product (``core.po``, ``tasks.po``, ``web.po`` ...) inside each language folder,
  all merged at load time (a key defined twice is an error), so features are translated and reviewed apart.

Placeholders use ``str.format`` names (``{case_id}``). A missing translation falls back to Simplified Chinese
(the default UI language), then to the key itself, so a gap in a catalogue shows up as a readable string rather
than a crash; ``tests/bot/test_units.py`` checks that every catalogue has every key with the same placeholders.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).with_name("locales")
DEFAULT_LANGUAGE = "zh"
UI_LANGUAGES = ("zh", "bo", "en")
SPEECH_LANGUAGES = ("zh", "bo")
#: How each language names itself on the /lang buttons (never translated).
LANGUAGE_NAMES = {"zh": "中文", "bo": "བོད་ཡིག", "en": "English"}


@cache
def catalogue(lang: str) -> dict[str, str]:
    """All translated strings of one language, keyed by message id (empty translations are left out).

    Every ``locales/<lang>/*.po`` is read, in name order; a message id defined in two files raises, so two
    areas can never silently overwrite each other's text."""
    merged: dict[str, str] = {}
    origin: dict[str, str] = {}
    for path in sorted((LOCALES_DIR / lang).glob("*.po")):
        with path.open("rb") as fh:
            cat = read_po(fh)
        for msg in cat:
            if not msg.id:
                continue
            key = str(msg.id)
            if key in origin:
                raise ValueError(f"{path.name}: message id {key!r} is already defined in {origin[key]}")
            origin[key] = path.name
            if msg.string:
                merged[key] = str(msg.string)
    return merged


def normalize(lang: str | None) -> str:
    """Map anything (None, "zh-CN", "bo_CN", unknown) to one of :data:`UI_LANGUAGES`."""
    if not lang:
        return DEFAULT_LANGUAGE
    base = lang.replace("_", "-").split("-")[0].lower()
    return base if base in UI_LANGUAGES else DEFAULT_LANGUAGE


class _Lenient(dict):
    """Format mapping that leaves an unknown placeholder visible instead of raising KeyError."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def t(lang: str | None, key: str, **params: object) -> str:
    """The text for ``key`` in ``lang`` with ``params`` filled in."""
    lang = normalize(lang)
    text = catalogue(lang).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or key
    if not params:
        return text
    try:
        return text.format_map(_Lenient(params))
    except (ValueError, IndexError):  # a broken translation must not take the bot down
        return text


def has(key: str) -> bool:
    """True when the default catalogue knows ``key`` (used to fall back for unknown categories etc.)."""
    return key in catalogue(DEFAULT_LANGUAGE)


def placeholders(text: str) -> set[str]:
    """Names of the ``{placeholders}`` in one message (for catalogue consistency checks)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


#: Labels from config (``[bot] category_labels``): (group, value) -> {lang: text}. They win over the catalogues.
_CONFIGURED: dict[tuple[str, str], dict[str, str]] = {}


def set_configured_labels(group: str, labels: Mapping[str, Mapping[str, str]]) -> None:
    """Replace the configured labels of one group (the bot calls this once at start-up)."""
    for key in [k for k in _CONFIGURED if k[0] == group]:
        del _CONFIGURED[key]
    for value, texts in labels.items():
        if texts:
            _CONFIGURED[(group, value)] = dict(texts)


def label(lang: str | None, group: str, value: str | None) -> str:
    """A vocabulary word (``state``, ``urgency``, ``category``, ``role``, ``speech``): a label from config, else
    the catalogue; unknown values (a category added in config without a label) are shown as they are."""
    if not value:
        return t(lang, "card.nobody")
    configured = _CONFIGURED.get((group, value))
    if configured:
        return configured.get(normalize(lang)) or configured.get(DEFAULT_LANGUAGE) or next(iter(configured.values()))
    key = f"{group}.{value}"
    return t(lang, key) if has(key) else value


def event_text(lang: str | None, kind: str, data: Mapping[str, object] | None, note: str | None = None) -> str:
    """One timeline event in words (``event.<kind>`` filled from the event's data), the same in every adapter."""
    data = data or {}
    params: dict[str, object] = {"note": note or "", "kind": kind}
    if kind in ("assigned", "escalated", "reassigned", "reopened"):
        params["owner"] = data.get("owner_name") or ""
    if kind in ("triaged", "triage_corrected"):
        prefix = "new_" if kind == "triage_corrected" else ""
        params["category"] = label(lang, "category", str(data.get(prefix + "category") or "other"))
        params["urgency"] = label(lang, "urgency", str(data.get(prefix + "urgency") or "general"))
    if kind == "skipped_unreachable":  # who was passed over, and why, in the reader's words
        skipped = data.get("skipped") or []
        params["names"] = "、".join(
            f"{x.get('name')}（{label(lang, 'unreachable', str(x.get('why') or ''))}）"
            for x in skipped if isinstance(x, Mapping) and not x.get("fallback")
        ) or str(data.get("names") or "")
        params["owner"] = data.get("owner_name") or ""
    if kind == "unreachable_stays":
        params["owner"] = data.get("owner_name") or ""
        params["why"] = label(lang, "unreachable", str(data.get("why") or ""))
    key = f"event.{kind}"
    return t(lang, key if has(key) else "event.other", **params).rstrip("：: ")


def plain_label(lang: str | None, group: str, value: str | None) -> str:
    """A category or urgency in the words a herder uses (``plain.<group>.<value>``: 「问政策」 rather than
    政策咨询, 「很急」 rather than 紧急), for what liaison workers read; a label from config still wins, and a
    value without plain words falls back to :func:`label`."""
    if value and (group, value) not in _CONFIGURED and has(f"plain.{group}.{value}"):
        return t(lang, f"plain.{group}.{value}")
    return label(lang, group, value)
