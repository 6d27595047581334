"""Triage: urgency and category of a colloquial report (Mandarin, Tibetan or both), with the reasons.

``default_classifier(config)`` is the entry point the case engine uses; ``config`` is the ``[triage]``
table of config.toml (see ``workflows/triage/config.py`` for its keys). The shipped classifier is the
transparent rules one (``rules.py`` over ``lexicon.toml``); anything implementing ``Classifier`` can
replace it.
"""

from __future__ import annotations

from typing import Any

from workflows.triage.base import DEFAULT_CATEGORIES, URGENCIES, Classifier, Cue, TriageResult
from workflows.triage.config import build_lexicon
from workflows.triage.lexicon import Lexicon, TriageConfigError, load_lexicon
from workflows.triage.rules import RulesClassifier

__all__ = [
    "DEFAULT_CATEGORIES",
    "URGENCIES",
    "Classifier",
    "Cue",
    "Lexicon",
    "RulesClassifier",
    "TriageConfigError",
    "TriageResult",
    "default_classifier",
    "load_lexicon",
]


def default_classifier(config: dict[str, Any] | None = None) -> Classifier:
    """The rules classifier with the operator's ``[triage]`` config applied. Raises
    ``TriageConfigError("triage.<key>: <problem>")`` on a bad config."""
    return RulesClassifier(build_lexicon(config))
