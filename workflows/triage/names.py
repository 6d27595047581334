"""Name masking: person and place names are found in a report and hidden before anything is learned or
matched inside them.

Why: the n-gram model learned names (卓玛, 才让) as urgency cues because they co-occurred with urgent
training reports, and a name can hide a cue-like character (a village 火烧沟 is not a fire). A name found
here (1) hides what lies inside it from the lexicon, like a trap (``matcher.py``), and (2) becomes one
placeholder unit in the model's features (``model.feature_units``), so swapping one name for another never
changes the verdict. Names come from the shipped list of common Tibetan names written in Chinese
(``names-zh.txt``) plus, at run time, the org tree (``workflows.orgnames.OrgNames``, attached by the case
engine through ``RulesClassifier.use_names``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from importlib import resources

from workflows.triage.matcher import Match

SHIPPED_NAMES = "names-zh.txt"


def shipped_names() -> frozenset[str]:
    raw = resources.files("workflows.triage").joinpath(SHIPPED_NAMES).read_text(encoding="utf-8")
    words: set[str] = set()
    for line in raw.splitlines():
        if not line.strip().startswith("#"):
            words.update(w for w in line.split() if len(w) >= 2)
    return frozenset(words)


class NameIndex:
    """Names indexed by their first character; ``find`` is one dictionary lookup per character."""

    def __init__(self, names: Iterable[str]) -> None:
        first: dict[str, list[str]] = defaultdict(list)
        for name in set(names):
            name = name.strip().lower()
            if len(name) >= 2 and not any(ch.isspace() for ch in name):
                first[name[0]].append(name)
        self.first = {ch: sorted(ns, key=len, reverse=True) for ch, ns in first.items()}
        self.size = sum(len(v) for v in self.first.values())

    def find(self, flat: str) -> list[Match]:
        """Longest name at each position, as ``Match(kind="name")`` (unit indices = string indices)."""
        out: list[Match] = []
        get = self.first.get
        for i, ch in enumerate(flat):
            for name in get(ch, ()):
                if flat.startswith(name, i):
                    out.append(Match(i, i + len(name), name, "name"))
                    break
        return out
