"""Plumbing every benchmark shares: the database, Sluice processes, timing, CPU, tables."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeGuard

import httpx
import orjson
import psutil
from pymongo import MongoClient
from pymongo.collection import Collection

from service.embedded import EmbeddedDatabase
from service.settings import EMBEDDED_CLAIM_BATCH, Settings
from service.testing import SluiceProcess

#: The repository root, so child processes can import `bench` wherever they start.
ROOT = Path(__file__).resolve().parents[1]

Document = dict[str, Any]


@dataclass(frozen=True)
class Options:
    """How much work each benchmark does."""

    #: Documents deposited, then viewed and counted.
    docs: int = 2000
    #: Documents per deposit request (and per `insert_many`).
    batch: int = 100
    #: Requests in each request burst (count, CPU per request).
    requests: int = 500
    #: `limit` of each view page.
    page: int = 500
    #: Withdraw -> update cycles per queue configuration (Sluice or PyMongo, 1 or
    #: `workers` workers), at most; each also stops at `seconds`.
    cycles: int = 400
    #: Seconds each queue configuration may take, at most (a collapsing baseline is cut short).
    seconds: int = 10
    #: Concurrent workers of the contended queue runs.
    workers: int = 16
    #: No-op works run end to end per worker run (`sluice worker`, the Celery peer).
    jobs: int = 300
    #: The higher concurrency of the worker runs (`--concurrency`, Celery's `-c`).
    concurrency: int = 8
    #: Queued works of one pipeline at which claims are measured (bench/claims.py).
    depths: tuple[int, ...] = (100, 1000, 10_000, 50_000)
    #: Queued works spread evenly over `spread_pipelines` pipelines, for claims from one.
    spread_depth: int = 10_000
    spread_pipelines: int = 50
    #: Claims per measurement at most (and at most half the queue).
    claims: int = 300
    #: Seconds each claim measurement may take, at most (after its first claim).
    claim_seconds: int = 30
    #: Results one view streams while Sluice's memory is sampled (bench/stream.py).
    stream_docs: int = 10_000
    #: Leaderboard runs at which Sluice's ranking is compared with PyMongo's, and their groups.
    lb_runs: int = 10_000
    lb_groups: int = 200
    #: Run counts at which the time to rank is measured (bench/leaderboards.py); add
    #: 50,000 with --lb-sizes (on the embedded database one ranking then takes 10-15 s).
    lb_sizes: tuple[int, ...] = (1000, 10_000)
    #: Ranking requests per figure (their median is reported).
    lb_requests: int = 5
    #: Data version commits, and unchanged ingestions, each way (bench/versions.py).
    commits: int = 200
    #: ANY flows depending on the source whose commit is timed (bench/flows.py).
    dependants: int = 10


@dataclass(frozen=True)
class Comparison:
    """One Sluice figure against its baseline from the same run; ratio = Sluice / baseline."""

    name: str
    unit: str
    sluice: float
    baseline: float
    baseline_name: str

    @property
    def ratio(self) -> float:
        return self.sluice / self.baseline if self.baseline else float("nan")


@dataclass(frozen=True)
class Context:
    """What a benchmark module runs against: one database, shared by every module."""

    options: Options
    mongo_uri: str
    db_name: str
    #: Temporary directory for logs and data, removed at the end of the run.
    workdir: Path
    #: One line naming the database, for the report.
    database: str
    embedded: bool
    settings: Settings


@contextmanager
def open_context(options: Options) -> Iterator[Context]:
    """The database for a run: MONGODB_URI if set, else a fresh embedded server
    (temporary directory, sync on commit, as `make run` starts it)."""
    settings = Settings.from_env()
    with tempfile.TemporaryDirectory(prefix="sluice-bench-") as tmp:
        workdir = Path(tmp)
        embedded: EmbeddedDatabase | None = None
        if settings.mongodb_uri:
            uri, label = settings.mongodb_uri, "MongoDB at MONGODB_URI"
        else:
            embedded = EmbeddedDatabase(
                storage_path=str(workdir / "db"),
                sync_on_commit=True,
                log_path=workdir / "secantus.log",
            )
            uri = embedded.start()
            label = f"embedded SecantusDB {_version('secantusdb')} (on disk, sync on commit)"
        ctx = Context(
            options=options,
            mongo_uri=uri,
            db_name=f"sluice_bench_{uuid.uuid4().hex[:8]}",
            workdir=workdir,
            database=label,
            embedded=embedded is not None,
            settings=settings,
        )
        try:
            yield ctx
        finally:
            if embedded is None:
                # A server that outlives the run keeps nothing of it.
                with mongo_client(ctx) as client:
                    client.drop_database(ctx.db_name)
            else:
                embedded.stop()


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def machine() -> str:
    """One line naming the machine, for the report."""
    return f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"


def mongo_client(ctx: Context) -> MongoClient[Document]:
    """A PyMongo client with the write concern Sluice uses (the baselines' side)."""
    return MongoClient(ctx.mongo_uri, appname="sluice-bench", w=ctx.settings.write_concern_value)


def python_path() -> str:
    """PYTHONPATH for a child process that must import `bench` (and the project)."""
    return os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


@contextmanager
def serve(
    ctx: Context,
    name: str = "sluice",
    app: str = "service.app:create_app",
    env: Mapping[str, str] | None = None,
) -> Iterator[SluiceProcess]:
    """Run `app` (a factory) under uvicorn in its own process, on the run's database."""
    full_env = {
        "MONGODB_URI": ctx.mongo_uri,
        "SLUICE_DB_NAME": ctx.db_name,
        # Loopback only; benchmarks measure the API, not token checks.
        "SLUICE_AUTH": "off",
        # The benchmarks count finished works in Buckets: the mover must not take them.
        "SLUICE_TRANSFER_INTERVAL": "0",
        "PYTHONPATH": python_path(),
        **(env or {}),
    }
    if ctx.embedded:
        full_env.setdefault("SLUICE_SERIALIZE_CLAIMS", "1")
        full_env.setdefault("SLUICE_CLAIM_BATCH", str(EMBEDDED_CLAIM_BATCH))
        full_env.setdefault("SLUICE_UPDATE_THEN_READ", "1")
    log = ctx.workdir / f"{name}.log"
    try:
        with SluiceProcess(full_env, log_path=log, app=app) as process:
            yield process
    except BaseException:
        text = log.read_text(errors="replace") if log.exists() else ""
        if text.strip():
            print(f"--- end of the {name} log ---\n{text[-4000:]}", file=sys.stderr, flush=True)
        raise


def post_json(http: httpx.Client, path: str, body: bytes) -> Any:
    """POST an encoded JSON body; the decoded answer, or RuntimeError naming the failure."""
    response = http.post(path, content=body, headers={"content-type": "application/json"})
    if response.status_code != 200:
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:500]}")
    return orjson.loads(response.content)


