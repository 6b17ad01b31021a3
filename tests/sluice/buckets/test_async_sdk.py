"""`AsyncBuckets` against the live service: the same plans, sent with asyncio."""

from __future__ import annotations

import asyncio
import time

import pytest

from sluice import AsyncBuckets, Conflict
from tests.sluice.buckets.conftest import job


async def test_a_work_through_its_life(abuckets: AsyncBuckets, pipeline: str) -> None:
    info = await abuckets.info()
    assert info["client"]["baseurl"].endswith("/buckets")
    ids = await abuckets.deposit([job(pipeline, "noop", priority=p) for p in (1, 4)], True)
    assert await abuckets.deposit([job(pipeline, "noop")]) is True
    claimed = await abuckets.withdraw(pipeline, site="local")
    assert claimed is not None and claimed.work["id"] == ids[1]
    beat = await abuckets.heartbeat(ids[1], claimed.lease)
    assert not beat.stop
    report = {**claimed.work, "status": "failure", "stop": time.time()}
    assert await abuckets.update([report], lease=claimed.lease)
    with pytest.raises(Conflict):
        await abuckets.release(ids[1], claimed.lease)
    assert await abuckets.details(pipeline) == {
        "total": 3, "queued": 2, "running": 0, "success": 0, "failure": 1,
    }  # fmt: skip
    [stored] = await abuckets.view({"id": ids[1]}, {"status": True})
    assert stored == {"status": "failure", "id": ids[1]}
    assert pipeline in await abuckets.pipelines()
    assert (await abuckets.status())["failure"] >= 1
    assert set(await abuckets.audit()) == {"failed", "expired", "stale"}


async def test_concurrent_withdrawers_never_share_a_work(
    abuckets: AsyncBuckets, pipeline: str
) -> None:
    ids = await abuckets.deposit([job(pipeline, "noop") for _ in range(12)], True)
    claims = await asyncio.gather(*(abuckets.withdraw(pipeline) for _ in range(16)))
    taken = [c.work["id"] for c in claims if c is not None]
    assert sorted(taken) == sorted(ids)
    released = claims[0]
    assert released is not None
    await abuckets.release(released.work["id"], released.lease)
    progress: list[int] = []
    deleted = await abuckets.delete_many(pipeline, progress=lambda done, _: progress.append(done))
    assert deleted == 12 and progress == [12]
    assert await abuckets.matching_ids({"pipeline": pipeline}) == []
    assert await abuckets.delete_ids([]) is True


async def test_works_claimed_and_renewed_together(abuckets: AsyncBuckets, pipeline: str) -> None:
    ids = await abuckets.deposit([job(pipeline, "noop", priority=p) for p in (2, 5, 3)], True)
    claimed = await abuckets.withdraw_many(pipeline, 2, site="local")
    assert [c.work["id"] for c in claimed] == [ids[1], ids[2]]
    assert await abuckets.withdraw_many(pipeline, 5, site="elsewhere") == []
    done = {**claimed[0].work, "status": "success", "stop": time.time()}
    assert await abuckets.update([done], lease=claimed[0].lease)
    first, second = await abuckets.heartbeats([(c.work["id"], c.lease) for c in claimed])
    assert first is None, "a finished work's lease is no longer held"
    assert second is not None and second.id == ids[2] and not second.stop
    assert await abuckets.heartbeats([]) == []


async def test_finished_works_reported_together(abuckets: AsyncBuckets, pipeline: str) -> None:
    await abuckets.deposit([job(pipeline, "noop") for _ in range(3)])
    claimed = await abuckets.withdraw_many(pipeline, 3, site="local")
    gone = claimed[2]
    await abuckets.release(gone.work["id"], gone.lease)
    answers = await abuckets.report_many(
        [({**c.work, "status": "success", "stop": time.time()}, c.lease) for c in claimed]
    )
    assert [a.id for a in answers] == [c.work["id"] for c in claimed]
    assert [a.recorded for a in answers] == [True, True, False]
    assert answers[2].error is not None and answers[2].error.code == "conflict"
    assert (await abuckets.details(pipeline))["success"] == 2
    assert await abuckets.report_many([]) == []
