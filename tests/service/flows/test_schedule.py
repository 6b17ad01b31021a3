"""TIMER and INGESTION flows served by three Sluice processes on one database: each
timer slot enqueues one run, missed slots are skipped, runs never overlap; ingestion
commits a version only for changed content (304 and equal bytes are `unchanged`, with
no provenance) and a 500 fails the run with the reason."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.testing import SluiceProcess, SluiceStarter
from tests.service.flows.conftest import FAST, commit, new_source, register, runs, worker
from tests.sluice.buckets.conftest import wait_for
from tests.workers import Workers

TIMER = 1
TICK = float(FAST["SLUICE_AERO_SCHEDULER_TICK"])


@pytest.fixture(scope="module")
def replicas(start_module_sluice: SluiceStarter) -> list[SluiceProcess]:
    """Three Sluice processes on one database."""
    database = f"sluice_replicas_{uuid.uuid4().hex[:8]}"
    return [start_module_sluice(f"replica{i}", SLUICE_DB_NAME=database, **FAST) for i in range(3)]


@pytest.fixture
def client(replicas: list[SluiceProcess]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=replicas[0].url, timeout=60) as each:
        yield each


class Upstream:
    """An HTTP server answering `/data` with `content` and its ETag (304 when the
    client has it), or with `status` when that is not 200."""

    def __init__(self) -> None:
        self.content = b"v1"
        self.status = 200
        #: False: no ETag sent, so every fetch is a full 200.
        self.etags = True
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                etag = f'"{len(upstream.content)}-{upstream.content.hex()}"'
                if upstream.status != 200:
                    self.send_response(upstream.status)
                    self.end_headers()
                elif upstream.etags and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                else:
                    self.send_response(200)
                    if upstream.etags:
                        self.send_header("ETag", etag)
                    self.send_header("Content-Length", str(len(upstream.content)))
                    self.end_headers()
                    self.wfile.write(upstream.content)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/data"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    served = Upstream()
    yield served
    served.server.shutdown()


def no_overlap(found: list[dict[str, Any]]) -> None:
    """Each run of `found` (oldest first) was created after the one before it ended."""
    ended = [run for run in found if run["ended_at"] is not None]
    for before, after in itertools.pairwise(ended):
        assert after["created_at"] >= before["ended_at"] - 0.001, (before, after)


def once_per_slot(found: list[dict[str, Any]]) -> None:
    """`no_overlap`, and the runs of a TIMER flow a slot apart."""
    no_overlap(found)
    for before, after in itertools.pairwise(found):
        # One run per slot: two runs are a timer apart, less how late a scheduler tick may
        # claim a slot (it is claimed at the first tick after it is due, on any replica).
        assert after["created_at"] - before["created_at"] >= TIMER - 2 * TICK, (before, after)


def test_timer_runs_once_per_slot_and_never_overlaps(
    client: httpx.Client, replicas: list[SluiceProcess], workers: Workers, tmp_path: Path
) -> None:
    quick, slow = tmp_path / "quick", tmp_path / "slow"
    quick.mkdir()
    slow.mkdir()
    path = "tests.service.flows.jobs.stamp"
    flows = [
        register(client, path, policy="TIMER", timer=TIMER,
                 kwargs={"directory": str(directory), "seconds": seconds})
        for directory, seconds in ((quick, 0.1), (slow, 2.5 * TIMER))
    ]  # fmt: skip
    for _ in flows:
        worker(workers, replicas[1].url)
    started = time.time()
    wait_for(lambda: len(list(quick.iterdir())) >= 4, 40, "four quick runs")
    for flow in flows:
        client.patch(f"/aero/flows/{flow['id']}", json={"state": "paused"})
    elapsed = time.time() - started
    quick_runs, slow_runs = (runs(client, flow["id"]) for flow in flows)
    assert len(quick_runs) <= elapsed / TIMER + 2, quick_runs
    once_per_slot(quick_runs)
    once_per_slot(slow_runs)
    # The slow flow's calls (each longer than two slots) never overlapped either.
    spans = sorted(tuple(map(float, f.read_text().split())) for f in slow.iterdir())
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end
    # Its missed slots were skipped, not queued up: runs never overlap, each takes 2.5
    # slots, and at most one follow-up waits. (Comparing with the quick flow's count
    # assumed the quick runs were never delayed behind slow ones on the shared workers.)
    assert len(slow_runs) <= elapsed / (2.5 * TIMER) + 2, slow_runs


def test_ingestion_commits_changes_only_and_fails_on_an_error_answer(
    client: httpx.Client, replicas: list[SluiceProcess], workers: Workers, upstream: Upstream
) -> None:
    source = new_source(client, "upstream", url=upstream.url)
    flow = register(client, None, policy="INGESTION", timer=TIMER,
                    outputs={"data": {"data_id": source}})  # fmt: skip
    assert flow["next_run_at"] is not None
    worker(workers, replicas[2].url, "aero-ingest")

    def statuses() -> list[str]:
        return [run["status"] for run in runs(client, flow["id"])]

    wait_for(lambda: statuses()[:3] == ["committed", "unchanged", "unchanged"], 40,
             "one committed ingestion, then unchanged ones")  # fmt: skip
    upstream.content = b"v2"
    wait_for(lambda: statuses().count("committed") == 2, 40, "the changed content")
    upstream.status = 500
    wait_for(lambda: "failed" in statuses(), 40, "a failed ingestion")
    client.patch(f"/aero/flows/{flow['id']}", json={"state": "paused"})
    found = runs(client, flow["id"])
    once_per_slot(found)
    failed = next(run for run in found if run["status"] == "failed")
    assert "500" in failed["error"], failed
    versions = client.get(f"/aero/data/{source}/versions").json()
    assert [v["version"] for v in versions["items"]] == [1, 2]
    assert client.get(f"/aero/data/{source}/versions/2/content").content == b"v2"
    records = client.get("/aero/provenance", params={"flow_id": flow["id"]}).json()
    assert records["total"] == 2  # unchanged ingestions leave no record
    # The failed run ends, then sets its flow's error (a second write).
    wait_for(lambda: flow_error(client, flow["id"]) is not None, 30, "the flow's error")


def flow_error(client: httpx.Client, flow_id: str) -> str | None:
    error: str | None = client.get(f"/aero/flows/{flow_id}").json()["last_error"]
    return error


def test_commits_seen_by_three_replicas_enqueue_each_snapshot_once(
    replicas: list[SluiceProcess], workers: Workers
) -> None:
    clients = [httpx.Client(base_url=replica.url, timeout=60) for replica in replicas]
    try:
        first = clients[0]
        cases = new_source(first, "cases")
        commit(first, cases, b"v1")
        flow = register(first, "tests.service.flows.jobs.upper", policy="ANY",
                        inputs={"cases": {"data_id": cases}}, outputs={"summary": {}})  # fmt: skip
        worker(workers, replicas[0].url)
        for n, each in enumerate(clients[1:], start=2):  # each commit on another replica
            commit(each, cases, f"v{n}".encode())
        wait_for(lambda: runs(first, flow["id"])[-1]["inputs"]["cases"]["version"] == 3
                 and runs(first, flow["id"])[-1]["status"] == "committed", 40,
                 "a run of the last version")  # fmt: skip
        time.sleep(1)  # every replica's catch-up pass has seen the flow idle
        found = runs(first, flow["id"])
        snapshots = [run["inputs"]["cases"]["version"] for run in found]
        assert len(snapshots) == len(set(snapshots)) and snapshots[0] == 1, found
        assert all(run["status"] == "committed" for run in found)
        no_overlap(found)
    finally:
        for each in clients:
            each.close()
