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
from collections import defaultdict
from dataclasses import dataclass

from workflows.triage.base import Cue, TriageResult
from workflows.triage.lexicon import Group, Lexicon
from workflows.triage.matcher import BO_NEGATORS, Match, Matcher, match_syllables
from workflows.triage.model import TriageModel, combine
from workflows.triage.text import HARD, SOFT, is_tibetan, split_syllables, to_units, zh_string

ALL_CLEAR = "all clear: "
CONTEXT_NOTES = "context:"
URGENCY_SCALE = 0.6  # logistic scale of the urgency confidence, in score points
PRECEDENCE_CUE = "rule: "
PAST_ASPECT = "过"  # 着过火 / 滑坡过: experienced, not happening
NOT_PAST_AFTER = set("来去不得")


@dataclass
class Context:
    """Everything about one report that cue evaluation needs."""

    units: list[str]
    flat: str
    matches: list[Match]

    def of(self, *kinds: str) -> list[Match]:
        return [m for m in self.matches if m.kind in kinds]

    def crosses(self, start: int, end: int, stops: tuple[str, ...] = (HARD,)) -> bool:
        """True if a boundary unit lies in units[start:end]."""
        return any(u in stops for u in self.units[max(start, 0) : max(end, 0)])

    def any_between(self, start: int, end: int, kinds: tuple[str, ...]) -> bool:
        return any(m.kind in kinds and start <= m.start and m.end <= end for m in self.matches)


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

    # ------------------------------------------------------------------ public
    def classify(self, text: str, language: str = "zh") -> TriageResult:
        try:
            units = to_units(text if isinstance(text, str) else "")
        except Exception:  # never raise on odd input (the contract)
            units = []
        if not any(u not in (HARD, SOFT) for u in units):
            return TriageResult("general", "other", 0.0, (), self.name, 0.0, 0.0)
        ctx = Context(units, zh_string(units), self.matcher.find(units))
        result = self._score(ctx)
        if self.model is not None:
            result = combine(text, result, self.model)
        return result

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

        urgent_score = sum(groups[g].urgent * breadth(live[g]) for g in live)
        priority_score = sum(groups[g].priority for g in live)
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
                value = group.weight * breadth(full)
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

        cues = self._cues(ctx, live, dead, notes)
        if rule:
            cues = (*cues, Cue(f"{PRECEDENCE_CUE}{rule}", best, 0.0, False, f"category precedence: {rule}"))
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
        self, ctx: Context, live: dict[str, list[Match]], dead: dict[str, list[Match]], notes: dict[int, str]
    ) -> tuple[Cue, ...]:
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
                    ):
                        if not target or weight <= 0 or (m.text, target, negated) in seen:
                            continue
                        seen.add((m.text, target, negated))
                        out.append((m.start, Cue(m.text, target, weight, negated, note)))
        return tuple(c for _, c in sorted(out, key=lambda x: x[0]))

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
        for a in ctx.of("all_clear"):
            if a.start <= m.start and m.end <= a.end:
                return f"all clear: {a.text}"
        neg = self._negator(ctx, m)
        if neg:
            return f"negated by {neg}"
        past = self._past(ctx, m)
        if past:
            return f"past: {past}"
        hyp = self._hypothetical(ctx, m)
        if hyp:
            return f"hypothetical: {hyp}"
        res = self._resolved(ctx, m)
        if res:
            return res if res.startswith(ALL_CLEAR) else f"resolved: {res}"
        return None

    def _negator(self, ctx: Context, m: Match) -> str | None:
        s = self.settings
        if m.inner_negated:
            return "མ/མི"
        for n in ctx.of("negation", "long_negation"):
            if n.end > m.start:
                continue
            bo = is_tibetan(n.text[0])
            gap = 0 if bo else (s.long_negation_gap if n.kind == "long_negation" else s.negation_gap)
            if m.start - n.end <= gap and not ctx.crosses(n.end, m.start, (HARD, SOFT)):
                return n.text
        if is_tibetan(ctx.units[m.start][0]):
            for n in ctx.of("post_negation"):
                if m.end <= n.start <= m.end + 1 and not ctx.crosses(m.end, n.start, (HARD, SOFT)):
                    return n.text
        return None

    def _past(self, ctx: Context, m: Match) -> str | None:
        s = self.settings
        for p in ctx.of("past"):
            if self._forward(ctx, p, m, s.past_scope):
                return p.text
        if m.end < len(ctx.flat) and ctx.flat[m.end] == PAST_ASPECT:
            after = ctx.flat[m.end + 1 : m.end + 2]
            if after not in NOT_PAST_AFTER:
                return m.text + PAST_ASPECT
        return None

    def _hypothetical(self, ctx: Context, m: Match) -> str | None:
        s = self.settings
        for h in ctx.of("hypothetical"):
            if self._forward(ctx, h, m, s.hypothetical_scope):
                return h.text
        for d in ctx.of("drill"):
            if d.end <= m.start:
                near = m.start - d.end <= s.hypothetical_scope and not ctx.crosses(d.end, m.start)
            else:
                near = d.start - m.end <= s.hypothetical_scope and not ctx.crosses(m.end, d.start)
            if near and not self._negator(ctx, d):
                return d.text
        return None

    def _resolved(self, ctx: Context, m: Match) -> str | None:
        s = self.settings
        for r in ctx.of("resolved"):
            # a resolution phrase may contain its cue ("车祸走了" ⊃ "车祸"): it is about that cue
            covers = r.start <= m.start and m.end <= r.end
            after = r.start >= m.end and not ctx.any_between(m.end, r.start, ("contrast",))
            if (covers or after) and not self._negator(ctx, r):
                return r.text
        for a in ctx.of("all_clear"):
            after = a.start >= m.end and not ctx.any_between(m.end, a.start, ("contrast",))
            before = self._forward(ctx, a, m, s.all_clear_scope, stops=("contrast", "reset"))
            if after or before:
                return ALL_CLEAR + a.text
        return None

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
        """Where context words occur, ignoring those inside a trap ("好几个" inside "好几个月")."""
        zh, bo = self._words(words)
        spans: list[tuple[int, int]] = []
        for w in zh:
            i = ctx.flat.find(w)
            while i >= 0:
                spans.append((i, i + len(w)))
                i = ctx.flat.find(w, i + 1)
        n = len(ctx.units)
        for syls in bo:
            for j, u in enumerate(ctx.units):
                if u == syls[0]:
                    hit = match_syllables(ctx.units, j, syls, n)
                    if hit is not None and ctx.units[j] not in BO_NEGATORS:
                        spans.append((j, hit[0]))
        traps = [(t.start, t.end) for t in ctx.of("trap")]
        return [
            (a, b) for a, b in spans if not any(s <= a and b <= e and (e - s) > (b - a) for s, e in traps)
        ]

    def _near(self, ctx: Context, m: Match, words: tuple[str, ...], window: int) -> bool:
        for a, b in self._occurrences(ctx, words):
            if b <= m.start and m.start - b <= window or a >= m.end and a - m.end <= window:
                return True
            if a >= m.start and b <= m.end and (b - a) < m.length:  # e.g. "人" inside "人不见了"
                return True
        return False

    def _blocked(self, ctx: Context, m: Match, words: tuple[str, ...]) -> bool:
        return any(b <= m.start and m.start - b <= 1 for a, b in self._occurrences(ctx, words))


def breadth(matches: list[Match]) -> float:
    """Several different words for one concept are stronger evidence than one, with diminishing returns:
    1 word x1, 2 words x1.5, 3+ words x2 ("一直吐 肚子疼得打滚")."""
    distinct = len({m.text for m in matches})
    return min(2.0, 1.0 + 0.5 * (distinct - 1))
