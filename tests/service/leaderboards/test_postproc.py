"""Post-processing is queued once per change of the default ranking, by one of several
passes racing on the same database, and a newer change supersedes a queued older run
(the stores of a real Sluice on the real test database; no worker runs the steps)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
import yaml

from service.app import open_stores
from service.leaderboards import ranking
from service.leaderboards.postproc import SUPERSEDED, PostProcessing
from service.leaderboards.runs import COLLECTION
from service.observe.metrics import Metrics
from service.settings import Settings
from service.stores import Stores
from tests.service.leaderboards.helpers import hello_template


def ranked_run(template: dict[str, Any], group: str, avg: float) -> dict[str, Any]:
    results = {"avg_count": avg, "max_len": 10.0}
    return {
        "_id": uuid.uuid4().hex, "workflow_id": template["_id"], "group_id": group,
        "postproc": False, "user": "test", "state": "SUCCESS", "created_at": time.time(),
        "started_at": time.time(), "finished_at": time.time(), "arguments": [],
        "messages": [], "process_id": None, "files": [], "results": results, "ranked": True,
        "rank": ranking.stored_keys(template["results"], results),
    }  # fmt: skip


async def scenario(env: dict[str, str], pipeline: str) -> None:
    opened: Stores = await open_stores(Settings.from_env(env), Metrics(60))
    try:
        content = yaml.safe_dump(hello_template(pipeline)).encode()
        template = await opened.templates.install(content, "t.yaml", "test")
        passes = [
            PostProcessing(opened.templates, opened.leaderboard_runs, opened.step_files,
                           opened.groups)
            for _ in range(3)
        ]  # fmt: skip
        runs = opened.database.db[COLLECTION]
        postprocs = {"workflow_id": template["_id"], "postproc": True}

        async def change(avg: float, group: str) -> None:
            await runs.insert_one(ranked_run(template, group, avg))
            await opened.templates.ranking_changed(template["_id"])
            await asyncio.gather(*(one.upkeep() for one in passes))

        await change(5.0, "g1")
        assert await runs.count_documents(postprocs) == 1
        first = await opened.leaderboard_runs.latest_postproc(template["_id"])
        assert first is not None and first["state"] == "PENDING"
        # Nothing changed: the passes queue nothing more.
        await asyncio.gather(*(one.upkeep() for one in passes))
        assert await runs.count_documents(postprocs) == 1
        # A worse run of the same group leaves the default ranking as it was.
        await change(1.0, "g1")
        assert await runs.count_documents(postprocs) == 1
        # A better one changes it: one new run, the queued older one superseded.
        await change(9.0, "g2")
        assert await runs.count_documents(postprocs) == 2
        older = await opened.leaderboard_runs.get(first["_id"])
        assert older["state"] == "CANCELED" and older["messages"] == [SUPERSEDED]
        latest = await opened.leaderboard_runs.latest_postproc(template["_id"])
        assert latest is not None and latest["_id"] != first["_id"]
        assert latest["state"] == "PENDING"
        process = await opened.runs.get(latest["process_id"])
        staged = [item["path"] for item in process["inputs"]]
        assert staged == ["runs/index.json"]  # the seeded runs have no files
    finally:
        await opened.database.close()


def test_one_postprocessing_run_per_change_and_newer_supersede(
    sluice_env: dict[str, str], pipeline: str
) -> None:
    env = {**sluice_env, "SLUICE_DB_NAME": f"lb_postproc_{uuid.uuid4().hex[:8]}"}
    asyncio.run(scenario(env, pipeline))


@pytest.fixture
def pipeline() -> str:
    return f"pp-{uuid.uuid4().hex[:8]}"
