"""The worker's side of a flow run on the server: what to run, its outputs, its commit.

Exactly once: the worker uploads each output's bytes first (stored in the blob store,
staged on the run, visible nowhere yet); the commit then, in one transaction, commits
every staged output as a version of its source (keyed by run and output, so the data
store answers a repeat with the first outcome), inserts the run's one provenance record
(unique by run) and records both on the run; last it ends the run. Versions and their
provenance thus appear together. A worker killed anywhere on the way is retried by the
queue and does it all again harmlessly: a repeated upload only stages again, a
repeated commit answers the stored outcome.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable

from pymongo.asynchronous.client_session import AsyncClientSession

from service.auth.principal import Principal
from service.db import Database, Document
from service.errors import BadRequest, Conflict, ValidationFailed
from service.flows.ports import Fetched, Ingestion
from service.flows.provenance import ProvenanceStore
from service.flows.runs import ACTIVE, Triggers
from service.flows.tasks import work_ids

ENDED = ("committed", "unchanged", "failed")


class IngestionFailed(ValidationFailed):
    """The upstream could not be fetched (host not allowed, non-2xx, too large...)."""

    code = "ingestion_failed"


def outcome(run: Document) -> Document:
    """What a run's commit answers (and its work's results)."""
    committed = run["committed"].values()
    return {
        "run_id": run["_id"],
        "status": run["status"],
        "provenance_id": run["provenance_id"],
        "created": [c["version_id"] for c in committed if c["created"]],
        "reproduced": [c["version_id"] for c in committed if not c["created"]],
        "error": run["error"],
    }


def task(run: Document) -> Document:
    """What the worker needs to run `run`: the function, the inputs' versions, the
    output names and the kwargs (ids only, never bytes)."""
    return {
        "run_id": run["_id"],
        "flow_id": run["flow_id"],
        "kind": run["kind"],
        "status": run["status"],
        "function": run["function_path"],
        "inputs": run["inputs"],
        "outputs": run["outputs"],
        "kwargs": run["kwargs"],
        "outcome": outcome(run),
    }


def entry(created: bool, version: Document) -> Document:
    """What a run records of an output's commit."""
    return {"data_id": version["data_id"], "version_id": version["_id"],
            "version": version["version"], "created": created}  # fmt: skip


