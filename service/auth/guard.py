"""Admitting requests: the token, the route's scope and the caller's request rate.

`guarded(endpoint)` wraps a route's handler; the wrapper admits the request through the
app's `Gate` (one per app, in `service.stores.Stores`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.requests import Request
from starlette.responses import Response

from service.auth.principal import ANONYMOUS, Principal
from service.auth.ratelimit import RateLimiter
from service.auth.tokens import TokenStore, bootstrap_principal, same_secret
from service.errors import Unauthorized
from service.routing import Endpoint, Handler
from service.settings import Settings
from service.stores import stores
from service.users.store import SESSION_PREFIX, UserStore

log = logging.getLogger("sluice")

#: Header the CHIME/FRB client sends its token in.
TOKEN_HEADER = "x-access-token"
#: Where a login session may travel on routes that accept one (`Endpoint.sessions`):
#: the query parameter and header the Alpine client sends, and the cookie set at login.
SESSION_PARAM = "session_id"
SESSION_HEADER = "x-token"
SESSION_COOKIE = "sluice_session"


def presented(request: Request) -> str | None:
    """The secret the request carries: `x-access-token`, else `Authorization: Bearer`."""
    token = request.headers.get(TOKEN_HEADER)
    if token:
        return token.strip()
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def session_secret(request: Request) -> str | None:
    """The login session the request carries: the `session_id` query parameter (the
    Alpine client's "NULL" placeholder is none), else `x-token`, else the cookie."""
    for candidate in (
        request.query_params.get(SESSION_PARAM),
        request.headers.get(SESSION_HEADER),
        request.cookies.get(SESSION_COOKIE),
    ):
        if candidate and candidate.strip() and candidate.strip() != "NULL":
            return candidate.strip()
    return None


def _client(request: Request) -> str:
    return f"client {request.client.host if request.client else 'unknown'}"


class Gate:
    """Decides who a request comes from and whether it may proceed."""

    def __init__(self, settings: Settings, tokens: TokenStore, users: UserStore) -> None:
        self.settings = settings
        self.tokens = tokens
        self.users = users
        self.limiter = (
            RateLimiter(settings.rate_limit, settings.rate_burst) if settings.rate_limit else None
        )
        self.failures = (
            RateLimiter(
                settings.auth_failure_rate,
                settings.auth_failure_burst,
                what="failed authentications",
                settings=("SLUICE_AUTH_FAILURE_RATE", "SLUICE_AUTH_FAILURE_BURST"),
            )
            if settings.auth_failure_rate
            else None
        )

    async def identify(self, request: Request, scope: str, sessions: bool = False) -> Principal:
        """The caller; 401 without a valid token (or, where `sessions`, login session)
        when auth is required."""
        if self.settings.auth == "off":
            # Tokens are ignored: the CHIME client may send an unrelated one (GITHUB_TOKEN).
            return ANONYMOUS
        secret = presented(request) or (session_secret(request) if sessions else None)
        if secret is None:
            raise Unauthorized(
                f"this route needs a token with scope {scope!r}: send it in the "
                "x-access-token header or as Authorization: Bearer",
                {"reason": "missing", "scope": scope},
            )
        return await self.authenticate(request, secret)

    async def authenticate(
        self, request: Request, secret: str, surface: str | None = None
    ) -> Principal:
        """The caller presenting `secret`: the bootstrap admin, a token, or a login
        session opened for `surface` (None: the native and Alpine one); 401 otherwise,
        counted against the client's failed authentications."""
        async with self.attempt(request):
            admin = self.settings.admin_token
            if admin is not None and same_secret(secret, admin):
                return bootstrap_principal()
            if secret.startswith(SESSION_PREFIX):
                caller, _user = await self.users.authenticate(secret, surface)
                return caller
            return await self.tokens.authenticate(secret)

    @asynccontextmanager
    async def attempt(self, request: Request) -> AsyncIterator[None]:
        """Around checking a secret or password: 429 first if the request's client
        address is past SLUICE_AUTH_FAILURE_RATE (past the limit a guess is not even
        tried: a right one cannot be told apart), and an Unauthorized inside counts
        against it. No more checks of one address run at once than its allowance left
        (others wait for them): guesses sent all at once are limited as those sent one
        after another."""
        if self.failures is None:
            yield
            return
        key = _client(request)
        await self.failures.reserve(key)
        failed = False
        try:
            yield
        except Unauthorized:
            failed = True
            raise
        finally:
            self.failures.settle(key, failed)

    async def admit(self, request: Request, scope: str, sessions: bool = False) -> Principal:
        """Identify the caller, count it against the rate limit, check `scope`."""
        caller = await self.identify(request, scope, sessions)
        self.within_rate(request, caller)
        caller.require(scope)
        return caller

    def within_rate(self, request: Request, caller: Principal) -> None:
        """Count the request against the caller's rate limit (429 past it)."""
        if self.limiter is not None:
            client = request.client.host if request.client else "unknown"
            self.limiter.take(f"token {caller.name}" if caller.name else f"client {client}")


def guarded(endpoint: Endpoint) -> Handler:
    """`endpoint`'s handler, run only for callers holding its scope."""
    handler, scope, sessions = endpoint.handler, endpoint.scope, endpoint.sessions
    if scope == "public":
        return handler
    bound = endpoint.experiment

    async def admitted(request: Request) -> Response:
        caller = await stores(request).gate.admit(request, scope, sessions)
        # The one place an experiment-bound token is confined to its experiment.
        caller.check_route(bound, request.path_params.get(bound) if bound else None)
        request.state.principal = caller
        return await handler(request)

    admitted.__name__ = handler.__name__
    admitted.__doc__ = handler.__doc__
    return admitted
