"""/healthz and /metrics through the real HTTP stack, from the database."""

from __future__ import annotations

from workflows.cases import AudioIn


async def test_healthz_reports_database_scheduler_outbox_and_transcription(console_harness):
    h = console_harness
    h.services.case_service.file_report(h.org["P1111"], text="着火了 快来人")
    h.services.case_service.file_report(h.org["P1112"], audio=AudioIn(b"OggS" + b"\x00" * 50, "audio/ogg", 2.0))
    async with h.client() as c:
        r = await c.get("/healthz")
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "ok" and body["database"]["ok"] is True
        assert body["outbox"]["pending"] >= 1 and body["transcription"]["pending"] == 1
        assert body["scheduler"]["ok"] is False and body["scheduler"]["holder"] is None  # no scheduler in this test
        assert body["telegram"] == "off"


async def test_metrics_in_prometheus_text_format(console_harness):
    h = console_harness
    h.services.case_service.file_report(h.org["P1111"], text="着火了 快来人")
    async with h.client() as c:
        r = await c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'lianhu_cases{state="assigned",urgency="urgent"} 1.0' in text
    for name in ("lianhu_notifications_total{status=\"pending\"}", "lianhu_outbox_oldest_pending_seconds",
                 "lianhu_notification_delivery_seconds_count", "lianhu_transcription_queue",
                 "lianhu_scheduler_lag_seconds", "lianhu_up 1"):
        assert name in text, name
    from prometheus_client.parser import text_string_to_metric_families

    assert {f.name for f in text_string_to_metric_families(text)} >= {"lianhu_cases", "lianhu_notifications"}
