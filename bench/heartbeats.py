"""Heartbeats at depth: lease renewals per second while D works are queued, through
Sluice's `POST /buckets/work/heartbeat` and with the raw heartbeat (PyMongo
`find_one_and_update`, the same filter, update and projection as Sluice's heartbeat on
a real MongoDB), renewing the same leases.

A heartbeat touches one running work, but on the embedded database a
`find_one_and_update` scans the whole collection whatever its filter, so its cost grows
with the queue; Sluice renews with an update then a read of that work there
(SLUICE_UPDATE_THEN_READ, service.db.update_then_read). The queue is seeded as for the
claims (bench/claims.py), at each depth of `depths` up to 10,000; `HELD` works are
withdrawn through Sluice once, and each measurement renews their leases in turn, up to
`claims` heartbeats or `claim_seconds`, whichever comes first.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable

import httpx
import orjson
from pymongo import ReturnDocument
from pymongo.collection import Collection

from bench.claims import GOAL_DEPTH, Rate, depth_ratio, measure, queue_api, seed
from bench.common import Comparison, Context, Document, Options, table
from bench.cycles import JSON, SITE, checked
from schemas.buckets import LEASE_HEADER
from service.buckets import lease
from service.buckets.documents import LEASE, STOP

#: Running works whose leases every measurement renews in turn.
HELD = 20

Lease = tuple[str, str]


def hold(http: httpx.Client, pipeline: str, count: int) -> list[Lease]:
    """Withdraw `count` works of `pipeline` through Sluice: (work id, lease token) each."""
    query = orjson.dumps({"pipeline": {"$in": [pipeline]}, "site": SITE})
    held: list[Lease] = []
    for _ in range(count):
        claimed = checked(http.post("/work/withdraw", content=query, headers=JSON))
        work = orjson.loads(claimed.content)
        if not work:
            break
        held.append((work["id"], claimed.headers[LEASE_HEADER]))
    return held


def sluice_heartbeat(http: httpx.Client, held: list[Lease]) -> Callable[[], bool]:
    bodies = itertools.cycle([orjson.dumps({"id": i, "lease": t}) for i, t in held])

    def beat() -> bool:
        checked(http.post("/work/heartbeat", content=next(bodies), headers=JSON))
        return True

    return beat


def raw_heartbeat(store: Collection[Document], held: list[Lease]) -> Callable[[], bool]:
    """The heartbeat as one `find_one_and_update` (SLUICE_UPDATE_THEN_READ off)."""
    leases = itertools.cycle(held)

    def beat() -> bool:
        work_id, token = next(leases)
        now = time.time()
        renewed = store.find_one_and_update(
            lease.held(work_id, token),
            [{"$set": {LEASE: {"token": token, "expires": {"$add": [now, "$timeout"]}}}}],
            projection={LEASE: True, STOP: True, "_id": False},
            return_document=ReturnDocument.AFTER,
        )
        return renewed is not None

    return beat


def beat_depths(options: Options) -> list[int]:
    """The depths heartbeats are measured at: those of `--depths` up to 10,000."""
    return sorted({d for d in options.depths if d <= GOAL_DEPTH})


def run(ctx: Context) -> list[Comparison]:
    """Heartbeats/s by depth, Sluice and raw; print a table and return the figures."""
    options = ctx.options
    depths = beat_depths(options)
    rows: list[list[object]] = []
    comparisons: list[Comparison] = []
    by_depth: dict[int, Rate] = {}
    with queue_api(ctx, "sluice-heartbeats") as (http, store):
        pipeline = f"bench-beat-{uuid.uuid4().hex[:8]}"
        seed(store, [pipeline], HELD)
        held = hold(http, pipeline, HELD)
        queued = 0
        for depth in depths:
            seeded = seed(store, [pipeline], depth - queued)
            queued = depth
            sluice_rate = measure(
                sluice_heartbeat(http, held), options.claims, options.claim_seconds
            )
            raw_rate = measure(raw_heartbeat(store, held), options.claims, options.claim_seconds)
            by_depth[depth] = sluice_rate
            rows.append([depth, seeded, sluice_rate.claims, sluice_rate.per_second,
                         raw_rate.claims, raw_rate.per_second])  # fmt: skip
            comparisons.append(
                Comparison(
                    f"heartbeats/s, {depth:,} queued",
                    "heartbeats/s",
                    sluice_rate.per_second,
                    raw_rate.per_second,
                    "raw find_one_and_update",
                )
            )
        store.delete_many({"pipeline": pipeline})
    headers = ["queued", "seed s", "Sluice beats", "Sluice beats/s", "raw beats", "raw beats/s"]
    print(
        f"\nheartbeats by depth, {len(held)} held leases renewed in turn; up to "
        f"{options.claims} heartbeats or {options.claim_seconds} s each way\n\n"
        f"{table(headers, rows)}\n"
    )
    return comparisons + depth_ratio(by_depth, "heartbeats/s")
