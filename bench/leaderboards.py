"""Leaderboards: the ranking through Sluice against the same aggregation in PyMongo,
and the time to rank as the runs grow.

The runs are seeded with `insert_many` straight into Sluice's collection, shaped as the
run store stores a successful ranked run (results, and the keys of the default order
that the ranking index reads), over `lb_groups` groups made through the group store.

(a) at `lb_runs` runs (default 10,000 in 200 groups): one page (100 rows) of the
    leaderboard, best run per group and every run, through
    `GET /leaderboards/workflows/{id}/ranking` against `aggregate` of the same pipeline
    (`service.leaderboards.ranking.pipeline`) with PyMongo on the same database;
(b) the time to rank (best per group, and every run) at each size of `lb_sizes`
    (default 1,000 and 10,000 runs; `--lb-sizes 1000,10000,50000` adds 50,000, about
    a minute of seeding and 10-15 s per ranking on the embedded database, which sorts
    in memory rather than from the ranking index), grown from one size to the next; the
    ratio is against the smallest size.

Each figure is the median of `lb_requests` requests after warm-up ones.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Callable
from functools import partial

import httpx
import yaml

from bench.common import Comparison, Context, Document, batches, mongo_client, serve, table
from schemas.leaderboard_groups import GroupRequest
from service.auth.principal import Principal
from service.db import Database
from service.leaderboards import ranking
from service.leaderboards.groups import GroupStore
from service.leaderboards.runs import COLLECTION
from service.settings import Settings
from service.users.store import UserStore

PER_PAGE = 100
SEED_BATCH = 1000
WARMUP = 3

PIPELINE = "bench-leaderboard"
TEMPLATE: Document = {
    "name": "bench",
    "pipeline": PIPELINE,
    "site": "bench",
    "steps": [{"name": "run", "command": ["true"], "outputs": ["results.json"]}],
    "results": {
        "file": "results.json",
        "schema": [
            {"name": "score", "label": "Score", "dtype": "float"},
            {"name": "size", "label": "Size", "dtype": "int"},
            {"name": "name", "label": "Name", "dtype": "string", "required": False},
        ],
        "orderBy": [{"name": "score", "sortDesc": True}, {"name": "size", "sortDesc": False}],
    },
}


def make_groups(ctx: Context, workflow_id: str, count: int) -> list[str]:
    """`count` groups of the workflow, through the group store; their ids."""

    async def create() -> list[str]:
        settings = Settings.from_env({"MONGODB_URI": ctx.mongo_uri, "SLUICE_DB_NAME": ctx.db_name})
        database = Database(settings)
        try:
            groups = GroupStore(database, UserStore(database, settings), 100)
            caller = Principal(None, None, frozenset({"admin"}))
            made = []
            for n in range(count):
                request = GroupRequest(name=f"team {n}")
                made.append((await groups.create(workflow_id, PIPELINE, request, caller))["_id"])
            return made
        finally:
            await database.close()

    return asyncio.run(create())


def make_runs(
    workflow_id: str, schema: Document, groups: list[str], start: int, count: int
) -> list[Document]:
    """`count` successful ranked runs, numbered from `start`, spread over `groups`."""
    rng = random.Random(start)
    now = time.time()
    runs = []
    for n in range(start, start + count):
        results: Document = {"score": rng.uniform(0, 100), "size": rng.randrange(1, 1000)}
        if n % 10:
            results["name"] = f"run {n}"
        group = groups[n % len(groups)]
        runs.append({
            "_id": uuid.uuid4().hex, "workflow_id": workflow_id, "group_id": group,
            "postproc": False, "user": "bench", "state": "SUCCESS", "created_at": now + n * 1e-3,
            "started_at": now, "finished_at": now, "arguments": [], "messages": [],
            "process_id": None, "files": [], "results": results, "ranked": True,
            "rank": ranking.stored_keys(schema, results),
        })  # fmt: skip
    return runs


def median_ms(action: Callable[[], object], requests: int) -> float:
    """Milliseconds `action` takes, the median of `requests` calls after warm-up."""
    for _ in range(WARMUP):
        action()
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def run(ctx: Context) -> list[Comparison]:
    options = ctx.options
    sizes = sorted(set(options.lb_sizes) | {options.lb_runs})
    comparisons: list[Comparison] = []
    growth: list[tuple[int, float, float]] = []
    quiet = {"SLUICE_LEADERBOARD_INTERVAL": "0"}
    with (
        serve(ctx, "leaderboards", env=quiet) as sluice,
        httpx.Client(base_url=sluice.url, timeout=600) as http,
        mongo_client(ctx) as client,
    ):
        installed = http.post("/leaderboards/workflows", content=yaml.safe_dump(TEMPLATE).encode())
        if installed.status_code != 201:
            raise RuntimeError(f"install: {installed.status_code} {installed.text[:300]}")
        template = installed.json()
        workflow_id, schema = template["id"], template["results"]
        groups = make_groups(ctx, workflow_id, options.lb_groups)
        collection = client[ctx.db_name][COLLECTION]
        seeded = 0
        cap = ctx.settings.leaderboard_max_ranked

        def page(include_all: bool) -> int:
            return min(PER_PAGE, seeded if include_all else len(groups))

        def via_sluice(include_all: bool) -> None:
            params = {"include_all": str(include_all), "per_page": str(PER_PAGE)}
            answer = http.get(f"/leaderboards/workflows/{workflow_id}/ranking", params=params)
            if answer.status_code != 200 or len(answer.json()["ranking"]) != page(include_all):
                raise RuntimeError(f"ranking: {answer.status_code} {answer.text[:300]}")

        def via_pymongo(include_all: bool) -> None:
            stages = ranking.pipeline(workflow_id, schema, None, include_all, 0, PER_PAGE, cap)
            if len(list(collection.aggregate(stages))) != page(include_all):
                raise RuntimeError("the raw aggregation answered a short page")

        for size in sizes:
            started = time.perf_counter()
            for batch in batches(
                make_runs(workflow_id, schema, groups, seeded, size - seeded), SEED_BATCH
            ):
                collection.insert_many(batch, ordered=False)
            seed_seconds = time.perf_counter() - started
            seeded = size
            best = median_ms(partial(via_sluice, False), options.lb_requests)
            every = median_ms(partial(via_sluice, True), options.lb_requests)
            growth.append((size, best, every))
            print(
                f"leaderboard at {size:,} runs (seeded in {seed_seconds:.1f} s): "
                f"best per group {best:.1f} ms, every run {every:.1f} ms",
                flush=True,
            )
            if size == options.lb_runs:
                for every_run, label in ((False, "best per group"), (True, "every run")):
                    mine = median_ms(partial(via_sluice, every_run), options.lb_requests)
                    raw = median_ms(partial(via_pymongo, every_run), options.lb_requests)
                    comparisons.append(Comparison(
                        f"leaderboard page, {label}, {size:,} runs / {len(groups)} groups",
                        "ms per page", mine, raw, "PyMongo aggregate, same pipeline"))  # fmt: skip
    base_size, base_best, base_every = growth[0]
    rows = []
    for size, best, every in growth:
        rows.append([f"{size:,}", best, every, best / base_best, every / base_every])
        baseline = f"the same at {base_size:,} runs"
        comparisons += [
            Comparison(f"time to rank (best per group), {size:,} runs", "ms", best, base_best,
                       baseline),
            Comparison(f"time to rank (every run), {size:,} runs", "ms", every, base_every,
                       baseline),
        ]  # fmt: skip
    print(
        "\n" + table(["runs", "best/group ms", "every run ms", "best x", "every x"], rows),
        flush=True,
    )
    return comparisons
