"""Deposit: ids, idempotency, validation, and the stored shape of a work."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pymongo.collection import Collection

from schemas.work import WORK_FIELDS
from tests.service.buckets.helpers import deposit, new_work, view


def test_version_answers_head_and_get(http: httpx.Client) -> None:
    assert http.head("/buckets/version").status_code == 200
    response = http.get("/buckets/version")
    assert response.status_code == 200
    assert isinstance(response.json(), dict) and "version" in response.json()


def test_deposit_returns_ids_in_input_order(http: httpx.Client, pipeline: str) -> None:
    works = [new_work(pipeline, id=f"w-{n}") for n in (3, 1, 2)]
    works += [new_work(pipeline, priority=p) for p in (1, 5)]
    ids = deposit(http, works)
    assert ids[:3] == ["w-3", "w-1", "w-2"]
    assert len(ids) == 5 and len(set(ids)) == 5
    stored = {w["id"]: w for w in view(http, {"pipeline": pipeline}, limit=0)}
    assert set(stored) == set(ids)
    assert [stored[i]["priority"] for i in ids[3:]] == [1, 5]
    assert all(w["status"] == "queued" for w in stored.values())


def test_deposit_without_return_ids_answers_true(http: httpx.Client, pipeline: str) -> None:
    for query in ("?return_ids=False&return_ids=False", ""):
        response = http.post(f"/buckets/work{query}", json=[new_work(pipeline)])
        assert response.status_code == 200
        assert response.json() is True
    assert len(view(http, {"pipeline": pipeline})) == 2


def test_stored_work_keeps_wire_order_and_notify(http: httpx.Client, pipeline: str) -> None:
    notify = {"slack": {"channel_id": "C01", "member_ids": ["U1"], "message": "hi"}}
    (work_id,) = deposit(http, [new_work(pipeline, notify=notify, tags=["x"])])
    (stored,) = view(http, {"id": work_id}, projection={"_id": False})
    assert tuple(stored) == WORK_FIELDS
    assert stored["notify"] == notify
    assert isinstance(stored["id"], str)


def test_redeposit_with_same_id_queues_once(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    work = new_work(pipeline, id="same-id")
    assert deposit(http, [work]) == ["same-id"]
    # Changed meanwhile (withdrawn): a second deposit must not reset it.
    works.update_one({"id": "same-id"}, {"$set": {"status": "running", "attempt": 1}})
    assert deposit(http, [work, new_work(pipeline, id="other")]) == ["same-id", "other"]
    assert works.count_documents({"pipeline": pipeline}) == 2
    assert works.find_one({"id": "same-id"}, {"status": True})["status"] == "running"  # type: ignore[index]


def test_blind_retry_without_ids_maps_to_same_ids(http: httpx.Client, pipeline: str) -> None:
    work = new_work(pipeline)
    batch = [work, dict(work), new_work(pipeline)]
    first = deposit(http, batch)
    retried = deposit(http, batch)
    assert first == retried
    # Two identical copies in one request are two works.
    assert len(set(first)) == 3
    assert len(view(http, {"pipeline": pipeline}, limit=0)) == 3


def test_ids_derived_from_content_differ_by_creation(http: httpx.Client, pipeline: str) -> None:
    one, two = new_work(pipeline), new_work(pipeline)
    assert one["creation"] != two["creation"]
    assert len(set(deposit(http, [one]) + deposit(http, [two]))) == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "paused"},
        {"priority": 0},
        {"priority": 9},
        {"retries": 6},
        {"timeout": 0},
        {"site": None},
        {"pipeline": "has space"},
        {"notify": {"slack": {"channel_id": "C", "colour": "red"}}},
        {"function": "a.b", "command": ["ls"]},
    ],
)
def test_bad_work_queues_nothing(http: httpx.Client, pipeline: str, fields: dict[str, Any]) -> None:
    batch = [new_work(pipeline), {**new_work(pipeline), **fields}]
    response = http.post("/buckets/work?return_ids=True", json=batch)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    assert view(http, {"pipeline": pipeline}) == []


def test_bad_batches_are_refused(http: httpx.Client, pipeline: str) -> None:
    oversized = [new_work(pipeline)] * 1001
    assert http.post("/buckets/work", json=oversized).status_code == 413
    repeated = [new_work(pipeline, id="dup"), new_work(pipeline, id="dup")]
    assert http.post("/buckets/work", json=repeated).status_code == 409
    assert http.post("/buckets/work", json={"pipeline": pipeline}).status_code == 422
    assert http.post("/buckets/work", content=b"[{").status_code == 400
    assert view(http, {"pipeline": pipeline}) == []
