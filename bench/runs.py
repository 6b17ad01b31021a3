"""Sluice's side of the worker benchmark: `sluice worker` running no-op jobs end to end,
and works deposited one per request."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from bench.common import ROOT, Context, post_json, python_path
from bench.cycles import SITE, deposit_all, expect_success, get_json, make_works, post_works

#: Seconds `sluice worker` may take per job before the benchmark gives up on it.
JOB_PATIENCE = 10.0


@dataclass(frozen=True)
class Jobs:
    """A run of no-op jobs: how many, over how many seconds."""

    jobs: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.jobs / self.seconds if self.seconds else float("nan")


def sluice_jobs(ctx: Context, url: str, http: httpx.Client, concurrency: int) -> Jobs:
    """`sluice worker --concurrency N` runs `jobs` no-op works queued beforehand; timed
    from the first work's start to the last one's stop, as Buckets recorded them."""
    jobs = ctx.options.jobs
    pipeline = f"bench-jobs-{uuid.uuid4().hex[:8]}"
    deposit_all(http, make_works(pipeline, jobs), ctx.options.batch)
    program = Path(sys.executable).with_name("sluice")
    if not program.exists():
        raise RuntimeError(f"{program} not found: install the project (pip install -e .)")
    command = [str(program), "worker", pipeline, "--site", SITE, "--lives", str(jobs)]
    command += ["--concurrency", str(concurrency), "--sleep", "0.05", "--log-level", "warning"]
    env = {**os.environ, "SLUICE_URL": url, "PYTHONPATH": python_path()}
    log = ctx.workdir / f"worker-{concurrency}.log"
    with log.open("w") as output:
        try:
            finished = subprocess.run(
                command,
                env=env,
                cwd=ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=60 + jobs * JOB_PATIENCE,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"sluice worker did not finish {jobs} jobs; see {log}") from None
    if finished.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"sluice worker exited with {finished.returncode}:\n{tail}")
    projection = {"id": 1, "start": 1, "stop": 1}
    view = {"query": {"pipeline": pipeline}, "projection": projection, "limit": 0}
    works = post_json(http, "/view", orjson.dumps(view))
    expect_success(get_json(http, f"/status/details/{pipeline}")["success"], jobs, "sluice worker")
    span = max(w["stop"] for w in works) - min(w["start"] for w in works)
    _delete(http, [w["id"] for w in works])
    return Jobs(jobs, span)


def enqueue_one_by_one(ctx: Context, http: httpx.Client) -> float:
    """Works/s of `jobs` deposits of one work each (then deleted)."""
    works = make_works(f"bench-enqueue-{uuid.uuid4().hex[:8]}", ctx.options.jobs)
    bodies = [orjson.dumps([work]) for work in works]
    started = time.perf_counter()
    for body in bodies:
        post_works(http, body, 1)
    seconds = time.perf_counter() - started
    _delete(http, [str(work["id"]) for work in works])
    return len(works) / seconds


def enqueue_batched(ctx: Context, http: httpx.Client) -> float:
    """Works/s of `jobs` works deposited in batches of `batch` (then deleted)."""
    works = make_works(f"bench-enqueue-{uuid.uuid4().hex[:8]}", ctx.options.jobs)
    started = time.perf_counter()
    deposit_all(http, works, ctx.options.batch)
    seconds = time.perf_counter() - started
    _delete(http, [str(work["id"]) for work in works])
    return len(works) / seconds


def _delete(http: httpx.Client, ids: list[str]) -> None:
    """Delete works by id: leftovers would slow every later claim on the embedded server."""
    for start in range(0, len(ids), 100):
        response = http.delete("/work", params=[("ids", i) for i in ids[start : start + 100]])
        if response.status_code != 200:
            raise RuntimeError(f"DELETE /buckets/work: {response.status_code} {response.text}")
