"""Triage result and classifier interface. Every case gets an urgency and a category with a confidence and
the cues that fired (shown to officials as "why")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

URGENCIES = ("urgent", "priority", "general")

DEFAULT_CATEGORIES = (
    "safety",
    "disaster",
    "dispute",
    "medical",
    "hardship",
    "employment",
    "education",
    "infrastructure",
    "livestock",
    "housing",
    "paperwork",
    "policy",
    "public_health",
    "bereavement",
    "other",
)


@dataclass(frozen=True)
class Cue:
    """One piece of evidence: the matched text, what it pointed to and its weight; ``negated`` when a
    negation/past-tense/resolution context cancelled it (kept so officials can see why it did not count)."""

    text: str
    target: str  # "urgent" or a category name
    weight: float
    negated: bool = False
    note: str = ""  # e.g. "negated by 没有", "past: 上个月", "resolved: 已经修好"


@dataclass(frozen=True)
class TriageResult:
    urgency: str  # one of URGENCIES
    category: str
    confidence: float  # 0..1
    cues: tuple[Cue, ...] = field(default=())
    model: str = "rules"
    # Optional detail (defaults keep older constructors working): the two confidences that ``confidence``
    # is the minimum of, the urgency score against the threshold, and every category's score.
    urgency_confidence: float | None = None
    category_confidence: float | None = None
    urgent_score: float | None = None
    category_scores: tuple[tuple[str, float], ...] = field(default=())
    life_event: str | None = None  # six_visit kind (labels.md): dropout|idle_youth|illness_poverty|death|troubled_mind|festival

    @property
    def is_urgent(self) -> bool:
        return self.urgency == "urgent"

    def why(self) -> list[dict]:
        """JSON-friendly cue list for storage on the case (``Case.triage_cues``)."""
        return [
            {"text": c.text, "target": c.target, "weight": c.weight, "negated": c.negated, "note": c.note}
            for c in self.cues
        ]


@runtime_checkable
class Classifier(Protocol):
    name: str

    def classify(self, text: str, language: str) -> TriageResult:
        """``language`` is "zh" or "bo" (a hint; mixed text must still work). Never raises on odd input:
        empty text gives urgency "general", category "other", confidence 0."""
        ...
