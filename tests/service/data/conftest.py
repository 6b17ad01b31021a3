"""A Sluice for the AERO data tests (auth off; loopback allowed for ingestion, which is
how these tests let it fetch from their own HTTP server)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from service.testing import SluiceProcess, SluiceStarter


@pytest.fixture(scope="module")
def server(start_module_sluice: SluiceStarter) -> SluiceProcess:
    return start_module_sluice(
        "aero-data",
        SLUICE_AERO_INGEST_HOSTS="127.0.0.1",
        SLUICE_AERO_INGEST_MAX_BYTES="100000",
        SLUICE_AERO_INGEST_TIMEOUT="5",
    )


@pytest.fixture
def client(server: SluiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as each:
        yield each


def new_source(client: httpx.Client, name: str = "cases", **fields: object) -> str:
    """The id of a new data source."""
    answer = client.post("/aero/data", json={"name": name, **fields})
    assert answer.status_code == 201, answer.text
    data_id: str = answer.json()["id"]
    return data_id


def commit(client: httpx.Client, data_id: str, content: bytes) -> httpx.Response:
    return client.post(f"/aero/data/{data_id}/versions", content=content)
