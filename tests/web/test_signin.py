"""Sign-in links and sessions through the real HTTP stack: a link works once, for a short time, for one person;
forged, reused and expired links get a clear 4xx and open nothing; CSRF is refused; cookies are HttpOnly."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from storage.models import WebSession


async def test_a_link_opens_a_session_once(console_harness):
    h = console_harness
    link = h.link("P110").removeprefix(h.base_url)
    async with h.client() as browser:
        page = await browser.get(link)  # a link-preview robot fetching it must not use it up
        assert page.status_code == 200 and "王建国" in page.text
        r = await browser.post(link)
        assert r.status_code == 303 and r.headers["location"] == "/wall"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        wall = await browser.get("/wall")
        assert wall.status_code == 200 and "王建国" in wall.text
    async with h.client() as other:
        again = await other.post(link)
        assert again.status_code == 410 and "已经用过" in again.text
        assert (await other.get("/wall")).status_code == 401


async def test_forged_expired_and_malformed_links_are_refused(console_harness):
    h = console_harness
    async with h.client() as browser:
        for path in ("/signin/" + "A" * 43, "/signin/x", "/signin/" + "%2e%2e%2f" * 5):
            r = await browser.post(path)
            assert r.status_code in (404, 410), (path, r.status_code)
        link = h.link("P100").removeprefix(h.base_url)
        h.clock.advance(timedelta(minutes=16))
        r = await browser.post(link)
        assert r.status_code == 410 and "过期" in r.text
        assert (await browser.get("/wall")).status_code == 401
    with h.services.db.session() as s:
        assert s.scalar(select(func.count(WebSession.id))) == 0


async def test_workers_get_no_console(console_harness):
    import pytest

    from workflows.errors import NotPermitted

    with pytest.raises(NotPermitted):
        console_harness.link("P1111")


async def test_forms_without_the_session_csrf_token_change_nothing(console_harness):
    h = console_harness
    case = h.services.case_service.file_report(h.org["P1111"], text="二社的羊圈着火了 快来人")
    assert case.owner.id == h.org["P110"]
    async with h.signed_in("P110") as browser:
        page = await browser.get(f"/cases/{case.id}")
        token = h.csrf(page.text)
        for data in ({}, {"csrf": "forged"}):
            r = await browser.post(f"/cases/{case.id}/accept", data=data)
            assert r.status_code == 403
        r = await browser.post(f"/cases/{case.id}/accept", data={"csrf": token},
                               headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        assert h.services.case_service.get_case(case.id, h.org["P110"]).state == "assigned"
        r = await browser.post(f"/cases/{case.id}/accept", data={"csrf": token})
        assert r.status_code == 303
        assert h.services.case_service.get_case(case.id, h.org["P110"]).state == "accepted"
        assert h.kicks  # the outbox was woken to deliver the notices at once


async def test_a_session_cookie_is_bound_to_its_person_and_ends(console_harness):
    h = console_harness
    async with h.signed_in("P200") as browser:  # township 2 commander
        r = await browser.get("/wall")
        assert "索南多杰" in r.text
        token = h.csrf(r.text)
        r = await browser.post("/signout", data={"csrf": token})
        assert r.status_code == 303
        assert (await browser.get("/wall")).status_code == 401
    async with h.signed_in("P100") as browser:
        h.clock.advance(timedelta(days=8))  # idle longer than session_idle
        assert (await browser.get("/wall")).status_code == 401
