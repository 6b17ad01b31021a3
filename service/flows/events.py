"""Event ingestion: `POST /aero/data/{id}/notify` runs the INGESTION_EVENT flow that
produces a source once, as a manual run would (trigger `notify`).

An INGESTION_EVENT flow has no timer; each notice queues one ingestion run of it, whose
work fetches the source's own URL through the ingestion every INGESTION flow uses (its
conditional GET with the last ETag and Last-Modified: an upstream that did not change
is an `unchanged` run, with no version and no provenance). A notice never names what
is fetched: a `url` it carries must be the source's. Runs coalesce as every trigger
does (one in flight, one follow-up); a notice repeating the ETag of the run in flight
(a webhook retried) joins that run without a follow-up.
"""

from __future__ import annotations

import time

from schemas.flows import POLICIES, Notice
from service.auth.principal import Principal
from service.db import Document
from service.errors import BadRequest
from service.flows.runs import Triggers
from service.flows.store import FlowStore

EVENT = POLICIES["INGESTION_EVENT"]


class Events:
    """Notices of changed upstreams, each run by the flow ingesting that source."""

    def __init__(self, store: FlowStore, triggers: Triggers) -> None:
        self.store = store
        self.triggers = triggers

    async def _producer(
        self, data_id: str, caller: Principal | None = None
    ) -> tuple[Document, Document]:
        """The source `data_id` and the live INGESTION_EVENT flow producing it; 404 for
        an unknown source, 400 if no such flow produces it, 403 outside `caller`'s
        pipelines."""
        source = await self.store.sources.get(data_id)
        flow = await self.store.collection.find_one(
            {"output_ids": data_id, "policy": EVENT, "state": {"$ne": "deleted"}}
        )
        if flow is None:
            raise BadRequest(
                f"no INGESTION_EVENT flow produces data {data_id}: register one to notify it",
                {"data_id": data_id},
            )
        if caller is not None:
            caller.check_pipelines([flow["pipeline"]])
        return source, flow

    async def notify(
        self, data_id: str, notice: Notice, caller: Principal | None = None
    ) -> tuple[Document, Document | None]:
        """Queue one ingestion run of the flow producing `data_id`; the flow and the run,
        or None for the run when it joined the run in flight. 400 when the flow is
        paused or the notice's `url` is not the source's."""
        source, flow = await self._producer(data_id, caller)
        if flow["state"] != "active":
            raise BadRequest(f"flow {flow['_id']} is {flow['state']}; resume it first", {})
        url = source.get("url")
        if notice.url is not None and notice.url != url:
            raise BadRequest(
                f"the notice is about {notice.url!r}; data {data_id} is fetched from {url!r}",
                {"url": notice.url, "data_id": data_id},
            )
        # The same ETag while its run is pending derives the same run id: no second run.
        key = ["notify", notice.etag] if notice.etag is not None else ["notify", time.time()]
        run = await self.triggers.enqueue(
            flow, {}, "notify", key, notice=notice.model_dump(exclude_none=True)
        )
        return flow, run
