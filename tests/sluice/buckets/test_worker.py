"""`sluice worker` end to end: a real worker process, a real Sluice, real child runs."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from service.testing import SluiceProcess, SluiceStarter
from sluice import Buckets, Conflict, new_work
from sluice.errors import RateLimited
from tests.sluice.buckets.conftest import StartWorker, finish, job, wait_for


def stored(buckets: Buckets, work_id: str) -> dict[str, object]:
    [work] = buckets.view({"id": work_id})
    return work


def running(buckets: Buckets, work_id: str) -> bool:
    return stored(buckets, work_id)["status"] == "running"


def test_function_works_succeed_or_fail(
    buckets: Buckets, base_url: str, pipeline: str, start_worker: StartWorker
) -> None:
    ids = buckets.deposit(
        [
            job(pipeline, "noop", parameters={"n": 1}, priority=5),
            job(pipeline, "triple", priority=4),
            job(pipeline, "fail", parameters={"message": "no data"}, priority=3),
            job(pipeline, "bad_products", priority=2),
        ],
        return_ids=True,
    )
    log = finish(start_worker(base_url, pipeline, "--lives", "4", "--sleep", "0.1"))
    noop, triple, failed, refused = (stored(buckets, i) for i in ids)
    assert noop["status"] == "success" and noop["results"] == {"echo": {"n": 1}}
    assert isinstance(noop["stop"], float) and noop["stop"] >= noop["start"]  # type: ignore[operator]
    assert triple["results"] == {"answer": 42} and triple["plots"] == ["waterfall.png"]
    assert triple["products"] == ["cube.h5"]
    assert failed["status"] == "failure"
    assert failed["results"]["error"] == "ValueError: no data"  # type: ignore[index]
    # The server refused the outcome (products must be paths): the failure says why.
    assert refused["status"] == "failure" and refused["products"] is None
    assert refused["results"]["error"].startswith("the report was refused")  # type: ignore[index]
    lines = [line for line in log.splitlines() if f"pipeline={pipeline}" in line]
    assert len(lines) == 4, log
    assert "success" in lines[0] and "failure (ValueError: no data)" in lines[2]
    assert "failure (the report was refused" in lines[3]
    assert "exiting after 4 works" in log


def test_command_works_and_once(
    buckets: Buckets, base_url: str, pipeline: str, start_worker: StartWorker
) -> None:
    argv = [sys.executable, "-c", "import sys; print('out'); sys.exit(4)"]
    [work_id] = buckets.deposit([new_work(pipeline, "local", "tester", command=argv)], True)
    finish(start_worker(base_url, pipeline, "--once"))
    work = stored(buckets, work_id)
    assert work["status"] == "failure"
    assert work["results"]["returncode"] == 4 and work["results"]["stdout"] == ["out"]  # type: ignore[index]
    log = finish(start_worker(base_url, pipeline, "--once"))
    assert "exiting after 0 works" in log


def test_sigterm_lets_a_short_work_finish(
    buckets: Buckets, base_url: str, pipeline: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    parameters = {"seconds": 1.5, "marker": str(marker)}
    [work_id] = buckets.deposit([job(pipeline, "sleepy", parameters=parameters)], True)
    worker = start_worker(base_url, pipeline, "--grace", "20", "--sleep", "0.1")
    wait_for(marker.exists, what="the work to start")
    worker.send_signal(signal.SIGTERM)
    log = finish(worker)
    assert stored(buckets, work_id)["status"] == "success"
    assert "received SIGTERM" in log and "exiting after 1 works" in log


@pytest.mark.parametrize(
    ("grace", "signals"),
    [("0.5", [signal.SIGINT]), ("600", [signal.SIGTERM, signal.SIGINT])],
    ids=["grace-over", "second-signal"],
)
def test_shutdown_releases_a_long_work(
    buckets: Buckets,
    base_url: str,
    pipeline: str,
    start_worker: StartWorker,
    tmp_path: Path,
    grace: str,
    signals: list[signal.Signals],
) -> None:
    marker = tmp_path / "marker"
    parameters = {"seconds": 60, "marker": str(marker)}
    [work_id] = buckets.deposit([job(pipeline, "sleepy", parameters=parameters)], True)
    worker = start_worker(base_url, pipeline, "--grace", grace)
    wait_for(marker.exists, what="the work to start")
    for sig in signals:
        worker.send_signal(sig)
        time.sleep(0.2)
    log = finish(worker, timeout=15)
    work = stored(buckets, work_id)
    assert work["status"] == "queued" and work["attempt"] == 0
    assert "released at shutdown" in log
    assert marker.read_text() == "start\n"


def test_a_run_that_loses_its_lease_is_stopped_and_not_reported(
    buckets: Buckets, base_url: str, pipeline: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    parameters = {"seconds": 5, "marker": str(marker)}
    [work_id] = buckets.deposit([job(pipeline, "sleepy", parameters=parameters, timeout=6)], True)
    worker = start_worker(base_url, pipeline, "--once")
    wait_for(marker.exists, what="the work to start")
    # An operator puts the work back in the queue: the run no longer holds it.
    buckets.update([{**stored(buckets, work_id), "status": "queued"}])
    log = finish(worker, timeout=20)
    assert "stopped: lease lost" in log
    assert stored(buckets, work_id)["status"] == "queued"
    assert marker.read_text() == "start\n"


def test_killed_worker_work_is_rerun_and_recorded_once(
    reaping: Buckets,
    reaping_sluice: SluiceProcess,
    pipeline: str,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    parameters = {"seconds": 1.5, "marker": str(marker)}
    sent = job(pipeline, "sleepy", parameters=parameters, timeout=3, retries=2)
    [work_id] = reaping.deposit([sent], True)
    first = start_worker(reaping_sluice.url, pipeline, "--once")
    wait_for(marker.exists, what="the first run to start")
    first.send_signal(signal.SIGKILL)
    first.communicate()
    # Its run dies with it; after the lease lapses the reaper queues the work again.
    second = start_worker(reaping_sluice.url, pipeline, "--lives", "1", "--sleep", "0.2")
    finish(second, timeout=30)
    assert marker.read_text() == "start\nstart\ndone\n"
    [work] = reaping.view({"pipeline": pipeline})
    assert work["id"] == work_id
    assert work["status"] == "success" and work["attempt"] == 2
    assert work["results"] == {"slept": 1.5}


def test_an_expired_lease_refuses_the_late_report(reaping: Buckets, pipeline: str) -> None:
    [work_id] = reaping.deposit([job(pipeline, "noop", timeout=1)], True)
    claimed = reaping.withdraw(pipeline)
    assert claimed is not None
    wait_for(lambda: stored(reaping, work_id)["status"] == "queued", what="the reaper")
    late = {**claimed.work, "status": "success", "results": {"late": True}}
    with pytest.raises(Conflict):
        reaping.update([late], lease=claimed.lease)
    with pytest.raises(Conflict):
        reaping.heartbeat(work_id, claimed.lease)
    assert stored(reaping, work_id)["results"] is None


def test_a_worker_is_listed_with_its_work_while_it_lives(
    buckets: Buckets, base_url: str, pipeline: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    parameters = {"seconds": 2, "marker": str(marker)}
    [work_id] = buckets.deposit([job(pipeline, "sleepy", parameters=parameters)], True)
    worker = start_worker(base_url, pipeline, "--lives", "1", "--name", "lab-7", "--sleep", "0.1")
    wait_for(marker.exists, what="the work to start")

    def listed() -> list[dict[str, object]]:
        found = buckets.workers(pipeline)
        return found if found and found[0].get("current") else []

    [seen] = wait_for(listed, what="the worker's beat naming its work")
    assert seen["name"] == "lab-7" and seen["pid"] == worker.pid
    assert seen["pipelines"] == [pipeline] and seen["site"] == "local"
    assert seen["current"]["id"] == work_id
    assert buckets.workers(pipeline, site="elsewhere") == []
    finish(worker)
    assert buckets.workers(pipeline) == [], "an exiting worker removes itself"


def test_a_rate_limited_worker_slows_down_and_loses_no_work(
    start_sluice: SluiceStarter, pipeline: str, start_worker: StartWorker
) -> None:
    # 429 is no verdict on a report or a claim: the worker waits as Retry-After says.
    # It turned finished works' reports into failures, and exited on a refused claim.
    server = start_sluice("rate-limited", SLUICE_RATE_LIMIT="3", SLUICE_RATE_BURST="4")
    with Buckets(server.url) as buckets:
        ids = buckets.deposit([job(pipeline, "noop", parameters={"n": n}) for n in range(12)], True)
        time.sleep(1.5)  # the deposit's share of the rate is back
        worker = start_worker(server.url, pipeline, "--lives", "12", "--sleep", "0",
                              "--concurrency", "3")  # fmt: skip
        log = finish(worker, timeout=90)
        assert "429" in log  # it was held back, and rode it out

        def statuses() -> dict[str, str] | None:
            try:
                return {w["id"]: w["status"] for w in buckets.view({"pipeline": pipeline})}
            except RateLimited:
                return None

        assert wait_for(statuses, 30, "the works' statuses") == dict.fromkeys(ids, "success")
