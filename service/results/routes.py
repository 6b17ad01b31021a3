"""HTTP routes of Results, wire-compatible with the CHIME/FRB `workflow` client."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from schemas.work import CountRequest, ViewRequest
from service import __version__
from service.body import request_json
from service.db import Document
from service.jsonio import JSONResponse, stream_array
from service.results.store import ResultsStore
from service.validation import parse_model


def _store(request: Request) -> ResultsStore:
    store: ResultsStore = request.app.state.results
    return store


async def version(request: Request) -> Response:
    return JSONResponse({"service": "sluice-results", "version": __version__})


async def deposit(request: Request) -> Response:
    return JSONResponse(await _store(request).deposit(await request_json(request)))


async def update(request: Request) -> Response:
    return JSONResponse(await _store(request).update(await request_json(request)))


async def delete(request: Request) -> Response:
    ids_by_pipeline: dict[str, list[str]] = {}
    for pipeline, result_id in request.query_params.multi_items():
        ids_by_pipeline.setdefault(pipeline, []).append(result_id)
    # No ids (the client's delete_ids(p, [])) deletes nothing: a no-op, like unknown ids.
    return JSONResponse(await _store(request).delete(ids_by_pipeline))


async def _chain(first: list[Document], rest: AsyncIterator[Document]) -> AsyncIterator[Document]:
    for document in first:
        yield document
    async for document in rest:
        yield document


async def view(request: Request) -> Response:
    query = parse_model(ViewRequest, await request_json(request))
    first, rest = await _store(request).view(query)
    if rest is None:
        return JSONResponse(first)
    return stream_array(_chain(first, rest))


async def count(request: Request) -> Response:
    query = parse_model(CountRequest, await request_json(request))
    return JSONResponse(await _store(request).count(query.query))


async def status(request: Request) -> Response:
    return JSONResponse(await _store(request).status())


routes = [
    Route("/version", version, methods=["GET", "HEAD"]),
    Route("/results", deposit, methods=["POST"]),
    Route("/results", update, methods=["PUT"]),
    Route("/results", delete, methods=["DELETE"]),
    Route("/view", view, methods=["POST"]),
    Route("/view/count", count, methods=["POST"]),
    Route("/status", status, methods=["GET"]),
]
