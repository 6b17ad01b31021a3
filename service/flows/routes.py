"""Native HTTP routes of flows, their runs and provenance (`/aero/flows...`,
`/aero/runs...`, `/aero/provenance...`, lineage under `/aero/data/{id}/versions/{n}`).

Registration, changes and manual runs need `deposit`; the worker's routes (its task,
outputs, commit, failure, ingestion) need `work`; reads need `read`. Flow runs are
works of the pipelines `aero-analysis` and `aero-ingest`, and every route checks the
caller's pipeline patterns against them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from schemas.flows import FlowChange, FlowRequest, Notice, RunCommit, RunRequest
from service.auth import caller_name, principal, record
from service.body import request_json
from service.data.fields import check_media_type
from service.data.listing import native_page
from service.data.routes import version_number
from service.db import Document
from service.errors import BadRequest
from service.flows.provenance import provenance_info
from service.flows.runs import run_info
from service.flows.service import Flows
from service.flows.store import NAMES, pipeline_of
from service.jsonio import JSONResponse
from service.params import int_param
from service.routing import Endpoint, Param
from service.stores import stores
from service.validation import parse_model

#: Runs `GET /aero/flows/{id}/runs` answers unless asked for another number.
RUNS_DEFAULT = 50


def flows(request: Request) -> Flows:
    return stores(request).flows


def flow_info(flow: Document) -> Document:
    """The native JSON of a stored flow."""
    return {
        "id": flow["_id"],
        "function_id": flow["function_id"],
        "function_path": flow["function_path"],
        "site": flow["site"],
        "inputs": flow["inputs"],
        "outputs": flow["outputs"],
        "kwargs": flow["kwargs"],
        "tasks": flow.get("tasks"),
        "description": flow["description"],
        "policy": NAMES[flow["policy"]],
        "timer": flow["timer"],
        "timeout": flow["timeout"],
        "retries": flow["retries"],
        "state": flow["state"],
        "owner": flow["owner"],
        "pipeline": flow["pipeline"],
        "next_run_at": flow["next_run_at"],
        "waiting_for": flow["waiting_for"],
        "pending_run_id": flow["pending_run_id"],
        "last_enqueued_at": flow["last_enqueued_at"],
        "last_committed_at": flow["last_committed_at"],
        "last_run_id": flow["last_run_id"],
        "last_error": flow["last_error"],
        "pull_function_id": flow["compat"]["pull_function_id"],
        "commit_function_id": flow["compat"]["commit_function_id"],
        "created_at": flow["created_at"],
    }


async def register(request: Request, given: FlowRequest) -> Document:
    """Store the flow and apply its policy's registration rule; the flow."""
    found = flows(request)
    principal(request).check_pipelines([pipeline_of(given)])
    flow = await found.store.register(given, caller_name(request))
    await found.triggers.evaluate(flow, "registration")
    flow = await found.store.get(flow["_id"])
    await record(request, "flows.register", flow["_id"], {"function_id": flow["function_id"]})
    return flow


async def create(request: Request) -> Response:
    flow = await register(request, parse_model(FlowRequest, await request_json(request)))
    return JSONResponse(flow_info(flow), status_code=201)


async def _flows_info(found: list[Document]) -> list[Document]:
    return [flow_info(flow) for flow in found]


async def _provenance_info(found: list[Document]) -> list[Document]:
    return [provenance_info(record) for record in found]


async def listing(request: Request) -> Response:
    found = flows(request).store
    query = await found.visible(principal(request))
    return await native_page(request, found.collection, query, _flows_info)


async def get(request: Request) -> Response:
    flow = await flows(request).store.get(request.path_params["flow_id"], principal(request))
    return JSONResponse(flow_info(flow))


async def change(request: Request) -> Response:
    asked = parse_model(FlowChange, await request_json(request))
    flow_id = request.path_params["flow_id"]
    flow = await flows(request).store.change(flow_id, asked, principal(request))
    await record(request, "flows.change", flow_id, asked.model_dump(exclude_none=True))
    if flow["state"] == "active":
        await flows(request).triggers.evaluate(flow, "resume")
    return JSONResponse(flow_info(await flows(request).store.get(flow_id)))


async def delete(request: Request) -> Response:
    flow_id = request.path_params["flow_id"]
    await flows(request).store.delete(flow_id, principal(request))
    await record(request, "flows.delete", flow_id)
    return JSONResponse(True)


async def run_now(request: Request) -> Response:
    """Run the flow now; the run (201), or 202 with `coalesced` when one is in flight
    (one follow-up then runs after it)."""
    found = flows(request)
    asked = parse_model(RunRequest, await request_json(request, optional=True))
    flow = await found.store.get(request.path_params["flow_id"], principal(request))
    if flow["state"] != "active":
        raise BadRequest(f"flow {flow['_id']} is {flow['state']}; resume it first", {})
    run = await found.triggers.manual(flow, asked.force)
    await record(request, "flows.run", flow["_id"])
    return queued(flow, run)


