"""Admitting requests: the token, the route's scope and the caller's request rate.

`guarded(endpoint)` wraps a route's handler; `install(app, database, settings)` (run in
the lifespan) gives the wrappers what they need on `app.state`.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from service.auth.audit import AuditLog
from service.auth.principal import ANONYMOUS, Principal
from service.auth.ratelimit import RateLimiter
from service.auth.tokens import TokenStore, bootstrap_principal, same_secret
from service.db import Database
from service.errors import Unauthorized
from service.routing import Endpoint, Handler
from service.settings import Settings

log = logging.getLogger("sluice")

#: Header the CHIME/FRB client sends its token in.
TOKEN_HEADER = "x-access-token"


def presented(request: Request) -> str | None:
    """The secret the request carries: `x-access-token`, else `Authorization: Bearer`."""
    token = request.headers.get(TOKEN_HEADER)
    if token:
        return token.strip()
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


class Gate:
    """Decides who a request comes from and whether it may proceed."""

    def __init__(self, settings: Settings, tokens: TokenStore) -> None:
        self.settings = settings
        self.tokens = tokens
        self.limiter = (
            RateLimiter(settings.rate_limit, settings.rate_burst) if settings.rate_limit else None
        )

    async def identify(self, request: Request, scope: str) -> Principal:
        """The caller; 401 without a valid token when auth is required."""
        if self.settings.auth == "off":
            # Tokens are ignored: the CHIME client may send an unrelated one (GITHUB_TOKEN).
            return ANONYMOUS
        secret = presented(request)
        if secret is None:
            raise Unauthorized(
                f"this route needs a token with scope {scope!r}: send it in the "
                "x-access-token header or as Authorization: Bearer",
                {"reason": "missing", "scope": scope},
            )
        admin = self.settings.admin_token
        if admin is not None and same_secret(secret, admin):
            return bootstrap_principal()
        return await self.tokens.authenticate(secret)

    async def admit(self, request: Request, scope: str) -> Principal:
        """Identify the caller, count it against the rate limit, check `scope`."""
        caller = await self.identify(request, scope)
        if self.limiter is not None:
            client = request.client.host if request.client else "unknown"
            self.limiter.take(f"token {caller.name}" if caller.name else f"client {client}")
        caller.require(scope)
        return caller


def guarded(endpoint: Endpoint) -> Handler:
    """`endpoint`'s handler, run only for callers holding its scope."""
    handler, scope = endpoint.handler, endpoint.scope
    if scope == "public":
        return handler

    async def admitted(request: Request) -> Response:
        gate: Gate = request.app.state.gate
        request.state.principal = await gate.admit(request, scope)
        return await handler(request)

    admitted.__name__ = handler.__name__
    admitted.__doc__ = handler.__doc__
    return admitted


async def install(app: Starlette, database: Database, settings: Settings) -> None:
    """Create the token store, audit log and gate on `app.state` (lifespan start)."""
    tokens = TokenStore(database)
    await tokens.create_indexes()
    audit_log = AuditLog(database)
    await audit_log.create_indexes()
    app.state.tokens = tokens
    app.state.audit_log = audit_log
    app.state.gate = Gate(settings, tokens)
    if settings.auth == "off":
        log.warning(
            "SLUICE_AUTH=off: every route is open to anyone who can reach %s", settings.host
        )
    elif settings.admin_token is None:
        log.warning("SLUICE_ADMIN_TOKEN is unset: only tokens already stored are accepted")
