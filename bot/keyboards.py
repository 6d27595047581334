"""Inline keyboards, built from what the *domain* says the viewer may do (``CaseView.allowed_actions``).

Why from ``allowed_actions``: the buttons a person sees are exactly the actions the service would accept from
them now, so a worker never sees "Accept" and an official of another township never sees anything. The
service still re-checks every press (a button can be stale or forged).

Each message context shows a subset, in the domain's order: a new-case ping shows the handling actions, a
reminder adds "Acknowledge", a reporter's receipt shows "Add details / Change category / Change urgency",
"resolved" asks the reporter "Confirmed fixed / Not fixed".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import pack
from bot.textsplit import clip
from i18n import LANGUAGE_NAMES, SPEECH_LANGUAGES, UI_LANGUAGES, label, plain_label, t
from workflows.triage.base import DEFAULT_CATEGORIES, URGENCIES
from workflows.views import HouseholdChoice

# domain action -> (callback verb, button label key); correct_triage gives two buttons.
ACTION_BUTTONS: dict[str, tuple[tuple[str, str], ...]] = {
    "accept": (("acc", "btn.accept"),),
    "resolve": (("res", "btn.resolve"),),
    "confirm": (("cfm", "btn.confirm"),),
    "reopen": (("nfx", "btn.not_fixed"),),
    "escalate": (("esc", "btn.escalate"),),
    "reassign": (("rsg", "btn.reassign"),),
    "assign": (("rsg", "btn.reassign"),),
    "correct_triage": (("cat", "btn.change_category"), ("urg", "btn.change_urgency")),
    "add_details": (("add", "btn.add_details"),),
    "reject": (("rej", "btn.reject"),),
    "mark_duplicate": (("dup", "btn.duplicate"),),
    "acknowledge_reminder": (("ack", "btn.ack"),),
}

# Which actions each kind of message offers.
OFFICIAL = ("accept", "resolve", "escalate", "reassign", "assign", "reject", "mark_duplicate", "correct_triage")
# What an official's card shows at first: the actions used most (the field run: accept, resolve, escalate,
# and placing an unplaced case); the rest are one "⋯ more" tap away, so the card fits a phone screen.
OFFICIAL_MAIN = ("accept", "resolve", "escalate", "assign")
REMINDER = ("acknowledge_reminder", "accept", "resolve", "escalate")
REPORTER_RECEIPT = ("add_details", "correct_triage")
REPORTER_RESOLVED = ("confirm", "reopen")
REPORTER_CARD = ("confirm", "reopen", "add_details", "correct_triage")
# Actions only the case's handlers have: a viewer with one of these may also retry a transcription.
HANDLER_MARKERS = frozenset({"accept", "resolve", "escalate", "reassign", "assign"})

ROW = 2  # buttons per row: big enough to hit with a thumb in the cold


def _rows(buttons: Sequence[InlineKeyboardButton], per_row: int = ROW) -> list[list[InlineKeyboardButton]]:
    return [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


#: Button labels in a herder's words, for what a liaison worker sees on their own case.
PLAIN_LABELS = {"btn.change_category": "btn.change_category_plain", "btn.change_urgency": "btn.change_urgency_plain"}


def action_buttons(lang: str, case_id: int, allowed: Iterable[str], offer: Sequence[str], *,
                   plain: bool = False) -> list[InlineKeyboardButton]:
    allowed_set = set(allowed)
    seen: set[str] = set()
    out: list[InlineKeyboardButton] = []
    for action in offer:
        if action not in allowed_set:
            continue
        for verb, key in ACTION_BUTTONS[action]:
            if verb in seen:  # "assign" and "reassign" share one button
                continue
            seen.add(verb)
            key = PLAIN_LABELS.get(key, key) if plain else key
            out.append(InlineKeyboardButton(t(lang, key), callback_data=pack(verb, case_id)))
    return out


def case_keyboard(
    lang: str,
    case_id: int,
    allowed: Iterable[str],
    offer: Sequence[str],
    *,
    retry_transcription: bool = False,
    refresh: bool = False,
    more: bool = False,
    open_card: bool = False,
    plain: bool = False,
) -> InlineKeyboardMarkup | None:
    """Buttons for one case message, or None when the viewer can do nothing here. ``more``: add "⋯ more"
    when the viewer may do something the ``offer`` leaves out (it redraws the message with every action)."""
    allowed = tuple(allowed)
    plain = plain or offer in (REPORTER_RECEIPT, REPORTER_CARD, REPORTER_RESOLVED)  # the reporter's own case
    buttons = action_buttons(lang, case_id, allowed, offer, plain=plain)
    if more and action_buttons(lang, case_id, allowed, [a for a in OFFICIAL if a not in offer]):
        buttons.append(InlineKeyboardButton(t(lang, "btn.more"), callback_data=pack("more", case_id)))
    if retry_transcription and HANDLER_MARKERS.intersection(allowed):
        buttons.append(InlineKeyboardButton(t(lang, "btn.retry"), callback_data=pack("rtr", case_id)))
    if refresh:
        buttons.append(InlineKeyboardButton(t(lang, "btn.refresh"), callback_data=pack("view", case_id)))
    if open_card:  # a one-line reminder points to the card instead of repeating it
        buttons.append(InlineKeyboardButton(t(lang, "btn.open_card"), callback_data=pack("view", case_id)))
    return InlineKeyboardMarkup(_rows(buttons)) if buttons else None


#: Households per row under a receipt: head names are short (仁青, 才让卓玛), three fit a phone's width.
HOUSEHOLD_ROW = 3


def with_households(lang: str, case_id: int, keyboard: InlineKeyboardMarkup | None,
                    choices: Sequence[HouseholdChoice]) -> InlineKeyboardMarkup | None:
    """The receipt's buttons, then one button per household of the worker ("🏠 仁青"): one tap says which family
    the report is about (``hh:<case>:<household>``), so the household archive lists the case."""
    if not choices:
        return keyboard
    rows = [list(r) for r in keyboard.inline_keyboard] if keyboard is not None else []
    buttons = [InlineKeyboardButton(clip("🏠 " + c.head_name, 24), callback_data=pack("hh", case_id, c.id))
               for c in choices]
    rows += _rows(buttons, HOUSEHOLD_ROW)
    return InlineKeyboardMarkup(rows)


def category_keyboard(
    lang: str, case_id: int, current: str | None, categories: Sequence[str] = DEFAULT_CATEGORIES, *,
    plain: bool = False,
) -> InlineKeyboardMarkup:
    """Every category the classifier knows (``CaseService.categories``: shipped + added in ``[triage]``);
    ``plain``: in a herder's words (the reporter correcting their own case)."""
    name = plain_label if plain else label
    buttons = [
        InlineKeyboardButton(("• " if c == current else "") + clip(name(lang, "category", c), 30),
                             callback_data=pack("scat", case_id, c))
        for c in categories
    ]
    rows = _rows(buttons, 3)
    rows.append([InlineKeyboardButton(t(lang, "btn.cancel"), callback_data=pack("back", case_id))])
    return InlineKeyboardMarkup(rows)


