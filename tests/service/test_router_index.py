"""The indexed router (`IndexedRouter`): it hands every request to the route a linear
scan of the table would (Starlette's rule: the first FULL match, else the first PARTIAL
one), trying only the routes the path's first segment can reach."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router

from service.app import create_app
from service.routing import IndexedRouter
from service.settings import Settings

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
#: Paths no route table is built around: odd slashes, case, unknown first segments.
ODD_PATHS = ("/", "", "//", "//results/view", "/results/", "/Results/view", "/nope", "/x/y/z")
_PARAM = re.compile(r"\{([^}:]+)(?::([^}]+))?\}")
_SAMPLES = {"path": "a/b", "int": "7", "float": "1.5", "uuid": str(uuid.UUID(int=0))}


def _concrete(path: str) -> str:
    """`path` with each parameter replaced by a value its converter accepts."""
    return _PARAM.sub(lambda m: _SAMPLES.get(m.group(2) or "", "x"), path)


def _scope(method: str, path: str, **more: Any) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", **more}


def _linear(routes: list[BaseRoute], scope: dict[str, Any]) -> tuple[BaseRoute, Any] | None:
    """The reference: Starlette's scan of every route, in table order."""
    partial = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return route, child
        if match is Match.PARTIAL and partial is None:
            partial = route, child
    return partial


def _same_pick(router: Router, scope: dict[str, Any]) -> None:
    """The indexed router's pick equals the linear scan's, here and in every mount."""
    assert isinstance(router, IndexedRouter)
    picked, expected = router.pick(scope), _linear(router.routes, scope)
    if expected is None:
        assert picked is None, scope["path"]
        return
    assert picked is not None, scope["path"]
    assert picked[0] is expected[0] and picked[1] == expected[1], scope["path"]
    route, child = picked
    if isinstance(route, Mount) and isinstance(route.app, Router):
        _same_pick(route.app, {**scope, **child})


def _table_paths(routes: list[BaseRoute], prefix: str = "") -> list[str]:
    found: list[str] = []
    for route in routes:
        if isinstance(route, Mount):
            found += _table_paths(list(route.routes), prefix + route.path)
        elif isinstance(route, Route):
            found.append(prefix + route.path)
    return found


@pytest.fixture(scope="module")
def app_router() -> Router:
    app = create_app(Settings(mongodb_uri="mongodb://127.0.0.1:1", auth="off"))
    return app.router


def test_every_route_of_sluice_is_picked_as_a_linear_scan_would(app_router: Router) -> None:
    paths = {_concrete(path) for path in _table_paths(app_router.routes)}
    assert len(paths) > 100  # the whole table, mounts included
    for path in sorted(paths | set(ODD_PATHS) | {p + "/" for p in paths}):
        for method in METHODS:
            _same_pick(app_router, _scope(method, path))


def test_sluices_mounts_are_indexed(app_router: Router) -> None:
    mounts = [route for route in app_router.routes if isinstance(route, Mount)]
    assert mounts and all(isinstance(mount.app, IndexedRouter) for mount in mounts)


async def _endpoint(request: Request) -> Response:
    return PlainTextResponse(request.scope["route"].name)


def _overlapping(root_mount: bool = True) -> list[BaseRoute]:
    """A table where order decides: a parameter in the first segment before a constant
    one, the same path with two methods, and (`root_mount`) a mount at the root, a FULL
    match for every path."""
    routes: list[BaseRoute] = [
        Route("/{kind}/x", _endpoint, methods=["GET"], name="any-kind"),
        Route("/a/x", _endpoint, methods=["GET", "POST"], name="a-x"),
        Route("/a/y", _endpoint, methods=["PUT"], name="a-y-put"),
        Route("/a/y", _endpoint, methods=["GET"], name="a-y-get"),
        Mount("/b", app=IndexedRouter([Route("/c", _endpoint, name="b-c")])),
    ]
    if root_mount:
        routes.append(
            Mount("", app=IndexedRouter([Route("/z/{rest:path}", _endpoint, name="root-z")]))
        )
    return routes


@pytest.mark.parametrize(
    "method, path",
    [(m, p) for m in METHODS for p in ("/a/x", "/q/x", "/a/y", "/b/c", "/z/1/2", "/a", "/")],
)
def test_order_decides_as_in_a_linear_scan(method: str, path: str) -> None:
    for root_mount in (True, False):
        _same_pick(IndexedRouter(_overlapping(root_mount)), _scope(method, path))


def _client(routes: list[BaseRoute]) -> httpx.AsyncClient:
    app = Starlette()
    app.router = IndexedRouter(routes)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test")


async def test_answers_are_starlettes() -> None:
    async with _client(_overlapping()) as client:
        assert (await client.get("/a/x")).text == "any-kind"  # first in table order
        assert (await client.post("/a/x")).text == "a-x"  # the FULL match after a PARTIAL
        assert (await client.get("/a/y")).text == "a-y-get"
        assert (await client.get("/b/c")).text == "b-c"
        assert (await client.get("/z/1/2")).text == "root-z"
        # The root mount is a FULL match for any path: its router answers 404.
        assert (await client.delete("/a/y")).status_code == 404
    async with _client(_overlapping(root_mount=False)) as client:
        assert (await client.delete("/a/y")).status_code == 405  # only PARTIAL matches
        assert (await client.get("/nope")).status_code == 404
        redirected = await client.get("/b/c/")  # Starlette's slash redirect
        assert redirected.status_code == 307
        assert redirected.headers["location"].endswith("/b/c")
