"""Workers: `sluice worker` against the queue's own cycle rate, and against a peer.

(a) the ceiling: Sluice's withdraw -> update cycle (bench/cycles.py) with 1 and
    `concurrency` threads, each its own HTTP client;
(b) `sluice worker --concurrency N`, the real command in a subprocess, running `jobs`
    no-op works (bench/noop.py) end to end, at N = 1 and `concurrency`, against (a) at
    the same concurrency;
(c) the peer, on the same database and box: Celery with kombu's MongoDB transport and a
    MongoDB result backend (bench/peer_app.py: prefork pool, prefetch 1, late acks,
    polling 0.05 s) running the same no-op jobs at the same concurrencies; jobs/s end to
    end and the enqueue rate, one job per request (Sluice: `POST /buckets/work` of one
    work; Celery: `apply_async`).

A worker's jobs/s is timed as each system recorded its jobs: from the first job's start
to the last job's end (Sluice: the works' `start` and `stop`; Celery: the task's own
start and the result's `date_done`), so neither side's start-up counts.
"""

from __future__ import annotations

import math
import uuid

import httpx

from bench.common import Comparison, Context, report, serve
from bench.cycles import SITE, deposit_all, get_json, make_works, sluice_worker
from bench.peer import Peer, celery_jobs, celery_missing
from bench.race import race
from bench.runs import Jobs, enqueue_batched, enqueue_one_by_one, sluice_jobs


def ceiling(ctx: Context, url: str, http: httpx.Client, threads: int) -> float:
    """(a) Sluice's cycle rate with `threads` concurrent cycles, on a pipeline of its own."""
    pipeline = f"bench-ceiling-{uuid.uuid4().hex[:8]}"
    count = max(ctx.options.jobs, 20)
    deposit_all(http, make_works(pipeline, count), ctx.options.batch)
    result = race(lambda: sluice_worker(url, pipeline), threads, count, ctx.options.seconds)
    return result.per_second


def run(ctx: Context) -> list[Comparison]:
    """Run (a) to (c) at concurrency 1 and `concurrency`; print the tables and return
    the figures."""
    levels = sorted({1, ctx.options.concurrency})
    missing = celery_missing()
    with (
        serve(ctx) as sluice,
        httpx.Client(base_url=f"{sluice.url}/buckets", timeout=120) as http,
    ):
        get_json(http, "/version")  # connect before the clock starts
        ceilings = {n: ceiling(ctx, sluice.url, http, n) for n in levels}
        ours = {n: sluice_jobs(ctx, sluice.url, http, n) for n in levels}
        enqueued = enqueue_one_by_one(ctx, http)
        batched = enqueue_batched(ctx, http)
        peer: dict[int, Jobs] = {}
        peer_enqueue = math.nan
        if missing is None:
            with Peer(ctx) as celery:
                peer_enqueue = celery.enqueue_rate(ctx.options.jobs)
                peer = {n: celery_jobs(ctx, celery, n) for n in levels}
    comparisons: list[Comparison] = []
    rows: list[list[object]] = []
    for n in levels:
        mine = ours[n]
        comparisons.append(
            Comparison(
                f"sluice worker, no-op jobs, concurrency {n}",
                "jobs/s",
                mine.per_second,
                ceilings[n],
                f"Sluice cycle, {n} thread{'s' if n > 1 else ''}",
            )
        )
        rows.append([f"sluice worker --concurrency {n}", mine.jobs, mine.seconds, mine.per_second])
        rows.append([f"(a) Sluice withdraw + PUT, {n} threads", "", "", ceilings[n]])
        if n in peer:
            theirs = peer[n]
            rows.append([f"Celery prefork -c {n}", theirs.jobs, theirs.seconds, theirs.per_second])
            comparisons.append(
                Comparison(
                    f"sluice worker vs Celery, concurrency {n}",
                    "jobs/s",
                    mine.per_second,
                    theirs.per_second,
                    f"Celery {CELERY_LABEL}, -c {n}",
                )
            )
    if missing is None:
        comparisons.append(
            Comparison(
                "enqueue, one job per request",
                "jobs/s",
                enqueued,
                peer_enqueue,
                f"Celery {CELERY_LABEL} apply_async",
            )
        )
    headers = ["path", "jobs", "seconds", "jobs/s"]
    rows.append(["Sluice POST /buckets/work, one work each", ctx.options.jobs, "", enqueued])
    batch = ctx.options.batch
    rows.append([f"Sluice POST /buckets/work, batches of {batch}", ctx.options.jobs, "", batched])
    if missing is None:
        rows.append(["Celery apply_async, one each", ctx.options.jobs, "", peer_enqueue])
    note = f" (peer skipped: {missing})" if missing else ""
    print(f"\nworkers: {ctx.options.jobs} no-op jobs per run at site {SITE}{note}")
    report("(a)-(c) workers, first job's start to last job's end", headers, rows, comparisons[0])
    for comparison in comparisons[1:]:
        print(f"ratio {comparison.name}: {comparison.ratio:.2f}")
    return comparisons


CELERY_LABEL = "(kombu MongoDB transport)"
