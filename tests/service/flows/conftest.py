"""Sluices and workers for the flow tests: fast scheduler ticks and reaper, short timers
allowed, loopback allowed for ingestion (the tests' own HTTP server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.testing import SluiceProcess, SluiceStarter
from tests.service.data.conftest import new_source
from tests.workers import Workers

#: Settings of every Sluice of these tests.
FAST = {
    "SLUICE_AERO_SCHEDULER_TICK": "0.2",
    "SLUICE_AERO_MIN_TIMER": "1",
    "SLUICE_REAPER_INTERVAL": "0.3",
    "SLUICE_AERO_INGEST_HOSTS": "127.0.0.1",
    "SLUICE_AERO_INGEST_TIMEOUT": "5",
}


@pytest.fixture(scope="module")
def server(start_module_sluice: SluiceStarter) -> SluiceProcess:
    return start_module_sluice("flows", **FAST)


@pytest.fixture
def client(server: SluiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as each:
        yield each


@pytest.fixture
def workers() -> Iterator[Workers]:
    started = Workers()
    yield started
    started.close()


def worker(workers: Workers, url: str, *pipelines: str) -> None:
    """A `sluice worker` taking flow runs (site `local`), polling fast."""
    first, *rest = pipelines or ("aero-analysis",)
    workers.start(url, first, *rest, "--sleep", "0.1")


__all__ = ["new_source"]


def commit(client: httpx.Client, data_id: str, content: bytes) -> dict[str, Any]:
    answer = client.post(f"/aero/data/{data_id}/versions", content=content)
    assert answer.status_code in (200, 201), answer.text
    version: dict[str, Any] = answer.json()["version"]
    return version


def function(client: httpx.Client, path: str) -> str:
    """The id of function `path`, registered now or before (409 names it)."""
    answer = client.post("/aero/functions", json={"path": path})
    assert answer.status_code in (201, 409), answer.text
    body = answer.json()
    function_id: str = body["id"] if answer.status_code == 201 else body["error"]["details"]["id"]
    return function_id


def register(client: httpx.Client, path: str | None, **body: Any) -> dict[str, Any]:
    """Register a flow of function `path` (None: an ingestion without a transform)."""
    given = {} if path is None else {"function_id": function(client, path)}
    answer = client.post("/aero/flows", json={**given, "site": "local", **body})
    assert answer.status_code == 201, answer.text
    flow: dict[str, Any] = answer.json()
    return flow


def flow(client: httpx.Client, flow_id: str) -> dict[str, Any]:
    answer = client.get(f"/aero/flows/{flow_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def runs(client: httpx.Client, flow_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/aero/flows/{flow_id}/runs", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found[::-1]  # oldest first


def content(client: httpx.Client, data_id: str, version: int) -> bytes:
    answer = client.get(f"/aero/data/{data_id}/versions/{version}/content")
    assert answer.status_code == 200, answer.text
    return answer.content
