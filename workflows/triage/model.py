"""The learned part of triage: two logistic-regression heads (urgent yes/no, 15-way category) over
character n-grams of the report plus the rules' own verdict as features, applied with plain numpy.

Why: the rules only know the phrasings someone wrote down; on reports by writers who never saw the
lexicon they reached urgent recall ~0.83 and category accuracy ~0.66-0.70. Character n-grams need no
segmenter, work on Chinese and Tibetan alike, and learn the register of a report. The rules' outputs
(urgent score, category scores, the precedence rule that fired, "an urgent cue was cancelled by
negation/past/resolved/hypothetical context") are features too, so the model learns how far to trust
them instead of a hand-set blend. How the two are combined (``combine``) and every threshold were
chosen by leave-one-file-out cross-validation (``workflows/triage/train.py``; figures in README.md).

Features (``features``): the report cut into units by ``text.to_units`` (Han character / Latin letter /
digit, Tibetan syllable; spaces and punctuation dropped, digits folded to 0); Han/alnum unit 1-3-grams,
Tibetan syllable 1-2-grams; binary. Rule features are prefixed ``R:``.

File (``model.npz``, package data): ``vocab`` (features, "\\n"-joined UTF-8), ``W`` float16 [V, 1+K+L]
(column 0 = urgency logit, 1..K = category logits, then L life-event logits: "none" and labels.md's six_visit
kinds, when the file has a life-event head), ``b`` float32 [1+K+L], ``categories``, ``life_events``, thresholds
and ``trained_on`` as JSON in ``meta``. Scoring is one dict lookup per feature and one small numpy sum:
well under 1 ms a report. No scikit-learn at run time.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np

from workflows.triage.base import LIFE_EVENT_TARGET, Cue, TriageResult
from workflows.triage.text import HARD, SOFT, is_tibetan, to_units

DEFAULT_MODEL = "model.npz"
MODEL_CUE_NOTE = "model"
PRECEDENCE_PREFIX = "rule: "
KIND = "lianhu-triage-logreg-v1"


# ------------------------------------------------------------------ features
NAME_UNIT = "@"  # one unit for a masked person/place name (names.py)
# Function words and pronouns: an n-gram made only of these (and of numbers / names) carries no urgency and no
# topic ("家的", "一个", "来了", "起来", "好几" were the old model's top "urgent" n-grams), so it is not a feature.
FUNCTION_CHARS = frozenset(
    "的了个来起家是在有那这么吗呢吧啊呀哦嗯就也都还又把被给让从到去着过得地很太好些点们上下里边说我你他她它咱"
)
NUMERAL_CHARS = frozenset("一二三四五六七八九十百千万两几零")
# Fillers and forms of address say nothing about the matter: dropped before n-grams (那个, 嗯, 书记...).
FILLERS = (
    "就是说",
    "那个",
    "这个",
    "嗯",
    "呃",
    "哎",
    "诶",
    "喂",
    "书记",
    "主任",
    "领导",
    "乡长",
    "村长",
    "然后",
    "的话",
)
_FILLER_RE = re.compile("|".join(sorted(map(re.escape, FILLERS), key=len, reverse=True)))


def _fold(unit: str) -> str:
    return "0" if unit.isdigit() or unit in NUMERAL_CHARS else unit


def _informative(gram: str) -> bool:
    return any(ch not in FUNCTION_CHARS and ch != "0" and ch != NAME_UNIT for ch in gram)


def _readable(feature: str) -> bool:
    """A Tibetan syllable pair (``t:a_b``) or a Han n-gram of two or more characters, without a masked name."""
    if feature.startswith("t:"):
        return "_" in feature
    # a folded number ("0直" for 一直, "0户") reads as nonsense to an official: weighs in the score, never shown
    return len(feature) >= 2 and "0" not in feature and NAME_UNIT not in feature and _informative(feature)


def feature_units(units: list[str], hidden: Sequence[tuple[int, int]] = ()) -> list[str]:
    """``units`` with every ``hidden`` span (a name) replaced by one ``NAME_UNIT``."""
    if not hidden:
        return units
    ends = {a: b for a, b in hidden}
    out: list[str] = []
    i, n = 0, len(units)
    while i < n:
        j = ends.get(i)
        if j is not None and j > i:
            out.append(NAME_UNIT)
            i = j
        else:
            out.append(units[i])
            i += 1
    return out


def text_features(text: str | list[str], max_n: int = 3) -> list[str]:
    """Distinct n-gram features of a report, or of its (name-masked) units (see module docstring)."""
    return sorted(_grams(text, max_n))


# function characters, the folded number and a masked name become NUL in a "mask" of the text: an n-gram whose
# mask is all NUL carries nothing. One str.translate instead of a Python loop per character (cost of length).
_UNINFORMATIVE = str.maketrans(dict.fromkeys([*FUNCTION_CHARS, "0", NAME_UNIT], "\x00"))
_TIBETAN = re.compile("[\u0f00-\u0fff]")
_FOLD = str.maketrans(dict.fromkeys([*NUMERAL_CHARS, *"0123456789"], "0"))


def _grams(text: str | list[str], max_n: int = 3) -> set[str]:
    if isinstance(text, list):
        units = text
    else:
        try:
            units = to_units(text if isinstance(text, str) else "")
        except Exception:  # never raise on odd input
            return set()
    out: set[str] = set()
    if not _TIBETAN.search("".join(units)):  # the common case: one Han run, no per-unit test
        runs: list[tuple[bool, list[str]]] = [(False, [u for u in units if u not in (HARD, SOFT)])]
    else:
        runs = []  # (tibetan?, units)
        for u in units:
            if u in (HARD, SOFT):
                continue  # punctuation/ASR-free: "strip spaces and punctuation"
            tib = is_tibetan(u[0])
            if runs and runs[-1][0] == tib:
                runs[-1][1].append(u)
            else:
                runs.append((tib, [u]))
    for tib, seq in runs:
        if tib:
            seq = [_fold(u) for u in seq]
            out.update("t:" + s for s in seq)
            out.update(f"t:{a}_{b}" for a, b in zip(seq, seq[1:], strict=False))
        else:
            # a multi-character unit is a Latin word or a number: one character of the flat string each
            if all(len(u) == 1 for u in seq):
                joined = "".join(seq).translate(_FOLD)
            else:  # a multi-character unit (a Latin word, a number) folds only when it is all digits
                joined = "".join(_fold(u) if len(u) > 1 else u.translate(_FOLD) for u in seq)
            flat = _FILLER_RE.sub("", joined)
            mask = flat.translate(_UNINFORMATIVE)
            for n in range(1, max_n + 1):
                blank = "\x00" * n
                out.update(flat[i : i + n] for i in range(len(flat) - n + 1) if mask[i : i + n] != blank)
    return out


def rule_features(result: TriageResult) -> dict[str, float]:
    """The rules' verdict as features (from the rules-only result, no model involved)."""
    f: dict[str, float] = {f"R:u={result.urgency}": 1.0, f"R:cat={result.category}": 1.0}
    score = result.urgent_score or 0.0
    f["R:us"] = min(score, 6.0) / 3.0
    if score >= 2.0:
        f["R:us>=2"] = 1.0
    for cat, value in result.category_scores:
        if value > 0:
            f[f"R:cs:{cat}"] = min(value, 6.0) / 3.0
    if rules_cancelled(result):
        f["R:cancelled"] = 1.0
    for c in result.cues:
        if c.text.startswith(PRECEDENCE_PREFIX):
            f["R:" + c.text] = 1.0
    if not result.cues:
        f["R:nocue"] = 1.0
    return f