def queued(flow: Document, run: Document | None) -> Response:
    """The answer to a trigger: the run queued (201), or 202 `coalesced` when it joined
    the run in flight."""
    if run is None:
        return JSONResponse({"coalesced": True, "flow_id": flow["_id"]}, status_code=202)
    return JSONResponse(run_info(run), status_code=201)


async def notify(request: Request) -> Response:
    """The upstream of a source changed: run the INGESTION_EVENT flow producing it once."""
    # A webhook may send no body at all: that is a notice saying nothing more.
    notice = parse_model(Notice, await request_json(request, optional=True))
    flow, run = await flows(request).events.notify(
        request.path_params["data_id"], notice, principal(request)
    )
    await record(request, "flows.notify", flow["_id"], notice.model_dump(exclude_none=True))
    return queued(flow, run)


async def runs_of(request: Request) -> Response:
    found = flows(request)
    flow = await found.store.get(
        request.path_params["flow_id"], principal(request), include_deleted=True
    )
    limit = int_param(request, "limit", RUNS_DEFAULT)
    cap = stores(request).settings.max_view_results
    if not 1 <= limit <= cap:
        raise BadRequest(f"limit must be 1 to SLUICE_MAX_VIEW_RESULTS ({cap})", {"limit": limit})
    return JSONResponse([run_info(run) for run in await found.triggers.of_flow(flow["_id"], limit)])


async def get_run(request: Request) -> Response:
    run = await flows(request).triggers.get(request.path_params["run_id"], principal(request))
    return JSONResponse(run_info(run))


async def run_task(request: Request) -> Response:
    commits = flows(request).commits
    return JSONResponse(await commits.started(request.path_params["run_id"], principal(request)))


async def output(request: Request) -> Response:
    """Stage an output's bytes, streamed into the blob store (never held whole)."""
    data = stores(request).data
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise BadRequest("Content-Length is not a number")
    if declared is not None and int(declared) > data.settings.aero_max_version_bytes:
        raise data.too_large()
    file_type = check_media_type(request.headers.get("content-type"), "content-type")
    done = await flows(request).commits.output(
        request.path_params["run_id"], request.path_params["name"], request.stream(),
        principal(request), file_type,
    )  # fmt: skip
    return JSONResponse(done)


async def commit(request: Request) -> Response:
    given = parse_model(RunCommit, await request_json(request))
    done = await flows(request).commits.commit(
        request.path_params["run_id"], given.function_version, principal(request),
        given.distribution,
    )  # fmt: skip
    return JSONResponse(done)


async def fail(request: Request) -> Response:
    given = parse_model(RunCommit, await request_json(request))
    if not given.error:
        raise BadRequest("a failure needs its error", {})
    done = await flows(request).commits.fail(
        request.path_params["run_id"], given.error, principal(request)
    )
    return JSONResponse(done)


async def ingest(request: Request) -> Response:
    done = await flows(request).commits.ingest(request.path_params["run_id"], principal(request))
    return JSONResponse(done)


async def source(request: Request) -> Response:
    """The raw upstream bytes an ingestion run staged for its transform, streamed."""
    staged = await flows(request).commits.source(request.path_params["run_id"], principal(request))
    pieces = await stores(request).data.blobs.read(staged["blob_id"])
    headers = {"etag": f'"{staged["sha256"]}"', "content-length": str(staged["size"])}
    return StreamingResponse(pieces, media_type="application/octet-stream", headers=headers)


async def provenance_list(request: Request) -> Response:
    found = flows(request).provenance
    query = await found.query(
        request.query_params.get("flow_id"),
        request.query_params.get("version_id"),
        request.query_params.get("run_id"),
        principal(request),
    )
    return await native_page(request, found.collection, query, _provenance_info)


async def provenance_get(request: Request) -> Response:
    found = await flows(request).provenance.get(
        request.path_params["provenance_id"], principal(request)
    )
    return JSONResponse(provenance_info(found))


async def lineage(request: Request) -> Response:
    data_id = request.path_params["data_id"]
    version = await stores(request).data.version(data_id, version_number(request))
    direction = request.query_params.get("direction", "up")
    depth = int_param(request, "depth", stores(request).settings.aero_lineage_max_depth)
    depth = min(depth, stores(request).settings.aero_lineage_max_depth)
    walked = await flows(request).provenance.lineage(
        version["_id"], direction, depth, principal(request)
    )
    return JSONResponse(
        {
            "version_id": version["_id"],
            "direction": direction,
            "versions": walked["versions"],
            "records": [provenance_info(r) for r in walked["records"]],
            "truncated": walked["truncated"],
        }
    )


