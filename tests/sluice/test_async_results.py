"""Every `AsyncResults` method against the live service."""

from __future__ import annotations

import asyncio

import pytest

from service.testing import free_port
from sluice import AsyncResults, Conflict, NotFound, TransportError
from tests.service.factories import new_id, work


async def test_info_status_and_reads(aresults: AsyncResults, pipeline: str) -> None:
    first, second = work(pipeline, event=[41]), work(pipeline, tags=["x"])
    assert await aresults.deposit([first, second]) == {pipeline: True}
    info = await aresults.info()
    assert info["server"]["version"] and info["client"]["baseurl"].endswith("/results")
    assert (await aresults.status())[pipeline] == 2
    assert await aresults.count(pipeline, {"tags": {"$in": ["x"]}}) == 1
    assert [d["id"] for d in await aresults.view(pipeline, {}, skip=1)] == [second["id"]]
    assert len(await aresults.get_by_count(pipeline, 1)) == 1
    assert [d["id"] for d in await aresults.get_by_event(pipeline, 41)] == [first["id"]]
    assert [d["id"] for d in await aresults.get_by_id(pipeline, [second["id"]])] == [second["id"]]


async def test_update_lock_unlock_delete(aresults: AsyncResults, pipeline: str) -> None:
    sent = work(pipeline)
    await aresults.deposit([sent])
    [stored] = await aresults.get_by_id(pipeline, [sent["id"]])
    stored["tags"] = ["edited"]
    assert await aresults.update([stored]) is True

    assert await aresults.lock(pipeline, [sent["id"]]) is True
    assert await aresults.get_locked_count(pipeline) == 1
    assert [d["id"] for d in await aresults.get_locked(pipeline)] == [sent["id"]]
    with pytest.raises(Conflict):
        await aresults.delete_ids(pipeline, [sent["id"]])
    stored["tags"] = ["edited again"]
    with pytest.raises(Conflict):
        await aresults.update([stored])

    assert await aresults.unlock(pipeline, [sent["id"]], force=True) is True
    assert await aresults.delete_ids(pipeline, [sent["id"]]) is True
    assert await aresults.count(pipeline, {}) == 0
    with pytest.raises(NotFound):
        await aresults.unlock(pipeline, [new_id()])


async def test_concurrent_calls_share_one_client(aresults: AsyncResults, pipeline: str) -> None:
    works = [work(pipeline) for _ in range(4)]
    await aresults.deposit(works)
    found = await asyncio.gather(*(aresults.get_by_id(pipeline, [w["id"]]) for w in works))
    assert [batch[0]["id"] for batch in found] == [w["id"] for w in works]


async def test_unreachable_server_is_a_transport_error() -> None:
    async with AsyncResults(f"http://127.0.0.1:{free_port()}", timeout=2) as client:
        with pytest.raises(TransportError):
            await client.status()
