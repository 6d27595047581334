"""Issue 12 in the console, through the real HTTP stack: the household archive shows its visits beside its
cases, and an official sends a task from a small form with the same domain call as ``/task`` in Telegram."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from storage.models import Notification, Task, Visit


async def test_the_household_archive_shows_visits_beside_cases(console_harness):
    h = console_harness
    hh = h.org["H111102"]  # 加措's household, looked after by P1111; cadre: the grid leader P110
    case = h.services.case_service.file_report(h.org["P1111"], text="加措家的老阿爸昨晚去世了，家里人很难过")
    assert case.household_id == hh
    with h.services.db.session() as s:
        visit = s.scalars(select(Visit).where(Visit.household_id == hh)).one()
    async with h.signed_in("P110") as browser:
        page = (await browser.get(f"/households/{hh}")).text
        cases, visits = page.split('id="visits"')
        assert f'data-case="{case.id}"' in cases  # the case on the left
        assert "老人去世" in visits and f"#{visit.id}" in visits and "待走访" in visits
        assert f'href="/cases/{case.id}"' in visits  # the visit links the report that flagged it
        h.services.visit_service.complete(visit.id, h.org["P110"], note="上门慰问了家属")
        page = (await browser.get(f"/households/{hh}")).text
        visits = page.split('id="visits"')[1]
        assert "已走访" in visits and "上门慰问了家属" in visits
        other = (await browser.get(f"/households/{h.org['H111101']}")).text
        assert "这一户还没有走访记录" in other
    async with h.signed_in("P200") as browser:  # another township's commander: not their archive
        assert (await browser.get(f"/households/{hh}")).status_code == 403


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _local(h, **delta) -> str:
    """A deadline as the form's datetime-local field holds it (Beijing time)."""
    return (h.clock.now() + timedelta(hours=8) + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M")


async def test_an_official_sends_a_task_from_the_console_and_follows_it(console_harness):
    h = console_harness
    async with h.signed_in("P100") as browser:  # the township commander of T01
        form = (await browser.get("/tasks")).text
        assert f'name="unit" value="{h.org["V0101"]}"' in form and "多卡村" in form
        assert f'name="unit" value="{h.org["G010101"]}"' in form  # a single grid may be chosen too
        assert 'value="disaster_check"' in form
        r = await browser.post(
            "/tasks",
            data={
                "csrf": _csrf(form),
                "template": "disaster_check",
                "text": "",
                "unit": [str(h.org["V0101"]), str(h.org["G010201"])],
                "due": _local(h, hours=6),
            },
        )
        assert r.status_code == 303, r.text[:400]
        task_id = int(r.headers["location"].split("/tasks/")[1].split("?")[0])
        assert h.kicks  # the sheets are delivered to Telegram right away
        with h.services.db.session() as s:
            sheets = s.scalars(select(Notification).where(Notification.kind == "task_assigned")).all()
        workers = {n.recipient_id for n in sheets}
        assert workers == {h.org[c] for c in ("P1111", "P1112", "P1121", "P1122", "P1211", "P1212")}

        tasks = h.services.task_service
        tasks.answer(task_id, h.org["P1111"], h.org["H111101"], "done")
        tasks.answer(
            task_id, h.org["P1211"], h.org["H121101"], "problem", text="帐篷被大雪压塌了，老人冻着了"
        )
        assert "任务已发出" in (await browser.get(r.headers["location"])).text
        page = (await browser.get(f"/tasks/{task_id}")).text
        assert "多卡村" in page and "拉日村" in page
        answered = page.split('id="answered"')[1].split("</dd>")[0]
        assert "2/" in answered and "⚠️ 1" in answered
        problem = page.split('id="problems"')[1].split("</ul>")[0]
        case_id = tasks.get(task_id, h.org["P100"]).problems[0].case_id
        assert "帐篷" in problem and f'href="/cases/{case_id}"' in problem

        export = await browser.get(f"/tasks/{task_id}.csv")
        assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
        assert {"户主", "回复", "案件编号"} <= set(rows[0]) and {r["回复"] for r in rows} >= {
            "已完成",
            "有问题",
        }
        workbook = await browser.get(f"/tasks/{task_id}.xlsx")
        assert workbook.status_code == 200
        assert workbook.headers["content-disposition"].endswith('.xlsx"')
        sheet = load_workbook(io.BytesIO(workbook.content)).active
        assert sheet.cell(1, 8).value == "户主" and sheet.max_row == len(rows) + 1

        h.clock.advance(hours=2, minutes=1)  # a third of the way: the silent workers are reminded
        assert h.services.due_work().run_once().other.get("task_reminder") == 1
        page = (await browser.get(f"/tasks/{task_id}")).text
        r = await browser.post(f"/tasks/{task_id}/close", data={"csrf": _csrf(page)})
        assert r.status_code == 303
        page = (await browser.get(f"/tasks/{task_id}")).text
        assert "已结束" in page
        trail = page.split('id="trail"')[1].split("</ol>")[0]  # the audit trail, answers left out
        assert [w for w in ("起草", "发出", "提醒还没回复的联户员", "结束") if w in trail] == [
            "起草",
            "发出",
            "提醒还没回复的联户员",
            "结束",
        ]
        assert (
            trail.count("陈志强") == 3 and "(6)" in trail
        )  # the issuer's steps; all 6 still have open lines
        listing = (await browser.get("/tasks")).text
        assert f'href="/tasks/{task_id}"' in listing


async def test_bad_task_requests_from_the_console_get_a_clear_page_and_write_nothing(console_harness):
    h = console_harness
    async with h.signed_in("P100") as browser:
        csrf = _csrf((await browser.get("/tasks")).text)
        cases = [
            (
                {"text": "检查帐篷", "unit": str(h.org["V0201"]), "due": _local(h, hours=6)},
                403,
                "不在您的管辖范围内",
            ),
            ({"text": "检查帐篷", "due": _local(h, hours=-1)}, 400, "截止时间已经过了"),
            ({"text": "   ", "template": "", "due": _local(h, hours=6)}, 400, "任务内容是空的"),
            ({"text": "检查帐篷", "due": "明天"}, 400, ""),
            ({"text": "检查帐篷", "unit": "V0101", "due": _local(h, hours=6)}, 400, ""),
        ]
        for data, status, words in cases:
            r = await browser.post("/tasks", data={"csrf": csrf, **data})
            assert r.status_code == status, (data, r.text[:300])
            assert words in r.text
        with h.services.db.session() as s:
            assert s.scalars(select(Task)).all() == [] and s.scalars(select(Notification)).all() == []
        other = h.services.task_service.create_and_send(
            h.org["P200"], text="检查", due_at=h.clock.now() + timedelta(hours=3)
        )
        assert (await browser.get(f"/tasks/{other.id}")).status_code == 403  # another township's task
        assert (await browser.get(f"/tasks/{other.id}.csv")).status_code == 403
        assert (await browser.get("/tasks/99999")).status_code == 404
    async with h.signed_in("P010") as browser:  # a department contact may not send tasks
        page = (await browser.get("/tasks")).text
        assert "只有网格长及以上" in page and 'id="task-form"' not in page


async def test_a_spoken_task_uploaded_from_the_console(console_harness):
    h = console_harness
    clip = b"OggS\x00\x02 a recorded task" + b"\x00" * 64
    async with h.signed_in("P110") as browser:  # a grid leader: his own village
        csrf = _csrf((await browser.get("/tasks")).text)
        r = await browser.post(
            "/tasks",
            data={"csrf": csrf, "text": "", "due": _local(h, hours=3)},
            files={"audio": ("task.ogg", clip, "audio/ogg")},
        )
        assert r.status_code == 303, r.text[:300]
        task_id = int(r.headers["location"].split("/tasks/")[1].split("?")[0])
        assert "🎙" in (await browser.get(f"/tasks/{task_id}")).text
        assert h.services.task_service.audio(task_id, h.org["P1111"]) == clip  # what the workers will hear
        r = await browser.post(  # neither words nor a recording: refused, nothing written
            "/tasks",
            data={"csrf": csrf, "text": "", "due": _local(h, hours=3)},
            files={"audio": ("empty.ogg", b"", "audio/ogg")},
        )
        assert r.status_code == 400 and "任务内容是空的" in r.text
    with h.services.db.session() as s:
        assert len(s.scalars(select(Task)).all()) == 1