class Commits:
    """Outputs, commit, failure and ingestion of runs, as the worker reports them."""

    def __init__(
        self,
        database: Database,
        triggers: Triggers,
        provenance: ProvenanceStore,
        ingestion: Ingestion,
    ) -> None:
        self.database = database
        self.triggers = triggers
        self.ingestion = ingestion
        self.provenance = provenance
        self.runs = triggers.collection
        self.sources = triggers.flows.sources

    async def _active(self, run_id: str, caller: Principal | None) -> Document:
        run = await self._own(run_id, caller)
        if run["status"] == "failed":
            raise Conflict(f"run {run_id} already failed: {run['error']}", {"run_id": run_id})
        return run

    async def _own(self, run_id: str, caller: Principal | None) -> Document:
        """The run, if a worker carries it out: 400 for a run of tasks (its parts are)."""
        run = await self.triggers.get(run_id, caller)
        if run.get("tasks"):
            raise BadRequest(
                f"run {run_id} has tasks: its parts {', '.join(work_ids(run))} are carried "
                "out one by one", {"run_id": run_id, "work_ids": work_ids(run)},
            )  # fmt: skip
        return run

    async def started(self, run_id: str, caller: Principal | None = None) -> Document:
        """The run's task, marking it (and the run it is a part of) running."""
        run = await self._own(run_id, caller)
        if run["status"] == "queued":
            for marked in filter(None, (run_id, run.get("parent"))):
                await self.runs.update_one(
                    {"_id": marked, "status": "queued"},
                    {"$set": {"status": "running", "started_at": time.time()}},
                )
            run = await self.triggers.get(run_id)
        return task(run)

    async def output(
        self,
        run_id: str,
        name: str,
        content: bytes | AsyncIterable[bytes],
        caller: Principal | None = None,
        file_type: str | None = None,
    ) -> Document:
        """Stage output `name`'s bytes for the commit (again: the last upload counts),
        to be a version of media type `file_type` (None: the default); `{output,
        blob_id}`, or the committed version's entry once committed."""
        run = await self._active(run_id, caller)
        if name not in run["outputs"]:
            raise BadRequest(
                f"run {run_id} has no output {name!r}: {sorted(run['outputs'])}", {"output": name}
            )
        recorded: Document
        if name in run["committed"]:
            recorded = run["committed"][name]
            return recorded
        if run["status"] in ENDED:
            raise Conflict(f"run {run_id} already ended", {"run_id": run_id})
        limit = self.triggers.flows.settings.aero_max_version_bytes
        stored = await self.sources.blobs.put(content, limit, self.sources.too_large)
        await self.runs.update_one(
            {"_id": run_id, f"committed.{name}": {"$exists": False}},
            {"$set": {f"staged.{name}": stored.blob_id, f"staged_types.{name}": file_type}},
        )
        return {"output": name, "blob_id": stored.blob_id}

    async def staging(self, blob_ids: list[str]) -> set[str]:
        """Of these blob ids, those staged as an output of a run not yet ended (its
        commit will make them versions). It reads at most SLUICE_AERO_MAX_DEPENDANTS
        unfinished runs, as a pass of `RunFollower.reconcile` does; while more are
        unfinished it cannot tell, and answers every id (the file sweep keeps them)."""
        limit = self.triggers.flows.settings.aero_max_dependants
        # Only the status in the filter: the database reads no run past the limit.
        cursor = self.runs.find(
            {"status": {"$in": list(ACTIVE)}}, {"staged": True, "source": True}, limit=limit + 1
        )
        unfinished = await cursor.to_list()
        if len(unfinished) > limit:
            return set(blob_ids)
        staged = {blob for run in unfinished for blob in run.get("staged", {}).values()}
        # An ingestion's raw upstream, staged for its transform.
        staged.update(run["source"]["blob_id"] for run in unfinished if run.get("source"))
        return staged & set(blob_ids)

    async def _record(self, run_id: str, name: str, created: bool, version: Document) -> None:
        await self.runs.update_one(
            {"_id": run_id, f"committed.{name}": {"$exists": False}},
            {"$set": {f"committed.{name}": entry(created, version)}},
        )

    async def commit(
        self,
        run_id: str,
        function_version: str | None,
        caller: Principal | None = None,
        distribution: str | None = None,
    ) -> Document:
        """End the run: its provenance record (unless an ingestion found nothing new)
        and its flow released. A repeat answers the stored outcome."""
        run = await self._active(run_id, caller)
        if run["status"] in ENDED:
            return outcome(run)
        held = set(run["committed"]) | set(run.get("staged", {}))
        missing = sorted(set(run["outputs"]) - held)
        if missing and (run["kind"] == "analysis" or run.get("source")):
            raise BadRequest(
                f"outputs not uploaded yet: {', '.join(missing)}", {"missing": missing}
            )

        async def body(session: AsyncClientSession) -> tuple[bool, list[Document]]:
            return await self._commit_in(run_id, function_version, session)

        recorded, created = await self.database.transaction(body)
        if run.get("source"):
            (data_id,) = run["outputs"].values()
            await self.ingestion.remember(data_id, run["source"])
        for version in created:
            await self.sources.notify(version)
        status = "committed" if recorded else "unchanged"
        if function_version is not None and run["function_id"] is not None:
            meta = {"distribution": distribution, "version": function_version}
            await self.triggers.flows.functions.record_meta(run["function_id"], meta)
        await self.triggers.finish(await self.triggers.get(run_id), status)
        return outcome(await self.triggers.get(run_id))

    async def _commit_in(
        self, run_id: str, function_version: str | None, session: AsyncClientSession
    ) -> tuple[bool, list[Document]]:
        """Within one transaction: commit the staged outputs, insert the provenance
        record (an ingestion that found nothing new has none); whether a record exists,
        and the versions created."""
        run = await self.runs.find_one({"_id": run_id}, session=session)
        assert run is not None  # runs are never deleted
        committed: dict[str, Document] = dict(run["committed"])
        created: list[Document] = []
        upstream = run.get("source")
        source = None if upstream is None else (upstream["md5"], upstream["sha256"])
        types = run.get("staged_types", {})
        for name, blob_id in run.get("staged", {}).items():
            if name in committed:
                continue
            done = await self.sources.commit_version(
                run["outputs"][name], await self.sources.blobs.get(blob_id), file_name=name,
                file_type=types.get(name), source=source,
                transformed=source is not None, forced=bool(run.get("force")), run_id=run_id,
                flow_id=run["flow_id"], commit_key=f"{run_id}:{name}", session=session,
            )  # fmt: skip
            committed[name] = entry(done.created, done.version)
            if done.created:
                created.append(done.version)
        made = [c["version_id"] for c in committed.values() if c["created"]]
        update: Document = {"committed": committed, "function_version": function_version}
        if run["kind"] == "analysis" or made:
            same = [c["version_id"] for c in committed.values() if not c["created"]]
            record = await self.provenance.record(
                {**run, "committed": committed}, made, same, function_version, session
            )
            update["provenance_id"] = record["_id"]
        await self.runs.update_one({"_id": run_id}, {"$set": update}, session=session)
        return "provenance_id" in update, created

    async def fail(self, run_id: str, error: str, caller: Principal | None = None) -> Document:
        """Fail the run for good with `error` (the worker found it cannot run)."""
        run = await self._own(run_id, caller)
        await self.triggers.finish(run, "failed", error)
        return outcome(await self.triggers.get(run_id))

    async def ingest(self, run_id: str, caller: Principal | None = None) -> Document:
        """Fetch an ingestion run's source and commit what changed, then end the run
        (`committed`, or `unchanged` with no provenance). A refused or failed fetch
        fails the run with the reason (and raises it)."""
        run = await self._active(run_id, caller)
        if run["status"] in ENDED:
            return outcome(run)
        if run["kind"] != "ingest":
            raise BadRequest(f"run {run_id} is not an ingestion", {"run_id": run_id})
        ((name, data_id),) = run["outputs"].items()
        if run["function_path"] is not None and name not in run["committed"]:
            return await self._fetch_for_transform(run, name, data_id)
        if name not in run["committed"]:
            fetched = await self.ingestion.ingest(
                data_id, commit_key=f"{run_id}:{name}", run_id=run_id, flow_id=run["flow_id"],
                force=bool(run.get("force")),
            )  # fmt: skip
            await self._unless_failed(run, fetched)
            if fetched.version is not None:
                await self._record(run_id, name, fetched.status == "created", fetched.version)
        return await self.commit(run_id, None)

    async def _unless_failed(self, run: Document, fetched: Fetched) -> None:
        """A failed fetch fails the run with its reason, and raises it."""
        if fetched.status == "failed":
            error = fetched.error or {}
            message = str(error.get("message") or "the ingestion failed")
            await self.triggers.finish(run, "failed", message)
            raise IngestionFailed(message, {"run_id": run["_id"], **error})

    async def _fetch_for_transform(self, run: Document, name: str, data_id: str) -> Document:
        """Fetch the upstream of an ingestion with a transform. Unchanged (a 304, or the
        raw bytes the latest version was transformed from): the run ends `unchanged`
        and the transform never runs. Else the raw bytes are staged on the run
        (`source`) and the answer tells the worker to transform them: `transform` (the
        dotted path), `output`, `kwargs` and the `source` (sha256, size, file_name). A
        forced run fetches unconditionally and always transforms."""
        run_id, forced = run["_id"], bool(run.get("force"))
        fetched = await self.ingestion.fetch(data_id, force=forced)
        if not isinstance(fetched, dict):
            await self._unless_failed(run, fetched)
            return await self._unchanged(run_id)  # a 304: nothing new upstream
        if not forced and await self.ingestion.unchanged(data_id, fetched) is not None:
            await self.ingestion.remember(data_id, fetched)
            return await self._unchanged(run_id)
        await self.runs.update_one(
            {"_id": run_id, "status": {"$in": list(ACTIVE)}}, {"$set": {"source": fetched}}
        )
        shown = {key: fetched[key] for key in ("sha256", "size", "file_name", "file_type")}
        return {**outcome(await self.triggers.get(run_id)), "transform": run["function_path"],
                "output": name, "kwargs": run["kwargs"], "source": shown}  # fmt: skip

    async def _unchanged(self, run_id: str) -> Document:
        """End an ingestion run whose upstream is the latest version's: what an earlier
        attempt staged (an upstream since reverted, its transform) is dropped."""
        await self.runs.update_one(
            {"_id": run_id, "status": {"$in": list(ACTIVE)}},
            {"$unset": {"source": "", "staged": "", "staged_types": ""}},
        )
        return await self.commit(run_id, None)

    async def source(self, run_id: str, caller: Principal | None = None) -> Document:
        """The raw upstream staged for run `run_id`'s transform (`blob_id`, `sha256`,
        `size`...); 400 if the run has none (not an ingestion with a transform, or not
        fetched yet)."""
        run = await self._active(run_id, caller)
        staged: Document | None = run.get("source")
        if staged is None:
            raise BadRequest(
                f"run {run_id} has no upstream staged for a transform", {"run_id": run_id}
            )
        return staged
