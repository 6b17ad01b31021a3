"""HTTP routes of the worker registry, under `/buckets`: beats, the live list, exits."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from schemas.workers import BeatAnswer, WorkerBeat, WorkerInfo
from service.auth import principal
from service.body import request_json
from service.errors import BadRequest
from service.jsonio import JSONResponse
from service.observe.requests import mark_quiet
from service.routing import Endpoint, Param
from service.stores import stores
from service.validation import parse_model

_WORKER_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _worker_id(request: Request) -> str:
    worker_id = str(request.path_params["worker"])
    if not _WORKER_ID.match(worker_id):
        raise BadRequest(
            "a worker id is 1-64 letters, digits, '.', '_' or '-'", {"id": worker_id[:80]}
        )
    return worker_id


async def beat(request: Request) -> Response:
    worker_id = _worker_id(request)
    body = parse_model(WorkerBeat, await request_json(request))
    answer = await stores(request).workers.beat(worker_id, body, principal(request))
    mark_quiet(request)  # routine, every few seconds from every worker
    return JSONResponse(answer.model_dump())


async def forget(request: Request) -> Response:
    return JSONResponse(
        await stores(request).workers.forget(_worker_id(request), principal(request))
    )


async def live(request: Request) -> Response:
    params = request.query_params
    found = await stores(request).workers.live(
        principal(request), pipeline=params.get("pipeline"), site=params.get("site")
    )
    return JSONResponse(found)


_WORKER = Param("worker", "path", {"type": "string", "pattern": _WORKER_ID.pattern},
                "the worker's own id", required=True)  # fmt: skip
_FILTERS = (
    Param("pipeline", "query", {"type": "string"}, "only workers serving this pipeline"),
    Param("site", "query", {"type": "string"}, "only workers at this site"),
)

endpoints = [
    Endpoint("/workers/{worker}", ("PUT",), beat, "work",
             "Register a worker or renew its registration (its beat)", body=WorkerBeat,
             response=BeatAnswer, params=(_WORKER,), errors=(400, 403, 409, 422)),
    Endpoint("/workers/{worker}", ("DELETE",), forget, "work",
             "Remove a worker that exits", response=bool, params=(_WORKER,), errors=(400,)),
    Endpoint("/workers", ("GET",), live, "read", "Live workers, most recently heard first",
             response=list[WorkerInfo], params=_FILTERS),
]  # fmt: skip
