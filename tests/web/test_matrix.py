"""Role × page × jurisdiction: through the real HTTP stack, each kind of official sees and changes exactly what
the domain's rules give them, and nothing of another area. The expectations are written out by hand from the
permission rules (docs/design.md), not read back from the code under test."""

from __future__ import annotations

import re

# Cases filed in the sample county (see storage/sample/):
#   A: general, grid G010101 (village V0101, township T01), owner P110
#   B: urgent, grid G020101 (township T02), owner P210
# People: P001 admin, P002 county commander, P003 governance operator, P010 health contact,
#   P100 / P200 township commanders of T01 / T02, P110 / P120 grid leaders of V0101 / V0102 (both in T01).
SEES = {  # person -> (sees A, sees B)
    "P001": (True, True), "P002": (True, True), "P003": (False, True), "P010": (False, False),
    "P100": (True, False), "P200": (False, True), "P110": (True, False), "P120": (False, False),
}
ACCEPTS_A = {"P002", "P100", "P110"}  # the owner and the chain officials above him whose area holds the case
HOUSEHOLD = "H111101"  # in grid G010101
SEES_HOUSEHOLD = {"P001", "P002", "P003", "P010", "P100", "P110"}  # unit coverage (county-level people see all)
FILES_FOR_P1111 = {"P001", "P002", "P003", "P100", "P110"}  # chain officials and the centre, inside their area


async def test_every_role_sees_and_changes_only_its_own(console_harness):
    h = console_harness
    cases = h.services.case_service
    a = cases.file_report(h.org["P1111"], text="村里的路灯坏了好几天了")
    b = cases.file_report(h.org["P2111"], text="二社的羊圈着火了 快来人")
    assert a.owner.id == h.org["P110"] and b.owner.id == h.org["P210"] and b.urgency == "urgent"
    hh = h.org.household(HOUSEHOLD)
    for code, (sees_a, sees_b) in SEES.items():
        async with h.signed_in(code) as browser:
            wall = (await browser.get("/wall")).text
            for case, sees in ((a, sees_a), (b, sees_b)):
                assert (f'data-case="{case.id}"' in wall) == sees, (code, case.id, "wall")
                page = await browser.get(f"/cases/{case.id}")
                assert page.status_code == (200 if sees else 403), (code, case.id, page.status_code)
                ledger_like = await browser.get(f"/wall?state=all&household={hh}")
                assert ledger_like.status_code == 200
            token = h.csrf(wall)
            r = await browser.post(f"/cases/{a.id}/accept", data={"csrf": token})
            if code in ACCEPTS_A and cases.get_case(a.id, h.org["P002"]).state == "assigned":
                assert r.status_code == 303, (code, r.status_code)
                cases.reassign(a.id, h.org["P002"], h.org["P110"])  # back to assigned for the next person
            elif code not in ACCEPTS_A:
                assert r.status_code in (403, 409), (code, r.status_code)
            r = await browser.get(f"/households/{hh}")
            assert r.status_code == (200 if code in SEES_HOUSEHOLD else 403), (code, "household", r.status_code)
            listing = (await browser.get("/households?q=仁青")).text
            assert (f'href="/households/{hh}"' in listing) == (code in SEES_HOUSEHOLD), (code, "household list")
            r = await browser.post("/file", data={"csrf": token, "worker": str(h.org["P1111"]), "text": "路灯又坏了"})
            assert r.status_code == (303 if code in FILES_FOR_P1111 else 403), (code, "file", r.status_code)
            stats = await browser.get("/stats/workers.csv")
            assert stats.status_code == 200
            assert ("\n扎西," in stats.text) == (code in SEES_HOUSEHOLD), (code, "workers in stats")


async def test_a_worker_and_a_stranger_get_nothing(console_harness):
    h = console_harness
    case = h.services.case_service.file_report(h.org["P1111"], text="路灯坏了")
    async with h.client() as stranger:
        for path in ("/wall", f"/cases/{case.id}", "/stats", "/households", "/file", "/stats/units.png"):
            r = await stranger.get(path)
            assert r.status_code == 401, (path, r.status_code)
        r = await stranger.post(f"/cases/{case.id}/accept", data={"csrf": "x"})
        assert r.status_code == 401
        # another person's cookie value, guessed or copied from a log line, opens nothing
        stranger.cookies.set("lianhu_session", "x" * 43)
        r = await stranger.get("/wall")
        assert r.status_code == 401
    assert re.search(r"console_not_for_role", str(_refused(h, "P1111")))


def _refused(h, code: str) -> object:
    from workflows.errors import NotPermitted

    try:
        h.link(code)
    except NotPermitted as exc:
        return exc.code
    return None
