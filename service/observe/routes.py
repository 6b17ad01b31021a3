"""`GET /metrics`: Prometheus metrics (see service.observe.metrics)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from service.auth import principal
from service.observe.metrics import CONTENT_TYPE, Gauge
from service.routing import Endpoint
from service.stores import stores


async def _gauges(request: Request) -> list[Gauge]:
    held = stores(request)
    depth = await held.buckets.depth()
    runs = await held.runs.counts()
    tasks = await held.tasks.counts()
    workers = await held.workers.serving()
    return [
        ("sluice_queue_works", "Works in Buckets by pipeline and status",
         ("pipeline", "status"), depth),
        ("sluice_runs", "Workfile runs by state", ("state",), {(k,): v for k, v in runs.items()}),
        ("sluice_tasks", "Extension tasks by state", ("state",),
         {(k,): v for k, v in tasks.items()}),
        ("sluice_workers", "Live workers by pipeline served", ("pipeline",),
         {(k,): v for k, v in workers.items()}),
    ]  # fmt: skip


async def metrics(request: Request) -> Response:
    """Every metric in the Prometheus text format."""
    # Counters and gauges span every pipeline: an operator's view, not a pipeline's.
    principal(request).require_unrestricted("reading the metrics")
    body = await stores(request).metrics.render(lambda: _gauges(request))
    return Response(body, media_type=CONTENT_TYPE)


endpoints = [
    Endpoint("/metrics", ("GET",), metrics, "read", "Prometheus metrics",
             response=None, media_type="text/plain", errors=(503,)),
]  # fmt: skip
