"""Claims at depth: claims per second with D queued works, through Sluice's
`POST /buckets/work/withdraw` and with the raw claim (PyMongo `find_one_and_update`,
the same filter, sort and update as Sluice's one sorted claim), on the same queue.

(a) every depth of `depths` (default 100, 1,000, 10,000, 50,000) in one pipeline;
(b) `spread_depth` works spread evenly over `spread_pipelines` pipelines, claiming
    from one of them.

The queue is seeded with `insert_many` straight into Sluice's collection (deposits are
not what is measured), grown from one depth to the next. Each measurement claims up to
`claims` works (at most half the queue, so the depth stays about the same) or stops at
`claim_seconds`, whichever comes first (at least one claim); the works claimed are put
back in the queue afterwards, untimed. The filter is a worker's: the pipeline and the
site. Sluice claims from candidate batches on the embedded database (SLUICE_CLAIM_BATCH,
see service/buckets/claims.py); the raw claim is what each claim cost before.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import orjson
from pymongo import ReturnDocument
from pymongo.collection import Collection

from bench.common import Comparison, Context, Document, batches, mongo_client, serve, table
from bench.cycles import JSON, SITE, checked, make_works
from service.buckets.claims import CLAIM_SORT, claim_update
from service.buckets.documents import BOUND, LEASE
from service.buckets.store import COLLECTION

#: Works per `insert_many` while seeding.
SEED_BATCH = 1000
#: The deep queue compared with the shallowest (the issue's goal: the rate at 10,000
#: queued at least half the rate at 100).
GOAL_DEPTH = 10_000


@dataclass(frozen=True)
class Rate:
    """Claims made in a measurement and the seconds they took."""

    claims: int
    seconds: float
    ended: str

    @property
    def per_second(self) -> float:
        return self.claims / self.seconds if self.seconds else float("nan")


def measure(claim: Callable[[], bool], most: int, seconds: float) -> Rate:
    """Claim until `most` claims, `seconds` passed (after at least one) or none is left."""
    done = 0
    started = time.perf_counter()
    ended = "claims"
    while done < most:
        if done and time.perf_counter() - started >= seconds:
            ended = "time"
            break
        if not claim():
            ended = "queue empty"
            break
        done += 1
    return Rate(done, time.perf_counter() - started, ended)


def sluice_claim(http: httpx.Client, query: bytes) -> Callable[[], bool]:
    def claim() -> bool:
        return bool(
            orjson.loads(checked(http.post("/work/withdraw", content=query, headers=JSON)).content)
        )

    return claim


def raw_claim(store: Collection[Document], query: Document) -> Callable[[], bool]:
    """The claim as one sorted `find_one_and_update` (SLUICE_CLAIM_BATCH=0)."""
    claim = {"status": "queued", **query}

    def once() -> bool:
        update, _ = claim_update(True)
        found = store.find_one_and_update(
            claim, update, sort=CLAIM_SORT, return_document=ReturnDocument.AFTER
        )
        return found is not None

    return once


def requeue(store: Collection[Document], pipeline: str) -> None:
    """Put the claimed works of `pipeline` back in the queue (untimed)."""
    store.update_many(
        {"status": "running", "pipeline": pipeline},
        {
            "$set": {"status": "queued", "start": None, "attempt": 0},
            "$unset": {LEASE: "", BOUND: ""},
        },
    )


def seed(store: Collection[Document], pipelines: list[str], each: int) -> float:
    """Add `each` queued works to every pipeline of `pipelines`; seconds it took."""
    started = time.perf_counter()
    for pipeline in pipelines:
        for chunk in batches(make_works(pipeline, each), SEED_BATCH):
            store.insert_many(chunk)
    return time.perf_counter() - started


def compare(
    ctx: Context, http: httpx.Client, store: Collection[Document], pipeline: str, depth: int
) -> tuple[Rate, Rate]:
    """Sluice's claims and the raw claims from `pipeline`, holding `depth` queued works."""
    options = ctx.options
    most = max(1, min(options.claims, depth // 2))
    query = {"pipeline": {"$in": [pipeline]}, "site": SITE}
    sluice = measure(sluice_claim(http, orjson.dumps(query)), most, options.claim_seconds)
    requeue(store, pipeline)
    raw = measure(raw_claim(store, query), most, options.claim_seconds)
    requeue(store, pipeline)
    return sluice, raw


def run(ctx: Context) -> list[Comparison]:
    """(a) and (b); print a table for each and return the figures."""
    options = ctx.options
    depths = sorted(set(options.depths))
    rows: list[list[object]] = []
    comparisons: list[Comparison] = []
    by_depth: dict[int, Rate] = {}
    with queue_api(ctx, "sluice-claims") as (http, store):
        pipeline = f"bench-depth-{uuid.uuid4().hex[:8]}"
        held = 0
        for depth in depths:
            seeded = seed(store, [pipeline], depth - held)
            held = depth
            sluice_rate, raw_rate = compare(ctx, http, store, pipeline, depth)
            by_depth[depth] = sluice_rate
            rows.append(_row("one pipeline", depth, seeded, sluice_rate, raw_rate))
            comparisons.append(
                Comparison(
                    f"claims/s, {depth:,} queued in one pipeline",
                    "claims/s",
                    sluice_rate.per_second,
                    raw_rate.per_second,
                    "raw find_one_and_update",
                )
            )
        store.delete_many({"pipeline": pipeline})
        spread = [
            f"bench-spread-{n}-{uuid.uuid4().hex[:6]}" for n in range(options.spread_pipelines)
        ]
        each = max(1, options.spread_depth // len(spread))
        seeded = seed(store, spread, each)
        sluice_rate, raw_rate = compare(ctx, http, store, spread[0], each)
        label = f"{len(spread)} pipelines"
        rows.append(_row(label, each * len(spread), seeded, sluice_rate, raw_rate))
        comparisons.append(
            Comparison(
                f"claims/s, {each * len(spread):,} queued over {label}",
                "claims/s",
                sluice_rate.per_second,
                raw_rate.per_second,
                "raw find_one_and_update",
            )
        )
        store.delete_many({"pipeline": {"$in": spread}})
    headers = [
        "queue",
        "queued",
        "seed s",
        "Sluice claims",
        "Sluice claims/s",
        "ended",
        "raw claims",
        "raw claims/s",
        "ended",
    ]
    print(
        f"\n(a, b) claims by depth, filter pipeline + site; up to {options.claims} claims or "
        f"{options.claim_seconds} s each way\n\n{table(headers, rows)}\n"
    )
    return comparisons + depth_ratio(by_depth, "claims/s")


def depth_ratio(by_depth: dict[int, Rate], unit: str) -> list[Comparison]:
    """Sluice's rate at the deepest depth measured up to GOAL_DEPTH against its rate
    at the shallowest (printed), or nothing when only one depth was measured."""
    deep = max((d for d in by_depth if d <= GOAL_DEPTH), default=None)
    shallow = min(by_depth, default=None)
    if deep is None or shallow is None or deep == shallow:
        return []
    ratio = Comparison(
        f"{unit} at {deep:,} vs {shallow:,} queued",
        unit,
        by_depth[deep].per_second,
        by_depth[shallow].per_second,
        f"Sluice at {shallow:,} queued",
    )
    print(f"Sluice at {deep:,} / Sluice at {shallow:,} queued: {ratio.ratio:.2f}")
    return [ratio]


@contextmanager
def queue_api(ctx: Context, name: str) -> Iterator[tuple[httpx.Client, Collection[Document]]]:
    """A Sluice process of its own (`name`) with a connected client of its /buckets
    routes, and its queue's collection through PyMongo (the raw side)."""
    with (
        serve(ctx, name) as sluice,
        httpx.Client(base_url=f"{sluice.url}/buckets", timeout=600) as http,
        mongo_client(ctx) as client,
    ):
        checked(http.get("/version"))
        yield http, client[ctx.db_name][COLLECTION]


def _row(queue: str, depth: int, seeded: float, sluice: Rate, raw: Rate) -> list[object]:
    return [
        queue,
        depth,
        seeded,
        sluice.claims,
        sluice.per_second,
        sluice.ended,
        raw.claims,
        raw.per_second,
        raw.ended,
    ]
