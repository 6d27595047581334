"""Open311 GeoReport v2 through the real HTTP stack: every endpoint with good, bad and missing keys; a request
filed by another system enters triage and routing; keys see only their own area; bad input gets a clear 4xx."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Notification, Person
from workflows.console.integrations import IntegrationService

V2 = "/open311/v2"


def make_key(h, name: str, unit: str) -> str:
    key, _ = IntegrationService(h.services.db, h.services.clock).create_key(name, unit)
    return key


async def test_services_and_keys(console_harness):
    h = console_harness
    key = make_key(h, "hotline12345", "C01")
    async with h.client() as api:
        assert (await api.get(f"{V2}/services.json")).status_code == 401
        r = await api.get(f"{V2}/services.json", params={"api_key": "lh_forged"})
        assert r.status_code == 403 and r.json()[0]["code"] == 403
        r = await api.get(f"{V2}/services.json", params={"api_key": key})
        assert r.status_code == 200
        codes = {s["service_code"]: s for s in r.json()}
        assert codes["safety"]["service_name"] and codes["safety"]["metadata"] is False
        r = await api.get(f"{V2}/services", headers={"X-Api-Key": key})
        assert r.status_code == 200
        assert (await api.get(f"{V2}/services/safety.json", params={"api_key": key})).json()["service_code"] == "safety"
        assert (await api.get(f"{V2}/services/nope.json", params={"api_key": key})).status_code == 404
        assert (await api.get(f"{V2}/services.xml", params={"api_key": key})).status_code == 400


async def test_a_request_enters_the_loop_and_its_status_is_read_back(console_harness):
    h = console_harness
    key = make_key(h, "hotline", "T01")
    async with h.client() as api:
        r = await api.post(f"{V2}/requests.json", data={
            "api_key": key, "service_code": "infrastructure", "description": "村口的桥被水冲坏了，车过不去",
            "address_id": "V0101", "first_name": "王", "phone": "12345", "lat": "35.0", "long": "102.9"})
        assert r.status_code == 201, r.text
        rid = r.json()[0]["service_request_id"]
        case = h.services.case_service.get_case(int(rid), h.org["P002"])
        assert case.category == "infrastructure" and case.owner is not None and case.state == "assigned"
        assert case.unit_id == h.org.unit("V0101")
        got = (await api.get(f"{V2}/requests/{rid}.json", params={"api_key": key})).json()
        assert got[0]["status"] == "open" and got[0]["service_code"] == "infrastructure"
        assert got[0]["address_id"] == "V0101" and got[0]["lat"] == "35.0"
        h.services.case_service.accept(int(rid), case.owner.id)
        h.services.case_service.resolve(int(rid), case.owner.id, "桥已临时加固")
        got = (await api.get(f"{V2}/requests/{rid}", params={"api_key": key})).json()[0]
        assert got["status"] == "closed" and "桥已临时加固" in got["status_notes"]
        listed = (await api.get(f"{V2}/requests.json", params={"api_key": key, "status": "closed"})).json()
        assert [x["service_request_id"] for x in listed] == [rid]
        assert (await api.get(f"{V2}/requests.json", params={"api_key": key, "status": "open"})).json() == []
        # another key, another township: sees nothing of it, and may not file there
        other = make_key(h, "platform-t02", "T02")
        assert (await api.get(f"{V2}/requests/{rid}.json", params={"api_key": other})).status_code == 404
        assert (await api.get(f"{V2}/requests.json", params={"api_key": other})).json() == []
        r = await api.post(f"{V2}/requests.json", data={"api_key": other, "service_code": "safety",
                                                        "description": "打架了", "address_id": "V0101"})
        assert r.status_code == 404
    with h.services.db.session() as s:
        integration = s.scalars(select(Person).where(Person.code == "api:hotline")).one()
        assert not s.scalars(select(Notification).where(Notification.recipient_id == integration.id)).all()


async def test_bad_requests_change_nothing(console_harness):
    h = console_harness
    key = make_key(h, "hotline", "C01")
    before = _count_cases(h)
    async with h.client() as api:
        cases = [
            ({"service_code": "safety", "description": "x"}, 401),
            ({"api_key": "nope", "service_code": "safety", "description": "x"}, 403),
            ({"api_key": key, "service_code": "unicorns", "description": "x"}, 404),
            ({"api_key": key, "service_code": "safety"}, 400),
            ({"api_key": key, "service_code": "safety", "description": "x" * 5000}, 400),
            ({"api_key": key, "service_code": "safety", "description": "x", "lat": "north"}, 400),
            ({"api_key": key, "service_code": "safety", "description": "x", "address_id": "NOWHERE"}, 404),
        ]
        for data, status in cases:
            r = await api.post(f"{V2}/requests.json", data=data)
            assert r.status_code == status, (data, r.text)
            assert r.json()[0]["code"] == status
        r = await api.post(f"{V2}/requests.json", content=b"{not json", headers={"content-type": "application/json",
                                                                                 "X-Api-Key": key})
        assert r.status_code == 400
        r = await api.post(f"{V2}/requests.json", content=b"a=" + b"x" * 70_000, headers={
            "content-type": "application/x-www-form-urlencoded", "X-Api-Key": key})
        assert r.status_code == 413
        r = await api.post(f"{V2}/requests.json", json={"api_key": key, "service_code": "safety",
                                                        "description": "有人在打架"})
        assert r.status_code == 201
        for params in ({"status": "half"}, {"service_request_id": "1;DROP"}, {"start_date": "yesterday"}):
            assert (await api.get(f"{V2}/requests.json", params={"api_key": key, **params})).status_code == 400
    assert _count_cases(h) == before + 1


def _count_cases(h) -> int:
    from sqlalchemy import func

    from storage.models import Case

    with h.services.db.session() as s:
        return s.scalar(select(func.count(Case.id)))
