"""Runs of leaderboard workflows (`leaderboards.runs`), executed as workfile runs.

A run is PENDING until a step of its workfile run starts, RUNNING until that run ends,
then SUCCESS, ERROR or CANCELED; the two last carry `messages`. Every change of state
is one conditional update on the state it was decided from, so a state never moves
back and two Sluice processes never both apply one. The periodic `reconcile` follows
each active run's workfile run; a run that succeeds has its result file read against
the template's schema (service.leaderboards.results): a valid result makes it *ranked*
(and its default-order keys stored, service.leaderboards.ranking), an invalid one says
why in `messages` and is never ranked. A run entering or leaving the ranking bumps the
template's `ranking_version`, which post-processing follows.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from service.db import Database, Document, update_then_read
from service.errors import BadRequest, NotFound, SluiceError
from service.leaderboards import arguments, ranking, results
from service.leaderboards.templates import TemplateStore, variable, workflow_of
from service.leaderboards.uploads import BUCKET as UPLOADS_BUCKET
from service.leaderboards.uploads import UploadStore
from service.settings import Settings
from service.workfiles.runs import RunStore
from service.workfiles.stepfiles import StepFileStore

log = logging.getLogger("sluice.leaderboards")

COLLECTION = "leaderboards.runs"
STATES = ("PENDING", "RUNNING", "SUCCESS", "ERROR", "CANCELED")
ACTIVE = ("PENDING", "RUNNING")
INDEXES = [
    ranking.INDEX,
    IndexModel([("group_id", ASCENDING), ("created_at", ASCENDING)], name="group"),
    IndexModel([("state", ASCENDING)], name="state"),
    IndexModel([("workflow_id", ASCENDING), ("postproc", ASCENDING), ("created_at", DESCENDING)],
               name="postproc"),
]  # fmt: skip
#: Seconds a run may stay PENDING without a workfile run before it is an ERROR (its
#: start was cut short by a crash between the two writes).
ORPHAN_AFTER = 60.0
#: Active runs one reconcile pass follows.
PASS_LIMIT = 1000
CANCELED_BY_USER = "canceled at user request"


class RunNotFound(NotFound):
    code = "run_not_found"


class RunNotActive(BadRequest):
    code = "run_not_active"


def run_not_found(run_id: str) -> RunNotFound:
    return RunNotFound(f"no run {run_id[:64]!r}", {"run": run_id[:64]})


def run_files(process: Document) -> list[Document]:
    """A workfile run's output files as a leaderboard run lists them: `{"id", "name",
    "size"}`, name = the output path, one per path (the last step writing it)."""
    by_path: dict[str, Document] = {}
    for step in process["steps"]:
        for item in step.get("files") or []:
            by_path[item["path"]] = {"id": str(item["id"]), "name": item["path"],
                                     "size": item["size"]}  # fmt: skip
    return list(by_path.values())


class LeaderboardRunStore:
    """Start, follow, cancel, delete, read and rank leaderboard runs."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        templates: TemplateStore,
        runs: RunStore,
        step_files: StepFileStore,
        uploads: UploadStore,
    ) -> None:
        self.collection: AsyncCollection[Document] = database.db[COLLECTION]
        self.settings = settings
        self.templates = templates
        self.runs = runs
        self.step_files = step_files
        self.uploads = uploads

    async def create_indexes(self) -> None:
        await self.collection.create_indexes(INDEXES)

    async def start_run(
        self, workflow_id: str, group: Document, given: list[Document], user: str
    ) -> Document:
        """Start a run of `workflow_id` for `group` (as GroupStore stores it) with the
        client's `given` arguments; the new run (PENDING). 400 for invalid arguments
        (service.leaderboards.arguments), 404 for an unknown workflow or file id."""
        template = await self.templates.get(workflow_id)
        if group.get("workflow") != workflow_id:
            raise BadRequest(f"group {group['_id']} is not a group of workflow {workflow_id}")
        parameters = [*template["parameters"], *(group.get("parameters") or [])]
        checked = arguments.check(parameters, given)
        inputs: list[Document] = []
        for item in checked.files:
            staged = await self.uploads.staged(group["_id"], item.file_id)
            inputs.append({"path": item.target, "bucket": UPLOADS_BUCKET,
                           "ref": staged.gridfs_id, "size": staged.size})  # fmt: skip
        run = self._new(workflow_id, group["_id"], user, given)
        run["values"] = checked.values
        await self.collection.insert_one(run)
        variables = {variable(name): value for name, value in checked.values.items()}
        return await self._launch(run, template, False, inputs, variables)

    async def start_postproc(self, template: Document, inputs: list[Document]) -> Document:
        """Queue a post-processing run of `template` with `inputs` staged; the run."""
        run = self._new(template["_id"], None, "leaderboards", [])
        await self.collection.insert_one(run)
        return await self._launch(run, template, True, inputs, {})

    @staticmethod
    def _new(workflow_id: str, group_id: str | None, user: str, given: list[Document]) -> Document:
        return {
            # 128 random bits: the flowServ run download URLs are capabilities.
            "_id": secrets.token_hex(16),
            "workflow_id": workflow_id,
            "group_id": group_id,
            "postproc": group_id is None,
            "user": user,
            "state": "PENDING",
            "created_at": time.time(),
            "started_at": None,
            "finished_at": None,
            "arguments": given,
            "messages": [],
            "process_id": None,
            "files": [],
            "results": None,
            "ranked": False,
        }

    async def _launch(
        self,
        run: Document,
        template: Document,
        postproc: bool,
        inputs: list[Document],
        variables: dict[str, Any],
    ) -> Document:
        workfile = {"_id": f"leaderboard:{template['_id']}", "workspace": "leaderboards"}
        try:
            process = await self.runs.start(
                workfile, 1, workflow_of(template, postproc), [], run["user"], inputs, variables
            )
        except SluiceError as exc:
            await self._end(run["_id"], ("PENDING",), "ERROR", [f"cannot start: {exc.message}"])
            raise
        bound = {"process_id": process["_id"]}
        updated = await update_then_read(
            self.collection,
            {"_id": run["_id"]},
            {"process_id": None},
            {"$set": bound},
            bound,
            self.settings.update_then_read,
        )
        return updated or await self.get(run["_id"])

    async def get(self, run_id: Any) -> Document:
        """The run `run_id`; RunNotFound (404)."""
        found = None
        if isinstance(run_id, str) and len(run_id) <= 64:
            found = await self.collection.find_one({"_id": run_id})
        if found is None:
            raise run_not_found(str(run_id))
        return found

    async def for_group(self, group_id: str, state: str | None = None) -> list[Document]:
        """The group's runs (of `state` if given), oldest first, at most
        SLUICE_MAX_VIEW_RESULTS; 400 for an unknown state."""
        query: Document = {"group_id": group_id}
        if state is not None:
            if state not in STATES:
                raise BadRequest(f"state must be one of {', '.join(STATES)}", {"state": state})
            query["state"] = state
        cursor = self.collection.find(
            query, sort=[("created_at", ASCENDING)], limit=self.settings.max_view_results
        )
        return await cursor.to_list()

    async def latest_postproc(self, workflow_id: str, state: str | None = None) -> Document | None:
        """The workflow's newest post-processing run (of `state` if given)."""
        query: Document = {"workflow_id": workflow_id, "postproc": True}
        if state is not None:
            query["state"] = state
        return await self.collection.find_one(query, sort=[("created_at", DESCENDING)])

    async def _end(
        self, run_id: str, expected: tuple[str, ...], state: str, messages: list[str], **more: Any
    ) -> Document | None:
        """Move the run from one of `expected` to `state`; the run after, None if it
        was no longer in one of them."""
        now = time.time()
        # Read back while it holds the end written here (an ended run's state is final).
        return await update_then_read(
            self.collection,
            {"_id": run_id},
            {"state": {"$in": list(expected)}},
            [{"$set": {"state": state, "finished_at": now, "messages": messages,
                       "started_at": {"$ifNull": ["$started_at", now]}, **more}}],
            {"state": state, "finished_at": now},
            self.settings.update_then_read,
        )  # fmt: skip

    async def cancel(self, run_id: str, reason: str | None = None) -> Document:
        """Cancel an active run (its workfile run is stopped); the run, CANCELED with
        `reason` (default "canceled at user request") as its message. 400
        `run_not_active` for a run that is not PENDING or RUNNING; 404."""
        run = await self.get(run_id)
        ended = await self._end(run_id, ACTIVE, "CANCELED", [reason or CANCELED_BY_USER])
        if ended is None:
            raise RunNotActive(
                f"run {run_id} is {run['state']}, not active",
                {"run": run_id, "state": run["state"]},
            )
        if ended.get("process_id"):
            await self.runs.stop(ended["process_id"])
        return ended

    async def delete(self, run_id: str) -> None:
        """Delete a run (cancelled first if active); 404."""
        run = await self.get(run_id)
        if run["state"] in ACTIVE:
            with contextlib.suppress(RunNotActive):  # it ended meanwhile
                await self.cancel(run_id)
        removed = await self.collection.find_one_and_delete({"_id": run_id})
        if removed is not None and removed.get("ranked"):
            await self.templates.ranking_changed(removed["workflow_id"])

    async def reconcile(self) -> dict[str, int]:
        """Follow every active run's workfile run once; tallies of the changes."""
        done = {"started": 0, "succeeded": 0, "failed": 0, "invalid": 0}
        cursor = self.collection.find({"state": {"$in": list(ACTIVE)}}, limit=PASS_LIMIT)
        async for run in cursor:
            try:
                outcome = await self._follow(run)
            except Exception:
                log.exception("leaderboard run %s could not be followed", run["_id"])
                continue
            if outcome:
                done[outcome] += 1
        return done

    async def _follow(self, run: Document) -> str | None:
        if run["process_id"] is None:
            if time.time() - run["created_at"] > ORPHAN_AFTER:
                await self._end(run["_id"], ("PENDING",), "ERROR", ["the run never started"])
                return "failed"
            return None
        process = await self.runs.get(run["process_id"])
        status = process["status"]
        if status == "RUNNING":
            begun = any(step["state"] in ("running", "success", "failure")
                        for step in process["steps"])  # fmt: skip
            if run["state"] == "PENDING" and begun:
                moved = await self.collection.update_one(
                    {"_id": run["_id"], "state": "PENDING"},
                    {"$set": {"state": "RUNNING", "started_at": time.time()}},
                )
                return "started" if moved.matched_count else None
            return None
        if status == "SUCCESS":
            return await self._succeed(run, process)
        errors = [f"{step['name']}: {step['error']}" for step in process["steps"] if step["error"]]
        state = "CANCELED" if status == "STOPPED" else "ERROR"
        ended = await self._end(run["_id"], ACTIVE, state, errors or [f"the run ended {status}"])
        return "failed" if ended else None

    async def _succeed(self, run: Document, process: Document) -> str | None:
        template = await self.templates.get(run["workflow_id"])
        files = run_files(process)
        schema = template["results"]
        fields: Document = {"files": files}
        messages: list[str] = []
        if schema is not None and not run["postproc"]:
            try:
                values = await self._read_results(files, schema)
            except results.ResultError as exc:
                messages = [f"invalid result: {exc}"]
            else:
                fields.update(results=values, ranked=True,
                              rank=ranking.stored_keys(schema, values))  # fmt: skip
        ended = await self._end(run["_id"], ACTIVE, "SUCCESS", messages, **fields)
        if ended is None:
            return None
        if ended["ranked"]:
            await self.templates.ranking_changed(run["workflow_id"])
        return "invalid" if messages else "succeeded"

    async def _read_results(self, files: list[Document], schema: Document) -> dict[str, Any]:
        entry = next((item for item in files if item["name"] == schema["file"]), None)
        if entry is None:
            raise results.ResultError(f"the run wrote no result file {schema['file']!r}")
        limit = self.settings.leaderboard_max_result_bytes
        if entry["size"] > limit:
            raise results.ResultError(
                f"the result file exceeds SLUICE_LEADERBOARD_MAX_RESULT_BYTES ({limit} bytes)"
            )
        stream = await self.step_files.open_output(entry["id"])
        content: bytes = await stream.read(limit)
        return results.read(content, schema["schema"])

    async def ranking(
        self,
        workflow_id: str,
        order: ranking.Order | None,
        include_all: bool,
        skip: int = 0,
        limit: int = 100,
    ) -> tuple[Document, list[Document]]:
        """The template and one page of its leaderboard: runs (with `results`), best
        first; without `include_all` one per group. 400 for an order naming anything
        but result columns; an empty list for a workflow without a result schema."""
        template = await self.templates.get(workflow_id)
        schema = template["results"]
        if order is not None:
            ranking.check_order(schema, order)
        if schema is None:
            return template, []
        stages = ranking.pipeline(
            workflow_id, schema, order, include_all, skip, limit,
            self.settings.leaderboard_max_ranked,
        )  # fmt: skip
        return template, await (await self.collection.aggregate(stages)).to_list()
