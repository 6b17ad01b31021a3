"""`sluice worker`'s pool of child processes: reused, recycled, replaced after a crash,
several works at once."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

from service.testing import SluiceProcess
from sluice import Buckets
from tests.sluice.buckets.conftest import StartWorker, finish, job, wait_for


def results(buckets: Buckets, pipeline: str) -> list[dict[str, object]]:
    works = buckets.view({"pipeline": pipeline}, {"id": 1, "status": 1, "results": 1}, limit=-1)
    return sorted(works, key=lambda w: str(w["id"]))


def test_a_crashed_child_is_replaced_and_its_work_retried(
    retrying_sluice: SluiceProcess, pipeline: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    marker = tmp_path / "crashed"
    with Buckets(retrying_sluice.url) as buckets:
        sent = job(pipeline, "crash_once", parameters={"marker": str(marker)}, retries=2)
        [work_id] = buckets.deposit([sent], return_ids=True)
        worker = start_worker(retrying_sluice.url, pipeline, "--lives", "2", "--sleep", "0.1")
        log = finish(worker, timeout=60)
        [work] = buckets.view({"id": work_id})
    # The first run's child died by SIGKILL: that run failed, the worker lived on and
    # ran the work again, once the server queued it again, in a fresh child.
    assert "exited with code -9" in log and "exiting after 2 works" in log
    assert work["status"] == "success" and work["attempt"] == 2
    assert work["results"]["crashed"] != work["results"]["pid"]
    assert int(marker.read_text()) == work["results"]["crashed"]


def test_children_are_reused_then_recycled(
    buckets: Buckets, base_url: str, pipeline: str, start_worker: StartWorker
) -> None:
    buckets.deposit([job(pipeline, "whoami", parameters={"n": n}) for n in range(8)])
    finish(start_worker(base_url, pipeline, "--lives", "8", "--sleep", "0.1", "--recycle", "3"))
    works = results(buckets, pipeline)
    assert [w["status"] for w in works] == ["success"] * 8
    per_child = Counter(w["results"]["pid"] for w in works)  # type: ignore[index]
    # No interpreter start per work: children are reused, up to three works each.
    assert max(per_child.values()) == 3 and len(per_child) < 8, per_child


def test_a_work_that_closes_its_streams_retires_its_child(
    buckets: Buckets, base_url: str, pipeline: str, start_worker: StartWorker
) -> None:
    # The next work in the same child printed into a closed stdout (an OSError).
    closing = job(pipeline, "close_streams", priority=5)
    buckets.deposit([closing, job(pipeline, "whoami", parameters={"n": 1}, priority=1)])
    finish(start_worker(base_url, pipeline, "--lives", "2", "--sleep", "0.1"))
    works = results(buckets, pipeline)
    assert [w["status"] for w in works] == ["success"] * 2, works
    pids = {w["results"]["pid"] for w in works}  # type: ignore[index]
    assert len(pids) == 2, works


def test_a_failure_retires_its_child(
    buckets: Buckets, base_url: str, pipeline: str, start_worker: StartWorker
) -> None:
    names = ["whoami", "fail_naming_pid", "whoami", "whoami", "whoami"]
    buckets.deposit([job(pipeline, name, priority=5 - n) for n, name in enumerate(names)])
    finish(start_worker(base_url, pipeline, "--lives", "5", "--sleep", "0.1"))
    works = sorted(buckets.view({"pipeline": pipeline}, limit=-1), key=lambda w: -w["priority"])
    failed = works[1]
    assert failed["status"] == "failure"
    failed_pid = int(failed["results"]["error"].rsplit(" ", 1)[1])
    later = {w["results"]["pid"] for w in works[2:]}
    # One child ran the first two works; a fresh one all the others.
    assert works[0]["results"]["pid"] == failed_pid
    assert failed_pid not in later and len(later) == 1, "a child whose work failed is retired"


def test_concurrency_runs_works_side_by_side(
    buckets: Buckets, base_url: str, pipeline: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    markers = [tmp_path / f"marker-{n}" for n in range(3)]
    buckets.deposit(
        [job(pipeline, "sleepy", parameters={"seconds": 3, "marker": str(m)}) for m in markers]
    )
    worker = start_worker(base_url, pipeline, "--lives", "3", "--concurrency", "3")
    wait_for(lambda: all(m.exists() for m in markers), what="three works running at once")
    assert not any("done" in m.read_text() for m in markers)
    log = finish(worker, timeout=30)
    assert "exiting after 3 works" in log
    assert [w["status"] for w in results(buckets, pipeline)] == ["success"] * 3


def test_shutdown_releases_the_works_claimed_ahead(
    buckets: Buckets, base_url: str, pipeline: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    markers = [tmp_path / f"marker-{n}" for n in range(3)]
    sent = [
        job(pipeline, "sleepy", parameters={"seconds": 60, "marker": str(m)}, priority=5 - n)
        for n, m in enumerate(markers)
    ]
    ids = buckets.deposit(sent, return_ids=True)
    worker = start_worker(base_url, pipeline, "--prefetch", "2", "--grace", "0.5")
    wait_for(markers[0].exists, what="the first work to start")
    # The best work runs; the two others are claimed ahead, holding their leases.
    wait_for(
        lambda: [w["status"] for w in buckets.view({"pipeline": pipeline})] == ["running"] * 3,
        what="two works claimed ahead",
    )
    worker.send_signal(signal.SIGTERM)
    log = finish(worker, timeout=20)
    for work_id in ids:
        [work] = buckets.view({"id": work_id})
        assert (work["status"], work["attempt"]) == ("queued", 0)
    assert log.count("released at shutdown") == 3
    assert not markers[1].exists() and not markers[2].exists()
