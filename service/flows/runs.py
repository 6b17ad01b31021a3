"""Flow runs: when a flow fires, how a run is enqueued as a work, and how it ends.

Enqueueing (safe with several Sluice processes): the run's id is derived from what fired
it (the flow, the timer slot or the input versions, and the flow's previous run), so a
trigger retried or seen by several processes inserts one run document; the flow then
takes it as its `pending_run_id` with one conditional update (only when none is
pending), and the work is deposited with the run's id (a repeated deposit queues
nothing). A trigger that finds a run in flight marks the flow `dirty` instead: one
coalesced follow-up once the run ends. Timer slots are claimed by moving
`next_run_at` forward conditionally: each slot is claimed once, missed slots are
skipped, and a slot that finds a run in flight is skipped too, so runs never overlap.

The flow's `consumed` versions are written at enqueue (the run keeps the ones before);
a failed run restores them, so a new version of an input fires the flow again; the very
inputs it failed on are not retried on their own (`failed_inputs`), only by hand.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from schemas.flows import POLICIES
from service.auth.principal import Principal
from service.buckets.store import BucketsStore
from service.canonical import fingerprint
from service.db import Database, Document
from service.errors import BadRequest, NotFound
from service.flows.store import GATED, SCHEDULED, FlowStore, kind_of
from service.flows.tasks import parts, provenance_ids, recorded, settled, work_ids
from service.results.store import ResultsStore

log = logging.getLogger("sluice.flows")

COLLECTION = "aero_runs"
INDEXES = [
    IndexModel([("status", ASCENDING)], name="status"),
    IndexModel([("flow_id", ASCENDING), ("created_at", DESCENDING)], name="flow"),
    IndexModel([("parent", ASCENDING)], name="parent"),
]
#: The worker-side jobs (sluice.flowjob) of each kind of run.
JOBS = {"ingest": "sluice.flowjob.ingest", "analysis": "sluice.flowjob.run_task"}
ACTIVE = ("queued", "running")
#: Seconds after which a run neither queued nor pending is an enqueue that died midway
#: (an enqueue takes milliseconds): deleted, so its trigger may enqueue it again.
ORPHAN_AGE = 60.0


class RunNotFound(NotFound):
    code = "run_not_found"


def run_not_found(run_id: str) -> RunNotFound:
    return RunNotFound(f"no flow run with id {run_id!r}", {"run_id": run_id})


def run_info(run: Document) -> Document:
    """The JSON of a stored run."""
    return {
        "id": run["_id"],
        "flow_id": run["flow_id"],
        "kind": run["kind"],
        "trigger": run["trigger"],
        "notice": run.get("notice"),
        "force": run.get("force", False),
        "work_ids": work_ids(run),
        "parent": run.get("parent"),
        "task": run.get("task"),
        "status": run["status"],
        "inputs": run["inputs"],
        "outputs": run["outputs"],
        "committed": run["committed"],
        "provenance_id": run["provenance_id"],
        "provenance_ids": provenance_ids(run),
        "function_path": run["function_path"],
        "function_version": run["function_version"],
        "error": run["error"],
        "created_at": run["created_at"],
        "started_at": run["started_at"],
        "ended_at": run["ended_at"],
    }


def input_key(given: dict[str, Document]) -> list[list[object]]:
    """The input versions of a run, as `[[data_id, version], ...]` sorted."""
    return [[v["data_id"], v["version"]] for v in sorted(
        given.values(), key=lambda v: (v["data_id"], v["version"]))]  # fmt: skip


class Triggers:
    """Fire flows: gates, timer slots, manual runs; and end runs (`finish`)."""

    def __init__(
        self, database: Database, flows: FlowStore, buckets: BucketsStore, results: ResultsStore
    ) -> None:
        self.collection: AsyncCollection[Document] = database.db[COLLECTION]
        self.flows = flows
        self.buckets = buckets
        self.results = results

    async def create_indexes(self) -> None:
        await self.collection.create_indexes(INDEXES)

    async def get(self, run_id: str, caller: Principal | None = None) -> Document:
        """The stored run; RunNotFound, 403 outside `caller`'s pipelines."""
        run = await self.collection.find_one({"_id": run_id})
        if run is None:
            raise run_not_found(run_id)
        if caller is not None:
            caller.check_pipelines([run["pipeline"]])
        return run

    async def of_flow(self, flow_id: str, limit: int) -> list[Document]:
        """The flow's latest `limit` runs, newest first (the parts of a run with tasks
        are not listed: see `work_ids`)."""
        cursor = self.collection.find(
            {"flow_id": flow_id, "parent": None},
            sort=[("created_at", DESCENDING), ("_id", DESCENDING)], limit=limit,
        )  # fmt: skip
        return await cursor.to_list()

    async def snapshot(self, flow: Document) -> tuple[dict[str, Document], list[str]]:
        """The versions a run of `flow` would be given now (input name -> version), and
        the sources still lacking the version they need (`waiting_for`)."""
        given: dict[str, Document] = {}
        waiting: list[str] = []
        for name, wanted in flow["inputs"].items():
            data_id = wanted["data_id"]
            version: Document | None
            try:
                if wanted["version"] is None:
                    source = await self.flows.sources.get(data_id)
                    latest = source.get("latest")
                    version = None if latest is None else {
                        "version": latest["version"], "version_id": latest["version_id"],
                        "sha256": latest.get("sha256"),
                    }  # fmt: skip
                else:
                    found = await self.flows.sources.version(data_id, wanted["version"])
                    version = {"version": found["version"], "version_id": found["_id"],
                               "sha256": found.get("sha256")}  # fmt: skip
            except NotFound:
                version = None
            if version is None:
                waiting.append(data_id)
                continue
            given[name] = {"data_id": data_id, "fetch": wanted.get("fetch", True), **version}
        return given, waiting

    async def evaluate(self, flow: Document, trigger: str) -> Document | None:
        """Fire an ANY/ALL flow if its gate is open; the run enqueued, if any. A gate
        that stays shut records why on the flow (`waiting_for`)."""
        if flow["state"] != "active" or flow["policy"] not in GATED:
            return None
        given, waiting = await self.snapshot(flow)
        if not waiting:
            unpinned = [i["data_id"] for i in flow["inputs"].values() if i["version"] is None]
            latest = {v["data_id"]: v["version"] for v in given.values()}
            consumed = flow["consumed"]
            stale = [d for d in unpinned if latest[d] <= consumed.get(d, 0)]
            never_run = flow["last_enqueued_at"] is None
            if not unpinned:  # every input pinned: once at registration, then by hand
                fire, waiting = never_run, []
            elif flow["policy"] == POLICIES["ANY"]:
                fire = never_run or len(stale) < len(unpinned)
                waiting = [] if fire else unpinned
            else:
                fire = never_run or not stale
                waiting = [] if fire else stale
            key = input_key(given)
            # The inputs a run just failed on fire again only by hand: the queue already
            # retried its work, and a function that cannot import would fail forever.
            if fire and key != flow.get("failed_inputs"):
                return await self.enqueue(flow, given, trigger, key)
        if waiting != flow["waiting_for"]:
            await self.flows.collection.update_one(
                {"_id": flow["_id"]}, {"$set": {"waiting_for": waiting}}
            )
        return None

    async def version_created(self, version: Document) -> None:
        """A new version of a source was committed: evaluate the flows consuming it."""
        for flow in await self.flows.consumers(version["data_id"]):
            try:
                await self.evaluate(flow, f"input:{version['_id']}")
            except Exception:
                # One flow failing to fire must not keep the others from it; the
                # periodic pass evaluates it again.
                log.exception("flow %s: evaluating its gate failed", flow["_id"])

    async def manual(self, flow: Document, force: bool = False) -> Document | None:
        """Run `flow` now with its latest inputs (any policy); the run, or None when a
        run is in flight (one follow-up is then coalesced, not forced). `force`: an
        ingestion fetched unconditionally, and transformed even if the upstream did not
        change. 400 if an input lacks a version, or `force` for an analysis."""
        if force and kind_of(flow) != "ingest":
            raise BadRequest("force re-ingests: an analysis run always runs its function", {})
        given, waiting = await self.snapshot(flow)
        if waiting:
            raise BadRequest("inputs without the version they need", {"waiting_for": waiting})
        return await self.enqueue(flow, given, "manual", ["manual", time.time()], force=force)

    async def tick(self, now: float | None = None) -> dict[str, int]:
        """Claim every due TIMER/INGESTION slot (each once across all processes) and
        enqueue its run; `{"slots", "enqueued"}` tallies."""
        tallies = {"slots": 0, "enqueued": 0}
        now = time.time() if now is None else now
        for _ in range(self.flows.settings.aero_max_dependants):
            claimed = await self.flows.collection.find_one_and_update(
                {"state": "active", "policy": {"$in": list(SCHEDULED)},
                 "next_run_at": {"$ne": None, "$lte": now}},
                [{"$set": {"next_run_at": {"$max": [{"$add": ["$next_run_at", "$timer"]}, now]}}}],
                return_document=ReturnDocument.BEFORE,
            )  # fmt: skip
            if claimed is None:
                break
            tallies["slots"] += 1
            slot = claimed["next_run_at"]
            if claimed["pending_run_id"] is not None:
                continue  # a run is in flight: this slot is skipped, never overlapped
            given, waiting = await self.snapshot(claimed)
            if waiting:
                await self.flows.collection.update_one(
                    {"_id": claimed["_id"]}, {"$set": {"waiting_for": waiting}}
                )
                continue
            if await self.enqueue(claimed, given, "timer", ["timer", slot], coalesce=False):
                tallies["enqueued"] += 1
        return tallies

    async def enqueue(
        self,
        flow: Document,
        given: dict[str, Document],
        trigger: str,
        key: Iterable[object],
        coalesce: bool = True,
        notice: Document | None = None,
        force: bool = False,
    ) -> Document | None:
        """Make `flow`'s run with inputs `given` its one pending run and queue its work;
        the run, or None when another run is pending (then, with `coalesce`, the flow
        is marked for one follow-up). `notice`: what a notify said, kept on the run;
        `force`: a forced re-ingestion."""
        run_id = fingerprint([flow["_id"], list(key), flow["last_run_id"]])[:32]
        consumed = dict(flow["consumed"])
        consumed.update({v["data_id"]: v["version"] for v in given.values()})
        kind = kind_of(flow)
        now = time.time()
        run: Document = {
            "_id": run_id,
            "flow_id": flow["_id"],
            "kind": kind,
            "trigger": trigger,
            "pipeline": flow["pipeline"],
            "function_id": flow["function_id"],
            "function_path": flow["function_path"],
            "inputs": given,
            "outputs": {n: o["data_id"] for n, o in flow["outputs"].items()},
            "kwargs": flow["kwargs"],
            "tasks": flow.get("tasks"),
            "notice": notice,
            "force": force,
            "previous_consumed": flow["consumed"],
            "status": "queued",
            "deposited": False,
            "committed": {},
            "staged": {},
            "provenance_id": None,
            "function_version": None,
            "error": None,
            "created_at": now,
            "started_at": None,
            "ended_at": None,
        }
        try:
            await self.collection.insert_one(run)
        except DuplicateKeyError:
            return None  # the same trigger, already enqueued (a retry or another process)
        taken = await self.flows.collection.find_one_and_update(
            {"_id": flow["_id"], "state": "active", "pending_run_id": None},
            {"$set": {"pending_run_id": run_id, "consumed": consumed, "waiting_for": [],
                      "last_enqueued_at": now, "dirty": None}},
        )  # fmt: skip
        if taken is None:
            await self.collection.delete_one({"_id": run_id, "deposited": False})
            if coalesce:
                await self.flows.collection.update_one(
                    {"_id": flow["_id"], "state": "active", "pending_run_id": {"$ne": None}},
                    {"$set": {"dirty": trigger}},
                )
            return None
        await self.deposit(run, flow)
        return run

    async def deposit(self, run: Document, flow: Document) -> None:
        """Queue the run's work, or one per task (again: a repeated deposit of an id
        queues nothing, a part stored already is kept)."""
        if run.get("tasks"):
            for part in parts(run):
                # A deposit repeated after a crash: the part stored already is kept.
                with contextlib.suppress(DuplicateKeyError):
                    await self.collection.insert_one(part)
                await self.deposit(part, flow)
        else:
            await self._deposit_work(run, flow)
        await self.collection.update_one({"_id": run["_id"]}, {"$set": {"deposited": True}})

    async def _deposit_work(self, run: Document, flow: Document) -> None:
        work = {
            "pipeline": run["pipeline"],
            "site": flow["site"],
            "user": flow["owner"],
            "function": JOBS[run["kind"]],
            "parameters": {"run_id": run["_id"]},
            "id": run["_id"],
            "timeout": flow["timeout"],
            "retries": flow["retries"],
            "tags": ["aero", f"flow:{flow['_id']}"],
        }
        await self.buckets.deposit([work], run=run["_id"])

    async def finish(self, run: Document, status: str, error: str | None = None) -> bool:
        """End `run` (committed, unchanged or failed) unless it already ended; release
        its flow and fire the coalesced follow-up (a part: end its run once every part
        ended). Whether this call ended it."""
        if run.get("parent") is not None:
            return await self._finish_part(run, status, error)
        now = time.time()
        # An update_one: nothing is read back, and the embedded database's
        # find_one_and_update would scan every run.
        ended = await self.collection.update_one(
            {"_id": run["_id"], "status": {"$in": list(ACTIVE)}},
            {"$set": {"status": status, "error": error, "ended_at": now}},
        )
        if not ended.matched_count:
            return False
        update: Document = {"pending_run_id": None, "last_run_id": run["_id"],
                            "last_error": error}  # fmt: skip
        if status == "failed":
            update["consumed"] = run["previous_consumed"]
            update["failed_inputs"] = input_key(run["inputs"])
        else:
            update["last_committed_at"] = now
            update["failed_inputs"] = None
        flow = await self.flows.collection.find_one_and_update(
            {"_id": run["flow_id"], "pending_run_id": run["_id"]},
            {"$set": update},
            return_document=ReturnDocument.AFTER,
        )
        if flow is not None and flow["dirty"] and flow["state"] == "active":
            if flow["policy"] in GATED:
                await self.evaluate(flow, flow["dirty"])
            else:
                given, waiting = await self.snapshot(flow)
                if not waiting:
                    await self.enqueue(flow, given, flow["dirty"], ["follow-up", run["_id"]])
        return True

    async def _finish_part(self, part: Document, status: str, error: str | None) -> bool:
        ended = await self.collection.update_one(
            {"_id": part["_id"], "status": {"$in": list(ACTIVE)}},
            {"$set": {"status": status, "error": error, "ended_at": time.time()}},
        )
        if not ended.matched_count:
            return False
        # Each part ends before it counts the others: the last to end sees none active.
        cursor = self.collection.find(
            {"parent": part["parent"]}, {"status": 1, "error": 1, "task": 1, "provenance_id": 1}
        )
        found = await cursor.to_list()
        if all(each["status"] not in ACTIVE for each in found):
            ending, why = settled(found)
            await self.collection.update_one(
                {"_id": part["parent"]}, {"$set": {"provenance_ids": recorded(found)}}
            )
            await self.finish(await self.get(part["parent"]), ending, why)
        return True
