"""Character error rate, shared by the speech tests and ``benchmarks/transcription.py``.

Chinese has no word boundaries, so we score characters: edit distance between reference and hypothesis after
removing whitespace, punctuation, symbols and control characters (Unicode categories Z, P, S, C) and folding
Traditional to Simplified. This is the same definition as the dev set's README so our figures compare with its
baseline. 著/着 is *not* folded: OpenCC keeps 著 and we report what the system actually outputs.
"""

from __future__ import annotations

import unicodedata

from transcription.postprocess import opencc_t2s

__all__ = ["cer", "edit_distance", "normalize_for_cer"]


def normalize_for_cer(text: str) -> str:
    """Simplified, NFKC, lower-case, with Z/P/S/C characters removed."""
    text = opencc_t2s(unicodedata.normalize("NFKC", text)).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "ZPSC")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insert, delete, substitute all cost 1), O(len(a)·len(b)) time, O(len(b)) memory."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(reference: str, hypothesis: str) -> float:
    """Edits / reference characters after normalisation. An empty hypothesis scores 1.0 against speech;
    an empty reference scores 0.0 for an empty hypothesis and 1.0 otherwise."""
    ref = normalize_for_cer(reference)
    hyp = normalize_for_cer(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)
