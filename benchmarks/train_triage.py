"""Retrain the triage model from the labelled data, print the leave-one-file-out CV table, write
workflows/triage/model.npz. See workflows/triage/train.py and README.md.

    .venv/bin/python benchmarks/train_triage.py [extra.jsonl ...] [-o path]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workflows.triage.train import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
