"""`POST /buckets/work/reports`: finished works reported together, each with its lease,
each judged as `PUT /buckets/work` with that lease judges it, answered one by one, also
when a work changes between the batch's read and its write."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import httpx
import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.collection import Collection

from schemas.buckets import BIND_HEADER
from service.buckets.store import BucketsStore
from service.db import Document
from service.errors import Conflict
from tests.service.buckets.helpers import Work, claim, deposit, new_work, put, view


def reports(http: httpx.Client, *pairs: tuple[Work, str]) -> httpx.Response:
    body = {"reports": [{"work": work, "lease": lease} for work, lease in pairs]}
    return http.post("/buckets/work/reports", json=body)


def test_every_held_report_is_recorded(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    claimed = [claim(http, pipeline, headers={BIND_HEADER: "1"}) for _ in range(3)]
    done = [({**w, "status": "success", "results": {"n": i}}, lease)
            for i, (w, lease) in enumerate(claimed)]  # fmt: skip
    failed = ({**done[2][0], "status": "failure"}, done[2][1])
    response = reports(http, done[0], done[1], failed)
    assert response.status_code == 200, response.text
    assert response.json() == [{"id": w["id"], "recorded": True, "error": None} for w, _ in claimed]
    for work, _ in (done[0], done[1], failed):
        stored = works.find_one({"id": work["id"]})
        assert stored is not None and stored["status"] == work["status"]
        assert stored["results"] == work["results"] and "_lease" not in stored
        assert stored["_bound"] is True, "server fields are carried as PUT carries them"
    # A blind retry of the same reports is accepted, as PUT accepts it.
    again = reports(http, done[0], done[1], failed).json()
    assert [a["recorded"] for a in again] == [True, True, True]


def test_a_lost_lease_fails_only_its_own_report(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    good, good_lease = claim(http, pipeline)
    stale, stale_lease = claim(http, pipeline)
    other, other_lease = claim(http, pipeline)
    # The stale run gave its work back; another run holds it now.
    assert http.post("/buckets/work/release", json={"id": stale["id"], "lease": stale_lease})
    rerun = http.post("/buckets/work/withdraw", json={"pipeline": pipeline}).json()
    assert rerun["id"] == stale["id"]
    response = reports(
        http,
        ({**good, "status": "success"}, good_lease),
        ({**stale, "status": "success"}, stale_lease),
        ({**other, "status": "failure"}, other_lease),
        ({**new_work(pipeline), "id": "never-deposited", "status": "success"}, "x"),
    )
    assert response.status_code == 200, response.text
    first, lost, third, unknown = response.json()
    assert first == {"id": good["id"], "recorded": True, "error": None}
    assert third == {"id": other["id"], "recorded": True, "error": None}
    assert lost["recorded"] is False and lost["error"]["code"] == "conflict"
    assert lost["error"]["details"] == {"id": stale["id"]}
    assert unknown["recorded"] is False and unknown["error"]["code"] == "not_found"
    stored = works.find_one({"id": stale["id"]})
    assert stored is not None and stored["status"] == "running"
    assert stored["_lease"]["token"] != stale_lease, "the current run keeps its lease"
    assert [w["status"] for w in view(http, {"id": good["id"]})] == ["success"]
    # The same refusal the single PUT answers for that report alone.
    assert put(http, {**stale, "status": "success"}, lease=stale_lease).status_code == 409


def test_bad_reports_change_nothing(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    work, lease = claim(http, pipeline)
    done = {**work, "status": "success"}
    bodies: list[Any] = [
        {"reports": []},
        {"reports": [{"work": done}]},
        {"reports": [{"work": done, "lease": lease, "extra": 1}]},
        [{"work": done, "lease": lease}],
        # One invalid work among good ones: none is recorded.
        {"reports": [{"work": done, "lease": lease},
                     {"work": {**done, "id": "x", "priority": 9}, "lease": lease}]},
        {"reports": [{"work": {**done, "id": None}, "lease": lease}]},
        {"reports": [{"work": done, "lease": lease}, {"work": done, "lease": lease}]},
    ]  # fmt: skip
    for body in bodies:
        response = http.post("/buckets/work/reports", json=body)
        assert response.status_code == 422, (body, response.text)
        assert "error" in response.json()
    many = {"reports": [{"work": done, "lease": lease}] * 10**4}
    response = http.post("/buckets/work/reports", json=many)
    assert response.status_code == 413 and "SLUICE_MAX_BATCH" in response.text
    stored = works.find_one({"id": work["id"]})
    assert stored is not None and stored["status"] == "running"
    assert stored["_lease"]["token"] == lease


def test_a_report_back_to_queued_is_claimable_again(http: httpx.Client, pipeline: str) -> None:
    work, lease = claim(http, pipeline)
    deposit(http, [new_work(pipeline, priority=1)])
    requeued = {**work, "status": "queued", "priority": 5}
    assert reports(http, (requeued, lease)).json()[0]["recorded"] is True
    again = http.post("/buckets/work/withdraw", json={"pipeline": pipeline}).json()
    assert again["id"] == work["id"]


class Raced:
    """The Buckets collection, where `meanwhile` changes stored works once: after the
    batch's read of them and before its bulk write."""

    def __init__(
        self, real: AsyncCollection[Document], meanwhile: Callable[[], Awaitable[object]]
    ) -> None:
        self.real = real
        self.meanwhile: Callable[[], Awaitable[object]] | None = meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def bulk_write(self, requests: Any, **options: Any) -> Any:
        change, self.meanwhile = self.meanwhile, None
        if change is not None:
            await change()
        return await self.real.bulk_write(requests, **options)


