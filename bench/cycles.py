"""The queue benchmark's two ways of working the queue, through Sluice's HTTP API and
straight with PyMongo, and the works they deposit and cycle through."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.collection import Collection

from bench.common import (
    Context,
    Document,
    batches,
    post_json,
)
from bench.race import Cycle, OpenWorker
from schemas.buckets import LEASE_HEADER
from schemas.work import Work
from service.buckets.claims import CLAIM_SORT, claim_update
from service.buckets.documents import LEASE

SITE = "chime"
NOOP = "bench.noop.noop"
JSON = {"content-type": "application/json"}
#: What every cycle reports as the work's results.
RESULTS = {"bench": True}


def make_works(pipeline: str, count: int) -> list[Document]:
    """`count` queued no-op works of mixed priority, in wire order, each with an id."""
    rng = random.Random(count)
    now = time.time()
    works = []
    for index in range(count):
        work = Work(
            pipeline=pipeline,
            site=SITE,
            user="frb-pipeline",
            function=NOOP,
            parameters={"event": 9_000_000 + index},
            event=[9_000_000 + index],
            tags=["frb", "bench"],
            id=str(ObjectId()),
            creation=now + index * 1e-3,
            status="queued",
            priority=rng.randint(1, 5),
        )
        works.append(work.model_dump())
    return works


def post_works(http: httpx.Client, body: bytes, count: int) -> None:
    """`POST /buckets/work` an encoded batch of `count` works; RuntimeError unless every
    one got an id."""
    ids = post_json(http, "/work?return_ids=True", body)
    if not isinstance(ids, list) or len(ids) != count:
        raise RuntimeError(f"POST /buckets/work answered {str(ids)[:200]} for {count} works")


def deposit_all(http: httpx.Client, works: list[Document], batch: int) -> None:
    """Queue `works` through Sluice, `batch` per request."""
    for chunk in batches(works, batch):
        post_works(http, orjson.dumps(chunk), len(chunk))


@contextmanager
def sluice_worker(url: str, pipeline: str) -> Iterator[Cycle]:
    """A worker with its own HTTP connection: withdraw, then `PUT` the work as done
    with the lease it was given."""
    query = orjson.dumps({"pipeline": {"$in": [pipeline]}})
    with httpx.Client(base_url=f"{url}/buckets", timeout=120) as http:
        http.get("/version").raise_for_status()  # connect before the clock starts

        def cycle() -> bool:
            claimed = checked(http.post("/work/withdraw", content=query, headers=JSON))
            work = orjson.loads(claimed.content)
            if not work:
                return False
            report = {**work, "status": "success", "stop": time.time(), "results": RESULTS}
            headers = {**JSON, LEASE_HEADER: claimed.headers[LEASE_HEADER]}
            checked(http.put("/work", content=orjson.dumps([report]), headers=headers))
            return True

        yield cycle


def checked(response: httpx.Response) -> httpx.Response:
    """`response` if it is a 200; RuntimeError naming the request otherwise."""
    if response.status_code != 200:
        request = response.request
        raise RuntimeError(
            f"{request.method} {request.url.path}: {response.status_code} {response.text[:500]}"
        )
    return response


def raw_worker(scratch: Collection[Document], pipeline: str) -> Cycle:
    """The same cycle with PyMongo: claim as Sluice's one sorted claim does
    (SLUICE_CLAIM_BATCH=0, service.buckets.claims), then set the
    work to `success` if the lease is still ours. (Neither mongod nor the embedded
    server reports write conflicts outside a transaction: they retry them inside.)"""
    claim = {"status": "queued", "pipeline": {"$in": [pipeline]}}

    def cycle() -> bool:
        update, token = claim_update(bound=True)
        claimed = scratch.find_one_and_update(
            claim, update, sort=CLAIM_SORT, return_document=ReturnDocument.AFTER
        )
        if claimed is None:
            return False
        scratch.update_one(
            {"_id": claimed["_id"], f"{LEASE}.token": token},
            {
                "$set": {"status": "success", "stop": time.time(), "results": RESULTS},
                "$unset": {LEASE: ""},
            },
        )
        return True

    return cycle


@dataclass(frozen=True)
class Side:
    """One way to work the queue: how to fill it, a worker, and how many works succeeded."""

    path: str
    fill: Callable[[list[Document]], object]
    worker: Callable[[str], OpenWorker]
    succeeded: Callable[[str], int]
    #: The collection the side stores works in, for clearing a pipeline away.
    collection: Collection[Document]

    def clear(self, pipeline: str) -> None:
        """Delete a pipeline's works: on the embedded server a claim costs time in
        proportion to the collection's size, so leftovers would slow every later run."""
        self.collection.delete_many({"pipeline": pipeline})


def both_sides(
    ctx: Context,
    url: str,
    http: httpx.Client,
    store: Collection[Document],
    scratch: Collection[Document],
) -> dict[str, Side]:
    """ "Sluice" (HTTP to the server at `url`, works in `store`) and "PyMongo" (works in
    `scratch`)."""

    def sluice_worker_of(pipeline: str) -> OpenWorker:
        return lambda: sluice_worker(url, pipeline)

    def raw_worker_of(pipeline: str) -> OpenWorker:
        return lambda: nullcontext(raw_worker(scratch, pipeline))

    return {
        "Sluice": Side(
            "Sluice withdraw + PUT",
            lambda works: deposit_all(http, works, ctx.options.batch),
            sluice_worker_of,
            lambda pipeline: int(get_json(http, f"/status/details/{pipeline}")["success"]),
            store,
        ),
        "PyMongo": Side(
            "PyMongo find_one_and_update + update",
            scratch.insert_many,
            raw_worker_of,
            lambda pipeline: scratch.count_documents({"pipeline": pipeline, "status": "success"}),
            scratch,
        ),
    }


def expect_success(got: Any, wanted: int, what: str) -> None:
    """RuntimeError unless `got` works succeeded as `wanted`: a benchmark whose cycles
    did not all land would report nonsense."""
    if got != wanted:
        raise RuntimeError(f"{what}: {got} works succeeded, expected {wanted}")


def get_json(http: httpx.Client, path: str) -> Any:
    """GET `path`; the decoded answer, or RuntimeError naming the failure."""
    return orjson.loads(checked(http.get(path)).content)
