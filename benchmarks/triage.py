"""Triage quality and speed on labelled JSONL files.

    .venv/bin/python benchmarks/triage.py tests/data/reports-dev.jsonl [more.jsonl ...] [--show-misses] [--no-learned]

Prints, per file and for all files together: urgent recall and precision, category accuracy, a confusion
table (rows true, columns predicted), optionally every miss with the cues that fired, and milliseconds per
report (mean and p95, best of --repeat runs per report after a warm-up).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workflows.triage import default_classifier  # noqa: E402
from workflows.triage.evaluate import evaluate, format_evaluation, load_reports  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=5, help="classify each report N times, keep the fastest"
    )
    parser.add_argument(
        "--no-learned", action="store_true", help="rules only (no learned model), to see its share"
    )
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    classifier = default_classifier({"learned": False} if args.no_learned else None)
    print(f"classifier {classifier.name}: built in {(time.perf_counter() - t0) * 1000:.1f} ms")
    everything = []
    for path in args.files:
        reports = load_reports(path)
        everything.extend(reports)
        classifier.classify(reports[0].text, reports[0].lang)  # warm-up
        ev = evaluate(classifier, reports, repeat=args.repeat)
        print(format_evaluation(ev, title=str(path), show_misses=args.show_misses))
        print()
    if len(args.files) > 1:
        ev = evaluate(classifier, everything, repeat=args.repeat)
        print(format_evaluation(ev, title="all files"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