def rules_cancelled(result: TriageResult) -> bool:
    """The rules saw an urgent cue and cancelled it by negation / past / hypothetical / resolution /
    drill context (the only case in which the rules may veto the model's "urgent")."""
    return any(c.negated and c.target == "urgent" for c in result.cues)


def features(text: str | list[str], rules: TriageResult | None, use_rules: bool = True) -> dict[str, float]:
    """Model input: n-grams of ``text`` (a string, or the classifier's name-masked units), plus the rules'
    verdict when the model was trained with it."""
    f = dict.fromkeys(_grams(text), 1.0)
    if use_rules and rules is not None:
        f.update(rule_features(rules))
    return f


# ------------------------------------------------------------------ model
@dataclass
class TriageModel:
    vocab: dict[str, int]
    W: np.ndarray  # [V, 1+K] float32
    b: np.ndarray  # [1+K]
    categories: tuple[str, ...]
    meta: dict

    @property
    def use_rules(self) -> bool:
        return bool(self.meta.get("use_rules", False))

    @property
    def trained_on(self) -> tuple[str, ...]:
        return tuple(self.meta.get("trained_on", ()))

    @property
    def life_events(self) -> tuple[str, ...]:
        """The life-event head's classes ("none" first, then six_visit kinds); empty for an older file."""
        return tuple(self.meta.get("life_events", ()))

    def score(self, feats: dict[str, float]) -> tuple[float, np.ndarray, np.ndarray | None]:
        """(p_urgent, category probabilities, life-event probabilities over ``life_events`` or None)."""
        get = self.vocab.get
        idx = [(j, v) for k, v in feats.items() if (j := get(k)) is not None]
        if idx:
            rows = np.array([j for j, _ in idx], dtype=np.int64)
            part = self.W[rows]
            if any(v != 1.0 for _, v in idx):  # n-grams are binary; only rule features carry other values
                part = part * np.array([v for _, v in idx], dtype=np.float32)[:, None]
            logits = self.b + part.sum(axis=0)
        else:
            part = np.zeros((0, self.W.shape[1]), dtype=np.float32)
            logits = self.b.copy()
        z = float(logits[0])
        p_urgent = 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))
        k = 1 + len(self.categories)
        probs = _softmax(logits[1:k])
        life = _softmax(logits[k:]) if self.life_events else None
        self._last = (idx, part)
        return p_urgent, probs, life

    def top_features(self, column: int, k: int = 3) -> list[tuple[str, float]]:
        """The k text n-grams that pushed ``column`` (0 = urgency, 1+i = category i) up most in the last
        ``score`` call (rule features are already visible as rule cues). Only n-grams a person can read as a
        reason are shown: a single Han character (在, 了) or a lone Tibetan syllable (འདུག) weighs in the
        score but explains nothing to an official."""
        idx, part = self._last
        if not idx:
            return []
        inverse = self._inverse()
        contrib = part[:, column]
        order = np.argsort(-contrib)
        out = []
        for j in order:
            if contrib[j] <= 0 or len(out) >= k:
                break
            name = inverse[idx[j][0]]
            if name.startswith("R:") or not _readable(name):
                continue
            out.append((name[2:].replace("_", "་") if name.startswith("t:") else name, float(contrib[j])))
        return out

    def _inverse(self) -> list[str]:
        inv = getattr(self, "_inv", None)
        if inv is None:
            inv = [""] * len(self.vocab)
            for k, i in self.vocab.items():
                inv[i] = k
            self._inv = inv
        return inv

    # ---------------------------------------------------------------- io
    def save(self, path: str | Path) -> None:
        meta = {**self.meta, "kind": KIND, "categories": list(self.categories)}
        vocab = sorted(self.vocab, key=self.vocab.get)
        np.savez_compressed(
            path,
            vocab=np.frombuffer("\n".join(vocab).encode("utf-8"), dtype=np.uint8),
            W=self.W.astype(np.float16),
            b=self.b.astype(np.float32),
            meta=np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
        )

    @classmethod
    def load(cls, source: str | Path | bytes) -> TriageModel:
        data = np.load(io.BytesIO(source) if isinstance(source, bytes) else source, allow_pickle=False)
        meta = json.loads(data["meta"].tobytes().decode("utf-8"))
        if meta.get("kind") != KIND:
            raise ValueError(f"not a {KIND} model file")
        words = data["vocab"].tobytes().decode("utf-8").split("\n")
        W = data["W"].astype(np.float32)
        b = data["b"].astype(np.float32)
        width = 1 + len(meta["categories"]) + len(meta.get("life_events", ()))
        if W.shape != (len(words), width) or b.shape != (W.shape[1],):
            raise ValueError("model file: vocab/W/b shapes disagree")
        return cls({w: i for i, w in enumerate(words)}, W, b, tuple(meta["categories"]), meta)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