def urgency_keyboard(lang: str, case_id: int, current: str | None, *, plain: bool = False) -> InlineKeyboardMarkup:
    name = plain_label if plain else label
    buttons = [
        InlineKeyboardButton(("• " if u == current else "") + name(lang, "urgency", u), callback_data=pack("surg", case_id, u))
        for u in URGENCIES
    ]
    return InlineKeyboardMarkup(
        [buttons, [InlineKeyboardButton(t(lang, "btn.cancel"), callback_data=pack("back", case_id))]]
    )


def people_keyboard(
    lang: str, case_id: int, people: Sequence[tuple[int, str, str]], *, page: int = 0, pages: int = 1
) -> InlineKeyboardMarkup:
    """Reassign targets of one page: (person id, name, role), then ◀ ▶ when there are more pages."""
    buttons = [
        InlineKeyboardButton(clip(f"{name} · {label(lang, 'role', role)}", 40), callback_data=pack("rto", case_id, pid))
        for pid, name, role in people
    ]
    rows = _rows(buttons, 1)
    nav: list[InlineKeyboardButton] = []
    if page > 0:
        nav.append(InlineKeyboardButton(t(lang, "btn.prev"), callback_data=pack("rpg", case_id, page - 1)))
    if page + 1 < pages:
        nav.append(InlineKeyboardButton(t(lang, "btn.next"), callback_data=pack("rpg", case_id, page + 1)))
    if nav:
        rows.append(nav)
    rows.append([InlineKeyboardButton(t(lang, "btn.cancel"), callback_data=pack("cnl", case_id))])
    return InlineKeyboardMarkup(rows)


def followup_keyboard(lang: str, case_id: int, message_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[
            InlineKeyboardButton(t(lang, "btn.keep"), callback_data=pack("keep", case_id)),
            InlineKeyboardButton(t(lang, "btn.new_case"), callback_data=pack("new", case_id, message_id)),
        ]]
    )


def cancel_keyboard(lang: str, case_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(lang, "btn.cancel"), callback_data=pack("cnl", case_id))]])


def list_keyboard(
    lang: str, case_ids: Sequence[tuple[int, str]], *, page_verb: str, page_arg: str | None,
    page: int, has_prev: bool, has_next: bool,
) -> InlineKeyboardMarkup | None:
    """One button per case (label given), then ◀ ▶ for paging. ``page_verb`` is "my" or "pg"."""
    rows = [[InlineKeyboardButton(clip(text, 60), callback_data=pack("view", cid))] for cid, text in case_ids]
    nav: list[InlineKeyboardButton] = []

    def arg(p: int) -> str:
        return str(p) if page_arg is None else f"{page_arg}.{p}"

    if has_prev:
        nav.append(InlineKeyboardButton(t(lang, "btn.prev"), callback_data=pack(page_verb, 0, arg(page - 1))))
    if has_next:
        nav.append(InlineKeyboardButton(t(lang, "btn.next"), callback_data=pack(page_verb, 0, arg(page + 1))))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows) if rows else None


def language_keyboard() -> InlineKeyboardMarkup:
    """Two rows: UI languages, then speech languages (labels in their own language/script)."""
    ui = [InlineKeyboardButton(LANGUAGE_NAMES[code], callback_data=pack("ui", 0, code)) for code in UI_LANGUAGES]
    return InlineKeyboardMarkup([ui])


def speech_keyboard(lang: str) -> InlineKeyboardMarkup:
    sp = [InlineKeyboardButton(label(lang, "speech", code), callback_data=pack("sp", 0, code)) for code in SPEECH_LANGUAGES]
    return InlineKeyboardMarkup([sp])
