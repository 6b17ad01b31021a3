"""Runs of workfiles: each step is a Buckets work; the service advances runs.

A run (a "process") is one document of `workfiles.processes`: the workflow's operators
in dependency order (copied at start, so later uploads or a delete change nothing),
the variables' values, and one entry per step. Step `i` is the work with id
`<process id>-<i>`: ids are fixed in advance, so depositing a step twice (two Sluice
processes advancing the same run, or a crash between deposit and bookkeeping) queues
it once. The run's deposit binds the work to the run on the server, and the run reads
its steps back only as bound works of their pipeline (`BucketsStore.locate`), so no
depositor can forge a step by depositing a work under its id. A depositor who took the
id first makes the deposit refuse it (409); the step is then queued under an id of its
own that nobody could know in advance (`<process id>-<i>-<random>`).

`advance` reads each active step's work (in Buckets, or in Results once the mover took
it there), records outcomes on the run at once, requeues failures with retries left,
deposits the steps whose dependencies all succeeded, and ends the run: FAILURE when a
step failed for good (queued steps cancelled, running ones asked to stop), SUCCESS when
all succeeded. Every write to the run is conditional on its `revision`, so any number
of Sluice processes may reconcile the same runs; the loser of a race changes nothing.
The periodic `reconcile` pass drives every unfinished run, so progress survives a
restart of Sluice.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from schemas.workfiles import WorkflowFile
from service.auth.principal import Principal
from service.buckets.store import BucketsStore
from service.db import Database, Document, count_statuses
from service.errors import Conflict, NotFound, SluiceError
from service.results.store import ResultsStore
from service.workfiles import definition
from service.workfiles.stepfiles import StepFileStore, inputs_of

log = logging.getLogger("sluice.workfiles")

COLLECTION = "workfiles.processes"
INDEXES = [
    IndexModel([("status", ASCENDING)], name="status"),
    IndexModel([("workflow_id", ASCENDING)], name="workflow_id"),
    IndexModel([("started_at", DESCENDING)], name="started_at"),
    # The file sweep asks which runs stage a generated file (StepFileStore.put).
    IndexModel([("inputs.ref", ASCENDING)], name="inputs"),
]
#: Statuses a run may have.
RUN_STATUSES = ("RUNNING", "SUCCESS", "FAILURE", "STOPPED")
ACTIVE = ("queued", "running")
#: Attempts at a stop while the run keeps advancing under it.
STOP_ATTEMPTS = 10


class ProcessNotFound(NotFound):
    code = "process_not_found"


def process_not_found(process_id: str) -> ProcessNotFound:
    return ProcessNotFound(f"no run with process id {process_id!r}", {"process_id": process_id})


def _step(process_id: str, index: int, name: str) -> Document:
    return {
        "name": name,
        "state": "waiting",
        "work_id": f"{process_id}-{index}",
        "attempt": 0,
        "started_at": None,
        "ended_at": None,
        "error": None,
        "output": None,
        "files": [],
    }


class RunStore:
    """Start, advance, stop and read runs."""

    def __init__(
        self,
        database: Database,
        buckets: BucketsStore,
        results: ResultsStore,
        files: StepFileStore,
    ) -> None:
        self.collection: AsyncCollection[Document] = database.db[COLLECTION]
        self.buckets = buckets
        self.results = results
        self.files = files

    async def create_indexes(self) -> None:
        await self.collection.create_indexes(INDEXES)

    async def counts(self) -> dict[str, int]:
        """How many runs are in each status (RUNNING, SUCCESS, FAILURE...)."""
        return await count_statuses(self.collection)

    async def start(
        self,
        workfile: Document,
        version: int,
        workflow: WorkflowFile,
        given: list[tuple[str, Any]],
        user: str,
        inputs: list[Document] | None = None,
        variables: dict[str, Any] | None = None,
    ) -> Document:
        """Create the run of `workflow` and deposit its first steps; the run document.
        UnknownVariable (400) for a variable the workflow does not declare. `inputs`:
        files staged into every step (`{"path", "bucket", "ref", "size"}`, see
        service.workfiles.stepfiles); `variables`: the values of every variable,
        already checked (instead of `given` over the defaults)."""
        if variables is None:
            variables = definition.run_variables(workflow, given)
        process_id = uuid.uuid4().hex
        operators = []
        for operator in definition.order(workflow):
            document = operator.model_dump()
            document["pipeline"] = operator.pipeline or workflow.pipeline
            document["site"] = operator.site or workflow.site
            operators.append(document)
        process = {
            "_id": process_id,
            "workflow_id": workfile["_id"],
            "workflow_name": workflow.name,
            "workspace": workfile["workspace"],
            "version": version,
            "user": user,
            "variables": variables,
            "inputs": inputs or [],
            "status": "RUNNING",
            "started_at": time.time(),
            "ended_at": None,
            "revision": 0,
            "operators": operators,
            # The steps' pipelines, for listings limited to a caller's patterns.
            "pipelines": sorted({operator["pipeline"] for operator in operators}),
            "steps": [_step(process_id, i, op["name"]) for i, op in enumerate(operators)],
        }
        await self.collection.insert_one(process)
        await self.advance(process)
        return await self.get(process_id)

    async def get(self, process_id: str, caller: Principal | None = None) -> Document:
        """The stored run; ProcessNotFound, 403 if `caller` may not touch a pipeline
        one of its steps runs in."""
        process = await self.collection.find_one({"_id": process_id})
        if process is None:
            raise process_not_found(process_id)
        if caller is not None:
            caller.check_pipelines(operator["pipeline"] for operator in process["operators"])
        return process

    async def recent(
        self, status: str | None, limit: int, caller: Principal | None = None
    ) -> list[Document]:
        """The latest `limit` runs (of `status` if given), newest first; only runs
        whose steps are all of pipelines `caller` may touch."""
        query: Document = {} if status is None else {"status": status}
        if caller is not None and caller.restricted:
            named = await self.collection.distinct("pipelines", query)
            outside = [name for name in named if not caller.allows(name)]
            query["pipelines"] = {"$exists": True, "$nin": outside}
        cursor = self.collection.find(query, sort=[("started_at", DESCENDING)], limit=limit)
        return await cursor.to_list()

    async def reconcile(self) -> dict[str, int]:
        """Advance every unfinished run once; `{"advanced", "ended"}` tallies."""
        done = {"advanced": 0, "ended": 0}
        async for process in self.collection.find({"status": "RUNNING"}):
            try:
                outcome = await self.advance(process)
            except Exception:
                # One run the database refuses (say, outputs past 16 MB) must not stall
                # every other run: log it and go on; the next pass tries it again.
                log.exception("run %s could not be advanced", process["_id"])
                continue
            if outcome:
                done["advanced"] += 1
                done["ended"] += outcome != "RUNNING"
        return done

    async def advance(self, process: Document) -> str | None:
        """Move `process` (as read) forward; its new status, or None if nothing changed
        (or another Sluice process changed it first)."""
        steps = [dict(step) for step in process["steps"]]
        operators: list[Document] = process["operators"]
        changed = collected = False
        for step, operator in zip(steps, operators, strict=True):
            if step["state"] in ACTIVE:
                changed |= await self._observe(step, operator, process["_id"])
                if step["state"] == "success" and operator.get("outputs"):
                    await self._collect(step, operator)
                    collected = True
        states = {step["state"] for step in steps}
        deposited: list[str] = []
        fresh: list[str] = []
        if "failure" in states:
            status = "FAILURE"
        elif states == {"success"}:
            status = "SUCCESS"
        else:
            status = "RUNNING"
            if not collected:
                # Files collected in this pass are recorded first: a step downstream, once
                # queued, downloads them through the stored run (the next pass queues it).
                deposited, fresh = await self._deposit_ready(process, steps)
        ended = None
        if status != "RUNNING":
            ended = time.time()
            for step in steps:
                if step["state"] in ("waiting", *ACTIVE):
                    step.update(state="cancelled", ended_at=ended)
        if not (changed or deposited or ended):
            return None
        if ended:
            # Cancel before the run reads as ended, so that nobody sees an ended run with a
            # step still queued. A step failed for good: the run ends whoever records it.
            await self.halt([step["work_id"] for step in steps])
        # An update_one: nothing is read back, and the embedded database's
        # find_one_and_update would scan every run on every advance.
        updated = await self.collection.update_one(
            {"_id": process["_id"], "revision": process["revision"], "status": "RUNNING"},
            {"$set": {"steps": steps, "status": status, "ended_at": ended},
             "$inc": {"revision": 1}},
        )  # fmt: skip
        if not updated.matched_count:
            # Ids drawn at random here are known to nobody else: another process that
            # recorded this step queued it under its own id, so ours must not run.
            await self.halt(fresh)
            if deposited:
                # The run changed under us; if it ended, what we just queued must not run.
                current = await self.get(process["_id"])
                if current["status"] != "RUNNING":
                    await self.halt(deposited)
            return None
        if status != "RUNNING":
            log.info("run %s of %s: %s", process["_id"], process["workflow_name"], status)
        return status

    async def _observe(self, step: Document, operator: Document, run: str) -> bool:
        """Update `step` from its work; whether anything changed."""
        before = dict(step)
        wanted = {step["work_id"]: operator["pipeline"]}
        found = await self.buckets.locate(wanted, self.results, run)
        work = found.get(step["work_id"])
        if work is None:
            step.update(state="failure", ended_at=time.time(),
                        error="the step's work was deleted before it finished")  # fmt: skip
            return True
        status, attempt = work.get("status"), work.get("attempt", 0)
        step.update(attempt=attempt, started_at=work.get("start") or step["started_at"])
        if await self.buckets.requeue_failure(work):
            status = "queued"
        if status in ("success", "failure"):
            results = work.get("results")
            error = results.get("error") if isinstance(results, dict) else None
            step.update(state=status, output=results, ended_at=work.get("stop") or time.time(),
                        error=None if error is None else str(error))  # fmt: skip
        elif status in ACTIVE:
            step["state"] = status
        return step != before

    async def _collect(self, step: Document, operator: Document) -> None:
        """Record the output files of a step seen succeeding; a declared output it did
        not upload fails it."""
        files, missing = await self.files.collected(
            step["work_id"], step["attempt"], operator["outputs"]
        )
        step["files"] = files
        if missing:
            error = f"declared outputs were not uploaded: {', '.join(missing)}"
            step.update(state="failure", error=error)

    async def _deposit_ready(
        self, process: Document, steps: list[Document]
    ) -> tuple[list[str], list[str]]:
        """Deposit every waiting step whose dependencies all succeeded; their work ids,
        and those of them queued under a fresh id because theirs was taken. A step whose
        work the queue refuses fails with the reason."""
        done = {step["name"]: step for step in steps if step["state"] == "success"}
        outputs = {name: step["output"] for name, step in done.items()}
        deposited: list[str] = []
        fresh: list[str] = []
        for index, (step, operator) in enumerate(zip(steps, process["operators"], strict=True)):
            if step["state"] != "waiting" or not set(operator["depends_on"]) <= set(done):
                continue
            staged = [item["path"] for item in inputs_of({**process, "steps": steps}, index)]
            step["inputs"] = staged
            try:
                try:
                    await self._deposit_step(process, step, operator, outputs)
                except Conflict as exc:
                    if step["work_id"] not in (exc.details or {}).get("ids", ()):
                        raise
                    log.warning("run %s: step id %s was taken; queued under a fresh id",
                                process["_id"], step["work_id"])  # fmt: skip
                    step["work_id"] = f"{step['work_id']}-{secrets.token_hex(8)}"
                    await self._deposit_step(process, step, operator, outputs)
                    fresh.append(step["work_id"])
            except SluiceError as exc:
                step.update(state="failure", error=f"the step could not be queued: {exc.message}",
                            ended_at=time.time())  # fmt: skip
                continue
            step["state"] = "queued"
            deposited.append(step["work_id"])
        return deposited, fresh

    async def _deposit_step(
        self, process: Document, step: Document, operator: Document, outputs: dict[str, Any]
    ) -> None:
        work = self._work(process, step, operator, outputs)
        await self.buckets.deposit([work], run=process["_id"])

    @staticmethod
    def _work(
        process: Document, step: Document, operator: Document, outputs: dict[str, Any]
    ) -> Document:
        variables = process["variables"]
        config: Document = {"parent": process["_id"], "archive": {"results": True}}
        if step.get("inputs") or operator.get("outputs"):
            # What the worker stages and uploads (service.workfiles.stepfiles).
            config["files"] = {"inputs": step["inputs"], "outputs": operator["outputs"]}
        command = operator["command"]
        if command is not None:
            command = [
                v if isinstance(v, str) else str(v)
                for v in definition.resolve(command, variables, outputs)
            ]
        return {
            "pipeline": operator["pipeline"],
            "site": operator["site"],
            "user": process["user"],
            "function": operator["function"],
            "parameters": definition.resolve(operator["parameters"], variables, outputs),
            "command": command,
            "id": step["work_id"],
            "creation": time.time(),
            "timeout": operator["timeout"],
            "retries": operator["retries"],
            "priority": operator["priority"],
            "tags": [f"workfile:{process['workflow_id']}"],
            "config": config,
        }

    async def halt(self, work_ids: list[str]) -> None:
        """Cancel these works (`BucketsStore.cancel`): queued ones are deleted, running
        ones asked to stop without a retry; finished works are left alone."""
        await self.buckets.cancel(work_ids)

    async def stop(self, process_id: str, caller: Principal | None = None) -> str:
        """Stop a run: "STOPPED" (also when it was stopped before), or "STOP FAILED"
        when it had already ended otherwise. ProcessNotFound; 409 if it kept advancing
        through every attempt; 403 as `get` (a run's steps never change, so the check
        holds for the whole stop)."""
        await self.get(process_id, caller)
        for _ in range(STOP_ATTEMPTS):
            process = await self.get(process_id)
            if process["status"] != "RUNNING":
                if process["status"] != "STOPPED":
                    return "STOP FAILED"
                break
            now = time.time()
            steps = [dict(step) for step in process["steps"]]
            for step in steps:
                if step["state"] in ("waiting", *ACTIVE):
                    step.update(state="cancelled", ended_at=now)
            updated = await self.collection.update_one(
                {"_id": process_id, "revision": process["revision"], "status": "RUNNING"},
                {"$set": {"steps": steps, "status": "STOPPED", "ended_at": now},
                 "$inc": {"revision": 1}},
            )  # fmt: skip
            if updated.matched_count:
                log.info("run %s of %s: STOPPED", process_id, process["workflow_name"])
                break
        else:
            raise Conflict(
                f"run {process_id} kept advancing during the stop; retry",
                {"process_id": process_id, "attempts": STOP_ATTEMPTS},
            )
        # Again on a repeated stop: a deposit that raced the first one is caught here.
        await self.halt([step["work_id"] for step in process["steps"]])
        return "STOPPED"