def load_model(path: str | Path | None = None) -> TriageModel | None:
    """The shipped model (package data) or one at ``path``; None when the shipped file is absent, so the
    rules still work alone."""
    if path is not None:
        return TriageModel.load(Path(path))
    resource = resources.files("workflows.triage").joinpath(DEFAULT_MODEL)
    if not resource.is_file():
        return None
    return TriageModel.load(resource.read_bytes())


# ------------------------------------------------------------------ combination
DEFAULT_BLEND = {
    # urgency: z = logit(p_model) + rules_urgent*[rules: urgent] + rules_priority*[rules: priority]
    #              + cancelled*[rules cancelled an urgent cue by context]; urgent when z >= threshold
    "rules_urgent": 1.0,
    "rules_priority": 0.0,
    "cancelled": 0.0,
    "veto": False,  # True: a cancelled urgent cue forbids "urgent" from the model
    "threshold": 0.0,
    "rules_stand": 3.0,  # rules urgent score at or above which the model may not demote (see rules_stand)
    "priority_margin": 1.5,  # z in [threshold - margin, threshold) -> priority
    # category: argmax of log p_model(c) + rules_category*[c = rules' category]
    #           + precedence*[c = rules' category and a precedence rule fired] + scores*rule_score(c)/3
    "rules_category": 1.0,
    "precedence": 0.0,
    "scores": 0.5,
    # life events: when the rules flag none, the model's most likely kind is flagged when its probability is
    # at least life_threshold (above 1: never, the rules alone; chosen by CV in train.py)
    "life_threshold": 1.1,
}


