"""Through the fake Bot API, on SQLite and PostgreSQL: a report is stored whatever characters it holds
(issue 10, finding 6). PostgreSQL refused a NUL in a text column (``psycopg.DataError``) and the report was lost
before anything was stored (a lone surrogate, which no database can encode, is covered below the bot: Telegram
itself never forwards one). Now the text is made storable and the exact original is kept with the report's
audit event.
"""

from __future__ import annotations

from storage.text import restore_original
from tests.bot.conftest import Harness

SENT = "尼玛家\x00房子墙裂了一道大缝\x01\u200b，怕塌\x00"


async def test_a_report_with_nul_and_control_characters_is_stored_and_routed(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    await worker.send_text(SENT)
    receipt = await worker.wait_for_message(lambda m: "#" in m.content and "墙裂" in m.content, timeout=10)
    card = await leader.wait_for_message(lambda m: "墙裂" in m.content, timeout=10)
    assert "\x00" not in card.content and "\x00" not in receipt.content

    case = h.cases.list_cases(h.person_id("P1111"), scope="reported")[0]
    assert case.text == "尼玛家房子墙裂了一道大缝\x01\u200b，怕塌"
    assert case.owner is not None and case.owner.id == h.person_id("P110")
    reported = next(e for e in h.cases.timeline(case.id, h.person_id("P001")) if e.kind == "reported")
    assert restore_original(reported.data["original_text"]) == SENT  # nothing the worker sent is lost

    # a follow-up with a NUL joins the case the same way
    await worker.send_text("又裂了\x00一条")
    await worker.wait_for_message(lambda m: "已补充到案件" in m.content, timeout=10)
    added = [e for e in h.cases.timeline(case.id, h.person_id("P001")) if e.kind == "details_added"]
    assert added and added[-1].note == "又裂了一条"
    assert restore_original(added[-1].data["original_text"]) == "又裂了\x00一条"


def test_every_string_column_is_made_storable_on_flush(database) -> None:  # type: ignore[no-untyped-def]
    """The net under every path (a resolution note, a reason, a name): a row with a NUL in any string column
    is written, on both databases."""
    from storage.models import Unit, UnitLevel

    with database.session() as s:
        s.add(Unit(code="X\x00", name="坏\x00名字\udc80", level=UnitLevel.county, default_language="zh"))
    with database.session() as s:
        unit = s.query(Unit).filter(Unit.code == "X").one()
        assert unit.name == "坏名字\ufffd"
