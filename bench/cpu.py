"""Server CPU per request on every hot route, against two floors (bench/floor.py).

For each route — lookup of a result by id, a view page, a count, a deposit batch, a
withdraw and a report — the same requests go to three processes served alike by
uvicorn: Sluice, the driver floor (a Starlette route making the same PyMongo async
call and answering its result) and the bare floor (a Starlette route answering the
same JSON). The figure is the CPU time each server process spent per request, from
its own resource usage, so the database's share is left out; Sluice's and the driver
floor's requests alternate in ten bursts each. Sluice runs with its
periodic passes off (every SLUICE_*_INTERVAL 0): their CPU is not the requests'.

Those routes run with auth off. The lookup is measured again with a token, on Sluice
processes that check it: one with the token cache (SLUICE_AUTH_CACHE_SECONDS as
default) and one reading the token on every request (0), so the cache's saving shows.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

import httpx
import orjson

from bench.common import (
    Burst,
    Comparison,
    Context,
    Document,
    alternated,
    burst,
    mongo_client,
    post_json,
    serve,
    table,
)
from bench.cycles import JSON, SITE, checked, make_works
from bench.floor import ANSWERS_ENV
from bench.results import make_documents
from schemas.buckets import LEASE_HEADER
from service.buckets.store import COLLECTION as BUCKETS
from service.buckets.store import INDEXES as BUCKETS_INDEXES
from service.results.store import COLLECTION_PREFIX
from service.results.store import INDEXES as RESULTS_INDEXES
from service.settings import Settings, env_name

#: Untimed requests each way before a timed burst: connections and caches warm up.
WARMUP = 20
#: The bare floor's bursts are this many times longer: its CPU per request is small, so a
#: short burst would be mostly noise (and, off Linux, clock-tick rounding: `cpu_seconds`).
BARE_FACTOR = 4
#: Deposits are slow on the embedded database: a tenth of the requests, at least this.
MIN_DEPOSITS = 5
DEPOSIT_SHARE = 10
#: Works per deposit request.
DEPOSIT_BATCH = 100
#: Below this much CPU per route and side, the figure is mostly noise.
MIN_CPU_SECONDS = 0.1


#: Every periodic pass of Sluice off (reaper, mover, upkeep...).
QUIET = {env_name(f.name): "0" for f in fields(Settings) if f.name.endswith("_interval")}
#: The bootstrap admin secret of the Sluice processes that check tokens (loopback only).
ADMIN_SECRET = "bench-admin-" + uuid.uuid4().hex
#: The token-checking processes: name, and their token cache lifetime (None: default).
TOKEN_SERVERS = (("with a token", None), ("with a token read every request", "0"))


@dataclass(frozen=True)
class Route:
    """One hot route: its name, and a request to Sluice and to the driver floor (each
    called once per request, in order), plus how many requests to time."""

    name: str
    sluice: Callable[[], Any]
    driver: Callable[[], Any]
    requests: int
    #: Whether untimed warm-up requests may be sent (not for routes that use up works).
    warm: bool = True


@dataclass(frozen=True)
class Measured:
    """One route's bursts on the three servers."""

    name: str
    answer_bytes: int
    sluice: Burst
    driver: Burst
    bare: Burst


def measure_sluice_and_driver(
    routes: list[Route], sluice_pid: int, driver_pid: int
) -> list[tuple[Route, Any, Burst, Burst]]:
    """Each route on Sluice and on the driver floor: (route, Sluice's answer, bursts)."""
    done = []
    for route in routes:
        answer = route.sluice()
        if route.warm:
            for _ in range(WARMUP):
                route.sluice()
                route.driver()
        sluice, driver = alternated(
            route.sluice, sluice_pid, route.driver, driver_pid, route.requests
        )
        done.append((route, answer, sluice, driver))
    return done


def measure_bare(ctx: Context, done: list[tuple[Route, Any, Burst, Burst]]) -> list[Measured]:
    """The bare floor answering each route's answer, as Sluice answered it."""
    answers = {_slug(route.name): answer for route, answer, _, _ in done}
    answers_file = ctx.workdir / "floor-answers.json"
    answers_file.write_bytes(orjson.dumps(answers))
    env = {ANSWERS_ENV: str(answers_file)}
    measured = []
    with (
        serve(ctx, "bare-floor", app="bench.floor:create_app", env=env) as bare,
        httpx.Client(base_url=bare.url, timeout=60) as http,
    ):
        for route, answer, sluice, driver in done:
            path = f"/bare/{_slug(route.name)}"

            def request(path: str = path) -> Any:
                return orjson.loads(checked(http.post(path, content=b"{}", headers=JSON)).content)

            for _ in range(WARMUP):
                request()
            floor = burst(request, bare.pid, route.requests * BARE_FACTOR)
            size = len(orjson.dumps(answer))
            measured.append(Measured(route.name, size, sluice, driver, floor))
    return measured


