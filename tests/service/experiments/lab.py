"""A Sluice for experiment tests: its own database, an extensions directory with test
manifests, tasks reconciled and finished works moved to Results every fraction of a
second. Shared by tests/service/experiments and tests/sluice/experiments."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.testing import SluiceProcess, SluiceStarter
from tests.workers import Workers

#: Largest file the lab accepts: above the flat-memory test's upload.
LAB_MAX_FILE = 400 * 1024 * 1024


@dataclass(frozen=True)
class Lab:
    server: SluiceProcess
    extensions: Path
    #: Pipeline of the "demo" extension, which tests run workers for.
    pipeline: str
    #: Pipeline of the "idle" extension, which no worker ever takes.
    idle_pipeline: str

    @property
    def url(self) -> str:
        return self.server.url


def manifests(pipeline: str, idle_pipeline: str) -> dict[str, object]:
    """The test extensions, by file name."""
    exp = {"name": "exp", "data_type": "experiment", "description": "the experiment"}
    return {
        "demo.yaml": {
            "name": "demo",
            "description": "test actions",
            "pipeline": pipeline,
            "actions": [
                {
                    "name": "greet",
                    "experiment_variable_name": "exp",
                    "command": [
                        'echo "hello $who loud=$loud times=$times ratio=$ratio mode=$mode"'
                    ],
                    "parameters": [
                        exp,
                        {"name": "who", "data_type": "str"},
                        {"name": "loud", "data_type": "bool", "default_value": False},
                        {"name": "times", "data_type": "int", "default_value": 1},
                        {"name": "ratio", "data_type": "float", "default_value": 0.5},
                        {
                            "name": "mode",
                            "data_type": "select",
                            "options": ["fast", "slow"],
                            "default_value": "fast",
                        },
                        {"name": "notes", "data_type": "textarea", "default_value": ""},
                    ],
                },
                {
                    "name": "fail",
                    "experiment_variable_name": "exp",
                    "command": ["echo about to fail; echo oops >&2; exit 3"],
                    "parameters": [exp],
                },
                {
                    "name": "inspect",
                    "experiment_variable_name": "exp",
                    "command": [
                        'echo "file=$data"; echo "dir=$PWD"; cat "$data"; '
                        'echo "token=${SLUICE_TOKEN:-none}"'
                    ],
                    "parameters": [exp, {"name": "data", "data_type": "file"}],
                },
                {
                    "name": "nap",
                    "experiment_variable_name": "exp",
                    "timeout": 9,
                    "command": ["sleep 8; echo woke"],
                    "parameters": [exp],
                },
            ],
        },
        "idle.json": {
            "name": "idle",
            "pipeline": idle_pipeline,
            "actions": [{"name": "wait", "command": ["true"], "parameters": []}],
        },
    }


@pytest.fixture(scope="session")
def lab(start_session_sluice: SluiceStarter, tmp_path_factory: pytest.TempPathFactory) -> Lab:
    root = tmp_path_factory.mktemp("lab")
    extensions = root / "extensions"
    extensions.mkdir()
    tag = uuid.uuid4().hex[:8]
    pipeline, idle = f"ext-{tag}", f"ext-idle-{tag}"
    for name, manifest in manifests(pipeline, idle).items():
        (extensions / name).write_text(json.dumps(manifest))
    server = start_session_sluice(
        "lab",
        SLUICE_EXTENSIONS_DIR=str(extensions),
        SLUICE_TASK_INTERVAL="0.3",
        SLUICE_TRANSFER_INTERVAL="0.5",
        SLUICE_MAX_FILE_BYTES=str(LAB_MAX_FILE),
    )
    return Lab(server, extensions, pipeline, idle)


@pytest.fixture
def lab_http(lab: Lab) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lab.url, timeout=60) as client:
        yield client


StartWorker = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def lab_worker(lab: Lab) -> Iterator[StartWorker]:
    """Start `sluice worker` for the demo pipeline (`--lives N`); killed at teardown."""
    workers = Workers()

    def start(lives: int = 1) -> subprocess.Popen[str]:
        return workers.start(lab.url, lab.pipeline, "--lives", str(lives), "--sleep", "0.2")

    yield start
    workers.close()
