"""Tasks: runs of extension actions, each one work on the Buckets queue.

A task's work has the task's id, the action's command and the checked parameters
(which `sluice worker` passes to the command as environment variables). The task
record keeps its own status, derived from the work by `reconcile` (a periodic pass,
safe on several replicas: every change is conditional on the status it was decided
from):

    work queued, never tried    PENDING     work running         STARTED
    work queued again           RECEIVED    work success         SUCCESS
    work failure / vanished     FAILURE     cancelled            REVOKED

The outcome (exit code, stdout and stderr tails, end time) is copied onto the task as
soon as it is seen, from Buckets or, once the mover took the work, from Results; a
finished task's log is then saved as file `task-<id>.log` of its experiment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from schemas.experiments import ACTIVE_STATUSES, PAGE_MAX, STAGE_PARAMETER, Action, Extension
from service.auth.principal import Principal
from service.auth.tokens import TokenStore
from service.buckets.audit import retries_left
from service.buckets.store import BucketsStore
from service.db import Database, Document, count_statuses, update_then_read
from service.errors import BadRequest, Conflict, NotFound
from service.experiments.extensions import environment
from service.experiments.files import FileStore
from service.experiments.store import now
from service.results.store import ResultsStore
from service.settings import Settings

COLLECTION = "experiments.tasks"
FINAL = ("SUCCESS", "FAILURE", "REVOKED")
#: Seconds a task may wait for its work to appear before it is failed as lost.
LOST_AFTER = 120.0
#: Seconds a stopped run keeps its lease: longer than any worker's heartbeat interval
#: (sluice.worker.loop.MAX_BEAT), so the worker hears "stop" before the reaper ends the work.
STOP_GRACE = 60.0
#: Active tasks brought up to date per pass.
BATCH = 500
#: Seconds between looks at a task someone waits for.
WAIT_POLL = 0.2

INDEXES = [
    IndexModel([("task_id", ASCENDING)], unique=True, name="task_id_unique"),
    IndexModel([("status", ASCENDING)], name="status"),
    IndexModel([("created_at", DESCENDING)], name="created_at"),
    IndexModel([("experiment_uuid", ASCENDING)], name="experiment"),
]


def public(task: Document) -> Document:
    hidden = ("_id", "pipeline", "log_saved", "token")
    return {key: value for key, value in task.items() if key not in hidden}


def _tail(lines: Any, limit: int) -> str:
    text = "\n".join(str(line) for line in lines) if isinstance(lines, list) else ""
    return text[-limit:]


def derive(work: Document, limit: int) -> Document:
    """The task fields that the state of its `work` implies."""
    status = work.get("status")
    if status == "running":
        return {"status": "STARTED"}
    if status not in ("success", "failure") or retries_left(work):
        return {"status": "RECEIVED" if work.get("attempt") else "PENDING"}
    results = work.get("results") or {}
    stderr = _tail(results.get("stderr"), limit)
    if status == "failure" and results.get("error"):
        stderr = (stderr + "\n" if stderr else "") + f"[sluice] {results['error']}"
    code = results.get("returncode")
    stop = work.get("stop")
    return {
        "status": "SUCCESS" if status == "success" else "FAILURE",
        "result_code": code if isinstance(code, int) else None,
        "stdout": _tail(results.get("stdout"), limit),
        "stderr": stderr[-limit:],
        "ended_at": datetime.fromtimestamp(stop, UTC) if isinstance(stop, int | float) else now(),
    }


class TaskStore:
    """Start, list, reconcile and cancel tasks."""

    def __init__(
        self,
        database: Database,
        buckets: BucketsStore,
        results: ResultsStore,
        files: FileStore,
        settings: Settings,
        tokens: TokenStore,
    ) -> None:
        self.collection: AsyncCollection[Document] = database.db[COLLECTION]
        self.buckets = buckets
        self.results = results
        self.files = files
        self.settings = settings
        self.tokens = tokens

    async def create_indexes(self) -> None:
        await self.collection.create_indexes(INDEXES)

    async def counts(self) -> dict[str, int]:
        """How many tasks are in each status (PENDING, STARTED, SUCCESS...)."""
        return await count_statuses(self.collection)

    async def start(
        self,
        extension: Extension,
        action: Action,
        values: dict[str, Any],
        experiment: Document | None,
        username: str,
    ) -> Document:
        """Record a PENDING task, then queue its work; return the task."""
        task_id = uuid.uuid4().hex
        task: Document = {
            "task_id": task_id,
            "extension_name": extension.name,
            "action_name": action.name,
            "experiment_uuid": experiment["uuid"] if experiment else None,
            "experiment_eid": experiment["eid"] if experiment else None,
            "parameters": values,
            "username": username,
            "status": "PENDING",
            "result_code": None,
            "stdout": "",
            "stderr": "",
            "created_at": now(),
            "ended_at": None,
            "pipeline": extension.pipeline,
            "log_saved": False,
            # Whether the command gets a token bound to the experiment (`grant`).
            "token": action.token and experiment is not None,
        }
        await self.collection.insert_one(dict(task))
        parameters = environment(values)
        staged = {
            p.name: {"experiment": experiment["uuid"], "file": values[p.name]}
            for p in action.parameters
            if p.data_type == "file" and p.name in values and experiment is not None
        }
        if staged:
            # The worker downloads these into the command's directory; the variable
            # then holds the local path (sluice.worker.staging).
            parameters[STAGE_PARAMETER] = json.dumps(staged)
        work = {
            "pipeline": extension.pipeline,
            "site": extension.site,
            "user": username,
            "command": action.command,
            "parameters": parameters,
            "id": task_id,
            "timeout": action.timeout,
            "retries": 0,
            "tags": [f"extension:{extension.name}"],
        }
        try:
            await self.buckets.deposit([work])
        except BaseException as exc:
            await self._finish(task, {"status": "FAILURE", "stderr": f"not queued: {exc}"})
            raise
        return public(task)

    async def _stored(self, task_id: str, caller: Principal | None) -> Document:
        task = await self.collection.find_one({"task_id": task_id})
        if task is None:
            raise NotFound(f"no task {task_id}", {"task_id": task_id})
        if caller is not None:
            caller.check_pipelines([task.get("pipeline")])
        return task

    async def get(self, task_id: str, caller: Principal | None = None) -> Document:
        """The task; 404, or 403 if its pipeline is outside `caller`'s patterns."""
        return public(await self._stored(task_id, caller))

    async def pipelines(self, query: Document) -> list[Any]:
        """The pipelines of the tasks matching `query`."""
        return list(await self.collection.distinct("pipeline", query))

    async def find(
        self,
        filters: dict[str, Any],
        limit: int,
        offset: int,
        caller: Principal | None = None,
    ) -> tuple[list[Document], int]:
        """One page of tasks, newest first, and the total. `filters` holds equality
        filters on task fields and optional `start`/`end` bounds on `created_at`;
        only tasks of pipelines `caller` may touch are found."""
        if not 1 <= limit <= PAGE_MAX:
            raise BadRequest(f"limit must be 1-{PAGE_MAX}", {"limit": limit})
        if offset < 0:
            raise BadRequest("offset must not be negative", {"offset": offset})
        query = {k: v for k, v in filters.items() if k not in ("start", "end") and v is not None}
        bounds = {
            op: filters[key] for op, key in (("$gte", "start"), ("$lte", "end")) if filters.get(key)
        }
        if bounds:
            query["created_at"] = bounds
        if caller is not None and caller.restricted:
            query["pipeline"] = {"$in": caller.visible(await self.pipelines(query))}
        total = await self.collection.count_documents(query)
        cursor = self.collection.find(
            query, skip=offset, limit=limit, sort=[("created_at", DESCENDING), ("_id", DESCENDING)]
        )
        return [public(task) async for task in cursor], total

    async def _finish(self, task: Document, fields: Document) -> bool:
        """Apply `fields` if the task still has the status they were derived from;
        whether it did."""
        fields = dict(fields)
        if fields["status"] in FINAL:
            fields.setdefault("ended_at", now())
        # An update_one: nothing is read back, and the embedded database's
        # find_one_and_update would scan every task on every reconcile.
        finished = await self.collection.update_one(
            {"task_id": task["task_id"], "status": task["status"]}, {"$set": fields}
        )
        if finished.matched_count and fields["status"] in FINAL:
            await self.tokens.revoke_for_task(task["task_id"])
        return bool(finished.matched_count)

    async def grant(self, work: Document, url: str) -> dict[str, str]:
        """The variables the command of `work` (just withdrawn) gets besides its
        parameters: for an active task whose action declares `token: true`,
        SLUICE_TOKEN, a new token bound to the task's experiment expiring after
        SLUICE_TASK_TOKEN_TTL, and SLUICE_URL, `url`. Nothing for any other work."""
        tags = work.get("tags")
        if not isinstance(tags, list) or not any(
            isinstance(tag, str) and tag.startswith("extension:") for tag in tags
        ):
            return {}
        task = await self.collection.find_one(
            {
                "task_id": work.get("id"),
                "pipeline": work.get("pipeline"),
                "token": True,
                "status": {"$in": list(ACTIVE_STATUSES)},
            }
        )
        if task is None:
            return {}
        experiment = {"uuid": task["experiment_uuid"], "eid": task["experiment_eid"]}
        secret = await self.tokens.mint_for_task(
            task["task_id"],
            experiment,
            task["username"],
            task["pipeline"],
            self.settings.task_token_ttl,
        )
        return {"SLUICE_TOKEN": secret, "SLUICE_URL": url}

    async def reconcile(self, task_ids: list[str] | None = None) -> dict[str, int]:
        """Bring active tasks up to date with their works, then save the logs of
        finished ones; return the tallies."""
        query: Document = {"status": {"$in": list(ACTIVE_STATUSES)}}
        if task_ids is not None:
            query["task_id"] = {"$in": task_ids}
        tasks = await self.collection.find(query, limit=BATCH).to_list()
        works = await self.buckets.locate(
            {task["task_id"]: task["pipeline"] for task in tasks}, self.results
        )
        lost_before = now() - timedelta(seconds=LOST_AFTER)
        changed = 0
        for task in tasks:
            work = works.get(task["task_id"])
            if work is not None:
                fields = derive(work, self.settings.max_task_output)
            elif task["created_at"].replace(tzinfo=UTC) < lost_before:
                fields = {"status": "FAILURE", "stderr": "[sluice] the work is gone"}
            else:
                continue
            if fields["status"] != task["status"] and await self._finish(task, fields):
                changed += 1
        return {"tasks_updated": changed, "logs_saved": await self._save_logs()}

    async def _save_logs(self) -> int:
        saved = 0
        query = {"status": {"$in": list(FINAL)}, "log_saved": False}
        async for task in self.collection.find(query, limit=BATCH):
            if task["experiment_uuid"] is not None:
                # NotFound: the experiment was removed meanwhile.
                with contextlib.suppress(NotFound):
                    await self.files.store(
                        task["experiment_uuid"], log_name(task["task_id"]), _log(task)
                    )
            await self.collection.update_one(
                {"_id": task["_id"], "log_saved": False}, {"$set": {"log_saved": True}}
            )
            saved += 1
        return saved

    async def cancel(self, task_id: str, caller: Principal | None = None) -> tuple[Document, bool]:
        """Revoke a queued task, stop a running one; `(task, whether this call
        revoked it)`. Idempotent: a REVOKED task is answered as it is. 409 if the task
        already finished otherwise, 403 if its pipeline is outside `caller`'s patterns
        (a task's pipeline never changes)."""
        task = await self._stored(task_id, caller)
        if task["status"] == "REVOKED":
            return public(task), False
        if task["status"] in FINAL:
            raise Conflict(f"task {task_id} already ended: {task['status']}", public(task))
        # A running work: the worker's next heartbeat answers stop=true and it ends the
        # run without reporting; the lease is cut short so the reaper then closes the
        # work soon rather than after the action's whole timeout.
        if not await self.buckets.cancel([task_id], grace=STOP_GRACE):
            await self.reconcile([task_id])
        # Read back while it is REVOKED (a final status: only a delete changes it).
        revoked = await update_then_read(
            self.collection,
            {"task_id": task_id},
            {"status": {"$in": list(ACTIVE_STATUSES)}},
            {"$set": {"status": "REVOKED", "ended_at": now(), "stderr": "[sluice] revoked"}},
            {"status": "REVOKED"},
            self.settings.update_then_read,
        )
        # Its tokens go whatever the read found: a no-op for a task that ended otherwise
        # (they went then), and no read-back miss can leave them valid.
        await self.tokens.revoke_for_task(task_id)
        if revoked is not None:
            return public(revoked), True
        current = await self.get(task_id)
        if current["status"] != "REVOKED":
            raise Conflict(f"task {task_id} already ended: {current['status']}", current)
        return current, False

    async def check_removable(self, experiment_uuid: str, caller: Principal) -> None:
        """403 if a task of the experiment is of a pipeline outside `caller`'s patterns."""
        caller.check_pipelines(await self.pipelines({"experiment_uuid": experiment_uuid}))

    async def remove_for(self, experiment_uuid: str, caller: Principal | None = None) -> int:
        """Cancel the active tasks of an experiment and delete all its tasks (only
        those of pipelines `caller` may touch: see `check_removable`)."""
        mine: Document = {"experiment_uuid": experiment_uuid}
        if caller is not None and caller.restricted:
            mine["pipeline"] = {"$in": caller.visible(await self.pipelines(mine))}
        query = {**mine, "status": {"$in": list(ACTIVE_STATUSES)}}
        async for task in self.collection.find(query, {"task_id": True}):
            try:
                await self.cancel(task["task_id"])
            except Conflict:
                continue  # it ended meanwhile
        removed = await self.collection.delete_many(mine)
        return removed.deleted_count

    async def wait(self, task_id: str, seconds: float, poll: float = WAIT_POLL) -> Document | None:
        """The task once it has ended and its log is saved, bringing it up to date every
        `poll` seconds meanwhile; None if that takes more than `seconds` (the task
        carries on). 404 for an unknown task."""
        deadline = time.monotonic() + seconds
        while True:
            await self.reconcile([task_id])
            task = await self.collection.find_one({"task_id": task_id})
            if task is None:
                raise NotFound(f"no task {task_id}", {"task_id": task_id})
            if task["status"] in FINAL and task["log_saved"]:
                return public(task)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await asyncio.sleep(min(poll, remaining))


def log_name(task_id: str) -> str:
    """The name of the file a finished task's log is saved as, in its experiment."""
    return f"task-{task_id}.log"


async def _log(task: Document) -> AsyncIterator[bytes]:
    header = (
        f"task {task['task_id']}: {task['extension_name']} / {task['action_name']}\n"
        f"status {task['status']}, exit code {task.get('result_code')}\n"
        f"parameters {task['parameters']}\n"
    )
    yield header.encode()
    yield b"--- stdout ---\n" + task.get("stdout", "").encode() + b"\n"
    yield b"--- stderr ---\n" + task.get("stderr", "").encode() + b"\n"
