"""HTTP routes of Buckets, wire-compatible with the CHIME/FRB `workflow` client.

Besides the client's routes, Sluice's own worker uses leases: `POST /work/withdraw`
answers the lease token in the `X-Sluice-Lease` header (and, sent `X-Sluice-Bind-Lease:
1`, binds the run to it), and `/work/heartbeat`, `/work/release` and `PUT /work` (with
that header) act only while it is held. A worker holding several works claims them with
`POST /work/withdraw/batch` (each with its own lease, answered in the body) and renews
them with one `POST /work/heartbeats`, and reports the works it finished with one `POST
/work/reports` (each with its lease, answered one by one). Who may report what:
`service.buckets.lease`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from schemas.buckets import (
    BIND_HEADER,
    LEASE_HEADER,
    BatchWithdraw,
    ClaimedWork,
    LeaseRequest,
    LeasesRequest,
    LeaseStatus,
    ReportOutcome,
    ReportsRequest,
    RetryRequest,
)
from schemas.experiments import GRANT_PARAMETER
from schemas.work import ViewRequest, Work
from service import __version__
from service.auth import principal, record
from service.body import request_json
from service.buckets import transfer
from service.buckets.lease import Late
from service.errors import BadRequest, batch_too_large, error_detail
from service.jsonio import JSONResponse, stream_array
from service.observe.requests import mark_quiet
from service.params import int_param
from service.routing import Endpoint, Param
from service.stores import stores
from service.validation import parse_model

_TRUE = frozenset({"true", "1", "yes"})
#: Running works `GET /running` answers unless asked for another number.
RUNNING_DEFAULT = 100


async def version(request: Request) -> Response:
    return JSONResponse({"service": "sluice-buckets", "version": __version__})


async def deposit(request: Request) -> Response:
    ids = await stores(request).buckets.deposit(await request_json(request), principal(request))
    # The client sends `return_ids` twice (in the URL and as params), spelled True/False.
    wanted = request.query_params.getlist("return_ids")
    return JSONResponse(ids if any(v.lower() in _TRUE for v in wanted) else True)


async def withdraw(request: Request) -> Response:
    bound = request.headers.get(BIND_HEADER, "").lower() in _TRUE
    claimed = await stores(request).buckets.withdraw(
        await request_json(request), principal(request), bound
    )
    _count_claims(request, [] if claimed is None else [claimed[0]])
    if claimed is None:
        return JSONResponse(None)
    work, token = claimed
    return JSONResponse(await _with_grant(request, work, bound), headers={LEASE_HEADER: token})


async def withdraw_batch(request: Request) -> Response:
    body = parse_model(BatchWithdraw, await request_json(request))
    held = stores(request)
    if body.limit > held.settings.max_batch:
        raise batch_too_large(body.limit, held.settings.max_batch, "works")
    # Its caller holds the lease tokens it is answered: every run it claims is bound.
    claimed = await held.buckets.withdraw_many(body.query, principal(request), True, body.limit)
    _count_claims(request, [work for work, _ in claimed])
    answer = [
        {"work": await _with_grant(request, work, True), "lease": token} for work, token in claimed
    ]
    return JSONResponse(answer)


def _count_claims(request: Request, works: list[Any]) -> None:
    metrics = stores(request).metrics
    if not works:
        metrics.idle_withdraws.inc()
        mark_quiet(request)
    for work in works:
        metrics.claims.labels(str(work.get("pipeline"))).inc()


async def _with_grant(request: Request, work: Any, bound: bool) -> Any:
    """`work` as answered: with the token its extension task is granted, if any."""
    if bound and isinstance(work.get("parameters"), dict):
        # An extension task's command may get a token of its own, minted now and never
        # stored in the work (no query reaches it); only for Sluice's own worker, which
        # takes it out of the work before reporting (sluice.worker.staging).
        granted = await stores(request).tasks.grant(work, str(request.base_url).rstrip("/"))
        if granted:
            parameters = {**work["parameters"], GRANT_PARAMETER: json.dumps(granted)}
            return {**work, "parameters": parameters}
    return work


async def heartbeat(request: Request) -> Response:
    lease = parse_model(LeaseRequest, await request_json(request))
    buckets = stores(request).buckets
    return JSONResponse(await buckets.heartbeat(lease.id, lease.lease, principal(request)))


async def heartbeats(request: Request) -> Response:
    body = parse_model(LeasesRequest, await request_json(request))
    held = stores(request)
    if len(body.leases) > held.settings.max_batch:
        raise batch_too_large(len(body.leases), held.settings.max_batch, "leases")
    pairs = [(lease.id, lease.lease) for lease in body.leases]
    return JSONResponse(await held.buckets.heartbeat_many(pairs, principal(request)))


async def release(request: Request) -> Response:
    lease = parse_model(LeaseRequest, await request_json(request))
    buckets = stores(request).buckets
    return JSONResponse(await buckets.release(lease.id, lease.lease, principal(request)))


async def update(request: Request) -> Response:
    token = request.headers.get(LEASE_HEADER)
    body = await request_json(request)
    late = await stores(request).buckets.update(body, token, principal(request))
    for report in late:
        await _record_late(request, report)
    # `false` is the client's "not updated": the others of the batch were applied.
    return JSONResponse(not late)


async def reports(request: Request) -> Response:
    body = parse_model(ReportsRequest, await request_json(request))
    # At most SLUICE_MAX_BATCH reports: `report_many` validates them as `PUT /work` does.
    outcomes = await stores(request).buckets.report_many(
        [r.work for r in body.reports], [r.lease for r in body.reports], principal(request)
    )
    answers = [
        {
            "id": str(report.work["id"]),
            "recorded": outcome is None,
            "error": None if outcome is None else error_detail(outcome),
        }
        for report, outcome in zip(body.reports, outcomes, strict=True)
    ]
    return JSONResponse(answers)


async def _record_late(request: Request, report: Late) -> None:
    await record(
        request,
        "buckets.late_report",
        "buckets/work",
        {"id": report.id, "attempt": report.attempt, "current": report.current},
    )


async def delete(request: Request) -> Response:
    ids = request.query_params.getlist("ids")
    deleted = await stores(request).buckets.delete(ids, principal(request))
    await record(request, "buckets.delete", "buckets/work", {"ids": ids})
    return JSONResponse(deleted)


async def retry(request: Request) -> Response:
    body = parse_model(RetryRequest, await request_json(request))
    retried = await stores(request).buckets.retry_now(body.ids, principal(request))
    await record(request, "buckets.retry", "buckets/work", {"ids": body.ids})
    return JSONResponse({"retried": retried})


async def run_transfer(request: Request) -> Response:
    principal(request).require_unrestricted("running the mover")
    held = stores(request)
    tallies = await transfer.move(
        held.buckets, held.results, held.settings.transfer_cutoff, held.audit_log
    )
    return JSONResponse(tallies)


async def running(request: Request) -> Response:
    held = stores(request)
    limit = int_param(request, "limit", RUNNING_DEFAULT)
    if not 1 <= limit <= held.settings.max_view_results:
        raise BadRequest(
            f"limit must be 1 to SLUICE_MAX_VIEW_RESULTS ({held.settings.max_view_results})",
            {"limit": limit},
        )
    return JSONResponse(await held.buckets.running(limit, principal(request)))


async def view(request: Request) -> Response:
    query = parse_model(ViewRequest, await request_json(request))
    return stream_array(await stores(request).buckets.view(query, principal(request)))


async def status(request: Request) -> Response:
    return JSONResponse(await stores(request).buckets.counts(caller=principal(request)))


async def pipelines(request: Request) -> Response:
    caller = principal(request)
    return JSONResponse(
        [name for name in await stores(request).buckets.pipelines() if caller.allows(name)]
    )


async def details(request: Request) -> Response:
    pipeline = request.path_params["pipeline"]
    principal(request).check_pipelines([pipeline])
    return JSONResponse(await stores(request).buckets.counts(pipeline))


async def audit_failed(request: Request) -> Response:
    buckets = stores(request).buckets
    return JSONResponse(await buckets.audit_failed(await buckets.visible(principal(request))))


async def audit_expired(request: Request) -> Response:
    buckets = stores(request).buckets
    return JSONResponse(await buckets.audit_expired(await buckets.visible(principal(request))))


async def audit_stale(request: Request) -> Response:
    raw = request.path_params["days"]
    try:
        days = float(raw)
    except ValueError:
        days = math.nan
    if not math.isfinite(days) or days < 0:
        raise BadRequest(f"days must be a non-negative number, not {raw!r}", {"days": raw})
    buckets = stores(request).buckets
    only = await buckets.visible(principal(request))
    return JSONResponse(await buckets.audit_stale(days, only))


_PIPELINE = Param("pipeline", "path", {"type": "string"}, "pipeline name", required=True)
_DAYS = Param("days", "path", {"type": "number", "minimum": 0}, "age in days", required=True)
_RETURN_IDS = Param(
    "return_ids", "query", {"type": "string", "enum": ["True", "False", "true", "false"]},
    "answer the ids in input order (the CHIME client sends it twice)", repeated=True,
)  # fmt: skip
_IDS = Param("ids", "query", {"type": "string"}, "ids of the works", repeated=True)

endpoints = [
    Endpoint("/version", ("GET", "HEAD"), version, "public", "Service version",
             response=dict[str, str]),
    Endpoint("/work", ("POST",), deposit, "deposit", "Queue works (idempotent by id)",
             body=list[Work], response=list[str] | bool, params=(_RETURN_IDS,),
             errors=(400, 409, 413, 422)),
    Endpoint("/work", ("PUT",), update, "work",
             "Replace works by id (a run's report); false when some were late reports",
             body=list[Work], response=bool, errors=(400, 403, 404, 409, 413, 422)),
    Endpoint("/work/reports", ("POST",), reports, "work",
             "Report finished works, each with its lease, as `PUT /work` with that lease "
             "would; per report whether it was recorded, else its error",
             body=ReportsRequest, response=list[ReportOutcome], errors=(403, 413, 422)),
    Endpoint("/work", ("DELETE",), delete, "admin", "Delete works by id",
             response=bool, params=(_IDS,), errors=(400, 413)),
    Endpoint("/work/withdraw", ("POST",), withdraw, "work",
             "Claim the best queued work matching a filter", body=dict[str, Any],
             response=Work | None, errors=(400,)),
    Endpoint("/work/withdraw/batch", ("POST",), withdraw_batch, "work",
             "Claim up to `limit` queued works matching a filter, each with its own lease",
             body=BatchWithdraw, response=list[ClaimedWork], errors=(400, 413, 422)),
    Endpoint("/work/heartbeat", ("POST",), heartbeat, "work", "Extend a held lease",
             body=LeaseRequest, response=LeaseStatus, errors=(404, 409, 422)),
    Endpoint("/work/heartbeats", ("POST",), heartbeats, "work",
             "Extend many held leases; per lease its status, or null when not held",
             body=LeasesRequest, response=list[LeaseStatus | None], errors=(413, 422)),
    Endpoint("/work/release", ("POST",), release, "work", "Give back a held work unfinished",
             body=LeaseRequest, response=Work, errors=(404, 409, 422)),
    Endpoint("/work/retry", ("POST",), retry, "admin",
             "Queue failed works again now", body=RetryRequest, response=dict[str, int],
             errors=(400, 403, 413, 422)),
    Endpoint("/transfer", ("POST",), run_transfer, "admin",
             "Move finished works to Results now (one run of the mover); its tallies",
             response=dict[str, int]),
    Endpoint("/running", ("GET",), running, "read",
             "Running works, longest running first, with their lease expiry",
             response=list[dict[str, Any]],
             params=(Param("limit", "query", {"type": "integer", "minimum": 1},
                           f"most works answered (default {RUNNING_DEFAULT})"),),
             errors=(400,)),
    Endpoint("/view", ("POST",), view, "read", "Works matching a filter, projected and paged",
             body=ViewRequest, response=list[dict[str, Any]], errors=(400, 422)),
    Endpoint("/status", ("GET",), status, "read", "Counts by status", response=dict[str, int]),
    Endpoint("/status/pipelines", ("GET",), pipelines, "read", "Pipelines holding work",
             response=list[str]),
    Endpoint("/status/details/{pipeline}", ("GET",), details, "read",
             "Counts by status of one pipeline", response=dict[str, int], params=(_PIPELINE,)),
    Endpoint("/audit/failed", ("GET",), audit_failed, "admin",
             "Requeue failed works with retries left", response=int),
    Endpoint("/audit/expired", ("GET",), audit_expired, "admin",
             "Fail running works past their lease", response=int),
    Endpoint("/audit/stale/{days}", ("GET",), audit_stale, "admin",
             "Count works older than a number of days", response=int, params=(_DAYS,),
             errors=(400,)),
]  # fmt: skip
