"""Triage: urgency and category of a colloquial report (Mandarin, Tibetan or both), with the reasons.

``default_classifier(config)`` is the entry point the case engine uses; ``config`` is the ``[triage]``
table of config.toml (see ``workflows/triage/config.py`` for its keys). The shipped classifier is the
transparent rules one (``rules.py`` over ``lexicon.toml``), with a learned n-gram second opinion
(``learned.py``) that may only raise urgency; anything implementing ``Classifier`` can
replace it.
"""

from __future__ import annotations

from typing import Any

from workflows.triage.base import DEFAULT_CATEGORIES, URGENCIES, Classifier, Cue, TriageResult
from workflows.triage.config import build_lexicon
from workflows.triage.learned import NgramNaiveBayes, load_model
from workflows.triage.lexicon import Lexicon, TriageConfigError, load_lexicon
from workflows.triage.rules import RulesClassifier

__all__ = [
    "DEFAULT_CATEGORIES",
    "URGENCIES",
    "Classifier",
    "Cue",
    "Lexicon",
    "NgramNaiveBayes",
    "RulesClassifier",
    "TriageConfigError",
    "TriageResult",
    "default_classifier",
    "load_lexicon",
]


def default_classifier(config: dict[str, Any] | None = None) -> Classifier:
    """The rules classifier with the operator's ``[triage]`` config applied. Raises
    ``TriageConfigError("triage.<key>: <problem>")`` on a bad config."""
    lexicon = build_lexicon(config)
    return RulesClassifier(lexicon, learned_model((config or {}).get("learned", True)))


def learned_model(setting: Any) -> NgramNaiveBayes | None:
    """``learned`` in ``[triage]``: true (default) = the shipped n-gram model, false = rules only, a string =
    a model file trained with ``python -m workflows.triage.learned``."""
    if setting is True:
        return load_model()
    if setting is False:
        return None
    if isinstance(setting, str):
        try:
            return load_model(setting)
        except (OSError, ValueError, KeyError) as exc:
            raise TriageConfigError(f"triage.learned: cannot load {setting}: {exc}") from exc
    raise TriageConfigError(f"triage.learned: must be true, false or a model file path, got {setting!r}")
