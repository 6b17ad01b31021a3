"""HTTP routes of Buckets, wire-compatible with the CHIME/FRB `workflow` client.

Besides the client's routes, Sluice's own worker uses leases: `POST /work/withdraw`
answers the lease token in the `X-Sluice-Lease` header, and `/work/heartbeat`,
`/work/release` and `PUT /work` (with that header) act only while it is held.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from schemas.buckets import LEASE_HEADER, LeaseRequest
from schemas.work import ViewRequest
from service import __version__
from service.body import request_json
from service.buckets import audit
from service.buckets.store import BucketsStore
from service.errors import BadRequest
from service.jsonio import JSONResponse
from service.validation import parse_model

_TRUE = frozenset({"true", "1", "yes"})


def _store(request: Request) -> BucketsStore:
    store: BucketsStore = request.app.state.buckets
    return store


async def version(request: Request) -> Response:
    return JSONResponse({"service": "sluice-buckets", "version": __version__})


async def deposit(request: Request) -> Response:
    ids = await _store(request).deposit(await request_json(request))
    # The client sends `return_ids` twice (in the URL and as params), spelled True/False.
    wanted = request.query_params.getlist("return_ids")
    return JSONResponse(ids if any(v.lower() in _TRUE for v in wanted) else True)


async def withdraw(request: Request) -> Response:
    claimed = await _store(request).withdraw(await request_json(request))
    if claimed is None:
        return JSONResponse(None)
    work, token = claimed
    return JSONResponse(work, headers={LEASE_HEADER: token})


async def heartbeat(request: Request) -> Response:
    lease = parse_model(LeaseRequest, await request_json(request))
    return JSONResponse(await _store(request).heartbeat(lease.id, lease.lease))


async def release(request: Request) -> Response:
    lease = parse_model(LeaseRequest, await request_json(request))
    return JSONResponse(await _store(request).release(lease.id, lease.lease))


async def update(request: Request) -> Response:
    token = request.headers.get(LEASE_HEADER)
    return JSONResponse(await _store(request).update(await request_json(request), token))


async def delete(request: Request) -> Response:
    return JSONResponse(await _store(request).delete(request.query_params.getlist("ids")))


async def view(request: Request) -> Response:
    query = parse_model(ViewRequest, await request_json(request))
    return JSONResponse(await _store(request).view(query))


async def status(request: Request) -> Response:
    return JSONResponse(await _store(request).counts())


async def pipelines(request: Request) -> Response:
    return JSONResponse(await _store(request).pipelines())


async def details(request: Request) -> Response:
    return JSONResponse(await _store(request).counts(request.path_params["pipeline"]))


async def audit_failed(request: Request) -> Response:
    return JSONResponse(await audit.failed(_store(request).collection))


async def audit_expired(request: Request) -> Response:
    return JSONResponse(await audit.expired(_store(request).collection))


async def audit_stale(request: Request) -> Response:
    raw = request.path_params["days"]
    try:
        days = float(raw)
    except ValueError:
        days = math.nan
    if not math.isfinite(days) or days < 0:
        raise BadRequest(f"days must be a non-negative number, not {raw!r}", {"days": raw})
    return JSONResponse(await audit.stale(_store(request).collection, days))


routes = [
    Route("/version", version, methods=["GET", "HEAD"]),
    Route("/work", deposit, methods=["POST"]),
    Route("/work", update, methods=["PUT"]),
    Route("/work", delete, methods=["DELETE"]),
    Route("/work/withdraw", withdraw, methods=["POST"]),
    Route("/work/heartbeat", heartbeat, methods=["POST"]),
    Route("/work/release", release, methods=["POST"]),
    Route("/view", view, methods=["POST"]),
    Route("/status", status, methods=["GET"]),
    Route("/status/pipelines", pipelines, methods=["GET"]),
    Route("/status/details/{pipeline}", details, methods=["GET"]),
    Route("/audit/failed", audit_failed, methods=["GET"]),
    Route("/audit/expired", audit_expired, methods=["GET"]),
    Route("/audit/stale/{days}", audit_stale, methods=["GET"]),
]
