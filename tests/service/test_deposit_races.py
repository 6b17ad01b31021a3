"""Deposits of the same ids racing each other: a deposit inserts without reading first,
and only a duplicate id makes it look; racing copies of one batch all succeed and store
it once, and a racing batch holding a different document for an id gets a 409 and
stores none of its own."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.service.buckets.helpers import new_work
from tests.service.factories import new_id, work

#: Concurrent deposits of one batch.
RACERS = 6


def _race(base_url: str, path: str, bodies: list[list[dict[str, Any]]]) -> list[httpx.Response]:
    def send(body: list[dict[str, Any]]) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            return client.post(path, json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def _refused(answers: list[httpx.Response]) -> str:
    """The answers other than 200, whole (a list would be shortened in the report)."""
    return "\n".join(f"{a.status_code} {a.text}" for a in answers if a.status_code != 200)


def _stored(http: httpx.Client, path: str, query: dict[str, Any]) -> list[dict[str, Any]]:
    answer = http.post(path, json={"query": query})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


def _check(
    base_url: str,
    http: httpx.Client,
    pipeline: str,
    deposit_path: str,
    view_path: str,
    make: Callable[..., dict[str, Any]],
) -> None:
    ids = [new_id() for _ in range(20)]
    batch = [make(pipeline, id=i) for i in ids]
    answers = _race(base_url, deposit_path, [batch] * RACERS)
    assert [a.status_code for a in answers] == [200] * RACERS, _refused(answers)
    stored = _stored(http, view_path, {"pipeline": pipeline})
    assert sorted(d["id"] for d in stored) == sorted(ids)

    # A batch reusing one of those ids for a different document, raced by new batches
    # (whose first attempts find no duplicate): the one refused, the others stored.
    other = [make(pipeline, id=new_id()), make(pipeline, id=ids[0], user="someone-else")]
    fresh = [[make(pipeline, id=new_id())] for _ in range(RACERS - 1)]
    answers = _race(base_url, deposit_path, [other, *fresh])
    assert answers[0].status_code == 409, answers[0].text
    assert [a.status_code for a in answers[1:]] == [200] * (RACERS - 1), _refused(answers[1:])
    stored = _stored(http, view_path, {"pipeline": pipeline})
    assert len(stored) == len(ids) + RACERS - 1
    assert other[0]["id"] not in {d["id"] for d in stored}
    (first,) = [d for d in stored if d["id"] == ids[0]]
    assert first["user"] == batch[0]["user"]


def test_racing_result_deposits(base_url: str, http: httpx.Client, pipeline: str) -> None:
    _check(base_url, http, pipeline, "/results/results", "/results/view", work)


def test_racing_work_deposits(base_url: str, http: httpx.Client, pipeline: str) -> None:
    _check(base_url, http, pipeline, "/buckets/work", "/buckets/view", new_work)
