"""How the worker runs one work: real child processes, no server."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from sluice import new_work
from sluice.worker.loop import beat_interval, finished
from sluice.worker.runner import LINE_BYTES, Outcome, Run, split_outcome, start
from tests.sluice.buckets.conftest import job
from tests.workers import ROOT


@pytest.fixture(autouse=True)
def _project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # Function works import their module from the worker's working directory.
    monkeypatch.chdir(ROOT)


def run_to_end(work: dict[str, Any], timeout: float = 20) -> Outcome:
    run = start(work)
    assert run.wait(timeout)
    return run.outcome()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 1}, ({"a": 1}, None, None)),
        (({"a": 1}, ["p"], ["q"]), ({"a": 1}, ["p"], ["q"])),
        ((["p"], {"a": 1}), ({"a": 1}, ["p"], None)),
        ((["p"], ["q"], ["r"]), (None, ["p"], ["q"])),
        (None, (None, None, None)),
        ("text", (None, None, None)),
    ],
)
def test_split_outcome_follows_the_workflow_rules(value: Any, expected: Any) -> None:
    assert split_outcome(value) == expected


def test_function_outcomes() -> None:
    echoed = run_to_end(job("p", "noop", parameters={"x": 1}))
    assert echoed == Outcome("success", {"echo": {"x": 1}})
    assert run_to_end(job("p", "triple")) == Outcome(
        "success", {"answer": 42}, ["cube.h5"], ["waterfall.png"]
    )
    failed = run_to_end(job("p", "fail", parameters={"message": "bad input"}))
    assert failed.status == "failure" and failed.results is not None
    assert failed.results["error"] == "ValueError: bad input"
    assert "raise ValueError(message)" in "\n".join(failed.results["traceback"])
    not_json = run_to_end(job("p", "not_json"))
    assert not_json.status == "failure"
    assert not failed.permanent, "a failure inside the function may pass on retry"
    missing = run_to_end(job("p", "no_such_function"))
    assert missing.status == "failure" and "AttributeError" in str(missing.results)
    assert missing.permanent and missing.results is not None and missing.results["permanent"]
    unimportable = run_to_end(new_work("p", "s", "u", function="no_such_module.f"))
    assert unimportable.permanent and "ModuleNotFoundError" in str(unimportable.results)
    bad_parameters = run_to_end(job("p", "fail", parameters={"nope": 1}))
    assert bad_parameters.permanent and "unexpected keyword" in str(bad_parameters.results)
    vanished = run_to_end(job("p", "vanish"))
    assert vanished == Outcome.failed("the function's process exited with code 9 and no result")


def test_command_outcomes() -> None:
    ok = run_to_end(new_work("p", "s", "u", command=["python", "-c", "print('hi')"]))
    assert ok.status == "success" and ok.results is not None
    assert ok.results["stdout"] == ["hi"] and ok.results["returncode"] == 0
    shell = run_to_end(new_work("p", "s", "u", command=["seq 1 80; echo oops >&2; exit 3"]))
    assert shell.status == "failure" and shell.results is not None
    assert shell.results["returncode"] == 3 and shell.results["stderr"] == ["oops"]
    assert shell.results["stdout"][-1] == "80" and len(shell.results["stdout"]) == 50
    absent = run_to_end(new_work("p", "s", "u", command=["/no/such/program", "x"]))
    assert absent.status == "failure" and "cannot start" in str(absent.results)
    neither = run_to_end(new_work("p", "s", "u"))
    assert neither.status == "failure"


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    run: Run = start(job("p", "sleepy", parameters={"seconds": 30, "marker": str(marker)}))
    assert not run.wait(0.5)
    began = time.monotonic()
    run.stop(timed_out=True)
    assert time.monotonic() - began < 5
    assert run.wait(0)
    outcome = run.outcome()
    assert outcome.status == "failure" and "timed out" in str(outcome.results)
    shell = start(new_work("p", "s", "u", command=["sleep 30 & sleep 30"]))
    shell.stop()
    assert shell.wait(0) and shell.outcome().status == "failure"


def alive(pid: int) -> bool:
    """Whether `pid` still runs a second on (a zombie does not): a signal that ends a
    process is delivered, not awaited."""
    for _ in range(20):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        if state == "Z":
            return False
        time.sleep(0.05)
    return True


def leftover(marker: Path) -> int:
    """The pid a command wrote in `marker` (waiting for it to be written)."""
    for _ in range(100):
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text())
        time.sleep(0.05)
    raise AssertionError(f"nothing written to {marker}")


def test_nothing_of_a_command_outlives_it(tmp_path: Path) -> None:
    # Stopped: a member of its group that ignores SIGTERM gets SIGKILL, even once the
    # group's leader has ended.
    marker = tmp_path / "stubborn"
    script = f"(trap '' TERM; exec sleep 300) & echo $! > {marker}; sleep 300"
    run = start(new_work("p", "s", "u", command=["sh", "-c", script]))
    stubborn = leftover(marker)
    run.stop(timed_out=True)
    assert run.wait(0) and not alive(stubborn)
    # Ended by itself: what it left running in the background ends too.
    marker = tmp_path / "background"
    ended = run_to_end(new_work("p", "s", "u", command=[f"sleep 300 & echo $! > {marker}"]))
    assert ended.status == "success" and not alive(leftover(marker))


def test_a_command_writing_one_endless_line_keeps_a_bounded_tail() -> None:
    # 50 MB on one line, then a short one: the kept tail is the line's first
    # LINE_BYTES and the short line (the worker held the whole line: gigabytes).
    script = "head -c 50000000 /dev/zero | tr '\\0' x; echo; echo done"
    outcome = run_to_end(new_work("p", "s", "u", command=[script]), timeout=60)
    assert outcome.status == "success" and outcome.results is not None
    assert outcome.results["stdout"] == ["x" * LINE_BYTES, "done"]


def test_a_function_process_that_ends_after_forking_is_seen_at_once(tmp_path: Path) -> None:
    marker = tmp_path / "forked"
    began = time.monotonic()
    run = start(job("p", "fork_then_vanish", parameters={"marker": str(marker)}, timeout=60))
    assert run.wait(20)
    assert time.monotonic() - began < 10  # not at the work's timeout
    assert run.outcome() == Outcome.failed(
        "the function's process exited with code 3 and no result"
    )
    os.kill(leftover(marker), signal.SIGKILL)


def test_an_error_whose_message_cannot_be_sent_still_says_what_it_was() -> None:
    # The child crashed making the message: "exited with code 1 and no result".
    unprintable = run_to_end(job("p", "raise_unprintable"))
    assert unprintable.results is not None
    assert unprintable.results["error"] == "Unprintable: (its message could not be made)"
    surrogate = run_to_end(job("p", "raise_surrogate"))
    assert surrogate.results is not None
    assert surrogate.results["error"] == "ValueError: bad \\ud800 text"


def test_finished_merges_like_the_workflow_client() -> None:
    work = {**new_work("p", "s", "u"), "results": {"a": 1}, "products": ["x"]}
    report = finished(work, Outcome("success", {"b": 2}, ["y"], ["z"]))
    assert report["status"] == "success" and report["stop"] > 0
    assert report["results"] == {"a": 1, "b": 2}
    assert report["products"] == ["x", "y"] and report["plots"] == ["z"]
    assert work["status"] == "created", "the claimed work is left as it was"
    claimed = {**work, "attempt": 1, "retries": 2}
    transient = finished(claimed, Outcome.failed("flaky"))
    assert transient["retries"] == 2
    permanent = finished(claimed, Outcome.failed_for_good("ImportError: x"))
    assert permanent["retries"] == 1, "reported with no retry left"
    assert permanent["results"] == {"a": 1, "error": "ImportError: x", "permanent": True}


def test_heartbeat_interval() -> None:
    assert beat_interval(3) == 1
    assert beat_interval(1) == pytest.approx(1 / 3)
    assert beat_interval(3600) == 30
