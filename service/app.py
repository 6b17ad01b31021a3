"""The application factory: `create_app()` is what uvicorn serves."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount

from service import __version__
from service.alpine import chorus, engine
from service.aqueduct.routes import endpoints as aqueduct_endpoints
from service.auth import guard as auth_guard
from service.auth.audit import AuditLog
from service.auth.guard import Gate
from service.auth.routes import endpoints as admin_endpoints
from service.auth.tokens import TokenStore
from service.buckets import transfer
from service.buckets.routes import endpoints as buckets_endpoints
from service.buckets.store import BucketsStore
from service.dashboard.routes import endpoints as dashboard_endpoints
from service.data import authstub
from service.data import compat as data_compat
from service.data.functions import FunctionStore
from service.data.ingest import Ingestor
from service.data.paths import AeroPaths
from service.data.routes import endpoints as data_endpoints
from service.data.store import DataStore
from service.db import Database
from service.docs import endpoints as docs_endpoints
from service.errors import Unavailable, exception_handlers
from service.experiments.files import FileStore
from service.experiments.routes import endpoints as experiment_endpoints
from service.experiments.store import ExperimentStore
from service.experiments.tasks import TaskStore
from service.flows import compat as flows_compat
from service.flows.routes import endpoints as flow_endpoints
from service.flows.service import Flows
from service.flowserv import routes as flowserv
from service.flowserv.guard import FlowservErrors
from service.jsonio import JSONResponse
from service.leaderboards.group_routes import endpoints as group_endpoints
from service.leaderboards.groups import GroupStore
from service.leaderboards.postproc import PostProcessing
from service.leaderboards.routes import endpoints as leaderboard_endpoints
from service.leaderboards.runs import LeaderboardRunStore
from service.leaderboards.templates import TemplateStore
from service.leaderboards.uploads import UploadStore
from service.observe import logs
from service.observe.metrics import Metrics
from service.observe.requests import RequestObserver
from service.observe.routes import endpoints as observe_endpoints
from service.openapi import endpoints as openapi_endpoints
from service.patterns import RegexPolicy
from service.periodic import Periodic
from service.query import QueryValidator
from service.results.routes import endpoints as results_endpoints
from service.results.store import ResultsStore
from service.routing import Endpoint, IndexedRouter, build_routes
from service.settings import Settings
from service.stores import Stores, stores
from service.sweep import sweep_files
from service.users.routes import endpoints as user_endpoints
from service.users.store import UserStore
from service.workers.routes import endpoints as workers_endpoints
from service.workers.store import WorkerStore
from service.workfiles.fileroutes import endpoints as step_file_endpoints
from service.workfiles.routes import endpoints as workfile_endpoints
from service.workfiles.runs import RunStore
from service.workfiles.stepfiles import StepFileStore
from service.workfiles.store import WorkfileStore

log = logging.getLogger("sluice")


async def healthz(request: Request) -> Response:
    """The process is up (says nothing about the database)."""
    return JSONResponse({"status": "ok", "version": __version__})


async def readyz(request: Request) -> Response:
    """The database answers; 503 otherwise."""
    try:
        await stores(request).database.ping()
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
    ("", openapi_endpoints),
    ("", docs_endpoints),
    ("", dashboard_endpoints),
    ("", observe_endpoints),
    ("/results", results_endpoints),
    ("/buckets", buckets_endpoints + workers_endpoints),
    ("/admin", [*admin_endpoints, *user_endpoints]),
    ("", step_file_endpoints),
    ("", workfile_endpoints),
    ("", experiment_endpoints),
    ("", data_endpoints),
    # One mount: Starlette's first mount of a prefix would shadow a second one.
    ("/leaderboards", [*leaderboard_endpoints, *group_endpoints]),
    ("", flow_endpoints),
    (engine.ENGINE_PATH, engine.endpoints),
]


def _warn_if_open(settings: Settings) -> None:
    if settings.auth == "off":
        log.warning(
            "SLUICE_AUTH=off: every route is open to anyone who can reach %s", settings.host
        )
    elif settings.admin_token is None:
        log.warning("SLUICE_ADMIN_TOKEN is unset: only tokens already stored are accepted")


async def open_stores(settings: Settings, metrics: Metrics) -> Stores:
    """Connect to the database, build every store and ensure its indexes; the process's
    `metrics` are kept beside them."""
    database = Database(settings)
    await database.ping()
    validator = QueryValidator(
        settings.max_query_depth,
        settings.max_query_nodes,
        RegexPolicy(settings.max_regex_length, settings.max_regex_cost),
    )
    tokens = TokenStore(database, settings.auth_cache_seconds, settings.auth_cache_size)
    users = UserStore(database, settings)
    results = ResultsStore(database, validator, settings)
    buckets = BucketsStore(database, validator, settings)
    experiments = ExperimentStore(database)
    files = FileStore(database, experiments, settings)
    groups = GroupStore(database, users, settings.max_view_results)
    uploads = UploadStore(
        database, groups, settings.leaderboard_max_upload_bytes, settings.max_view_results
    )
    step_files = StepFileStore(database, settings)
    data = DataStore(database, settings)
    runs = RunStore(database, buckets, results, step_files)
    templates = TemplateStore(database, settings)
    functions = FunctionStore(database)
    ingest = Ingestor(data, settings)
    flows = Flows.open(database, settings, data, functions, ingest, buckets, results)
    opened = Stores(
        settings=settings,
        metrics=metrics,
        database=database,
        gate=Gate(settings, tokens, users),
        tokens=tokens,
        users=users,
        audit_log=AuditLog(database),
        results=results,
        buckets=buckets,
        workfiles=WorkfileStore(database, settings),
        runs=runs,
        step_files=step_files,
        workers=WorkerStore(database, settings),
        experiments=experiments,
        files=files,
        tasks=TaskStore(database, buckets, results, files, settings, tokens),
        groups=groups,
        uploads=uploads,
        data=data,
        templates=templates,
        leaderboard_runs=LeaderboardRunStore(
            database, settings, templates, runs, step_files, uploads
        ),
        functions=functions,
        ingest=ingest,
        flows=flows,
    )
    for store in (
        opened.tokens,
        opened.users,
        opened.audit_log,
        opened.results,
        opened.buckets,
        opened.workfiles,
        opened.runs,
        opened.step_files,
        opened.workers,
        opened.experiments,
        opened.files,
        opened.tasks,
        opened.groups,
        opened.uploads,
        opened.data,
        opened.functions,
        opened.templates,
        opened.leaderboard_runs,
        opened.flows,
    ):
        await store.create_indexes()
    _warn_if_open(settings)
    return opened


def background_loops(opened: Stores) -> list[Periodic]:
    """The periodic passes of the service (not started); each is safe on several replicas."""
    settings = opened.settings
    buckets, results, tasks, files = opened.buckets, opened.results, opened.tasks, opened.files
    postproc = PostProcessing(
        opened.templates, opened.leaderboard_runs, opened.step_files, opened.groups
    )

    async def experiments_upkeep() -> dict[str, int]:
        # Reconcile tasks with their works, then delete files that were replaced.
        tallies = await tasks.reconcile()
        tallies["files_deleted"] = await files.sweep()
        return tallies

    return [
        Periodic("experiments", settings.task_interval, experiments_upkeep),
        Periodic("runs", settings.run_interval, opened.runs.reconcile),
        Periodic("files", settings.sweep_interval, lambda: sweep_files(opened)),
        Periodic("leaderboards", settings.leaderboard_interval, postproc.upkeep),
        Periodic("reaper", settings.reaper_interval, buckets.reap),
        Periodic("workers", settings.reaper_interval, opened.workers.prune),
        Periodic(
            "retrier",
            settings.reaper_interval if settings.retry_backoff > 0 else 0,
            lambda: buckets.retry(settings.retry_backoff, settings.retry_max_backoff),
        ),
        Periodic(
            "mover",
            settings.transfer_interval,
            lambda: transfer.move(buckets, results, settings.transfer_cutoff, opened.audit_log),
        ),
        *opened.flows.loops(),
    ]


def mounts(settings: Settings) -> list[tuple[str, list[Endpoint]]]:
    """Every route of the service with these settings: MOUNTS, the Alpine Chorus
    routes under SLUICE_ALPINE_PREFIX, the Aqueduct-compatible surface under
    SLUICE_AQUEDUCT_PREFIX, the flowServ-compatible one under SLUICE_FLOWSERV_PREFIX
    and the AERO-compatible one under SLUICE_AERO_PREFIX (each where its clients' URL
    says), with the AERO client's token refresh if SLUICE_AERO_AUTH_STUB."""
    return [
        *MOUNTS,
        (f"{settings.alpine_prefix}/api", chorus.endpoints),
        (settings.aqueduct_prefix, aqueduct_endpoints),
        (settings.flowserv_prefix, flowserv.endpoints(settings)),
        (settings.aero_mount, [*data_compat.endpoints, *flows_compat.endpoints]),
        *([("", authstub.endpoints)] if settings.aero_auth_stub else []),
    ]


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the Sluice ASGI app; settings default to the environment's."""
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level, settings.log_format)
    metrics = Metrics(settings.metrics_max_age)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = await open_stores(settings, metrics)
        app.state.stores = opened
        loops = background_loops(opened)
        for loop in loops:
            loop.metrics = metrics
            loop.start()
        log.info("sluice %s ready (database %s)", __version__, settings.db_name)
        try:
            yield
        finally:
            for loop in loops:
                await loop.stop()
            await opened.database.close()

    routes: list[BaseRoute] = []
    for prefix, endpoints in mounts(settings):
        # Every handler is admitted only with a token holding its endpoint's scope
        # (unless public or SLUICE_AUTH=off), within the rate limit.
        built = build_routes(endpoints, auth_guard.guarded)
        routes.extend([Mount(prefix, app=IndexedRouter(built))] if prefix else built)
    app = Starlette(
        exception_handlers=exception_handlers,
        middleware=[
            Middleware(RequestObserver, metrics=metrics),
            Middleware(AeroPaths, prefix=settings.aero_mount),
            Middleware(FlowservErrors, prefix=settings.flowserv_prefix),
        ],
    )
    # Starlette takes no router class: its router is replaced before the first request
    # builds the middleware stack around it.
    app.router = IndexedRouter(routes, lifespan=lifespan)
    return app
