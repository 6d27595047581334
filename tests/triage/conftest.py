"""One classifier for the whole triage test session (building it parses the lexicon, ~30 ms)."""

from __future__ import annotations

import pytest

from workflows.triage import default_classifier
from workflows.triage.rules import RulesClassifier


@pytest.fixture(scope="session")
def clf() -> RulesClassifier:
    classifier = default_classifier()
    assert isinstance(classifier, RulesClassifier)
    return classifier