def cpu_seconds(pid: int) -> float:
    """CPU time the process has used so far: on Linux the scheduler's count, in
    nanoseconds, summed over its threads; elsewhere user plus system time, which the
    kernel counts in clock ticks (10 ms), a large share of a short burst."""
    try:
        return sum(_thread_cpu_ns(task) for task in Path(f"/proc/{pid}/task").iterdir()) / 1e9
    except OSError:
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system


def _thread_cpu_ns(task: Path) -> int:
    try:
        # The first field of schedstat: nanoseconds this thread has run on a CPU.
        return int((task / "schedstat").read_text().split()[0])
    except FileNotFoundError:  # the thread ended since the directory was listed
        return 0


@dataclass(frozen=True)
class Burst:
    """Wall time, and CPU time of the process that does the work, around a run of
    identical requests."""

    requests: int
    seconds: float
    cpu: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        """CPU per request, in microseconds."""
        return self.cpu / self.requests * 1e6


def burst(request: Callable[[], object], pid: int, requests: int) -> Burst:
    """Call `request` `requests` times in a row, timing the wall clock and the CPU of
    process `pid` (the server that answers, or this process for a direct driver call)."""
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    for _ in range(requests):
        request()
    seconds = time.perf_counter() - started
    return Burst(requests, seconds, cpu_seconds(pid) - cpu_before)