async def _race(store: BucketsStore, meanwhile: Callable[[], Awaitable[object]]) -> None:
    store.collection = cast("AsyncCollection[Document]", Raced(store.collection, meanwhile))


async def _claim_three(store: BucketsStore, pipeline: str) -> list[tuple[Document, str]]:
    await store.deposit([new_work(pipeline, priority=p) for p in (3, 2, 1)])
    claimed = await store.claim({"pipeline": pipeline}, None, True, 3)
    assert len(claimed) == 3
    return claimed


async def test_a_lease_taken_between_read_and_write_fails_only_that_report(
    store: BucketsStore, pipeline: str
) -> None:
    (first, first_lease), (taken, taken_lease), (third, third_lease) = await _claim_three(
        store, pipeline
    )
    rerun: list[str] = []

    async def claim_again() -> None:
        # The run gives its work back and another run claims it: a new attempt, a new lease.
        await store.release(taken["id"], taken_lease)
        again = await store.claim({"pipeline": pipeline}, None, True)
        rerun.append(again[0][1])

    await _race(store, claim_again)
    outcomes = await store.report_many(
        [{**first, "status": "success"}, {**taken, "status": "success"},
         {**third, "status": "failure"}],
        [first_lease, taken_lease, third_lease],
    )  # fmt: skip
    assert outcomes[0] is None and outcomes[2] is None
    refused = outcomes[1]
    assert isinstance(refused, Conflict) and refused.details == {"id": taken["id"]}
    stored = {w["id"]: w async for w in store.collection.find({"pipeline": pipeline})}
    assert stored[first["id"]]["status"] == "success"
    assert stored[third["id"]]["status"] == "failure"
    assert stored[taken["id"]]["status"] == "running"
    assert stored[taken["id"]]["_lease"]["token"] == rerun[0], "the new run keeps its lease"
    with pytest.raises(Conflict):  # what PUT answers for that report alone
        await store.update([{**taken, "status": "success"}], taken_lease)


async def test_a_work_changed_but_still_held_is_judged_again_and_recorded(
    store: BucketsStore, pipeline: str
) -> None:
    claimed = await _claim_three(store, pipeline)
    (cancelled, _), *_ = claimed
    # A cancel marks the run to stop (a field the write's condition checks); its lease
    # holds, so the report is judged again and recorded, as PUT would record it.
    await _race(store, lambda: store.cancel([cancelled["id"]]))
    outcomes = await store.report_many(
        [{**work, "status": "success"} for work, _ in claimed], [lease for _, lease in claimed]
    )
    assert outcomes == [None, None, None]
    async for stored in store.collection.find({"pipeline": pipeline}):
        assert stored["status"] == "success" and "_lease" not in stored
