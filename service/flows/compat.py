"""The flow and provenance routes of the AERO-compatible surface (mounted with the data
routes under SLUICE_AERO_PREFIX): `POST /flow/register`, `GET /flow/{id}`, the `/flow`
and `/prov` listings (15 a page, 404 past the end: the client's stop; the mount's path
rules serve `/flow/` and `//flow` here too) and `POST /prov/new`, an AERO worker's
commit of a whole run (service.flows.legacy).

Shapes are AERO's keys in AERO's order, then Sluice's extras: `function_args` is always
an object (`{kwargs: {...kwargs, aero: {input_data, output_data, flow_id}}, function,
endpoint}`), times are ISO 8601 UTC, and a duplicate registration is 409 naming the
flow (AERO answered 404 with code 501).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from schemas.flows import FlowRequest, ProvNew
from service.auth import principal, record
from service.body import request_json
from service.data.fields import iso
from service.data.listing import aero_page
from service.data.present import data_json, version_json
from service.db import Document
from service.errors import BadRequest, NotFound
from service.flows.legacy import block_of, run_id_of
from service.flows.routes import flows, register
from service.jsonio import JSONResponse
from service.routing import Endpoint, Param
from service.stores import stores
from service.validation import parse_model

#: The keys of an AERO registration body (both client generations).
REGISTER_KEYS = (
    "input_data", "output_data", "description", "gc_endpoint", "function_uuid",
    "pull_function_uuid", "commit_function_uuid", "flow_kwargs", "rule", "timer",
    "timer_delay", "tasks", "email", "tags",
)  # fmt: skip


def when(seconds: float | None) -> str | None:
    """Epoch seconds as AERO's ISO 8601 UTC."""
    return None if seconds is None else iso(datetime.fromtimestamp(seconds, UTC))


async def flow_json(request: Request, flow: Document) -> Document:
    """FlowJSON of a stored flow."""
    data = stores(request).data
    found = await data.many([*flow["input_ids"], *flow["output_ids"]])
    input_data = {name: {"id": given["data_id"], "version": given["version"]}
                  for name, given in flow["inputs"].items()}  # fmt: skip
    output_data = {name: {"id": given["data_id"], "url": given["url"]}
                   for name, given in flow["outputs"].items()}  # fmt: skip
    scheduled = flow["next_run_at"] is not None

    def arguments(task: Document) -> Document:
        aero = {"input_data": input_data, "output_data": output_data, "flow_id": flow["_id"]}
        return {"kwargs": {**task, "aero": aero}, "function": flow["function_id"],
                "endpoint": flow["site"]}  # fmt: skip

    shown = {
        "id": flow["_id"],
        "derived_from": [data_json(found[d]) for d in flow["input_ids"] if d in found],
        "contributed_to": [data_json(found[d]) for d in flow["output_ids"] if d in found],
        "description": flow["description"],
        "endpoint": flow["site"],
        "function_id": flow["function_id"],
        "function_args": arguments(flow["kwargs"]),
        "timer": flow["timer"],
        "policy": flow["policy"],
        "timer_job_id": flow["_id"] if scheduled else None,
        "last_executed": when(flow["last_enqueued_at"]),
        "pull_function_id": flow["compat"]["pull_function_id"],
        "commit_function_id": flow["compat"]["commit_function_id"],
        "state": flow["state"],
        "next_run_at": when(flow["next_run_at"]),
        "waiting_for": flow["waiting_for"],
        "created_at": when(flow["created_at"]),
    }
    if flow.get("tasks"):
        shown["tasks"] = [arguments(task) for task in flow["tasks"]]
    return shown


async def _versions(request: Request, entries: list[Document]) -> list[Document]:
    data = stores(request).data
    shown = []
    for entry in entries:
        try:
            version = await data.version(entry["data_id"], entry["version"])
            shown.append(version_json(version, await data.get(entry["data_id"])))
        except NotFound:
            continue  # never deleted; a record outliving its data is shown without it
    return shown


async def prov_json(request: Request, record_: Document) -> Document:
    """ProvJSON of a provenance record."""
    outputs = list(record_["outputs"].values())
    return {
        "id": record_["_id"],
        "flow_id": record_["flow_id"],
        "contributed_to": await _versions(request, [o for o in outputs if o["created"]]),
        "derived_from": await _versions(request, list(record_["inputs"].values())),
        "run_id": record_["run_id"],
        "reproduced": await _versions(request, [o for o in outputs if not o["created"]]),
        "created_at": when(record_["created_at"]),
    }


