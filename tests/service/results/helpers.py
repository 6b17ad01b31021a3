"""Calls of the Results HTTP API shared by its tests."""

from __future__ import annotations

from typing import Any

import httpx


def deposit(http: httpx.Client, documents: list[dict[str, Any]]) -> httpx.Response:
    return http.post("/results/results", json=documents)


def view(http: httpx.Client, query: dict[str, Any], **page: Any) -> list[dict[str, Any]]:
    response = http.post("/results/view", json={"query": query, **page})
    assert response.status_code == 200, response.text
    documents: list[dict[str, Any]] = response.json()
    return documents


def count(http: httpx.Client, pipeline: str, **query: Any) -> int:
    response = http.post("/results/view/count", json={"query": {"pipeline": pipeline, **query}})
    assert response.status_code == 200, response.text
    value: int = response.json()
    return value


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error
