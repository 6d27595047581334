"""Triage: urgency and category of a colloquial report (Mandarin, Tibetan or both), with the reasons.

``default_classifier(config)`` is the entry point the case engine uses; ``config`` is the ``[triage]``
table of config.toml (see ``workflows/triage/config.py`` for its keys). The shipped classifier is the
transparent rules one (``rules.py`` over ``lexicon.toml``) blended with a learned char n-gram model
(``model.py``, ``model.npz``, retrained by ``train.py``); anything implementing ``Classifier`` can
replace it.
"""

from __future__ import annotations

import zipfile
from typing import Any

from workflows.triage.base import DEFAULT_CATEGORIES, URGENCIES, Classifier, Cue, TriageResult
from workflows.triage.config import build_lexicon
from workflows.triage.lexicon import Lexicon, TriageConfigError, load_lexicon
from workflows.triage.model import TriageModel, load_model
from workflows.triage.rules import RulesClassifier

__all__ = [
    "DEFAULT_CATEGORIES",
    "URGENCIES",
    "Classifier",
    "Cue",
    "Lexicon",
    "RulesClassifier",
    "TriageConfigError",
    "TriageModel",
    "TriageResult",
    "default_classifier",
    "load_lexicon",
]


def default_classifier(config: dict[str, Any] | None = None) -> Classifier:
    """The rules classifier with the operator's ``[triage]`` config applied. Raises
    ``TriageConfigError("triage.<key>: <problem>")`` on a bad config."""
    lexicon = build_lexicon(config)
    return RulesClassifier(lexicon, learned_model((config or {}).get("learned", True)))


def learned_model(setting: Any) -> TriageModel | None:
    """``learned`` in ``[triage]``: true (default) = the shipped model (``model.npz``), false = rules only, a
    string = a model file written by ``python -m workflows.triage.train``."""
    if setting is True:
        return load_model()
    if setting is False:
        return None
    if isinstance(setting, str):
        try:
            return load_model(setting)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise TriageConfigError(f"triage.learned: cannot load {setting}: {exc}") from exc
    raise TriageConfigError(f"triage.learned: must be true, false or a model file path, got {setting!r}")
