"""Measure a classifier on labelled reports: urgent recall/precision, category accuracy, confusion table,
misses, and time per report.

Why here and not only in the benchmark script: the tests assert the targets with the very same code the
benchmark prints, so the figures in the issue note and the CI gate cannot drift apart.

Input: JSON Lines, one report a line: ``{"text": ..., "lang": "zh"|"bo", "urgent": bool, "category": ...,
"six_visit": null|"death"|...}`` (labels.md). ``six_visit`` is optional: life-event recall/precision are counted
over the reports that carry the key.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from workflows.triage.base import Classifier, TriageResult, classify

TARGETS = {"urgent_recall": 0.95, "urgent_precision": 0.85, "category_accuracy": 0.85, "ms_per_report": 5.0}


@dataclass(frozen=True)
class Report:
    text: str
    lang: str
    urgent: bool
    category: str
    six_visit: str | None = None
    has_six_visit: bool = False  # the file labels life events (the key is present, null or a kind)


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
    # life events (six_visit), over reports that carry the label: right kind / labelled / flagged
    life_labelled: int = 0
    life_flagged: int = 0
    life_correct: int = 0
    life_n: int = 0

    @property
    def life_recall(self) -> float:
        return self.life_correct / self.life_labelled if self.life_labelled else 1.0

    @property
    def life_precision(self) -> float:
        return self.life_correct / self.life_flagged if self.life_flagged else 1.0

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
            six = row.get("six_visit")
            reports.append(
                Report(row["text"], row.get("lang", "zh"), bool(row["urgent"]), row["category"],
                       six if isinstance(six, str) and six else None, "six_visit" in row)
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{lineno}: not a labelled report ({exc})") from exc
    return reports


def evaluate(
    classifier: Classifier, reports: list[Report], *, repeat: int = 1, source: str = "text"
) -> Evaluation:
    """Classify every report (``repeat`` times for steadier timings; the fastest run of each counts).
    ``source="speech"`` when the texts are transcripts."""
    ev = Evaluation()
    for report in reports:
        best = float("inf")
        result: TriageResult | None = None
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            result = classify(classifier, report.text, report.lang, source=source)
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
        if report.has_six_visit:
            predicted = getattr(result, "life_event", None)
            ev.life_n += 1
            ev.life_labelled += report.six_visit is not None
            ev.life_flagged += predicted is not None
            if predicted is not None and predicted == report.six_visit:
                ev.life_correct += 1
            elif predicted != report.six_visit:
                kinds.append("life event")
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
    if ev.life_n:
        lines.append(
            f"life-event (six_visit) recall {ev.life_recall:.3f} ({ev.life_correct}/{ev.life_labelled})  "
            f"precision {ev.life_precision:.3f} ({ev.life_correct}/{ev.life_flagged})  over {ev.life_n} labelled"
        )
    else:
        lines.append("life-event (six_visit): no six_visit labels in this file")
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
            life = ""
            if r.has_six_visit:
                life = f"  life event true {r.six_visit} got {getattr(res, 'life_event', None)}"
            lines.append(
                f"  [{'/'.join(miss.kinds)}] {r.text}\n"
                f"      true: {'urgent' if r.urgent else 'general'}/{r.category}"
                f"  got: {res.urgency}/{res.category} ({res.confidence:.2f}){life}  cues: {fired}"
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
