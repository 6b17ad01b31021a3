"""Every limit is a setting, and exceeding one is a 4xx that names it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from service.testing import SluiceProcess
from tests.service.factories import work


@pytest.fixture(scope="module")
def small(
    sluice_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    """A Sluice with tiny limits, on the session's database."""
    env = {
        **sluice_env,
        "SLUICE_MAX_BODY_BYTES": "8192",
        "SLUICE_MAX_BATCH": "5",
        "SLUICE_MAX_VIEW_RESULTS": "10",
        "SLUICE_MAX_QUERY_NODES": "40",
    }
    log = tmp_path_factory.mktemp("small") / "sluice.log"
    with SluiceProcess(env, log_path=log) as server, httpx.Client(base_url=server.url) as client:
        yield client


def error_of(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    error: dict[str, object] = response.json()["error"]
    return error


def test_body_size(small: httpx.Client, pipeline: str) -> None:
    big = [work(pipeline, results={"blob": "x" * 9000})]
    error = error_of(small.post("/results/results", json=big), 413)
    assert "SLUICE_MAX_BODY_BYTES" in str(error["message"])
    # Without a Content-Length header too (chunked upload).
    chunks = iter([b"[" + b" " * 5000, b" " * 5000 + b"]"])
    error = error_of(small.post("/results/results", content=chunks), 413)
    assert error["code"] == "payload_too_large"
    assert small.post("/results/view/count", json={"query": {"pipeline": pipeline}}).json() == 0


def test_batch_length(small: httpx.Client, pipeline: str) -> None:
    error = error_of(small.post("/results/results", json=[work(pipeline) for _ in range(6)]), 413)
    assert "SLUICE_MAX_BATCH" in str(error["message"])
    assert (
        small.post("/results/results", json=[work(pipeline) for _ in range(5)]).status_code == 200
    )
    ids = [(pipeline, str(n)) for n in range(6)]
    assert "SLUICE_MAX_BATCH" in str(
        error_of(small.delete("/results/results", params=tuple(ids)), 413)["message"]
    )


def test_view_cap(small: httpx.Client, pipeline: str) -> None:
    for _ in range(3):
        small.post("/results/results", json=[work(pipeline) for _ in range(5)])
    query = {"pipeline": pipeline}
    for limit in (0, None):
        error = error_of(small.post("/results/view", json={"query": query, "limit": limit}), 400)
        assert error["code"] == "too_many_results"
        assert "SLUICE_MAX_VIEW_RESULTS" in str(error["message"])
    error = error_of(small.post("/results/view", json={"query": query, "limit": 11}), 400)
    assert error["code"] == "too_many_results"
    assert len(small.post("/results/view", json={"query": query, "limit": 10}).json()) == 10
    # "All" is fine when all is within the cap.
    remaining = small.post("/results/view", json={"query": query, "skip": 6, "limit": 0})
    assert len(remaining.json()) == 9


def test_query_size(small: httpx.Client, pipeline: str) -> None:
    query = {"pipeline": pipeline, "id": {"$in": [str(n) for n in range(50)]}}
    error = error_of(small.post("/results/view/count", json={"query": query}), 400)
    assert "SLUICE_MAX_QUERY_NODES" in str(error["message"])
