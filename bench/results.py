"""Results store: Sluice over HTTP against PyMongo straight to the same database.

(a) deposit: `POST /results/results` in batches vs `insert_many` of the same documents,
    same batch size, into a scratch collection with the same indexes;
(b) view: paging through every document with `POST /results/view` vs `find` with the
    same filter, projection, sort, skip and limit;
(c) count: `POST /results/view/count` on an indexed field vs `count_documents`;
(CPU per request of these routes against two floors: bench/cpu.py.)

Each pair alternates or runs back to back in one process against one database, so the
ratio is what Sluice adds (validation, a transaction per deposit, JSON, HTTP).
"""

from __future__ import annotations

import os
import random
import time
import uuid

import httpx
import orjson
from bson import ObjectId
from pymongo import ASCENDING
from pymongo.collection import Collection

from bench.common import (
    Comparison,
    Context,
    Document,
    alternated,
    compare_deposits,
    mongo_client,
    post_json,
    report,
    serve,
    timed,
)
from schemas.work import FinishedWork
from service.results.store import COLLECTION_PREFIX, INDEXES

#: Passes over every deposited document in the view benchmark.
VIEW_PASSES = 5
#: Untimed requests before each timed run: connections, imports and caches warm up.
WARMUP_REQUESTS = 20
COUNT_FILTER = {"status": "success"}
#: (c) makes requests // COUNT_SHARE counts each way.
COUNT_SHARE = 5


def make_documents(pipeline: str, count: int) -> list[Document]:
    """`count` finished works shaped as a CHIME pipeline deposits them, in wire order."""
    rng = random.Random(count)
    now = time.time()
    documents = []
    for index in range(count):
        work = FinishedWork(
            pipeline=pipeline,
            site="chime",
            user="frb-pipeline",
            status="success",
            results={
                "snr": rng.uniform(8.0, 100.0),
                "dm": rng.uniform(50.0, 3000.0),
                "ra": rng.uniform(0.0, 360.0),
                "dec": rng.uniform(-10.0, 90.0),
            },
            event=[9_000_000 + index],
            tags=["frb", "bench"],
            id=str(ObjectId()),
            creation=now + index * 1e-3,
        )
        documents.append(work.model_dump())
    return documents


def deposit(
    ctx: Context, http: httpx.Client, scratch: Collection[Document], documents: list[Document]
) -> Comparison:
    """(a) Deposit `documents` both ways, alternating batch by batch."""
    return compare_deposits(
        ctx,
        documents,
        scratch,
        lambda body, _count: post_json(http, "/results", body),
        ("results deposit", "docs/s", "documents", "POST /results/results"),
    )


def view(
    ctx: Context, http: httpx.Client, scratch: Collection[Document], pipeline: str, total: int
) -> Comparison:
    """(b) Page through every document, `VIEW_PASSES` times each way, alternating."""
    page = ctx.options.page

    def sluice_pass() -> int:
        seen = 0
        while True:
            body = {"query": {"pipeline": pipeline}, "projection": {}, "skip": seen, "limit": page}
            got = len(post_json(http, "/view", orjson.dumps(body)))
            seen += got
            if got < page:
                return seen

    def raw_pass() -> int:
        seen = 0
        while True:
            # What the store sends for this request: `_id` hidden, deposit order.
            cursor = scratch.find(
                {}, {"_id": False}, skip=seen, limit=page, sort=[("_id", ASCENDING)]
            )
            got = len(cursor.to_list())
            seen += got
            if got < page:
                return seen

    sluice_pass()
    raw_pass()
    sluice_seconds = raw_seconds = 0.0
    for _ in range(VIEW_PASSES):
        sluice_seconds += timed(lambda: _expect(sluice_pass(), total, "Sluice view"))
        raw_seconds += timed(lambda: _expect(raw_pass(), total, "PyMongo find"))
    read = total * VIEW_PASSES
    # Every pass ends on a short (maybe empty) page.
    pages = (total // page + 1) * VIEW_PASSES
    result = Comparison(
        f"results view, limit {page}",
        "docs/s",
        read / sluice_seconds,
        read / raw_seconds,
        "PyMongo",
    )
    report(
        f"(b) view: page through {total:,} documents with limit {page}, {VIEW_PASSES} passes",
        ["path", "documents", "pages", "seconds", "docs/s"],
        [
            ["Sluice POST /results/view", read, pages, sluice_seconds, result.sluice],
            ["PyMongo find", read, pages, raw_seconds, result.baseline],
        ],
        result,
    )
    return result


def _expect(got: int, wanted: int, what: str) -> None:
    # A benchmark that silently reads less than it should would report nonsense.
    if got != wanted:
        raise RuntimeError(f"{what} returned {got} documents, expected {wanted}")


def count(
    ctx: Context, http: httpx.Client, scratch: Collection[Document], body: bytes
) -> Comparison:
    """(c) Count with an indexed filter, a fifth of `requests` times each way, in
    alternating bursts: a count over thousands of matches is slow on the embedded
    database."""
    requests = max(1, ctx.options.requests // COUNT_SHARE)
    answer = post_json(http, "/view/count", body)
    if not isinstance(answer, int) or answer != scratch.count_documents(COUNT_FILTER):
        raise RuntimeError(f"Sluice counted {answer!r}, PyMongo disagrees")

    def sluice_request() -> object:
        return post_json(http, "/view/count", body)

    def raw_request() -> object:
        return scratch.count_documents(COUNT_FILTER)

    for _ in range(WARMUP_REQUESTS):
        sluice_request()
        raw_request()
    # Alternating: the embedded database's speed drifts (it slows after write bursts).
    sluice, raw = alternated(sluice_request, os.getpid(), raw_request, os.getpid(), requests)
    result = Comparison(
        "results count, indexed filter",
        "requests/s",
        sluice.per_second,
        raw.per_second,
        "PyMongo",
    )
    report(
        f"(c) count {COUNT_FILTER} ({answer:,} matches), {requests} requests",
        ["path", "requests", "seconds", "requests/s"],
        [
            ["Sluice POST /results/view/count", requests, sluice.seconds, result.sluice],
            ["PyMongo count_documents", requests, raw.seconds, result.baseline],
        ],
        result,
    )
    return result


def run(ctx: Context) -> list[Comparison]:
    """Run (a) to (c) on a fresh pipeline; print a table for each and return the figures."""
    pipeline = f"bench-{uuid.uuid4().hex[:8]}"
    warmup, *documents = make_documents(pipeline, ctx.options.docs + 1)
    total = len(documents) + 1
    body = orjson.dumps({"query": {"pipeline": pipeline, **COUNT_FILTER}})
    with (
        serve(ctx) as sluice,
        httpx.Client(base_url=f"{sluice.url}/results", timeout=60) as http,
        mongo_client(ctx) as client,
    ):
        scratch = client[ctx.db_name][f"bench-scratch.{COLLECTION_PREFIX}{pipeline}"]
        scratch.create_indexes(INDEXES)
        # One document each way first: Sluice creates the pipeline's indexes on it.
        post_json(http, "/results", orjson.dumps([warmup]))
        scratch.insert_many([dict(warmup)])
        comparisons = [
            deposit(ctx, http, scratch, documents),
            view(ctx, http, scratch, pipeline, total),
        ]
        comparisons.append(count(ctx, http, scratch, body))
    return comparisons
