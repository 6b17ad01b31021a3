"""`/docs`: this API's documentation, rendered by Swagger UI from assets Sluice serves.

The assets come from the `swagger-ui-bundle-v2` distribution installed with Sluice, so
the page works without internet (nothing is fetched from a CDN).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path

import swagger_ui_bundle  # type: ignore[import-untyped]
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from service.routing import Endpoint

#: The only files served, with their media types.
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sluice API</title>
<link rel="icon" href="docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
<div id="docs"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "openapi.json", dom_id: "#docs"});</script>
</body>
</html>
"""


@cache
def _asset(name: str) -> bytes:
    folder = Path(str(swagger_ui_bundle.swagger_ui_path))
    return (folder / name).read_bytes()


async def docs(request: Request) -> Response:
    """An HTML page rendering /openapi.json with Swagger UI (served by Sluice)."""
    return HTMLResponse(_PAGE)


def _asset_handler(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def asset(request: Request) -> Response:
        return Response(
            _asset(name), media_type=ASSETS[name], headers={"Cache-Control": "max-age=86400"}
        )

    asset.__name__ = "asset_" + re.sub(r"\W", "_", name)
    return asset


endpoints = [
    Endpoint("/docs", ("GET",), docs, "public", "This API's documentation, rendered",
             response=str, media_type="text/html"),
    # One route per file, each with its media type, so the contract names them all.
    *(Endpoint(f"/docs/assets/{name}", ("GET",), _asset_handler(name), "public",
               f"Swagger UI's {name}, for /docs", response=None,
               media_type=media_type.split(";")[0])
      for name, media_type in ASSETS.items()),
]  # fmt: skip
