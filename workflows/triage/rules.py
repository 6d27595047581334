"""The transparent classifier: weighted lexicon cues, cancelled by negation, past, hypothetical and
resolution context, summed into an urgency and a category.

Why rules first: officials must trust the result and see *why* ("着火 → urgent +3"), operators must be
able to add a local word without retraining, and there is no labelled data yet. Every cue that fired,
or that was cancelled and why, is in ``TriageResult.cues``. The interface (``Classifier``) is the same for
a learned model; corrections recorded by the case engine are its future training data.

Decisions (kept conservative because a missed emergency is the worst error):
- Urgency = sum over *groups* (concepts) of the group's urgent weight when any of its terms is live, so
  repeating "着火了着火了" counts once while fire + "快来" + "还在烧" add up.
- A cancelled cue (negated / past / hypothetical / resolved) adds nothing to urgency but still hints the
  category at ``negated_category_factor`` (what the report is *about* does not change).
- When the report is urgent, its category is chosen among the categories of the cues that made it urgent
  (an emergency at a school is a fire, not an education case).
- Generalisation (lexicon section "generic harm semantics"): harm concepts (a victim "被…咬/压", a crash,
  something swallowed, someone stuck, an attack, zoonosis signs, a mob) are each below the urgent
  threshold; harm + immediacy, or two harm concepts, reach it. An urgent score >= harm_priority_threshold
  alone gives "priority" (4 h), so an uncertain emergency cannot sit in "general".
- Optional learned model (model.py, model.npz): the rules' verdict is blended with a char n-gram
  logistic regression (``model.combine``; weights chosen by leave-one-file-out CV, see README.md).
- Category precedence (``_precedence``, lexicon ``[[precedence]]``): where two categories both fire and
  the sums cannot see the cause ("暴雪把牛棚压塌了" is a disaster, not a collapse), a named rule decides
  and shows in "why"; a category resting only on a past or negated emergency yields to a present request.
- Confidence comes from margins: distance of the urgency score from the threshold, and the lead of the
  best category over the runner-up.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace

from workflows.triage.base import LIFE_EVENT_TARGET, Cue, TriageResult
from workflows.triage.lexicon import Group, Lexicon
from workflows.triage.matcher import BO_NEGATORS, Match, Matcher, match_syllables
from workflows.triage.model import TriageModel, combine, feature_units
from workflows.triage.names import NameIndex, shipped_names
from workflows.triage.sounds import SoundIndex
from workflows.triage.text import HARD, SOFT, is_tibetan, split_syllables, units_and_breaks, zh_string

MAX_CHARS = 8192  # longer texts: triage reads the first and the last MAX_CHARS/2 characters (classify)
TRUNCATED_CUE = "…"
TRUNCATED_NOTE = "long text: triage read the beginning and the end: "
URGENCY_RANK = {"urgent": 0, "priority": 1, "general": 2}
SOUNDS_LIKE = "sounds like "
ALL_CLEAR = "all clear: "
CONTEXT_NOTES = "context:"
URGENCY_SCALE = 0.6  # logistic scale of the urgency confidence, in score points
PRECEDENCE_CUE = "rule: "
CLAUSE_LINKS = frozenset("就才便")  # a linking word starts a new clause: context words do not reach over it
# equal evidence: the more specific event wins (a death often comes with "no money": it is the death)
LIFE_PRIORITY = ("death", "dropout", "troubled_mind", "idle_youth", "illness_poverty", "festival")
LIFE_CONDITIONALS = frozenset(
    {"如果", "万一", "假如", "要是", "以防", "担心会", "怕会", "演练", "演习", "培训", "宣传"}
)
LONG_AGO = frozenset(
    {
        "去年",
        "前年",
        "几年前",
        "那年",
        "小时候",
        "早些年",
        "好几年前",
        "前几年",
        "前些年",
        "以前",
        "过去",
        "ན་ནིང",
    }
)
LIVE_GROUPS = frozenset({"immediacy", "ongoing"})  # lexicon groups that say the danger is live right now
PAST_ASPECT = "过"  # 着过火 / 滑坡过: experienced, not happening
NOT_PAST_AFTER = set("来去不得")


class Context:
    """Everything about one report that cue evaluation needs, indexed so that every context question ("a
    negator just before this cue?", "a resolution after it?") is a binary search, not a scan of all matches:
    triage stays linear in the report's length."""

    def __init__(
        self, units: list[str], flat: str, matches: list[Match], breaks: frozenset[int] = frozenset()
    ):
        self.units = units
        self.flat = flat
        self.matches = matches
        self.breaks = breaks
        kinds: dict[str, list[Match]] = defaultdict(list)
        for m in matches:  # already sorted by start
            kinds[m.kind].append(m)
        self._kinds = dict(kinds)
        self._starts = {k: [m.start for m in v] for k, v in kinds.items()}
        self._by_end = {k: sorted(v, key=lambda m: m.end) for k, v in kinds.items()}
        self._ends = {k: [m.end for m in v] for k, v in self._by_end.items()}
        self._longest = {k: max(m.length for m in v) for k, v in kinds.items()}
        hard, soft, brk = [0], [0], [0]
        for i, u in enumerate(units):
            hard.append(hard[-1] + (u == HARD))
            soft.append(soft[-1] + (u == SOFT))
            brk.append(brk[-1] + (i in breaks))
        self._hard, self._soft, self._brk = hard, soft, brk
        self._occurrences: dict[tuple[str, ...], list[tuple[int, int]]] = {}
        self._bo_positions: dict[str, list[int]] | None = None
        self._word_spans: dict[str, list[tuple[int, int]]] = {}

    def of(self, *kinds: str) -> list[Match]:
        if len(kinds) == 1:
            return self._kinds.get(kinds[0], [])
        return sorted((m for k in kinds for m in self._kinds.get(k, ())), key=lambda m: m.start)

    def ending_in(self, kind: str, lo: int, hi: int) -> list[Match]:
        """Matches of ``kind`` whose end lies in [lo, hi]."""
        ends = self._ends.get(kind)
        if not ends:
            return []
        return self._by_end[kind][bisect_left(ends, lo) : bisect_right(ends, hi)]

    def starting_in(self, kind: str, lo: int, hi: int) -> list[Match]:
        """Matches of ``kind`` whose start lies in [lo, hi]."""
        starts = self._starts.get(kind)
        if not starts:
            return []
        return self._kinds[kind][bisect_left(starts, lo) : bisect_right(starts, hi)]

    def covering(self, kind: str, m: Match) -> list[Match]:
        """Matches of ``kind`` that contain ``m``."""
        longest = self._longest.get(kind, 0)
        return [o for o in self.starting_in(kind, m.start - longest, m.start) if m.end <= o.end]

    def crosses(self, start: int, end: int, stops: tuple[str, ...] = (HARD,)) -> bool:
        """True if a boundary unit lies in units[start:end]."""
        a, b = max(start, 0), max(end, 0)
        if b <= a:
            return False
        b = min(b, len(self.units))
        a = min(a, b)
        if HARD in stops and self._hard[b] - self._hard[a]:
            return True
        return SOFT in stops and self._soft[b] - self._soft[a] > 0

    def breaks_between(self, start: int, end: int) -> bool:
        """A typed space strictly after ``start`` and at or before ``end`` (a clause break between them)."""
        a, b = min(max(start + 1, 0), len(self.units)), min(max(end + 1, 0), len(self.units) + 1)
        return b > a and self._brk[min(b, len(self.units))] - self._brk[a] > 0

    def any_between(self, start: int, end: int, kinds: tuple[str, ...]) -> bool:
        return any(m.end <= end for k in kinds for m in self.starting_in(k, start, end - 1))

    def word_spans(self, word: str) -> list[tuple[int, int]]:
        """Every occurrence of a Chinese context word (many word lists share words: found once per report)."""
        spans = self._word_spans.get(word)
        if spans is None:
            spans = []
            i = self.flat.find(word)
            while i >= 0:
                spans.append((i, i + len(word)))
                i = self.flat.find(word, i + 1)
            self._word_spans[word] = spans
        return spans

    def bo_positions(self, syllable: str) -> list[int]:
        if self._bo_positions is None:
            index: dict[str, list[int]] = defaultdict(list)
            for j, u in enumerate(self.units):
                if is_tibetan(u[0]):
                    index[u].append(j)
            self._bo_positions = dict(index)
        return self._bo_positions.get(syllable, [])


class RulesClassifier:
    """``Classifier`` built from a ``Lexicon`` (see ``workflows.triage.default_classifier``)."""

    name = "rules"

    def __init__(self, lexicon: Lexicon, model: TriageModel | None = None) -> None:
        self.lexicon = lexicon
        self.model = model
        self.settings = lexicon.settings
        self.categories = lexicon.categories
        self.matcher = Matcher(lexicon)
        self._context_words: dict[tuple[str, ...], tuple[list[str], list[tuple[str, ...]]]] = {}
        self._shipped_names = shipped_names()
        self._names_provider: Callable[[], Iterable[str]] | None = None
        self._names_seen: object = None
        self._name_index = NameIndex(self._shipped_names)
        self._sounds: SoundIndex | None = None

    # ------------------------------------------------------------------ public
    def use_names(self, provider: Callable[[], Iterable[str]] | None) -> None:
        """Mask these names too (the org tree's, ``workflows.orgnames.OrgNames.names``); the provider is
        called per report and should be cached; the index is rebuilt only when it returns a new object."""
        self._names_provider = provider
        self._names_seen = None
        if provider is None:
            self._name_index = NameIndex(self._shipped_names)

    def classify(self, text: str, language: str = "zh", *, source: str = "text") -> TriageResult:
        text = text if isinstance(text, str) else ""
        if len(text) <= MAX_CHARS:
            return self._classify(text, source)
        # Bounded cost whatever arrives (a 1 MB paste once kept a core busy for minutes and the case stayed
        # "reported"): the case keeps the whole text; triage reads its beginning and its end (where a
        # follow-up adds the news) and takes the more urgent verdict, and says so in the "why".
        half = MAX_CHARS // 2
        parts = [self._classify(text[:half], source), self._classify(text[-half:], source)]
        result = min(parts, key=lambda r: (URGENCY_RANK.get(r.urgency, 9), -(r.confidence or 0.0)))
        note = f"{TRUNCATED_NOTE}{half}+{half} of {len(text)}"
        return replace(result, cues=(*result.cues, Cue(TRUNCATED_CUE, "other", 0.0, True, note)))

    def _classify(self, text: str, source: str) -> TriageResult:
        result, units = self.analyse(text, source=source)
        if self.model is not None and units is not None:
            result = combine(units, result, self.model)
        return result

    def analyse(self, text: str, *, source: str = "text") -> tuple[TriageResult, list[str] | None]:
        """The rules-only verdict and the name-masked units the model reads (None for an empty report).
        Training uses this too, so the model learns from exactly what it will see."""
        text = (text if isinstance(text, str) else "")[:MAX_CHARS]
        try:
            units, breaks = units_and_breaks(text)
        except Exception:  # never raise on odd input (the contract)
            units, breaks = [], frozenset()
        if not any(u not in (HARD, SOFT) for u in units):
            return TriageResult("general", "other", 0.0, (), self.name, 0.0, 0.0), None
        flat = zh_string(units)
        names = self._names().find(flat)
        hidden = [(m.start, m.end) for m in names]
        extra = list(names)
        if source == "speech":
            extra.extend(self._sound_matches(units, flat, hidden))
        ctx = Context(
            units, flat, self.matcher.find(units, extra, flat), breaks if source != "speech" else frozenset()
        )
        result = self._score(ctx)
        hidden = [(m.start, m.end) for m in ctx.of("name")]
        return result, feature_units(units, hidden)

    def _names(self) -> NameIndex:
        if self._names_provider is None:
            return self._name_index
        try:
            current = self._names_provider()
        except Exception:  # noqa: BLE001 - masking is a refinement, triage goes on without the org tree
            return self._name_index
        if current is not self._names_seen:
            self._name_index = NameIndex(self._shipped_names | frozenset(current))
            self._names_seen = current
        return self._name_index

    def _sound_matches(self, units: list[str], flat: str, hidden: list[tuple[int, int]]) -> list[Match]:
        """Sound-alike cues (sounds.py) that no exact cue, trap or name already explains."""
        if self._sounds is None:
            self._sounds = SoundIndex(self.lexicon)
        heard = self._sounds.find(flat, hidden)
        if not heard:
            return []
        exact = self.matcher.find(units, None, flat)
        taken = [(m.start, m.end) for m in exact if m.kind in ("cue", "trap")] + hidden
        return [m for m in heard if not any(a < m.end and m.start < b for a, b in taken)]

    # ------------------------------------------------------------------ scoring
    def _score(self, ctx: Context) -> TriageResult:
        s = self.settings
        live: dict[str, list[Match]] = defaultdict(list)
        dead: dict[str, list[Match]] = defaultdict(list)
        notes: dict[int, str] = {}
        groups: dict[str, Group] = {}
        for m in ctx.of("cue"):
            assert m.group is not None
            groups[m.group.name] = m.group
            why = self._cancelled(ctx, m)
            if why is None:
                live[m.group.name].append(m)
            else:
                dead[m.group.name].append(m)
                notes[id(m)] = why
        if s.denial_scope:
            self._denied(ctx, live, dead, notes, groups)

        def strength(ms: list[Match]) -> float:  # a concept heard only by its sound counts less
            return 1.0 if any(not m.sounds_like for m in ms) else s.sound_factor

        urgent_score = sum(groups[g].urgent * breadth(live[g]) * strength(live[g]) for g in live)
        priority_score = sum(groups[g].priority * strength(live[g]) for g in live)
        category_scores: dict[str, float] = defaultdict(float)
        live_scores: dict[str, float] = defaultdict(float)
        evidence: dict[str, int] = defaultdict(int)
        for name, group in groups.items():
            if not group.category or group.weight <= 0:
                continue
            if live.get(name):
                # a topic word that context cancelled at full category strength (a past *object*, a
                # negated non-emergency) is still evidence for the same concept as the live ones
                full = live[name] + [
                    m for m in dead.get(name, ()) if self._category_factor(group, notes[id(m)]) >= 1.0
                ]
                value = group.weight * breadth(full) * strength(live[name])
                category_scores[group.category] += value
                live_scores[group.category] += group.weight * breadth(
                    [m for m in full if not notes.get(id(m), "").startswith("past")]
                )
                evidence[group.category] += sum({m.text: m.length for m in full}.values())
            elif dead.get(name):
                factor = max(self._category_factor(group, notes[id(m)]) for m in dead[name])
                category_scores[group.category] += group.weight * factor * breadth(dead[name])
                present = [m for m in dead[name] if not notes[id(m)].startswith("past")]
                if factor >= 1.0 and present:  # resolved / hypothetical / all-clear: still the topic
                    live_scores[group.category] += group.weight * breadth(present)

        if urgent_score >= s.urgent_threshold:
            urgency = "urgent"
        elif (
            urgent_score + priority_score >= s.priority_threshold or urgent_score >= s.harm_priority_threshold
        ):
            urgency = "priority"
        else:
            urgency = "general"

        candidates = category_scores
        if urgency == "urgent":
            urgent_categories = {
                groups[g].category for g in live if groups[g].urgent > 0 and groups[g].category
            }
            if urgent_categories:
                candidates = {c: v for c, v in category_scores.items() if c in urgent_categories}
        order = {c: i for i, c in enumerate(self.categories)}
        # ties (most weights are 2.0) go to the category with more matched units (Han characters /
        # Tibetan syllables): a longer phrase is a more specific one ("养老保险" over "七十多"); the
        # fixed category order only breaks exact ties
        ranked = sorted(
            candidates.items(),
            key=lambda kv: (-round(kv[1], 6), -evidence.get(kv[0], 0), order.get(kv[0], len(order))),
        )
        best, best_score = ranked[0] if ranked else ("other", 0.0)
        best, rule = self._precedence(best, urgency, live, groups, candidates, live_scores)
        if rule:
            # the rule is evidence of its own: a knife alone has no category weight, yet it is a fight
            best_score = max(category_scores.get(best, 0.0), s.min_category_score)
        runner_up = max((v for c, v in category_scores.items() if c != best), default=0.0)
        if best_score < s.min_category_score:
            best, category_confidence = "other", 0.0 if not category_scores else 0.3
        else:
            category_confidence = (best_score / (best_score + runner_up)) * (1 - math.exp(-best_score / 1.5))

        p_urgent = 1.0 / (1.0 + math.exp(-(urgent_score - s.urgent_threshold) / URGENCY_SCALE))
        urgency_confidence = p_urgent if urgency == "urgent" else 1.0 - p_urgent
        if not live and not dead:
            urgency_confidence = min(urgency_confidence, 0.5)
        confidence = round(min(urgency_confidence, category_confidence), 3)

        # one kind's evidence counts once per distinct word, whichever of its groups found it ("很难过" is one
        # sign of grief, not two); equal evidence goes to the more specific kind (LIFE_PRIORITY)
        life_matches: dict[str, list[Match]] = defaultdict(list)
        for name, ms in live.items():
            kind = groups[name].life_event
            if kind:
                life_matches[kind].extend(ms)
        life_scores = {kind: breadth(ms) * strength(ms) for kind, ms in life_matches.items()}
        life_event = None
        if life_scores:
            life_event = max(life_scores, key=lambda k: (life_scores[k], -LIFE_PRIORITY.index(k)))

        for ms in live.values():
            for m in ms:
                if m.sounds_like:
                    notes[id(m)] = SOUNDS_LIKE + m.sounds_like
        cues = self._cues(ctx, live, dead, notes, urgency, best, life_event)
        if rule:
            cues = (
                *cues,
                Cue(f"{PRECEDENCE_CUE}{rule}", best, 0.0, False, f"category precedence: {rule}", "category"),
            )
        return TriageResult(
            urgency,
            best,
            confidence,
            cues,
            self.name,
            round(urgency_confidence, 3),
            round(category_confidence, 3),
            round(urgent_score, 3),
            tuple(sorted(((c, round(v, 3)) for c, v in category_scores.items()), key=lambda kv: -kv[1])),
            life_event,
        )

    def _precedence(
        self,
        best: str,
        urgency: str,
        live: dict[str, list[Match]],
        groups: dict[str, Group],
        candidates: dict[str, float],
        live_scores: dict[str, float],
    ) -> tuple[str, str]:
        """The category after the precedence rules, and the name of the rule that changed it ("" if none).

        1. Background gives way to the present: when the winner rests only on background (a past or
           negated emergency: last year's flood, "没有着火") and another category has present evidence
           of at least ``background_live_min``, that one is what the household is asking about now.
           Resolved, hypothetical and all-clear cues are not background: "火灭了" is still about the
           fire. Not on an urgent report: its live urgent cues already chose the candidates.
        2. The lexicon's ``[[precedence]]`` rules, first match wins: a live group of ``when`` and the
           winner in ``over`` gives ``prefer`` (the cause decides, not the sum of symptoms). On an urgent
           report ``prefer`` must be one of the urgent candidates or the rule's own trigger must be an
           urgent cue (a knife has no category of its own but makes a stabbing a fight), so a rule cannot
           route an emergency to a desk that nothing urgent points to."""
        rule = ""
        if urgency != "urgent" and best in candidates and live_scores.get(best, 0.0) == 0.0:
            alive = [(v, c) for c, v in live_scores.items() if v >= self.settings.background_live_min]
            if alive:
                best, rule = max(alive)[1], "background gives way to the present"
        for p in self.lexicon.precedence:
            if best not in p.over and best != p.prefer:
                continue
            fired = [groups[g] for g in p.when if g in groups and live.get(g)]
            if not fired:
                continue
            if best == p.prefer:
                return best, rule  # confirmed: later rules must not move it
            if urgency == "urgent" and p.prefer not in candidates and not any(g.urgent > 0 for g in fired):
                continue
            return p.prefer, p.name
        return best, rule

    def _cues(
        self,
        ctx: Context,
        live: dict[str, list[Match]],
        dead: dict[str, list[Match]],
        notes: dict[int, str],
        urgency: str = "general",
        category: str = "other",
        life_event: str | None = None,
    ) -> tuple[Cue, ...]:
        """Every cue that fired or was cancelled, in text order; ``decides`` marks those behind the
        verdict (the live urgent cues of an urgent report, the urgent/priority cues of a priority one, the
        live cues of the chosen category, the live cues of the life event)."""
        out: list[tuple[int, Cue]] = []
        seen: set[tuple[str, str, bool]] = set()
        for matches, negated in ((live, False), (dead, True)):
            for ms in matches.values():
                for m in ms:
                    g = m.group
                    assert g is not None
                    note = notes.get(id(m), "")
                    if note.startswith(CONTEXT_NOTES):
                        continue  # a cue for another situation ("吐" without "好几个人"): not a reason
                    for target, weight in (
                        ("urgent", g.urgent),
                        ("priority", g.priority),
                        (g.category, g.weight),
                        (LIFE_EVENT_TARGET + g.life_event if g.life_event else None, 1.0),
                    ):
                        if not target or weight <= 0 or (m.text, target, negated) in seen:
                            continue
                        seen.add((m.text, target, negated))
                        decides = ""
                        if negated:
                            # a cancelled cue explains the verdict too: "着火" resolved by "灭了" is why the
                            # case is not urgent, and still what it is about
                            if target == "urgent" and urgency != "urgent":
                                decides = "urgency"
                            elif target == category:
                                decides = "category"
                        else:
                            if (
                                target == "urgent"
                                and urgency != "general"
                                or (target == "priority" and urgency == "priority")
                            ):
                                decides = "urgency"
                            elif target == category:
                                decides = "category"
                            elif life_event and target == LIFE_EVENT_TARGET + life_event:
                                decides = "life_event"
                        out.append((m.start, Cue(m.text, target, weight, negated, note, decides)))
        return tuple(c for _, c in sorted(out, key=lambda x: x[0]))

    def _denied(
        self,
        ctx: Context,
        live: dict[str, list[Match]],
        dead: dict[str, list[Match]],
        notes: dict[int, str],
        groups: dict[str, Group],
    ) -> None:
        """A danger the report itself denies later is not live: "有人在群里说着火了 我去看了 没着火" is an
        all-clear. A live urgent cue is cancelled when, within ``denial_scope`` units after it and with no new
        event or contrast in between (现在/又/但是), a cue of the same category with urgent weight is
        *negated*. Only a later denial counts: "没着火 但是冒烟了" keeps the smoke (the order says what is
        news). Why: the old reading let the first mention of hearsay decide, so corrections paged the centre."""
        s = self.settings
        denials = [
            (d.start, groups[name].category, notes[id(d)].removeprefix("negated by ") + d.text)
            for name, ms in dead.items()
            if groups[name].urgent > 0
            for d in ms
            if notes.get(id(d), "").startswith("negated")
        ]
        # the denial must be the report's last word on danger: "塌了一角 还好没砸到 梁也在响 老阿妈还在里面"
        # denies one harm, not the danger; and a Tibetan negator negates the verb after the cue (མེ་གསོད་མ་ཐུབ)
        last_live = max(
            (m.start for name, ms in live.items() if groups[name].urgent > 0 for m in ms), default=-1
        )
        denials = [d for d in denials if d[0] > last_live and not is_tibetan(d[2][0])]
        if not denials:
            return
        for name in list(live):
            g = groups[name]
            if g.urgent <= 0 or not g.category:
                continue
            keep = []
            for m in live[name]:
                denial = next(
                    (
                        text
                        for start, cat, text in denials
                        if cat == g.category
                        and m.end <= start <= m.end + s.denial_scope
                        and not ctx.any_between(m.end, start, ("reset", "contrast"))
                    ),
                    None,
                )
                if denial is None:
                    keep.append(m)
                else:
                    dead[name].append(m)
                    notes[id(m)] = ALL_CLEAR + denial  # still what the report is about (category)
            if keep:
                live[name] = keep
            else:
                del live[name]

    def _category_factor(self, group: Group, note: str) -> float:
        """How much a cancelled cue still says about the topic. A resolved, hypothetical or all-clear cue
        is still what the report is about ("the fire is out", "if an earthquake comes"); a past *event*
        is background to a new request ("last month's fire … about the subsidy") but a past *object* is
        not; a negated *event* ("没有着火") is half a hint, while a negated *topic* word is still the topic
        ("不想上学" is an education case, "没有工作" an employment one); a cue outside its required
        context says nothing."""
        if note.startswith(CONTEXT_NOTES):
            return 0.0
        if (note.startswith("negated") or note.startswith("past")) and group.urgent > 0:
            return self.settings.negated_category_factor
        return 1.0

    # ------------------------------------------------------------------ context
    def _cancelled(self, ctx: Context, m: Match) -> str | None:
        """Why a cue does not count, or None when it does."""
        g = m.group
        assert g is not None
        if g.blocked_by and self._blocked(ctx, m, g.blocked_by):
            return "context: about an animal/object: " + ctx.flat[max(0, m.start - 2) : m.start].strip("\x01")
        if g.needs_any and not self._near(ctx, m, g.needs_any, g.window):
            return "context: missing"
        if g.unless_any and self._near(ctx, m, g.unless_any, g.window):
            return "context: excluded"
        for a in ctx.covering("all_clear", m):
            return f"all clear: {a.text}"
        neg = self._negator(ctx, m)
        if neg:
            return f"negated by {neg}"
        if g.life_event:
            # a life event stays one when it is recent past or "resolved" (a death last month still obliges
            # a visit); a conditional ("要是"), a drill, or a past of years ago ("前年走了") cancels it
            hyp = self._hypothetical(ctx, m)
            if hyp and hyp in LIFE_CONDITIONALS:
                return f"hypothetical: {hyp}"
            past = self._past(ctx, m)
            if past and past in LONG_AGO:
                return f"past: {past}"
            return None
        past = self._past(ctx, m)
        if past:
            return f"past: {past}"
        hyp = self._hypothetical(ctx, m)
        if hyp:
            return f"hypothetical: {hyp}"
        if g.urgent <= 0 and g.priority <= 0:
            # a resolution or an all-clear ends a danger, not a topic: "老人去世了，没钱办后事" is still about
            # the death and the money (后事 used to cancel every cue of the report)
            return None
        res = self._resolved(ctx, m)
        if res:
            return res if res.startswith(ALL_CLEAR) else f"resolved: {res}"
        return None

    def _negator(self, ctx: Context, m: Match) -> str | None:
        s = self.settings
        if m.inner_negated:
            return "མ/མི"
        for kind, gap in (("negation", s.negation_gap), ("long_negation", s.long_negation_gap)):
            for n in ctx.ending_in(kind, m.start - gap, m.start):
                if is_tibetan(n.text[0]) and m.start != n.end:
                    continue
                if self._same_clause(ctx, n.end, m.start):
                    return n.text
        if is_tibetan(ctx.units[m.start][0]):
            for n in ctx.starting_in("post_negation", m.end, m.end + 1):
                if not ctx.crosses(m.end, n.start, (HARD, SOFT)):
                    return n.text
        return None

    @staticmethod
    def _same_clause(ctx: Context, end: int, start: int) -> bool:
        """Nothing between a context word (ending at ``end``) and a cue (starting at ``start``) opens a new
        clause: no punctuation, no typed space after the first unit, no linking word (就, 才, 结果, 又...).
        Why: context words act inside their clause ("不回来 快来人": the 不 is about 回来; "没给钱就吵起来":
        the 没 is about the money)."""
        if start <= end:
            return True
        if ctx.crosses(end, start, (HARD, SOFT)) or ctx.breaks_between(end, start):
            return False
        if any(ch in CLAUSE_LINKS for ch in ctx.flat[end:start]):
            return False
        return not ctx.any_between(end, start, ("reset", "contrast"))

    def _past(self, ctx: Context, m: Match) -> str | None:
        s = self.settings
        for p in ctx.ending_in("past", m.start - s.past_scope, m.start):
            if self._forward(ctx, p, m, s.past_scope):
                return p.text
        if m.end < len(ctx.flat) and ctx.flat[m.end] == PAST_ASPECT:
            after = ctx.flat[m.end + 1 : m.end + 2]
            if after not in NOT_PAST_AFTER:
                return m.text + PAST_ASPECT
        return None

    def _hypothetical(self, ctx: Context, m: Match) -> str | None:
        s = self.settings
        for h in ctx.ending_in("hypothetical", m.start - s.hypothetical_scope, m.start):
            if self._forward(ctx, h, m, s.hypothetical_scope):
                return h.text
        drills = ctx.ending_in("drill", m.start - s.hypothetical_scope, m.start) + ctx.starting_in(
            "drill", m.end, m.end + s.hypothetical_scope
        )
        for d in drills:
            if d.end <= m.start:
                near = m.start - d.end <= s.hypothetical_scope and not ctx.crosses(d.end, m.start)
            else:
                near = d.start - m.end <= s.hypothetical_scope and not ctx.crosses(m.end, d.start)
            if near and not self._negator(ctx, d):
                return d.text
        return None

    def _resolved(self, ctx: Context, m: Match) -> str | None:
        s = self.settings
        # a resolution phrase may contain its cue ("车祸走了" ⊃ "车祸"): it is about that cue; one after the
        # cue covers it within resolved_scope units (it used to reach to the end of the report, so a
        # 2,000-character report could be "resolved" by a word in its last line)
        candidates = ctx.covering("resolved", m) + ctx.starting_in(
            "resolved", m.end, m.end + s.resolved_scope
        )
        for r in candidates:
            if (r.start < m.end or not ctx.any_between(m.end, r.start, ("contrast",))) and not self._negator(
                ctx, r
            ):
                return r.text
        for a in ctx.starting_in("all_clear", m.end, m.end + s.all_clear_scope):
            if not ctx.any_between(m.end, a.start, ("contrast",)) and not self._still_live(
                ctx, m.end, a.start
            ):
                return ALL_CLEAR + a.text
        for a in ctx.ending_in("all_clear", m.start - s.all_clear_scope, m.start):
            if self._forward(ctx, a, m, s.all_clear_scope, stops=("contrast", "reset")):
                return ALL_CLEAR + a.text
        return None

    @staticmethod
    def _still_live(ctx: Context, start: int, end: int) -> bool:
        """A call for help or an "it goes on" cue between a danger and an all-clear about people ("着火了 火很大
        快来人 还好没人受伤"): nobody is hurt *yet*, the danger is live, so the all-clear does not end it."""
        return any(
            m.group is not None and m.group.name in LIVE_GROUPS and m.end <= end
            for m in ctx.starting_in("cue", start, end - 1)
        )

    @staticmethod
    def _forward(
        ctx: Context, marker: Match, m: Match, scope: int, stops: tuple[str, ...] = ("reset",)
    ) -> bool:
        """The cue lies within ``scope`` units after the marker, in the same sentence, with no new event
        ("现在/又/今天…") in between."""
        return (
            marker.end <= m.start
            and m.start - marker.end <= scope
            and not ctx.crosses(marker.end, m.start)
            and not ctx.any_between(marker.end, m.start, stops)
        )

    # needs_any / blocked_by ------------------------------------------------
    def _words(self, words: tuple[str, ...]) -> tuple[list[str], list[tuple[str, ...]]]:
        cached = self._context_words.get(words)
        if cached is None:
            zh = [w for w in words if not is_tibetan(w[0])]
            bo = [split_syllables(w) for w in words if is_tibetan(w[0])]
            cached = (zh, [b for b in bo if b])
            self._context_words[words] = cached
        return cached

    def _occurrences(self, ctx: Context, words: tuple[str, ...]) -> list[tuple[int, int]]:
        """Where context words occur, ignoring those inside a trap ("好几个" inside "好几个月"); sorted, and
        computed once per report and word list."""
        cached = ctx._occurrences.get(words)
        if cached is None:
            cached = ctx._occurrences[words] = sorted(self._find_occurrences(ctx, words))
        return cached

    def _find_occurrences(self, ctx: Context, words: tuple[str, ...]) -> list[tuple[int, int]]:
        zh, bo = self._words(words)
        spans: list[tuple[int, int]] = []
        for w in zh:
            spans.extend(ctx.word_spans(w))
        n = len(ctx.units)
        for syls in bo:
            for j in ctx.bo_positions(syls[0]):
                hit = match_syllables(ctx.units, j, syls, n)
                if hit is not None and ctx.units[j] not in BO_NEGATORS:
                    spans.append((j, hit[0]))
        out = []
        for a, b in spans:
            probe = Match(a, b, "", "probe")
            if not any((t.end - t.start) > (b - a) for t in ctx.covering("trap", probe)):
                out.append((a, b))
        return out

    def _near(self, ctx: Context, m: Match, words: tuple[str, ...], window: int) -> bool:
        spans = self._occurrences(ctx, words)
        lo = bisect_left(spans, (m.start - window - 64, -1))
        for a, b in spans[lo:]:
            if a > m.end + window:
                break
            if b <= m.start and m.start - b <= window or a >= m.end and a - m.end <= window:
                return True
            if a >= m.start and b <= m.end and (b - a) < m.length:  # e.g. "人" inside "人不见了"
                return True
        return False

    def _blocked(self, ctx: Context, m: Match, words: tuple[str, ...]) -> bool:
        spans = self._occurrences(ctx, words)
        lo = bisect_left(spans, (m.start - 64, -1))
        for a, b in spans[lo:]:
            if a > m.start:
                break
            if b <= m.start and m.start - b <= 1:
                return True
        return False


def breadth(matches: list[Match]) -> float:
    """Several different words for one concept are stronger evidence than one, with diminishing returns:
    1 word x1, 2 words x1.5, 3+ words x2 ("一直吐 肚子疼得打滚")."""
    distinct = len({m.text for m in matches})
    return min(2.0, 1.0 + 0.5 * (distinct - 1))
