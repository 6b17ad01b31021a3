"""Prometheus metrics of one Sluice process, and gauges read from the database.

Counters and histograms (requests, claims, background actions, database errors) count
what this process did: with several Sluice processes, scrape each one (Prometheus'
`instance` label tells them apart) and `sum()` them. Gauges (queue depth, runs, tasks,
live workers) are read from MongoDB, so every process answers the same values; they
are re-read at most every SLUICE_METRICS_MAX_AGE seconds per process, so frequent
scrapes cost the database one read per interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: Media type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: A gauge read from the database: name, help, label names, and its values by labels.
Gauge = tuple[str, str, tuple[str, ...], Mapping[tuple[str, ...], int]]
GaugeSource = Callable[[], Awaitable[list[Gauge]]]


class _Snapshot(Collector):
    """The gauges as last read, exposed at the next scrape."""

    def __init__(self) -> None:
        self.gauges: list[Gauge] = []

    def collect(self) -> Iterator[Metric]:
        for name, documentation, labels, values in self.gauges:
            family = GaugeMetricFamily(name, documentation, labels=list(labels))
            for label_values, value in sorted(values.items()):
                family.add_metric(list(label_values), value)
            yield family


class Metrics:
    """Every metric of one Sluice process (one registry per app, never the global one)."""

    def __init__(self, max_age: float) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "sluice_http_requests", "HTTP requests answered by this process",
            ["method", "route", "status"], registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "sluice_http_request_duration_seconds", "Time to answer a request",
            ["method", "route"], registry=registry,
        )  # fmt: skip
        self.claims = Counter(
            "sluice_claims", "Works claimed by withdraw", ["pipeline"], registry=registry
        )
        self.idle_withdraws = Counter(
            "sluice_withdraws_empty", "Withdraws that found no work", registry=registry
        )
        self.actions = Counter(
            "sluice_background_actions",
            "Changes made by background loops: reaper requeued/failed (lease expiries), "
            "mover archived/deleted, retrier retried, runs and experiments upkeep",
            ["loop", "action"], registry=registry,
        )  # fmt: skip
        self.loop_failures = Counter(
            "sluice_background_failures", "Background passes that failed", ["loop"],
            registry=registry,
        )  # fmt: skip
        self.database_errors = Counter(
            "sluice_database_errors",
            "Database failures: requests answered 503, background passes that failed on it",
            ["source"], registry=registry,
        )  # fmt: skip
        self._snapshot = _Snapshot()
        registry.register(self._snapshot)
        self._max_age = max_age
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    def tallies(self, loop: str, outcome: Mapping[str, int]) -> None:
        """Count a background pass's tallies (`{"requeued": 2, ...}`)."""
        for action, count in outcome.items():
            if count:
                self.actions.labels(loop, action).inc(count)

    async def render(self, source: GaugeSource) -> bytes:
        """The exposition text, gauges re-read through `source` if older than max age."""
        async with self._lock:
            now = time.monotonic()
            if self._read_at is None or now - self._read_at >= self._max_age:
                self._snapshot.gauges = await source()
                self._read_at = now
        return generate_latest(self.registry)
