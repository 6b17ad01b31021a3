"""Admitting callers of the flowServ surface, and answering its errors.

The flowServ client sends its token in the `api_key` header (the native headers,
`x-access-token` and `Authorization: Bearer`, are accepted too). A token is any Sluice
API token, the bootstrap admin secret, or a token issued by this surface's
`users/login` (a login session bound to the surface: refused everywhere else, as
other surfaces' sessions are refused here). Scopes and pipeline patterns are checked as
on every route. Every error under the surface's prefix is answered as the client
expects (`FlowservErrors` marks those requests for service.errors).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.auth.guard import presented
from service.auth.principal import ANONYMOUS, Principal
from service.errors import FLOWSERV_ERRORS, Unauthorized
from service.routing import Endpoint, Handler
from service.stores import stores

#: The header the flowServ client sends its token in.
API_KEY = "api_key"
#: The surface its login sessions are bound to (`UserStore.login(..., surface=)`).
SURFACE = "flowserv"


def secret(request: Request) -> str | None:
    """The token the request carries: `api_key`, else the native headers."""
    given = request.headers.get(API_KEY)
    if given and given.strip():
        return given.strip()
    return presented(request)


async def identify(request: Request) -> Principal:
    """The caller presenting a token (401 without a valid one); ANONYMOUS when auth
    is off."""
    held = stores(request)
    if held.settings.auth == "off":
        return ANONYMOUS
    given = secret(request)
    if given is None:
        raise Unauthorized(
            "this route needs a token: send it in the api_key header", {"reason": "missing"}
        )
    caller = await held.gate.authenticate(request, given, SURFACE)
    held.gate.within_rate(request, caller)
    # A token bound to one experiment (an extension task's) has nothing to do here.
    caller.check_route(None, None)
    return caller


async def optional_caller(request: Request) -> Principal | None:
    """The caller if the request carries a valid token, else None (for the answers
    that only add to themselves for a known caller: the descriptor's `username`)."""
    if stores(request).settings.auth != "off" and secret(request) is None:
        return None
    try:
        return await identify(request)
    except Unauthorized:
        return None


def guarded(endpoint: Endpoint) -> Handler:
    """`endpoint`'s handler, run for callers holding its scope (any caller for a
    public route)."""
    handler, scope = endpoint.handler, endpoint.scope

    async def admitted(request: Request) -> Response:
        if scope != "public":
            caller = await identify(request)
            caller.require(scope)
            request.state.principal = caller
        return await handler(request)

    admitted.__name__ = handler.__name__
    admitted.__doc__ = handler.__doc__
    return admitted


class FlowservErrors:
    """Pure ASGI middleware marking every request under `prefix` (SLUICE_FLOWSERV_PREFIX)
    FLOWSERV_ERRORS, so that each error it gets, wherever raised, is answered in the
    flowServ client's shape."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path == self.prefix or path.startswith(self.prefix + "/"):
                # In place, not a copy: the outermost error handler (a 500) reads the
                # scope it passed in.
                scope[FLOWSERV_ERRORS] = True
        await self.app(scope, receive, send)
