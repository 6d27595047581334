"""Context biasing: the words a voice note is likely to contain, handed to the decoder as hints.

Why: Whisper base hears the county's own words as common homophones (羊圈 -> 洋剑, 二社 -> 二射, 卓玛 -> 着马).
Whisper can be told what to expect: faster-whisper's ``hotwords`` and ``initial_prompt`` are both decoded as
"previous text" before the audio, which shifts the model towards those spellings without forcing them.

What goes in, nearest first (the caller, e.g. ``workflows.speech_context``, orders the names):
- ``names``: from the org tree, for this reporter: their households' heads and members, the people and
  officials of their grid and village, the names of their grid, village, township and neighbouring units;
- ``lexicon``: the county's local words, from a plain file an operator edits (:func:`load_lexicon`; the shipped
  default is ``transcription/lexicon/pastoral-zh.txt``).

Each channel holds at most about 223 Whisper tokens (faster-whisper keeps ``max_length // 2 - 1`` of each), so a
backend fits the lists with :func:`fit_terms`: terms are kept whole and in order until the budget is spent, so
the nearest names survive and the farthest are dropped. This module stands alone (no org tree, no model): it
only holds, reads and fits lists.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_LEXICON",
    "MAX_TERM_CHARS",
    "PROMPT_TOKEN_BUDGET",
    "Bias",
    "LexiconError",
    "fit_terms",
    "load_lexicon",
]

#: The shipped pastoral default (how it was made is written at the top of the file).
DEFAULT_LEXICON = Path(__file__).with_name("lexicon") / "pastoral-zh.txt"
#: faster-whisper keeps ``448 // 2 - 1`` tokens of hotwords and as many of the initial prompt.
PROMPT_TOKEN_BUDGET = 223
#: A lexicon term longer than this is a sentence, not a word: it wastes the budget and invites echoes.
MAX_TERM_CHARS = 12


class LexiconError(ValueError):
    """The lexicon file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Bias:
    """Hints for one voice note: org-tree names (nearest first) and county words (most common first)."""

    names: tuple[str, ...] = ()
    lexicon: tuple[str, ...] = ()

    @property
    def terms(self) -> tuple[str, ...]:
        """Every hint once, names first (what post-correction and echo checks look at)."""
        return _dedupe((*self.names, *self.lexicon))

    def __bool__(self) -> bool:
        return bool(self.names or self.lexicon)


def _dedupe(terms: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for term in terms:
        term = (term or "").strip()
        if term and term not in seen:
            seen[term] = None
    return tuple(seen)


def load_lexicon(path: str | Path) -> tuple[str, ...]:
    """Terms of a lexicon file: one a line, ``#`` comments and blank lines ignored, duplicates dropped, order
    kept (it is the priority). Raises :class:`LexiconError` naming ``file:line`` for a term with spaces
    inside or longer than :data:`MAX_TERM_CHARS` characters, so an operator sees the mistake at start-up."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LexiconError(f"{path}: cannot read the lexicon file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise LexiconError(f"{path}: not UTF-8 text (save it as UTF-8)") from exc
    terms: list[str] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        term = unicodedata.normalize("NFC", line.split("#", 1)[0].strip())
        if not term:
            continue
        if any(ch.isspace() for ch in term):
            problems.append(f"{path}:{number}: one term per line, without spaces ({term!r})")
        elif len(term) > MAX_TERM_CHARS:
            problems.append(f"{path}:{number}: {term!r} is longer than {MAX_TERM_CHARS} characters")
        else:
            terms.append(term)
    if problems:
        raise LexiconError("; ".join(problems))
    return _dedupe(terms)


def fit_terms(
    terms: Sequence[str],
    count_tokens: Callable[[str], int],
    budget: int = PROMPT_TOKEN_BUDGET,
    separator: str = " ",
) -> str:
    """Join ``terms`` in order with ``separator`` while the text's token count stays within ``budget``.

    Terms are never cut in half: a half name is a wrong name. ``count_tokens`` is the model's own tokenizer
    (the budget is in tokens, and Chinese characters take one to three tokens each)."""
    kept: list[str] = []
    for term in _dedupe(terms):
        candidate = separator.join([*kept, term])
        if count_tokens(" " + candidate) > budget:  # faster-whisper encodes " " + hotwords
            continue  # a shorter term further down may still fit
        kept.append(term)
    return separator.join(kept)
