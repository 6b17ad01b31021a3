"""The sweep of AERO blobs against a commit reusing the same bytes (in-process, on the
real database): a reuse between the sweep's read and its delete keeps the blob, and so
do an upload that ended within the grace and a blob an unfinished flow run stages."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from service.app import open_stores
from service.data.blobs import BlobStore
from service.db import Document
from service.gridstream import CHUNK_SIZE
from service.observe.metrics import Metrics
from service.settings import Settings
from service.stores import Stores

CONTENT = b"bytes a crashed commit left"


async def old_blob(blobs: BlobStore, ended: datetime | None = None) -> ObjectId:
    """Bytes whose upload started an hour ago (and ended then, or at `ended`) whose
    version was never written."""
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    file_id = ObjectId.from_datetime(long_ago)
    sha256 = hashlib.sha256(CONTENT).hexdigest()
    md5 = hashlib.md5(CONTENT, usedforsecurity=False).hexdigest()
    await blobs.chunks.insert_one({"files_id": file_id, "n": 0, "data": CONTENT})
    await blobs.meta.insert_one({"_id": file_id, "length": len(CONTENT), "chunkSize": CHUNK_SIZE,
                                 "uploadDate": ended or long_ago, "filename": sha256,
                                 "metadata": {"sha256": sha256, "md5": md5}})  # fmt: skip
    return file_id


@pytest.fixture
async def opened(sluice_env: dict[str, str]) -> AsyncIterator[Stores]:
    env = {**sluice_env, "SLUICE_DB_NAME": f"sluice_blobs_{uuid.uuid4().hex[:8]}"}
    opened = await open_stores(Settings.from_env(env), Metrics(60))
    yield opened
    await opened.database.close()


async def nothing(blob_ids: list[str]) -> set[str]:
    return set()


async def test_a_blob_reused_during_the_sweep_is_kept_until_unused_for_the_grace(
    opened: Stores,
) -> None:
    data, blobs = opened.data, opened.data.blobs
    file_id = await old_blob(blobs)

    async def reused_meanwhile(blob_ids: list[str]) -> set[str]:
        # A commit of the same bytes finds them after the sweep read the blob.
        assert (await blobs.put(CONTENT, 1000, data.too_large)).blob_id == str(file_id)
        return set()

    assert await blobs.sweep(0.5, 10, reused_meanwhile) == 0
    assert await blobs.sweep(0.5, 10, nothing) == 0  # reused within the grace
    await asyncio.sleep(0.6)
    assert await blobs.sweep(0.5, 10, nothing) == 1
    assert await blobs.find(hashlib.sha256(CONTENT).hexdigest()) is None
    assert await blobs.chunks.count_documents({"files_id": file_id}) == 0


async def test_a_blob_whose_upload_ended_within_the_grace_is_kept(opened: Stores) -> None:
    # A long upload: started an hour ago, stored just now, its version not written yet.
    blobs = opened.data.blobs
    file_id = await old_blob(blobs, ended=datetime.now(UTC))
    assert await blobs.sweep(0.5, 10, nothing) == 0
    await asyncio.sleep(0.6)
    assert await blobs.sweep(0.5, 10, nothing) == 1
    assert await blobs.meta.count_documents({"_id": file_id}) == 0


async def _plan(runs: AsyncCollection[Document], limit: int) -> Document:
    """The server's plan of `Commits.staging`'s read of unfinished runs."""
    command = {"find": runs.name, "filter": {"status": {"$in": ["queued", "running"]}},
               "projection": {"staged": True}, "limit": limit}  # fmt: skip
    explained: Document = await runs.database.command("explain", command, verbosity="queryPlanner")
    plan: Document = explained["queryPlanner"]["winningPlan"]
    return plan


def _stages(plan: Document) -> list[str]:
    """Each stage of `plan` from the top down, an index scan with its index's name."""
    stage = plan["stage"] + (f" {plan['indexName']}" if plan["stage"] == "IXSCAN" else "")
    inner = plan.get("inputStage")
    return [stage, *(_stages(inner) if isinstance(inner, dict) else [])]


async def test_a_staged_blob_is_held_and_past_the_bound_every_blob_is(
    sluice_env: dict[str, str],
) -> None:
    env = {**sluice_env, "SLUICE_DB_NAME": f"sluice_staged_{uuid.uuid4().hex[:8]}",
           "SLUICE_AERO_MAX_DEPENDANTS": "2"}  # fmt: skip
    opened = await open_stores(Settings.from_env(env), Metrics(60))
    try:
        commits = opened.flows.commits
        await commits.runs.insert_many(
            [{"_id": "r1", "status": "running", "staged": {"out": "b1"}},
             {"_id": "r2", "status": "queued"},
             {"_id": "r3", "status": "committed", "staged": {"out": "b3"}}]
        )  # fmt: skip
        assert await commits.staging(["b1", "b2", "b3"]) == {"b1"}
        stages = _stages(await _plan(commits.runs, 3))
        assert "IXSCAN status" in stages and "COLLSCAN" not in stages, stages
        # A third unfinished run: more than the sweep reads, so it keeps every blob.
        await commits.runs.insert_one({"_id": "r4", "status": "queued"})
        assert await commits.staging(["b1", "b2", "b3"]) == {"b1", "b2", "b3"}
    finally:
        await opened.database.close()
