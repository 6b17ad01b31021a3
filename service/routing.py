"""The route table: every HTTP route with the scope it needs and the shapes it speaks.

Each resource module lists its routes as `Endpoint`s; `build_routes` turns them into
Starlette routes. Authorisation and the OpenAPI document both read this one table, so a
route cannot exist without a declared scope, and the contract cannot drift from the
code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from service.errors import Unavailable
from service.stores import stores

#: `public` needs no token. The others are token scopes; `admin` implies every scope.
Scope = Literal["public", "read", "deposit", "work", "admin"]
SCOPES: tuple[Scope, ...] = ("public", "read", "deposit", "work", "admin")

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Param:
    """A query or path parameter, for the OpenAPI document."""

    name: str
    where: Literal["query", "path"]
    schema: dict[str, Any]
    description: str = ""
    required: bool = False
    repeated: bool = False


@dataclass(frozen=True)
class Endpoint:
    """One route: path, methods, handler, required scope and its wire shapes.

    `body` and `response` are Python types (pydantic models, `list[Work]`, `int`...)
    from which the OpenAPI schemas are generated; None means no body / any JSON.
    """

    path: str
    methods: tuple[str, ...]
    handler: Handler
    scope: Scope
    summary: str
    body: Any = None
    response: Any = None
    params: tuple[Param, ...] = ()
    #: Status codes this route may answer besides 200, for the OpenAPI document.
    errors: tuple[int, ...] = field(default=())
    #: Media type of the answer when it is not JSON.
    media_type: str = "application/json"
    #: Status of a successful answer (201 for a creation), for the OpenAPI document.
    status: int = 200
    #: Whether the handler is cut off after SLUICE_REQUEST_TIMEOUT; False only for
    #: routes streaming a file of any size (each database operation stays bounded by
    #: SLUICE_OPERATION_TIMEOUT_MS).
    deadline: bool = True
    #: Whether a login session (`session_id` query parameter, `x-token` header or the
    #: session cookie) is accepted besides an API token: the Alpine routes.
    sessions: bool = False
    #: The path parameter naming an experiment, on the routes a token bound to one
    #: experiment (an extension task's) may use; None: such tokens get 403 here.
    experiment: str | None = None
    #: The guard of a surface that admits callers its own way (the flowServ surface
    #: reads its `api_key` header); None: the guard `build_routes` is given.
    guard: Callable[[Endpoint], Handler] | None = None


class EndpointRoute(Route):
    """A Starlette route that remembers the `Endpoint` it was built from."""

    def __init__(self, endpoint: Endpoint, guard: Callable[[Endpoint], Handler]) -> None:
        guard = endpoint.guard or guard
        super().__init__(
            endpoint.path,
            with_deadline(guard(endpoint)) if endpoint.deadline else guard(endpoint),
            methods=list(endpoint.methods),
            name=f"{endpoint.handler.__module__}.{endpoint.handler.__name__}",
        )
        self.spec = endpoint


def with_deadline(handler: Handler) -> Handler:
    """`handler` cut off after SLUICE_REQUEST_TIMEOUT seconds with a 503 (each of its
    database operations is bounded by SLUICE_OPERATION_TIMEOUT_MS besides). The
    deadline covers the handler, not the streaming of an answer after it, whose
    batches each have their operation budget."""

    async def bounded(request: Request) -> Response:
        seconds = stores(request).settings.request_timeout
        if not seconds:
            return await handler(request)
        try:
            async with asyncio.timeout(seconds):
                return await handler(request)
        except TimeoutError:
            raise Unavailable(
                f"the request took longer than SLUICE_REQUEST_TIMEOUT ({seconds:g} s); retry later",
                {"limit": "SLUICE_REQUEST_TIMEOUT"},
            ) from None

    return bounded


def build_routes(
    endpoints: list[Endpoint], guard: Callable[[Endpoint], Handler]
) -> list[BaseRoute]:
    """Starlette routes for `endpoints`, each handler wrapped by `guard`."""
    return [EndpointRoute(endpoint, guard) for endpoint in endpoints]


def walk(routes: list[BaseRoute], prefix: str = "") -> list[tuple[str, BaseRoute]]:
    """Every route of a route tree with its full path (mounts expanded)."""
    found: list[tuple[str, BaseRoute]] = []
    for route in routes:
        if isinstance(route, Mount):
            found.extend(walk(list(route.routes), prefix + route.path))
        elif isinstance(route, Route):
            found.append((prefix + route.path, route))
        else:
            found.append((prefix, route))
    return found
