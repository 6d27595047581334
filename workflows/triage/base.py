"""Triage result and classifier interface. Every case gets an urgency and a category with a confidence and
the cues that fired (shown to officials as "why")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

URGENCIES = ("urgent", "priority", "general")
SOURCES = ("text", "speech")  # where the text came from: typed, or a speech model's transcript

# The six life events that oblige a cadre's visit ("六必访", labels.md ``six_visit``), independent of urgency and
# category: a later stage (issue 12) creates the visit from ``TriageResult.life_event``.
LIFE_EVENTS = ("dropout", "idle_youth", "illness_poverty", "death", "troubled_mind", "festival")
LIFE_EVENT_TARGET = "life_event:"  # Cue.target prefix of a life-event cue ("life_event:death")

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
    note: str = ""  # e.g. "negated by 没有", "past: 上个月", "resolved: 已经修好", "sounds like 羊圈"
    decides: str = ""  # "urgency" / "category" / "life_event": this cue is (part of) what decided that


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
    # One of LIFE_EVENTS (labels.md six_visit) or None; its evidence is in ``cues`` with target "life_event:<kind>".
    life_event: str | None = None

    @property
    def is_urgent(self) -> bool:
        return self.urgency == "urgent"

    @property
    def life_event_cues(self) -> tuple[Cue, ...]:
        """The live cues behind ``life_event`` (empty when there is none)."""
        if self.life_event is None:
            return ()
        target = LIFE_EVENT_TARGET + self.life_event
        return tuple(c for c in self.cues if c.target == target and not c.negated)

    def why(self) -> list[dict]:
        """JSON-friendly cue list for storage on the case (``Case.triage_cues``). ``decides`` says which part
        of the verdict a cue decided ("urgency", "category", "life_event" or ""), so the "why" shown to an
        official can name what actually decided it."""
        return [
            {"text": c.text, "target": c.target, "weight": c.weight, "negated": c.negated, "note": c.note,
             "decides": c.decides}
            for c in self.cues
        ]


@runtime_checkable
class Classifier(Protocol):
    name: str

    def classify(self, text: str, language: str, *, source: str = "text") -> TriageResult:
        """``language`` is "zh" or "bo" (a hint; mixed text must still work). ``source`` is "text" (typed) or
        "speech" (a transcript: cues are then also matched by sound, so a misheard keyword still counts).
        Never raises on odd input: empty text gives urgency "general", category "other", confidence 0."""
        ...


def classify(classifier: Classifier, text: str, language: str, *, source: str = "text") -> TriageResult:
    """Call ``classifier.classify``, passing ``source`` only to a classifier that takes it (an operator's or a
    test's classifier written before ``source`` existed keeps working)."""
    if _takes_source(type(classifier)):
        return classifier.classify(text, language, source=source)
    return classifier.classify(text, language)


_SOURCE_AWARE: dict[type, bool] = {}


def _takes_source(kind: type) -> bool:
    known = _SOURCE_AWARE.get(kind)
    if known is None:
        import inspect

        try:
            params = inspect.signature(kind.classify).parameters
        except (TypeError, ValueError, AttributeError):
            params = {}
        known = "source" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        _SOURCE_AWARE[kind] = known
    return known