def registration(body: Any) -> FlowRequest:
    """An AERO registration body as a native one; 400 for what Sluice cannot take."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(body) - set(REGISTER_KEYS))
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)}", {"unknown": unknown})
    # A multi-entry config file: `tasks` (used when present), or a list as flow_kwargs.
    kwargs = body.get("flow_kwargs") or {}
    tasks = body.get("tasks")
    if tasks is None and isinstance(kwargs, list):
        tasks = kwargs
    if tasks is not None:
        kwargs = {}
    if not body.get("gc_endpoint"):
        raise BadRequest("gc_endpoint is required (the site of the workers)")

    def entries(name: str) -> dict[str, Any]:
        given = body.get(name) or {}
        if not isinstance(given, dict) or not all(isinstance(v, dict) for v in given.values()):
            raise BadRequest(f"{name} must be an object of objects", {name: given})
        return given

    inputs = {n: {"data_id": v.get("id"), "version": v.get("version")}
              for n, v in entries("input_data").items()}  # fmt: skip
    outputs = {n: {k: v[k] for k in ("url",) if v.get(k)} | ({"data_id": v["id"]} if "id" in v
               else {}) for n, v in entries("output_data").items()}  # fmt: skip
    timer = body.get("timer") if body.get("timer") is not None else body.get("timer_delay")
    native = {
        "function_id": body.get("function_uuid"),
        "site": body.get("gc_endpoint"),
        "inputs": inputs,
        "outputs": outputs,
        "kwargs": kwargs,
        "tasks": tasks,
        "description": body.get("description"),
        "policy": body.get("rule", -1),
        "timer": timer,
        "pull_function_id": body.get("pull_function_uuid"),
        "commit_function_id": body.get("commit_function_uuid"),
    }
    return parse_model(FlowRequest, native)


async def register_flow(request: Request) -> Response:
    flow = await register(request, registration(await request_json(request)))
    return JSONResponse(await flow_json(request, flow))


async def get_flow(request: Request) -> Response:
    include = request.query_params.get("include_deleted") == "true"
    flow = await flows(request).store.get(
        request.path_params["flow_id"], principal(request), include_deleted=include
    )
    return JSONResponse(await flow_json(request, flow))


async def list_flows(request: Request) -> Response:
    store = flows(request).store

    async def present(found: list[Document]) -> list[Document]:
        return [await flow_json(request, flow) for flow in found]

    query = await store.visible(principal(request))
    return await aero_page(request, store.collection, query, present)


async def list_prov(request: Request) -> Response:
    provenance = flows(request).provenance

    async def present(found: list[Document]) -> list[Document]:
        return [await prov_json(request, found_) for found_ in found]

    query = await provenance.query(None, None, None, principal(request))
    return await aero_page(request, provenance.collection, query, present)


async def new_prov(request: Request) -> Response:
    block = block_of(await request_json(request))
    run_id = run_id_of(request.headers.get("x-sluice-run-id"))
    found = await flows(request).legacy.commit(block, run_id, principal(request))
    await record(request, "flows.prov_new", found["_id"], {"run_id": run_id})
    return JSONResponse(await prov_json(request, found))


_PAGE = (
    Param("page", "query", {"type": "integer", "minimum": 1}, "page from 1 (404 past the end)"),
    Param("per_page", "query", {"type": "integer", "minimum": 1}, "records a page (15)"),
    Param("offset", "query", {"type": "integer", "minimum": 0}, "instead of page: rows skipped"),
    Param("limit", "query", {"type": "integer", "minimum": 1}, "with offset: rows answered"),
)
_FLOW = Param("flow_id", "path", {"type": "string"}, "flow id", required=True)

endpoints = [
    Endpoint("/flow", ("GET",), list_flows, "read", "AERO: a page of flows (FlowJSON)",
             params=_PAGE, errors=(400, 404)),
    Endpoint("/flow/register", ("POST",), register_flow, "deposit",
             "AERO: register a flow (409 for a duplicate)", errors=(400, 409, 422)),
    Endpoint("/flow/{flow_id}", ("GET",), get_flow, "read", "AERO: one flow (FlowJSON)",
             params=(_FLOW,), errors=(404,)),
    Endpoint("/prov", ("GET",), list_prov, "read", "AERO: a page of provenance (ProvJSON)",
             params=_PAGE, errors=(400, 404)),
    Endpoint("/prov/new", ("POST",), new_prov, "work",
             "AERO: commit a run's outputs (reference-only versions) and its provenance "
             "(ProvJSON), once per X-Sluice-Run-Id header (else a fresh run id)",
             body=ProvNew, errors=(400, 409, 422)),
]  # fmt: skip
