"""Admin routes: API tokens (`/admin/tokens`) and the audit trail (`/admin/audit`)."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response

from schemas.auth import AuditEntry, TokenCreated, TokenInfo, TokenRequest
from service.auth.audit import record
from service.auth.principal import principal
from service.body import request_json
from service.errors import BadRequest
from service.jsonio import JSONResponse
from service.routing import Endpoint, Param
from service.stores import stores
from service.validation import parse_model

#: Entries `GET /admin/audit` answers without a `limit`.
DEFAULT_AUDIT_LIMIT = 100


async def create_token(request: Request) -> Response:
    wanted = parse_model(TokenRequest, await request_json(request))
    created = await stores(request).tokens.create(wanted, principal(request))
    shown = {key: value for key, value in created.items() if key != "token"}
    await record(request, "token.create", created["name"], shown)
    return JSONResponse(created)


async def list_tokens(request: Request) -> Response:
    return JSONResponse(await stores(request).tokens.list(principal(request)))


async def revoke_token(request: Request) -> Response:
    name = request.path_params["name"]
    token, changed = await stores(request).tokens.revoke(name, principal(request))
    if changed:
        await record(request, "token.revoke", name, {"owner": token["owner"]})
    return JSONResponse(token)


def _number(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise BadRequest(f"{name} must be a number (unix seconds), not {raw!r}", {name: raw})
    return value


async def read_audit(request: Request) -> Response:
    # Entries name pipelines only in free-form targets and details: all or nothing.
    principal(request).require_unrestricted("reading the audit trail")
    cap = stores(request).settings.max_audit_results
    raw_limit = request.query_params.get("limit") or str(DEFAULT_AUDIT_LIMIT)
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= cap:
        raise BadRequest(
            f"limit must be a whole number from 1 to SLUICE_MAX_AUDIT_RESULTS ({cap}), "
            f"not {raw_limit!r}",
            {"limit": "SLUICE_MAX_AUDIT_RESULTS", "max": cap},
        )
    entries = await stores(request).audit_log.read(
        request.query_params.get("action") or None,
        _number(request, "since"),
        _number(request, "before"),
        int(raw_limit),
    )
    return JSONResponse(entries)


_NAME = Param("name", "path", {"type": "string"}, "token name", required=True)
_AUDIT_PARAMS = (
    Param("action", "query", {"type": "string"}, "only this action, e.g. results.delete"),
    Param("since", "query", {"type": "number"}, "only entries at or after (unix seconds)"),
    Param("before", "query", {"type": "number"}, "only entries before (unix seconds), to page"),
    Param("limit", "query", {"type": "integer", "minimum": 1},
          f"most entries (default {DEFAULT_AUDIT_LIMIT}, at most SLUICE_MAX_AUDIT_RESULTS)"),
)  # fmt: skip

endpoints = [
    Endpoint("/tokens", ("POST",), create_token, "admin",
             "Create a token; the answer holds its secret, shown only this once",
             body=TokenRequest, response=TokenCreated, errors=(400, 409, 413, 422)),
    Endpoint("/tokens", ("GET",), list_tokens, "admin", "Every token, revoked ones included",
             response=list[TokenInfo]),
    Endpoint("/tokens/{name}/revoke", ("POST",), revoke_token, "admin",
             "Revoke a token (kept, marked revoked); idempotent",
             response=TokenInfo, params=(_NAME,), errors=(404,)),
    Endpoint("/audit", ("GET",), read_audit, "admin", "The audit trail, newest first",
             response=list[AuditEntry], params=_AUDIT_PARAMS, errors=(400,)),
]  # fmt: skip
