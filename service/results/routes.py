"""HTTP routes of Results, wire-compatible with the CHIME/FRB `workflow` client."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from schemas.work import CountRequest, FinishedWork, ViewRequest
from service import __version__
from service.auth import principal, record
from service.body import request_json
from service.jsonio import JSONResponse, stream_array
from service.routing import Endpoint, Param
from service.stores import stores
from service.validation import parse_model


async def version(request: Request) -> Response:
    return JSONResponse({"service": "sluice-results", "version": __version__})


async def deposit(request: Request) -> Response:
    return JSONResponse(
        await stores(request).results.deposit(await request_json(request), principal(request))
    )


async def update(request: Request) -> Response:
    unlocked = await stores(request).results.update(await request_json(request), principal(request))
    for pipeline, ids in unlocked.items():
        await record(request, "results.unlock", f"results/{pipeline}", {"ids": ids})
    return JSONResponse(True)


async def delete(request: Request) -> Response:
    ids_by_pipeline: dict[str, list[str]] = {}
    for pipeline, result_id in request.query_params.multi_items():
        ids_by_pipeline.setdefault(pipeline, []).append(result_id)
    principal(request).check_pipelines(ids_by_pipeline)
    # No ids (the client's delete_ids(p, [])) deletes nothing: a no-op, like unknown ids.
    deleted = await stores(request).results.delete(ids_by_pipeline)
    for pipeline, ids in ids_by_pipeline.items():
        await record(request, "results.delete", f"results/{pipeline}", {"ids": ids})
    return JSONResponse(deleted)


async def view(request: Request) -> Response:
    query = parse_model(ViewRequest, await request_json(request))
    return stream_array(await stores(request).results.view(query, principal(request)))


async def count(request: Request) -> Response:
    query = parse_model(CountRequest, await request_json(request))
    return JSONResponse(await stores(request).results.count(query.query, principal(request)))


async def status(request: Request) -> Response:
    caller = principal(request)
    counts = await stores(request).results.status()
    return JSONResponse({name: n for name, n in counts.items() if caller.allows(name)})


_PIPELINE_IDS = Param(
    "<pipeline>", "query", {"type": "string"},
    "ids to delete, each as a query key named by its pipeline: ?my-pipeline=id1&my-pipeline=id2",
    repeated=True,
)  # fmt: skip

endpoints = [
    Endpoint("/version", ("GET", "HEAD"), version, "public", "Service version",
             response=dict[str, str]),
    Endpoint("/results", ("POST",), deposit, "deposit", "Store finished works; all or nothing",
             body=list[FinishedWork], response=dict[str, bool],
             errors=(400, 403, 409, 413, 422)),
    Endpoint("/results", ("PUT",), update, "deposit",
             "Replace results by id; all or nothing (clearing a lock needs admin)",
             body=list[FinishedWork], response=bool, errors=(400, 403, 404, 409, 413, 422)),
    Endpoint("/results", ("DELETE",), delete, "admin", "Delete results by id; all or nothing",
             response=dict[str, bool], params=(_PIPELINE_IDS,), errors=(400, 403, 409, 413)),
    Endpoint("/view", ("POST",), view, "read", "Results matching a query, projected and paged",
             body=ViewRequest, response=list[dict[str, Any]], errors=(400, 403, 422)),
    Endpoint("/view/count", ("POST",), count, "read", "How many results match a query",
             body=CountRequest, response=int, errors=(400, 403, 422)),
    Endpoint("/status", ("GET",), status, "read", "Result count per pipeline",
             response=dict[str, int]),
]  # fmt: skip
