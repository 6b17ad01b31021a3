"""Workflow files for the workfile tests, and a Sluice that advances runs quickly."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml

from service.testing import SluiceProcess

JOBS = "tests.sluice.workfile.jobs"

#: Seconds between run reconcile passes in the tests' Sluice.
RUN_INTERVAL = "0.2"


#: What makes a Sluice's runs advance every 0.2 s and its reaper sweep every 0.5 s.
FAST = {"SLUICE_RUN_INTERVAL": RUN_INTERVAL, "SLUICE_REAPER_INTERVAL": "0.5"}


def fast_sluice(env: dict[str, str], log_dir: Path, **overrides: str) -> SluiceProcess:
    """A Sluice (not started) on a database of its own whose runs advance every 0.2 s
    and whose reaper sweeps every 0.5 s."""
    settings = {**env, "SLUICE_DB_NAME": f"sluice_wf_{uuid.uuid4().hex[:8]}", **FAST, **overrides}
    return SluiceProcess(settings, log_path=log_dir / "sluice.log")


def diamond(pipeline: str, **changes: Any) -> dict[str, Any]:
    """start -> (left, right) -> total; with @n = 5 the sums are 6, 16, 106 and 122.
    `changes` override operators by name (a dict of fields) or top-level keys."""
    operators: list[dict[str, Any]] = [
        {"name": "start", "function": f"{JOBS}.add", "parameters": {"a": "@n", "b": 1}},
        {"name": "left", "function": f"{JOBS}.add", "depends_on": ["start"],
         "parameters": {"a": "$start.sum", "b": 10}},
        {"name": "right", "function": f"{JOBS}.add", "depends_on": ["start"],
         "parameters": {"a": "$start.sum", "b": 100}},
        {"name": "total", "function": f"{JOBS}.add", "depends_on": ["left", "right"],
         "parameters": {"a": "$left.sum", "b": "$right.sum"}},
    ]  # fmt: skip
    for operator in operators:
        operator["retries"] = 0
        operator.update(changes.pop(str(operator["name"]), {}))
    workflow = {
        "name": "diamond",
        "pipeline": pipeline,
        "site": "local",
        "variables": {"@n": 1},
        "operators": operators,
    }
    workflow.update(changes)
    return workflow


class _Dumper(yaml.SafeDumper):
    """Writes shared objects out in full: Sluice refuses YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def as_yaml(workflow: dict[str, Any]) -> bytes:
    return yaml.dump(workflow, Dumper=_Dumper, sort_keys=False).encode()
