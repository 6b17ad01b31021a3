"""Flows: registration (validated before anything is written), reads, pause, resume and
soft delete, over the `aero_flows` collection.

A flow's trigger state lives on its document: `consumed` (source id -> the version its
last run was given), `pending_run_id` (the run in flight, at most one), `dirty` (a
trigger came while one was in flight: one coalesced follow-up), `next_run_at` (TIMER and
INGESTION) and `waiting_for` (why it cannot fire). `service.flows.runs` moves them.
Duplicate registrations are refused by a unique index over the live flows' `live_hash`
(the registration's canonical hash; removed on delete), so two racing registrations of
the same flow store one.
"""

from __future__ import annotations

import time
import uuid

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from schemas.flows import POLICIES, FlowChange, FlowRequest
from service.auth.principal import Principal
from service.canonical import fingerprint
from service.db import Database, Document
from service.errors import BadRequest, Conflict, NotFound
from service.flows.checks import check_names, check_timer, task_list
from service.flows.ports import Functions, Ingestion, Sources
from service.settings import Settings

COLLECTION = "aero_flows"
INDEXES = [
    IndexModel([("live_hash", ASCENDING)], name="live_hash", unique=True, sparse=True),
    IndexModel([("input_ids", ASCENDING)], name="input_ids"),
    IndexModel([("output_ids", ASCENDING)], name="output_ids"),
    IndexModel([("state", ASCENDING), ("next_run_at", ASCENDING)], name="schedule"),
    IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="listing"),
]
NAMES = {code: name for name, code in POLICIES.items()}
SCHEDULED = (POLICIES["INGESTION"], POLICIES["TIMER"])
#: Policies whose runs fetch their one output's URL (on a timer, or once per notice).
INGESTIONS = (POLICIES["INGESTION"], POLICIES["INGESTION_EVENT"])
GATED = (POLICIES["ANY"], POLICIES["ALL"])
#: Pipelines of flow runs (a token's pipeline patterns decide who may touch them).
PIPELINES = {"ingest": "aero-ingest", "analysis": "aero-analysis"}
#: Most flows one ancestry walk (the cycle check) visits.
MAX_WALK = 1000


class FlowNotFound(NotFound):
    code = "flow_not_found"


def flow_not_found(flow_id: str) -> FlowNotFound:
    return FlowNotFound(f"no flow with id {flow_id!r}", {"flow_id": flow_id})


def policy_code(policy: str | int) -> int:
    """AERO's integer for `policy` (a name or its integer); 400 if it is neither."""
    if isinstance(policy, str) and policy.upper() in POLICIES:
        return POLICIES[policy.upper()]
    if isinstance(policy, int) and not isinstance(policy, bool) and policy in NAMES:
        return policy
    raise BadRequest(
        f"unknown policy {policy!r}: one of {', '.join(POLICIES)} or {sorted(NAMES)}",
        {"policy": policy},
    )


def pipeline_of(request: FlowRequest) -> str:
    """The pipeline of the runs of the flow `request` registers."""
    if request.pipeline is not None:
        return request.pipeline
    ingestion = policy_code(request.policy) in INGESTIONS
    return PIPELINES["ingest" if ingestion else "analysis"]


async def visible_pipelines(
    collection: AsyncCollection[Document], caller: Principal | None
) -> Document:
    """The filter on `pipeline` keeping what `caller` may see of `collection` (empty
    for an unrestricted caller)."""
    if caller is None or not caller.restricted:
        return {}
    named = await collection.distinct("pipeline")
    return {"pipeline": {"$in": [name for name in named if caller.allows(name)]}}


def kind_of(flow: Document) -> str:
    """`ingest` for an INGESTION or INGESTION_EVENT flow's runs, else `analysis`."""
    return "ingest" if flow["policy"] in INGESTIONS else "analysis"


