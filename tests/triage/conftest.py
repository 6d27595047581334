"""Classifiers for the whole triage test session (building it parses the lexicon, ~30 ms)."""

from __future__ import annotations

import pytest

from workflows.triage import default_classifier
from workflows.triage.rules import RulesClassifier


@pytest.fixture(scope="session")
def clf() -> RulesClassifier:
    """The rules alone: the rule tests document what the lexicon and context handling do."""
    classifier = default_classifier({"learned": False})
    assert isinstance(classifier, RulesClassifier) and classifier.model is None
    return classifier


@pytest.fixture(scope="session")
def shipped() -> RulesClassifier:
    """What the bot runs: rules blended with the shipped model (model.npz)."""
    classifier = default_classifier()
    assert isinstance(classifier, RulesClassifier) and classifier.model is not None
    return classifier
