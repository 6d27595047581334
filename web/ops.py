"""``/healthz`` (JSON; 200 when the database answers, 503 when it does not) and ``/metrics`` (Prometheus text
format). Both read the database, so every replica reports the same figures; neither needs a session.
Scrape them from loopback or through nginx with access limited to the monitoring host (docs/operations.md)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


async def healthz(request: Request) -> Response:
    console = request.app.state.console
    health = await run_in_threadpool(console.health.health)
    body = {"status": "ok" if health.ok else "down", "telegram": "on" if console.telegram_on else "off",
            **health.checks}
    return JSONResponse(body, status_code=200 if health.ok else 503)


class _DatabaseCollector:
    """Turns :class:`workflows.console.health.Metrics` into Prometheus families at scrape time."""

    def __init__(self, metrics: Any) -> None:
        self.m = metrics

    def collect(self) -> Any:
        m = self.m
        cases = GaugeMetricFamily("lianhu_cases", "Cases by state and urgency", labels=["state", "urgency"])
        for (state, urgency), n in sorted(m.cases.items()):
            cases.add_metric([state, urgency], n)
        yield cases
        yield GaugeMetricFamily("lianhu_cases_overdue", "Open cases past their acknowledgement or resolution deadline",
                                value=m.overdue)
        notes = CounterMetricFamily("lianhu_notifications", "Notifications in the outbox by status (sent and failed "
                                    "only grow)", labels=["status"])
        for status in ("pending", "sending", "sent", "failed"):
            notes.add_metric([status], m.notifications.get(status, 0))
        yield notes
        yield GaugeMetricFamily("lianhu_outbox_oldest_pending_seconds", "Age of the oldest notification waiting",
                                value=m.oldest_pending_seconds)
        latency = SummaryMetricFamily("lianhu_notification_delivery_seconds",
                                      "Queued to sent, notifications sent in the last hour",
                                      count_value=m.delivery_count, sum_value=m.delivery_sum)
        yield latency
        q = GaugeMetricFamily("lianhu_notification_delivery_seconds_quantile",
                              "Delivery latency quantiles over the last hour", labels=["quantile"])
        for quant, value in sorted(m.delivery_recent.items()):
            q.add_metric([str(quant)], value)
        yield q
        yield GaugeMetricFamily("lianhu_transcription_queue", "Voice cases waiting for a transcript",
                                value=m.transcription_queue)
        tq = GaugeMetricFamily("lianhu_transcription_seconds_quantile",
                               "Report to transcript, transcripts of the last hour", labels=["quantile"])
        for quant, value in sorted(m.transcription_recent.items()):
            tq.add_metric([str(quant)], value)
        yield tq
        yield GaugeMetricFamily("lianhu_transcriptions_last_hour", "Transcripts attached in the last hour",
                                value=m.transcription_recent_count)
        yield GaugeMetricFamily("lianhu_scheduler_lag_seconds", "How long the oldest due reminder/escalation waits",
                                value=m.scheduler_lag_seconds)
        yield GaugeMetricFamily("lianhu_scheduler_lease_live", "1 when a scheduler holds a live lease",
                                value=1 if m.lease_live else 0)
        if m.lease_age_seconds is not None:
            yield GaugeMetricFamily("lianhu_scheduler_lease_age_seconds", "Seconds since the lease was last renewed",
                                    value=m.lease_age_seconds)


async def metrics(request: Request) -> Response:
    console = request.app.state.console
    try:
        figures = await run_in_threadpool(console.health.metrics)
    except Exception as exc:  # the database is down: say so in the scrape, do not 500 with a traceback
        return Response(f"# lianhu: database unavailable: {type(exc).__name__}\nlianhu_up 0\n", status_code=503,
                        media_type=CONTENT_TYPE_LATEST)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_DatabaseCollector(figures))
    return Response(generate_latest(registry) + b"# TYPE lianhu_up gauge\nlianhu_up 1\n",
                    media_type=CONTENT_TYPE_LATEST)