def _slug(name: str) -> str:
    return name.replace(" ", "-")


def report(measured: list[Measured]) -> list[Comparison]:
    """Print the table; the figures: each route against each floor."""
    headers = [
        "route", "answer bytes", "requests", "Sluice µs", "driver floor µs", "bare floor µs",
        "Sluice / driver", "Sluice / bare",
    ]  # fmt: skip
    rows: list[list[object]] = []
    comparisons: list[Comparison] = []
    for m in measured:
        driver = Comparison(
            f"server CPU per {m.name}", "µs", m.sluice.cpu_us, m.driver.cpu_us,
            "Starlette + same PyMongo call",
        )  # fmt: skip
        bare = Comparison(
            f"server CPU per {m.name}", "µs", m.sluice.cpu_us, m.bare.cpu_us,
            "bare Starlette, same JSON",
        )  # fmt: skip
        comparisons += [driver, bare]
        rows.append([
            m.name, m.answer_bytes, m.sluice.requests, m.sluice.cpu_us, m.driver.cpu_us,
            m.bare.cpu_us, driver.ratio, bare.ratio,
        ])  # fmt: skip
    print(
        "\n(a) server CPU per request, in the process that answers (µs of user + system "
        f"CPU per request)\n\n{table(headers, rows)}\n",
        flush=True,
    )
    short = [m.name for m in measured if min(m.sluice.cpu, m.driver.cpu) < MIN_CPU_SECONDS]
    if short:
        print(f"note: under {MIN_CPU_SECONDS} s of CPU in all for {', '.join(short)}: "
              "mostly noise; raise --requests")  # fmt: skip
    return comparisons


