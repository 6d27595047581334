"""Quality gate: the targets of issue 5 on the shared dev file and on our own held-out reports.

The figures come from the same code as ``benchmarks/triage.py`` (``workflows.triage.evaluate``). Speed is
not asserted here (it is measured by the benchmark, not by a timed test).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from workflows.triage.evaluate import evaluate, format_evaluation, load_reports

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


@pytest.mark.parametrize("name", ["reports-dev.jsonl", "reports-extra.jsonl"])
def test_meets_targets(clf, shipped, name):
    reports = load_reports(DATA / name)
    assert len(reports) >= 50
    for classifier in (clf, shipped):  # rules alone, and the shipped rules+model blend
        ev = evaluate(classifier, reports)
        assert ev.meets_targets(with_speed=False) == [], format_evaluation(ev, show_misses=True)
    ev = evaluate(shipped, reports)
    assert ev.meets_targets(with_speed=False) == [], format_evaluation(ev, show_misses=True)


def test_extra_file_covers_every_category_and_both_languages():
    reports = load_reports(DATA / "reports-extra.jsonl")
    from workflows.triage import DEFAULT_CATEGORIES

    assert {r.category for r in reports} == set(DEFAULT_CATEGORIES)
    assert {r.lang for r in reports} == {"zh", "bo"}
    assert sum(r.urgent for r in reports) >= 40


def test_evaluation_counts(clf):
    reports = load_reports(DATA / "reports-dev.jsonl")
    ev = evaluate(clf, reports)
    assert ev.tp + ev.fp + ev.fn + ev.tn == ev.n == len(reports)
    assert sum(ev.confusion.values()) == ev.n
    assert ev.category_correct == sum(v for (t, p), v in ev.confusion.items() if t == p)
    assert len(ev.misses) == sum(1 for r in reports if r.category) - ev.category_correct + sum(
        1 for m in ev.misses if "category" not in m.kinds
    )


def test_benchmark_script_runs_on_the_dev_file():
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "triage.py"),
            str(DATA / "reports-dev.jsonl"),
            "--repeat",
            "1",
            "--show-misses",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for label in ("urgent recall", "urgent precision", "category accuracy", "ms/report", "confusion"):
        assert label in out


def test_bad_jsonl_line_is_reported(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "x", "urgent": true, "category": "other"}\n{"text": "y"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        load_reports(path)