def blend_scores(
    p_urgent: float, probs: np.ndarray, rules: TriageResult, categories: Sequence[str], blend: dict
) -> tuple[float, bool, np.ndarray]:
    """(urgency score z, vetoed?, category scores) of the rules+model blend (README "Combination")."""
    z = math.log(max(p_urgent, 1e-6) / max(1.0 - p_urgent, 1e-6))
    cancelled = rules_cancelled(rules) and rules.urgency != "urgent"
    z += blend["rules_urgent"] * (rules.urgency == "urgent")
    z += blend["rules_priority"] * (rules.urgency == "priority")
    z += blend["cancelled"] * cancelled
    vetoed = bool(blend["veto"] and cancelled)
    scores = np.log(np.maximum(probs, 1e-9))
    if blend["scores"]:
        for cat, value in rules.category_scores:
            if cat in categories:
                scores[categories.index(cat)] += blend["scores"] * min(value, 6.0) / 3.0
    if rules.category in categories:
        fired = any(c.text.startswith(PRECEDENCE_PREFIX) for c in rules.cues)
        scores[categories.index(rules.category)] += blend["rules_category"] + blend["precedence"] * fired
    return z, vetoed, scores


def rules_stand(rules: TriageResult, blend: dict) -> bool:
    """The rules found a live danger strong enough that the model must not demote it (issue kind 1: all
    four urgent reports the old blend missed had rules scores 3-7 against a threshold of 2). Only a
    borderline rules verdict (score below ``rules_stand``) may be demoted; the model may always raise."""
    return rules.urgency == "urgent" and (rules.urgent_score or 0.0) >= blend["rules_stand"]


