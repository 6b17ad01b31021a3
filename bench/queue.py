"""Buckets, the work queue: Sluice over HTTP against PyMongo straight to the same database.

(a) deposit: `POST /buckets/work` in batches vs `insert_many` of the same queued works,
    same batch size, into a scratch collection with the Buckets indexes;
(b) withdraw -> update cycles: claim one work, report it done, with 1 and with
    `workers` concurrent workers (threads, each with its own HTTP client), vs the same
    claim (`find_one_and_update`, same filter, sort and update as the store) and a
    conditional update to `success` with PyMongo, also with 1 and `workers` threads.
(`sluice worker` itself, against this cycle rate and against a peer: bench/workers.py.)

Each configuration of (b) stops after `cycles` cycles or `seconds` seconds, whichever
comes first, so a baseline that collapses under contention (claims on the embedded
database do) is cut short rather than stalling the benchmark; its rate is what it
managed in that time.
"""

from __future__ import annotations

import math
import uuid

import httpx
from pymongo.collection import Collection

from bench.common import (
    Comparison,
    Context,
    Document,
    compare_deposits,
    mongo_client,
    number,
    serve,
    table,
)
from bench.cycles import (
    Side,
    both_sides,
    expect_success,
    get_json,
    make_works,
    post_works,
)
from bench.race import Race, merge, race
from service.buckets.store import COLLECTION, INDEXES

#: Untimed cycles each way before the timed runs: connections and caches warm up.
WARMUP_CYCLES = 5
#: Seconds `sluice worker` may take per job before the benchmark gives up on it.
JOB_PATIENCE = 10.0


def deposit(
    ctx: Context, http: httpx.Client, scratch: Collection[Document], works: list[Document]
) -> Comparison:
    """(a) Deposit `works` both ways, alternating batch by batch."""
    return compare_deposits(
        ctx,
        works,
        scratch,
        lambda body, count: post_works(http, body, count),
        ("queue deposit", "works/s", "works", "POST /buckets/work"),
    )


def cycle_rates(
    ctx: Context,
    url: str,
    http: httpx.Client,
    store: Collection[Document],
    scratch: Collection[Document],
) -> tuple[list[Comparison], Race]:
    """(b) Withdraw -> update cycles with 1 and `workers` workers, Sluice and PyMongo in
    turn; returns the figures and Sluice's one-worker run (the baseline of (c)).

    Each configuration runs in two halves, in the order 1, N, N, 1 workers, so a drift
    of the database's speed over the run weighs on both worker counts alike; the two
    halves' rates also show how much a rate varies from one run to the next. Every
    half works a pipeline of its own, filled with `cycles` works beforehand and deleted
    after: a claim on the embedded server takes time in proportion to the number of
    works stored, so every half starts alike."""
    options = ctx.options
    sides = both_sides(ctx, url, http, store, scratch)

    def timed(side: Side, workers: int, count: int, seconds: float, queued: int) -> Race:
        pipeline = f"bench-{uuid.uuid4().hex[:8]}"
        side.fill(make_works(pipeline, queued))
        result = race(side.worker(pipeline), workers, count, seconds)
        expect_success(side.succeeded(pipeline), result.cycles, side.path)
        side.clear(pipeline)
        return result

    for side in sides.values():
        timed(side, 1, WARMUP_CYCLES, options.seconds, WARMUP_CYCLES)
    many = options.workers
    half_cycles = math.ceil(options.cycles / 2)
    halves: dict[tuple[str, int], list[Race]] = {}
    for workers in (1, many, many, 1):
        for name, side in sides.items():
            half = timed(side, workers, half_cycles, options.seconds / 2, options.cycles)
            halves.setdefault((name, workers), []).append(half)
    runs = {key: merge(parts) for key, parts in halves.items()}
    rows: list[list[object]] = [
        [
            sides[name].path,
            r.workers,
            r.cycles,
            r.seconds,
            r.per_second,
            " / ".join(number(half.per_second) for half in halves[name, r.workers]),
            r.ended,
        ]
        for (name, _), r in sorted(runs.items(), key=lambda item: item[0][1])
    ]
    comparisons = [
        Comparison(
            f"queue withdraw+update, {_workers(n)}",
            "cycles/s",
            runs["Sluice", n].per_second,
            runs["PyMongo", n].per_second,
            f"PyMongo, {_workers(n)}",
        )
        for n in (1, many)
    ]
    scaling = Comparison(
        f"queue withdraw+update, {many} vs 1 worker",
        "cycles/s",
        runs["Sluice", many].per_second,
        runs["Sluice", 1].per_second,
        "Sluice, 1 worker",
    )
    headers = ["path", "workers", "cycles", "seconds", "cycles/s", "halves", "ended by"]
    print(
        f"\n(b) withdraw -> update cycles, two halves per row (1, {many}, {many}, 1 workers in "
        f"turn); each half starts with {options.cycles} queued works and stops at "
        f"{half_cycles} cycles or {options.seconds / 2:g} s"
        f"\n\n{table(headers, rows)}\n"
    )
    for n, comparison in zip((1, many), comparisons, strict=True):
        print(f"ratio Sluice / PyMongo, {_workers(n)}: {comparison.ratio:.2f}")
    spread = max(_spread(halves["Sluice", n]) for n in (1, many))
    if scaling.ratio >= 1:
        verdict = f"not slower with {many}"
    elif 1 - scaling.ratio <= spread:
        verdict = f"level: within the {spread:.0%} spread between halves of one row"
    else:
        verdict = f"SLOWER with {many}, beyond the {spread:.0%} spread between halves of one row"
    print(f"Sluice {many} workers / Sluice 1 worker: {scaling.ratio:.2f} ({verdict})")
    raw_scaling = runs["PyMongo", many].per_second / runs["PyMongo", 1].per_second
    print(f"PyMongo {many} workers / PyMongo 1 worker: {raw_scaling:.2f}", flush=True)
    return [*comparisons, scaling], runs["Sluice", 1]


def _spread(parts: list[Race]) -> float:
    """How far apart the rates of runs of one configuration are, relative to their mean."""
    rates = [part.per_second for part in parts]
    return (max(rates) - min(rates)) / (sum(rates) / len(rates))


def _workers(count: int) -> str:
    return f"{count} worker" if count == 1 else f"{count} workers"


def run(ctx: Context) -> list[Comparison]:
    """Run (a) and (b) on fresh pipelines; print a table for each and return the figures."""
    pipeline = f"bench-{uuid.uuid4().hex[:8]}"
    works = make_works(pipeline, ctx.options.docs)
    with (
        serve(ctx) as sluice,
        httpx.Client(base_url=f"{sluice.url}/buckets", timeout=120) as http,
        mongo_client(ctx) as client,
    ):
        get_json(http, "/version")  # connect before the clock starts
        store = client[ctx.db_name][COLLECTION]
        scratch = client[ctx.db_name][f"bench-scratch.{COLLECTION}"]
        scratch.create_indexes(INDEXES)
        comparisons = [deposit(ctx, http, scratch, works)]
        for collection in (store, scratch):
            collection.delete_many({"pipeline": pipeline})
        figures, _ = cycle_rates(ctx, sluice.url, http, store, scratch)
        comparisons.extend(figures)
    return comparisons
