"""``[visits]`` configuration: how soon each kind of visit is due, how often overdue ones are reminded, and
the festival calendar (dates change every year, so the county writes them in config).

```toml
[visits]
festival_lead = "14d"          # festival visits are created this long before the day
remind_every = "1d"            # reminders once a visit is overdue at the top level
[visits.due]
default = "3d"
death = "1d"                   # an elder's death: within a day
[visits.festivals.losar_2026]
name = { zh = "藏历新年", bo = "ལོ་གསར།" }
date = 2026-02-18
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from workflows.durations import parse_duration, parse_duration_at

#: The six must-visits (labels.md ``six_visit``); ``festival`` comes from the calendar, the rest from reports.
KINDS: tuple[str, ...] = ("dropout", "idle_youth", "illness_poverty", "death", "troubled_mind", "festival")
LIFE_EVENTS: frozenset[str] = frozenset(KINDS) - {"festival"}
DEFAULT_DUE: dict[str, str] = {"default": "3d", "death": "1d"}
KNOWN_KEYS = ("due", "remind_every", "festival_lead", "festivals")
#: Officials read dates in China Standard Time; a festival "day" starts at 00:00 there (16:00 UTC the day before).
LOCAL_OFFSET = timedelta(hours=8)


@dataclass(frozen=True)
class Festival:
    key: str
    names: Mapping[str, str]
    day: date

    def starts_at(self) -> datetime:
        """00:00 local time of the festival day, as naive UTC (the storage convention)."""
        return datetime.combine(self.day, time()) - LOCAL_OFFSET

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get("zh") or self.key


@dataclass(frozen=True)
class VisitSettings:
    due: Mapping[str, timedelta] = field(default_factory=lambda: {k: parse_duration(v) for k, v in DEFAULT_DUE.items()})
    remind_every: timedelta = timedelta(days=1)
    festival_lead: timedelta = timedelta(days=14)
    festivals: tuple[Festival, ...] = ()

    def due_within(self, kind: str) -> timedelta:
        return self.due.get(kind) or self.due["default"]

    def festival(self, key: str | None) -> Festival | None:
        return next((f for f in self.festivals if f.key == key), None)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | VisitSettings | None) -> VisitSettings:
        """``ValueError("<key>: ...")`` on a mistake (the config loader prefixes ``visits.``)."""
        if isinstance(config, VisitSettings):
            return config
        config = dict(config or {})
        unknown = sorted(set(config) - set(KNOWN_KEYS))
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown key (known: {', '.join(KNOWN_KEYS)})")
        raw_due = config.get("due", {})
        if not isinstance(raw_due, Mapping):
            raise ValueError("due: expected a table like { default = \"3d\", death = \"1d\" }")
        due = {k: parse_duration(v) for k, v in DEFAULT_DUE.items()}
        for kind, value in raw_due.items():
            if kind != "default" and kind not in KINDS:
                raise ValueError(f"due.{kind}: unknown kind (known: default, {', '.join(KINDS)})")
            due[kind] = parse_duration_at(f"due.{kind}", value)
        festivals = []
        raw_festivals = config.get("festivals", {})
        if not isinstance(raw_festivals, Mapping):
            raise ValueError("festivals: expected tables [visits.festivals.<key>]")
        for key, table in raw_festivals.items():
            where = f"festivals.{key}"
            if not isinstance(table, Mapping) or "date" not in table:
                raise ValueError(f"{where}: expected a table with date = YYYY-MM-DD and a name")
            if len(key) > 32:
                raise ValueError(f"{where}: a key of at most 32 characters")
            bad = sorted(set(table) - {"name", "date"})
            if bad:
                raise ValueError(f"{where}.{bad[0]}: unknown key (known: name, date)")
            day = table["date"]
            if isinstance(day, str):
                try:
                    day = date.fromisoformat(day)
                except ValueError:
                    raise ValueError(f"{where}.date: {day!r} is not a date like 2026-02-18") from None
            if isinstance(day, datetime):
                day = day.date()
            if not isinstance(day, date):
                raise ValueError(f"{where}.date: expected a date like 2026-02-18")
            names = table.get("name") or {"zh": key}
            if isinstance(names, str):
                names = {"zh": names}
            if not isinstance(names, Mapping) or not all(isinstance(v, str) for v in names.values()):
                raise ValueError(f"{where}.name: expected text or a table like {{ zh = \"春节\", bo = \"...\" }}")
            festivals.append(Festival(key=key, names=dict(names), day=day))
        return cls(
            due=due,
            remind_every=parse_duration_at("remind_every", config.get("remind_every", "1d")),
            festival_lead=parse_duration_at("festival_lead", config.get("festival_lead", "14d")),
            festivals=tuple(sorted(festivals, key=lambda f: f.day)),
        )
