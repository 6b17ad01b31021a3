"""The `Workfile` client bound to a Sluice whose runs advance every 0.2 s, workflow
files on disk, and real `sluice worker` processes (`start_worker`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from service.testing import SluiceProcess, SluiceStarter
from sluice import Workfile
from tests.service.workfiles.helpers import FAST, as_yaml
from tests.sluice.buckets.conftest import start_worker

__all__ = ["start_worker"]

WriteWorkflow = Callable[..., Path]


@pytest.fixture(scope="session")
def runs_sluice(start_session_sluice: SluiceStarter) -> SluiceProcess:
    return start_session_sluice("runs", **FAST)


@pytest.fixture
def workfile(runs_sluice: SluiceProcess) -> Iterator[Workfile]:
    with Workfile(runs_sluice.url) as client:
        yield client


@pytest.fixture
def write_workflow(tmp_path: Path) -> WriteWorkflow:
    """`write_workflow(workflow, name="flow.yaml")`: the path of that workflow as YAML."""

    def write(workflow: dict[str, Any], name: str = "flow.yaml") -> Path:
        path = tmp_path / name
        path.write_bytes(as_yaml(workflow))
        return path

    return write
