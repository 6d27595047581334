"""``[tasks]`` configuration: how many reminders, when a task closes by itself, and the templates.

Why templates carry text per language: a county's common tasks (a disaster check before a storm, an epidemic
check, a policy notice) are sent again and again; written once in Chinese and Tibetan they reach every worker
in their own language without the issuer typing anything. A template also sets the floor for the cases its
"problem" answers become: a problem found in a disaster check is never a week-long general case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from workflows.durations import parse_duration_at
from workflows.triage.base import URGENCIES


@dataclass(frozen=True)
class Template:
    key: str
    names: Mapping[str, str]  # {"zh": "灾害排查", "bo": ..., "en": ...}
    texts: Mapping[str, str]  # {"zh": ..., "bo": ...}; empty: the issuer writes the text
    due: timedelta
    min_urgency: str | None = None
    category: str | None = None

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get("zh") or self.key


SHIPPED_TEMPLATES: dict[str, dict[str, Any]] = {
    "disaster_check": {
        "name": {"zh": "灾害排查", "bo": "གནོད་འཚེའི་ཞིབ་བཤེར།", "en": "Disaster check"},
        "text": {
            "zh": "大雪大风要来了，请逐户查看帐篷、房屋、牲畜棚圈和草料，有危险的马上报告。",
            "bo": "ཁ་བ་ཆེན་པོ་དང་རླུང་དྲག་ཡོང་གི་འདུག ཁྱིམ་ཚང་རེ་རེར་སྦྲ་གུར་དང་ཁང་པ། ཕྱུགས་ར། རྩྭ་ལྕི་བཅས་ལ་ཞིབ་བཤེར་གནང་། "
                  "ཉེན་ཁ་ཡོད་ན་མྱུར་དུ་སྙན་སེང་ཞུ་རོགས།",
        },
        "due": "6h",
        "min_urgency": "priority",
        "category": "disaster",
    },
    "epidemic_check": {
        "name": {"zh": "疫情排查", "bo": "རིམས་ནད་ཞིབ་བཤེར།", "en": "Epidemic check"},
        "text": {
            "zh": "请逐户问一问：家里有没有发烧、拉肚子的病人，牲畜有没有突然死亡的，有情况马上报告。",
            "bo": "ཁྱིམ་ཚང་རེ་རེར་ཚ་བ་དང་ཁོག་སྣད་ཀྱི་ནད་པ་ཡོད་མེད་དང་། ཕྱུགས་ལ་རྒྱུ་མཚན་མེད་པར་ཤི་བ་ཡོད་མེད་དྲི་ཞིབ་གནང་། "
                  "གནས་ཚུལ་ཡོད་ན་མྱུར་དུ་སྙན་སེང་ཞུ་རོགས།",
        },
        "due": "1d",
        "min_urgency": "priority",
        "category": "public_health",
    },
    "policy_notice": {
        "name": {"zh": "政策通知", "bo": "སྲིད་ཇུས་བརྡ་ཁྱབ།", "en": "Policy notice"},
        "text": {},
        "due": "7d",
        "category": "policy",
    },
}

KNOWN_KEYS = ("reminders", "close_after", "default_due", "templates")
TEMPLATE_KEYS = ("name", "text", "due", "min_urgency", "category")


def _texts(where: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"zh": value} if value.strip() else {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected text or a table like {{ zh = \"...\", bo = \"...\" }}")
    out = {}
    for lang, text in value.items():
        if lang not in ("zh", "bo", "en") or not isinstance(text, str):
            raise ValueError(f"{where}.{lang}: expected zh, bo or en with text in quotes")
        if text.strip():
            out[lang] = text.strip()
    return out


@dataclass(frozen=True)
class TaskSettings:
    reminders: int = 2
    close_after: timedelta = timedelta(days=3)
    default_due: timedelta = timedelta(days=1)
    templates: Mapping[str, Template] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | TaskSettings | None) -> TaskSettings:
        """Shipped templates, overridden key by key by ``[tasks.templates.<key>]``; ``ValueError("<key>: ...")``
        on a mistake (the config loader prefixes ``tasks.``)."""
        if isinstance(config, TaskSettings):
            return config
        config = dict(config or {})
        unknown = sorted(set(config) - set(KNOWN_KEYS))
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown key (known: {', '.join(KNOWN_KEYS)})")
        reminders = config.get("reminders", 2)
        if not isinstance(reminders, int) or isinstance(reminders, bool) or not 0 <= reminders <= 10:
            raise ValueError(f"reminders: expected a whole number 0-10, got {reminders!r}")
        raw_templates = config.get("templates", {})
        if not isinstance(raw_templates, Mapping):
            raise ValueError("templates: expected tables [tasks.templates.<key>]")
        merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in SHIPPED_TEMPLATES.items()}
        for key, table in raw_templates.items():
            where = f"templates.{key}"
            if not isinstance(table, Mapping):
                raise ValueError(f"{where}: expected a table")
            if not key.replace("_", "").isalnum() or not key.isascii() or len(key) > 20:
                raise ValueError(f"{where}: a key of at most 20 letters, digits or _")
            bad = sorted(set(table) - set(TEMPLATE_KEYS))
            if bad:
                raise ValueError(f"{where}.{bad[0]}: unknown key (known: {', '.join(TEMPLATE_KEYS)})")
            merged.setdefault(key, {}).update(table)
        templates: dict[str, Template] = {}
        for key, t in merged.items():
            where = f"templates.{key}"
            names = _texts(f"{where}.name", t.get("name")) or {"zh": key}
            urgency = t.get("min_urgency")
            if urgency is not None and urgency not in URGENCIES:
                raise ValueError(f"{where}.min_urgency: {urgency!r} is not one of {', '.join(URGENCIES)}")
            category = t.get("category")
            if category is not None and (not isinstance(category, str) or len(category) > 32):
                raise ValueError(f"{where}.category: expected a triage category name")
            templates[key] = Template(key=key, names=names, texts=_texts(f"{where}.text", t.get("text")),
                                      due=parse_duration_at(f"{where}.due", t.get("due", "1d")), min_urgency=urgency,
                                      category=category)
        return cls(
            reminders=reminders,
            close_after=parse_duration_at("close_after", config.get("close_after", "3d")),
            default_due=parse_duration_at("default_due", config.get("default_due", "1d")),
            templates=templates,
        )

    def template(self, key: str | None) -> Template | None:
        return self.templates.get(key) if key else None