#: Alternating bursts per side in `alternated`.
ROUNDS = 10


def alternated(
    first: Callable[[], object],
    first_pid: int,
    second: Callable[[], object],
    second_pid: int,
    requests: int,
    rounds: int = ROUNDS,
) -> tuple[Burst, Burst]:
    """`requests` calls of `first` and of `second` in `rounds` alternating bursts,
    summed per side (each timed on the CPU of its pid, as `burst`): the box's drift (the
    database's own work, other load) falls on both alike, where one long burst each
    would catch it on one side only."""
    rounds = max(1, min(rounds, requests))
    pairs: list[tuple[Burst, Burst]] = []
    for index in range(rounds):
        share = requests // rounds + (index < requests % rounds)
        pairs.append((burst(first, first_pid, share), burst(second, second_pid, share)))
    return _summed([p[0] for p in pairs]), _summed([p[1] for p in pairs])


def _summed(bursts: list[Burst]) -> Burst:
    return Burst(
        sum(b.requests for b in bursts), sum(b.seconds for b in bursts), sum(b.cpu for b in bursts)
    )


def number(value: float) -> str:
    """A figure for a table: thousands separated, fewer decimals as it grows."""
    if isinstance(value, int):
        return f"{value:,}"
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, padded so it also reads as plain text; figures right-aligned."""
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    right = [any(_is_figure(row[i]) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        padded = [
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    dashes = [
        "-" * (w + 1) + ":" if r else "-" * (w + 2) for w, r in zip(widths, right, strict=True)
    ]
    rule = "|" + "|".join(dashes) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in cells)])


def _is_figure(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: object) -> str:
    return number(value) if _is_figure(value) else str(value)


def batches(documents: list[Document], size: int) -> list[list[Document]]:
    """`documents` cut into lists of at most `size`."""
    return [documents[i : i + size] for i in range(0, len(documents), size)]


def timed(action: Callable[..., object], *args: object) -> float:
    """Seconds `action(*args)` took."""
    started = time.perf_counter()
    action(*args)
    return time.perf_counter() - started


def report(title: str, headers: list[str], rows: list[list[object]], result: Comparison) -> None:
    """Print one benchmark's table and its ratio."""
    print(f"\n{title}\n\n{table(headers, rows)}\n")
    print(f"ratio Sluice / {result.baseline_name}: {result.ratio:.2f}", flush=True)


def compare_deposits(
    ctx: Context,
    documents: list[Document],
    scratch: Collection[Document],
    send: Callable[[bytes, int], object],
    labels: tuple[str, str, str, str],
) -> Comparison:
    """(a) of a benchmark: deposit `documents` through Sluice (`send(body, count)`) and
    with `insert_many` into `scratch`, alternating batch by batch so that any drift of
    the database's speed falls on both sides alike. `labels` are the comparison's name,
    the unit, the noun for the documents and the Sluice route."""
    name, unit, noun, route = labels
    groups = batches(documents, ctx.options.batch)
    bodies = [orjson.dumps(batch) for batch in groups]
    # insert_many adds `_id` to what it is given: hand it copies, made before timing.
    copies = [[dict(document) for document in batch] for batch in groups]
    sluice_seconds = raw_seconds = 0.0
    for body, copy in zip(bodies, copies, strict=True):
        sluice_seconds += timed(send, body, len(copy))
        raw_seconds += timed(scratch.insert_many, copy)
    count = len(documents)
    result = Comparison(name, unit, count / sluice_seconds, count / raw_seconds, "PyMongo")
    report(
        f"(a) deposit {count:,} {noun} in batches of {ctx.options.batch}",
        ["path", noun, "requests", "seconds", unit],
        [
            [f"Sluice {route}", count, len(bodies), sluice_seconds, result.sluice],
            ["PyMongo insert_many", count, len(copies), raw_seconds, result.baseline],
        ],
        result,
    )
    return result
