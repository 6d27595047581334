"""The bot's two dispatch tables are complete, and the handler modules have no import cycle.

- every button verb the callback grammar accepts has exactly one handler (``bot.handlers.buttons.BUTTONS``),
  so no button can be drawn that does nothing;
- every notification kind the domain can queue has a renderer (``bot.delivery.RENDERERS``), so no official
  gets "case #N has an update" instead of the real message;
- ``bot.handlers`` modules import each other in one direction only (lazy imports inside functions count).
"""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path

import pytest

from bot.callbacks import VERBS
from bot.delivery import RENDERERS, compose, renders
from bot.handlers.buttons import BUTTONS
from workflows.notifications import Kind
from workflows.views import CaseView, PersonRef

HANDLERS_DIR = Path(__file__).resolve().parents[2] / "bot" / "handlers"


def test_every_button_verb_has_one_handler_and_every_handler_a_verb() -> None:
    assert set(BUTTONS) == set(VERBS), (
        f"verbs without a handler: {set(VERBS) - set(BUTTONS)}; handlers without a verb: {set(BUTTONS) - set(VERBS)}"
    )


def test_every_notification_kind_has_a_renderer() -> None:
    assert set(RENDERERS) == {k.value for k in Kind}, f"missing: {({k.value for k in Kind}) - set(RENDERERS)}"


def test_a_kind_cannot_get_two_renderers() -> None:
    with pytest.raises(ValueError, match="two renderers"):
        renders(Kind.reminder)(lambda n: None)  # type: ignore[arg-type,return-value]


def _view(**changes: object) -> CaseView:
    base = dict(
        id=7, state="assigned", urgency="general", category="policy", confidence=0.9, cues=(), text="问低保",
        language="zh", transcript_status=None, needs_review=False, reporter=PersonRef(1, "扎西", "liaison_worker"),
        owner=PersonRef(2, "王建国", "grid_leader"), unit_id=5, unit_name="第一网格",
        unit_path=("县", "乡", "村", "第一网格"), created_at=datetime(2026, 1, 5, 8, 0),
        ack_due_at=None, resolve_due_at=None, overdue=False, escalation_level=0, resolution_note=None,
        close_reason=None, duplicate_of_id=None, has_audio=False, attachment_ids=(), allowed_actions=("accept",),
    )
    base.update(changes)
    return CaseView(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [k.value for k in Kind])
def test_every_kind_renders_words_not_the_generic_fallback(kind: str) -> None:
    """With a minimal payload and with no view at all (the reader lost sight of the case), every kind gives
    its own text in every language, never the "case has an update" fallback."""
    from i18n import t

    payload = {"case_id": 7, "owner": {"id": 2, "name": "王建国"}, "to_owner": {"id": 3, "name": "陈志强"},
               "from_owner": {"id": 2, "name": "王建国"}, "recipient": {"id": 2, "name": "王建国"},
               "failed_kind": "reminder", "reason": "manual", "note": "好了", "stage": "ack"}
    for lang in ("zh", "bo", "en"):
        for view in (_view(), None):
            out = compose(kind, payload, lang, 2, view)
            assert out.text.strip()
            assert out.text != t(lang, "n.generic", case_id=7)


def test_an_unknown_kind_still_says_something() -> None:
    out = compose("from_a_newer_release", {"case_id": 7}, "zh", 2, None)
    assert "#7" in out.text


def _imports(path: Path) -> set[str]:
    """``bot.handlers.*`` modules imported anywhere in the file (top level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("bot.handlers."):
                found.add(node.module.split(".")[2])
            elif node.module == "bot.handlers":
                found.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[2] for a in node.names if a.name.startswith("bot.handlers."))
    return found


def test_handler_modules_have_no_import_cycle() -> None:
    graph = {p.stem: _imports(p) - {p.stem} for p in HANDLERS_DIR.glob("*.py") if p.stem != "__init__"}

    def visit(node: str, path: tuple[str, ...]) -> None:
        for nxt in graph.get(node, ()):
            assert nxt not in path, f"import cycle: {' -> '.join((*path, nxt))}"
            visit(nxt, (*path, nxt))

    for module in graph:
        visit(module, (module,))
