"""Every HTTP request: a request id, one log line, and its metrics.

The id is the client's `X-Request-ID` when it sends a sane one (letters, digits, `.`,
`_`, `-`; at most 64), else a fresh one; it is echoed in the `X-Request-ID` response
header and carried by every log record of the request. The request's line is logged at
INFO (WARNING for a 5xx), except for polls that change nothing — a withdraw that found
no work, heartbeats, an Alpine poll of a running run, health checks and scrapes —
logged at DEBUG, so an idle fleet of
workers is quiet at the default SLUICE_LOG_LEVEL.

A request still open when a stopping server's SLUICE_SHUTDOWN_GRACE_SECONDS runs out is
cancelled by the server: one whose answer has not started is answered 503
`shutting_down` (service.errors.ShuttingDown, with Retry-After), a streamed answer under
way just ends short; either way its line, at WARNING, says it was cut off, and the
cancellation goes on up to the server.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time

from prometheus_client import Counter, Histogram
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import ShuttingDown, error_answer
from service.observe.logs import CUT_OFF, REQUEST_ID
from service.observe.metrics import Metrics

log = logging.getLogger("sluice.http")

HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: Routes whose successful answers are routine polls (logged at DEBUG).
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics", "/buckets/work/heartbeat"})
#: Label of requests that matched no route, so unknown paths cannot grow the metrics.
UNMATCHED = "unmatched"


_HEADER_KEY = HEADER.lower().encode("latin-1")


def _header(scope: Scope, name: bytes) -> str:
    """The first value of header `name` (lower case), "" if absent; read straight from
    the ASGI scope, without building a Request for it."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def mark_quiet(request: Request) -> None:
    """Log this request's line at DEBUG: it was a poll that found nothing to do."""
    request.state.quiet = True


def route_template(scope: Scope) -> str:
    """The matched route's path template, mounts included ("/results/view"), or
    UNMATCHED."""
    route = scope.get("route")
    if not isinstance(route, Route):
        return UNMATCHED
    mounted = str(scope.get("root_path", ""))[len(str(scope.get("app_root_path", ""))) :]
    return mounted + route.path


class RequestObserver:
    """ASGI middleware: request id, request log line and request metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # The metric children of each (method, route, status): labels() is a locked
        # lookup. Bounded: routes by the route table, methods by the HTTP parser (it
        # refuses made-up ones before the app sees them).
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = _header(scope, _HEADER_KEY)
        request_id = sent if _SANE_ID.match(sent) else secrets.token_hex(8)
        context = REQUEST_ID.set(request_id)
        status = 500
        started = False
        # How the request ended if the stopping server cut it off.
        cut_off: str | None = None
        began = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status, started
            start = message["type"] == "http.response.start"
            if start:
                status = int(message["status"])
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)
            started = started or start

        try:
            await self.app(scope, receive, sending)
        except asyncio.CancelledError:
            # Only a stopping server cancels a request's task (uvicorn, once its graceful
            # shutdown timeout ran out). The handler below has had its cancellation and
            # its clean-ups; the cancellation goes on up, the client gets a JSON answer.
            CUT_OFF.set(True)
            cut_off = "the answer ended short" if started else "answered 503"
            if not started:
                await error_answer(Request(scope), ShuttingDown())(scope, receive, sending)
            raise
        finally:
            self._record(scope, status, time.perf_counter() - began, cut_off)
            REQUEST_ID.reset(context)

    def _record(self, scope: Scope, status: int, elapsed: float, cut_off: str | None) -> None:
        method, route = str(scope["method"]), route_template(scope)
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.metrics.requests.labels(method, route, str(status)),
                self.metrics.latency.labels(method, route),
            )
        children[0].inc()
        children[1].observe(elapsed)
        if status == 503:
            self.metrics.database_errors.labels("request").inc()
        quiet = (
            not cut_off
            and status < 400
            and (route in QUIET_ROUTES or bool(scope.get("state", {}).get("quiet")))
        )
        level = (
            logging.DEBUG
            if quiet
            else logging.WARNING
            if status >= 500 or cut_off
            else logging.INFO
        )
        if not log.isEnabledFor(level):
            return
        client = scope.get("client")
        path = str(scope.get("path", ""))
        fields = {
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 1),
            "client": client[0] if client else None,
        }
        note = ""
        if cut_off:
            fields["cut_off"] = True
            note = f" (cut off by the stopping server: {cut_off})"
        log.log(
            level,
            "%s %s %d %.1fms%s",
            method,
            path,
            status,
            elapsed * 1000,
            note,
            extra={"http": fields},
        )
