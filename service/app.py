"""The application factory: `create_app()` is what uvicorn serves."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount

from service import __version__
from service.buckets import audit, transfer
from service.buckets.routes import endpoints as buckets_endpoints
from service.buckets.store import BucketsStore
from service.buckets.tasks import Periodic
from service.db import Database
from service.errors import Unavailable, exception_handlers
from service.jsonio import JSONResponse
from service.query import QueryValidator
from service.results.routes import endpoints as results_endpoints
from service.results.store import ResultsStore
from service.routing import Endpoint, Handler, build_routes
from service.settings import Settings

log = logging.getLogger("sluice")


async def healthz(request: Request) -> Response:
    """The process is up (says nothing about the database)."""
    return JSONResponse({"status": "ok", "version": __version__})


async def readyz(request: Request) -> Response:
    """The database answers; 503 otherwise."""
    database: Database = request.app.state.database
    try:
        await database.ping()
    except Exception as exc:
        raise Unavailable("the database is unreachable", {"reason": str(exc)}) from None
    return JSONResponse({"status": "ready"})


health_endpoints = [
    Endpoint("/healthz", ("GET", "HEAD"), healthz, "public", "The process is up",
             response=dict[str, str]),
    Endpoint("/readyz", ("GET", "HEAD"), readyz, "public", "The database answers",
             response=dict[str, str], errors=(503,)),
]  # fmt: skip

#: Every route of the service: (mount prefix, endpoints). "" is the root.
MOUNTS: list[tuple[str, list[Endpoint]]] = [
    ("", health_endpoints),
    ("/results", results_endpoints),
    ("/buckets", buckets_endpoints),
]


def guard(endpoint: Endpoint) -> Handler:
    """The handler that serves `endpoint` (authorisation wraps it here)."""
    return endpoint.handler


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the Sluice ASGI app; settings default to the environment's."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        database = Database(settings)
        await database.ping()
        validator = QueryValidator(settings.max_query_depth, settings.max_query_nodes)
        app.state.database = database
        app.state.results = results = ResultsStore(database, validator, settings)
        await results.create_indexes()
        app.state.buckets = buckets = BucketsStore(database, validator, settings)
        await buckets.create_indexes()
        loops = [
            Periodic("reaper", settings.reaper_interval, lambda: audit.reap(buckets.collection)),
            Periodic(
                "mover",
                settings.transfer_interval,
                lambda: transfer.move(buckets, results, settings.transfer_cutoff),
            ),
        ]
        for loop in loops:
            loop.start()
        log.info("sluice %s ready (database %s)", __version__, settings.db_name)
        try:
            yield
        finally:
            for loop in loops:
                await loop.stop()
            await database.close()

    routes: list[BaseRoute] = []
    for prefix, endpoints in MOUNTS:
        built = build_routes(endpoints, guard)
        routes.extend([Mount(prefix, routes=built)] if prefix else built)
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=exception_handlers)
    app.state.settings = settings
    return app
