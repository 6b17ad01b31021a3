"""How the worker runs one work: real child processes, no server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from sluice import new_work
from sluice.worker.loop import beat_interval, finished
from sluice.worker.runner import Outcome, Run, split_outcome, start
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
