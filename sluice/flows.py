"""Python client for versioned data and the flows over it: `Flows`, the whole AERO
client side in one (`sluice.data.Data`'s methods, plus flows).

`register_flow` and `get_flow` take the AERO client's arguments and meanings; on top of
them: listing, manual runs, pause/resume/delete, runs, provenance and lineage. Every
failure raises a `sluice.errors.SluiceError` carrying the server's status and message.

    with Flows("http://127.0.0.1:8000") as flows:
        function_id = flows.register_function("mypackage.analysis.summarize")
        flow = flows.register_flow("default", function_id,
                                   input_data={"cases": {"id": source_id}},
                                   output_data={"summary": {}}, policy="ANY")
        flows.get_flow(flow["id"], inputs_only=False)["waiting_for"]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sluice.core.plan import Document
from sluice.data import Data
from sluice.plans import flows as plans


def _inputs(input_data: Mapping[str, Any]) -> Document:
    """AERO's `{name: {id, version}}` as the native `{name: {data_id, version}}`."""
    inputs: Document = {}
    for name, given in input_data.items():
        entry = dict(given)
        if "id" in entry:
            entry["data_id"] = entry.pop("id")
        inputs[name] = entry
    return inputs


def _outputs(output_data: Mapping[str, Any]) -> Document:
    outputs: Document = {}
    for name, given in output_data.items():
        entry = {k: v for k, v in dict(given).items()
                 if k in ("id", "data_id", "name", "url", "description")}  # fmt: skip
        if "id" in entry:
            entry["data_id"] = entry.pop("id")
        outputs[name] = entry
    return outputs


class Flows(Data):
    """Blocking client for the versioned data and flows of one Sluice server (`/aero`);
    arguments as `sluice.core.sender.Sender`."""

    def register_flow(
        self,
        endpoint_uuid: str,
        function_uuid: str | None,
        input_data: Mapping[str, Any] | None = None,
        output_data: Mapping[str, Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        config: str | None = None,
        description: str | None = None,
        policy: str | int = "NONE",
        timer_delay: int | None = None,
        pull_function_uuid: str | None = None,
        commit_function_uuid: str | None = None,
        *,
        tasks: Sequence[Mapping[str, Any]] | None = None,
        timeout: int | None = None,
        retries: int | None = None,
    ) -> Document:
        """Register a flow running function `function_uuid` (a Sluice function id; None
        for an INGESTION or INGESTION_EVENT flow) on workers of site `endpoint_uuid`; the flow.
        `input_data` is `{name: {"id", "version"}}` (version None: the latest),
        `output_data` `{name: {...}}` (`id` to write an existing source, `url` for an
        ingestion), `policy` a name or AERO's integer. `tasks` (instead of `kwargs`):
        one kwargs object per task, each run one work per task. `config` files are
        refused (pass `tasks`); the helper function ids are stored and echoed, never
        run."""
        if config is not None:
            raise ValueError("config files are not supported: pass kwargs, or tasks=[...]")
        body: Document = {
            "function_id": function_uuid,
            "site": endpoint_uuid,
            "inputs": _inputs(input_data or {}),
            "outputs": _outputs(output_data or {}),
            "kwargs": dict(kwargs or {}),
            "tasks": None if tasks is None else [dict(task) for task in tasks],
            "description": description,
            "policy": getattr(policy, "name", policy),
            "timer": timer_delay,
            "pull_function_id": pull_function_uuid,
            "commit_function_id": commit_function_uuid,
            "timeout": timeout,
            "retries": retries,
        }
        return self._run(plans.register(body))

    def get_flow(self, flow_id: str, inputs_only: bool = True) -> Document:
        """The flow; with `inputs_only` (AERO's default) what its function is given, as
        AERO's `function_args.kwargs`: the kwargs plus an `aero` block of its
        `input_data` (`{name: {id, version}}`), `output_data` and `flow_id`."""
        flow = self._run(plans.get(flow_id))
        if not inputs_only:
            return flow
        aero = {
            "input_data": {n: {"id": i["data_id"], "version": i["version"]}
                           for n, i in flow["inputs"].items()},
            "output_data": {n: {"id": o["data_id"], "url": o["url"]}
                            for n, o in flow["outputs"].items()},
            "flow_id": flow["id"],
        }  # fmt: skip
        return {**flow["kwargs"], "aero": aero}

    def list_flows(self) -> list[Document]:
        """Every live flow, newest first."""
        return self._run(plans.every("flows"))

    def run_flow(self, flow_id: str, force: bool = False) -> Document:
        """Run the flow now; the run, or `{"coalesced": True}` when one is in flight.
        `force` (an ingestion): fetch unconditionally and transform even an unchanged
        upstream."""
        return self._run(plans.run(flow_id, force))

    def pause_flow(self, flow_id: str) -> Document:
        """Stop the flow firing until resumed; the flow."""
        return self._run(plans.change(flow_id, {"state": "paused"}))

    def resume_flow(self, flow_id: str) -> Document:
        """Let a paused flow fire again; the flow."""
        return self._run(plans.change(flow_id, {"state": "active"}))

    def delete_flow(self, flow_id: str) -> bool:
        """Delete the flow (its provenance stays)."""
        return self._run(plans.delete(flow_id))

    def runs(self, flow_id: str, limit: int = 50) -> list[Document]:
        """The flow's latest runs, newest first."""
        return self._run(plans.runs(flow_id, limit))

    def get_run(self, run_id: str) -> Document:
        """One run: status, the input versions it was given, what it committed."""
        return self._run(plans.get_run(run_id))

    def provenance(
        self,
        flow_id: str | None = None,
        version_id: str | None = None,
        run_id: str | None = None,
    ) -> list[Document]:
        """Provenance records (of a flow, of a run, or touching a version), newest
        first; a run of several tasks has one per task."""
        return self._run(
            plans.every("provenance", flow_id=flow_id, version_id=version_id, run_id=run_id)
        )

    def lineage(
        self, data_id: str, version: int, direction: str = "up", depth: int | None = None
    ) -> Document:
        """What version `version` of `data_id` was derived from (`up`), or everything
        derived from it (`down`): `{versions, records, truncated}`."""
        return self._run(plans.lineage(data_id, version, direction, depth))
