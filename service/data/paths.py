"""The AERO surface's transport rules, as a pure ASGI middleware: under
SLUICE_AERO_PREFIX repeated slashes are collapsed and a trailing slash dropped before
routing (the AERO client sends `/osprey/api/v1.0//data/search` and both `/data` and
`/data/`; Starlette would answer 404 or a 307 whose Location is built from the Host
header), and errors carry AERO's top-level `code` and `message` too."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import FLAT_ERRORS

#: The first path segments of the AERO surface (data, flows, provenance).
SEGMENTS = ("data", "flow", "prov")
_SLASHES = re.compile(r"/{2,}")


def normalise(path: str) -> str:
    """`path` with repeated slashes collapsed and no trailing slash (but `/`)."""
    collapsed = _SLASHES.sub("/", path)
    return collapsed.rstrip("/") or "/"


class AeroPaths:
    """Rewrites paths of the AERO surface mounted at `prefix` ("" is the root)."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix
        self.starts = tuple(f"{prefix}/{segment}" for segment in SEGMENTS)

    def _ours(self, path: str) -> bool:
        return any(path == start or path.startswith(start + "/") for start in self.starts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = normalise(scope["path"])
            if self._ours(path):
                # Marked in place too: the errors answered outside this middleware (a
                # 500, a request cut off by shutdown) read the scope passed in to it.
                scope[FLAT_ERRORS] = True
                raw = scope.get("raw_path")
                scope = {
                    **scope,
                    "path": path,
                    "raw_path": normalise(raw.decode("latin-1")).encode("latin-1") if raw else None,
                }
        await self.app(scope, receive, send)
