"""Opening the experiment stores in the app's lifespan, and their periodic upkeep."""

from __future__ import annotations

from starlette.applications import Starlette

from service.buckets.store import BucketsStore
from service.buckets.tasks import Periodic
from service.db import Database
from service.experiments.files import FileStore
from service.experiments.routes import Stores
from service.experiments.store import ExperimentStore
from service.experiments.tasks import TaskStore
from service.results.store import ResultsStore
from service.settings import Settings


async def install(
    app: Starlette,
    database: Database,
    buckets: BucketsStore,
    results: ResultsStore,
    settings: Settings,
) -> Periodic:
    """Create the stores (on `app.state.experiments`) and their indexes; return the
    loop (not started) that reconciles tasks and deletes replaced files every
    SLUICE_TASK_INTERVAL seconds."""
    experiments = ExperimentStore(database)
    files = FileStore(database, experiments, settings)
    tasks = TaskStore(database, buckets, results, files, settings)
    for store in (experiments, files, tasks):
        await store.create_indexes()
    app.state.experiments = Stores(experiments, files, tasks)

    async def upkeep() -> dict[str, int]:
        tallies = await tasks.reconcile()
        tallies["files_deleted"] = await files.sweep()
        return tallies

    return Periodic("experiments", settings.task_interval, upkeep)