_FLOW = Param("flow_id", "path", {"type": "string"}, "flow id", required=True)
_RUN = Param("run_id", "path", {"type": "string"}, "flow run id", required=True)
_NAME = Param("name", "path", {"type": "string"}, "output name", required=True)
_PAGE = (
    Param("offset", "query", {"type": "integer", "minimum": 0}, "rows skipped (default 0)"),
    Param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1},
        "rows answered (default 100, at most SLUICE_MAX_VIEW_RESULTS)",
    ),
)
_PROV_FILTERS = (
    Param("flow_id", "query", {"type": "string"}, "only this flow's records"),
    Param("run_id", "query", {"type": "string"}, "only this run's record"),
    Param("version_id", "query", {"type": "string"}, "only records touching this version"),
)
_LINEAGE = (
    Param("data_id", "path", {"type": "string"}, "data source id", required=True),
    Param("version", "path", {"type": "integer", "minimum": 1}, "version number", required=True),
    Param("direction", "query", {"type": "string", "enum": ["up", "down"]},
          "up: what it was derived from (default); down: what was derived from it"),
    Param("depth", "query", {"type": "integer", "minimum": 1},
          "most steps walked (at most SLUICE_AERO_LINEAGE_MAX_DEPTH)"),
)  # fmt: skip

endpoints = [
    Endpoint("/aero/flows", ("POST",), create, "deposit",
             "Register a flow (validated first; a duplicate is 409 naming it)",
             body=FlowRequest, status=201, errors=(400, 409, 422)),
    Endpoint("/aero/flows", ("GET",), listing, "read",
             "A page of the live flows, newest first, with the total", params=_PAGE,
             errors=(400,)),
    Endpoint("/aero/flows/{flow_id}", ("GET",), get, "read",
             "A flow, with why it cannot fire (waiting_for)", params=(_FLOW,), errors=(404,)),
    Endpoint("/aero/flows/{flow_id}", ("PATCH",), change, "deposit",
             "Pause or resume a flow, change its timer or description", body=FlowChange,
             params=(_FLOW,), errors=(400, 404, 422)),
    Endpoint("/aero/flows/{flow_id}", ("DELETE",), delete, "deposit",
             "Delete a flow (it stops firing; its provenance stays)", response=bool,
             params=(_FLOW,), errors=(404,)),
    Endpoint("/aero/flows/{flow_id}/runs", ("POST",), run_now, "deposit",
             "Run a flow now with its latest inputs (202 when coalesced behind a run)",
             body=RunRequest, params=(_FLOW,), status=201, errors=(400, 404, 422)),
    Endpoint("/aero/data/{data_id}/notify", ("POST",), notify, "deposit",
             "The source's upstream changed: run the INGESTION_EVENT flow producing it once "
             "(202 when coalesced behind a run)", body=Notice,
             params=(Param("data_id", "path", {"type": "string"}, "data source id",
                           required=True),), status=201, errors=(400, 404, 422)),
    Endpoint("/aero/flows/{flow_id}/runs", ("GET",), runs_of, "read",
             "A flow's latest runs, newest first", params=(_FLOW,), errors=(400, 404)),
    Endpoint("/aero/runs/{run_id}", ("GET",), get_run, "read", "A flow run",
             params=(_RUN,), errors=(404,)),
    Endpoint("/aero/runs/{run_id}/task", ("POST",), run_task, "work",
             "The worker's task of a run (function, inputs' versions, outputs, kwargs)",
             params=(_RUN,), errors=(404,)),
    Endpoint("/aero/runs/{run_id}/outputs/{name}", ("POST",), output, "work",
             "Stage one output's bytes (raw body, streamed) for the run's commit",
             body=bytes, params=(_RUN, _NAME), errors=(400, 404, 409, 413), deadline=False),
    Endpoint("/aero/runs/{run_id}/commit", ("POST",), commit, "work",
             "End a run: its provenance record (idempotent)", body=RunCommit,
             params=(_RUN,), errors=(400, 404, 409, 422)),
    Endpoint("/aero/runs/{run_id}/fail", ("POST",), fail, "work",
             "Fail a run for good with the reason", body=RunCommit, params=(_RUN,),
             errors=(400, 404, 422)),
    Endpoint("/aero/runs/{run_id}/ingest", ("POST",), ingest, "work",
             "Fetch an ingestion run's source and commit what changed (with a transform: "
             "stage it and say so)", params=(_RUN,), errors=(400, 404, 409, 422)),
    Endpoint("/aero/runs/{run_id}/source", ("GET",), source, "work",
             "The raw upstream bytes an ingestion run staged for its transform (streamed)",
             params=(_RUN,), errors=(400, 404, 409), media_type="application/octet-stream"),
    Endpoint("/aero/provenance", ("GET",), provenance_list, "read",
             "A page of provenance records, newest first", params=(*_PAGE, *_PROV_FILTERS),
             errors=(400,)),
    Endpoint("/aero/provenance/{provenance_id}", ("GET",), provenance_get, "read",
             "A provenance record", params=(Param("provenance_id", "path", {"type": "string"},
                                                 "record id", required=True),),
             errors=(404,)),
    Endpoint("/aero/data/{data_id}/versions/{version}/lineage", ("GET",), lineage, "read",
             "Lineage of a version: what it was derived from, or what was derived from it",
             params=_LINEAGE, errors=(400, 404)),
]  # fmt: skip
