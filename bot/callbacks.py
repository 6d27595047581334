"""Inline-button data: ``"<verb>:<case_id>[:<arg>]"``, at most 64 bytes (Telegram's limit).

Why a strict little format instead of JSON or PTB's arbitrary callback data: the data travels through the
user's client and comes back untrusted, so it must be small, parseable without guessing and easy to reject.
Parsing only checks the *shape* (known verb, numeric id, well-formed argument); whether this person may do this
to this case *now* is always decided by the domain service, never by the button.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BYTES = 64

# verb -> pattern its argument must match (None: no argument allowed)
_ARG_NONE = None
_WORD = r"[a-z_]{1,20}"
_CATEGORY = r"[a-z][a-z0-9_]{0,31}"  # like [triage.categories.<name>] (at most 32 characters)
_INT = r"\d{1,10}"

VERBS: dict[str, str | None] = {
    # officials
    "acc": _ARG_NONE,  # accept
    "res": _ARG_NONE,  # resolve -> asks for a note
    "esc": _ARG_NONE,  # escalate -> asks for a reason
    "rsg": _ARG_NONE,  # reassign -> shows people
    "rpg": _INT,  # reassign -> page <arg> of the people list
    "rto": _INT,  # reassign to person <arg>
    "rej": _ARG_NONE,  # reject -> asks for a reason
    "dup": _ARG_NONE,  # duplicate -> asks for the earlier case number and a reason
    "ack": _ARG_NONE,  # acknowledge a reminder
    "rtr": _ARG_NONE,  # retry transcription
    # reporter
    "cfm": _ARG_NONE,  # confirm fixed
    "nfx": _ARG_NONE,  # not fixed -> reopen
    "add": _ARG_NONE,  # add details -> next message
    "cat": _ARG_NONE,  # choose category
    "scat": _CATEGORY,  # set category <arg>
    "urg": _ARG_NONE,  # choose urgency
    "surg": _WORD,  # set urgency <arg>
    "keep": _ARG_NONE,  # follow-up: keep it with case <id>
    "new": _INT,  # follow-up: file message <arg> (a message id) as a new case
    "hh": _INT,  # the receipt's household buttons: this report is about household <arg> (one of mine)
    # anyone
    "view": _ARG_NONE,  # show the case card
    "my": _INT,  # /my page <arg> (case id 0)
    "pg": _WORD + r"\.\d{1,4}",  # /cases or /overdue page: "<scope>.<page>" (case id 0)
    "ui": r"zh|bo|en",  # UI language (case id 0)
    "sp": r"zh|bo",  # speech language (case id 0)
    "cnl": _ARG_NONE,  # cancel a pending prompt
    "back": _ARG_NONE,  # leave the category/urgency picker: restore the case buttons
    "more": _ARG_NONE,  # an official's card: show every action (the card shows the most used ones)
    # tasks (the id slot holds the task id; bot/handlers/tasks.py)
    "tkn": r"[a-z][a-z0-9_]{0,19}",  # /task: start a draft from template <arg> ("own": write my own) (id 0)
    "tku": _INT,  # draft: tick / untick unit <arg> as a target
    "tkw": _ARG_NONE,  # draft: the whole area
    "tkok": _ARG_NONE,  # draft: targets chosen -> ask the deadline
    "tkd": r"t18|t22|m12|d3|d7|tpl",  # draft: deadline choice
    "tks": _ARG_NONE,  # draft: send
    "tkx": _ARG_NONE,  # cancel a draft / withdraw a sent task
    "tkc": _ARG_NONE,  # close a sent task
    "tkv": _ARG_NONE,  # show / refresh a task's progress
    "tke": r"xlsx|csv",  # export the answers
    "ta": r"\d{1,10}\.[dpu]",  # a worker's answer: "<household id>.<done|problem|unreachable>" (household 0: own)
    # visits (the id slot holds the visit id; bot/handlers/visits.py)
    "vv": _ARG_NONE,  # show the visit card
    "vd": _ARG_NONE,  # done -> asks for a note, a voice note or a photo
    "vh": _ARG_NONE,  # hand on -> lists people
    "vht": _INT,  # hand on to person <arg>
    "vx": _ARG_NONE,  # not needed -> asks for the reason
    "vpg": _INT,  # /visits page <arg> (id 0)
}

_SHAPE = re.compile(r"^([a-z]{2,4}):(\d{1,10})(?::([A-Za-z0-9_.]{1,32}))?$")


class BadCallback(ValueError):
    """Callback data that is not ours, garbled, or forged in shape."""


@dataclass(frozen=True)
class Callback:
    verb: str
    case_id: int
    arg: str | None = None

    def pack(self) -> str:
        return pack(self.verb, self.case_id, self.arg)


def pack(verb: str, case_id: int = 0, arg: str | int | None = None) -> str:
    """Format button data; raises ValueError on anything :func:`parse` would refuse (a bug, not user input)."""
    data = f"{verb}:{int(case_id)}" + (f":{arg}" if arg is not None else "")
    parse(data)  # one grammar for both directions
    return data


def parse(data: str | None) -> Callback:
    """Parse and validate button data; raises :class:`BadCallback` with a short reason."""
    if not data or len(data.encode("utf-8")) > MAX_BYTES:
        raise BadCallback("empty or too long")
    m = _SHAPE.match(data)
    if not m:
        raise BadCallback("bad shape")
    verb, case_id, arg = m.group(1), int(m.group(2)), m.group(3)
    if verb not in VERBS:
        raise BadCallback(f"unknown verb {verb!r}")
    pattern = VERBS[verb]
    if pattern is None:
        if arg is not None:
            raise BadCallback(f"{verb} takes no argument")
    elif arg is None or not re.fullmatch(pattern, arg):
        raise BadCallback(f"bad argument for {verb}")
    return Callback(verb, case_id, arg)
