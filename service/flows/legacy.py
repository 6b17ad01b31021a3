"""`POST /prov/new` of the AERO surface: a run committed by an external or legacy (AERO)
worker, whose bytes Sluice never holds.

The body is the run's `aero` block (`{aero: {...}}` or flat): each input names the exact
version it read (resolved to its version id), each output a reference-only version
(`file_bn` its file name, compared with the latest by `checksum`). In one transaction
every output goes through the data store's one commit path (keyed by run and output,
so a repeat answers the first outcome) and the run's provenance record is inserted,
unique by run id: the `X-Sluice-Run-Id` header, or a fresh id. A repeated post of a
run id answers its record; two racing ones store one (the unique index decides, the
loser reads the winner's). Only versions created fire the flows consuming them: an
unchanged output is `reproduced`, as in every Sluice run.
"""

from __future__ import annotations

import uuid
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from schemas.flows import ProvNew
from service.auth.principal import Principal
from service.data.compat import mime_of
from service.db import Database, Document
from service.errors import BadRequest, Conflict, NotFound
from service.flows.commit import entry
from service.flows.provenance import ProvenanceStore
from service.flows.runs import Triggers
from service.validation import parse_model

#: Longest `X-Sluice-Run-Id` taken (run ids are 32 hex digits; others' are theirs).
MAX_RUN_ID = 128


def block_of(body: Any) -> ProvNew:
    """The `aero` block of a `/prov/new` body (`{aero: {...}}` or the block itself);
    400 if it is neither, 422 for a field of the wrong kind."""
    if isinstance(body, dict) and set(body) == {"aero"}:
        body = body["aero"]
    if not isinstance(body, dict):
        raise BadRequest("the body must be the run's aero block: {input_data, output_data, "
                         "flow_id}, or {aero: {...}}")  # fmt: skip
    return parse_model(ProvNew, body)


def run_id_of(header: str | None) -> str:
    """The run id a post commits: its `X-Sluice-Run-Id`, else a fresh one."""
    if header is None:
        return uuid.uuid4().hex
    if not 0 < len(header) <= MAX_RUN_ID or not header.isprintable():
        raise BadRequest(
            f"X-Sluice-Run-Id must be 1-{MAX_RUN_ID} printable characters",
            {"header": "x-sluice-run-id"},
        )
    return header


class LegacyCommits:
    """Runs committed whole in one post, by workers Sluice did not queue."""

    def __init__(self, database: Database, triggers: Triggers, provenance: ProvenanceStore) -> None:
        self.database = database
        self.triggers = triggers
        self.flows = triggers.flows
        self.sources = triggers.flows.sources
        self.provenance = provenance

    async def commit(
        self, block: ProvNew, run_id: str, caller: Principal | None = None
    ) -> Document:
        """Commit the run's outputs and record its provenance, once per run id; the
        record. 400 for an unknown flow, input or version, an output the flow does not
        produce; 409 for a run id of a Sluice-queued run or another flow's record."""
        flow = await self._flow(block.flow_id, caller)
        if await self.triggers.collection.find_one({"_id": run_id}, {"_id": True}) is not None:
            raise Conflict(
                f"run {run_id} is a run Sluice queued: its worker commits it", {"run_id": run_id}
            )
        inputs = await self._inputs(block)
        outputs = self._outputs(block, flow)
        prior = await self._recorded(run_id, flow)
        if prior is not None:
            return prior
        run: Document = {
            "_id": run_id, "flow_id": flow["_id"], "pipeline": flow["pipeline"],
            "function_id": flow["function_id"], "function_path": flow["function_path"],
            "inputs": inputs, "started_at": None,
        }  # fmt: skip

        async def body(session: AsyncClientSession) -> tuple[Document, list[Document]]:
            return await self._commit_in(run, outputs, session)

        try:
            record, created = await self.database.transaction(body)
        except DuplicateKeyError:
            # A rival post of the same run id committed first: its record is the answer.
            prior = await self._recorded(run_id, flow)
            if prior is None:
                raise
            return prior
        for version in created:
            await self.sources.notify(version)
        return record

    async def _commit_in(
        self, run: Document, outputs: dict[str, Document], session: AsyncClientSession
    ) -> tuple[Document, list[Document]]:
        """Within one transaction: each output's reference version, then the record;
        the record and the versions created (none when the record was there)."""
        found = await self.provenance.collection.find_one({"run_id": run["_id"]}, session=session)
        if found is not None:
            return found, []
        committed: dict[str, Document] = {}
        created: list[Document] = []
        for name, output in outputs.items():
            done = await self.sources.commit_reference(
                output["id"], checksum=output["checksum"], file_name=output["file_bn"],
                file_type=output["file_type"], size=output["size"],
                encoding=output["encoding"], source_key=output["source_key"],
                run_id=run["_id"], flow_id=run["flow_id"],
                commit_key=f"{run['_id']}:{name}", session=session,
            )  # fmt: skip
            committed[name] = entry(done.created, done.version)
            if done.created:
                created.append(done.version)
        made = [c["version_id"] for c in committed.values() if c["created"]]
        same = [c["version_id"] for c in committed.values() if not c["created"]]
        record = await self.provenance.record(
            {**run, "committed": committed}, made, same, None, session
        )
        return record, created

    async def _flow(self, flow_id: str, caller: Principal | None) -> Document:
        try:
            return await self.flows.get(flow_id, caller)
        except NotFound:
            raise BadRequest(f"no flow with id {flow_id!r}", {"flow_id": flow_id}) from None

    async def _recorded(self, run_id: str, flow: Document) -> Document | None:
        """The record of `run_id` if one exists; 409 if it is another flow's."""
        found = await self.provenance.collection.find_one({"run_id": run_id})
        if found is not None and found["flow_id"] != flow["_id"]:
            raise Conflict(
                f"run {run_id} is recorded for flow {found['flow_id']}",
                {"run_id": run_id, "flow_id": found["flow_id"]},
            )
        return found

    async def _inputs(self, block: ProvNew) -> dict[str, Document]:
        """Each input as the version it names: {data_id, version, version_id, sha256}."""
        inputs: dict[str, Document] = {}
        for name, given in block.input_data.items():
            if given.id is None or given.version is None:
                raise BadRequest(
                    f"input {name!r} needs the id and version it read", {"input": name}
                )
            try:
                version = await self.sources.version(given.id, given.version)
            except NotFound:
                raise BadRequest(
                    f"input {name!r}: data {given.id!r} has no version {given.version}",
                    {"input": name, "data_id": given.id, "version": given.version},
                ) from None
            inputs[name] = {"data_id": given.id, "version": given.version,
                            "version_id": version["_id"],
                            "sha256": version.get("sha256")}  # fmt: skip
        return inputs

    def _outputs(self, block: ProvNew, flow: Document) -> dict[str, Document]:
        """Each output as what its commit takes; 400 for data the flow does not produce."""
        outputs: dict[str, Document] = {}
        for name, given in block.output_data.items():
            if given.id not in flow["output_ids"]:
                raise BadRequest(
                    f"output {name!r}: flow {flow['_id']} does not produce data {given.id!r}",
                    {"output": name, "data_id": given.id, "outputs": flow["output_ids"]},
                )
            outputs[name] = {**given.model_dump(), "file_type": mime_of(given.file_format)}
        return outputs
