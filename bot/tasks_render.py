"""Text and buttons for tasks and visits (pure; no I/O; every word from :mod:`i18n`).

Why one module for both: they are the two "downward" things an official deals with in Telegram, rendered in the
same places (a notification, a command's answer, a redrawn message after a tap), so each has one renderer here
and every place uses it — a reminder and ``/task 7`` can never disagree.

Button data (``bot.callbacks``): task answers are ``ta:<task_id>:<household_id>.<d|p|u>`` (household 0: the
worker's own line) — the domain checks the line belongs to the presser; visit buttons are ``vd|vh|vx:<visit_id>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import pack
from bot.render import local_time
from bot.textsplit import clip
from i18n import label, t
from workflows.tasks import TaskView, UnitChoice, WorkerSheet
from workflows.views import PersonRef
from workflows.visits import VisitView

MARK = {"pending": "⬜", "done": "✅", "problem": "⚠️", "unreachable": "🚫"}
ANSWER_CODES = {"done": "d", "problem": "p", "unreachable": "u"}
ANSWER_OF_CODE = {v: k for k, v in ANSWER_CODES.items()}
MAX_LIST_LINES = 15
MEMBERS_SHOWN = 8


def task_state(lang: str, state: str) -> str:
    return t(lang, f"task.state.{state}")


# ------------------------------------------------------------------------------------------- workers


def sheet_text(lang: str, sheet: WorkerSheet, *, reminder: bool = False) -> str:
    """The worker's message: the task, then one line per household with its mark."""
    head = t(lang, "task.sheet", task_id=sheet.task_id, issuer=sheet.issuer.name, text=sheet.text,
             due=local_time(sheet.due_at))
    lines = [t(lang, "task.sheet_reminder", task_id=sheet.task_id, open=sheet.open_lines,
               due=local_time(sheet.due_at)), head] if reminder else [head]
    lines.append("")
    for line in sheet.lines:
        if line.household_id is None:
            lines.append(t(lang, "task.sheet_self", mark=MARK.get(line.status, "⬜")))
        else:
            lines.append(t(lang, "task.sheet_line", mark=MARK.get(line.status, "⬜"), head=line.head_name,
                           code=line.household_code))
    if sheet.state != "sent":
        lines.append(t(lang, "task.sheet_closed", state=task_state(lang, sheet.state)))
    elif sheet.open_lines == 0:
        lines.append(t(lang, "task.sheet_all_done"))
    return "\n".join(lines)


def sheet_keyboard(lang: str, sheet: WorkerSheet) -> InlineKeyboardMarkup | None:
    """One row per line: [✅ name] [⚠️] [🚫]. Answered lines keep their buttons (an answer may change)."""
    if sheet.state != "sent":
        return None
    rows = []
    for line in sheet.lines:
        hh = line.household_id or 0
        name = clip(line.head_name or t(lang, "task.myself"), 10)
        rows.append([
            InlineKeyboardButton(t(lang, "task.btn_done", head=name), callback_data=pack("ta", sheet.task_id, f"{hh}.d")),
            InlineKeyboardButton("⚠️", callback_data=pack("ta", sheet.task_id, f"{hh}.p")),
            InlineKeyboardButton("🚫", callback_data=pack("ta", sheet.task_id, f"{hh}.u")),
        ])
    return InlineKeyboardMarkup(rows)


# ------------------------------------------------------------------------------------------- issuers


