"""Measure a classifier on labelled reports: urgent recall/precision, category accuracy, confusion table,
misses, and time per report.

Why here and not only in the benchmark script: the tests assert the targets with the very same code the
benchmark prints, so the figures in the issue note and the CI gate cannot drift apart.

Input: JSON Lines, one report a line: ``{"text": ..., "lang": "zh"|"bo", "urgent": bool, "category": ...}``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from workflows.triage.base import Classifier, TriageResult

TARGETS = {"urgent_recall": 0.95, "urgent_precision": 0.85, "category_accuracy": 0.85, "ms_per_report": 5.0}


@dataclass(frozen=True)
class Report:
    text: str
    lang: str
    urgent: bool
    category: str


@dataclass
class Miss:
    report: Report
    result: TriageResult
    kinds: tuple[str, ...]  # "missed urgent", "false urgent", "category"


@dataclass
class Evaluation:
    n: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    category_correct: int = 0
    confusion: Counter = field(default_factory=Counter)  # (true, predicted) -> count
    misses: list[Miss] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)

    @property
    def urgent_recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def urgent_precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def category_accuracy(self) -> float:
        return self.category_correct / self.n if self.n else 0.0

    @property
    def ms_mean(self) -> float:
        return statistics.fmean(self.ms) if self.ms else 0.0

    @property
    def ms_p95(self) -> float:
        if not self.ms:
            return 0.0
        ordered = sorted(self.ms)
        return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]

    def meets_targets(self, *, with_speed: bool = True) -> list[str]:
        """The targets missed (empty list: all met)."""
        failed = []
        if self.urgent_recall < TARGETS["urgent_recall"]:
            failed.append(f"urgent recall {self.urgent_recall:.3f} < {TARGETS['urgent_recall']}")
        if self.urgent_precision < TARGETS["urgent_precision"]:
            failed.append(f"urgent precision {self.urgent_precision:.3f} < {TARGETS['urgent_precision']}")
        if self.category_accuracy < TARGETS["category_accuracy"]:
            failed.append(f"category accuracy {self.category_accuracy:.3f} < {TARGETS['category_accuracy']}")
        if with_speed and self.ms_mean > TARGETS["ms_per_report"]:
            failed.append(f"{self.ms_mean:.2f} ms/report > {TARGETS['ms_per_report']}")
        return failed


def load_reports(path: str | Path) -> list[Report]:
    reports = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            reports.append(Report(row["text"], row.get("lang", "zh"), bool(row["urgent"]), row["category"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{lineno}: not a labelled report ({exc})") from exc
    return reports


def evaluate(classifier: Classifier, reports: list[Report], *, repeat: int = 1) -> Evaluation:
    """Classify every report (``repeat`` times for steadier timings; the fastest run of each counts)."""
    ev = Evaluation()
    for report in reports:
        best = float("inf")
        result: TriageResult | None = None
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            result = classifier.classify(report.text, report.lang)
            best = min(best, (time.perf_counter() - t0) * 1000)
        assert result is not None
        ev.ms.append(best)
        ev.n += 1
        predicted_urgent = result.urgency == "urgent"
        kinds = []
        if report.urgent and predicted_urgent:
            ev.tp += 1
        elif report.urgent:
            ev.fn += 1
            kinds.append("missed urgent")
        elif predicted_urgent:
            ev.fp += 1
            kinds.append("false urgent")
        else:
            ev.tn += 1
        ev.confusion[(report.category, result.category)] += 1
        if result.category == report.category:
            ev.category_correct += 1
        else:
            kinds.append("category")
        if kinds:
            ev.misses.append(Miss(report, result, tuple(kinds)))
    return ev


def format_evaluation(ev: Evaluation, *, title: str = "", show_misses: bool = False) -> str:
    lines = []
    if title:
        lines.append(f"== {title} ({ev.n} reports)")
    lines.append(
        f"urgent recall    {ev.urgent_recall:.3f}  ({ev.tp}/{ev.tp + ev.fn})   target >= {TARGETS['urgent_recall']}"
    )
    lines.append(
        f"urgent precision {ev.urgent_precision:.3f}  ({ev.tp}/{ev.tp + ev.fp})   target >= {TARGETS['urgent_precision']}"
    )
    lines.append(
        f"category accuracy {ev.category_accuracy:.3f} ({ev.category_correct}/{ev.n})   target >= {TARGETS['category_accuracy']}"
    )
    lines.append(
        f"ms/report        mean {ev.ms_mean:.3f}  p95 {ev.ms_p95:.3f}   target < {TARGETS['ms_per_report']}"
    )
    lines.append(confusion_table(ev))
    if show_misses and ev.misses:
        lines.append(f"misses ({len(ev.misses)}):")
        for miss in ev.misses:
            r, res = miss.report, miss.result
            fired = (
                ", ".join(f"{c.text}->{c.target}" + (f" [{c.note}]" if c.negated else "") for c in res.cues)
                or "no cue"
            )
            lines.append(
                f"  [{'/'.join(miss.kinds)}] {r.text}\n"
                f"      true: {'urgent' if r.urgent else 'general'}/{r.category}"
                f"  got: {res.urgency}/{res.category} ({res.confidence:.2f})  cues: {fired}"
            )
    return "\n".join(lines)


def confusion_table(ev: Evaluation) -> str:
    """Rows: true category; columns: predicted (abbreviated to 5 letters)."""
    cats = sorted({t for t, _ in ev.confusion} | {p for _, p in ev.confusion})
    width = max([len(c) for c in cats] + [4])
    header = " " * width + " " + " ".join(f"{c[:5]:>5}" for c in cats)
    rows = [header]
    for t in cats:
        cells = " ".join(f"{(ev.confusion.get((t, p), 0) or '.'):>5}" for p in cats)
        rows.append(f"{t:<{width}} {cells}")
    return "confusion (rows true, cols predicted):\n" + "\n".join(rows)
