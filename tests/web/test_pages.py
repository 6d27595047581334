"""The console's pages through the real HTTP stack: the wall, a case and its actions (the same domain calls and
notifications as Telegram), media, filing on behalf, statistics with PNG charts and CSV tables."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.models import Attachment, CaseEvent, Notification
from workflows.cases import AudioIn


def file(h, code: str, text: str):
    return h.services.case_service.file_report(h.org[code], text=text)


async def test_the_wall_orders_colours_counts_and_crosses_off(console_harness):
    h = console_harness
    cases = h.services.case_service
    general = file(h, "P1111", "村里的路灯坏了好几天了")
    urgent = file(h, "P1211", "二社的羊圈着火了 快来人")
    settled = file(h, "P1121", "水管冻裂了")
    cases.accept(settled.id, h.org["P110"])
    cases.resolve(settled.id, h.org["P110"], "已修好")
    cases.confirm(settled.id, h.org["P1121"])
    async with h.signed_in("P100") as browser:  # township commander of T01
        r = await browser.get("/wall")
        assert r.status_code == 200
        html = r.text
        assert 'http-equiv="refresh"' in html
        assert html.index(f'data-case="{urgent.id}"') < html.index(f'data-case="{general.id}"')
        assert "u-urgent" in html and "settled" in html  # colour and the crossed-off card
        assert f'data-case="{settled.id}"' in html
        r = await browser.get("/wall?urgency=urgent")
        assert f'data-case="{urgent.id}"' in r.text and f'data-case="{general.id}"' not in r.text
        h.clock.advance(timedelta(days=2))
        r = await browser.get("/wall?overdue=1")
        assert f'data-case="{general.id}"' in r.text and "overdue" in r.text
        assert (await browser.get("/wall?urgency=bogus")).status_code == 400
        assert (await browser.get("/wall?unit=abc")).status_code == 400
    async with h.signed_in("P200") as browser:  # township 2 sees none of township 1's cases
        r = await browser.get("/wall")
        assert f'data-case="{general.id}"' not in r.text and f'data-case="{urgent.id}"' not in r.text


async def test_accepting_on_the_web_is_the_same_domain_call_and_notifies(console_harness):
    h = console_harness
    case = file(h, "P1111", "邻居家老人摔倒了 需要去医院")
    before = {n.id for n in _notes(h)}
    async with h.signed_in(_owner_code(h, case)) as browser:
        page = await browser.get(f"/cases/{case.id}")
        assert page.status_code == 200 and "邻居家老人摔倒了" in page.text
        r = await browser.post(f"/cases/{case.id}/accept", data={"csrf": h.csrf(page.text)})
        assert r.status_code == 303
        page = await browser.get(r.headers["location"])
        assert 'id="done"' in page.text
        # resolve needs a note: an empty one is a clear 400 and changes nothing
        r = await browser.post(f"/cases/{case.id}/resolve", data={"csrf": h.csrf(page.text), "note": " "})
        assert r.status_code == 400
        r = await browser.post(f"/cases/{case.id}/resolve", data={"csrf": h.csrf(page.text), "note": "x" * 5000})
        assert r.status_code == 400
        assert h.services.case_service.get_case(case.id, h.org["P1111"]).state == "accepted"
    new = [n for n in _notes(h) if n.id not in before]
    assert [(n.kind, n.recipient_id) for n in new] == [("case_accepted", h.org["P1111"])]
    with h.services.db.session() as s:
        accepted = s.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "accepted")).one()
        assert accepted.actor_id == case.owner.id


async def test_media_is_served_only_with_its_case(console_harness):
    h = console_harness
    ogg = b"OggS" + b"\x00" * 200
    case = h.services.case_service.file_report(h.org["P1111"], audio=AudioIn(ogg, "audio/ogg", 3.0))
    h.services.case_service.attach_transcript(case.id, "牛跑丢了", model="test")
    other = file(h, "P1112", "另一件事")
    with h.services.db.session() as s:
        att = s.scalars(select(Attachment.id).where(Attachment.case_id == case.id)).one()
    async with h.signed_in("P110") as browser:
        page = await browser.get(f"/cases/{case.id}")
        assert f'<audio controls preload="none" src="/cases/{case.id}/media/{att}"' in page.text
        r = await browser.get(f"/cases/{case.id}/media/{att}")
        assert r.status_code == 200 and r.content == ogg and r.headers["content-type"] == "audio/ogg"
        assert (await browser.get(f"/cases/{other.id}/media/{att}")).status_code == 404
        for path in (f"/cases/{case.id}/media/..%2F..%2Fetc%2Fpasswd", f"/cases/{case.id}/media/-1",
                     "/static/..%2F..%2Fweb%2Fapp.py", "/static/../app.py"):
            assert (await browser.get(path)).status_code == 404, path
    async with h.signed_in("P200") as browser:
        assert (await browser.get(f"/cases/{case.id}/media/{att}")).status_code == 403


async def test_filing_on_behalf_enters_the_same_loop(console_harness):
    h = console_harness
    async with h.signed_in("P003") as browser:  # a governance-centre operator takes a phone call
        form = await browser.get("/file")
        assert form.status_code == 200 and "扎西" in form.text
        r = await browser.post("/file", data={"csrf": h.csrf(form.text), "worker": str(h.org["P1111"]),
                                              "text": "山上着火了 快来人"})
        assert r.status_code == 303
        case_id = int(r.headers["location"].split("/")[2].split("?")[0])
        r = await browser.post("/file", data={"csrf": h.csrf(form.text), "worker": str(h.org["P1111"])})
        assert r.status_code == 400
    case = h.services.case_service.get_case(case_id, h.org["P1111"])
    assert case.reporter.id == h.org["P1111"] and case.urgency == "urgent" and case.owner is not None
    with h.services.db.session() as s:
        reported = s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == "reported")).one()
        assert reported.actor_id == h.org["P003"] and reported.data["channel"] == "console"
    async with h.signed_in("P210") as browser:  # a grid leader of township 2 may not file for township 1
        form = await browser.get("/file")
        r = await browser.post("/file", data={"csrf": h.csrf(form.text), "worker": str(h.org["P1111"]),
                                              "text": "路坏了"})
        assert r.status_code == 403


async def test_statistics_draw_charts_and_tables(console_harness):
    h = console_harness
    for code, text in (("P1111", "路灯坏了"), ("P1211", "着火了 快来人"), ("P2111", "牛病了"),
                       ("P1112", "老人发高烧，要送医院")):
        file(h, code, text)
    async with h.signed_in("P002") as browser:  # county commander
        page = await browser.get("/stats")
        assert page.status_code == 200 and "/stats/units.png" in page.text
        assert "卫生健康局" in page.text and ">health<" not in page.text  # departments by name, not by code
        assert "卫生健康局" in (await browser.get("/stats/departments.csv")).text
        for name in ("units", "weeks-urgency", "weeks-category"):
            r = await browser.get(f"/stats/{name}.png?weeks=12")
            assert r.status_code == 200 and r.content.startswith(b"\x89PNG"), name
        r = await browser.get("/stats/townships.csv")
        assert r.status_code == 200 and r.content.startswith("\ufeff".encode()) and "合计" in r.text
        r = await browser.get("/stats/workers.csv")
        assert "扎西" in r.text
        assert (await browser.get("/stats?weeks=0")).status_code == 400
        assert (await browser.get("/stats/nope.png")).status_code == 404


def _notes(h):
    with h.services.db.session() as s:
        return list(s.scalars(select(Notification).order_by(Notification.id)))


def _owner_code(h, case) -> str:
    with h.services.db.session() as s:
        from storage.models import Person

        return s.get(Person, case.owner.id).code


async def test_oversized_and_malformed_forms_get_a_clear_4xx(console_harness):
    import dataclasses

    h = console_harness
    h.console.web = dataclasses.replace(h.console.web, max_upload_bytes=10_000)
    async with h.signed_in("P003") as browser:
        token = h.csrf((await browser.get("/file")).text)
        big = {"audio": ("call.ogg", b"OggS" + b"\x00" * 200_000, "audio/ogg")}
        r = await browser.post("/file", data={"csrf": token, "worker": str(h.org["P1111"])}, files=big)
        assert r.status_code == 413
        r = await browser.post("/file", data={"csrf": token, "worker": "12; DROP TABLE cases", "text": "x"})
        assert r.status_code == 400
        r = await browser.post("/file", content=b"--broken\r\nnot multipart", headers={
            "content-type": "multipart/form-data; boundary=broken"})
        assert r.status_code in (400, 403)
        small = {"audio": ("call.ogg", b"OggS" + b"\x00" * 500, "audio/ogg")}
        r = await browser.post("/file", data={"csrf": token, "worker": str(h.org["P1111"])}, files=small)
        assert r.status_code == 303  # a recording within the limit is filed, waiting for its transcript
        case_id = int(r.headers["location"].split("/")[2].split("?")[0])
    view = h.services.case_service.get_case(case_id, h.org["P1111"])
    assert view.transcript_status == "pending" and view.has_audio and view.reporter.id == h.org["P1111"]


async def test_the_ledger_for_a_filter_in_chinese(console_harness):
    """台账 from the wall's filter as XLSX and CSV: Chinese headers and words (the page's language when chosen),
    the viewer's cases only, an empty ledger still has its header."""
    import csv
    import io

    from openpyxl import load_workbook

    from runtime.ledger import COLUMNS, headers

    h = console_harness
    fire = file(h, "P1111", "二社的羊圈着火了 快来人")
    lamp = file(h, "P1112", "路灯坏了")
    async with h.signed_in("P110") as browser:
        wall = await browser.get("/wall?urgency=urgent")
        assert 'href="/ledger.csv?urgency=urgent"' in wall.text and 'href="/ledger.xlsx?urgency=urgent"' in wall.text
        r = await browser.get("/ledger.csv?urgency=urgent")
        assert r.status_code == 200 and r.content.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))
        assert rows[0] == headers("zh") and [int(x[0]) for x in rows[1:]] == [fire.id]
        assert dict(zip(COLUMNS, rows[1], strict=True))["urgency"] == "紧急"
        r = await browser.get("/ledger.csv")
        assert {int(x[0]) for x in list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))[1:]} == {
            fire.id, lamp.id}

        r = await browser.get("/ledger.xlsx?urgency=urgent")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert r.headers["content-disposition"].endswith('.xlsx"')
        ws = load_workbook(io.BytesIO(r.content)).active
        grid = [[c.value for c in row] for row in ws.iter_rows()]
        assert grid[0] == headers("zh") and [g[0] for g in grid[1:]] == [fire.id]
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:W2"
        assert dict(zip(COLUMNS, grid[1], strict=True))["category"] == "治安安全"

        r = await browser.get("/ledger.xlsx?lang=en")  # the console's language carries into the file
        ws = load_workbook(io.BytesIO(r.content)).active
        assert [c.value for c in next(ws.iter_rows())] == headers("en")
    async with h.signed_in("P200") as browser:  # another township: an empty ledger with its header
        r = await browser.get("/ledger.csv")
        assert r.content.decode("utf-8-sig").strip() == ",".join(headers("zh"))
        ws = load_workbook(io.BytesIO((await browser.get("/ledger.xlsx")).content)).active
        assert ws.max_row == 1
    async with h.client() as stranger:
        assert (await stranger.get("/ledger.xlsx")).status_code == 401