def run(ctx: Context) -> list[Comparison]:
    """Every hot route against both floors; print the table and return the figures."""
    options = ctx.options
    pipeline = f"bench-cpu-{uuid.uuid4().hex[:8]}"
    queue = f"bench-cpu-queue-{uuid.uuid4().hex[:8]}"
    requests = options.requests
    deposits = max(MIN_DEPOSITS, requests // DEPOSIT_SHARE)
    # Works for the withdraws of both sides (warm-up included); deposits made per request.
    claims = requests + 1
    results = f"{COLLECTION_PREFIX}{pipeline}"
    scratch_results = f"bench-scratch.{COLLECTION_PREFIX}{pipeline}"
    scratch_queue = f"bench-scratch.{BUCKETS}"
    seeded, *more = make_documents(pipeline, options.docs + (2 * deposits + 1) * DEPOSIT_BATCH + 1)
    stored, more = more[: options.docs], more[options.docs :]
    sluice_batches = [
        more[i * DEPOSIT_BATCH : (i + 1) * DEPOSIT_BATCH] for i in range(deposits + 1)
    ]
    rest = more[(deposits + 1) * DEPOSIT_BATCH :]
    driver_batches = [
        rest[i * DEPOSIT_BATCH : (i + 1) * DEPOSIT_BATCH] for i in range(deposits + 1)
    ]
    with (
        serve(ctx, "sluice-cpu", env=QUIET) as sluice,
        serve(ctx, "driver-floor", app="bench.floor:create_driver_app") as driver_app,
        httpx.Client(base_url=sluice.url, timeout=120) as http,
        httpx.Client(base_url=driver_app.url, timeout=120) as driver,
        mongo_client(ctx) as client,
    ):
        db = client[ctx.db_name]
        db[scratch_results].create_indexes(RESULTS_INDEXES)
        db[scratch_queue].create_indexes(BUCKETS_INDEXES)
        post_json(http, "/results/results", orjson.dumps([seeded]))
        db[results].insert_many([dict(d) for d in stored])
        db[scratch_results].insert_many([dict(d) for d in [seeded, *stored]])
        works = make_works(queue, claims * 2)
        db[BUCKETS].insert_many([dict(w) for w in works[:claims]])
        db[scratch_queue].insert_many([dict(w) for w in works[claims:]])
        target = stored[-1]["id"]
        held: list[tuple[Document, str]] = []
        floor_held: list[Document] = []

        def sluice_post(path: str, body: Any) -> Callable[[], Any]:
            encoded = orjson.dumps(body)
            return lambda: post_json(http, path, encoded)

        def driver_post(path: str, body: Any) -> Callable[[], Any]:
            encoded = orjson.dumps(body)
            return lambda: post_json(driver, path, encoded)

        def batches_of(
            send: Callable[[bytes], Any], groups: list[list[Document]]
        ) -> Callable[[], Any]:
            bodies = iter([orjson.dumps(group) for group in groups])
            return lambda: send(next(bodies))

        def withdraw() -> Any:
            response = checked(
                http.post(
                    "/buckets/work/withdraw",
                    content=orjson.dumps({"pipeline": {"$in": [queue]}, "site": SITE}),
                    headers=JSON,
                )
            )
            work = orjson.loads(response.content)
            if not work:
                raise RuntimeError("POST /buckets/work/withdraw found no work")
            held.append((work, response.headers[LEASE_HEADER]))
            return work

        def floor_claim() -> Any:
            body = {
                "collection": scratch_queue,
                "filter": {"pipeline": {"$in": [queue]}, "site": SITE},
            }
            work = post_json(driver, "/claim", orjson.dumps(body))
            if not work:
                raise RuntimeError("the driver floor's claim found no work")
            floor_held.append(work)
            return work

        def sluice_report() -> Any:
            work, lease = held.pop()
            done = {**work, "status": "success", "stop": time.time(), "results": {"ok": True}}
            headers = {**JSON, LEASE_HEADER: lease}
            return orjson.loads(
                checked(
                    http.put("/buckets/work", content=orjson.dumps([done]), headers=headers)
                ).content
            )

        def floor_report() -> Any:
            work = floor_held.pop()
            done = {**work, "status": "success", "stop": time.time(), "results": {"ok": True}}
            return post_json(
                driver, "/report", orjson.dumps({"collection": scratch_queue, "document": done})
            )

        lookup = {"query": {"pipeline": pipeline, "id": target}}
        page = {"query": {"pipeline": pipeline}, "projection": {}, "skip": 0, "limit": options.page}
        counted = {"query": {"pipeline": pipeline, "status": "success"}}
        routes = [
            Route(
                "lookup by id",
                sluice_post("/results/view", lookup),
                driver_post(
                    "/find",
                    {
                        "collection": scratch_results,
                        "filter": {"id": target},
                        "projection": {"_id": False},
                    },
                ),
                requests,
            ),
            Route(
                f"view page of {options.page}",
                sluice_post("/results/view", page),
                driver_post(
                    "/find",
                    {
                        "collection": scratch_results,
                        "filter": {},
                        "projection": {"_id": False},
                        "limit": options.page,
                    },
                ),
                max(MIN_DEPOSITS, requests // DEPOSIT_SHARE),
            ),
            Route(
                "count",
                sluice_post("/results/view/count", counted),
                driver_post(
                    "/count", {"collection": scratch_results, "filter": {"status": "success"}}
                ),
                max(MIN_DEPOSITS, requests // DEPOSIT_SHARE),
            ),
            Route(
                f"deposit batch of {DEPOSIT_BATCH}",
                batches_of(lambda body: post_json(http, "/results/results", body), sluice_batches),
                batches_of(
                    lambda body: post_json(
                        driver,
                        "/insert",
                        b'{"collection":"'
                        + scratch_results.encode()
                        + b'","documents":'
                        + body
                        + b"}",
                    ),
                    driver_batches,
                ),
                deposits,
                warm=False,
            ),
            Route("withdraw", withdraw, floor_claim, requests, warm=False),
            Route("report", sluice_report, floor_report, requests, warm=False),
        ]
        done = measure_sluice_and_driver(routes, sluice.pid, driver_app.pid)
        for label, cache in TOKEN_SERVERS:
            env = {**QUIET, "SLUICE_AUTH": "required", "SLUICE_ADMIN_TOKEN": ADMIN_SECRET}
            if cache is not None:
                env["SLUICE_AUTH_CACHE_SECONDS"] = cache
            with (
                serve(ctx, "sluice-cpu-token", env=env) as checking,
                httpx.Client(base_url=checking.url, timeout=120) as reader,
            ):
                reader.headers["x-access-token"] = _read_token(reader, pipeline)
                route = Route(
                    f"lookup by id, {label}",
                    partial(post_json, reader, "/results/view", orjson.dumps(lookup)),
                    routes[0].driver,
                    requests,
                )
                done += measure_sluice_and_driver([route], checking.pid, driver_app.pid)
    return report(measure_bare(ctx, done))


def _read_token(http: httpx.Client, pipeline: str) -> str:
    """A new read token for `pipeline`, made with the bootstrap admin secret."""
    body = {"name": f"bench-{uuid.uuid4().hex[:8]}", "scopes": ["read"], "pipelines": [pipeline]}
    made = http.post("/admin/tokens", json=body, headers={"x-access-token": ADMIN_SECRET})
    token: str = checked(made).json()["token"]
    return token
