"""The pyaqueduct-shaped client against the running service, with a real worker."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sluice.aqueduct import API, Experiment
from sluice.errors import BadRequest, Conflict, NotFound, ValidationFailed
from sluice.worker.runner import command_environment
from tests.service.experiments.lab import Lab, StartWorker


@pytest.fixture
def api(lab: Lab) -> Iterator[API]:
    with API(lab.url, timeout=60) as client:
        yield client


def test_experiment_lifecycle(api: API) -> None:
    marker = uuid.uuid4().hex[:10]
    experiment = api.create_experiment(f"{marker} cooldown", "first")
    assert isinstance(experiment, Experiment)
    assert experiment.title == f"{marker} cooldown" and experiment.description == "first"
    assert experiment.created_at <= experiment.updated_at
    before = experiment.updated_at
    experiment.title = f"{marker} renamed"
    experiment.description = "second"
    assert (experiment.title, experiment.description) == (f"{marker} renamed", "second")
    assert experiment.updated_at > before
    same = api.get_experiment_by_eid(experiment.eid)
    assert same.uuid == experiment.uuid
    assert api.get_experiment_by_uuid(experiment.uuid).eid == experiment.eid
    assert api.get_experiment_by_uuid(str(experiment.uuid)).eid == experiment.eid

    cryo, run = f"Cryo-{marker}", f"run:{marker}"
    experiment.add_tags([cryo, run])
    assert experiment.tags == [cryo, run]
    experiment.remove_tag(cryo.upper())
    assert experiment.tags == [run]
    with pytest.raises(NotFound):
        experiment.remove_tag(cryo.lower())
    with pytest.raises(ValidationFailed):
        experiment.add_tags(["no spaces"])
    with pytest.raises(BadRequest):
        api.find_experiments(tags=["no spaces"])

    found = api.find_experiments(search=marker.upper(), tags=[run.upper()])
    assert [e.eid for e in found] == [experiment.eid] and found.total == 1
    later = datetime.now(UTC) + timedelta(hours=1)
    assert api.find_experiments(search=marker, start_datetime=later).total == 0

    api.remove_experiment_by_eid(experiment.eid)
    with pytest.raises(NotFound):
        api.get_experiment_by_eid(experiment.eid)
    with pytest.raises(ValidationFailed):
        api.create_experiment("x" * 257, "")


def test_files_round_trip(api: API, tmp_path: Path) -> None:
    experiment = api.create_experiment("files", "")
    source = tmp_path / "scan.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    seen: list[tuple[int, int | None]] = []
    experiment.upload_file(source, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (source.stat().st_size, source.stat().st_size)
    ((name, modified),) = experiment.files
    assert name == "scan.bin" and isinstance(modified, datetime)
    out = tmp_path / "out"
    out.mkdir()
    path = experiment.download_file("scan.bin", out)
    assert path.read_bytes() == source.read_bytes()
    assert not list(out.glob("*.partial"))
    with pytest.raises(NotFound):
        experiment.download_file("missing.bin", out)
    with pytest.raises(Conflict) as refused:
        experiment.remove_files(["scan.bin", "missing.bin"])
    assert refused.value.details == {"missing": ["missing.bin"]}
    assert len(experiment.files) == 1
    experiment.remove_files(["scan.bin"])
    assert experiment.files == []


def test_extension_runs_to_success_and_failure(api: API, lab_worker: StartWorker) -> None:
    experiment = api.create_experiment("runs", "")
    demo = next(e for e in api.get_extensions() if e.name == "demo")
    actions = {action.name: action for action in demo.actions}
    assert actions["greet"].experiment_variable_name == "exp"
    assert [p.name for p in actions["greet"].parameters][:2] == ["exp", "who"]
    with pytest.raises(ValidationFailed):
        actions["greet"].execute({"exp": experiment.eid, "who": "x", "mode": "warp"})

    good = actions["greet"].execute({"exp": experiment.eid, "who": "Grace", "times": 2})
    bad = actions["fail"].execute({"exp": experiment.eid})
    assert good.status == "PENDING"
    worker = lab_worker(2)
    assert good.wait(timeout=30, poll=0.2).status == "SUCCESS"
    assert good.stdout.startswith("hello Grace") and good.result_code == 0
    assert bad.wait(timeout=30, poll=0.2).status == "FAILURE" and bad.result_code == 3
    worker.communicate(timeout=30)
    assert api.get_task(good.task_id).status == "SUCCESS"
    tasks = api.get_tasks(experiment_uuid=experiment.uuid, extension_name="demo")
    assert tasks.total == 2 and [t.task_id for t in tasks] == [bad.task_id, good.task_id]
    assert api.get_tasks(experiment_uuid=experiment.uuid, action_name="fail").total == 1
    deadline = time.monotonic() + 10
    while len(experiment.files) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(n for n, _ in experiment.files) == sorted(
        [f"task-{good.task_id}.log", f"task-{bad.task_id}.log"]
    )


def test_cancel_a_queued_task(api: API) -> None:
    idle = next(e for e in api.get_extensions() if e.name == "idle")
    task = idle.actions[0].execute({})
    assert task.cancel().status == "REVOKED"
    assert task.cancel().status == "REVOKED"
    assert task.wait(timeout=5).status == "REVOKED"
    with pytest.raises(NotFound):
        api.get_task(uuid.uuid4().hex)


def test_command_environment_of_parameters() -> None:
    env = command_environment({"a": "x y", "n": 3, "f": 0.5, "b": False, "d": {"k": 1}, "=": 1})
    assert env == {"a": "x y", "n": "3", "f": "0.5", "b": "false"}
    assert command_environment(None) == {}
