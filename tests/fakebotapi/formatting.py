"""Text formatting as Telegram applies it: ``parse_mode`` markup becomes plain text plus entities.

This matters for end-to-end tests because a bot that interpolates user text (a herder writes "<3" or
"A.B-C!") into HTML or MarkdownV2 without escaping gets ``400 Bad Request: can't parse entities`` from the
real Telegram; the fake server rejects the same input, and stores what the user would actually see (plain
text, entities with UTF-16 offsets) so assertions compare against the visible text.
"""

from __future__ import annotations

import re
from typing import Any

from .wire import ApiError

Entities = list[dict[str, Any]]


def utf16_len(text: str) -> int:
    """Telegram measures text (limits, entity offsets) in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _error(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: can't parse entities: {what}")


def parse_formatted(text: str, parse_mode: str) -> tuple[str, Entities | None]:
    """(plain text, entities or None) for ``parse_mode`` HTML / MarkdownV2 / Markdown (case-insensitive)."""
    mode = parse_mode.lower()
    if mode == "html":
        plain, entities = _parse_html(text)
    elif mode == "markdownv2":
        plain, entities = _MarkdownV2(text).parse()
    elif mode == "markdown":
        plain, entities = _parse_markdown_legacy(text)
    else:
        raise ApiError(400, f"Bad Request: unsupported parse_mode \"{parse_mode}\"")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return plain, (entities or None)


class _Builder:
    """Accumulates plain text and tracks the UTF-16 position for entity offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.entities: Entities = []

    def add(self, s: str) -> None:
        self.parts.append(s)
        self.pos += utf16_len(s)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.pos > start:  # Telegram drops empty entities
            self.entities.append({"type": kind, "offset": start, "length": self.pos - start, **extra})

    def text(self) -> str:
        return "".join(self.parts)


# ====================================================================== HTML
_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "tg-spoiler": "spoiler",
    "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_TAG_RE = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*)\s*/?>"
)
_ATTR_RE = re.compile(r"([a-zA-Z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>\"']+)))?")
_ENTITY_RE = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|lt|gt|amp|quot);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _unescape(s: str) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.startswith("#"):
            code = int(name[2:], 16) if name[1:2] in "xX" else int(name[1:])
            return chr(code) if 0 < code < 0x110000 else m.group(0)
        return _NAMED[name]
    return _ENTITY_RE.sub(repl, s)


def _parse_html(text: str) -> tuple[str, Entities]:
    out = _Builder()
    stack: list[tuple[str, int, dict[str, str]]] = []
    i = 0
    while i < len(text):
        lt = text.find("<", i)
        if lt < 0:
            out.add(_unescape(text[i:]))
            break
        out.add(_unescape(text[i:lt]))
        byte_offset = len(text[:lt].encode("utf-8"))
        m = _TAG_RE.match(text, lt)
        if m is None:
            raise _error(f"Unclosed start tag at byte offset {byte_offset}")
        closing, name, attr_src = m.group(1) == "/", m.group(2).lower(), m.group(3)
        if closing:
            if not stack:
                raise _error(f"Unexpected end tag at byte offset {byte_offset}")
            open_name, start, attrs = stack.pop()
            if open_name != name:
                raise _error(f'Unmatched end tag at byte offset {byte_offset}, expected "</{open_name}>", '
                             f'found "</{name}>"')
            _close_html(out, open_name, start, attrs, stack)
        else:
            if name not in _HTML_TAGS:
                raise _error(f'Unsupported start tag "{name}" at byte offset {byte_offset}')
            attrs = {a.group(1).lower(): _unescape(a.group(2) or a.group(3) or a.group(4) or "")
                     for a in _ATTR_RE.finditer(attr_src)}
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise _error(f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset}')
            stack.append((name, out.pos, attrs))
        i = m.end()
    if stack:
        raise _error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.text(), out.entities


def _close_html(out: _Builder, name: str, start: int, attrs: dict[str, str],
                stack: list[tuple[str, int, dict[str, str]]]) -> None:
    kind = _HTML_TAGS[name]
    if kind == "text_link":
        if attrs.get("href"):
            out.entity("text_link", start, url=attrs["href"])
    elif kind == "code" and stack and stack[-1][0] == "pre":
        # <pre><code class="language-x"> is one pre entity with a language
        lang = attrs.get("class", "")
        if lang.startswith("language-"):
            stack[-1][2]["language"] = lang[len("language-"):]
        else:
            out.entity("code", start)
    elif kind == "pre":
        extra = {"language": attrs["language"]} if attrs.get("language") else {}
        out.entity("pre", start, **extra)
    elif kind == "blockquote":
        out.entity("expandable_blockquote" if "expandable" in attrs else "blockquote", start)
    elif kind == "custom_emoji":
        out.entity("custom_emoji", start, custom_emoji_id=attrs.get("emoji-id", ""))
    else:
        out.entity(kind, start)


# ====================================================================== MarkdownV2
_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {"*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough", "||": "Spoiler"}
_MDV2_KINDS = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}


