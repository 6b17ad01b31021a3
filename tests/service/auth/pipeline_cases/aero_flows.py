"""Route-walk cases of AERO flows, their runs and provenance, native (`/aero/...`) and
on the AERO-compatible surface: a flow belongs to the pipeline of its runs' works, so
a token limited to pipeline A neither sees nor touches pipeline B's flows, runs,
provenance records or their lineage."""

from __future__ import annotations

import json
from typing import Any

from tests.service.auth.pipeline_cases.cases import Case, call, forbidden, hidden
from tests.service.auth.pipeline_world import World

_AERO = "/osprey/api/v1.0"


def _flow(world: World) -> str:
    return f"/aero/flows/{world.aero_flow}"


def _run(world: World) -> str:
    return f"/aero/runs/{world.aero_run}"


def _no_b(world: World, body: Any) -> bool:
    text = json.dumps(body)
    return world.aero_flow not in text and world.aero_provenance not in text


def _no_records(world: World, body: Any) -> bool:
    return bool(body["records"] == [] and body["versions"] == [])


def _registration(world: World) -> dict[str, Any]:
    return {"function_id": world.aero_function, "pipeline": world.b, "site": "walk",
            "inputs": {"cases": {"data_id": world.aero_data}}, "policy": "ANY"}  # fmt: skip


def _compat_registration(world: World) -> dict[str, Any]:
    return {"function_uuid": world.aero_function, "gc_endpoint": "walk", "rule": 2,
            "input_data": {"cases": {"id": world.aero_data}}}  # fmt: skip


def _legacy_commit(world: World) -> dict[str, Any]:
    return {"input_data": {"cases": {"id": world.aero_data, "version": 1}}, "output_data": {},
            "flow_id": world.aero_flow}  # fmt: skip


CASES: dict[tuple[str, str], Case] = {
    ("POST", "/aero/flows"): forbidden(call("/aero/flows", json=_registration)),
    ("GET", "/aero/flows"): hidden(_no_b, call("/aero/flows")),
    ("GET", "/aero/flows/{flow_id}"): forbidden(call(_flow)),
    ("PATCH", "/aero/flows/{flow_id}"): forbidden(call(_flow, json={"state": "paused"})),
    ("DELETE", "/aero/flows/{flow_id}"): forbidden(call(_flow)),
    ("POST", "/aero/flows/{flow_id}/runs"): forbidden(call(lambda w: f"{_flow(w)}/runs")),
    ("GET", "/aero/flows/{flow_id}/runs"): forbidden(call(lambda w: f"{_flow(w)}/runs")),
    ("GET", "/aero/runs/{run_id}"): forbidden(call(_run)),
    ("POST", "/aero/runs/{run_id}/task"): forbidden(call(lambda w: f"{_run(w)}/task")),
    ("POST", "/aero/runs/{run_id}/outputs/{name}"): forbidden(
        call(lambda w: f"{_run(w)}/outputs/summary", content=b"forged")
    ),
    ("POST", "/aero/runs/{run_id}/commit"): forbidden(call(lambda w: f"{_run(w)}/commit", json={})),
    ("POST", "/aero/runs/{run_id}/fail"): forbidden(
        call(lambda w: f"{_run(w)}/fail", json={"error": "forged"})
    ),
    ("POST", "/aero/runs/{run_id}/ingest"): forbidden(call(lambda w: f"{_run(w)}/ingest")),
    ("GET", "/aero/runs/{run_id}/source"): forbidden(call(lambda w: f"{_run(w)}/source")),
    # A notice of B's event source would queue a run of B's flow: 403 before anything.
    ("POST", "/aero/data/{data_id}/notify"): forbidden(
        call(lambda w: f"/aero/data/{w.aero_event_data}/notify", json={}),
        call(lambda w: f"/aero/data/{w.aero_event_data}/notify"),
    ),
    ("GET", "/aero/provenance"): hidden(_no_b, call("/aero/provenance")),
    ("GET", "/aero/provenance/{provenance_id}"): forbidden(
        call(lambda w: f"/aero/provenance/{w.aero_provenance}")
    ),
    ("GET", "/aero/data/{data_id}/versions/{version}/lineage"): hidden(
        _no_records,
        call(
            lambda w: f"/aero/data/{w.aero_data}/versions/1/lineage", params={"direction": "down"}
        ),
    ),
    ("GET", f"{_AERO}/flow"): hidden(_no_b, call(f"{_AERO}/flow")),
    ("POST", f"{_AERO}/flow/register"): forbidden(
        call(f"{_AERO}//flow/register", json=_compat_registration)
    ),
    ("GET", f"{_AERO}/flow/{{flow_id}}"): forbidden(call(lambda w: f"{_AERO}//flow/{w.aero_flow}")),
    ("GET", f"{_AERO}/prov"): hidden(_no_b, call(f"{_AERO}/prov")),
    # A valid commit of B's flow (no outputs): it would add a provenance record.
    ("POST", f"{_AERO}/prov/new"): forbidden(
        call(f"{_AERO}//prov/new", json=_legacy_commit),
        call(
            f"{_AERO}//prov/new",
            json=lambda w: {"aero": _legacy_commit(w)},
            headers={"X-Sluice-Run-Id": "walk-legacy"},
        ),
    ),
}