def combine(text: str | list[str], rules: TriageResult, model: TriageModel) -> TriageResult:
    """The final verdict from the rules-only result and the model, with the blend weights and threshold
    stored in the model file (chosen by leave-one-writer-out CV, see train.py). A category the model does
    not know (an operator's local category) is the rules' call.

    The "why" names what decided (``Cue.decides``): the rules' live urgent cues when the rules' urgency
    stands, the model's n-grams when the model raised it, a "model: borderline" cue when it demoted a
    borderline rules verdict; for the category the rules' cues (and precedence rule) when the final
    category is the rules' one, else the model's n-grams and the precedence rule is marked overruled."""
    blend = {**DEFAULT_BLEND, **model.meta.get("blend", {})}
    p, probs, life = model.score(features(text, rules, model.use_rules))
    z, vetoed, scores = blend_scores(p, probs, rules, model.categories, blend)
    t = blend["threshold"]
    stands = rules_stand(rules, blend)
    if stands or (z >= t and not vetoed):
        urgency = "urgent"
    elif z >= t - blend["priority_margin"] or rules.urgency in ("urgent", "priority"):
        urgency = "priority"
    else:
        urgency = "general"

    k = int(np.argmax(scores))
    category = model.categories[k]
    shifted = np.exp(scores - scores.max())
    cat_conf = float(shifted[k] / shifted.sum())
    if rules.category not in model.categories:
        category, cat_conf = rules.category, rules.category_confidence or 0.5

    urgency_by_rules = urgency == rules.urgency and urgency != "general"
    urgency_by_rules_or_calm = urgency == rules.urgency and urgency != "urgent"
    category_by_rules = category == rules.category
    cues: list[Cue] = []
    for c in rules.cues:
        decides = ""
        if c.negated:
            if c.decides == "urgency" and urgency_by_rules_or_calm:
                decides = "urgency"
            elif c.decides == "category" and category_by_rules:
                decides = "category"
        elif c.decides == "life_event":  # the model does not judge life events: the rules' cues stand
            decides = "life_event"
        else:
            if c.text.startswith(PRECEDENCE_PREFIX):
                if not category_by_rules:
                    c = replace(c, negated=True, note=c.note + "; overruled by the learned model")
                else:
                    decides = "category"
            elif urgency_by_rules and (
                c.target == "urgent" or (c.target == "priority" and urgency == "priority")
            ):
                decides = "urgency"
            elif category_by_rules and c.target == category:
                decides = "category"
        cues.append(replace(c, decides=decides))
    if urgency == "urgent" and rules.urgency != "urgent":
        grams = model.top_features(0)
        for gram, w in grams:
            cues.append(Cue(gram, "urgent", round(w, 2), False, MODEL_CUE_NOTE, "urgency"))
        if not grams:
            cues.append(Cue("learned model", "urgent", round(z - t, 2), False, MODEL_CUE_NOTE, "urgency"))
    elif rules.urgency == "urgent" and urgency != "urgent":
        cues.append(
            Cue(
                "learned model: borderline, not urgent",
                urgency,
                round(z - t, 2),
                False,
                MODEL_CUE_NOTE,
                "urgency",
            )
        )
    if category in model.categories:
        for gram, w in model.top_features(1 + model.categories.index(category)):
            cues.append(
                Cue(
                    gram,
                    category,
                    round(w, 2),
                    False,
                    MODEL_CUE_NOTE,
                    "" if category_by_rules else "category",
                )
            )
    life_event = life_verdict(rules.life_event, life, model.life_events, blend)
    if life_event is not None and life_event != rules.life_event:
        column = 1 + len(model.categories) + model.life_events.index(life_event)
        grams = model.top_features(column)
        target = LIFE_EVENT_TARGET + life_event
        for gram, w in grams or [("learned model", 0.0)]:
            cues.append(Cue(gram, target, round(w, 2), False, MODEL_CUE_NOTE, "life_event"))
    p_blend = 1.0 / (1.0 + math.exp(-max(min(z - t, 50.0), -50.0)))
    if stands:
        p_blend = max(p_blend, rules.urgency_confidence or 0.5)
    urgency_conf = p_blend if urgency == "urgent" else 1.0 - p_blend
    return replace(
        rules,
        urgency=urgency,
        category=category,
        confidence=round(min(urgency_conf, cat_conf), 3),
        cues=tuple(cues),
        model="rules+model",
        urgency_confidence=round(urgency_conf, 3),
        category_confidence=round(cat_conf, 3),
        life_event=life_event,
    )


def life_verdict(
    rules_kind: str | None, life: np.ndarray | None, kinds: Sequence[str], blend: dict
) -> str | None:
    """The life event: the rules' when they found one (their cues are readable and context-aware: negation,
    conditionals, years ago); otherwise the model's most likely kind other than "none" when its probability
    reaches ``life_threshold``. Why: blind batches showed the rules' life-event recall at 0.60-0.78 (writers
    phrase a child leaving school or a young man idle at home in ways no word list foresees), while the
    model reads the register of the whole report."""
    if rules_kind is not None or life is None or not kinds:
        return rules_kind
    order = np.argsort(-life)
    for j in order:
        if kinds[j] != "none":
            return kinds[j] if float(life[j]) >= blend["life_threshold"] else None
    return None


def model_only(text: str | list[str], rules: TriageResult | None, model: TriageModel) -> tuple[float, str]:
    """(p_urgent, category) from the model alone (for cross-validation tables)."""
    p, probs, _ = model.score(features(text, rules, model.use_rules))
    return p, model.categories[int(np.argmax(probs))]


def probabilities(
    text: str | list[str], rules: TriageResult | None, model: TriageModel
) -> tuple[float, np.ndarray]:
    p, probs, _ = model.score(features(text, rules, model.use_rules))
    return p, probs


__all__: Sequence[str] = (
    "TriageModel",
    "combine",
    "features",
    "life_verdict",
    "load_model",
    "model_only",
    "probabilities",
    "rule_features",
    "rules_cancelled",
    "rules_stand",
    "text_features",
)
