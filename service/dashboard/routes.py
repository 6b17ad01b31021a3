"""`/` and `/dashboard/*`: the dashboard page and its assets, served from this package.

The page holds no data: it reads the API from the browser (with the token the user
enters, kept in the browser's local storage), so it shows only what that token may
read, and its retry buttons work only for an admin token. Nothing is fetched from
elsewhere: it works offline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from service.routing import Endpoint

STATIC = Path(__file__).parent / "static"
#: The files served, with their media types.
ASSETS = {
    "app.js": "text/javascript",
    "app.css": "text/css",
}


@cache
def _read(name: str) -> bytes:
    return (STATIC / name).read_bytes()


async def page(request: Request) -> Response:
    """The dashboard."""
    return Response(_read("index.html"), media_type="text/html; charset=utf-8")


def _asset(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def asset(request: Request) -> Response:
        return Response(_read(name), media_type=f"{ASSETS[name]}; charset=utf-8")

    asset.__name__ = "dashboard_" + name.replace(".", "_")
    return asset


endpoints = [
    Endpoint("/", ("GET",), page, "public", "The dashboard (reads the API with your token)",
             response=str, media_type="text/html"),
    *(Endpoint(f"/dashboard/{name}", ("GET",), _asset(name), "public",
               f"The dashboard's {name}", response=None, media_type=media_type)
      for name, media_type in ASSETS.items()),
]  # fmt: skip
