"""The worker benchmark's peer: Celery (bench/peer_app.py) on the benchmark's database,
its jobs enqueued from here and run by a real `celery worker` in a subprocess."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC
from types import ModuleType, TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from pymongo import MongoClient

from bench.common import ROOT, Context, Document, python_path
from bench.runs import JOB_PATIENCE, Jobs

#: Seconds a Celery worker may take to start and to stop.
START_PATIENCE = 60.0
STOP_PATIENCE = 20.0


def celery_missing() -> str | None:
    """Why the peer cannot run here (None: it can)."""
    if importlib.util.find_spec("celery") is None:
        return "Celery is not installed (`make bench` installs it: pip install -e '.[bench]')"
    return None


def database_url(mongo_uri: str, database: str) -> str:
    """`mongo_uri` naming `database` (kombu and the result backend read it from the path)."""
    parts = urlsplit(mongo_uri)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


class Peer:
    """The Celery app on a database of its own next to the benchmark's; a context
    manager that drops that database at the end."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.database = f"{ctx.db_name}_celery"
        self.url = database_url(ctx.mongo_uri, self.database)
        # bench.peer_app reads its URL once, at import.
        os.environ["SLUICE_BENCH_CELERY_URL"] = self.url
        self.app: ModuleType = importlib.import_module("bench.peer_app")
        self.client: MongoClient[Document] = MongoClient(ctx.mongo_uri)

    def __enter__(self) -> Peer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.client.drop_database(self.database)
        self.client.close()

    def enqueue(self, queue: str, count: int) -> tuple[list[str], float]:
        """Send `count` no-op tasks to `queue`, one `apply_async` each; their ids and
        the seconds it took."""
        task: Any = self.app.noop
        started = time.perf_counter()
        ids = [
            task.apply_async(kwargs={"event": 9_000_000 + n}, queue=queue).id for n in range(count)
        ]
        return ids, time.perf_counter() - started

    def enqueue_rate(self, count: int) -> float:
        """Tasks/s of `count` sends to a queue nobody reads (its messages then dropped)."""
        queue = f"bench-enqueue-{uuid.uuid4().hex[:8]}"
        ids, seconds = self.enqueue(queue, count)
        self.client[self.database]["messages"].delete_many({"queue": queue})
        return len(ids) / seconds

    def results(self, ids: list[str]) -> list[Document]:
        """The stored results of the tasks `ids` that succeeded."""
        found = self.client[self.database][self.app.RESULTS].find(
            {"_id": {"$in": ids}, "status": "SUCCESS"}, {"result": 1, "date_done": 1}
        )
        return list(found)


def celery_jobs(ctx: Context, peer: Peer, concurrency: int) -> Jobs:
    """A `celery worker -P prefork -c N` runs `jobs` no-op tasks queued beforehand; timed
    from the first task's start to the last result's `date_done`."""
    jobs = ctx.options.jobs
    queue = f"bench-jobs-{uuid.uuid4().hex[:8]}"
    ids, _ = peer.enqueue(queue, jobs)
    log = ctx.workdir / f"celery-{concurrency}.log"
    command = [sys.executable, "-m", "celery", "-A", "bench.peer_app", "worker"]
    command += ["-P", "prefork", "-c", str(concurrency), "-Q", queue, "-l", "WARNING"]
    command += ["--prefetch-multiplier", "1", "--without-gossip", "--without-mingle"]
    command += ["--without-heartbeat"]
    env = {**os.environ, "PYTHONPATH": python_path(), "SLUICE_BENCH_CELERY_URL": peer.url}
    with log.open("w") as output:
        worker = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            done = _wait_for(peer, ids, START_PATIENCE + jobs * JOB_PATIENCE, worker)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(STOP_PATIENCE)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    if len(done) != jobs:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"Celery ran {len(done)} of {jobs} jobs:\n{tail}")
    starts = [orjson.loads(d["result"])["started"] for d in done]
    ends = [d["date_done"].replace(tzinfo=UTC).timestamp() for d in done]
    return Jobs(jobs, max(ends) - min(starts))


def _wait_for(
    peer: Peer, ids: list[str], patience: float, worker: subprocess.Popen[bytes]
) -> list[Document]:
    """Poll the result backend until every task of `ids` succeeded, the worker died or
    `patience` seconds passed; the results found."""
    deadline = time.monotonic() + patience
    while True:
        done = peer.results(ids)
        if len(done) == len(ids) or worker.poll() is not None or time.monotonic() > deadline:
            return done
        time.sleep(0.2)