async def test_an_uploaded_recording_is_transcribed_and_routed(console_harness):
    """A centre operator uploads a phone-call recording: it is stored, its transcription job is taken by the
    process's pipeline at once, the transcript is triaged and the case routed like a Telegram voice note."""
    import asyncio

    from runtime.voice import TranscriptionPool, VoicePipeline
    from tests.bot.conftest import ScriptedTranscriber, fake_ogg

    h = console_harness
    audio = fake_ogg("call-1")
    transcriber = ScriptedTranscriber(texts={audio: "山上着火了 快来人"})
    pipeline = VoicePipeline(h.services.case_service, TranscriptionPool({"zh": transcriber, "bo": transcriber}),
                             kick=lambda: None, poll_seconds=0.2)
    await pipeline.resume_pending()
    h.console.submit_voice = pipeline.submit
    try:
        async with h.signed_in("P003") as browser:
            token = h.csrf((await browser.get("/file")).text)
            r = await browser.post("/file", data={"csrf": token, "worker": str(h.org["P1111"])},
                                   files={"audio": ("call.ogg", audio, "audio/ogg")})
            assert r.status_code == 303
            case_id = int(r.headers["location"].split("/")[2].split("?")[0])
        for _ in range(100):
            view = h.services.case_service.get_case(case_id, h.org["P1111"])
            if view.transcript_status != "pending" and view.state != "reported":
                break
            await asyncio.sleep(0.1)
        assert view.transcript_status == "done" and view.text == "山上着火了 快来人"
        assert view.urgency == "urgent" and view.state == "assigned" and view.owner is not None
    finally:
        await pipeline.shutdown()


async def test_the_household_page_shows_the_archive(console_harness):
    h = console_harness
    hh = h.org["H111102"]  # 加措's household: 低保, members in members.csv, livestock
    case = h.services.case_service.file_report(h.org["P1111"], text="加措家的牦牛病了，站不起来")
    assert case.household_id == hh  # the worker named the household
    async with h.signed_in("P110") as browser:
        page = (await browser.get(f"/households/{hh}")).text
        assert "加措" in page and "低保" in page and "牦牛" in page and f'data-case="{case.id}"' in page
        people = page.split("<tbody>")[1]
        assert people.count("<tr>") >= 2  # the household's members, one row each
        found = (await browser.get("/households?q=加措")).text
        assert f'href="/households/{hh}"' in found
