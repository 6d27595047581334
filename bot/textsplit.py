"""Splitting long texts into Telegram-sized messages.

Telegram refuses a message over 4096 characters (counted in UTF-16 code units, so Tibetan stacks and emoji
count more than they look). A case card with a long timeline can exceed that; we split at line breaks when we
can, so each piece still reads as whole lines, and hard-cut only a single overlong line.
"""

from __future__ import annotations

MAX_MESSAGE = 4096
MAX_CAPTION = 1024


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _hard_cut(line: str, limit: int) -> list[str]:
    out: list[str] = []
    cur = ""
    for ch in line:
        if utf16_len(cur + ch) > limit:
            out.append(cur)
            cur = ""
        cur += ch
    if cur:
        out.append(cur)
    return out


def split_message(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Pieces of at most ``limit`` UTF-16 units, split at newlines where possible; never an empty list."""
    if utf16_len(text) <= limit:
        return [text]
    pieces: list[str] = []
    cur = ""
    for line in text.split("\n"):
        candidate = line if not cur else cur + "\n" + line
        if utf16_len(candidate) <= limit:
            cur = candidate
            continue
        if cur:
            pieces.append(cur)
            cur = ""
        if utf16_len(line) <= limit:
            cur = line
        else:
            cut = _hard_cut(line, limit)
            pieces.extend(cut[:-1])
            cur = cut[-1]
    if cur:
        pieces.append(cur)
    return pieces or [text[:limit]]


def clip(text: str, limit: int) -> str:
    """Shorten ``text`` to ``limit`` UTF-16 units with an ellipsis (for captions and button labels)."""
    if utf16_len(text) <= limit:
        return text
    return _hard_cut(text, limit - 1)[0] + "…"