class _MarkdownV2:
    """The MarkdownV2 grammar of the Bot API: reserved characters must be escaped with a backslash."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.out = _Builder()

    def _byte(self, i: int) -> int:
        return len(self.s[:i].encode("utf-8"))

    def parse(self) -> tuple[str, Entities]:
        stack: list[tuple[str, int, int]] = []  # (marker, start pos, source index)
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c == "\\":
                if self.i + 1 < len(s) and 0 < ord(s[self.i + 1]) < 127:
                    self.out.add(s[self.i + 1])
                    self.i += 2
                    continue
                raise _error("Character '\\' is reserved and must be escaped with the preceding '\\'")
            if s.startswith("```", self.i):
                self._pre()
                continue
            if c == "`":
                self._code()
                continue
            marker = "__" if s.startswith("__", self.i) else "||" if s.startswith("||", self.i) else c
            if marker in _MDV2_KINDS:
                if stack and stack[-1][0] == marker:
                    _, start, _ = stack.pop()
                    self.out.entity(_MDV2_KINDS[marker], start)
                elif any(m == marker for m, _, _ in stack):
                    raise _error(f"Can't find end of {_MDV2_NAMES[stack[-1][0]]} entity at byte offset "
                                 f"{self._byte(stack[-1][2])}")
                else:
                    stack.append((marker, self.out.pos, self.i))
                self.i += len(marker)
                continue
            if c == "[":
                stack.append(("[", self.out.pos, self.i))
                self.i += 1
                continue
            if c == "]" and stack and stack[-1][0] == "[":
                _, start, src = stack.pop()
                self.i += 1
                if not s.startswith("(", self.i):
                    raise _error(f"Can't find end of a URL at byte offset {self._byte(self.i)}")
                end = self._find_unescaped(")", self.i + 1)
                if end < 0:
                    raise _error(f"Can't find end of a URL at byte offset {self._byte(self.i)}")
                url = re.sub(r"\\(.)", r"\1", s[self.i + 1:end])
                self.out.entity("text_link", start, url=url)
                self.i = end + 1
                continue
            if c == ">" and (self.i == 0 or s[self.i - 1] == "\n"):
                self._blockquote_line()
                continue
            if c in _MDV2_RESERVED:
                raise _error(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
            self.out.add(c)
            self.i += 1
        if stack:
            marker, _, src = stack[-1]
            name = "TextUrl" if marker == "[" else _MDV2_NAMES[marker]
            raise _error(f"Can't find end of {name} entity at byte offset {self._byte(src)}")
        return self.out.text(), self.out.entities

    def _find_unescaped(self, ch: str, start: int) -> int:
        j = start
        while j < len(self.s):
            if self.s[j] == "\\":
                j += 2
                continue
            if self.s[j] == ch:
                return j
            j += 1
        return -1

    def _code(self) -> None:
        end = self._find_unescaped("`", self.i + 1)
        if end < 0:
            raise _error(f"Can't find end of Code entity at byte offset {self._byte(self.i)}")
        start = self.out.pos
        self.out.add(re.sub(r"\\([`\\])", r"\1", self.s[self.i + 1:end]))
        self.out.entity("code", start)
        self.i = end + 1

    def _pre(self) -> None:
        end = self.s.find("```", self.i + 3)
        if end < 0:
            raise _error(f"Can't find end of Pre entity at byte offset {self._byte(self.i)}")
        body = self.s[self.i + 3:end]
        language = ""
        if "\n" in body and body.split("\n", 1)[0].strip() and " " not in body.split("\n", 1)[0].strip():
            language, body = body.split("\n", 1)
        start = self.out.pos
        self.out.add(re.sub(r"\\([`\\])", r"\1", body))
        extra = {"language": language.strip()} if language.strip() else {}
        self.out.entity("pre", start, **extra)
        self.i = end + 3

    def _blockquote_line(self) -> None:
        # A quote runs to the end of the line; consecutive ">" lines form one blockquote.
        start = self.out.pos
        while self.i < len(self.s) and self.s[self.i] == ">":
            self.i += 1
            line_end = self.s.find("\n", self.i)
            line_end = len(self.s) if line_end < 0 else line_end
            inner = _MarkdownV2(self.s[self.i:line_end])
            text, entities = inner.parse()
            base = self.out.pos
            self.out.add(text)
            for e in entities:
                self.out.entities.append(dict(e, offset=e["offset"] + base))
            self.i = line_end
            if self.s.startswith("\n>", self.i):
                self.out.add("\n")
                self.i += 1
        self.out.entity("blockquote", start)


# ====================================================================== legacy Markdown
_LEGACY_KINDS = {"*": "bold", "_": "italic", "`": "code"}


def _parse_markdown_legacy(text: str) -> tuple[str, Entities]:
    """Legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting, few escapes."""
    out = _Builder()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if text.startswith("```", i):
            end = text.find("```", i + 3)
            if end < 0:
                raise _error(f"Can't find end of the entity starting at byte offset {len(text[:i].encode())}")
            start = out.pos
            out.add(text[i + 3:end])
            out.entity("pre", start)
            i = end + 3
            continue
        if c in _LEGACY_KINDS:
            end = text.find(c, i + 1)
            if end < 0:
                raise _error(f"Can't find end of the entity starting at byte offset {len(text[:i].encode())}")
            start = out.pos
            out.add(text[i + 1:end])
            out.entity(_LEGACY_KINDS[c], start)
            i = end + 1
            continue
        if c == "[":
            m = re.match(r"\[([^\]]*)\]\(([^)]*)\)", text[i:])
            if m:
                start = out.pos
                out.add(m.group(1))
                out.entity("text_link", start, url=m.group(2))
                i += m.end()
                continue
        out.add(c)
        i += 1
    return out.text(), out.entities