def progress_text(lang: str, view: TaskView, header: str | None = None) -> str:
    """The issuer's picture: totals, each village then its grids, problems with their cases, who is silent."""
    lines = [header] if header else []
    lines.append(t(lang, "task.progress", task_id=view.id, state=task_state(lang, view.state), text=clip(view.text, 300),
                   due=local_time(view.due_at), answered=view.answered, total=view.total, done=view.done,
                   problem=view.problem, unreachable=view.unreachable))
    for unit in view.by_unit:
        flags = (f" ⚠️{unit.problem}" if unit.problem else "") + (f" 🚫{unit.unreachable}" if unit.unreachable else "")
        lines.append(t(lang, "task.progress_unit", indent="　" if unit.level == "grid" else "", name=unit.name,
                       answered=unit.answered, total=unit.total, flags=flags))
    for shown, p in enumerate(view.problems):
        if shown >= MAX_LIST_LINES:
            lines.append(t(lang, "task.progress_more", count=len(view.problems) - shown))
            break
        household = p.head_name or p.worker.name
        if p.status == "problem":
            case = t(lang, "task.progress_case", case_id=p.case_id) if p.case_id else ""
            lines.append(t(lang, "task.progress_problem", household=household, note=clip(p.note or "", 60),
                           case=case))
        else:
            lines.append(t(lang, "task.progress_unreachable", household=household, worker=p.worker.name))
    if view.state == "sent" and view.not_answered:
        names = "、".join(w.name for w in view.not_answered[:20])
        more = t(lang, "task.progress_more", count=len(view.not_answered) - 20) if len(view.not_answered) > 20 else ""
        lines.append(t(lang, "task.progress_waiting", names=names) + more)
    return "\n".join(lines)


def progress_keyboard(lang: str, view: TaskView) -> InlineKeyboardMarkup | None:
    buttons = [InlineKeyboardButton(t(lang, "task.btn_refresh"), callback_data=pack("tkv", view.id))]
    if "export" in view.allowed_actions:
        buttons.append(InlineKeyboardButton(t(lang, "task.btn_export"), callback_data=pack("tke", view.id, "xlsx")))
    if "close" in view.allowed_actions:
        buttons.append(InlineKeyboardButton(t(lang, "task.btn_close"), callback_data=pack("tkc", view.id)))
    if "cancel" in view.allowed_actions and view.state == "sent":
        buttons.append(InlineKeyboardButton(t(lang, "task.btn_withdraw"), callback_data=pack("tkx", view.id)))
    return InlineKeyboardMarkup([buttons[i:i + 2] for i in range(0, len(buttons), 2)])


def templates_keyboard(lang: str, templates: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
    """``templates``: (key, name in the reader's language)."""
    rows = [[InlineKeyboardButton(name, callback_data=pack("tkn", 0, key))] for key, name in templates]
    rows.append([InlineKeyboardButton(t(lang, "task.write_own"), callback_data=pack("tkn", 0, "own"))])
    return InlineKeyboardMarkup(rows)


def targets_keyboard(lang: str, task_id: int, choices: Sequence[UnitChoice], chosen: set[int],
                     area_workers: int) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(t(lang, "task.all_area", mark="☑️ " if not chosen else "", workers=area_workers),
                                  callback_data=pack("tkw", task_id))]]
    for c in choices:
        mark = "☑️ " if c.id in chosen else ""
        rows.append([InlineKeyboardButton(t(lang, "task.unit_choice", mark=mark, name=c.name, workers=c.workers),
                                          callback_data=pack("tku", task_id, c.id))])
    rows.append([InlineKeyboardButton(t(lang, "task.targets_done"), callback_data=pack("tkok", task_id)),
                 InlineKeyboardButton(t(lang, "task.btn_cancel"), callback_data=pack("tkx", task_id))])
    return InlineKeyboardMarkup(rows)


def due_keyboard(lang: str, task_id: int, options: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
    """``options``: (code, label)."""
    buttons = [InlineKeyboardButton(text, callback_data=pack("tkd", task_id, code)) for code, text in options]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    rows.append([InlineKeyboardButton(t(lang, "task.btn_cancel"), callback_data=pack("tkx", task_id))])
    return InlineKeyboardMarkup(rows)


def preview_text(lang: str, view: TaskView, workers: int, households: int) -> str:
    targets = "、".join(view.target_names) + f"（{workers} / {households}）"
    return t(lang, "task.preview", text=view.text, targets=targets, due=local_time(view.due_at))


def preview_keyboard(lang: str, task_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(lang, "task.btn_send"), callback_data=pack("tks", task_id)),
                                  InlineKeyboardButton(t(lang, "task.btn_cancel"),
                                                       callback_data=pack("tkx", task_id))]])


