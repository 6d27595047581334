"""Train the triage model (``model.py``) from labelled JSONL files, cross-validate it by file, and write
``model.npz``. scikit-learn is needed here only (the ``test`` extra); the bot runs the model with numpy.

    .venv/bin/python benchmarks/train_triage.py                # default data files, CV table, writes model
    .venv/bin/python -m workflows.triage.train a.jsonl b.jsonl -o /tmp/model.npz --no-cv

Cross-validation is grouped by file (= by writer): each file is held out in turn, the model is trained on
all the others, and the held-out file is scored with rules only, model only and combined. Thresholds are
chosen on the pooled out-of-fold predictions of the files the rules were never tuned on
(``THRESHOLD_FILES``), never on one file's own lines. Deterministic: liblinear/lbfgs with fixed seeds and
sorted features.

Operators retrain with their own corrections: ``export_corrections(session, path)`` writes the
``triage_corrections`` table as JSONL in the same format; pass that file along with the shipped data.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workflows.triage.base import DEFAULT_CATEGORIES, LIFE_EVENTS, TriageResult
from workflows.triage.evaluate import Report, load_reports
from workflows.triage.model import (
    DEFAULT_BLEND,
    TriageModel,
    blend_scores,
    features,
    life_verdict,
    rules_stand,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
DEFAULT_FILES = (
    "reports-dev.jsonl",
    "reports-extra.jsonl",
    "reports-holdout.jsonl",
    "reports-holdout2.jsonl",
    "reports-holdout3.jsonl",
    "reports-holdout4.jsonl",
    "reports-holdout5.jsonl",
    "reports-holdout6.jsonl",
    "blind-2026-12-01-a.jsonl",
    "blind-2026-12-01-b.jsonl",
    "blind-2026-12-02-h.jsonl",
    "blind-2026-12-02-i.jsonl",
    "triage-train/part-a.jsonl",
    "triage-train/part-b.jsonl",
    "triage-train/part-c.jsonl",
)
# Files whose text the lexicon was never tuned on (nobody read their misses to write cues): only these
# measure the rules honestly, so thresholds are chosen on their pooled out-of-fold predictions. One file =
# one writer, so leave-one-file-out is leave-one-writer-out.
THRESHOLD_FILES = (
    "reports-holdout2.jsonl",
    "reports-holdout4.jsonl",
    "reports-holdout5.jsonl",
    "reports-holdout6.jsonl",
    "blind-2026-12-02-h.jsonl",
    "blind-2026-12-02-i.jsonl",
    "triage-train/part-a.jsonl",
    "triage-train/part-b.jsonl",
    "triage-train/part-c.jsonl",
)
DEFAULTS = {
    "C_urgent": 1.0,
    "min_count": 2,
    "C_category": 8.0,
    "use_rules": False,
    "recall_target": 0.97,
    "C_life": 4.0,
    "life_weight": "balanced",  # class weights of the life-event head: a life event is rare (~8 % of rows)
}
LIFE_CLASSES = ("none", *LIFE_EVENTS)


@dataclass
class Sample:
    report: Report
    group: str
    rules: TriageResult
    units: list[str]  # the name-masked units the model reads (RulesClassifier.analyse)


def rules_classifier():
    from workflows.triage import default_classifier

    return default_classifier({"learned": False})


def load_samples(paths: Sequence[Path], names: Sequence[str] | None = None) -> list[Sample]:
    rules = rules_classifier()
    out = []
    for i, path in enumerate(paths):
        name = names[i] if names else path.name
        for r in load_reports(path):
            result, units = rules.analyse(r.text)
            out.append(Sample(r, name, result, units or []))
    return out


def fit(samples: Sequence[Sample], params: dict | None = None, meta: dict | None = None) -> TriageModel:
    """Fit both heads on ``samples`` and return the run-time model (float32 weights)."""
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    p = {**DEFAULTS, **(params or {})}
    feats = [features(s.units, s.rules, p["use_rules"]) for s in samples]
    counts: dict[str, int] = {}
    for f in feats:
        for k in f:
            counts[k] = counts.get(k, 0) + 1
    vocab_list = sorted(k for k, c in counts.items() if c >= p["min_count"] or k.startswith("R:"))
    vocab = {k: i for i, k in enumerate(vocab_list)}
    rows, cols, vals = [], [], []
    for r, f in enumerate(feats):
        for k, v in f.items():
            j = vocab.get(k)
            if j is not None:
                rows.append(r)
                cols.append(j)
                vals.append(v)
    X = csr_matrix((vals, (rows, cols)), shape=(len(samples), len(vocab)), dtype=np.float64)
    y_urgent = np.array([s.report.urgent for s in samples], dtype=int)
    y_cat = np.array([s.report.category for s in samples])
    categories = tuple(DEFAULT_CATEGORIES) + tuple(sorted(set(y_cat) - set(DEFAULT_CATEGORIES)))
    K = len(categories)
    W = np.zeros((len(vocab), 1 + K + len(LIFE_CLASSES)), dtype=np.float32)
    b = np.zeros(1 + K + len(LIFE_CLASSES), dtype=np.float32)

    urgent = LogisticRegression(C=p["C_urgent"], solver="liblinear", random_state=0, max_iter=1000)
    urgent.fit(X, y_urgent)
    W[:, 0] = urgent.coef_[0]
    b[0] = urgent.intercept_[0]

    cat = LogisticRegression(C=p["C_category"], solver="lbfgs", max_iter=2000, random_state=0)
    cat.fit(X, y_cat)
    b[1:] = -30.0  # a category never seen in training is never predicted
    coef = cat.coef_ if len(cat.classes_) > 2 else np.vstack([-cat.coef_[0], cat.coef_[0]])
    inter = cat.intercept_ if len(cat.classes_) > 2 else np.array([-cat.intercept_[0], cat.intercept_[0]])
    for i, c in enumerate(cat.classes_):
        k = 1 + categories.index(str(c))
        W[:, k] = coef[i]
        b[k] = inter[i]

    # life events (labels.md six_visit): "none" or a kind, on the rows whose file labels them
    labelled = [i for i, s in enumerate(samples) if s.report.has_six_visit]
    y_life = np.array([samples[i].report.six_visit or "none" for i in labelled])
    b[1 + K :] = -30.0
    if len(set(y_life)) > 2:
        life = LogisticRegression(
            C=p["C_life"],
            solver="lbfgs",
            max_iter=2000,
            random_state=0,
            class_weight=p["life_weight"] or None,
        )
        life.fit(X[labelled], y_life)
        for i, c in enumerate(life.classes_):
            k = 1 + K + LIFE_CLASSES.index(str(c))
            W[:, k] = life.coef_[i]
            b[k] = life.intercept_[i]
    info = {
        "use_rules": p["use_rules"],
        "life_events": list(LIFE_CLASSES),
        "params": p,
        "n_train": len(samples),
        **(meta or {}),
    }
    return TriageModel(vocab, W, b, categories, info)


# ------------------------------------------------------------------ cross-validation
@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    correct: int = 0
    n: int = 0

    def add(self, urgent_true: bool, urgent_pred: bool, cat_true: str, cat_pred: str) -> None:
        self.n += 1
        self.tp += urgent_true and urgent_pred
        self.fp += (not urgent_true) and urgent_pred
        self.fn += urgent_true and not urgent_pred
        self.correct += cat_true == cat_pred

    def __iadd__(self, other: Scores) -> Scores:
        for k in ("tp", "fp", "fn", "correct", "n"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        return self

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    def row(self) -> str:
        return f"{self.recall:5.3f} {self.precision:5.3f} {self.accuracy:5.3f}"


@dataclass
class OutOfFold:
    sample: Sample
    p: float  # p(urgent) of the model trained without this sample's file
    probs: np.ndarray  # category probabilities, same model
    categories: tuple[str, ...]
    life: np.ndarray | None = None  # life-event probabilities over LIFE_CLASSES, same model


def cross_validate(samples: Sequence[Sample], params: dict | None = None) -> list[OutOfFold]:
    """Leave-one-file-out out-of-fold model predictions for every sample."""
    out: list[OutOfFold] = []
    for g in sorted({s.group for s in samples}):
        model = fit([s for s in samples if s.group != g], params)
        for s in (s for s in samples if s.group == g):
            p, probs, life = model.score(features(s.units, s.rules, model.use_rules))
            out.append(OutOfFold(s, p, probs, model.categories, life))
    return out


URGENCY_GRID = [
    {"rules_urgent": a, "rules_priority": b, "cancelled": c, "veto": v, "rules_stand": st}
    # rules_stand: a live rules-urgent at or above this score is never demoted (2.0 = every rules urgent
    # stands; at most 3.0, the rule: a strong live danger cue must never be demoted). Below it, a
    # confident model may demote a borderline rules verdict (weight a). Cross-validation picks among these
    # (benchmarks/train_triage.py); recall is held at the target either way.
    for a in (3.0, 2.0, 1.0)
    for b in (0.0, 0.5, 1.0)
    for c in (0.0, -1.0)
    for v in (False, True)
    for st in (2.0, 2.5, 3.0)
]
CATEGORY_GRID = [
    {"rules_category": a, "precedence": b, "scores": c}
    for a in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
    for b in (0.0, 0.5, 1.0, 2.0)
    for c in (0.0, 0.5, 1.0)
]


def _urgency_z(rows: Sequence[OutOfFold], blend: dict) -> tuple[np.ndarray, np.ndarray]:
    zs, ys = [], []
    for o in rows:
        full = {**DEFAULT_BLEND, **blend}
        z, vetoed, _ = blend_scores(o.p, o.probs, o.sample.rules, o.categories, full)
        zs.append(1e9 if rules_stand(o.sample.rules, full) else -1e9 if vetoed else z)
        ys.append(o.sample.report.urgent)
    return np.array(zs), np.array(ys, dtype=bool)


def choose_urgency(rows: Sequence[OutOfFold], recall_target: float) -> tuple[dict, float, float]:
    """The blend and threshold with the best precision at pooled recall >= recall_target on ``rows``:
    (blend incl. threshold, recall, precision)."""
    best: tuple[float, float, dict] | None = None
    for blend in URGENCY_GRID:
        z, y = _urgency_z(rows, blend)
        order = np.argsort(-z, kind="stable")
        tp = np.cumsum(y[order])
        k = int(np.searchsorted(tp, recall_target * y.sum()))
        k = min(k, len(z) - 1)
        threshold = float(z[order][k])
        pred = z >= threshold
        precision = (pred & y).sum() / max(pred.sum(), 1)
        recall = (pred & y).sum() / max(y.sum(), 1)
        if best is None or precision > best[0] + 1e-9:
            best = (precision, recall, {**blend, "threshold": round(threshold, 4)})
    assert best is not None
    return best[2], best[1], best[0]


def choose_category(rows: Sequence[OutOfFold]) -> tuple[dict, float]:
    best: tuple[float, dict] | None = None
    for blend in CATEGORY_GRID:
        acc = float(np.mean([_category(o, blend) == o.sample.report.category for o in rows]))
        if best is None or acc > best[0] + 1e-9:
            best = (acc, blend)
    assert best is not None
    return best[1], best[0]


def _category(o: OutOfFold, blend: dict) -> str:
    _, _, scores = blend_scores(o.p, o.probs, o.sample.rules, o.categories, {**DEFAULT_BLEND, **blend})
    return o.categories[int(np.argmax(scores))]


def _verdict(o: OutOfFold, blend: dict) -> tuple[bool, str]:
    full = {**DEFAULT_BLEND, **blend}
    z, vetoed, scores = blend_scores(o.p, o.probs, o.sample.rules, o.categories, full)
    urgent = rules_stand(o.sample.rules, full) or (z >= full["threshold"] and not vetoed)
    return urgent, o.categories[int(np.argmax(scores))]


LIFE_GRID = (1.1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3)


def life_scores(rows: Sequence[OutOfFold], threshold: float) -> tuple[int, int, int]:
    """(labelled, flagged, right kind) over the rows whose file labels life events."""
    labelled = flagged = right = 0
    for o in rows:
        if not o.sample.report.has_six_visit:
            continue
        kind = life_verdict(o.sample.rules.life_event, o.life, LIFE_CLASSES, {"life_threshold": threshold})
        labelled += o.sample.report.six_visit is not None
        flagged += kind is not None
        right += kind is not None and kind == o.sample.report.six_visit
    return labelled, flagged, right


def choose_life(rows: Sequence[OutOfFold]) -> float:
    """The life-event threshold with the best F1 (recall and precision weigh alike: a missed visit and a
    needless one both cost a cadre's trust) on ``rows``; 1.1 = rules only."""
    best = (-1.0, 1.1)
    for t in LIFE_GRID:
        n, f, r = life_scores(rows, t)
        f1 = 2 * r / (n + f) if n + f else 0.0
        if f1 > best[0] + 1e-9:
            best = (f1, t)
    return best[1]


def choose_blend(
    rows: Sequence[OutOfFold], recall_target: float, life_rows: Sequence[OutOfFold] = ()
) -> dict:
    urgency, _, _ = choose_urgency(rows, recall_target)
    category, _ = choose_category(rows)
    return {**DEFAULT_BLEND, **urgency, **category, "life_threshold": choose_life(life_rows or rows)}


def cv_table(oof: Sequence[OutOfFold], blend: dict, recall_target: float, text_threshold: float) -> str:
    """Per held-out file: rules only, model only (p >= text_threshold, argmax) and combined. For a
    never-tuned file the combined blend is re-chosen on the *other* never-tuned files (nested), so its
    own lines choose nothing; for a tuned file (*) the blend chosen on all never-tuned files is used."""
    names = sorted({o.sample.group for o in oof}, key=lambda g: (g in THRESHOLD_FILES, g))
    unseen_rows = [o for o in oof if o.sample.group in THRESHOLD_FILES]
    lines = [
        f"leave-one-writer-out CV (each file = one writer; model trained on the other "
        f"{len(names) - 1} files); * = lexicon tuned on this file's text",
        f"shipped blend (chosen on pooled out-of-fold {len(unseen_rows)} never-tuned reports): "
        + json.dumps(blend),
        "columns: urgent recall, urgent precision, category accuracy; life event recall/precision (rules, "
        "combined: the life threshold re-chosen on the other files)",
        f"{'held-out file':30} {'n':>4} | {'rules only':17} | {'model only':17} | {'combined':17} | "
        f"{'life rules':11} | {'life comb.':11}",
    ]
    life_totals = {"rules": [0, 0, 0], "combined": [0, 0, 0]}
    life_unseen = {"rules": [0, 0, 0], "combined": [0, 0, 0]}

    def life_row(t: list[int]) -> str:
        n, f, r = t
        return f"{r / n if n else 1.0:5.3f} {r / f if f else 1.0:5.3f}"

    kinds = ("rules", "model", "combined")
    totals = {k: Scores() for k in kinds}
    unseen = {k: Scores() for k in kinds}
    for g in names:
        rows = [o for o in oof if o.sample.group == g]
        used = blend
        if g in THRESHOLD_FILES and len({o.sample.group for o in unseen_rows}) > 1:
            used = choose_blend([o for o in unseen_rows if o.sample.group != g], recall_target)
        sc = {k: Scores() for k in kinds}
        for o in rows:
            r = o.sample.report
            sc["rules"].add(r.urgent, o.sample.rules.urgency == "urgent", r.category, o.sample.rules.category)
            sc["model"].add(
                r.urgent, o.p >= text_threshold, r.category, o.categories[int(np.argmax(o.probs))]
            )
            urgent, category = _verdict(o, used)
            sc["combined"].add(r.urgent, urgent, r.category, category)
        for k in kinds:
            totals[k] += sc[k]
            if g in THRESHOLD_FILES:
                unseen[k] += sc[k]
        life_t = choose_life([o for o in oof if o.sample.group != g])
        life = {"rules": list(life_scores(rows, 1.1)), "combined": list(life_scores(rows, life_t))}
        for k, t in life.items():
            for store in (life_totals, life_unseen) if g in THRESHOLD_FILES else (life_totals,):
                store[k] = [a + b for a, b in zip(store[k], t, strict=True)]
        mark = "" if g in THRESHOLD_FILES else "*"
        lines.append(
            f"{g + mark:30} {sc['rules'].n:4} | {sc['rules'].row():17} | {sc['model'].row():17} | "
            f"{sc['combined'].row():17} | {life_row(life['rules']):11} | {life_row(life['combined']):11}"
        )
    for label, sc, lt in (
        ("never-tuned files (nested)", unseen, life_unseen),
        ("all files", totals, life_totals),
    ):
        lines.append(
            f"{label:30} {sc['rules'].n:4} | {sc['rules'].row():17} | {sc['model'].row():17} | "
            f"{sc['combined'].row():17} | {life_row(lt['rules']):11} | {life_row(lt['combined']):11}"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------ corrections
def export_corrections(session, path: str | Path) -> int:
    """Write the ``triage_corrections`` table as training JSONL (``{"text", "lang", "urgent",
    "category"}``, the corrected labels), the latest correction per case winning. Returns the number of
    lines written. ``session``: a SQLAlchemy session on the bot's database."""
    from sqlalchemy import select

    from storage.models import TriageCorrection

    latest: dict[int, TriageCorrection] = {}
    for c in session.scalars(select(TriageCorrection).order_by(TriageCorrection.at, TriageCorrection.id)):
        if c.text:
            latest[c.case_id] = c
    with Path(path).open("w", encoding="utf-8") as fh:
        for c in latest.values():
            row = {
                "text": c.text,
                "lang": c.language if c.language in ("zh", "bo") else "zh",
                "urgent": c.new_urgency == "urgent",
                "category": c.new_category,
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(latest)


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="*", type=Path, help="labelled JSONL (default: the shipped data)")
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("model.npz"))
    parser.add_argument(
        "--no-cv", action="store_true", help="skip cross-validation; keep the blend of --blend-from"
    )
    parser.add_argument(
        "--blend-from", type=Path, help="with --no-cv: copy blend weights/threshold from this model file"
    )
    args = parser.parse_args(argv)

    paths = list(args.files) or [DATA / f for f in DEFAULT_FILES]
    names = [str(p.relative_to(DATA)) if p.is_relative_to(DATA) else p.name for p in paths]
    t0 = time.perf_counter()
    samples = load_samples(paths, names)
    print(f"{len(samples)} reports from {len(paths)} files", file=sys.stderr)
    params = dict(DEFAULTS)
    blend = dict(DEFAULT_BLEND)
    if args.blend_from:
        blend.update(TriageModel.load(args.blend_from).meta.get("blend", {}))
    if not args.no_cv and len(set(names)) > 1:
        oof = cross_validate(samples, params)
        rows = [o for o in oof if o.sample.group in THRESHOLD_FILES] or oof
        blend = choose_blend(rows, params["recall_target"], oof)
        z = np.array([o.p for o in rows])
        y = np.array([o.sample.report.urgent for o in rows])
        order = np.argsort(-z, kind="stable")
        k = min(int(np.searchsorted(np.cumsum(y[order]), params["recall_target"] * y.sum())), len(z) - 1)
        print(cv_table(oof, blend, params["recall_target"], float(z[order][k])))
    model = fit(samples, params, {"trained_on": names, "blend": blend})
    model.save(args.output)
    size = args.output.stat().st_size
    print(
        f"model: {len(model.vocab)} features -> {args.output} ({size / 1e6:.2f} MB) "
        f"in {time.perf_counter() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