class FlowStore:
    """Register, read and change flows."""

    def __init__(
        self,
        database: Database,
        sources: Sources,
        functions: Functions,
        ingestion: Ingestion,
        settings: Settings,
    ) -> None:
        self.database = database
        self.collection: AsyncCollection[Document] = database.db[COLLECTION]
        self.sources = sources
        self.functions = functions
        self.ingestion = ingestion
        self.settings = settings

    async def create_indexes(self) -> None:
        await self.collection.create_indexes(INDEXES)

    async def get(
        self, flow_id: str, caller: Principal | None = None, include_deleted: bool = False
    ) -> Document:
        """The stored flow; FlowNotFound (also for a deleted one unless
        `include_deleted`), 403 if `caller` may not touch its pipeline."""
        flow = await self.collection.find_one({"_id": flow_id})
        if flow is None or (flow["state"] == "deleted" and not include_deleted):
            raise flow_not_found(flow_id)
        if caller is not None:
            caller.check_pipelines([flow["pipeline"]])
        return flow

    async def visible(self, caller: Principal | None) -> Document:
        """The filter of the live flows `caller` may see."""
        return {"state": {"$ne": "deleted"}, **await visible_pipelines(self.collection, caller)}

    async def register(self, request: FlowRequest, owner: str) -> Document:
        """Validate and store a flow; the stored document. 400 for an unregistered
        function, an unknown source or pinned version, a name clash, a missing input, a
        missing ingestion URL or one ingestion may not fetch (not http(s), or its host not
        in SLUICE_AERO_INGEST_HOSTS), a cycle or a timer outside SLUICE_AERO_MIN_TIMER and
        SLUICE_AERO_MAX_TIMER; 409 for a duplicate (naming it) or an output another live
        flow produces."""
        policy = policy_code(request.policy)
        function_path = await self._function_path(request.function_id, policy)
        tasks = task_list(request, policy in INGESTIONS, self.settings)
        check_names(request, tasks)
        inputs: dict[str, Document] = {}
        for name, given in request.inputs.items():
            await self._source(given.data_id, f"input {name!r}")
            if given.version is not None:
                try:
                    await self.sources.version(given.data_id, given.version)
                except NotFound:
                    raise BadRequest(
                        f"input {name!r}: version {given.version} of source "
                        f"{given.data_id!r} does not exist",
                        {"input": name, "data_id": given.data_id, "version": given.version},
                    ) from None
            inputs[name] = {"data_id": given.data_id, "version": given.version,
                            "fetch": given.fetch}  # fmt: skip
        for name, output in request.outputs.items():
            if output.data_id is not None:
                await self._source(output.data_id, f"output {name!r}")
        if policy in GATED and not inputs:
            raise BadRequest(f"policy {NAMES[policy]} needs at least one input", {})
        if policy in INGESTIONS:
            await self._check_ingestion(request, NAMES[policy])
        timer = check_timer(policy in SCHEDULED, request.timer, self.settings)
        pipeline = pipeline_of(request)
        arg_hash = fingerprint(
            {
                # The same flow in another pipeline is another flow (whose callers may
                # not see this one): a duplicate is one of the same pipeline.
                "pipeline": pipeline,
                "function_id": request.function_id,
                "policy": policy,
                "site": request.site,
                "inputs": {n: [i["data_id"], i["version"]] for n, i in inputs.items()},
                "outputs": {n: [o.data_id, o.name, o.url] for n, o in request.outputs.items()},
                "kwargs": request.kwargs,
                **({} if tasks is None else {"tasks": tasks}),
            }
        )
        await self._refuse_duplicate(arg_hash)
        bound = [o.data_id for o in request.outputs.values() if o.data_id is not None]
        await self._check_outputs(bound, [i["data_id"] for i in inputs.values()], pipeline)
        flow_id = uuid.uuid4().hex
        now = time.time()
        flow: Document = {
            "_id": flow_id,
            "function_id": request.function_id,
            "function_path": function_path,
            "site": request.site,
            "compat": {"pull_function_id": request.pull_function_id,
                       "commit_function_id": request.commit_function_id},
            "inputs": inputs,
            "input_ids": sorted({i["data_id"] for i in inputs.values()}),
            "kwargs": request.kwargs if tasks is None else tasks[0],
            "tasks": tasks,
            "policy": policy,
            "timer": timer,
            "description": request.description,
            "owner": owner,
            "pipeline": pipeline,
            "timeout": request.timeout or self.settings.aero_run_timeout,
            "retries": self.settings.aero_run_retries if request.retries is None
                       else request.retries,
            "state": "active",
            "arg_hash": arg_hash,
            "live_hash": arg_hash,
            "next_run_at": now if policy in SCHEDULED else None,
            "consumed": {},
            "pending_run_id": None,
            "dirty": None,
            "failed_inputs": None,
            "waiting_for": [],
            "last_enqueued_at": None,
            "last_committed_at": None,
            "last_run_id": None,
            "last_error": None,
            "created_at": now,
        }  # fmt: skip

        async def store(session: AsyncClientSession) -> None:
            # The new output sources and the flow together: a refused output (400), a
            # duplicate or a crash leaves neither.
            outputs: dict[str, Document] = {}
            for name, output in request.outputs.items():
                data_id = output.data_id
                if data_id is None:
                    created = await self.sources.create(
                        output.name or name, owner=owner, url=output.url,
                        description=output.description or "", kind="derived",
                        producer_flow_id=flow_id, session=session,
                    )  # fmt: skip
                    data_id = created["_id"]
                outputs[name] = {"data_id": data_id, "url": output.url}
            flow["outputs"] = outputs
            flow["output_ids"] = sorted({o["data_id"] for o in outputs.values()})
            await self.collection.insert_one(flow, session=session)

        try:
            await self.database.transaction(store)
        except DuplicateKeyError:
            await self._refuse_duplicate(arg_hash)
            raise
        return flow

    async def check_producers(self, data_id: str, caller: Principal | None) -> None:
        """403 unless `caller` may touch the pipeline of each live flow producing source
        `data_id`: a flow's output is written through that flow's pipeline only (another
        pipeline's commit, or change of its URL, would feed the flow's runs)."""
        if caller is None or not caller.restricted:
            return
        cursor = self.collection.find(
            {"output_ids": data_id, "state": {"$ne": "deleted"}}, {"pipeline": True}
        )
        pipelines = [flow["pipeline"] async for flow in cursor]
        if pipelines:
            caller.check_pipelines(pipelines)

    async def _function_path(self, function_id: str | None, policy: int) -> str | None:
        """The dotted path of the registered function `function_id`; 400 if it is not
        registered, or missing from a flow other than an ingestion (Sluice's own
        fetch-and-commit is an ingestion's work)."""
        if function_id is None:
            if policy in INGESTIONS:
                return None
            raise BadRequest(f"a {NAMES[policy]} flow needs a function_id", {})
        try:
            function = await self.functions.get(function_id)
        except NotFound:
            raise BadRequest(
                f"function not registered with Sluice: {function_id}",
                {"function_id": function_id},
            ) from None
        path: str = function["path"]
        return path

    async def _source(self, data_id: str, what: str) -> Document:
        try:
            return await self.sources.get(data_id)
        except NotFound:
            raise BadRequest(
                f"{what}: no source with id {data_id!r}", {"data_id": data_id}
            ) from None

    async def _check_ingestion(self, request: FlowRequest, policy: str) -> None:
        if len(request.outputs) != 1:
            raise BadRequest(f"an {policy} flow has exactly one output: the source it fetches", {})
        (output,) = request.outputs.values()
        url = output.url
        if output.data_id is not None:
            url = url or (await self._source(output.data_id, "output")).get("url")
        if not url:
            raise BadRequest(f"an {policy} flow's output needs a url (or a source with one)", {})
        refused = self.ingestion.refusal(url)
        if refused is not None:
            # Refused now, not at its first run (which would fail with the same reason).
            raise BadRequest(
                f"an {policy} flow's url cannot be fetched: {refused['message']}",
                {"url": url, "reason": refused["code"]},
            )

    async def _refuse_duplicate(self, arg_hash: str) -> None:
        existing = await self.collection.find_one({"live_hash": arg_hash}, {"_id": True})
        if existing is not None:
            raise Conflict("Flow already exists", {"flow_id": existing["_id"]})

    async def _check_outputs(self, bound: list[str], inputs: list[str], pipeline: str) -> None:
        """409 if a bound output has a live producer (named when it is a flow of
        `pipeline`, the new flow's: one of another pipeline stays unseen); 400 if it is
        an input or an ancestor of one (a flow that would trigger itself)."""
        if not bound:
            return
        producer = await self.collection.find_one(
            {"output_ids": {"$in": bound}, "state": {"$ne": "deleted"}},
            {"_id": True, "pipeline": True},
        )
        if producer is not None:
            shown = {"flow_id": producer["_id"]} if producer.get("pipeline") == pipeline else {}
            raise Conflict("an output is already produced by another flow", shown)
        ancestors = set(inputs)
        frontier = list(inputs)
        visited = 0
        while frontier and visited < MAX_WALK:
            cursor = self.collection.find(
                {"output_ids": {"$in": frontier}, "state": {"$ne": "deleted"}},
                {"input_ids": True},
                limit=MAX_WALK,
            )
            frontier = []
            async for flow in cursor:
                visited += 1
                fresh = [d for d in flow["input_ids"] if d not in ancestors]
                ancestors.update(fresh)
                frontier.extend(fresh)
        cyclic = sorted(ancestors.intersection(bound))
        if cyclic:
            raise BadRequest(
                "an output is an input or an ancestor of one: the flow would trigger itself",
                {"data_ids": cyclic},
            )

    async def change(
        self, flow_id: str, change: FlowChange, caller: Principal | None = None
    ) -> Document:
        """Pause, resume, or change the timer or description; the flow after."""
        flow = await self.get(flow_id, caller)
        update: Document = {}
        if change.description is not None:
            update["description"] = change.description
        if change.timer is not None:
            update["timer"] = check_timer(flow["policy"] in SCHEDULED, change.timer, self.settings)
        if change.state is not None:
            update["state"] = change.state
            if change.state == "active" and flow["policy"] in SCHEDULED:
                update["next_run_at"] = time.time()
        if not update:
            return flow
        changed = await self.collection.find_one_and_update(
            {"_id": flow_id, "state": {"$ne": "deleted"}},
            {"$set": update},
            return_document=ReturnDocument.AFTER,
        )
        if changed is None:
            raise flow_not_found(flow_id)
        return changed

    async def delete(self, flow_id: str, caller: Principal | None = None) -> None:
        """Soft-delete: the flow stops firing, its provenance stays; FlowNotFound."""
        await self.get(flow_id, caller)
        deleted = await self.collection.update_one(
            {"_id": flow_id, "state": {"$ne": "deleted"}},
            {"$set": {"state": "deleted", "next_run_at": None}, "$unset": {"live_hash": ""}},
        )
        if deleted.matched_count == 0:
            raise flow_not_found(flow_id)

    async def transforming(self, data_id: str) -> Document | None:
        """The live ingestion flow producing `data_id` through a transform, if any."""
        return await self.collection.find_one(
            {"output_ids": data_id, "state": {"$ne": "deleted"},
             "policy": {"$in": list(INGESTIONS)}, "function_path": {"$ne": None}},
        )  # fmt: skip

    async def consumers(self, data_id: str) -> list[Document]:
        """The live ANY/ALL flows with `data_id` among their inputs."""
        cursor = self.collection.find(
            {"input_ids": data_id, "state": "active", "policy": {"$in": list(GATED)}},
            limit=self.settings.aero_max_dependants,
        )
        return await cursor.to_list()
