"""Flows: the time for a version commit to enqueue its dependants' runs.

Each round registers `dependants` ANY flows over a fresh source that has no version yet
(they wait for it), then commits the source's first version: the commit answers once
every dependant has its run queued (the commit's listener evaluates their gates before
it returns), which the round checks. The baseline is the same commit to a source no
flow depends on, in the same run.
"""

from __future__ import annotations

import time
import uuid

import httpx

from bench.common import Comparison, Context, serve

#: Commits timed on each side.
ROUNDS = 5


def _created(response: httpx.Response, what: str) -> str:
    if response.status_code != 201:
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:500]}")
    identifier: str = response.json()["id"]
    return identifier


def _source(http: httpx.Client) -> str:
    return _created(http.post("/aero/data", json={"name": f"bench-{uuid.uuid4().hex[:8]}"}),
                    "create a source")  # fmt: skip


def _commit(http: httpx.Client, data_id: str) -> float:
    """Seconds one commit of new bytes took."""
    started = time.perf_counter()
    answer = http.post(f"/aero/data/{data_id}/versions", content=uuid.uuid4().bytes)
    seconds = time.perf_counter() - started
    if answer.status_code != 201:
        raise RuntimeError(f"commit: {answer.status_code} {answer.text[:500]}")
    return seconds


def run(ctx: Context) -> list[Comparison]:
    count = ctx.options.dependants
    with serve(ctx, "flows") as sluice, httpx.Client(base_url=sluice.url, timeout=60) as http:
        path = f"bench.noop.noop_{uuid.uuid4().hex[:8]}"
        function = _created(http.post("/aero/functions", json={"path": path}), "a function")
        alone: list[float] = []
        fanned: list[float] = []
        for _ in range(ROUNDS):
            alone.append(_commit(http, _source(http)))
            source = _source(http)
            flows = [
                _created(http.post("/aero/flows", json={
                    "function_id": function, "policy": "ANY", "kwargs": {"n": n},
                    "inputs": {"data": {"data_id": source}}}), "register a flow")
                for n in range(count)
            ]  # fmt: skip
            fanned.append(_commit(http, source))
            queued = [http.get(f"/aero/flows/{flow}").json()["pending_run_id"] for flow in flows]
            if None in queued:
                raise RuntimeError("a dependant's run was not queued when the commit answered")
    per_commit, baseline = sum(fanned) / ROUNDS * 1000, sum(alone) / ROUNDS * 1000
    print(f"commit with {count} dependants: {per_commit:.1f} ms; alone: {baseline:.1f} ms")
    return [
        Comparison(f"version commit enqueueing {count} dependants' runs", "ms", per_commit,
                   baseline, "the same commit, no dependants"),
    ]  # fmt: skip
