"""CHIME-shaped works and the client's calls, as plain functions over httpx."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from itertools import count
from typing import Any

import httpx
from pymongo.collection import Collection

from schemas.buckets import LEASE_HEADER
from tests.service.factories import CLIENT_CONFIG

Work = dict[str, Any]

_creation = count()


def new_work(pipeline: str, **fields: Any) -> Work:
    """A work as the CHIME client's `Work(...).payload` sends it at deposit."""
    document: Work = {
        "pipeline": pipeline,
        "site": "local",
        "user": "tester",
        "function": "pkg.mod.func",
        "parameters": {"a": 1},
        "command": None,
        "results": None,
        "products": None,
        "plots": None,
        "tags": None,
        "event": None,
        "id": None,
        # Distinct even for works built in the same instant, as the client's are in practice.
        "creation": time.time() + next(_creation) * 1e-6,
        "start": None,
        "stop": None,
        "attempt": 0,
        "status": "created",
        "timeout": 3600,
        "retries": 2,
        "priority": 3,
        "config": copy.deepcopy(CLIENT_CONFIG),
        "notify": {"slack": {"channel_id": None, "member_ids": None}},
    }
    document.update(fields)
    return document


def deposit(http: httpx.Client, works: list[Work]) -> list[str]:
    """Deposit as the client does (return_ids twice) and return the ids."""
    response = http.post("/buckets/work?return_ids=True", params={"return_ids": True}, json=works)
    assert response.status_code == 200, response.text
    ids: list[str] = response.json()
    return ids


def withdraw(http: httpx.Client, query: dict[str, Any]) -> tuple[Work | None, str | None]:
    """Withdraw one work; return it and its lease token (None, None when empty)."""
    response = http.post("/buckets/work/withdraw", json=query)
    assert response.status_code == 200, response.text
    return response.json(), response.headers.get("x-sluice-lease")


def claim(
    http: httpx.Client, pipeline: str, headers: dict[str, str] | None = None, **fields: Any
) -> tuple[Work, str]:
    """Deposit one work of `pipeline` and withdraw it: the work as withdrawn and its lease."""
    deposit(http, [new_work(pipeline, **fields)])
    response = http.post("/buckets/work/withdraw", json={"pipeline": pipeline}, headers=headers)
    assert response.status_code == 200, response.text
    work, lease = response.json(), response.headers.get(LEASE_HEADER)
    assert work is not None and lease is not None
    return work, lease


def put(http: httpx.Client, *works: Work, lease: str | None = None) -> httpx.Response:
    """PUT /buckets/work with these documents, sending `lease` as the lease header."""
    headers = {LEASE_HEADER: lease} if lease else {}
    return http.put("/buckets/work", json=list(works), headers=headers)


def expire(http: httpx.Client, works: Collection[Work], work_id: str) -> None:
    """End a run as a lapsed lease would: expiry moved to the past, then audited."""
    works.update_one({"id": work_id}, {"$set": {"_lease.expires": time.time() - 1}})
    assert http.get("/buckets/audit/expired").json() >= 1


def view(http: httpx.Client, query: dict[str, Any], **body: Any) -> list[Work]:
    response = http.post("/buckets/view", json={"query": query, **body})
    assert response.status_code == 200, response.text
    found: list[Work] = response.json()
    return found


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, every: float = 0.1) -> Any:
    """Poll until `predicate()` is truthy; return it, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = predicate()
        if outcome:
            return outcome
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)