# ------------------------------------------------------------------------------------------- visits


def household_lines(lang: str, view: VisitView) -> list[str]:
    hh = view.household
    if hh is None:
        return [t(lang, "visit.no_household")]
    lines = [t(lang, "visit.household", head=hh.head_name, code=hh.code)]
    if hh.members:
        members = "、".join(
            t(lang, "visit.member", name=m.name, relation=label(lang, "relation", m.relation),
              age=t(lang, "visit.age", age=m.age) if m.age is not None else "")
            for m in hh.members[:MEMBERS_SHOWN]
        )
        lines.append(t(lang, "visit.members", members=members))
    if hh.certificates:
        lines.append(t(lang, "visit.certificates",
                       certificates="、".join(label(lang, "certificate", c) for c in hh.certificates)))
    if hh.phone:
        lines.append(t(lang, "visit.phone", phone=hh.phone))
    return lines


def visit_card(lang: str, view: VisitView, header: str | None = None) -> str:
    lines = [header] if header else []
    lines.append(t(lang, "visit.card", visit_id=view.id, kind=label(lang, "visit_kind", view.kind),
                   household="\n".join(household_lines(lang, view)), unit=" / ".join(view.unit_path[1:]),
                   due=local_time(view.due_at), overdue=t(lang, "visit.overdue") if view.overdue else "",
                   owner=view.owner.name if view.owner else t(lang, "card.nobody")))
    if view.festival:
        marks = "、".join(label(lang, "festival_mark", m) for m in (view.household.festival_marks
                                                                    if view.household else ()))
        lines.append(t(lang, "visit.festival_why", festival=view.festival_name or view.festival, marks=marks))
    elif view.case_text:
        why = clip(view.case_text, 200) + (f"（#{view.case_id}）" if view.case_id else "")
        lines.append(t(lang, "visit.why", text=why))
    if view.state == "done":
        lines.append(t(lang, "visit.done_line", by=view.done_by.name if view.done_by else "", note=view.note or ""))
    elif view.state == "cancelled":
        lines.append(t(lang, "visit.cancelled_line", note=view.note or ""))
    return "\n".join(lines)


def visit_keyboard(lang: str, view: VisitView) -> InlineKeyboardMarkup | None:
    keys = {"complete": ("vd", "visit.btn_done"), "hand_on": ("vh", "visit.btn_hand_on"),
            "cancel": ("vx", "visit.btn_cancel")}
    buttons = [InlineKeyboardButton(t(lang, keys[a][1]), callback_data=pack(keys[a][0], view.id))
               for a in view.allowed_actions if a in keys]
    return InlineKeyboardMarkup([buttons[i:i + 2] for i in range(0, len(buttons), 2)]) if buttons else None


def visit_list_line(lang: str, view: VisitView) -> str:
    household = view.household.head_name if view.household else view.unit_name
    return t(lang, "visit.list_line", mark="⏰" if view.overdue else "", visit_id=view.id,
             kind=label(lang, "visit_kind", view.kind), household=household, due=local_time(view.due_at))


def visit_list_keyboard(lang: str, views: Sequence[VisitView], page: int, pages: int) -> InlineKeyboardMarkup | None:
    rows = [[InlineKeyboardButton(f"#{v.id} {label(lang, 'visit_kind', v.kind)}", callback_data=pack("vv", v.id))]
            for v in views]
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton("◀", callback_data=pack("vpg", 0, page - 1)))
    if page + 1 < pages:
        nav.append(InlineKeyboardButton("▶", callback_data=pack("vpg", 0, page + 1)))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows) if rows else None


def people_keyboard(lang: str, visit_id: int, people: Sequence[PersonRef]) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(f"{p.name}（{label(lang, 'role', p.role)}）",
                                  callback_data=pack("vht", visit_id, p.id))] for p in people[:16]]
    rows.append([InlineKeyboardButton(t(lang, "task.btn_cancel"), callback_data=pack("vv", visit_id))])
    return InlineKeyboardMarkup(rows)
