"""Every store of the service, built once per app in its lifespan (`service.app`), and
the one way a handler reaches them: `stores(request)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

if TYPE_CHECKING:
    # Types only: the stores' modules import this one for the accessor.
    from service.auth.audit import AuditLog
    from service.auth.guard import Gate
    from service.auth.tokens import TokenStore
    from service.buckets.store import BucketsStore
    from service.data.functions import FunctionStore
    from service.data.ingest import Ingestor
    from service.data.store import DataStore
    from service.db import Database
    from service.experiments.files import FileStore
    from service.experiments.store import ExperimentStore
    from service.experiments.tasks import TaskStore
    from service.flows.service import Flows
    from service.leaderboards.groups import GroupStore
    from service.leaderboards.runs import LeaderboardRunStore
    from service.leaderboards.templates import TemplateStore
    from service.leaderboards.uploads import UploadStore
    from service.observe.metrics import Metrics
    from service.results.store import ResultsStore
    from service.settings import Settings
    from service.users.store import UserStore
    from service.workers.store import WorkerStore
    from service.workfiles.runs import RunStore
    from service.workfiles.stepfiles import StepFileStore
    from service.workfiles.store import WorkfileStore


@dataclass(frozen=True)
class Stores:
    """What request handlers share: the settings, the process's metrics, the database,
    the auth gate and the store of every resource (each store alone writes its
    collections)."""

    settings: Settings
    metrics: Metrics
    database: Database
    gate: Gate
    tokens: TokenStore
    users: UserStore
    audit_log: AuditLog
    results: ResultsStore
    buckets: BucketsStore
    workfiles: WorkfileStore
    runs: RunStore
    step_files: StepFileStore
    workers: WorkerStore
    experiments: ExperimentStore
    files: FileStore
    tasks: TaskStore
    groups: GroupStore
    uploads: UploadStore
    data: DataStore
    functions: FunctionStore
    ingest: Ingestor
    templates: TemplateStore
    leaderboard_runs: LeaderboardRunStore
    flows: Flows


def stores(request: Request) -> Stores:
    """The stores of the app serving `request`."""
    held = getattr(request.app.state, "stores", None)
    if not isinstance(held, Stores):
        raise RuntimeError("the app's stores are opened by its lifespan, which has not run")
    return held
