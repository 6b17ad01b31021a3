"""The route table: every HTTP route with the scope it needs and the shapes it speaks.

Each resource module lists its routes as `Endpoint`s; `build_routes` turns them into
Starlette routes. Authorisation and the OpenAPI document both read this one table, so a
route cannot exist without a declared scope, and the contract cannot drift from the
code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

# The path every route matches against (root path taken off): the index must key on it.
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import Receive, Send
from starlette.types import Scope as AsgiScope

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


#: Seconds a handler cut off at its deadline (or by a stopping server) gets to finish its
#: clean-ups (a transaction's abort, a partial write's removal) before the answer goes
#: out without it; what is left of the handler then runs on, unawaited.
CLEANUP_GRACE_SECONDS = 1.0

#: Handlers still running after their request was answered (see `with_deadline`): held
#: here so they are not garbage-collected before they end.
_LATE: set[asyncio.Task[Response]] = set()

log = logging.getLogger("sluice.http")


def request_timeout(request: Request) -> float:
    """SLUICE_REQUEST_TIMEOUT of the app serving `request`."""
    return stores(request).settings.request_timeout


def with_deadline(
    handler: Handler, timeout: Callable[[Request], float] = request_timeout
) -> Handler:
    """`handler` cut off after SLUICE_REQUEST_TIMEOUT seconds with a 503 (each of its
    database operations is bounded by SLUICE_OPERATION_TIMEOUT_MS besides). The
    deadline covers the handler, not the streaming of an answer after it, whose
    batches each have their operation budget.

    The handler runs as a task of its own, so the answer does not depend on it
    honouring its cancellation: a cancellation that lands just as a driver call
    completes can be swallowed inside the driver (asyncio.wait_for on Python 3.11),
    and a handler run in the request's own task would then carry on to its last
    database round trip. At the deadline the handler is cancelled and given
    CLEANUP_GRACE_SECONDS to end: its answer goes out if it ends with one in that
    time, the 503 otherwise, whether or not it has ended. `timeout`: the deadline in
    seconds of a request (0: none)."""

    async def bounded(request: Request) -> Response:
        seconds = timeout(request)
        if not seconds:
            return await handler(request)
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(handler(request))
        ended = loop.create_future()

        def wake(_: object = None) -> None:
            if not ended.done():
                ended.set_result(None)

        timer = loop.call_later(seconds, wake)
        task.add_done_callback(wake)
        try:
            await ended
        except asyncio.CancelledError:  # the server is stopping: so is the handler
            await _cut_off(task)
            raise
        finally:
            timer.cancel()
            task.remove_done_callback(wake)
        if task.done():
            return task.result()
        if await _cut_off(task):
            return task.result()  # it finished after all, in the grace
        raise Unavailable(
            f"the request took longer than SLUICE_REQUEST_TIMEOUT ({seconds:g} s); retry later",
            {"limit": "SLUICE_REQUEST_TIMEOUT"},
        )

    return bounded


async def _cut_off(task: asyncio.Task[Response]) -> bool:
    """Cancel `task` and wait up to CLEANUP_GRACE_SECONDS for it to end; True if it
    ended with an answer (it ignored or outran the cancellation). A task still running
    then is left to end by itself."""
    _LATE.add(task)
    task.add_done_callback(_ended)
    task.cancel()
    await asyncio.wait({task}, timeout=CLEANUP_GRACE_SECONDS)
    if not task.done():
        log.warning(
            "a handler still runs %gs after its cancellation; answering without it",
            CLEANUP_GRACE_SECONDS,
        )
        return False
    return not task.cancelled() and task.exception() is None


def _ended(task: asyncio.Task[Response]) -> None:
    _LATE.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.debug("a cut-off handler ended with an error", exc_info=task.exception())


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


#: The index key of routes that may match a path whatever its first segment.
_ANY = "{any}"


def _segment(path: str) -> str:
    """A path's first segment: "/results/view" -> "results"; "/" and "" -> ""."""
    return path[1:].partition("/")[0]


def _key(route: BaseRoute) -> str:
    """The first path segment every path `route` matches begins with, or _ANY when
    that segment is not a constant (a parameter in it, a mount at the root, a route
    with no path)."""
    path = getattr(route, "path", None)
    if not isinstance(path, str) or not path.startswith("/"):
        return _ANY
    segment = _segment(path)
    return segment if segment and "{" not in segment else _ANY


class IndexedRouter(Router):
    """A Starlette router that tries, in table order, only the routes that can match
    the request's first path segment, instead of every route: the same route is picked
    (the FULL match first in table order, else the first PARTIAL one, the 405), and a
    request no candidate matches goes on to Starlette's own scan, slash redirect and
    404. The route table is fixed once the router is built, as Sluice's is."""

    def __init__(self, routes: list[BaseRoute], **kwargs: Any) -> None:
        super().__init__(routes, **kwargs)
        keyed = [(route, _key(route)) for route in self.routes]
        self._anywhere = tuple(route for route, key in keyed if key == _ANY)
        self._candidates = {
            key: tuple(route for route, its in keyed if its in (key, _ANY))
            for key in {key for _, key in keyed} - {_ANY}
        }

    def pick(self, scope: AsgiScope) -> tuple[BaseRoute, AsgiScope] | None:
        """The route a linear scan of the table would hand `scope` to (FULL before
        PARTIAL), with its child scope; None when none matches."""
        key = _segment(get_route_path(scope))
        partial: tuple[BaseRoute, AsgiScope] | None = None
        for route in self._candidates.get(key, self._anywhere):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return route, child_scope
            if match is Match.PARTIAL and partial is None:
                partial = route, child_scope
        return partial

    async def app(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        picked = self.pick(scope) if scope["type"] in ("http", "websocket") else None
        if picked is None:
            await super().app(scope, receive, send)
            return
        route, child_scope = picked
        scope.setdefault("router", self)
        scope["route"] = route
        scope.update(child_scope)
        await route.handle(scope, receive, send)
