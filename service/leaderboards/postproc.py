"""Post-processing: one run queued per change of a workflow's default ranking.

The periodic pass looks at templates with a post-processing step whose
`ranking_version` moved since it last looked. It reads their default ranking (best run
per group) and fingerprints the runs in it; a fingerprint unlike the recorded one is a
change. The change is claimed by one conditional update on the recorded (version,
fingerprint): of several Sluice replicas exactly one wins, and only the winner queues
the post-processing run, so there is one per change. A run queued for an older change
that has not started is cancelled ("superseded by a newer ranking"). A claim whose run
was never recorded (the winner died between the two writes) is claimed again after
RECLAIM_AFTER seconds.

The post-processing steps get the ranked runs' files staged at
`runs/<run id>/<output path>`, and `runs/index.json`: `{"runs": [{"id", "group",
"groupName", "results", "files"}]}` in ranking order.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import orjson
from bson import ObjectId
from pymongo import ReturnDocument

from service.db import Document
from service.errors import NotFound
from service.leaderboards.groups import GroupStore
from service.leaderboards.runs import LeaderboardRunStore, RunNotActive
from service.leaderboards.templates import TemplateStore
from service.workfiles.stepfiles import BUCKET, StepFileStore

log = logging.getLogger("sluice.leaderboards")

#: Seconds after which a claimed change without its run is claimed again.
RECLAIM_AFTER = 60.0
SUPERSEDED = "superseded by a newer ranking"


def fingerprint(rows: list[Document]) -> str:
    """What identifies a ranking's set of runs, in order."""
    return hashlib.sha256("\n".join(row["_id"] for row in rows).encode()).hexdigest()


class PostProcessing:
    """The periodic pass queueing post-processing runs."""

    def __init__(
        self,
        templates: TemplateStore,
        runs: LeaderboardRunStore,
        files: StepFileStore,
        groups: GroupStore,
    ) -> None:
        self.templates = templates
        self.runs = runs
        self.files = files
        self.groups = groups

    async def upkeep(self) -> dict[str, int]:
        """Follow leaderboard runs, then queue the post-processing runs due."""
        tallies = await self.runs.reconcile()
        tallies.update(queued=0, superseded=0)
        cursor = self.templates.collection.find({"postproc": {"$ne": None}})
        async for template in cursor:
            state = template["postproc_state"]
            stale = (
                state.get("run") is None
                and state.get("fingerprint") is not None
                and (time.time() - (state.get("claimed_at") or 0) > RECLAIM_AFTER)
            )
            if template["ranking_version"] == state["version"] and not stale:
                continue
            try:
                queued, superseded = await self._consider(template, stale)
            except Exception:
                log.exception("post-processing of %s could not be queued", template["_id"])
                continue
            tallies["queued"] += queued
            tallies["superseded"] += superseded
        return tallies

    async def _consider(self, template: Document, stale: bool) -> tuple[int, int]:
        state = template["postproc_state"]
        version = template["ranking_version"]
        _, rows = await self.runs.ranking(
            template["_id"], None, False, 0, self.runs.settings.leaderboard_max_ranked
        )
        mark = fingerprint(rows)
        changed = mark != state["fingerprint"] or stale
        claim: Document = {"postproc_state.version": version}
        if changed:
            claim.update({"postproc_state.fingerprint": mark, "postproc_state.run": None,
                          "postproc_state.claimed_at": time.time()})  # fmt: skip
        won = await self.templates.collection.find_one_and_update(
            {"_id": template["_id"], "postproc_state.version": state["version"],
             "postproc_state.fingerprint": state["fingerprint"],
             "postproc_state.run": state.get("run")},
            {"$set": claim},
            return_document=ReturnDocument.AFTER,
        )  # fmt: skip
        if won is None or not changed or not rows:
            return 0, 0
        superseded = 0
        previous = await self.runs.latest_postproc(template["_id"], "PENDING")
        if previous is not None:
            try:
                await self.runs.cancel(previous["_id"], SUPERSEDED)
                superseded = 1
            except RunNotActive:
                log.info("post-processing run %s started before it was superseded",
                         previous["_id"])  # fmt: skip
        inputs = await self._inputs(template, rows)
        run = await self.runs.start_postproc(template, inputs)
        await self.templates.collection.update_one(
            {"_id": template["_id"], "postproc_state.fingerprint": mark},
            {"$set": {"postproc_state.run": run["_id"]}},
        )
        log.info("post-processing run %s queued for %s", run["_id"], template["_id"])
        return 1, superseded

    async def _inputs(self, template: Document, rows: list[Document]) -> list[Document]:
        names: dict[str, Any] = {}
        for group_id in {row["group_id"] for row in rows}:
            try:
                names[group_id] = (await self.groups.get(group_id))["name"]
            except NotFound:
                names[group_id] = None  # deleted since: its runs keep their place
        inputs: list[Document] = []
        index = []
        for row in rows:
            for entry in row["files"]:
                inputs.append({"path": f"runs/{row['_id']}/{entry['name']}", "bucket": BUCKET,
                               "ref": ObjectId(entry["id"]), "size": entry["size"]})  # fmt: skip
            index.append({"id": row["_id"], "group": row["group_id"],
                          "groupName": names.get(row["group_id"]), "results": row["results"],
                          "files": [entry["name"] for entry in row["files"]]})  # fmt: skip
        content = orjson.dumps({"workflow": template["_id"], "runs": index})
        meta = {"workflow": template["_id"], "kind": "postproc-index"}
        inputs.insert(0, await self.files.put("runs/index.json", content, meta))
        return inputs
